"""Progress events shared by the CLI and the TUI.

The domain never draws anything: it calls a plain callback with these events, and each
front renders them its own way. `Throttle` keeps a fast byte stream from flooding a UI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Stages an operator sees, in the order they happen.
STAGE_ESTIMATE = "estimate"
STAGE_PULL = "pull"
STAGE_SAVE = "save"  # writing parts of the engine's export stream
STAGE_READBACK = "readback"  # re-reading written parts from the media
STAGE_VERIFY = "verify"
STAGE_LOAD = "load"
STAGE_TAG = "tag"
STAGE_PUSH = "push"  # one image into the target registry (bytes of its blobs)
STAGE_BLOB = "blob"  # one blob of an image, pushed straight to the registry (no engine)


@dataclass(frozen=True)
class Progress:
    """`done` of `total` units (bytes unless a stage says otherwise) for one item of one stage."""

    stage: str
    item: str
    done: int = 0
    total: int | None = None
    message: str = ""
    final: bool = False  # the item is finished (successfully or not)
    ok: bool = True


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_event: Progress) -> None:
    """A callback for callers that do not show progress."""


@dataclass
class Throttle:
    """Forwards at most `rate` events per second per (stage, item); final events always pass."""

    callback: ProgressCallback
    rate: float = 10.0
    _last: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Progress) -> None:
        key = (event.stage, event.item)
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            due = last is None or now - last >= 1.0 / self.rate
            if not (due or event.final):
                return
            self._last[key] = now
        self.callback(event)


class CancelToken:
    """Set by a front (Ctrl-C, Cancel button); checked by the domain between chunks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cancel; True if cancelled."""
        return self._event.wait(seconds)

    def check(self, doing: str) -> None:
        from airgap_tui.errors import Cancelled

        if self._event.is_set():
            raise Cancelled(
                doing, "cancelled by the operator", "Run the same command again to resume"
            )
