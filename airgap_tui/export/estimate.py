"""Sizes before anything is downloaded: what the download costs and what the bundle will take.

Only small registry requests: each image's manifests and configs. The bundle holds the
registry's blobs byte for byte, so its size is exact: the distinct blob sizes the descriptors
give, plus the tar headers and metadata files planned by bundle_layout (estimate == the sum of
the parts). A missing image or tag is reported by name with the tags that do exist; the others
go on. The result keeps what was resolved, so an export right after needs no second look-up.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airgap_tui.bundle.layout import Layout, ResolvedImage, plan_layout
from airgap_tui.errors import AirgapError, Cancelled, NotFoundError, TLSError
from airgap_tui.events import (
    STAGE_ESTIMATE,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from airgap_tui.export.resolve import resolve_image
from airgap_tui.models import DEFAULT_PLATFORM, ImageSpec
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.diagnose import RegistryUnreachable
from airgap_tui.registry.oci import parse_platform

ClientFactory = Callable[[str], RegistryClient]

RESOLVE_WORKERS = 6
BUNDLE_FORMAT = "oci-layout+docker-archive"


@dataclass(frozen=True)
class LayerEstimate:
    digest: str  # the blob, carried as the registry serves it
    compressed: int  # its size in the registry and on the media
    shared: bool  # also used by another image in this selection (carried once)
    media_type: str = ""


@dataclass
class ImageEstimate:
    spec: ImageSpec
    manifest_digest: str | None = None  # the top manifest carried (platform manifest or index)
    download_bytes: int = 0  # this image's blobs (configs + layers)
    media_bytes: int = 0  # what it alone adds to the media: its blobs and manifests
    layers: list[LayerEstimate] = field(default_factory=list)
    error: str | None = None
    available_tags: list[str] = field(default_factory=list)
    # The error itself, so a caller can tell a missing image from a login or TLS problem.
    failure: AirgapError | None = field(default=None, repr=False, compare=False)
    config_digest: str | None = None  # = the image ID the engine reports after a load
    index_digest: str | None = None  # the index, when it is carried
    platform: str | None = None
    kind: str = "image"
    built: str | None = None  # when the image was built (catalog.age.BUILT_FORMAT); None: unknown

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
            "kind": self.kind,
            "manifest_digest": self.manifest_digest,
            "index_digest": self.index_digest,
            "image_id": self.config_digest,
            "platform": self.platform,
            "built": self.built,
            "download_bytes": self.download_bytes,
            "media_bytes": self.media_bytes,
            "layers": [
                {
                    "digest": layer.digest,
                    "size": layer.compressed,
                    "media_type": layer.media_type,
                    "shared": layer.shared,
                }
                for layer in self.layers
            ],
        }


@dataclass
class Estimate:
    images: list[ImageEstimate]
    download_bytes: int  # distinct blobs (configs + layers) to download
    bundle_bytes: int  # exact bytes of the bundle's tar (= all parts)
    problems: list[str]
    platforms: list[str] = field(default_factory=lambda: [DEFAULT_PLATFORM])
    resolved: list[ResolvedImage] = field(default_factory=list, repr=False)
    layout: Layout | None = field(default=None, repr=False)
    # The carried airgap-tui.pyz: its size estimated from the installed files (within a few
    # per cent; building it to know it exactly takes seconds). 0 when it is not carried.
    tool_bytes: int = 0
    tool_problem: str | None = None  # why it cannot be built here (the export says it too)

    @property
    def ok(self) -> bool:
        return all(image.ok for image in self.images)

    @property
    def platform(self) -> str:
        return self.platforms[0]

    @property
    def sized(self) -> bool:
        """At least one image resolved: the totals describe a bundle that can be made."""
        return any(image.ok for image in self.images)

    @property
    def left_out(self) -> list[ImageEstimate]:
        """The images the totals do not count (missing, unreachable, refused)."""
        return [image for image in self.images if not image.ok]

    exact = True  # bundle_bytes: the bundle holds the registry's blobs byte for byte

    @property
    def total_bytes(self) -> int:
        """What the media must hold: the parts (exact) and the carried tool (estimated)."""
        return self.bundle_bytes + self.tool_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "download_bytes": self.download_bytes,
            "bundle_bytes": self.bundle_bytes,
            "bundle_format": BUNDLE_FORMAT,
            "platforms": list(self.platforms),
            "exact": self.exact,
            "tool_bytes": self.tool_bytes,
            "tool_exact": False,
            "tool_problem": self.tool_problem,
            "total_bytes": self.total_bytes,
            "problems": list(self.problems),
            "left_out": [image.spec.label for image in self.left_out],
            "images": [image.to_dict() for image in self.images],
        }


def default_client_factory(cancel: CancelToken | None = None) -> ClientFactory:
    """Plain clients: credentials from ~/.docker/config.json, CAs from /etc/docker/certs.d."""

    def make(host: str) -> RegistryClient:
        return RegistryClient(host, cancel=cancel)

    return make


def estimate(
    specs: list[ImageSpec],
    *,
    platforms: list[str] | None = None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    client_factory: ClientFactory | None = None,
    workers: int = RESOLVE_WORKERS,
    tool: bool = True,
) -> Estimate:
    """Resolve `specs` for `platforms` (several: the index is carried) and size the bundle
    (and the carried tool, unless `tool` is false).

    Progress events (stage "estimate") come from the calling thread only: one when an image
    starts and a final one per image with ok and the error if any."""
    platforms = list(platforms or [DEFAULT_PLATFORM])
    for platform in platforms:
        parse_platform(platform)  # a bad platform is a usage error before any request
    factory = client_factory or default_client_factory(cancel)
    results = [ImageEstimate(spec) for spec in specs]
    warnings: list[str] = []
    outcomes = _resolve_all(results, factory, platforms, warnings, progress, workers)
    if cancel is not None:
        cancel.check("Estimating image sizes")
    problems, resolved = _record_failures(results, outcomes, progress)
    good = [resolved[i] for i in sorted(resolved)]
    layout = plan_layout(good) if good else None
    _fill(results, resolved, layout)
    _report_sized(results, progress)
    download = _download_bytes(good, layout)
    tool_bytes, tool_problem = estimate_tool() if tool else (0, None)
    return Estimate(
        images=results,
        download_bytes=download,
        bundle_bytes=layout.total if layout is not None else 0,
        problems=problems + warnings + ([tool_problem] if tool_problem else []),
        platforms=platforms,
        resolved=good,
        layout=layout,
        tool_bytes=tool_bytes,
        tool_problem=tool_problem,
    )


def _resolve_all(
    results: list[ImageEstimate],
    factory: ClientFactory,
    platforms: list[str],
    warnings: list[str],
    progress: ProgressCallback,
    workers: int,
) -> list[ResolvedImage | AirgapError | None]:
    """Each image resolved on a thread pool, or the error that stopped it; one client per
    registry, closed after."""
    clients: dict[str, RegistryClient] = {}
    dead: dict[str, AirgapError] = {}  # hosts that cannot answer: fail their images at once
    for result in results:
        host = result.spec.source.api_host
        if host not in clients:
            clients[host] = factory(host)

    def one(index: int) -> ResolvedImage | AirgapError:
        spec = results[index].spec
        return _resolve_one(clients, dead, spec, platforms, warnings)

    try:
        for result in results:
            progress(
                Progress(
                    STAGE_ESTIMATE, result.spec.label, 0, None, f"reading {result.spec.source}"
                )
            )
        # One image per registry first: a registry that cannot answer fails its images once.
        first: dict[str, int] = {}
        for index, result in enumerate(results):
            first.setdefault(result.spec.source.api_host, index)
        later = [i for i in range(len(results)) if i not in first.values()]
        outcomes: list[ResolvedImage | AirgapError | None] = [None] * len(results)
        with ThreadPoolExecutor(max(1, min(workers, len(results))), "estimate") as pool:
            for batch in (list(first.values()), later):
                for index, got in zip(batch, pool.map(one, batch), strict=True):
                    outcomes[index] = got
    finally:
        for client in clients.values():
            client.close()
    return outcomes


def _resolve_one(
    clients: dict[str, RegistryClient],
    dead: dict[str, AirgapError],
    spec: ImageSpec,
    platforms: list[str],
    warnings: list[str],
) -> ResolvedImage | AirgapError:
    """One image resolved, or its error; a registry that cannot be reached (or fails TLS) is
    marked `dead`, so its other images fail with the same error without asking again."""
    if spec.source.api_host in dead:
        return dead[spec.source.api_host]
    try:
        return resolve_image(clients[spec.source.api_host], spec, platforms, warnings)
    except Cancelled:
        raise
    except AirgapError as exc:
        if isinstance(exc, (RegistryUnreachable, TLSError)):
            dead[spec.source.api_host] = exc
        return exc


def _record_failures(
    results: list[ImageEstimate],
    outcomes: list[ResolvedImage | AirgapError | None],
    progress: ProgressCallback,
) -> tuple[list[str], dict[int, ResolvedImage]]:
    """Each failed image's error set on its result (and reported); the problems, and the
    images resolved by their index in `results`."""
    problems: list[str] = []
    resolved: dict[int, ResolvedImage] = {}
    for index, (result, outcome) in enumerate(zip(results, outcomes, strict=True)):
        assert outcome is not None
        if isinstance(outcome, AirgapError):
            result.error = outcome.sentence()
            result.failure = outcome
            if isinstance(outcome, NotFoundError):
                result.available_tags = list(outcome.available)
            problems.append(result.error)
            progress(
                Progress(STAGE_ESTIMATE, result.spec.label, 0, None, result.error, True, False)
            )
        else:
            resolved[index] = outcome
    return problems, resolved


def _report_sized(results: list[ImageEstimate], progress: ProgressCallback) -> None:
    """The final progress event of each image that was sized."""
    for result in results:
        if result.ok:
            progress(
                Progress(
                    STAGE_ESTIMATE,
                    result.spec.label,
                    len(result.layers),
                    len(result.layers),
                    f"{result.download_bytes} bytes to download",
                    final=True,
                    ok=True,
                )
            )


def _download_bytes(good: list[ResolvedImage], layout: Layout | None) -> int:
    """The distinct blobs (configs and layers) the resolved images need from the registry."""
    if layout is None:
        return 0
    wanted = {digest for image in good for digest in image.blob_digests()}
    return sum(blob.size for blob in layout.blobs if blob.digest in wanted)


def estimate_tool() -> tuple[int, str | None]:
    """The carried tool's estimated size, or 0 and why it cannot be built here."""
    from airgap_tui.toolpack.members import ToolError
    from airgap_tui.toolpack.toolpack import check_buildable, tool_size

    try:
        return tool_size(members=check_buildable()), None
    except ToolError as exc:
        return 0, exc.sentence()


