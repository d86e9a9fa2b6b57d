"""Sizes before anything is pulled: what the download costs and what the bundle will take.

Only tiny registry requests: a manifest and a config per image, and the last four bytes of
each gzip layer (its ISIZE trailer, the uncompressed size mod 2^32) through a Range request.
The bundle size comes from `archive_size`, which models the engine's export byte for byte.
A missing image or tag is reported by name with the tags that do exist; the others go on.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from airgap_tui.archive_size import ArchiveFormat, ImageLayout, LayerSize, archive_size
from airgap_tui.errors import (
    AirgapError,
    Cancelled,
    NotFoundError,
    RegistryError,
    TLSError,
    UsageError,
)
from airgap_tui.events import (
    STAGE_ESTIMATE,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from airgap_tui.models import DEFAULT_PLATFORM, ImageSpec
from airgap_tui.registry import Layer, RegistryClient, RegistryUnreachable, parse_platform

ClientFactory = Callable[[str], RegistryClient]
SaveName = Callable[[ImageSpec], str]

ISIZE_WRAP = 1 << 32
TAIL_WORKERS = 8
ESTARGZ_SIZE = "io.containers.estargz.uncompressed-size"
_ZSTD_MAGIC = 0xFD2FB528


@dataclass(frozen=True)
class LayerEstimate:
    digest: str  # the compressed blob, as downloaded
    compressed: int
    uncompressed: int  # the tar the engine stores and exports
    shared: bool  # also part of another image in this selection (stored once)
    diff_id: str = ""
    media_type: str = ""
    exact: bool = True  # False: the uncompressed size could only be bounded


@dataclass
class ImageEstimate:
    spec: ImageSpec
    manifest_digest: str | None = None
    download_bytes: int = 0
    unpacked_bytes: int = 0
    layers: list[LayerEstimate] = field(default_factory=list)
    error: str | None = None
    available_tags: list[str] = field(default_factory=list)
    # The error itself, so a caller can tell a missing image from a login or TLS problem.
    failure: AirgapError | None = field(default=None, repr=False, compare=False)
    config_digest: str | None = None  # = the image ID the engine will report
    config_size: int = 0
    index_digest: str | None = None  # the tag's digest when it points at an index
    platform: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        """ok, missing (the registry answered: no such image or tag), unreachable (no answer
        at all: the tag may well exist), or failed (login, TLS, a broken manifest)."""
        if self.error is None:
            return "ok"
        if isinstance(self.failure, RegistryUnreachable):
            return "unreachable"
        if isinstance(self.failure, NotFoundError):
            return "missing"
        return "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "tag": self.spec.tag,
            "source": str(self.spec.source),
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "available_tags": list(self.available_tags),
            "manifest_digest": self.manifest_digest,
            "index_digest": self.index_digest,
            "image_id": self.config_digest,
            "download_bytes": self.download_bytes,
            "unpacked_bytes": self.unpacked_bytes,
            "layers": [
                {
                    "digest": layer.digest,
                    "diff_id": layer.diff_id,
                    "compressed": layer.compressed,
                    "uncompressed": layer.uncompressed,
                    "shared": layer.shared,
                    "exact": layer.exact,
                }
                for layer in self.layers
            ],
        }


@dataclass
class Estimate:
    images: list[ImageEstimate]
    download_bytes: int  # unique compressed layers + configs
    bundle_bytes: int  # predicted bytes of the engine's export archive (= all parts)
    problems: list[str]
    archive_format: ArchiveFormat = "docker-archive"
    platform: str = DEFAULT_PLATFORM

    @property
    def ok(self) -> bool:
        return all(image.ok for image in self.images)

    @property
    def exact(self) -> bool:
        return all(layer.exact for image in self.images for layer in image.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "download_bytes": self.download_bytes,
            "bundle_bytes": self.bundle_bytes,
            "archive_format": self.archive_format,
            "platform": self.platform,
            "exact": self.exact,
            "problems": list(self.problems),
            "images": [image.to_dict() for image in self.images],
        }


def default_save_name(spec: ImageSpec) -> str:
    """The name the export hands to the engine's save: the pulled source reference."""
    src = spec.source
    return f"{src.registry}/{src.repository}:{src.tag}"


