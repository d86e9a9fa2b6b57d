"""Connected host: estimate -> check the media -> pull -> write parts -> read back -> manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from airgap_tui.engine import Engine
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress
from airgap_tui.models import DEFAULT_PLATFORM, DEFAULT_SOURCE_PREFIX, ImageSpec

DEFAULT_PART_SIZE = 1024**3


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


def export_bundle(
    request: ExportRequest,
    engine: Engine,
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> ExportResult:
    raise NotImplementedError
