"""Format 2 bundles for the import tests, written from the native upstream's own bytes.

The import tests need bundles whose every byte they know (to corrupt one blob, to compare a
pushed digest with the upstream one) independently of the exporter; the end-to-end tests run
the real exporter. The layout follows docs/bundle-format.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import requests

from airgap_tui.bundle_manifest import (
    KIND_ARTIFACT,
    KIND_IMAGE,
    BundleBlob,
    BundleImage,
    BundleManifest,
    BundlePart,
    write_manifest,
)
from tests.harness.native import OCI_INDEX, NativeImage, NativeUpstream

MiB = 1 << 20


def write_bundle(
    upstream: NativeUpstream,
    out: Path,
    *,
    names: list[str] | None = None,
    platforms: tuple[str, ...] = ("linux/amd64",),
    part_size: int = MiB,
) -> BundleManifest:
    """Write the bundle of `names` (default: every upstream image) into `out`."""
    images = [upstream.image(n) for n in names] if names else list(upstream.images)
    entries: dict[str, tuple[bytes, str]] = {}  # digest -> (bytes, media type), first use order
    carried: list[BundleImage] = []
    index_json: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    for image in images:
        if image.index is not None and len(platforms) > 1:
            chosen = [m for m in image.manifests if m.platform in platforms]
            entries.setdefault(image.digest, (image.index, OCI_INDEX))
            top_digest, top_type, platform = image.digest, OCI_INDEX, None
            children = [m.digest for m in chosen]
        else:
            chosen = [
                image.manifest_for(platforms[0]) if image.index is not None else image.manifests[0]
            ]
            top_digest, top_type = chosen[0].digest, chosen[0].media_type
            platform = chosen[0].platform if image.kind == KIND_IMAGE else None
            children = []
        blobs: list[str] = []
        for manifest in chosen:
            entries.setdefault(manifest.digest, (manifest.data, manifest.media_type))
        for manifest in chosen:
            for blob in [manifest.config, *manifest.layers]:
                entries.setdefault(blob.digest, (blob.data, blob.media_type))
                if blob.digest not in blobs:
                    blobs.append(blob.digest)
        carried.append(
            BundleImage(
                name=image.name,
                tag=image.tag,
                source_ref=image.ref,
                digest=top_digest,
                media_type=top_type,
                kind=image.kind,
                platform=platform,
                manifests=children,
                blobs=blobs,
            )
        )
        index_json.append(
            {
                "mediaType": top_type,
                "digest": top_digest,
                "size": len(entries[top_digest][0]),
                "annotations": {
                    "org.opencontainers.image.ref.name": f"{image.name}:{image.tag}",
                    "io.containerd.image.name": image.ref,
                },
            }
        )
        if image.kind != KIND_ARTIFACT:
            first = chosen[0]
            docker_manifest.append(
                {
                    "Config": f"blobs/sha256/{first.config.digest[7:]}",
                    "RepoTags": [image.ref],
                    "Layers": [f"blobs/sha256/{layer.digest[7:]}" for layer in first.layers],
                }
            )
    tar, offsets = _tar(entries, index_json, docker_manifest)
    parts = _split(tar, out, part_size)
    manifest = BundleManifest(
        source_prefix=upstream.prefix,
        gitlab_major=18,
        platforms=list(platforms),
        images=carried,
        blobs=[
            BundleBlob(digest, len(data), media_type, offsets[digest])
            for digest, (data, media_type) in entries.items()
        ],
        parts=parts,
    )
    write_manifest(out, manifest)
    return manifest


def _compact(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _tar(
    entries: dict[str, tuple[bytes, str]],
    index_json: list[dict[str, Any]],
    docker_manifest: list[dict[str, Any]],
) -> tuple[bytes, dict[str, int]]:
    buf = io.BytesIO()
    offsets: dict[str, int] = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:

        def add(name: str, data: bytes) -> int:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            start = tf.offset + 512  # names here fit one ustar header block
            tf.addfile(info, io.BytesIO(data))
            return start

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", _compact({"schemaVersion": 2, "manifests": index_json}))
        add("manifest.json", _compact(docker_manifest))
        for digest, (data, _media) in entries.items():
            offsets[digest] = add(f"blobs/sha256/{digest[7:]}", data)
    return buf.getvalue(), offsets


def _split(tar: bytes, out: Path, part_size: int) -> list[BundlePart]:
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, start in enumerate(range(0, len(tar), part_size)):
        chunk = tar[start : start + part_size]
        name = f"images.tar.{index:03d}"
        (out / name).write_bytes(chunk)
        parts.append(BundlePart(name, len(chunk), hashlib.sha256(chunk).hexdigest()))
    return parts


def served_digest(
    url: str, repository: str, tag: str, media_type: str, *, verify: str | Path | bool = True
) -> str:
    """The digest a registry serves for repository:tag, asked with that media type only."""
    resp = requests.get(
        f"{url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": media_type},
        timeout=30,
        verify=str(verify) if isinstance(verify, Path) else verify,
    )
    resp.raise_for_status()
    assert resp.headers["Content-Type"].split(";")[0] == media_type
    assert (
        "sha256:" + hashlib.sha256(resp.content).hexdigest()
        == resp.headers["Docker-Content-Digest"]
    )
    return str(resp.headers["Docker-Content-Digest"])


def upload_count(log: Path) -> int:
    """Blob uploads a registry finished (from its access log); a mount or a HEAD is none."""
    return sum(
        1
        for line in log.read_text(errors="replace").splitlines()
        if '"PUT /v2/' in line and "/blobs/uploads/" in line and '" 201 ' in line
    )


def image_by_name(upstream: NativeUpstream, name: str) -> NativeImage:
    return upstream.image(name)