def default_client_factory(cancel: CancelToken | None = None) -> ClientFactory:
    """Plain clients: credentials from ~/.docker/config.json, CAs from /etc/docker/certs.d."""

    def make(host: str) -> RegistryClient:
        return RegistryClient(host, cancel=cancel)

    return make


# ---------------------------------------------------------------------------------------------
# Uncompressed sizes from a few bytes


def size_from_isize(isize: int, compressed: int) -> tuple[int, bool]:
    """The uncompressed size from gzip's ISIZE (mod 2^32), using the compressed size to undo
    the wrap: deflate never shrinks data by less than ~0.1 %, so the true size is the smallest
    candidate not below that. Past 4 GiB a very compressible layer stays ambiguous → not exact."""
    lower = max(0, (compressed - 64) * 1000 // 1001)
    size = isize
    while size < lower:
        size += ISIZE_WRAP
    return size, size < ISIZE_WRAP


def zstd_content_size(header: bytes) -> int | None:
    """Frame_Content_Size from a zstd frame header (RFC 8878 §3.1.1.1), None when absent."""
    if len(header) < 5 or struct.unpack_from("<I", header)[0] != _ZSTD_MAGIC:
        return None
    descriptor = header[4]
    fcs_flag = descriptor >> 6
    single_segment = (descriptor >> 5) & 1
    did_size = (0, 1, 2, 4)[descriptor & 3]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if fcs_size == 0:
        return None
    start = 5 + (0 if single_segment else 1) + did_size
    field_bytes = header[start : start + fcs_size]
    if len(field_bytes) != fcs_size:
        return None
    value = int.from_bytes(field_bytes, "little")
    return value + 256 if fcs_size == 2 else value


def _is_plain_tar(media_type: str) -> bool:
    return media_type.endswith((".tar", "layer.v1.tar", "diff.tar"))


def _is_zstd(media_type: str) -> bool:
    return media_type.endswith(("+zstd", ".zstd"))


def uncompressed_size(client: RegistryClient, repository: str, layer: Layer) -> tuple[int, bool]:
    """(bytes, exact) of a layer's uncompressed tar, from at most a few bytes of the blob."""
    annotated = layer.annotations.get(ESTARGZ_SIZE, "")
    if annotated.isdigit():
        return int(annotated), True
    if _is_plain_tar(layer.media_type):
        return layer.size, True
    if _is_zstd(layer.media_type):
        size = zstd_content_size(client.blob_head(repository, layer.digest, 18))
        if size is None:
            # No size in the frame header: a rough guess, reported as such.
            return layer.size * 3, False
        return size, False  # a later frame may follow; the first frame's size is a lower bound
    tail = client.blob_tail(repository, layer.digest, 4, size=layer.size)
    return size_from_isize(struct.unpack("<I", tail)[0], layer.size)


# ---------------------------------------------------------------------------------------------
# The estimate


@dataclass
class _Pending:
    """An image whose manifest and config are known; its layers are being sized."""

    estimate: ImageEstimate
    client: RegistryClient
    layers: list[Layer]
    diff_ids: list[str]
    config: dict[str, Any]
    done: int = 0


def estimate(
    specs: list[ImageSpec],
    *,
    platform: str = DEFAULT_PLATFORM,
    archive_format: ArchiveFormat = "docker-archive",
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    client_factory: ClientFactory | None = None,
    save_name: SaveName = default_save_name,
    workers: int = TAIL_WORKERS,
) -> Estimate:
    """Size `specs` for `platform` and an engine writing `archive_format` archives.

    Progress events (stage "estimate") come from the calling thread only: per image, `done`
    of `total` layers sized; a final event per image with ok and the error if any."""
    parse_platform(platform)  # a bad platform is a usage error before any request
    if archive_format not in ("docker-archive", "oci"):
        raise UsageError(
            "Archive format", f"{archive_format!r} is unknown", "Use docker-archive or oci"
        )
    factory = client_factory or default_client_factory(cancel)
    clients: dict[str, RegistryClient] = {}
    dead: dict[str, AirgapError] = {}  # hosts that cannot answer: fail their images at once
    results = [ImageEstimate(spec) for spec in specs]
    problems: list[str] = []
    pending: list[_Pending] = []
    try:
        for result in results:
            if cancel is not None:
                cancel.check("Estimating image sizes")
            item = _resolve(result, platform, factory, clients, dead, progress, problems)
            if item is not None:
                pending.append(item)
        _size_layers(pending, progress, cancel, workers)
    finally:
        for client in clients.values():
            client.close()
    return _summarise(results, pending, problems, archive_format, platform, save_name, progress)


def _client(
    host: str, factory: ClientFactory, clients: dict[str, RegistryClient]
) -> RegistryClient:
    if host not in clients:
        clients[host] = factory(host)
    return clients[host]


def _resolve(
    result: ImageEstimate,
    platform: str,
    factory: ClientFactory,
    clients: dict[str, RegistryClient],
    dead: dict[str, AirgapError],
    progress: ProgressCallback,
    problems: list[str],
) -> _Pending | None:
    spec = result.spec
    src = spec.source
    progress(Progress(STAGE_ESTIMATE, spec.label, 0, None, f"reading {src}"))
    if src.api_host in dead:
        _fail(result, dead[src.api_host], problems, progress)
        return None
    try:
        client = _client(src.api_host, factory, clients)
        manifest = client.manifest(src.repository, src.digest or src.tag, platform)
        config = client.config(src.repository, manifest.config_digest)
        diff_ids = _diff_ids(config, len(manifest.layers), f"Image {src}")
    except NotFoundError as exc:
        _fail(result, exc, problems, progress)
        result.available_tags = list(exc.available)
        return None
    except Cancelled:
        raise
    except AirgapError as exc:
        if isinstance(exc, (RegistryUnreachable, TLSError)):
            dead[src.api_host] = exc
        _fail(result, exc, problems, progress)
        return None
    result.manifest_digest = manifest.digest
    result.index_digest = manifest.index_digest
    result.config_digest = manifest.config_digest
    result.config_size = manifest.config_size
    result.platform = manifest.platform or _config_platform(config)
    if manifest.index_digest is None:
        have = _config_platform(config)
        if have and parse_platform(have) != parse_platform(platform):
            problems.append(f"Image {src} is built for {have}, not {platform}.")
    total = len(manifest.layers)
    progress(Progress(STAGE_ESTIMATE, spec.label, 0, total, "sizing layers"))
    return _Pending(result, client, list(manifest.layers), diff_ids, config)


def _diff_ids(config: dict[str, Any], count: int, what: str) -> list[str]:
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise RegistryError(what, "its config has no rootfs.diff_ids")
    if len(ids) != count:
        raise RegistryError(
            what, f"its manifest lists {count} layers but its config {len(ids)} diff IDs"
        )
    return [str(i) for i in ids]


def _config_platform(config: dict[str, Any]) -> str | None:
    os_name, arch = config.get("os"), config.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    variant = config.get("variant")
    return (
        f"{os_name}/{arch}/{variant}"
        if isinstance(variant, str) and variant
        else f"{os_name}/{arch}"
    )


def _fail(
    result: ImageEstimate, exc: AirgapError, problems: list[str], progress: ProgressCallback
) -> None:
    result.error = exc.sentence()
    result.failure = exc
    problems.append(result.error)
    progress(
        Progress(STAGE_ESTIMATE, result.spec.label, 0, None, result.error, final=True, ok=False)
    )


def _size_layers(
    pending: list[_Pending],
    progress: ProgressCallback,
    cancel: CancelToken | None,
    workers: int,
) -> None:
    """Read each distinct compressed layer's size once, a few in parallel."""
    sizes: dict[str, tuple[int, bool]] = {}
    failures: dict[str, AirgapError] = {}
    owners: dict[str, list[_Pending]] = {}
    for item in pending:
        for layer in item.layers:
            owners.setdefault(layer.digest, [])
            if item not in owners[layer.digest]:
                owners[layer.digest].append(item)
    jobs: dict[str, tuple[RegistryClient, str, Layer]] = {}
    for item in pending:
        for layer in item.layers:
            jobs.setdefault(
                layer.digest, (item.client, item.estimate.spec.source.repository, layer)
            )
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="estimate") as pool:
        futures: dict[Future[tuple[int, bool]], str] = {
            pool.submit(uncompressed_size, *job): digest for digest, job in jobs.items()
        }
        remaining = set(futures)
        try:
            while remaining:
                done, remaining = wait(remaining, timeout=0.2, return_when=FIRST_COMPLETED)
                if cancel is not None and cancel.cancelled:
                    break
                for future in done:
                    digest = futures[future]
                    try:
                        sizes[digest] = future.result()
                    except Cancelled:
                        raise
                    except AirgapError as exc:
                        failures[digest] = exc
                    for item in owners[digest]:
                        item.done += sum(1 for layer in item.layers if layer.digest == digest)
                        label = item.estimate.spec.label
                        progress(Progress(STAGE_ESTIMATE, label, item.done, len(item.layers)))
        finally:
            if remaining:
                for future in remaining:
                    future.cancel()
    if cancel is not None:
        cancel.check("Estimating image sizes")
    for item in pending:
        for layer, diff_id in zip(item.layers, item.diff_ids, strict=True):
            if layer.digest in failures:
                failure = failures[layer.digest]
                item.estimate.error = item.estimate.error or failure.sentence()
                continue
            size, exact = sizes[layer.digest]
            item.estimate.layers.append(
                LayerEstimate(
                    digest=layer.digest,
                    compressed=layer.size,
                    uncompressed=size,
                    shared=False,
                    diff_id=diff_id,
                    media_type=layer.media_type,
                    exact=exact,
                )
            )


