"""A delta carries airgap-tui.pyz only when the offline host lacks it (issue 22), on real
registries: the receipt of an import run from the carried archive names its sha256, the next
delta leaves the archive out and says so (bundle.yaml, export's output, verify), the same
archive imports that delta (its sha256 asked of the export's own builder: one build);
`--with-tool`, another version or an older receipt carry it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airgap_tui import __version__
from airgap_tui.bundle.manifest import DeltaTool
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.export import tool_choice
from airgap_tui.export.run import ExportResult
from airgap_tui.toolpack.toolpack import TOOL_FILE
from tests.harness.cleanpy import clean_env, clean_python
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.import_support import write_bundle
from tests.integration.test_delta_native import NEW, OLD, _export_delta, _imported

MakeRegistry = Callable[..., RegistryHandle]


def _export(
    upstream: NativeUpstream, out: Path, delta_from: list[Path], **kw: bool
) -> ExportResult:
    return _export_delta(upstream, out, NEW, delta_from, **kw)


def _left_out(bundle: Path) -> DeltaTool | None:
    """bundle.yaml's `delta.tool`: the offline host's tool this delta counts on."""
    delta = read_manifest(bundle).delta
    assert delta is not None
    return delta.tool


def _archive_import(
    tool: Path, bundle: Path, registry: str, receipts: Path, tmp_path: Path
) -> dict[str, Any]:
    """`python3 airgap-tui.pyz import BUNDLE --registry R --json` as on the offline host: a
    python3 with nothing installed."""
    home, tmp = tmp_path / "no-home", tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    argv = [str(tool), "import", str(bundle), "--registry", registry]
    done = subprocess.run(
        [*clean_python(), *argv, "--receipt-dir", str(receipts), "--json"],
        env=clean_env(home, tmp),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _new_blob_bytes(upstream: NativeUpstream, receipt: Path) -> int:
    held = {b["digest"] for row in json.loads(receipt.read_text())["images"] for b in row["blobs"]}
    wanted = {
        blob.digest: blob.size
        for name in NEW
        for blob in upstream.image(name).blobs(["linux/amd64"])
    }
    return sum(size for digest, size in wanted.items() if digest not in held)


def _builds_a_second_time(**_: object) -> str:
    raise AssertionError("the export built the tool outside its ToolBuilder")


def test_a_delta_after_an_import_by_the_carried_archive_leaves_it_out(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
) -> None:
    handle = registry_factory("offline")
    target = f"{handle.host}/mirror"
    full = write_bundle(native_upstream, tmp_path / "full", names=OLD)
    assert full.tool is not None
    archive = tmp_path / "full" / TOOL_FILE
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sha == full.tool.sha256

    imported = _archive_import(archive, tmp_path / "full", target, tmp_path / "r1", tmp_path)
    receipt = Path(imported["receipt"])
    record = json.loads(receipt.read_text())
    assert (record["tool_version"], record["tool_sha256"]) == (__version__, sha)

    out = tmp_path / "delta"
    with pytest.MonkeyPatch.context() as patch:  # the export's own builder gives the sha256
        patch.setattr(tool_choice, "carried_sha256", _builds_a_second_time)
        result = _export(native_upstream, out, [receipt])
    manifest = read_manifest(out)
    assert result.tool is None and manifest.tool is None and not (out / TOOL_FILE).exists()
    assert manifest.delta is not None and manifest.delta.tool == DeltaTool(__version__, sha)
    # The target with the default settings: the whole directory, bundle.yaml included.
    on_media = sum(p.stat().st_size for p in out.iterdir())
    assert on_media <= 1.1 * _new_blob_bytes(native_upstream, receipt) + 64 * 1024

    run = cli_no_engine("verify", str(out))
    assert run.code == 0, run.err
    assert "Carried tool: left out" in run.out and sha in run.out

    # The archive the offline host kept imports the delta.
    shutil.copytree(out, tmp_path / "stick")
    delta_import = _archive_import(archive, tmp_path / "stick", target, tmp_path / "r2", tmp_path)
    assert delta_import["ok"] is True
    status = {i["name"]: i["status"] for i in delta_import["images"]}
    assert status == {
        "semgrep": "already present",
        "secrets": "already present",
        "gemnasium": "pushed",
    }

    # --with-tool carries it all the same, and the CLI says what it did either way.
    refs = [native_upstream.image(n).ref for n in NEW]
    source = ["--source-prefix", native_upstream.prefix, "--part-size", "1MiB"]
    forced = cli_no_engine(
        "export", *refs, *source, "--to", str(tmp_path / "forced"),
        "--delta-from", str(receipt), "--with-tool", "--json",
    )  # fmt: skip
    assert forced.code == 0, forced.err
    assert forced.json["tool"]["sha256"] == sha
    assert "tool" not in forced.json["delta"] or forced.json["delta"]["tool"] is None
    plain = cli_no_engine(
        "export", *refs, *source, "--to", str(tmp_path / "plain"), "--delta-from", str(receipt)
    )
    assert plain.code == 0, plain.err
    assert "Carried tool: left out" in plain.out and "--with-tool" in plain.out


def test_an_installed_airgap_tui_is_named_by_its_version_and_doubt_carries_the_tool(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
) -> None:
    handle = registry_factory("offline")
    target = f"{handle.host}/mirror"
    receipt = _imported(native_upstream, handle, tmp_path, target)  # an installed airgap-tui
    record = json.loads(receipt.read_text())
    assert (record["tool_version"], record["tool_sha256"]) == (__version__, None)

    # The estimate counts what the export will write: no tool.
    refs = [native_upstream.image(n).ref for n in NEW]
    source = ["--source-prefix", native_upstream.prefix]
    est = cli_no_engine("estimate", *refs, *source, "--delta-from", str(receipt), "--json")
    assert est.code == 0, est.err
    assert est.json["tool_bytes"] == 0
    assert est.json["delta"]["tool"] == {"version": __version__, "sha256": None}
    counted = cli_no_engine("estimate", *refs, *source, "--delta-from", str(receipt), "--with-tool")
    assert counted.code == 0 and "Carried tool airgap-tui.pyz: about" in counted.out
    text = cli_no_engine("estimate", *refs, *source, "--delta-from", str(receipt))
    assert "Carried tool: left out of the delta: the offline host runs an installed" in text.out

    same = _export(native_upstream, tmp_path / "same", [receipt])
    assert same.tool is None
    assert _left_out(tmp_path / "same") == DeltaTool(__version__, None)
    forced = _export(native_upstream, tmp_path / "forced", [receipt], with_tool=True)
    assert forced.tool is not None and (tmp_path / "forced" / TOOL_FILE).is_file()
    assert _left_out(tmp_path / "forced") is None

    # Another version on the offline host, or a receipt older than these fields: carried.
    for name, edit in (("other", {"tool_version": "0.0.1"}), ("old", None)):
        doc = dict(record)
        if edit is None:
            del doc["tool_version"], doc["tool_sha256"]
        else:
            doc.update(edit)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        carried = _export(native_upstream, tmp_path / name, [path])
        assert carried.tool is not None, name
        assert _left_out(tmp_path / name) is None

    # An inventory says which tool took it, the same way.
    inventory = tmp_path / "inventory.json"
    run = cli_no_engine("inventory", "--registry", target, "--out", str(inventory))
    assert run.code == 0, run.err
    taken = json.loads(inventory.read_text())
    assert (taken["tool_version"], taken["tool_sha256"]) == (__version__, None)
    assert _export(native_upstream, tmp_path / "inv", [inventory]).tool is None
