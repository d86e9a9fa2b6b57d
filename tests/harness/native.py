"""Images pushed STRAIGHT through the registry API, with layers compressed by other tools.

An engine-made test set hides digest changes (the engine's gzip is deterministic, so it makes the
same bytes again on push). Real analyzers are built by buildkit, kaniko, … so here every blob is
made in Python and uploaded with `POST /v2/<name>/blobs/uploads/` + `PUT ?digest=`, and every
manifest is PUT as bytes we wrote ourselves:

- layers gzip-compressed by Python's gzip (several images share a base layer);
- one uncompressed layer, and one zstd layer (the `zstd` CLI; Debian package zstd);
- Docker v2 schema 2 manifests for some images, OCI manifests for others;
- an OCI index with two platforms (linux/amd64 + linux/arm64);
- an OCI artifact shaped like trivy-java-db (non-image config and layer media types).

Everything is a pure function of the names: the same set is rebuilt byte for byte.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.harness.registry import RegistryHandle

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
TRIVY_CONFIG = "application/vnd.aquasec.trivy.config.v1+json"
TRIVY_JAVADB_LAYER = "application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip"

EPOCH = 1_700_000_000
SOURCE_PATH = "security-products"
HAVE_ZSTD = shutil.which("zstd") is not None


def zstd_available() -> bool:
    return HAVE_ZSTD


# --------------------------------------------------------------------------- blobs


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(name: str, size: int) -> bytes:
    """A layer's filesystem tar: one file of `size` bytes, half random half text (~2:1 gzip)."""
    rng = random.Random(f"airgap-tui-native-layer:{name}:{size}")
    content = bytearray()
    while len(content) < size:
        content += rng.randbytes(256) + (f"{name} line {len(content)}\n" * 8).encode()[:256]
    content = content[:size]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for directory in ("opt/", f"opt/{name}/"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        info = tarfile.TarInfo(f"opt/{name}/data.bin")
        info.size, info.mode, info.mtime = len(content), 0o644, EPOCH
        tar.addfile(info, io.BytesIO(bytes(content)))
    return out.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)  # Python's gzip, not the engine's
    if how == "zstd":
        done = subprocess.run(
            ["zstd", "-q", "-3", "-c", "--no-check"], input=data, capture_output=True, check=True
        )
        return done.stdout
    if how == "none":
        return data
    raise ValueError(how)


@dataclass(frozen=True)
class LayerSpec:
    name: str
    size: int  # bytes of file content
    compression: str = "gzip"  # gzip | zstd | none


@dataclass
class Blob:
    digest: str
    data: bytes
    media_type: str

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, media_type: str | None = None) -> dict[str, Any]:
        return {
            "mediaType": media_type or self.media_type,
            "digest": self.digest,
            "size": self.size,
        }


def make_layer(spec: LayerSpec, oci: bool) -> tuple[Blob, str]:
    """(compressed blob, diff_id)."""
    raw = layer_tar(spec.name, spec.size)
    data = compress(raw, spec.compression)
    if spec.compression == "gzip":
        media = OCI_LAYER_GZIP if oci else DOCKER_LAYER_GZIP
    elif spec.compression == "zstd":
        media = OCI_LAYER_ZSTD
    else:
        media = OCI_LAYER_TAR
    return Blob(sha256_digest(data), data, media), sha256_digest(raw)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, indent=3).encode()  # registries keep whatever bytes were pushed


# --------------------------------------------------------------------------- the image set


@dataclass(frozen=True)
class NativeImageSpec:
    path: str  # repository under the registry, e.g. "security-products/semgrep"
    tag: str
    layers: tuple[LayerSpec, ...] = ()
    manifest: str = "oci"  # oci | docker | index | artifact
    platforms: tuple[str, ...] = ("linux/amd64",)  # index: one manifest per platform


_BASE = LayerSpec("base-os", 1_600_000)
_PY = LayerSpec("python-runtime", 800_000)

NATIVE_IMAGES: tuple[NativeImageSpec, ...] = (
    NativeImageSpec(
        f"{SOURCE_PATH}/semgrep", "6", (_BASE, _PY, LayerSpec("semgrep-bin", 1_000_000)), "docker"
    ),
    NativeImageSpec(
        f"{SOURCE_PATH}/secrets", "7", (_BASE, LayerSpec("gitleaks", 600_000)), "docker"
    ),
    NativeImageSpec(
        f"{SOURCE_PATH}/gemnasium",
        "6",
        (_BASE, _PY, LayerSpec("gemnasium-bin", 400_000, "none")),
        "oci",
    ),
    NativeImageSpec(
        f"{SOURCE_PATH}/kics",
        "6",
        (_BASE, LayerSpec("kics-bin", 700_000, "zstd" if HAVE_ZSTD else "gzip")),
        "oci",
    ),
    NativeImageSpec(
        f"{SOURCE_PATH}/container-scanning",
        "8",
        (_BASE, LayerSpec("trivy-bin", 600_000)),
        "index",
        ("linux/amd64", "linux/arm64"),
    ),
    NativeImageSpec(
        "aquasecurity/trivy-java-db", "1", (LayerSpec("javadb", 800_000),), "artifact", ()
    ),
)