def _summarise(
    results: list[ImageEstimate],
    pending: list[_Pending],
    problems: list[str],
    archive_format: ArchiveFormat,
    platform: str,
    save_name: SaveName,
    progress: ProgressCallback,
) -> Estimate:
    by_result = {id(item.estimate): item for item in pending}
    good = [r for r in results if r.ok and id(r) in by_result]
    # A layer is shared when two different images (by ID) in the selection use it.
    users: dict[str, set[str]] = {}
    for r in good:
        for layer in r.layers:
            users.setdefault(layer.diff_id, set()).add(r.config_digest or "")
    layouts: list[ImageLayout] = []
    blobs: dict[str, int] = {}
    for r in results:
        item = by_result.get(id(r))
        if item is None:
            continue
        if not r.ok:
            assert r.error is not None
            problems.append(r.error)
            progress(Progress(STAGE_ESTIMATE, r.spec.label, 0, None, r.error, final=True, ok=False))
            continue
        r.layers = [
            LayerEstimate(
                digest=layer.digest,
                compressed=layer.compressed,
                uncompressed=layer.uncompressed,
                shared=len(users.get(layer.diff_id, ())) > 1,
                diff_id=layer.diff_id,
                media_type=layer.media_type,
                exact=layer.exact,
            )
            for layer in r.layers
        ]
        own: dict[str, int] = {layer.digest: layer.compressed for layer in r.layers}
        r.download_bytes = sum(own.values()) + r.config_size
        unpacked = {layer.diff_id: layer.uncompressed for layer in r.layers}
        r.unpacked_bytes = sum(unpacked.values())
        blobs.update(own)
        assert r.config_digest is not None
        blobs[r.config_digest] = r.config_size
        inexact = [layer for layer in r.layers if not layer.exact]
        if inexact:
            problems.append(
                f"Image {r.spec.source}: the unpacked size of {len(inexact)} layer(s) could only "
                "be bounded (over 4 GiB, or zstd); the bundle size is approximate."
            )
        layouts.append(
            ImageLayout(
                config_digest=r.config_digest,
                config_size=r.config_size,
                layers=tuple(LayerSize(layer.diff_id, layer.uncompressed) for layer in r.layers),
                repo_tags=(save_name(r.spec),),
                config=item.config,
            )
        )
        progress(
            Progress(
                STAGE_ESTIMATE,
                r.spec.label,
                len(r.layers),
                len(r.layers),
                f"{r.download_bytes} bytes to download",
                final=True,
                ok=True,
            )
        )
    return Estimate(
        images=results,
        download_bytes=sum(blobs.values()),
        bundle_bytes=archive_size(layouts, archive_format),
        problems=problems,
        archive_format=archive_format,
        platform=platform,
    )
