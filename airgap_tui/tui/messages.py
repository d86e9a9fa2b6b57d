"""Messages worker threads post to their screen (`post_message` is thread-safe).

Workers never touch a widget: they post one of these and the screen's handler, running on the
event loop, updates the display. Progress arrives already throttled (events.Throttle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from airgap_tui.events import Progress

if TYPE_CHECKING:
    from airgap_tui.bundle import ExportJournal
    from airgap_tui.bundle_manifest import BundleManifest
    from airgap_tui.media import DestinationInfo, Drive


@dataclass
class ProgressUpdate(Message):
    """One (throttled) progress event from the domain."""

    event: Progress


@dataclass
class DrivesFound(Message):
    drives: list[Drive]


@dataclass
class EngineStatus(Message):
    """Result of connecting to the engine: `info` on success, else the error sentence."""

    info: Any | None
    error: str = ""


@dataclass
class TagsFetched(Message):
    analyzer: str
    tags: list[str]


@dataclass
class DestinationChecked(Message):
    path: Path
    info: DestinationInfo
    journal: ExportJournal | None
    existing: BundleManifest | None = None


@dataclass
class WorkDone(Message):
    """A worker's result for its screen (what `kind` means is up to the screen)."""

    kind: str
    result: Any = None
