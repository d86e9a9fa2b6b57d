"""Delta bundles end to end on real registries (issue 10): export against a receipt or an
inventory of the offline registry, verify, import (pre-check, mounts, digests kept), and the
refusals: a bare or cleaned registry, --via-docker, hostile presence files."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from airgap_tui.bundle.manifest import BundleManifest
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.catalog.load import load_catalog
from airgap_tui.delta.check import DeltaMissingError
from airgap_tui.export.run import ExportRequest, ExportResult, export_bundle
from airgap_tui.importer.run import ImportRequest, ImportResult, import_bundle
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.import_support import served_digest, upload_count, write_bundle

MakeRegistry = Callable[..., RegistryHandle]
MiB = 1 << 20
OLD = ["semgrep", "secrets"]  # imported last month
NEW = [*OLD, "gemnasium"]  # this month: gemnasium shares semgrep's base and python layers


def _export_delta(
    upstream: NativeUpstream, out: Path, names: list[str], delta_from: list[Path], **kw: bool
) -> ExportResult:
    """Export `names` (linux/amd64, 1 MiB parts) against `delta_from`; `kw`: ExportRequest's
    switches (tool, with_tool)."""
    catalog = load_catalog()
    specs = [catalog.resolve(upstream.image(n).ref, 18, upstream.prefix) for n in names]
    request = ExportRequest(
        specs=specs,
        dest=out,
        part_size=MiB,
        source_prefix=upstream.prefix,
        platforms=("linux/amd64",),
        delta_from=tuple(delta_from),
        **kw,
    )
    result = export_bundle(request)
    assert result.ok, result.problems
    return result


def _import(bundle_dir: Path, registry: str, receipts: Path, **kwargs: Any) -> ImportResult:
    request = ImportRequest(
        bundle_dir=bundle_dir, registry=registry, receipt_dir=receipts, push_backoff=0, **kwargs
    )
    return import_bundle(request)


def _catalog(handle: RegistryHandle) -> list[str]:
    resp = requests.get(f"{handle.url}/v2/_catalog", timeout=30)
    resp.raise_for_status()
    return list(resp.json().get("repositories") or [])


def _tar_member(bundle_dir: Path, manifest: BundleManifest, name: str) -> bytes:
    data = b"".join((bundle_dir / part.file).read_bytes() for part in manifest.parts)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def _access_log(handle: RegistryHandle) -> list[str]:
    """The registry's access-log lines (`"METHOD /path HTTP/1.1" status`), in order."""
    lines = handle.log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if '] "' in line]


def _receipt_blobs(path: Path) -> dict[str, int]:
    receipt = json.loads(path.read_text())
    return {b["digest"]: b["size"] for row in receipt["images"] for b in row["blobs"]}


def _imported(
    upstream: NativeUpstream, handle: RegistryHandle, tmp_path: Path, target: str
) -> Path:
    """Last month: a full bundle of OLD imported into `target`; returns its receipt."""
    write_bundle(upstream, tmp_path / "full", names=OLD)
    result = _import(tmp_path / "full", target, tmp_path / "receipts-1")
    assert result.ok, [(i.target, i.error) for i in result.images]
    assert result.receipt_path is not None
    return result.receipt_path


