"""The native harness: what it pushed through the registry API is what the registry serves."""

from __future__ import annotations

import gzip
import hashlib

import requests

from tests.harness.native import (
    OCI_INDEX,
    TRIVY_CONFIG,
    NativeUpstream,
    distinct_blob_bytes,
    zstd_available,
)

ACCEPT = ", ".join(
    [
        OCI_INDEX,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def test_every_tag_serves_the_bytes_pushed(native_upstream: NativeUpstream) -> None:
    url = native_upstream.registry.url
    for image in native_upstream.images:
        resp = requests.get(
            f"{url}/v2/{image.path}/manifests/{image.tag}", headers={"Accept": ACCEPT}, timeout=10
        )
        assert resp.status_code == 200, image.ref
        assert "sha256:" + hashlib.sha256(resp.content).hexdigest() == image.digest
        assert resp.headers["Content-Type"] == image.media_type
        for blob in image.blobs():
            got = requests.get(f"{url}/v2/{image.path}/blobs/{blob.digest}", timeout=10)
            assert got.content == blob.data


def test_the_set_has_every_shape_the_export_must_carry(native_upstream: NativeUpstream) -> None:
    kinds = {image.media_type for image in native_upstream.images}
    assert OCI_INDEX in kinds
    assert "application/vnd.docker.distribution.manifest.v2+json" in kinds
    layer_types = {
        layer.media_type
        for image in native_upstream.images
        for manifest in image.manifests
        for layer in manifest.layers
    }
    assert "application/vnd.oci.image.layer.v1.tar" in layer_types
    assert zstd_available() and "application/vnd.oci.image.layer.v1.tar+zstd" in layer_types
    artifact = native_upstream.image("aquasecurity/trivy-java-db")
    assert artifact.kind == "artifact" and artifact.manifests[0].config.media_type == TRIVY_CONFIG
    index = native_upstream.image("container-scanning")
    assert [m.platform for m in index.manifests] == ["linux/amd64", "linux/arm64"]
    # a base layer shared by several images: stored once in the registry's distinct bytes
    base = native_upstream.image("semgrep").manifests[0].layers[0]
    users = [i for i in native_upstream.images if base.digest in {b.digest for b in i.blobs()}]
    assert len(users) >= 4
    total = sum(b.size for i in native_upstream.images for b in i.blobs())
    assert distinct_blob_bytes(native_upstream.images) < total
    # Python's gzip, level 6, mtime 0: not what an engine would write
    assert gzip.decompress(base.data)[:100]
    assert base.data[4:8] == b"\0\0\0\0"
