"""Import straight to the registry (no engine) on a real registry: every pushed digest equals
upstream (index and artifact included), a re-run pushes nothing, shared blobs are uploaded once
and mounted, a registry that dies mid-push is resumed by a re-run, htpasswd auth, a corrupted
part pushes nothing, a corrupted blob under --no-verify never reaches the registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from airgap_tui.bundle.manifest import KIND_ARTIFACT, BundleManifest
from airgap_tui.errors import AuthError
from airgap_tui.events import STAGE_BLOB, Progress
from airgap_tui.importer.run import ImportRequest, ImportResult, import_bundle
from airgap_tui.models import Credentials
from tests.harness.native import OCI_INDEX, NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.import_support import served_digest, upload_count, write_bundle

MakeRegistry = Callable[..., RegistryHandle]
SECRET = "Import-secret-pa55word"


@pytest.fixture(scope="module")
def bundle(native_upstream: NativeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every upstream image, linux/amd64, in 1 MiB parts."""
    out = tmp_path_factory.mktemp("native-bundle")
    write_bundle(native_upstream, out)
    return out


def _import(bundle_dir: Path, registry: str, receipts: Path, **kwargs: Any) -> ImportResult:
    options = {k: kwargs.pop(k) for k in ("progress", "cancel") if k in kwargs}
    kwargs.setdefault("push_backoff", 0)
    request = ImportRequest(
        bundle_dir=bundle_dir, registry=registry, receipt_dir=receipts, **kwargs
    )
    return import_bundle(request, **options)


def _manifest(bundle_dir: Path) -> BundleManifest:
    from airgap_tui.bundle.schema import read_manifest

    return read_manifest(bundle_dir)


def _catalog(handle: RegistryHandle) -> list[str]:
    resp = requests.get(f"{handle.url}/v2/_catalog", timeout=30)
    resp.raise_for_status()
    return list(resp.json().get("repositories") or [])