@dataclass
class NativeManifest:
    """One image (platform) manifest as pushed."""

    digest: str
    media_type: str
    data: bytes
    config: Blob
    layers: list[Blob]
    platform: str | None


@dataclass
class NativeImage:
    """What a test can assert against: the digests the registry holds for one tag."""

    path: str
    tag: str
    ref: str  # "<host>/<path>:<tag>"
    kind: str  # image | artifact
    digest: str  # what the tag points at (index or manifest)
    media_type: str
    manifests: list[NativeManifest]  # one, or one per platform of an index
    index: bytes | None = None

    @property
    def name(self) -> str:
        """The path below security-products/ (catalog name) or the whole path."""
        return self.path.removeprefix(f"{SOURCE_PATH}/")

    def manifest_for(self, platform: str) -> NativeManifest:
        for manifest in self.manifests:
            if manifest.platform == platform:
                return manifest
        raise KeyError(platform)

    def blobs(self, platforms: list[str] | None = None) -> list[Blob]:
        """Configs and layers of the manifests `platforms` select (all by default)."""
        chosen = [
            m for m in self.manifests if platforms is None or m.platform in (*platforms, None)
        ]
        out: dict[str, Blob] = {}
        for manifest in chosen:
            out.setdefault(manifest.config.digest, manifest.config)
            for layer in manifest.layers:
                out.setdefault(layer.digest, layer)
        return list(out.values())


@dataclass
class NativeUpstream:
    """What the native_upstream fixture returns."""

    registry: RegistryHandle
    images: list[NativeImage] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def prefix(self) -> str:
        return f"{self.registry.host}/{SOURCE_PATH}"

    def image(self, path_or_name: str) -> NativeImage:
        for image in self.images:
            if path_or_name in (image.path, image.name, f"{image.name}:{image.tag}"):
                return image
        raise KeyError(path_or_name)


def _config(spec: NativeImageSpec, platform: str, diff_ids: list[str]) -> bytes:
    os_name, arch = platform.split("/")[:2]
    config = {
        "architecture": arch,
        "os": os_name,
        # arm64 built a day later: an index is as new as its newest platform
        "created": "2024-03-02T10:00:00Z" if arch == "arm64" else "2024-03-01T10:00:00Z",
        "config": {
            "Cmd": ["/analyzer", "run"],
            "Labels": {"org.airgap-tui.native": f"{spec.path}:{spec.tag}"},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {n}"} for n in range(len(diff_ids))],
    }
    return json.dumps(config, sort_keys=True).encode()


def build_image(spec: NativeImageSpec, host: str) -> tuple[NativeImage, list[Blob]]:
    """The image's manifests and blobs, without pushing anything."""
    ref = f"{host}/{spec.path}:{spec.tag}"
    if spec.manifest == "artifact":
        config = Blob(sha256_digest(b"{}"), b"{}", TRIVY_CONFIG)
        layer_raw = layer_tar(spec.layers[0].name, spec.layers[0].size)
        layer_data = compress(layer_raw, "gzip")
        layer = Blob(sha256_digest(layer_data), layer_data, TRIVY_JAVADB_LAYER)
        body = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config.descriptor(),
                "layers": [
                    {
                        **layer.descriptor(),
                        "annotations": {"org.opencontainers.image.title": "javadb.tar.gz"},
                    }
                ],
                "annotations": {"org.opencontainers.image.created": "2024-03-01T10:00:00Z"},
            }
        )
        manifest = NativeManifest(sha256_digest(body), OCI_MANIFEST, body, config, [layer], None)
        image = NativeImage(
            spec.path, spec.tag, ref, "artifact", manifest.digest, OCI_MANIFEST, [manifest]
        )
        return image, [config, layer]
    oci = spec.manifest != "docker"
    manifests: list[NativeManifest] = []
    blobs: list[Blob] = []
    for platform in spec.platforms:
        layers: list[Blob] = []
        diff_ids: list[str] = []
        for layer_spec in spec.layers:
            # another platform's own layers differ; the shared base stays shared
            own = (
                layer_spec
                if platform == "linux/amd64" or layer_spec is _BASE
                else LayerSpec(
                    f"{layer_spec.name}-{platform.replace('/', '-')}",
                    layer_spec.size,
                    layer_spec.compression,
                )
            )
            blob, diff_id = make_layer(own, oci)
            layers.append(blob)
            diff_ids.append(diff_id)
        config_bytes = _config(spec, platform, diff_ids)
        config = Blob(
            sha256_digest(config_bytes), config_bytes, OCI_CONFIG if oci else DOCKER_CONFIG
        )
        media = OCI_MANIFEST if oci else DOCKER_MANIFEST
        body = canonical(
            {
                "schemaVersion": 2,
                "mediaType": media,
                "config": config.descriptor(),
                "layers": [layer.descriptor() for layer in layers],
            }
        )
        manifests.append(NativeManifest(sha256_digest(body), media, body, config, layers, platform))
        blobs.extend([config, *layers])
    if spec.manifest == "index":
        index = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": m.media_type,
                        "digest": m.digest,
                        "size": len(m.data),
                        "platform": {
                            "os": (m.platform or "").split("/")[0],
                            "architecture": (m.platform or "").split("/")[1],
                        },
                    }
                    for m in manifests
                ],
            }
        )
        image = NativeImage(
            spec.path, spec.tag, ref, "image", sha256_digest(index), OCI_INDEX, manifests, index
        )
    else:
        only = manifests[0]
        image = NativeImage(
            spec.path, spec.tag, ref, "image", only.digest, only.media_type, manifests
        )
    return image, blobs


