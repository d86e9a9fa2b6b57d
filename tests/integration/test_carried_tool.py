"""The bundle carries airgap-tui.pyz (issue 12), wired through export, estimate, verify and import.

Real registries throughout (`native_upstream`, `offline_registry`); the tool on the media is the
one the export built, never one the test wrote, and it runs under a python3 that has none of
airgap-tui's dependencies (tests/harness/cleanpy.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from airgap_tui import __version__
from airgap_tui.bundle.manifest import MANIFEST_NAME
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.toolpack.toolpack import TOOL_FILE
from tests.harness.cleanpy import clean_env, clean_python
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun, registry_tags
from tests.integration.faults_support import ANALYZERS

MB = 1_000_000


def _argv(upstream: NativeUpstream, *extra: str) -> list[str]:
    return [*ANALYZERS, "--source-prefix", upstream.prefix, *extra]


def _export(
    cli: Callable[..., CliRun], upstream: NativeUpstream, dest: Path, *extra: str
) -> dict[str, Any]:
    argv = _argv(upstream, "--to", str(dest), "--part-size", "1MiB", *extra)
    run = cli("export", *argv, "--json")
    assert run.code == 0, run.err
    result: dict[str, Any] = run.json
    return result


def _parts(dest: Path) -> list[Path]:
    return sorted(dest.glob("images.tar.*"))


def _clean_run(*args: str | Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python3 -I ARGS` with no site-packages of airgap-tui's, HOME absent, TMPDIR private."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return subprocess.run(
        [*clean_python(), *map(str, args)],
        env=clean_env(tmp_path / "no-home", tmp, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_export_writes_the_tool_lists_it_and_verify_checks_it(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    est = cli_no_engine("estimate", *_argv(native_upstream), "--json")
    assert est.code == 0, est.err
    dest = tmp_path / "usb" / "bundle"
    result = _export(cli_no_engine, native_upstream, dest)
    assert result["ok"]

    tool = dest / TOOL_FILE
    data = tool.read_bytes()
    assert result["tool"] == {
        "file": TOOL_FILE,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [MANIFEST_NAME, TOOL_FILE, *result["parts_written"]]
    )
    # bundle.yaml lists it, and the fingerprint covers it
    raw = yaml.safe_load((dest / MANIFEST_NAME).read_text())
    assert raw["tool"] == result["tool"]
    manifest = read_manifest(dest)
    assert manifest.fingerprint == result["fingerprint"]
    assert manifest.tool is not None and manifest.tool.to_dict() == result["tool"]

    # the estimate: the parts exactly, the tool estimated, the total their sum
    parts_bytes = sum(p.stat().st_size for p in _parts(dest))
    assert est.json["bundle_bytes"] == result["bundle_bytes"] == parts_bytes
    assert est.json["exact"] is True and est.json["tool_exact"] is False
    assert est.json["tool_problem"] is None
    assert abs(est.json["tool_bytes"] - len(data)) <= 0.15 * len(data)
    assert est.json["total_bytes"] == est.json["bundle_bytes"] + est.json["tool_bytes"]

    verified = cli_no_engine("verify", str(dest), "--json", "--max-age", "0")  # old images
    assert verified.code == 0, verified.err
    assert verified.json["ok"] is True
    assert verified.json["fingerprint"] == result["fingerprint"]
    assert verified.json["tool"] == {**result["tool"], "ok": True}
    assert verified.json["warnings"] == []
    plain = cli_no_engine("verify", str(dest))
    assert plain.code == 0, plain.err
    assert f"Carried tool: {TOOL_FILE} matches\n  sha256: {result['tool']['sha256']}" in plain.out

    # the human output puts the tool's sha256 next to the fingerprint, and the order of checks
    argv = _argv(native_upstream, "--to", str(dest), "--part-size", "1MiB")
    text = cli_no_engine("export", *argv)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Fingerprint:"))
    assert lines[at + 2] == f"Carried tool: {TOOL_FILE} ({len(data)} bytes, from the cache)"
    assert lines[at + 3] == f"  sha256: {hashlib.sha256(data).hexdigest()}"
    assert "BEFORE running it" in lines[at + 4] and f"python3 {dest}/{TOOL_FILE}" in lines[at + 4]


def test_a_second_export_keeps_the_identical_tool_file(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    dest = tmp_path / "bundle"
    first = _export(cli_no_engine, native_upstream, dest)
    before = os.stat(dest / TOOL_FILE)
    again = _export(cli_no_engine, native_upstream, dest)
    after = os.stat(dest / TOOL_FILE)
    assert again["fingerprint"] == first["fingerprint"] and again["tool"] == first["tool"]
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_flipped_byte_in_the_tool_fails_verify_and_import_pushes_nothing(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    offline_registry: RegistryHandle,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    result = _export(cli_no_engine, native_upstream, dest)
    tool = dest / TOOL_FILE
    data = bytearray(tool.read_bytes())
    data[len(data) // 2] ^= 0x01
    tool.write_bytes(bytes(data))

    verified = cli_no_engine("verify", str(dest), "--json")
    assert verified.code == 1
    assert verified.json["ok"] is False
    assert verified.json["tool"] == {**result["tool"], "ok": False}
    [problem] = verified.json["problems"]
    assert problem["file"] == TOOL_FILE
    assert "the carried airgap-tui program failed its check (sha256 mismatch" in problem["message"]
    assert f"Do not run it: copy {TOOL_FILE} again from the connected host" in problem["message"]
    plain = cli_no_engine("verify", str(dest))
    assert plain.code == 1 and f"Carried tool: {TOOL_FILE} FAILED: do not run it" in plain.out

    path = f"tool-{uuid.uuid4().hex[:10]}"
    imported = cli_no_engine(
        "import",
        str(dest),
        "--registry",
        f"{offline_registry.host}/{path}",
        "--receipt-dir",
        str(tmp_path / "receipts"),
        "--json",
    )
    assert imported.code == 1
    assert imported.json["ok"] is False and imported.json["verified"] is False
    assert any(TOOL_FILE in p and "Do not run it" in p for p in imported.json["problems"])
    for name in ("semgrep", "secrets", "gemnasium"):
        assert registry_tags(offline_registry.host, f"{path}/{name}") == []

    tool.unlink()  # a missing tool is a problem too, never silently fine
    missing = cli_no_engine("verify", str(dest), "--json")
    assert missing.code == 1
    assert missing.json["problems"] == [
        {
            "file": TOOL_FILE,
            "message": "the carried airgap-tui program failed its check (missing). Do not run "
            f"it: copy {TOOL_FILE} again from the connected host (or export again), or use an "
            "installed airgap-tui",
        }
    ]


def test_no_tool_leaves_it_out_and_a_stray_tool_is_named_not_trusted(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    est = cli_no_engine("estimate", *_argv(native_upstream), "--json")
    dest = tmp_path / "bundle"
    result = _export(cli_no_engine, native_upstream, dest, "--no-tool")
    assert result["tool"] is None
    assert not (dest / TOOL_FILE).exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [MANIFEST_NAME, *result["parts_written"]]
    )
    assert yaml.safe_load((dest / MANIFEST_NAME).read_text())["tool"] is None
    assert result["bundle_bytes"] == est.json["bundle_bytes"]  # the parts alone, exactly

    verified = cli_no_engine("verify", str(dest), "--json", "--max-age", "0")
    assert verified.code == 0 and verified.json["tool"] is None
    assert verified.json["warnings"] == []

    (dest / TOOL_FILE).write_bytes(b"#!/usr/bin/env python3\nprint('not ours')\n")
    stray = cli_no_engine("verify", str(dest), "--json", "--max-age", "0")
    assert stray.code == 1  # issue 20: the file the operator is told to run is not ours
    assert stray.json["warnings"] == []
    [problem] = stray.json["problems"]
    assert problem["file"] == TOOL_FILE and "bundle.yaml does not list it" in problem["message"]
    assert "Do not run it" in problem["message"]


def test_the_tool_export_wrote_runs_version_and_verify_under_a_clean_python(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    dest = tmp_path / "bundle"
    result = _export(cli_no_engine, native_upstream, dest)
    tool = dest / TOOL_FILE

    version = _clean_run(tool, "--version", tmp_path=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"airgap-tui {__version__}"

    verified = _clean_run(tool, "verify", dest, "--json", tmp_path=tmp_path)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] is True
    assert report["fingerprint"] == result["fingerprint"]
    assert report["tool"] == {**result["tool"], "ok": True}
    assert not (tmp_path / "no-home").exists()


def test_exporting_from_the_carried_tool_says_to_use_no_tool_before_downloading(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    _export(cli_no_engine, native_upstream, bundle)
    again = tmp_path / "again"
    argv = _argv(native_upstream, "--to", str(again), "--part-size", "1MiB")
    run = _clean_run(bundle / TOOL_FILE, "export", *argv, tmp_path=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "the tool cannot be re-packed from inside a zip" in run.stderr
    assert "Export with --no-tool" in run.stderr
    assert not again.exists()  # refused before anything was downloaded or written

    plain = _clean_run(bundle / TOOL_FILE, "export", *argv, "--no-tool", tmp_path=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert read_manifest(again).tool is None
    assert [p.read_bytes() for p in _parts(again)] == [p.read_bytes() for p in _parts(bundle)]