def test_every_digest_is_kept_and_a_rerun_pushes_nothing(
    bundle: Path, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    manifest = _manifest(bundle)
    target = f"{handle.host}/mirror"

    result = _import(bundle, target, tmp_path)

    assert result.ok, [(i.target, i.error) for i in result.images]
    assert result.verified
    assert [i.status for i in result.images] == ["pushed"] * len(manifest.images)
    for img, res in zip(manifest.images, result.images, strict=True):
        assert res.target == f"{target}/{img.name}:{img.tag}"
        assert res.source_digest == img.digest and res.pushed_digest == img.digest
        assert res.digest_kept
        assert served_digest(handle.url, f"mirror/{img.name}", img.tag, img.media_type) == (
            img.digest
        )
        assert {b["digest"] for b in res.blobs} == set(img.blobs)
    assert any(img.kind == KIND_ARTIFACT for img in manifest.images)  # the artifact went too

    # Each distinct blob was uploaded once; the shared base went to the others by mount.
    distinct = {d for img in manifest.images for d in img.blobs}
    holders = sum(len(img.blobs) for img in manifest.images)
    assert holders > len(distinct)
    uploads = upload_count(handle.log_path)
    assert uploads == len(distinct)

    receipt = json.loads(result.receipt_path.read_text())  # type: ignore[union-attr]
    assert receipt["kind"] == "airgap-tui import receipt"
    assert receipt["bundle_fingerprint"] == manifest.fingerprint
    assert receipt["registry"] == target and receipt["ok"] is True
    assert receipt["route"] == "registry" and receipt["engine"] is None
    for row, img in zip(receipt["images"], manifest.images, strict=True):
        assert row["source_digest"] == row["pushed_digest"] == img.digest
        assert row["digest_kept"] is True
        assert {(b["digest"], b["size"]) for b in row["blobs"]} == {
            (d, manifest.blob(d).size) for d in img.blobs
        }

    again = _import(bundle, target, tmp_path)
    assert again.ok
    assert [i.status for i in again.images] == ["already present"] * len(manifest.images)
    assert all(i.digest_kept for i in again.images)
    assert upload_count(handle.log_path) == uploads  # every blob a HEAD hit


def test_an_index_with_two_platforms_is_pushed_whole(
    native_upstream: NativeUpstream, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    out = tmp_path / "bundle"
    manifest = write_bundle(
        native_upstream,
        out,
        names=["container-scanning"],
        platforms=("linux/amd64", "linux/arm64"),
    )
    [img] = manifest.images
    assert img.media_type == OCI_INDEX and len(img.manifests) == 2

    result = _import(out, handle.host, tmp_path)

    assert result.ok and result.images[0].digest_kept
    upstream = native_upstream.image("container-scanning")
    assert served_digest(handle.url, img.name, img.tag, OCI_INDEX) == upstream.digest
    for child in upstream.manifests:
        assert served_digest(handle.url, img.name, child.digest, child.media_type) == child.digest


def test_a_corrupted_part_pushes_nothing(
    native_upstream: NativeUpstream, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    out = tmp_path / "bundle"
    manifest = write_bundle(native_upstream, out)
    part = out / manifest.parts[1].file
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))

    result = _import(out, handle.host, tmp_path)

    assert not result.ok and not result.verified
    assert result.problems and manifest.parts[1].file in result.problems[0]
    assert {i.status for i in result.images} == {"failed"}
    assert _catalog(handle) == []
    receipt = json.loads(result.receipt_path.read_text())  # type: ignore[union-attr]
    assert receipt["verification"]["result"] == "failed" and receipt["ok"] is False


def test_a_corrupted_blob_without_verify_never_reaches_the_registry(
    native_upstream: NativeUpstream, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    out = tmp_path / "bundle"
    manifest = write_bundle(native_upstream, out, names=["semgrep", "secrets"])
    secrets = manifest.images[1]
    only_secrets = [d for d in secrets.blobs if d not in manifest.images[0].blobs]
    layer = manifest.blob(only_secrets[-1])
    _flip_byte_at(out, manifest, layer.offset + layer.size // 2)

    result = _import(out, handle.host, tmp_path, verify=False)

    semgrep, broken = result.images
    assert semgrep.ok and semgrep.digest_kept
    assert not broken.ok and broken.status == "failed"
    assert layer.digest in broken.error and "do not match" in broken.error
    head = requests.head(f"{handle.url}/v2/secrets/blobs/{layer.digest}", timeout=30)
    assert head.status_code == 404
    assert requests.head(f"{handle.url}/v2/secrets/manifests/7", timeout=30).status_code == 404


def _flip_byte_at(out: Path, manifest: BundleManifest, offset: int) -> None:
    start = 0
    for part in manifest.parts:
        if offset < start + part.size:
            path = out / part.file
            data = bytearray(path.read_bytes())
            data[offset - start] ^= 0xFF
            path.write_bytes(bytes(data))
            return
        start += part.size
    raise AssertionError("offset past the parts")


def test_a_registry_that_dies_mid_push_is_finished_by_a_rerun(
    bundle: Path, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    manifest = _manifest(bundle)
    stopped: list[Progress] = []

    def stop_mid_blob(event: Progress) -> None:
        if event.stage == STAGE_BLOB and 0 < event.done and not stopped:
            stopped.append(event)
            handle.stop()

    first = _import(bundle, handle.host, tmp_path, progress=stop_mid_blob, push_attempts=2)

    assert stopped and not first.ok
    failed = [i for i in first.images if not i.ok]
    assert failed and all(handle.host in i.error for i in failed)
    handle.start()
    second = _import(bundle, handle.host, tmp_path)
    assert second.ok, [(i.target, i.error) for i in second.images]
    for img, res in zip(manifest.images, second.images, strict=True):
        assert res.pushed_digest == img.digest
        assert served_digest(handle.url, img.name, img.tag, img.media_type) == img.digest


def test_htpasswd_auth(bundle: Path, registry_factory: MakeRegistry, tmp_path: Path) -> None:
    handle = registry_factory("auth", htpasswd=("ci", SECRET))
    with pytest.raises(AuthError) as refused:
        _import(bundle, handle.host, tmp_path)
    assert handle.host in refused.value.sentence()

    result = _import(bundle, handle.host, tmp_path, credentials=Credentials("ci", SECRET))

    assert result.ok and all(i.digest_kept for i in result.images)
    for path in tmp_path.rglob("*.json"):
        assert SECRET not in path.read_text()