def test_a_delta_after_an_import_carries_only_new_blobs_and_keeps_every_digest(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
) -> None:
    handle = registry_factory("offline")
    target = f"{handle.host}/mirror"
    receipt = _imported(native_upstream, handle, tmp_path, target)
    present = _receipt_blobs(receipt)

    out = tmp_path / "delta"
    exported = _export_delta(native_upstream, out, NEW, [receipt])

    manifest = read_manifest(out)
    assert manifest.delta is not None and manifest.delta.kind == "receipt"
    assert manifest.delta.against == hashlib.sha256(receipt.read_bytes()).hexdigest()
    wanted: dict[str, int] = {}
    layers: set[str] = set()
    for name in NEW:
        for blob in native_upstream.image(name).blobs(["linux/amd64"]):
            wanted[blob.digest] = blob.size
        for m in native_upstream.image(name).manifests:
            layers |= {layer.digest for layer in m.layers}
    new = {d: s for d, s in wanted.items() if d not in present}
    assert new and len(new) < len(wanted)
    carried = {b.digest for b in manifest.blobs}
    assert carried & layers == set(new) & layers  # only the layers the receipt lacks
    assert {(b.digest, b.size) for b in manifest.delta.expected} == {
        (d, s) for d, s in wanted.items() if d in present and d in layers
    }
    # The issue's size target: bytes of a delta ≤ 1.1 × the new blobs' bytes + 64 KiB.
    assert exported.bundle_bytes <= 1.1 * sum(new.values()) + 64 * 1024
    assert exported.delta is not None
    assert exported.delta.full_bytes > exported.bundle_bytes == exported.delta.delta_bytes
    assert _tar_member(out, manifest, "manifest.json") == b"[]"  # not `docker load`-able

    run = cli_no_engine("verify", str(out))
    assert run.code == 0, run.err
    assert "Delta bundle against receipt" in run.out
    assert f"{len(manifest.delta.expected)} layers" in run.out

    uploads = upload_count(handle.log_path)
    before = len(_access_log(handle))
    result = _import(out, target, tmp_path / "receipts-2")

    assert result.ok, [(i.target, i.error) for i in result.images]
    assert upload_count(handle.log_path) - uploads == len(new)  # nothing sent twice
    log = _access_log(handle)[before:]
    checked = 0
    for img in manifest.images:
        if img.name not in OLD:
            continue
        for blob in manifest.delta.expected:
            if blob.digest not in img.blobs:
                continue
            # Found by the pre-check: one HEAD, none again by the push.
            heads = [x for x in log if f'"HEAD /v2/mirror/{img.name}/blobs/{blob.digest} ' in x]
            assert len(heads) == 1, (img.name, blob.digest, heads)
            checked += 1
    assert checked >= 3
    gem_needs = {b.digest for b in manifest.delta.expected} & set(
        manifest.images[NEW.index("gemnasium")].blobs
    )
    mounts = [x for x in log if '"POST /v2/mirror/gemnasium/blobs/uploads/?mount=' in x]
    assert len(mounts) == len(gem_needs) >= 2 and all('" 201 ' in x for x in mounts)
    for img, res in zip(manifest.images, result.images, strict=True):
        assert res.digest_kept and res.pushed_digest == img.digest
        assert served_digest(handle.url, f"mirror/{img.name}", img.tag, img.media_type) == (
            img.digest
        )
    # gemnasium's repository was new: its base layers were mounted from semgrep's.
    gem = next(r for r in result.images if r.name == "gemnasium")
    assert gem.status == "pushed"
    # The receipt lists every blob of every image, expected ones too: it feeds the next delta.
    assert result.receipt_path is not None
    assert _receipt_blobs(result.receipt_path) == wanted
    again = _export_delta(native_upstream, tmp_path / "delta-2", NEW, [result.receipt_path])
    second = read_manifest(tmp_path / "delta-2")
    assert second.delta is not None
    assert {b.digest for b in second.delta.expected} == layers & set(wanted)
    assert not {b.digest for b in second.blobs} & layers
    assert again.bundle_bytes < 64 * 1024


