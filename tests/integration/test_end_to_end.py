"""The connected side end to end, with no engine: estimate -> export -> verify, through the CLI,
against a registry seeded straight through its API (tests/harness/native.py) — and the bundle
loaded with `cat parts | docker load` on both real engines.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

from airgap_tui.bundle.manifest import MANIFEST_NAME
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.toolpack.toolpack import TOOL_FILE
from tests.harness.engine import EngineHandle
from tests.harness.native import OCI_INDEX, NativeImage, NativeUpstream, distinct_blob_bytes
from tests.integration.conftest import CliRun

CATALOG = ["semgrep", "secrets:7", "gemnasium", "kics"]


def _custom(upstream: NativeUpstream) -> list[str]:
    return [
        f"{upstream.host}/security-products/container-scanning:8",
        f"{upstream.host}/aquasecurity/trivy-java-db:1",
    ]


def _argv(upstream: NativeUpstream, *extra: str) -> list[str]:
    return [*CATALOG, *_custom(upstream), "--source-prefix", upstream.prefix, *extra]


def _export(cli: Callable[..., CliRun], upstream: NativeUpstream, dest: Path, *extra: str) -> Any:
    run = cli(
        "export", *_argv(upstream, "--to", str(dest), "--part-size", "1MiB", *extra), "--json"
    )
    assert run.code == 0, run.err
    return run.json


def _images(upstream: NativeUpstream) -> list[NativeImage]:
    """What _argv exports, in its order."""
    names = ["semgrep", "secrets", "gemnasium", "kics", "container-scanning"]
    return [upstream.image(n) for n in [*names, "aquasecurity/trivy-java-db"]]


def _parts(dest: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(dest.glob("images.tar.*")))


def test_export_is_exact_verifies_and_is_both_an_oci_layout_and_a_docker_archive(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    est = cli_no_engine("estimate", *_argv(native_upstream), "--json")
    assert est.code == 0, est.err
    dest = tmp_path / "usb" / "gitlab-scanners"
    result = _export(cli_no_engine, native_upstream, dest)
    assert result["ok"] and result["readback_ok"] and result["parts_kept"] == []
    parts = sorted(dest.glob("images.tar.*"))
    assert len(parts) >= 4 and [p.name for p in parts] == result["parts_written"]
    written = sum(p.stat().st_size for p in parts)
    # the estimate is exact: distinct blobs + tar headers + metadata = the bytes on the media
    assert est.json["bundle_bytes"] == result["bundle_bytes"] == written
    assert all(p.stat().st_size == 1 << 20 for p in parts[:-1])
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [MANIFEST_NAME, TOOL_FILE, *result["parts_written"]]
    )

    verified = cli_no_engine("verify", str(dest), "--json")
    assert verified.code == 0, verified.err
    assert verified.json["ok"] is True and verified.json["fingerprint"] == result["fingerprint"]

    manifest = read_manifest(dest)
    expected = _images(native_upstream)
    assert [i.source_ref for i in manifest.images] == [i.ref for i in expected]
    for image, upstream in zip(manifest.images, expected, strict=True):
        if upstream.index is not None:  # one platform chosen: its manifest, not the index
            carried = upstream.manifest_for("linux/amd64")
            assert image.digest == carried.digest and image.platform == "linux/amd64"
        else:
            assert image.digest == upstream.digest
        assert image.kind == upstream.kind
    artifact = manifest.images[-1]
    assert artifact.kind == "artifact" and artifact.platform is None
    assert artifact.name == "aquasecurity/trivy-java-db"

    data = _parts(dest)
    registry_blobs = {b.digest: b.data for img in expected for b in img.blobs(["linux/amd64"])} | {
        m.digest: m.data for img in expected for m in img.manifests
    }
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names[:3] == ["oci-layout", "index.json", "manifest.json"]
        assert len(names) == len(set(names))  # each blob once
        for member in members:
            assert member.isreg() and member.mode == 0o644 and member.mtime == 0
            assert member.uid == member.gid == 0 and member.uname == member.gname == ""
        for blob in manifest.blobs:
            content = tar.extractfile("blobs/sha256/" + blob.digest[7:])
            assert content is not None
            body = content.read()
            assert body == data[blob.offset : blob.offset + blob.size]
            assert blob.digest in registry_blobs, blob  # only what the registry holds
            assert body == registry_blobs[blob.digest]  # byte for byte as the registry served it
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        docker_manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert data.endswith(bytes(1024))
    assert [m["digest"] for m in index["manifests"]] == [i.digest for i in manifest.images]
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [
        f"{i.name}:{i.tag}" for i in manifest.images
    ]
    # manifest.json: images only (no artifact), zstd images last, configs and layers by path
    tags = [entry["RepoTags"][0] for entry in docker_manifest]
    assert tags[-1].endswith("/kics:6") and not any("trivy" in t for t in tags)
    assert len(tags) == 5
    # bytes on the media against the registry's distinct bytes (+ small metadata)
    distinct = distinct_blob_bytes(expected, ["linux/amd64"])
    manifests = sum(len(registry_blobs[i.digest]) for i in manifest.images)
    assert distinct + manifests <= written <= (distinct + manifests) * 1.03 + 64 * 1024
    raw = yaml.safe_load((dest / MANIFEST_NAME).read_text())
    assert raw["format_version"] == 2 and raw["platforms"] == ["linux/amd64"]
    snippet = cli_no_engine(
        "snippet", "--registry", "registry.example:5000/sec", "--bundle", str(dest)
    )
    assert snippet.code == 0, snippet.err
    assert "registry.example:5000/sec" in snippet.out


def test_same_selection_is_byte_identical_and_a_rerun_downloads_nothing(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    first = _export(cli_no_engine, native_upstream, tmp_path / "a")
    second = _export(cli_no_engine, native_upstream, tmp_path / "b")
    assert first["fingerprint"] == second["fingerprint"]
    names = sorted(p.name for p in (tmp_path / "a").glob("images.tar.*"))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    inodes = {n: (tmp_path / "a" / n).stat().st_ino for n in names}
    again = _export(cli_no_engine, native_upstream, tmp_path / "a")
    assert again["parts_kept"] == names and again["parts_written"] == []
    assert again["downloaded_bytes"] == 0 and again["fingerprint"] == first["fingerprint"]
    assert {n: (tmp_path / "a" / n).stat().st_ino for n in names} == inodes


def test_several_platforms_keep_the_index_with_those_platforms(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    image = native_upstream.image("container-scanning")
    dest = tmp_path / "multi"
    run = cli_no_engine(
        "export",
        "semgrep",
        f"{native_upstream.host}/security-products/container-scanning:8",
        "--source-prefix",
        native_upstream.prefix,
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "--to",
        str(dest),
        "--json",
    )
    assert run.code == 0, run.err
    manifest = read_manifest(dest)
    carried = manifest.images[1]
    assert carried.digest == image.digest and carried.media_type == OCI_INDEX
    assert carried.platform is None
    assert carried.manifests == [m.digest for m in image.manifests]
    assert set(carried.blobs) == {b.digest for b in image.blobs()}  # both platforms' blobs
    assert manifest.platforms == ["linux/amd64", "linux/arm64"]
    data = _parts(dest)
    index = manifest.blob(image.digest)
    assert data[index.offset : index.offset + index.size] == image.index  # original bytes
    # the semgrep manifest is not an index: carried as is, whatever the platforms
    assert manifest.images[0].digest == native_upstream.image("semgrep").digest


def test_cat_parts_into_docker_load_gives_the_upstream_image_ids(
    engine: EngineHandle,
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    tmp_path: Path,
) -> None:
    """The fallback for an offline host with Docker but no Python: `cat images.tar.* | docker
    load`. Engine 20.10 cannot decompress zstd: it loads every other image, then stops at the
    zstd one (manifest.json puts those last); 26.1 loads them all."""
    dest = tmp_path / "bundle"
    _export(cli_no_engine, native_upstream, dest)
    manifest = read_manifest(dest)
    client = engine.client()
    try:
        for found in client.images.list(all=True):
            client.images.remove(found.id, force=True)
        events = list(client.api.load_image(io.BytesIO(_parts(dest))))
        errors = [e for e in events if "error" in e or "errorDetail" in e]
        loaded = [
            e["stream"].split(": ", 1)[1].strip()
            for e in events
            if "Loaded image" in e.get("stream", "")
        ]
        expected = [i for i in _images(native_upstream) if i.kind == "image"]
        zstd = [i for i in expected if i.name == "kics"]
        if engine.kind == "bookworm":
            assert [i.ref for i in expected if i not in zstd] == loaded
            assert len(errors) == 1, events
        else:
            assert sorted(loaded) == sorted(i.ref for i in expected) and not errors, events
        for ref in loaded:
            carried = next(i for i in manifest.images if i.source_ref == ref)
            upstream = next(i for i in expected if i.ref == ref)
            config = upstream.manifest_for("linux/amd64").config.digest
            assert client.images.get(ref).id == config, ref  # image ID = the config's digest
            assert config in carried.blobs
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(f"{native_upstream.host}/aquasecurity/trivy-java-db:1")
    finally:
        for found in client.images.list(all=True):
            client.images.remove(found.id, force=True)
        client.close()


def test_every_blob_in_the_bundle_has_its_digest(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    dest = tmp_path / "bundle"
    _export(cli_no_engine, native_upstream, dest)
    manifest = read_manifest(dest)
    data = _parts(dest)
    for blob in manifest.blobs:
        body = data[blob.offset : blob.offset + blob.size]
        assert "sha256:" + hashlib.sha256(body).hexdigest() == blob.digest
