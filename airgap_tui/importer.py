"""Offline host: verify -> load (parts streamed, concatenated) -> check IDs -> tag -> push."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from airgap_tui.engine import Engine
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress
from airgap_tui.models import Credentials


@dataclass(frozen=True)
class ImportRequest:
    bundle_dir: Path
    registry: str  # host[:port][/path]
    verify: bool = True
    credentials: Credentials | None = None
    ca_file: Path | None = None
    receipt_dir: Path | None = None  # None = current directory


@dataclass
class ImageResult:
    name: str
    tag: str
    target: str
    ok: bool
    status: str  # "pushed", "already present", "failed", "not loaded"
    source_digest: str = ""
    pushed_digest: str = ""
    error: str = ""


@dataclass
class ImportResult:
    ok: bool
    fingerprint: str
    images: list[ImageResult] = field(default_factory=list)
    verified: bool = False
    receipt_path: Path | None = None


def import_bundle(
    request: ImportRequest,
    engine: Engine,
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> ImportResult:
    raise NotImplementedError
