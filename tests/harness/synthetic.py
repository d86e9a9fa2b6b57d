"""A scalable set of analyzer images, pushed STRAIGHT to a registry, sharing base layers.

Seven catalog analyzers over one OS base, with a Python runtime, a Java runtime and a gemnasium
core shared between some of them, and one layer of their own each. `analyzer_set(total)` scales
every layer so the distinct registry bytes (compressed layers, configs, manifests) add up to
about `total`. As in tests/harness/native.py, nothing here goes through an engine: layers are
gzip-compressed by Python (about 2:1), Docker v2 and OCI manifests are written here and PUT as
bytes, so a tool that re-compresses shows up as a changed digest. A layer's bytes are a pure
function of its name and size, so a set is rebuilt identically. Used by benchmarks/run.py.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

from tests.harness.native import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    EPOCH,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Blob,
    RegistryPusher,
    canonical,
    sha256_digest,
)
from tests.harness.registry import RegistryHandle

# Relative weights of the distinct layers (they sum to 1000).
_WEIGHTS = {
    "base-os": 175,
    "python-runtime": 105,
    "java-runtime": 175,
    "gemnasium-core": 70,
    "semgrep-app": 105,
    "spotbugs-app": 85,
    "secrets-app": 45,
    "gemnasium-app": 50,
    "gemnasium-maven-app": 50,
    "gemnasium-python-app": 50,
    "kics-app": 90,
}

# (catalog name, tag, layer names bottom-up, manifest kind) — catalog tags for GitLab 18.
_IMAGES = (
    ("semgrep", "6", ("base-os", "python-runtime", "semgrep-app"), "docker"),
    ("spotbugs", "5", ("base-os", "java-runtime", "spotbugs-app"), "oci"),
    ("secrets", "7", ("base-os", "secrets-app"), "docker"),
    ("gemnasium", "6", ("base-os", "gemnasium-core", "gemnasium-app"), "oci"),
    (
        "gemnasium-maven",
        "6",
        ("base-os", "java-runtime", "gemnasium-core", "gemnasium-maven-app"),
        "docker",
    ),
    (
        "gemnasium-python",
        "6",
        ("base-os", "python-runtime", "gemnasium-core", "gemnasium-python-app"),
        "oci",
    ),
    ("kics", "6", ("base-os", "python-runtime", "kics-app"), "docker"),
)

_RANDOM_PER_512 = 208  # random bytes in each 512-byte stretch: Python's gzip -6 makes ~2:1
_RATIO = 2.35  # raw content per compressed byte (measured), to size the raw layers


@dataclass(frozen=True)
class SyntheticImage:
    """One image as the upstream registry holds it: `<path>:<tag>` → manifest → blobs."""

    name: str  # catalog name, "semgrep"
    tag: str
    path: str  # repository, "security-products-small/semgrep"
    manifest: bytes
    media_type: str
    config: Blob
    layers: tuple[Blob, ...]

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def spec(self) -> str:
        """The `name:tag` argument airgap-tui takes."""
        return f"{self.name}:{self.tag}"

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)


def layer_content(name: str, size: int) -> bytes:
    """`size` bytes, part random part text, that Python's gzip compresses about 2:1."""
    rng = random.Random(f"airgap-tui-bench-layer:{name}:{size}")
    out = bytearray()
    text = 512 - _RANDOM_PER_512
    while len(out) < size:
        out += rng.randbytes(_RANDOM_PER_512)
        out += (f"{name} line {len(out)}\n" * 16).encode()[:text]
    return bytes(out[:size])


