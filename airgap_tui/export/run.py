"""Connected host: resolve in the registry, check the media, stream blobs into parts, manifest.

No engine: the bundle carries the source registry's own blobs byte for byte. Manifests and
configs come first (they give every size, so the tar is planned to the byte before the first
download); then blobs are downloaded side by side and streamed, in tar order, into the part
writer (atomic parts, read back behind the writer, journal). Each blob's sha256 is checked as it
streams. A re-run of the same selection keeps the complete parts already on the media without
downloading what they hold, and resumes a blob cut by the interruption with a Range request.
The carried tool is built (or taken from the user's cache) on a thread started before resolving,
and written into the bundle directory beside the parts (toolpack/builder.py). bundle.yaml is
written last.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.layout import Layout
from airgap_tui.bundle.manifest import BundleManifest, BundlePart, ToolFile
from airgap_tui.bundle.parts import DEFAULT_PART_SIZE, Problem
from airgap_tui.bundle.signature import sign_bytes
from airgap_tui.bundle.writer import PartWriter, finish_bundle
from airgap_tui.catalog.age import DEFAULT_MAX_AGE_DAYS, age_warnings
from airgap_tui.delta.bundle import DeltaLayout
from airgap_tui.delta.delta import Presence
from airgap_tui.delta.tool import HeldTool
from airgap_tui.errors import AirgapError, BundleError, Cancelled, UsageError
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress
from airgap_tui.export.carried_tool import tool_bytes, write_carried_tool
from airgap_tui.export.checks import exclusive, refuse_missing
from airgap_tui.export.delta_plan import delta_for, offline_presence
from airgap_tui.export.estimate import (
    ClientFactory,
    Estimate,
    default_client_factory,
    estimate,
)
from airgap_tui.export.plan import DestinationPlan, plan_destination
from airgap_tui.export.resume import (
    cancelled,
    finished_parts,
    forget_parts_holding,
    kept_prefix,
)
from airgap_tui.export.signing import drop_signature, sign_bundle
from airgap_tui.export.tar_stream import TarStream
from airgap_tui.export.tool_choice import tool_left_out
from airgap_tui.memory import single_heap
from airgap_tui.models import (
    DEFAULT_GITLAB_MAJOR,
    DEFAULT_PLATFORM,
    DEFAULT_SOURCE_PREFIX,
    ImageSpec,
)
from airgap_tui.registry.client import RegistryClient
from airgap_tui.toolpack.builder import ToolBuilder
from airgap_tui.toolpack.child import ChildBuild
from airgap_tui.toolpack.toolpack import check_packable

DOWNLOAD_STREAMS = 4


@dataclass(frozen=True)
class ExportRequest:
    specs: list[ImageSpec]
    dest: Path
    part_size: int = DEFAULT_PART_SIZE
    source_prefix: str = DEFAULT_SOURCE_PREFIX
    gitlab_major: int | None = DEFAULT_GITLAB_MAJOR
    platform: str = DEFAULT_PLATFORM
    # Several platforms: each image's index is carried with those platforms' manifests.
    # Empty: just `platform`.
    platforms: tuple[str, ...] = ()
    # Receipts or inventories of the offline registry: carry only the layers they do not list.
    delta_from: tuple[Path, ...] = ()
    # What a request file carries instead (its embedded inventory), read by the caller.
    presence: Presence | None = None
    tool: bool = True  # write airgap-tui.pyz next to the parts (--no-tool: False)
    # An SSH private key (or a .pub whose key is in ssh-agent): bundle.yaml.sig is written
    # over bundle.yaml with it (OpenSSH SSHSIG, namespace airgap-tui-bundle).
    sign_key: Path | None = None
    max_age: int = DEFAULT_MAX_AGE_DAYS  # warn about images built longer ago (days; 0: off)
    # A delta leaves the tool out when the offline host holds the same; --with-tool: carry it.
    with_tool: bool = False

    @property
    def chosen_platforms(self) -> list[str]:
        return list(self.platforms) if self.platforms else [self.platform]


@dataclass
class ExportResult:
    ok: bool
    bundle_dir: Path
    fingerprint: str
    images: list[str]  # "name:tag"
    bundle_bytes: int
    parts_written: list[str] = field(default_factory=list)
    parts_kept: list[str] = field(default_factory=list)  # resumed: already on the media, verified
    readback_ok: bool = True
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    estimated_bytes: int = 0
    downloaded_bytes: int = 0  # blob bytes fetched from the registry by this run
    # Wall time of each step: "estimate", "checks", "write" (first download to the last part
    # read back), "tool" (after the parts: what is left of the carried tool's build, and
    # writing it) and "total"; for the operator's log and benchmarks/.
    seconds: dict[str, float] = field(default_factory=dict)
    delta: DeltaLayout | None = None  # a delta bundle: what it expects, full vs delta size
    tool: ToolFile | None = None  # the carried airgap-tui.pyz, as bundle.yaml lists it
    signed_by: str | None = None  # SHA256:… of the key that signed bundle.yaml
    tool_cache_hit: bool | None = None  # it came from the user's cache (None: no tool)
    # "name:tag" -> the image's build time (catalog.age.BUILT_FORMAT), None when unknown
    images_built: dict[str, str | None] = field(default_factory=dict)


def export_bundle(
    request: ExportRequest,
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    sizes: Estimate | None = None,
    client_factory: ClientFactory | None = None,
    streams: int = DOWNLOAD_STREAMS,
    tool_child: ChildBuild | None = None,
) -> ExportResult:
    """Write the bundle; `sizes` (the wizard's estimate of the same selection) skips resolving;
    `tool_child`: the carried tool's build started before the CLI loaded (toolpack.early), for
    the builder to adopt (its caller closes it whatever happens here)."""
    single_heap()  # before the download threads: peak memory stays flat with the bundle's size
    cancel = cancel or CancelToken()
    clock = _Stopwatch()
    if not request.specs:
        raise UsageError("Export", "no images were chosen", "Name at least one analyzer")
    dest = request.dest.expanduser().absolute()
    platforms = request.chosen_platforms
    factory = client_factory or default_client_factory(cancel)
    presence = offline_presence(request.delta_from, request.presence)
    if request.tool:
        check_packable()  # the rest of the tool's checks: ToolBuilder.expected_size
    builder = ToolBuilder(child=tool_child).start() if request.tool else None  # before resolving
    if builder is None and tool_child is not None:
        tool_child.close()  # a --no-tool launch did not see (abbreviated): its CPU back now
    try:
        request, held = _check_before_download(request, presence, cancel, builder)
        if held is not None and builder is not None:
            builder.close()  # the offline host holds this tool: it is not carried
            builder = None
        sizes = _sizes(request, sizes, platforms, factory, progress, cancel, clock, builder)
        target = _plan_target(request, dest, sizes, presence, held)
        with exclusive(dest):
            clock.lap("checks")
            journal = ExportJournal.begin(
                dest, target.key, target.part_size, finished=target.finished
            )
            if builder is not None:
                builder.write_into(dest)  # beside the parts, once built
            written = _write_parts(target, journal, factory, progress, cancel, streams, clock)
            result = _result(request, target, written, clock)
            if written.problems:
                _readback_failed(result, written, journal, builder)
                return result
            manifest = _finish(
                request, target, written, journal, result, builder, progress, cancel, clock
            )
    finally:
        if builder is not None:
            builder.close()  # an unfinished build or write stops before the directory is left
    result.seconds["total"] = clock.total()
    result.ok = True
    result.fingerprint = manifest.fingerprint
    return result


# --------------------------------------------------------------------------- before writing


@dataclass(frozen=True)
class _Target:
    """Where and what the export writes, settled before the bundle directory is locked."""

    dest: Path
    platforms: list[str]
    layout: Layout  # the tar: the full bundle's, or the delta's
    delta: DeltaLayout | None
    part_size: int
    key: str  # the layout split into parts of part_size (what a resume relies on)
    finished: list[BundlePart]  # parts of a complete bundle of the same tar already there
    warnings: list[str]


def _check_before_download(
    request: ExportRequest,
    presence: Presence | None,
    cancel: CancelToken,
    builder: ToolBuilder | None,
) -> tuple[ExportRequest, HeldTool | None]:
    """Refuse now what would fail only after the download (a key that cannot sign), and
    whether a delta leaves the tool out (then it is not carried; the archive's sha256, when
    that decides, comes from the export's `builder`, so the tool is built once)."""
    if request.sign_key is not None:
        sign_bytes(b"airgap-tui: can this key sign?", request.sign_key)  # before the download
    held = tool_left_out(
        tool=request.tool,
        with_tool=request.with_tool,
        presence=presence,
        cancel=cancel,
        archive_sha=None if builder is None else lambda: builder.result(cancel).sha256,
    )
    if held is not None:
        request = replace(request, tool=False)
    return request, held


def _sizes(
    request: ExportRequest,
    sizes: Estimate | None,
    platforms: list[str],
    factory: ClientFactory,
    progress: ProgressCallback,
    cancel: CancelToken,
    clock: _Stopwatch,
    builder: ToolBuilder | None,
) -> Estimate:
    """The caller's estimate when it holds a layout for these platforms, else one made now
    (the tool's size from the builder, which has collected its files meanwhile: a tool that
    cannot be built is refused here, before the download)."""
    if sizes is None or sizes.layout is None or sizes.platforms != platforms:
        sizes = estimate(
            request.specs,
            platforms=platforms,
            progress=progress,
            cancel=cancel,
            client_factory=factory,
            tool=False,
        )
        clock.lap("estimate")
    if builder is None:
        return sizes
    return replace(sizes, tool_bytes=sizes.tool_bytes or builder.expected_size(cancel))


def _plan_target(
    request: ExportRequest,
    dest: Path,
    sizes: Estimate,
    presence: Presence | None,
    held: HeldTool | None,
) -> _Target:
    """The tar to write and its part size; missing images and a destination that cannot take
    the bundle are refused here, before anything is written."""
    refuse_missing(sizes)
    delta = delta_for(sizes, presence, held)
    layout = delta.layout if delta is not None else sizes.layout
    assert layout is not None
    plan = plan_destination(
        dest, layout.total + tool_bytes(request.tool, sizes), request.specs, request.part_size
    )
    refusal = plan.refusal()
    if refusal is not None:
        raise refusal
    warnings = _warnings(sizes, plan, layout, request.max_age)
    part_size = plan.part_size
    key = layout.key(part_size)
    return _Target(
        dest=dest,
        platforms=request.chosen_platforms,
        layout=layout,
        delta=delta,
        part_size=part_size,
        key=key,
        finished=finished_parts(dest, layout, part_size),
        warnings=warnings,
    )


def _warnings(sizes: Estimate, plan: DestinationPlan, layout: Layout, max_age: int) -> list[str]:
    """What the operator is told without stopping: the estimate's warnings (its errors were
    refused), a clamped part size, and images built longer ago than `max_age` days."""
    warnings = list(sizes.problems)
    if plan.part_size_note:
        warnings.append(plan.part_size_note)
    warnings.extend(
        age_warnings(
            ((i.label, i.built, i.analyzer) for i in layout.images),
            datetime.now(UTC),
            max_age,
        )
    )
    return warnings


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Written:
    """What the part writer left on the media."""

    parts: list[BundlePart]
    problems: list[Problem]  # parts the media did not return as written
    written: list[str]
    kept: list[str]
    downloaded: int


def _write_parts(
    target: _Target,
    journal: ExportJournal,
    factory: ClientFactory,
    progress: ProgressCallback,
    cancel: CancelToken,
    streams: int,
    clock: _Stopwatch,
) -> _Written:
    """The tar streamed into parts (the carried tool is built and written beside them). On a
    failure the parts that may hold a bad blob are forgotten."""
    dest, layout = target.dest, target.layout
    kept = kept_prefix(dest, journal, target.part_size, layout.total, cancel)
    writer = PartWriter(
        dest,
        part_size=target.part_size,
        progress=progress,
        cancel=cancel,
        journal=journal,
        expected_bytes=layout.total,
        read_back=True,
        kept=kept,
    )
    clients: dict[str, RegistryClient] = {}
    tar = TarStream(dest, layout, kept, factory, clients, progress, cancel, streams)
    try:
        parts = writer.write(tar.chunks())
        problems = writer.readback_problems
        clock.lap("write")
    except Cancelled as exc:
        raise cancelled(exc, dest, writer.parts) from None
    except AirgapError:
        if tar.failed is not None:
            forget_parts_holding(journal, writer.parts, tar.failed)
        raise
    finally:
        tar.close()
        for client in clients.values():
            client.close()
    return _Written(parts, problems, list(writer.written), list(writer.kept), tar.downloaded)


def _result(
    request: ExportRequest, target: _Target, written: _Written, clock: _Stopwatch
) -> ExportResult:
    """The result of the parts written, not yet complete (`ok` is set once bundle.yaml is)."""
    return ExportResult(
        ok=False,
        bundle_dir=target.dest,
        fingerprint="",
        images=[spec.label for spec in request.specs],
        bundle_bytes=sum(p.size for p in written.parts),
        parts_written=written.written,
        parts_kept=written.kept,
        warnings=target.warnings,
        estimated_bytes=target.layout.total,
        downloaded_bytes=written.downloaded,
        seconds=clock.laps,  # the same dict: the later laps and the total land in it
        delta=target.delta,
        images_built={image.label: image.built for image in target.layout.images},
    )


def _readback_failed(
    result: ExportResult, written: _Written, journal: ExportJournal, builder: ToolBuilder | None
) -> None:
    """The media did not return what was written: no tool, no bundle.yaml, and those parts
    forgotten so the next run rewrites them."""
    if builder is not None:
        builder.discard()  # stopped, and a tool it wrote into the bundle removed
    for problem in written.problems:
        journal.forget(problem.file)  # the stick lied: rewrite these on the next run
    result.readback_ok = False
    result.problems = [
        f"{p.file}: {p.message} — the media did not return what was written; "
        "run the export again to rewrite it, or use another drive"
        for p in written.problems
    ]


def _finish(
    request: ExportRequest,
    target: _Target,
    written: _Written,
    journal: ExportJournal,
    result: ExportResult,
    builder: ToolBuilder | None,
    progress: ProgressCallback,
    cancel: CancelToken,
    clock: _Stopwatch,
) -> BundleManifest:
    """After the parts: the carried tool, then bundle.yaml (and its signature) last."""
    dest, layout = target.dest, target.layout
    if result.bundle_bytes != layout.total:  # a bug, never a state to leave as complete
        raise BundleError(
            f"Bundle in {dest}",
            f"{result.bundle_bytes} bytes were written where {layout.total} were planned",
            "Report this; run the export again into an empty directory",
        )
    result.tool, result.tool_cache_hit = write_carried_tool(
        dest, builder, written.parts, progress, cancel
    )
    if builder is not None:
        clock.lap("tool")  # after the parts: what is left of the build and its writing
    manifest = BundleManifest(
        tool=result.tool,
        source_prefix=request.source_prefix,
        gitlab_major=request.gitlab_major,
        platforms=target.platforms,
        images=layout.images,
        blobs=layout.blobs,
        parts=written.parts,
        delta=target.delta.delta if target.delta is not None else None,
    )
    drop_signature(dest)  # an older export's signature never covers this bundle.yaml
    finish_bundle(dest, manifest, journal)
    if request.sign_key is not None:
        result.signed_by = sign_bundle(dest, request.sign_key)
    return manifest


class _Stopwatch:
    """Wall time of each step of the export (ExportResult.seconds)."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return round(time.monotonic() - self.start, 3)
