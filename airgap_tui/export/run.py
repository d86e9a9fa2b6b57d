"""Connected host: resolve in the registry, check the media, stream blobs into parts, manifest.

No engine: the bundle carries the source registry's own blobs byte for byte. Manifests and
configs come first (they give every size, so the tar is planned to the byte before the first
download); then blobs are downloaded side by side and streamed, in tar order, into the part
writer (atomic parts, read back behind the writer, journal). Each blob's sha256 is checked as it
streams. A re-run of the same selection keeps the complete parts already on the media without
downloading what they hold, and resumes a blob cut by the interruption with a Range request.
bundle.yaml is written last.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.layout import END_OF_ARCHIVE, Entry, Layout, entry_bytes, padded
from airgap_tui.bundle.manifest import (
    MANIFEST_NAME,
    TAR_BLOCK,
    BundleManifest,
    BundlePart,
    ToolFile,
)
from airgap_tui.bundle.media import human_size
from airgap_tui.bundle.parts import DEFAULT_PART_SIZE, DEFAULT_PREFIX, check_parts, part_name
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.bundle.writer import PartWriter, finish_bundle
from airgap_tui.delta.bundle import DeltaLayout, delta_layout, load_delta_from
from airgap_tui.delta.delta import Presence, merge_presence
from airgap_tui.delta.tool import HeldTool
from airgap_tui.errors import (
    AirgapError,
    BundleError,
    Cancelled,
    MediaError,
    NotFoundError,
    UsageError,
)
from airgap_tui.events import (
    STAGE_PULL,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from airgap_tui.export.blob_fetch import Download, Downloads
from airgap_tui.export.estimate import (
    ClientFactory,
    Estimate,
    default_client_factory,
    estimate,
    estimate_tool,
)
from airgap_tui.export.plan import plan_destination
from airgap_tui.export.tool_choice import mark_left_out, tool_left_out
from airgap_tui.models import (
    DEFAULT_GITLAB_MAJOR,
    DEFAULT_PLATFORM,
    DEFAULT_SOURCE_PREFIX,
    ImageSpec,
)
from airgap_tui.registry.client import RegistryClient
from airgap_tui.toolpack.toolpack import check_buildable, write_tool

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
    # read back) and "total"; for the operator's log and benchmarks/.
    seconds: dict[str, float] = field(default_factory=dict)
    delta: DeltaLayout | None = None  # a delta bundle: what it expects, full vs delta size
    tool: ToolFile | None = None  # the carried airgap-tui.pyz, as bundle.yaml lists it


def export_bundle(
    request: ExportRequest,
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    sizes: Estimate | None = None,
    client_factory: ClientFactory | None = None,
    streams: int = DOWNLOAD_STREAMS,
) -> ExportResult:
    """Write the bundle; `sizes` (the wizard's estimate of the same selection) skips resolving."""
    cancel = cancel or CancelToken()
    clock = _Stopwatch()
    if not request.specs:
        raise UsageError("Export", "no images were chosen", "Name at least one analyzer")
    dest = request.dest.expanduser().absolute()
    platforms = request.chosen_platforms
    factory = client_factory or default_client_factory(cancel)
    presence = load_delta_from(request.delta_from)  # a bad file is refused before any request
    if request.presence is not None:
        presence = (
            request.presence if presence is None else merge_presence([presence, request.presence])
        )
    if request.tool:
        check_buildable()  # a ToolError now, not after the download
    held = tool_left_out(
        tool=request.tool, with_tool=request.with_tool, presence=presence, cancel=cancel
    )
    if held is not None:
        request = replace(request, tool=False)
    if sizes is None or sizes.layout is None or sizes.platforms != platforms:
        sizes = estimate(
            request.specs,
            platforms=platforms,
            progress=progress,
            cancel=cancel,
            client_factory=factory,
            tool=request.tool,
        )
        clock.lap("estimate")
    _refuse_missing(sizes)
    delta = _delta(sizes, presence, held)
    layout = delta.layout if delta is not None else sizes.layout
    assert layout is not None
    plan = plan_destination(
        dest, layout.total + _tool_bytes(request, sizes), request.specs, request.part_size
    )
    refusal = plan.refusal()
    if refusal is not None:
        raise refusal
    warnings = list(sizes.problems)  # errors were refused above: what is left are warnings
    if plan.part_size_note:
        warnings.append(plan.part_size_note)
    part_size = plan.part_size
    key = layout.key(part_size)
    finished = _finished_parts(dest, layout, part_size)

    with _exclusive(dest):
        clock.lap("checks")
        journal = ExportJournal.begin(dest, key, part_size, finished=finished)
        kept = _kept_prefix(dest, journal, part_size, layout.total, cancel)
        writer = PartWriter(
            dest,
            part_size=part_size,
            progress=progress,
            cancel=cancel,
            journal=journal,
            expected_bytes=layout.total,
            read_back=True,
            kept=kept,
        )
        clients: dict[str, RegistryClient] = {}
        tar = _TarStream(dest, layout, kept, factory, clients, progress, cancel, streams)
        try:
            parts = writer.write(tar.chunks())
            problems = writer.readback_problems
            clock.lap("write")
        except Cancelled as exc:
            raise _cancelled(exc, dest, writer.parts) from None
        except AirgapError:
            if tar.failed is not None:
                _forget_parts_holding(journal, writer.parts, tar.failed)
            raise
        finally:
            tar.close()
            for client in clients.values():
                client.close()
        result = ExportResult(
            ok=False,
            bundle_dir=dest,
            fingerprint="",
            images=[spec.label for spec in request.specs],
            bundle_bytes=sum(p.size for p in parts),
            parts_written=list(writer.written),
            parts_kept=list(writer.kept),
            warnings=warnings,
            estimated_bytes=layout.total,
            downloaded_bytes=tar.downloaded,
            seconds=clock.laps,
            delta=delta,
        )
        if problems:
            for problem in problems:
                journal.forget(problem.file)  # the stick lied: rewrite these on the next run
            result.readback_ok = False
            result.problems = [
                f"{p.file}: {p.message} — the media did not return what was written; "
                "run the export again to rewrite it, or use another drive"
                for p in problems
            ]
            return result
        if result.bundle_bytes != layout.total:  # a bug, never a state to leave as complete
            raise BundleError(
                f"Bundle in {dest}",
                f"{result.bundle_bytes} bytes were written where {layout.total} were planned",
                "Report this; run the export again into an empty directory",
            )
        result.tool = _write_tool(dest, request, writer.parts, progress, cancel)
        manifest = BundleManifest(
            tool=result.tool,
            source_prefix=request.source_prefix,
            gitlab_major=request.gitlab_major,
            platforms=platforms,
            images=layout.images,
            blobs=layout.blobs,
            parts=parts,
            delta=delta.delta if delta is not None else None,
        )
        finish_bundle(dest, manifest, journal)
    result.seconds["total"] = clock.total()
    result.ok = True
    result.fingerprint = manifest.fingerprint
    return result


# --------------------------------------------------------------------------- the tar stream


class _TarStream:
    """The tar's bytes from the resume point on: small entries from memory, blobs downloaded.

    Progress: stage "pull", item = the image whose blobs are downloading (the first image
    that uses a blob), done/total = its blob bytes still to download in this run.
    """

    def __init__(
        self,
        dest: Path,
        layout: Layout,
        kept: list[BundlePart],
        factory: ClientFactory,
        clients: dict[str, RegistryClient],
        progress: ProgressCallback,
        cancel: CancelToken,
        streams: int,
    ) -> None:
        self.dest = dest
        self.layout = layout
        self.kept = kept
        self.start = sum(part.size for part in kept)
        self.factory = factory
        self.clients = clients
        self.progress = progress
        self.cancel = cancel
        self.streams = streams
        self.failed: Entry | None = None  # the blob whose download failed
        self.downloaded = 0
        self._downloads: Downloads | None = None
        self._owner: dict[str, str] = {}
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}
        for image in layout.images:
            for digest in image.blobs:
                if digest not in self._owner:
                    self._owner[digest] = image.label

    def _client(self, host: str) -> RegistryClient:
        if host not in self.clients:
            self.clients[host] = self.factory(host)
        return self.clients[host]

    def _prefix_hasher(self, entry: Entry, length: int) -> object:
        """sha256 over a blob's first bytes, read back from the kept parts (a resumed blob)."""
        assert entry.blob is not None
        hasher = hashlib.sha256()
        with PartsReader(self.dest, self.kept, cancel=self.cancel) as reader:
            for block in reader.read_range(entry.data_offset, length):
                hasher.update(block)
        return hasher

    def _jobs(self) -> list[tuple[Entry, Download]]:
        jobs = []
        for entry in self.layout.downloads:
            if entry.data_offset + entry.size <= self.start:
                continue  # wholly inside the kept parts: not downloaded again
            assert entry.source is not None and entry.blob is not None
            host, repository = entry.source
            skip = max(0, self.start - entry.data_offset)
            hasher = self._prefix_hasher(entry, skip) if skip else None
            download = Download(
                self._client(host), repository, entry.blob.digest, entry.size, skip, hasher
            )
            jobs.append((entry, download))
            label = self._owner.get(entry.blob.digest, "")
            self._totals[label] = self._totals.get(label, 0) + entry.size - skip
        return jobs

    def close(self) -> None:
        if self._downloads is not None:
            self._downloads.close()

    def chunks(self) -> Iterator[bytes]:
        jobs = self._jobs()
        self._downloads = Downloads(
            [download for _entry, download in jobs], streams=self.streams, cancel=self.cancel
        )
        next_job = 0
        start = self.start
        for entry in self.layout.entries:
            if entry.end <= start:
                continue
            within = max(0, start - entry.header_offset)
            if entry.data is not None:
                yield from entry_bytes(entry, within)
                continue
            if within < TAR_BLOCK:
                yield entry.header()[within:]
            data_from = max(0, within - TAR_BLOCK)
            if data_from < entry.size:
                job_entry, _download = jobs[next_job]
                assert job_entry is entry
                yield from self._blob(entry, next_job)
                next_job += 1
            pad = padded(entry.size) - entry.size
            pad_from = max(0, within - TAR_BLOCK - entry.size)
            if pad > pad_from:
                yield bytes(pad - pad_from)
        end_from = max(0, start - (self.layout.total - len(END_OF_ARCHIVE)))
        yield END_OF_ARCHIVE[end_from:]

    def _blob(self, entry: Entry, index: int) -> Iterator[bytes]:
        assert self._downloads is not None and entry.blob is not None
        label = self._owner.get(entry.blob.digest, "")
        total = self._totals.get(label, 0)
        try:
            for chunk in self._downloads.blob(index):
                self.downloaded += len(chunk)
                self._done[label] = self._done.get(label, 0) + len(chunk)
                self.progress(Progress(STAGE_PULL, label, self._done[label], total, "downloading"))
                yield chunk
        except AirgapError:
            self.failed = entry
            raise
        if self._done.get(label, 0) >= total:
            self.progress(Progress(STAGE_PULL, label, total, total, "downloaded", final=True))


