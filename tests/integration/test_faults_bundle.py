"""Fault matrix, bundle rows: damaged parts, broken or hostile manifests, extra files.

Every test damages a copy of a bundle exported by the real engine (both kinds), runs the real
CLI, and then looks at the engine and the registry to prove nothing was loaded or pushed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airgap_tui.bundle import MANIFEST_NAME, read_manifest, write_manifest
from tests.harness.engine import EngineHandle
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun, registry_tags
from tests.integration.faults_support import (
    IMAGE_NAMES,
    engine_images,
    part_files,
    tree_state,
)

# --------------------------------------------------------------------------- helpers


def _target(registry: RegistryHandle) -> tuple[str, str]:
    path = f"faults-{uuid.uuid4().hex[:10]}"
    return f"{registry.host}/{path}", path


def _nothing_pushed(registry: RegistryHandle, path: str) -> None:
    for name in IMAGE_NAMES:
        assert registry_tags(registry.host, f"{path}/{name}") == [], name


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
def test_damaged_part_fails_verify_and_import_naming_the_file(
    damage: str,
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
    bundle: Path,
    tmp_path: Path,
) -> None:
    action, index, says = DAMAGE[damage]
    victim = part_files(bundle)[index]
    action(victim)

    verified = cli("verify", str(bundle), "--json")
    assert verified.code == 1
    problems = verified.json["problems"]
    assert [p["file"] for p in problems] == [victim.name]
    assert says in problems[0]["message"]
    text = cli("verify", str(bundle))
    assert text.code == 1 and f"{victim.name}: " in text.err and "FAILED" in text.out

    target, path = _target(offline_registry)
    receipts = tmp_path / "receipts"
    imported = cli(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json"
    )
    assert imported.code == 1
    assert victim.name in imported.err and "nothing was loaded or pushed" in imported.err
    report = imported.json
    assert report["ok"] is False and report["verified"] is False
    assert [p.split(":")[0] for p in report["problems"]] == [victim.name]
    assert {i["status"] for i in report["images"]} == {"not loaded"}
    assert engine_images(clean_engine) == []
    _nothing_pushed(offline_registry, path)


def test_damage_found_while_loading_without_verify_stops_the_load(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
    bundle: Path,
    tmp_path: Path,
) -> None:
    """--no-verify skips the full check, but parts are still hashed while they stream in."""
    victim = part_files(bundle)[1]
    _flip(victim)
    target, path = _target(offline_registry)
    imported = cli(
        "import",
        str(bundle),
        "--registry",
        target,
        "--no-verify",
        "--receipt-dir",
        str(tmp_path / "receipts"),
        "--json",
    )
    assert imported.code == 1
    assert victim.name in imported.err and "sha256 mismatch" in imported.err
    assert imported.json["ok"] is False
    assert engine_images(clean_engine) == []
    _nothing_pushed(offline_registry, path)


def test_extra_unknown_files_are_a_warning_only(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
    bundle: Path,
    tmp_path: Path,
) -> None:
    (bundle / "README-from-the-copy-tool.txt").write_text("not part of the bundle\n")
    (bundle / "images.tar.099").write_bytes(b"a stray part from another bundle")
    (bundle / "System Volume Information").mkdir()

    verified = cli("verify", str(bundle), "--json")
    assert verified.code == 0, verified.err
    warnings = verified.json["warnings"]
    assert verified.json["ok"] is True and verified.json["problems"] == []
    for name in ("README-from-the-copy-tool.txt", "images.tar.099", "System Volume Information"):
        assert any(w.startswith(name) for w in warnings), (name, warnings)
    text = cli("verify", str(bundle))
    assert text.code == 0 and "warning: images.tar.099" in text.err

    target, path = _target(offline_registry)
    imported = cli(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(tmp_path), "--json"
    )
    assert imported.code == 0, imported.err
    assert "warning: images.tar.099" in imported.err
    assert any(w.startswith("images.tar.099") for w in imported.json["warnings"])
    assert [i["status"] for i in imported.json["images"]] == ["pushed"] * 3
    for name in IMAGE_NAMES:
        assert registry_tags(offline_registry.host, f"{path}/{name}"), name


# --------------------------------------------------------------------------- broken manifests


def _edit_manifest(bundle_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = bundle_dir / MANIFEST_NAME
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _remove(bundle_dir: Path) -> None:
    (bundle_dir / MANIFEST_NAME).unlink()


def _not_yaml(bundle_dir: Path) -> None:
    (bundle_dir / MANIFEST_NAME).write_text("format_version: 1\nimages: [unclosed\n")


def _wrong_schema(bundle_dir: Path) -> None:
    _edit_manifest(bundle_dir, lambda d: d["parts"][0].__setitem__("size", "about 1 MB"))


def _future(bundle_dir: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["format_version"] = 7
        data["compression"] = "zstd"

    _edit_manifest(bundle_dir, edit)


BROKEN: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "missing": (_remove, ("bundle.yaml not found in", "no complete bundle")),
    "not-yaml": (_not_yaml, ("bundle.yaml in", "not valid YAML")),
    "wrong-schema": (_wrong_schema, ("field parts[0].size", "non-negative integer")),
    "future-version": (_future, ("newer airgap-tui", "bundle format 7", "Upgrade airgap-tui")),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_broken_manifest_is_one_clear_error_and_nothing_else_happens(
    broken: str,
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
    bundle: Path,
    tmp_path: Path,
) -> None:
    """A damaged bundle is an operation failure: exit 1 everywhere, --json says ok: false."""
    breaker, says = BROKEN[broken]
    breaker(bundle)
    before = tree_state(bundle)
    target, path = _target(offline_registry)
    receipts = tmp_path / "receipts"
    runs = {
        "verify": ("verify", str(bundle)),
        "import": ("import", str(bundle), "--registry", target, "--receipt-dir", str(receipts)),
        "snippet": ("snippet", "--registry", target, "--bundle", str(bundle)),
    }
    for command, argv in runs.items():
        for json_flag in ((), ("--json",)):
            run = cli(*argv, *json_flag)
            assert run.code == 1, (command, run)
            line = _one_error_line(run.err)
            assert line.startswith("airgap-tui: ") and str(bundle) in line, line
            for phrase in says:
                assert phrase in line, (command, line)
            if json_flag:
                assert run.json["ok"] is False and run.json["kind"] == "BundleError"
                assert run.json["error"] == line.removeprefix("airgap-tui: ")
            else:
                assert run.out == "", (command, run.out)
    assert tree_state(bundle) == before
    assert not receipts.exists()
    assert engine_images(clean_engine) == []
    _nothing_pushed(offline_registry, path)


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
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
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
        says = f"the part name {name} is not a plain file name inside the bundle"
    elif hostile == "absolute":
        name = str(outside)
        _retarget_part(bundle, 1, name)
        says = f"the part name {name} is not a plain file name inside the bundle"
    else:
        name = victim.name
        victim.unlink()
        victim.symlink_to(outside)
        says = "is a symbolic link, which a bundle never contains (refused)"

    target, path = _target(offline_registry)
    receipts = tmp_path / "receipts"
    opened_files.clear()  # the test's own setup above opened them; the CLI must not
    verified = cli("verify", str(bundle), "--json")
    imported = cli(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json"
    )
    assert verified.code == 1 and imported.code == 1
    assert says in imported.err
    if hostile == "symlink":  # a sound manifest: the part is named as a problem
        assert verified.json["problems"] == [{"file": name, "message": says}]
        assert {i["status"] for i in imported.json["images"]} == {"not loaded"}
    else:  # the manifest itself is refused
        assert says in verified.err
        assert verified.json["kind"] == imported.json["kind"] == "BundleError"
        assert "refused before opening anything" in verified.json["error"]
        assert not receipts.exists()
    assert not [p for p in opened_files if p == str(outside) or p.endswith(outside.name)]
    assert not [p for p in opened_files if os.path.basename(p) == name], opened_files
    assert engine_images(clean_engine) == []
    _nothing_pushed(offline_registry, path)