def test_a_delta_is_byte_identical_when_exported_again_and_resumes(
    native_upstream: NativeUpstream, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    receipt = _imported(native_upstream, handle, tmp_path, handle.host)
    first = _export_delta(native_upstream, tmp_path / "a", NEW, [receipt])
    second = _export_delta(native_upstream, tmp_path / "b", NEW, [receipt])
    assert first.fingerprint == second.fingerprint
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    for pa, pb in zip(a.parts, b.parts, strict=True):
        assert (tmp_path / "a" / pa.file).read_bytes() == (tmp_path / "b" / pb.file).read_bytes()

    # A re-run into the same directory keeps the complete parts and downloads nothing.
    rerun = _export_delta(native_upstream, tmp_path / "a", NEW, [receipt])
    assert rerun.fingerprint == first.fingerprint
    assert rerun.parts_kept == [p.file for p in a.parts] and rerun.downloaded_bytes == 0
    # A lost part is written again, the same bytes.
    lost = a.parts[-1].file
    (tmp_path / "a" / lost).unlink()
    resumed = _export_delta(native_upstream, tmp_path / "a", NEW, [receipt])
    assert resumed.fingerprint == first.fingerprint and lost in resumed.parts_written
    assert (tmp_path / "a" / lost).read_bytes() == (tmp_path / "b" / lost).read_bytes()

    # A full bundle in that directory is not mistaken for the delta (other manifest.json).
    full = tmp_path / "full-here"
    write_bundle(native_upstream, full, names=NEW)
    mixed = _export_delta(native_upstream, full, NEW, [receipt])
    assert mixed.fingerprint == first.fingerprint


def test_a_delta_into_a_bare_registry_is_refused_with_nothing_pushed(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
) -> None:
    offline = registry_factory("offline")
    receipt = _imported(native_upstream, offline, tmp_path, offline.host)
    out = tmp_path / "delta"
    _export_delta(native_upstream, out, NEW, [receipt])
    manifest = read_manifest(out)
    assert manifest.delta is not None
    bare = registry_factory("bare")

    run = cli_no_engine(
        "import", str(out), "--registry", bare.host, "--receipt-dir", str(tmp_path / "r")
    )

    assert run.code == 1
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    missing = len({b.digest for b in manifest.delta.expected})
    assert f"{missing} of the {missing} blobs it expects" in lines[0]
    for name in NEW:
        assert f"{name}:" in lines[0]
    assert "Nothing was pushed" in lines[0] and "full bundle" in lines[0]
    assert "fresh inventory" in lines[0]
    assert _catalog(bare) == []


def test_a_delta_against_a_stale_receipt_is_refused(
    native_upstream: NativeUpstream, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    receipt = _imported(native_upstream, handle, tmp_path, handle.host)
    out = tmp_path / "delta"
    _export_delta(native_upstream, out, NEW, [receipt])
    handle.wipe()  # the registry was cleaned since the receipt was written

    with pytest.raises(DeltaMissingError) as caught:
        _import(out, handle.host, tmp_path / "r")

    assert set(caught.value.missing) == {f"{n}:{native_upstream.image(n).tag}" for n in NEW}
    assert "receipt" in caught.value.cause
    assert _catalog(handle) == []


def test_an_inventory_based_delta_through_the_cli(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
) -> None:
    handle = registry_factory("offline")
    _imported(native_upstream, handle, tmp_path, f"{handle.host}/mirror")
    inventory = tmp_path / "inventory.json"
    run = cli_no_engine("inventory", "--registry", f"{handle.host}/mirror", "--out", str(inventory))
    assert run.code == 0, run.err
    refs = [native_upstream.image(n).ref for n in NEW]
    source = ["--source-prefix", native_upstream.prefix]

    est = cli_no_engine("estimate", *refs, *source, "--delta-from", str(inventory), "--json")
    assert est.code == 0, est.err
    delta = est.json["delta"]
    assert delta["kind"] == "inventory" and delta["full_bytes"] == est.json["bundle_bytes"]
    assert 0 < delta["delta_bytes"] < delta["full_bytes"]
    text = cli_no_engine("estimate", *refs, *source, "--delta-from", str(inventory))
    assert "full bundle" in text.out and "delta" in text.out and "saves" in text.out

    out = tmp_path / "delta"
    run = cli_no_engine(
        "export", *refs, *source, "--to", str(out), "--part-size", "1MiB",
        "--delta-from", str(inventory), "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.json["bundle_bytes"] == delta["delta_bytes"]  # the estimate was exact
    assert run.json["delta"]["against"] == hashlib.sha256(inventory.read_bytes()).hexdigest()
    checked = cli_no_engine("verify", str(out), "--json")
    assert checked.code == 0 and checked.json["ok"], checked.err
    assert checked.json["delta"]["kind"] == "inventory"
    assert checked.json["delta"]["against"] == run.json["delta"]["against"]

    run = cli_no_engine(
        "import", str(out), "--registry", f"{handle.host}/mirror",
        "--receipt-dir", str(tmp_path / "r"), "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert all(i["ok"] and i["digest_kept"] for i in run.json["images"])
    upstream = native_upstream.image("gemnasium")
    assert served_digest(handle.url, "mirror/gemnasium", "6", upstream.media_type) == (
        upstream.digest
    )


def test_import_via_docker_refuses_a_delta(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
) -> None:
    handle = registry_factory("offline")
    receipt = _imported(native_upstream, handle, tmp_path, handle.host)
    out = tmp_path / "delta"
    _export_delta(native_upstream, out, NEW, [receipt])
    uploads = upload_count(handle.log_path)

    run = cli_no_engine("import", str(out), "--registry", handle.host, "--via-docker")

    assert run.code == 2
    assert len(run.err.strip().splitlines()) == 1, run.err
    assert "delta bundle" in run.err and "Drop --via-docker" in run.err
    assert upload_count(handle.log_path) == uploads


def _hostile_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a phrase the error must hold)."""
    digest = "sha256:" + "a" * 64
    receipt = {"kind": "airgap-tui import receipt", "registry": "r:5000", "ok": True}
    cases: dict[str, tuple[Any, str]] = {
        "bad-json": (b'{"kind": "airgap-tui import receipt", ', "not valid JSON"),
        "wrong-type": ({**receipt, "images": {"a": 1}}, "field images"),
        "odd-digest": (
            {**receipt, "images": [{"ok": True, "blobs": [{"digest": "md5:00", "size": 1}]}]},
            "is not a digest",
        ),
        "negative-size": (
            {**receipt, "images": [{"ok": True, "blobs": [{"digest": digest, "size": -5}]}]},
            "is not a blob size",
        ),
        "unknown-kind": ({"kind": "something else"}, "neither"),
    }
    out: dict[str, tuple[Path, str]] = {}
    for name, (content, phrase) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
        out[name] = (path, phrase)
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(65 * MiB)  # sparse: costs no disk
    out["huge"] = (huge, "larger than 64 MiB")
    return out


def test_hostile_presence_files_give_exit_2_and_one_sentence(
    native_upstream: NativeUpstream, tmp_path: Path, cli_no_engine: Callable[..., CliRun]
) -> None:
    refs = [native_upstream.image(n).ref for n in OLD]
    source = ["--source-prefix", native_upstream.prefix]
    for name, (path, phrase) in _hostile_files(tmp_path).items():
        out = tmp_path / f"bundle-{name}"
        for argv in (
            ["export", *refs, *source, "--to", str(out), "--delta-from", str(path)],
            ["estimate", *refs, *source, "--delta-from", str(path)],
        ):
            run = cli_no_engine(*argv)
            assert run.code == 2, (name, run.err)
            lines = run.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("airgap-tui: "), (name, run.err)
            assert str(path) in lines[0] and phrase in lines[0], (name, lines[0])
            assert "Traceback" not in run.err
        assert not (out / "bundle.yaml").exists()