def _delta(sizes: Estimate, presence: Presence | None, held: HeldTool | None) -> DeltaLayout | None:
    """The delta's layout (layers the presence lists left out, and the tool when `held`), or
    None for a full bundle."""
    if presence is None:
        return None
    return mark_left_out(delta_layout(sizes.resolved, presence, full=sizes.layout), held)


def _forget_parts_holding(journal: ExportJournal, parts: list[BundlePart], entry: Entry) -> None:
    """A blob that failed its check may have reached parts already closed: never keep those."""
    start = 0
    for part in parts:
        end = start + part.size
        if start < entry.data_offset + entry.size and entry.data_offset < end:
            journal.forget(part.file)
        start = end


# --------------------------------------------------------------------------- the tool


def _tool_bytes(request: ExportRequest, sizes: Estimate) -> int:
    """Room for airgap-tui.pyz on the media (estimated; 0 with --no-tool)."""
    if not request.tool:
        return 0
    return sizes.tool_bytes or estimate_tool()[0]


def _write_tool(
    dest: Path,
    request: ExportRequest,
    parts: list[BundlePart],
    progress: ProgressCallback,
    cancel: CancelToken,
) -> ToolFile | None:
    """airgap-tui.pyz after the parts, before bundle.yaml (an identical one is kept)."""
    if not request.tool:
        return None
    try:
        info = write_tool(dest, progress=progress, cancel=cancel, reuse=True)
    except Cancelled as exc:
        raise _cancelled(exc, dest, parts) from None
    return ToolFile(info.file, info.size, info.sha256)


