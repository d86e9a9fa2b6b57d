"""Connected host: estimate -> check the media -> pull -> write parts -> read back -> manifest.

Nothing touches the media until every image is known to exist upstream and the bundle fits.
The archive is the engine's multi-image export (shared layers once), tar-normalised so a re-run
regenerates the same bytes and keeps the parts already on the media; bundle.yaml comes last.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from airgap_tui.bundle import (
    BundleImage,
    BundleManifest,
    BundlePart,
    ExportJournal,
    PartWriter,
    finish_bundle,
)
from airgap_tui.engine import Engine, ImageDetails
from airgap_tui.errors import Cancelled, MediaError, NotFoundError, UsageError
from airgap_tui.estimate import Estimate, default_save_name, estimate
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress
from airgap_tui.media import human_size
from airgap_tui.models import DEFAULT_PLATFORM, DEFAULT_SOURCE_PREFIX, ImageSpec
from airgap_tui.pipeline import prefetch
from airgap_tui.plan import plan_destination
from airgap_tui.tarnorm import normalize_tar_stream

DEFAULT_PART_SIZE = 1024**3
PULLS_AT_ONCE = 4  # images pulled side by side; the engine paces the layer downloads itself


@dataclass(frozen=True)
class ExportRequest:
    specs: list[ImageSpec]
    dest: Path
    part_size: int = DEFAULT_PART_SIZE
    source_prefix: str = DEFAULT_SOURCE_PREFIX
    gitlab_major: int | None = 18
    platform: str = DEFAULT_PLATFORM


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
    # Wall time of each step: "estimate", "pull", "write" (from asking the engine for its
    # export to the last part read back) and "total"; for the operator's log and benchmarks/.
    seconds: dict[str, float] = field(default_factory=dict)


def export_bundle(
    request: ExportRequest,
    engine: Engine,
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    sizes: Estimate | None = None,
) -> ExportResult:
    """Write the bundle; `sizes` skips the estimate when the caller (the wizard) has one."""
    cancel = cancel or CancelToken()
    clock = _Stopwatch()
    if not request.specs:
        raise UsageError("Export", "no images were chosen", "Name at least one analyzer")
    dest = request.dest.expanduser().absolute()
    info = engine.info()
    if sizes is None:
        sizes = estimate(
            request.specs,
            platform=request.platform,
            archive_format=info.archive_format,
            progress=progress,
            cancel=cancel,
        )
        clock.lap("estimate")
    _refuse_missing(sizes)
    plan = plan_destination(dest, sizes.bundle_bytes, request.specs, request.part_size)
    refusal = plan.refusal()
    if refusal is not None:
        raise refusal
    warnings = [plan.part_size_note] if plan.part_size_note else []
    part_size = plan.part_size

    with _exclusive(dest):
        clock.lap("checks")
        pulled = _pull_all(engine, request, progress, cancel)
        clock.lap("pull")
        key = _selection_key(request, pulled, info.archive_format, part_size)
        journal = ExportJournal.begin(dest, key, part_size)
        writer = PartWriter(
            dest,
            part_size=part_size,
            progress=progress,
            cancel=cancel,
            journal=journal,
            expected_bytes=sizes.bundle_bytes,
            read_back=True,
        )
        names = [default_save_name(spec) for spec in request.specs]
        stream = prefetch(normalize_tar_stream(engine.export_stream(names, cancel)), name="export")
        try:
            with closing(stream):  # stops the reader thread and the engine's stream on error
                parts = writer.write(stream)
            problems = writer.readback_problems
            clock.lap("write")
        except Cancelled as exc:
            raise _cancelled(exc, dest, writer.parts) from None
        result = ExportResult(
            ok=False,
            bundle_dir=dest,
            fingerprint="",
            images=[spec.label for spec in request.specs],
            bundle_bytes=sum(p.size for p in parts),
            parts_written=list(writer.written),
            parts_kept=list(writer.kept),
            warnings=warnings,
            estimated_bytes=sizes.bundle_bytes,
            seconds=clock.laps,
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
        manifest = BundleManifest(
            source_prefix=request.source_prefix,
            gitlab_major=request.gitlab_major,
            platform=request.platform,
            archive_format=info.archive_format,
            images=[_bundle_image(s, d) for s, d in zip(request.specs, pulled, strict=True)],
            parts=parts,
        )
        finish_bundle(dest, manifest, journal)
    result.seconds["total"] = clock.total()
    result.ok = True
    result.fingerprint = manifest.fingerprint
    return result


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


def _pull_all(
    engine: Engine, request: ExportRequest, progress: ProgressCallback, cancel: CancelToken
) -> list[ImageDetails]:
    """Pull the images side by side (the engine fetches a shared layer once); in spec order.

    Every pull runs to its end before the first failure, in spec order, is raised: the images
    that did arrive are then in the engine for the next run.
    """
    specs = request.specs
    with ThreadPoolExecutor(max_workers=min(PULLS_AT_ONCE, len(specs))) as pool:
        futures = [
            pool.submit(
                engine.pull,
                spec.source,
                platform=request.platform,
                progress=progress,
                cancel=cancel,
            )
            for spec in specs
        ]
        wait(futures)
    return [future.result() for future in futures]


def _cancelled(exc: Cancelled, dest: Path, parts: list[BundlePart]) -> Cancelled:
    """The operator's stop, saying what is on the media (complete parts are kept on a re-run)."""
    if parts:
        size = human_size(sum(p.size for p in parts))
        count = "1 complete part is" if len(parts) == 1 else f"{len(parts)} complete parts are"
        state = (
            f"{count} in {dest} ({size}) but bundle.yaml is not written yet, "
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


def _selection_key(
    request: ExportRequest, pulled: list[ImageDetails], archive_format: str, part_size: int
) -> str:
    content = {
        "images": [
            [spec.label, str(spec.source), details.image_id]
            for spec, details in zip(request.specs, pulled, strict=True)
        ],
        "platform": request.platform,
        "archive_format": archive_format,
        "part_size": part_size,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _bundle_image(spec: ImageSpec, details: ImageDetails) -> BundleImage:
    src = spec.source
    return BundleImage(
        name=spec.name,
        tag=spec.tag,
        source_ref=str(src),
        image_id=details.image_id,
        digest=details.digest_for(f"{src.registry}/{src.repository}"),
        diff_ids=list(details.diff_ids),
        size=details.size,
        analyzer=spec.analyzer,
    )
