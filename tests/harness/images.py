"""Fake analyzer images made offline: docker-archive tars that both engines' `docker load` accept.

Layer content is pseudo-random (incompressible) and seeded by the layer's name, so a layer name
always yields the same bytes, the same diff_id, and is shared between images that list it.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import random
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import docker
import docker.errors

from tests.harness.registry import RegistryHandle

CHUNK = 1024 * 1024
EPOCH = 1_700_000_000  # every tar header and config timestamp: builds are byte-reproducible
CREATED = "2023-11-14T22:13:20Z"
SOURCE_PATH = "security-products"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


@dataclass(frozen=True)
class FakeLayer:
    name: str
    size: int  # bytes of file content in the layer (the tar adds headers and padding)


@dataclass(frozen=True)
class FakeImage:
    ref: str  # "semgrep:6" (or any reference; RepoTags gets it verbatim)
    layers: tuple[FakeLayer, ...]
    created: str  # config "created"; engines stamp saved entries with it

    def __init__(self, ref: str, layers: Iterable[FakeLayer], created: str = CREATED) -> None:
        object.__setattr__(self, "ref", ref)
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "created", created)

    @property
    def name(self) -> str:
        """Last path component without the tag: "semgrep"."""
        return self.ref.rsplit("/", 1)[-1].split(":", 1)[0]

    @property
    def tag(self) -> str:
        last = self.ref.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else "latest"


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    image_id: str  # "sha256:<hex of config json>", what the engine reports after load
    diff_ids: tuple[str, ...]
    content_size: int  # sum of layer file sizes


@dataclass(frozen=True)
class SeededImage:
    name: str  # "semgrep"
    tag: str  # "6"
    ref: str  # "<registry_host>/security-products/semgrep:6"
    digest: str  # manifest digest the registry holds ("sha256:...")
    image_id: str


class SeededUpstream(NamedTuple):
    """What the seeded_upstream fixture returns."""

    prefix: str  # "127.0.0.1:PORT/security-products"
    images: list[SeededImage]  # semgrep:6, secrets:7, gemnasium:6 with their manifest digests
    registry: RegistryHandle


# Three analyzers sharing a base (and two sharing a runtime), 2-4 MiB each, 3-4 layers each, with
# distinct creation times (as real analyzers have: it shows up in `docker save` mtimes).
_BASE = FakeLayer("base-os", 1536 * 1024)
_PY = FakeLayer("python-runtime", 768 * 1024)
STANDARD_IMAGES: tuple[FakeImage, ...] = (
    FakeImage(
        "semgrep:6",
        [_BASE, _PY, FakeLayer("semgrep-bin", 1024 * 1024), FakeLayer("semgrep-rules", 200_000)],
        created="2024-03-01T10:00:00Z",
    ),
    FakeImage(
        "secrets:7",
        [_BASE, FakeLayer("gitleaks-bin", 700_000), FakeLayer("secrets-cfg", 4096)],
        created="2024-02-01T10:00:00Z",
    ),
    FakeImage(
        "gemnasium:6",
        [_BASE, _PY, FakeLayer("gemnasium-bin", 900_000)],
        created="2024-01-01T10:00:00Z",
    ),
)


def layer_bytes(layer: FakeLayer) -> Iterable[bytes]:
    """The layer's file content, chunked: deterministic for a name, incompressible."""
    rng = random.Random(f"airgap-tui-layer:{layer.name}")
    left = layer.size
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _info(name: str, *, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "layer"


class _HashingWriter(io.RawIOBase):
    def __init__(self, raw: io.BufferedWriter) -> None:
        self._raw = raw
        self._pos = 0
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def write(self, b: Any) -> int:
        self.sha.update(b)
        self._pos += len(b)
        return self._raw.write(b)


def write_layer_tar(layer: FakeLayer, dest: Path) -> str:
    """Write the layer's filesystem tar to `dest`; returns its diff_id ("sha256:...")."""
    with open(dest, "wb") as raw:
        sink = _HashingWriter(raw)
        with tarfile.open(fileobj=sink, mode="w", format=tarfile.GNU_FORMAT) as tar:
            tar.addfile(_info("opt/", directory=True))
            tar.addfile(_info(f"opt/{_safe(layer.name)}/", directory=True))
            tar.addfile(
                _info(f"opt/{_safe(layer.name)}/data.bin", size=layer.size),
                _ChunkReader(layer_bytes(layer)),
            )
        return f"sha256:{sink.sha.hexdigest()}"


def image_config(image: FakeImage, diff_ids: list[str]) -> bytes:
    config = {
        "architecture": _ARCH,
        "os": "linux",
        "created": image.created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/analyzer", "run"],
            "Labels": {"org.airgap-tui.fake-image": f"{image.name}:{image.tag}"},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {
                "created": image.created,
                "created_by": f"fake layer {layer.name} ({layer.size} bytes)",
            }
            for layer in image.layers
        ],
    }
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def build_image_archive(
    path: Path, images: Iterable[FakeImage], *, layer_cache: Path | None = None
) -> list[BuiltImage]:
    """Write a legacy docker-archive (manifest.json, <id>.json configs, <diffid>/layer.tar).

    Each distinct layer is stored once. layer_cache keeps built layer tars between calls
    (keyed by name and size); without it they live in a temporary directory.
    """
    images = list(images)
    with tempfile.TemporaryDirectory(prefix="fake-layers-") as tmp:
        cache = layer_cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        layer_files: dict[FakeLayer, tuple[str, Path]] = {}
        for image in images:
            for layer in image.layers:
                if layer in layer_files:
                    continue
                stem = f"{_safe(layer.name)}-{layer.size}"
                tar_path, id_path = cache / f"{stem}.tar", cache / f"{stem}.diffid"
                if not (tar_path.exists() and id_path.exists()):
                    part = cache / f"{stem}.tar.part"
                    id_path.write_text(write_layer_tar(layer, part))
                    part.replace(tar_path)
                layer_files[layer] = (id_path.read_text().strip(), tar_path)

        built: list[BuiltImage] = []
        manifest: list[dict[str, Any]] = []
        written: set[str] = set()
        with tarfile.open(path, mode="w", format=tarfile.GNU_FORMAT) as out:
            for image in images:
                diff_ids = [layer_files[layer][0] for layer in image.layers]
                config = image_config(image, diff_ids)
                config_hex = hashlib.sha256(config).hexdigest()
                layer_names = []
                for layer in image.layers:
                    diff_id, tar_path = layer_files[layer]
                    member = f"{diff_id.removeprefix('sha256:')}/layer.tar"
                    layer_names.append(member)
                    if member in written:
                        continue
                    written.add(member)
                    out.addfile(_info(member.split("/")[0] + "/", directory=True))
                    with open(tar_path, "rb") as fh:
                        out.addfile(_info(member, size=tar_path.stat().st_size), fh)
                if f"{config_hex}.json" not in written:
                    written.add(f"{config_hex}.json")
                    out.addfile(_info(f"{config_hex}.json", size=len(config)), io.BytesIO(config))
                manifest.append(
                    {"Config": f"{config_hex}.json", "RepoTags": [image.ref], "Layers": layer_names}
                )
                built.append(
                    BuiltImage(
                        ref=image.ref,
                        image_id=f"sha256:{config_hex}",
                        diff_ids=tuple(diff_ids),
                        content_size=sum(layer.size for layer in image.layers),
                    )
                )
            data = json.dumps(manifest, separators=(",", ":")).encode()
            out.addfile(_info("manifest.json", size=len(data)), io.BytesIO(data))
    return built


