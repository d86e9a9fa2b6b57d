"""Fault matrix, bundle rows: damaged parts, broken or hostile manifests, extra files.

Every test damages a copy of a format 2 bundle exported from the native upstream and runs the
real `verify` (no engine). That an import pushes nothing from such a bundle is the import's
fault matrix (test_faults_import.py).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airgap_tui.bundle.manifest import MANIFEST_NAME, write_manifest
from airgap_tui.bundle.schema import read_manifest
from tests.integration.conftest import CliRun
from tests.integration.faults_support import part_files, tree_state

# --------------------------------------------------------------------------- helpers


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], (str, bytes)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only inside `opened_files`


@pytest.fixture
def opened_files() -> Iterator[list[str]]:
    """Every path this process opens (open() and os.open(), as given) while the test runs."""
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


# --------------------------------------------------------------------------- damaged parts


def _flip(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 1)


def _delete(path: Path) -> None:
    path.unlink()


DAMAGE: dict[str, tuple[Callable[[Path], None], int, str]] = {
    # kind: (what is done, which part, what verify says about it)
    "flipped-byte": (_flip, 2, "sha256 mismatch"),
    "truncated": (_truncate, -1, "truncated"),
    "missing": (_delete, 0, "missing"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_part_fails_verify_naming_the_file(
    damage: str, cli_no_engine: Callable[..., CliRun], bundle: Path
) -> None:
    action, index, says = DAMAGE[damage]
    victim = part_files(bundle)[index]
    action(victim)
    verified = cli_no_engine("verify", str(bundle), "--json")
    assert verified.code == 1
    problems = verified.json["problems"]
    assert [p["file"] for p in problems] == [victim.name]
    assert says in problems[0]["message"]
    text = cli_no_engine("verify", str(bundle))
    assert text.code == 1 and f"{victim.name}: " in text.err and "FAILED" in text.out


def test_extra_unknown_files_are_a_warning_only(
    cli_no_engine: Callable[..., CliRun], bundle: Path
) -> None:
    (bundle / "README-from-the-copy-tool.txt").write_text("not part of the bundle\n")
    (bundle / "images.tar.099").write_bytes(b"a stray part from another bundle")
    (bundle / "System Volume Information").mkdir()
    verified = cli_no_engine("verify", str(bundle), "--json")
    assert verified.code == 0, verified.err
    warnings = verified.json["warnings"]
    assert verified.json["ok"] is True and verified.json["problems"] == []
    for name in ("README-from-the-copy-tool.txt", "images.tar.099", "System Volume Information"):
        assert any(w.startswith(name) for w in warnings), (name, warnings)
    text = cli_no_engine("verify", str(bundle))
    assert text.code == 0 and "warning: images.tar.099" in text.err


# --------------------------------------------------------------------------- broken manifests


def _edit_manifest(bundle_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = bundle_dir / MANIFEST_NAME
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _remove(bundle_dir: Path) -> None:
    (bundle_dir / MANIFEST_NAME).unlink()


def _not_yaml(bundle_dir: Path) -> None:
    (bundle_dir / MANIFEST_NAME).write_text("format_version: 2\nimages: [unclosed\n")


def _wrong_schema(bundle_dir: Path) -> None:
    _edit_manifest(bundle_dir, lambda d: d["parts"][0].__setitem__("size", "about 1 MB"))


def _future(bundle_dir: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["format_version"] = 7
        data["compression"] = "zstd"

    _edit_manifest(bundle_dir, edit)


def _format_1(bundle_dir: Path) -> None:
    _edit_manifest(bundle_dir, lambda d: d.__setitem__("format_version", 1))


def _blob_escape(bundle_dir: Path) -> None:
    _edit_manifest(
        bundle_dir, lambda d: d["blobs"][3].__setitem__("digest", "sha256:../../../etc/passwd")
    )


def _blob_past_end(bundle_dir: Path) -> None:
    """Self-consistent (fingerprint recomputed): only the offset gives it away."""
    manifest = read_manifest(bundle_dir)
    blobs = list(manifest.blobs)
    blobs[-1] = dataclasses.replace(blobs[-1], offset=manifest.total_bytes)
    write_manifest(bundle_dir, dataclasses.replace(manifest, blobs=blobs))


BROKEN: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "missing": (_remove, ("bundle.yaml not found in", "no complete bundle")),
    "not-yaml": (_not_yaml, ("bundle.yaml in", "not valid YAML")),
    "wrong-schema": (_wrong_schema, ("field parts[0].size", "non-negative integer")),
    "future-version": (_future, ("newer airgap-tui", "bundle format 7", "or upgrade")),
    "format-1": (_format_1, ("made by an older airgap-tui", "Export again with this version")),
    "blob-path-escape": (
        _blob_escape,
        ("field blobs[3].digest", "sha256:../../../etc/passwd is not valid"),
    ),
    "blob-past-the-parts": (_blob_past_end, ("past the end of the parts",)),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_broken_manifest_is_one_clear_error_and_nothing_else_happens(
    broken: str, cli_no_engine: Callable[..., CliRun], bundle: Path
) -> None:
    """A damaged bundle is an operation failure: exit 1, --json says ok: false."""
    breaker, says = BROKEN[broken]
    breaker(bundle)
    before = tree_state(bundle)
    for json_flag in ((), ("--json",)):
        run = cli_no_engine("verify", str(bundle), *json_flag)
        assert run.code == 1, run
        line = _one_error_line(run.err)
        assert line.startswith("airgap-tui: ") and str(bundle) in line, line
        for phrase in says:
            assert phrase in line, line
        if json_flag:
            assert run.json["ok"] is False and run.json["kind"] == "BundleError"
            assert run.json["error"] == line.removeprefix("airgap-tui: ")
        else:
            assert run.out == ""
    assert tree_state(bundle) == before


# --------------------------------------------------------------------------- hostile manifests


def _retarget_part(bundle_dir: Path, index: int, name: str) -> None:
    """Tamper the way an attacker would: rename a part and write a self-consistent manifest
    (its fingerprint recomputed), so only the name itself can give it away."""
    manifest = read_manifest(bundle_dir)
    parts = list(manifest.parts)
    parts[index] = dataclasses.replace(parts[index], file=name)
    write_manifest(bundle_dir, dataclasses.replace(manifest, parts=parts))


@pytest.mark.parametrize("hostile", ["dotdot", "absolute", "symlink"])
def test_hostile_manifest_is_refused_before_anything_outside_is_opened(
    hostile: str,
    cli_no_engine: Callable[..., CliRun],
    bundle: Path,
    tmp_path: Path,
    opened_files: list[str],
) -> None:
    victim = part_files(bundle)[1]
    outside = tmp_path / "outside.bin"
    outside.write_bytes(victim.read_bytes())  # the right bytes: it would verify if it were read
    if hostile == "dotdot":
        name = f"../{outside.name}"
        _retarget_part(bundle, 1, name)
        says = f"the name {name} is not a plain file name inside the bundle"
    elif hostile == "absolute":
        name = str(outside)
        _retarget_part(bundle, 1, name)
        says = f"the name {name} is not a plain file name inside the bundle"
    else:
        name = victim.name
        victim.unlink()
        victim.symlink_to(outside)
        says = "is a symbolic link, which a bundle never contains (refused)"
    opened_files.clear()  # the test's own setup above opened them; the CLI must not
    verified = cli_no_engine("verify", str(bundle), "--json")
    assert verified.code == 1
    if hostile == "symlink":  # a sound manifest: the part is named as a problem
        assert verified.json["problems"] == [{"file": name, "message": says}]
    else:  # the manifest itself is refused
        assert says in verified.err
        assert verified.json["kind"] == "BundleError"
        assert "refused before opening anything" in verified.json["error"]
    assert not [p for p in opened_files if p == str(outside) or p.endswith(outside.name)]
    assert not [p for p in opened_files if os.path.basename(p) == name], opened_files
