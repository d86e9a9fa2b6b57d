"""The whole journey on real engines (20.10 and 26.1) and real registries, through the CLI:
estimate -> export (several parts) -> wipe the engine -> verify -> import -> registry -> snippet.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import yaml

from airgap_tui.bundle import read_manifest
from tests.harness.engine import EngineHandle
from tests.harness.images import SeededUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun, registry_manifest, registry_tags

ANALYZERS = ["semgrep", "secrets:7", "gemnasium"]


def _export(cli: Callable[..., CliRun], upstream: SeededUpstream, dest: Path) -> CliRun:
    return cli(
        "export",
        *ANALYZERS,
        "--to",
        str(dest),
        "--part-size",
        "1MiB",
        "--source-prefix",
        upstream.prefix,
        "--json",
    )


def test_export_verify_import_snippet(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    seeded_upstream: SeededUpstream,
    offline_registry: RegistryHandle,
    tmp_path: Path,
) -> None:
    est = cli("estimate", *ANALYZERS, "--source-prefix", seeded_upstream.prefix, "--json")
    assert est.code == 0, est.err
    estimate = est.json
    assert {(i["name"], i["tag"]) for i in estimate["images"]} == {
        ("semgrep", "6"),
        ("secrets", "7"),
        ("gemnasium", "6"),
    }
    # the shared base layer is downloaded once: less than the sum of the images
    assert estimate["download_bytes"] < sum(i["download_bytes"] for i in estimate["images"])

    dest = tmp_path / "usb" / "gitlab-scanners"
    exported = _export(cli, seeded_upstream, dest)
    assert exported.code == 0, exported.err
    result = exported.json
    assert result["ok"] and result["readback_ok"]
    assert len(result["parts_written"]) >= 3 and result["parts_kept"] == []
    written = sum(p.stat().st_size for p in dest.glob("images.tar.*"))
    assert written == result["bundle_bytes"]
    assert abs(estimate["bundle_bytes"] - written) <= written * 0.01, (estimate, written)
    manifest = read_manifest(dest)
    assert manifest.fingerprint == result["fingerprint"]
    assert not list(dest.glob("*.part")) and not (dest / ".airgap-export.json").exists()

    # cross the gap: nothing of it is left in the engine
    client = clean_engine.client()
    try:
        for image in client.images.list(all=True):
            client.images.remove(image.id, force=True)
        assert client.images.list(all=True) == []
    finally:
        client.close()

    verified = cli("verify", str(dest), "--json")
    assert verified.code == 0, verified.err
    assert verified.json == {
        "ok": True,
        "fingerprint": result["fingerprint"],
        "problems": [],
        "warnings": [],
    }

    target = f"{offline_registry.host}/{clean_engine.version.split('.')[0]}-{uuid.uuid4().hex[:8]}"
    receipts = tmp_path / "receipts"
    imported = cli(
        "import", str(dest), "--registry", target, "--receipt-dir", str(receipts), "--json"
    )
    assert imported.code == 0, imported.err
    report = imported.json
    assert report["ok"] and report["verified"] and report["fingerprint"] == result["fingerprint"]
    assert [i["status"] for i in report["images"]] == ["pushed"] * 3
    path = target.split("/", 1)[1]
    for image in manifest.images:
        served = registry_manifest(offline_registry.host, f"{path}/{image.name}", image.tag)
        assert served is not None, image
        assert served["config"]["digest"] == image.image_id
    assert Path(report["receipt"]).parent == receipts

    # re-running is idempotent: everything is already there, nothing is pushed again
    again = cli("import", str(dest), "--registry", target, "--receipt-dir", str(receipts), "--json")
    assert again.code == 0, again.err
    assert [i["status"] for i in again.json["images"]] == ["already present"] * 3

    snippet = cli("snippet", "--registry", target, "--bundle", str(dest))
    assert snippet.code == 0, snippet.err
    data = yaml.safe_load(snippet.out)
    assert data["variables"]["SECURE_ANALYZERS_PREFIX"] == target
    for name in ("semgrep", "secrets", "gemnasium"):
        assert registry_tags(offline_registry.host, f"{path}/{name}"), name


def test_resume_after_deleted_part(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    seeded_upstream: SeededUpstream,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    first = _export(cli, seeded_upstream, dest)
    assert first.code == 0, first.err
    parts = sorted(dest.glob("images.tar.*"))
    victim = parts[1]
    inodes = {p.name: p.stat().st_ino for p in parts if p != victim}
    victim.unlink()

    assert cli("verify", str(dest), "--json").code == 1
    second = _export(cli, seeded_upstream, dest)
    assert second.code == 0, second.err
    resumed = second.json
    assert victim.name in resumed["parts_written"]
    assert resumed["parts_kept"], "parts already on the media must be kept"
    # the parts before the deleted one are always identical, so they are kept untouched
    for p in parts[:1]:
        assert p.name in resumed["parts_kept"]
        assert p.stat().st_ino == inodes[p.name]
    if clean_engine.kind == "trixie":  # 26.1's export is deterministic once normalised
        assert resumed["parts_written"] == [victim.name]
        assert resumed["fingerprint"] == first.json["fingerprint"]
    assert cli("verify", str(dest), "--json").json["ok"] is True


def test_corrupt_part_stops_verify_and_import_before_anything_is_pushed(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    seeded_upstream: SeededUpstream,
    offline_registry: RegistryHandle,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    assert _export(cli, seeded_upstream, dest).code == 0
    client = clean_engine.client()
    try:
        for image in client.images.list(all=True):
            client.images.remove(image.id, force=True)
    finally:
        client.close()
    bad = sorted(dest.glob("images.tar.*"))[2]
    with open(bad, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))

    verified = cli("verify", str(dest), "--json")
    assert verified.code == 1
    assert [p["file"] for p in verified.json["problems"]] == [bad.name]

    target = f"{offline_registry.host}/corrupt-{uuid.uuid4().hex[:8]}"
    imported = cli(
        "import", str(dest), "--registry", target, "--receipt-dir", str(tmp_path), "--json"
    )
    assert imported.code == 1
    assert bad.name in imported.err
    assert all(i["status"] == "not loaded" for i in imported.json["images"])
    path = target.split("/", 1)[1]
    for name in ("semgrep", "secrets", "gemnasium"):
        assert registry_tags(offline_registry.host, f"{path}/{name}") == []
    client = clean_engine.client()
    try:
        assert client.images.list(all=True) == []
    finally:
        client.close()