def _check_stream(events: Iterable[dict[str, Any]], doing: str) -> dict[str, Any]:
    """Raise on an errorDetail line (the SDK reports push failures only in the stream)."""
    aux: dict[str, Any] = {}
    for event in events:
        if "error" in event or "errorDetail" in event:
            raise RuntimeError(f"{doing}: {event.get('error') or event.get('errorDetail')}")
        if isinstance(event.get("aux"), dict):
            aux.update(event["aux"])
    return aux


def load_archive(client: docker.DockerClient, archive: Path) -> None:
    """`docker load` streaming the file; raises on an error line."""
    with open(archive, "rb") as fh:
        _check_stream(client.api.load_image(fh), f"docker load {archive}")


def seed_registry(
    client: docker.DockerClient,
    registry_host: str,
    images: Iterable[FakeImage] = STANDARD_IMAGES,
    *,
    workdir: Path | None = None,
    path: str = SOURCE_PATH,
) -> list[SeededImage]:
    """Load the images into the engine, push each to `<registry_host>/<path>/<name>:<tag>`, then
    remove them from the engine so later pulls really go to the registry."""
    images = list(images)
    with tempfile.TemporaryDirectory(prefix="seed-", dir=workdir) as tmp:
        archive = Path(tmp) / "images.tar"
        built = build_image_archive(archive, images)
        load_archive(client, archive)
    seeded: list[SeededImage] = []
    for image, info in zip(images, built, strict=True):
        repository = f"{registry_host}/{path}/{image.name}"
        client.api.tag(info.image_id, repository, image.tag)
        aux = _check_stream(
            client.api.push(repository, image.tag, stream=True, decode=True),
            f"docker push {repository}:{image.tag}",
        )
        seeded.append(
            SeededImage(
                name=image.name,
                tag=image.tag,
                ref=f"{repository}:{image.tag}",
                digest=str(aux.get("Digest", "")),
                image_id=info.image_id,
            )
        )
    for info in built:
        try:
            client.images.remove(info.image_id, force=True)
        except docker.errors.NotFound:
            pass
    return seeded