# --------------------------------------------------------------------------- pushing


class RegistryPusher:
    """The registry API calls a build tool makes: blob uploads and manifest PUTs."""

    def __init__(self, registry: RegistryHandle) -> None:
        self.registry = registry
        self.session = requests.Session()
        if registry.credentials:
            self.session.auth = registry.credentials
        self.session.verify = False

    def close(self) -> None:
        self.session.close()

    def has_blob(self, path: str, digest: str) -> bool:
        resp = self.session.head(f"{self.registry.url}/v2/{path}/blobs/{digest}", timeout=30)
        return resp.status_code == 200

    def push_blob(self, path: str, blob: Blob) -> None:
        if self.has_blob(path, blob.digest):
            return
        start = self.session.post(f"{self.registry.url}/v2/{path}/blobs/uploads/", timeout=30)
        start.raise_for_status()
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.registry.url + location
        sep = "&" if "?" in location else "?"
        done = self.session.put(
            f"{location}{sep}digest={blob.digest}",
            data=blob.data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        if done.status_code != 201:
            raise RuntimeError(
                f"blob upload {path} {blob.digest}: HTTP {done.status_code} {done.text}"
            )

    def push_manifest(self, path: str, reference: str, data: bytes, media_type: str) -> str:
        resp = self.session.put(
            f"{self.registry.url}/v2/{path}/manifests/{reference}",
            data=data,
            headers={"Content-Type": media_type},
            timeout=30,
        )
        if resp.status_code != 201:
            raise RuntimeError(f"manifest {path}:{reference}: HTTP {resp.status_code} {resp.text}")
        digest = resp.headers.get("Docker-Content-Digest", "")
        if digest != sha256_digest(data):
            raise RuntimeError(f"manifest {path}:{reference}: registry says {digest}")
        return digest


def push_image(pusher: RegistryPusher, image: NativeImage, blobs: list[Blob]) -> None:
    for blob in blobs:
        pusher.push_blob(image.path, blob)
    for manifest in image.manifests:
        ref = manifest.digest if image.index is not None else image.tag
        pusher.push_manifest(image.path, ref, manifest.data, manifest.media_type)
    if image.index is not None:
        pusher.push_manifest(image.path, image.tag, image.index, OCI_INDEX)


def seed_native(
    registry: RegistryHandle, specs: tuple[NativeImageSpec, ...] = NATIVE_IMAGES
) -> NativeUpstream:
    """Build and push `specs` to `registry` through the API; returns what it holds."""
    pusher = RegistryPusher(registry)
    upstream = NativeUpstream(registry)
    try:
        for spec in specs:
            image, blobs = build_image(spec, registry.host)
            push_image(pusher, image, blobs)
            upstream.images.append(image)
    finally:
        pusher.close()
    return upstream


def distinct_blob_bytes(images: list[NativeImage], platforms: list[str] | None = None) -> int:
    """Registry bytes of the configs and layers the images use, each blob once."""
    seen: dict[str, int] = {}
    for image in images:
        for blob in image.blobs(platforms):
            seen[blob.digest] = blob.size
    return sum(seen.values())