def _fill(
    results: list[ImageEstimate], resolved: dict[int, ResolvedImage], layout: Layout | None
) -> None:
    users: dict[str, set[str]] = {}
    for image in resolved.values():
        for digest in image.blob_digests():
            users.setdefault(digest, set()).add(image.top.digest)
    sizes = {blob.digest: blob.size for blob in layout.blobs} if layout is not None else {}
    for index, image in resolved.items():
        result = results[index]
        result.kind = image.kind
        result.manifest_digest = image.top.digest
        result.index_digest = image.index[0].digest if image.index is not None else None
        result.config_digest = image.manifests[0].config.digest
        result.platform = image.platform
        result.built = image.built
        layers: dict[str, LayerEstimate] = {}
        for manifest in image.manifests:
            for layer in manifest.layers:
                layers.setdefault(
                    layer.digest,
                    LayerEstimate(
                        layer.digest,
                        layer.size,
                        len(users.get(layer.digest, ())) > 1,
                        layer.media_type,
                    ),
                )
        result.layers = list(layers.values())
        result.download_bytes = sum(sizes.get(d, 0) for d in image.blob_digests())
        manifests = sum(m.descriptor.size for m in image.manifests)
        if image.index is not None:
            manifests += image.index[0].size
        result.media_bytes = result.download_bytes + manifests
