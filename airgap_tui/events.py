"""Progress events shared by the CLI and the TUI.

The domain never draws anything: it calls a plain callback with these events, and each
front renders them its own way. `Throttle` keeps a fast byte stream from flooding a UI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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


class Throttle:
    """Forwards at most `rate` events per second per (stage, item), and never loses the last.

    An event that arrives too soon is held, not dropped: a newer one replaces it, and it is
    sent when its interval is over (from a timer thread) if nothing newer went out first, or
    at `flush()`. So a bar that stops moving shows where the stream really stopped, not where
    it was a tenth of a second earlier. Final events always pass at once, after anything held
    for the same item. Use it as a context manager to flush when the work ends.
    """

    def __init__(
        self,
        callback: ProgressCallback,
        rate: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.callback = callback
        self.interval = 1.0 / rate
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], Progress] = {}
        self._timer: threading.Timer | None = None
        self._closed = False
        # Held while deciding *and* delivering, so events of one item never overtake.
        self._lock = threading.RLock()

    def __call__(self, event: Progress) -> None:
        key = (event.stage, event.item)
        with self._lock:
            now = self._clock()
            last = self._last.get(key)
            if event.final or last is None or now - last >= self.interval:
                self._held.pop(key, None)
                self._last[key] = now
                self.callback(event)
                return
            self._held[key] = event
            self._schedule(last + self.interval - now)

    def flush(self) -> None:
        """Send every held event now (the work is over, or the screen wants it current)."""
        with self._lock:
            held, self._held = self._held, {}
            now = self._clock()
            for key, event in held.items():
                self._last[key] = now
                self.callback(event)

    def close(self) -> None:
        """Flush, and stop the timer: nothing is sent after this."""
        with self._lock:
            self.flush()
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def __enter__(self) -> Throttle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _schedule(self, delay: float) -> None:
        if self._timer is not None or self._closed:
            return
        timer = threading.Timer(max(delay, 0.0), self._due)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _due(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            now = self._clock()
            later: list[float] = []
            for key, event in list(self._held.items()):
                wait = self._last.get(key, now) + self.interval - now
                if wait <= 0:
                    del self._held[key]
                    self._last[key] = now
                    self.callback(event)
                else:
                    later.append(wait)
            if later:
                self._schedule(min(later))


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