# --------------------------------------------------------------------------- resume


def _finished_parts(dest: Path, layout: Layout, part_size: int) -> list[BundlePart]:
    """The parts of a complete bundle of the same tar already in `dest` (a re-run keeps them)."""
    try:
        manifest = read_manifest(dest)
    except BundleError:
        return []
    if manifest.blobs != layout.blobs or [i.to_dict() for i in manifest.images] != [
        i.to_dict() for i in layout.images
    ]:
        return []
    if (manifest.delta is not None) != layout.delta:  # same blobs, other manifest.json
        return []
    if any(part.size != part_size for part in manifest.parts[:-1]):
        return []
    return list(manifest.parts)


def _kept_prefix(
    dest: Path, journal: ExportJournal, part_size: int, total: int, cancel: CancelToken
) -> list[BundlePart]:
    """Complete parts 000, 001, … the journal vouches for, each re-hashed from the media.

    Only an unbroken run from the first part is kept without regenerating it. A part that
    fails its check is forgotten; parts after it stay candidates that the writer compares
    byte for byte with the regenerated stream (kept if equal, never trusted blindly).
    """
    kept: list[BundlePart] = []
    offset = 0
    while True:
        part = journal.parts.get(part_name(DEFAULT_PREFIX, len(kept)))
        if part is None or offset + part.size > total:
            break
        if part.size != part_size and offset + part.size != total:
            break
        if check_parts(dest, [part], cancel=cancel):
            journal.forget(part.file)
            break
        kept.append(part)
        offset += part.size
    return kept