def _layer(name: str, size: int, oci: bool) -> tuple[Blob, str]:
    """(the gzip-compressed layer blob, its diff_id)."""
    raw_tar = io.BytesIO()
    with tarfile.open(fileobj=raw_tar, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for directory in ("opt/", f"opt/{name}/"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        content = layer_content(name, size)
        info = tarfile.TarInfo(f"opt/{name}/data.bin")
        info.size, info.mode, info.mtime = len(content), 0o644, EPOCH
        tar.addfile(info, io.BytesIO(content))
    raw = raw_tar.getvalue()
    data = gzip.compress(raw, compresslevel=6, mtime=0)  # Python's gzip, not an engine's
    return Blob(sha256_digest(data), data, OCI_LAYER_GZIP if oci else DOCKER_LAYER_GZIP), (
        sha256_digest(raw)
    )


def analyzer_set(registry_bytes: int, *, path: str, label: str = "bench") -> list[SyntheticImage]:
    """Seven images whose distinct registry bytes add up to about `registry_bytes`.

    `label` goes into every layer name, so two sets with different labels share no bytes.
    """
    if registry_bytes < len(_WEIGHTS) * 4096:
        raise ValueError(f"registry_bytes={registry_bytes} is too small for {len(_WEIGHTS)} layers")
    raw_total = int(registry_bytes * _RATIO)
    layers: dict[tuple[str, bool], tuple[Blob, str]] = {}
    images: list[SyntheticImage] = []
    for name, tag, names, kind in _IMAGES:
        oci = kind == "oci"
        own: list[Blob] = []
        diff_ids: list[str] = []
        for layer_name in names:
            key = (layer_name, oci)
            if key not in layers:
                # the same content under both media types would be one blob: build it once
                other = layers.get((layer_name, not oci))
                if other is not None:
                    blob = Blob(
                        other[0].digest,
                        other[0].data,
                        OCI_LAYER_GZIP if oci else DOCKER_LAYER_GZIP,
                    )
                    layers[key] = (blob, other[1])
                else:
                    size = max(raw_total * _WEIGHTS[layer_name] // 1000, 1024)
                    layers[key] = _layer(f"{label}-{layer_name}", size, oci)
            blob, diff_id = layers[key]
            own.append(blob)
            diff_ids.append(diff_id)
        config_bytes = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": "2024-03-01T10:00:00Z",
                "config": {"Cmd": ["/analyzer", "run"], "Labels": {"bench": f"{name}:{tag}"}},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created_by": f"layer {n}"} for n in range(len(diff_ids))],
            },
            sort_keys=True,
        ).encode()
        config = Blob(
            sha256_digest(config_bytes), config_bytes, OCI_CONFIG if oci else DOCKER_CONFIG
        )
        media = OCI_MANIFEST if oci else DOCKER_MANIFEST
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": media,
                "config": config.descriptor(),
                "layers": [layer.descriptor() for layer in own],
            }
        )
        images.append(
            SyntheticImage(name, tag, f"{path}/{name}", manifest, media, config, tuple(own))
        )
    return images


def push_set(registry: RegistryHandle, images: Iterable[SyntheticImage]) -> None:
    """Upload each distinct blob once, mount it into the other repositories, PUT the manifests."""
    pusher = RegistryPusher(registry)
    holder: dict[str, str] = {}  # digest -> repository that has it
    try:
        for image in images:
            for blob in image.blobs:
                if blob.digest in holder:
                    resp = pusher.session.post(
                        f"{registry.url}/v2/{image.path}/blobs/uploads/",
                        params={"mount": blob.digest, "from": holder[blob.digest]},
                        timeout=60,
                    )
                    if resp.status_code == 201:
                        continue
                pusher.push_blob(image.path, blob)
                holder.setdefault(blob.digest, image.path)
            pusher.push_manifest(image.path, image.tag, image.manifest, image.media_type)
    finally:
        pusher.close()


def specs(images: Iterable[SyntheticImage]) -> list[str]:
    """The `name:tag` arguments airgap-tui takes for these images (catalog names)."""
    return [image.spec for image in images]


def distinct_bytes(images: Iterable[SyntheticImage]) -> int:
    """What the registry holds for these tags, each blob once: blobs plus manifests."""
    seen: dict[str, int] = {}
    for image in images:
        seen[image.digest] = len(image.manifest)
        for blob in image.blobs:
            seen[blob.digest] = blob.size
    return sum(seen.values())


def per_image_bytes(images: Iterable[SyntheticImage]) -> int:
    """Registry bytes summed image by image (what one copy per image holds)."""
    return sum(len(i.manifest) + sum(b.size for b in i.blobs) for i in images)