# --------------------------------------------------------------------------- checks


class _Stopwatch:
    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return round(time.monotonic() - self.start, 3)


def _cancelled(exc: Cancelled, dest: Path, parts: list[BundlePart]) -> Cancelled:
    """The operator's stop, saying what is on the media (complete parts are kept on a re-run)."""
    if parts:
        size = human_size(sum(p.size for p in parts))
        count = "1 complete part is" if len(parts) == 1 else f"{len(parts)} complete parts are"
        state = (
            f"{count} in {dest} ({size}) but {MANIFEST_NAME} is not written yet, "
            "so the bundle cannot be used as it is"
        )
    else:
        state = f"no part was completed in {dest}"
    return Cancelled(
        exc.what,
        f"cancelled by the operator; {state}",
        "Run the same export again to resume: it keeps the complete parts and writes the rest",
    )


def _refuse_missing(sizes: Estimate) -> None:
    missing = [image for image in sizes.images if image.error]
    for image in missing:
        if image.failure is not None and not isinstance(image.failure, NotFoundError):
            raise image.failure  # a login, TLS or network problem, not a missing image or tag
    if not missing:
        return
    lines = []
    for image in missing:
        tags = ", ".join(image.available_tags[:12]) or "none"
        lines.append(f"{image.spec.source}: {image.error} (tags that exist: {tags})")
    raise NotFoundError(
        "Export",
        "; ".join(lines),
        "Fix the names or tags (airgap-tui tags NAME lists them); nothing was written",
        available=missing[0].available_tags,
    )


@contextmanager
def _exclusive(dest: Path) -> Iterator[None]:
    """One writer per bundle directory (a second export, or a stale worker, is refused)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise MediaError(
            f"Destination {dest}",
            f"it cannot be created or opened ({exc.strerror or exc})",
            "Check the path and that the drive is mounted writable",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise MediaError(
                    f"Destination {dest}",
                    "another export is writing to it right now",
                    "Wait for it to finish or stop it, then run this again",
                ) from None
            raise
        yield
    finally:
        os.close(fd)
