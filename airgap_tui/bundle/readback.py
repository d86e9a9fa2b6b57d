"""Read written parts back from the media while the rest of the bundle is still being written.

Sticks lie: a write can "succeed" into a controller cache or past the real end of fake-capacity
flash and read back as something else. Each segment of a part is flushed (fdatasync), dropped
from the page cache and re-read by a worker thread a little behind the writer, then compared
byte for byte with the bytes that were written, which are held until then (at most about
`AHEAD` segments: the writer waits when the check falls behind). So the check costs one segment
of wall time at the end and no second hash, instead of a second pass over the whole bundle.
Limits are those of dropping the page cache: a drive's own cache or a FUSE filesystem's private
cache can still answer the read.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_tui.events import (
    STAGE_READBACK,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)

SEGMENT = 4 * 1024 * 1024  # bytes per check; the last one is what the export waits for
AHEAD = 2  # segments handed over but not yet checked before the writer waits


@dataclass(frozen=True)
class _Segment:
    part: str
    fd: int
    offset: int
    pieces: tuple[bytes | memoryview, ...]  # what was written from `offset` on, in order
    length: int
    last: bool  # the part is complete: close its fd after this one
    abandoned: bool = False


class TrackedPart:
    """The writer's side for one part file: keeps what is written, hands over segments."""

    def __init__(self, readback: Readback, name: str, fd: int) -> None:
        self._readback = readback
        self.name = name
        self._fd: int | None = fd
        self._offset = 0
        self._pieces: list[bytes | memoryview] = []
        self._length = 0

    def wrote(self, data: bytes | memoryview) -> None:
        """`data` was just appended to the file; it must not change until checked."""
        self._pieces.append(data)
        self._length += len(data)
        if self._length >= self._readback.segment:
            self._hand_over(last=False)

    def complete(self) -> None:
        """The part is written and fsynced: check the rest, then let go of it."""
        self._hand_over(last=True)

    def abandon(self) -> None:
        """The part was dropped (error, cancel): nothing more to check."""
        if self._fd is not None:
            self._readback.submit(_Segment(self.name, self._fd, 0, (), 0, True, abandoned=True))
            self._fd = None
            self._pieces = []

    def _hand_over(self, *, last: bool) -> None:
        if self._fd is None:
            return
        pieces, length = tuple(self._pieces), self._length
        self._readback.submit(_Segment(self.name, self._fd, self._offset, pieces, length, last))
        self._offset += length
        self._pieces, self._length = [], 0
        if last:
            self._fd = None


class Readback:
    """One worker thread checking segments in the order they were written.

    Progress: stage "readback", item = part name, done = bytes confirmed so far, total = the
    part size given to `track` (an upper bound until the part's final event).
    """

    def __init__(
        self,
        *,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        segment: int | None = None,
    ) -> None:
        self.segment = segment or SEGMENT
        self._progress = progress
        self._cancel = cancel
        self._cond = threading.Condition()
        self._queue: deque[_Segment] = deque()
        self._stopping = False
        self._checked: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._problems: dict[str, str] = {}
        self._held = 0  # bytes handed over and not yet checked
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="airgap-tui-readback", daemon=True)
        self._thread.start()

    def track(self, name: str, path: Path, total: int) -> TrackedPart:
        """Start checking the file being written at `path` (opened here, before any write)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        self._totals[name] = total
        self._checked[name] = 0
        return TrackedPart(self, name, fd)

    @property
    def full(self) -> bool:
        """The next hand-over waits for the check to catch up."""
        with self._cond:
            return self._behind()

    def _behind(self) -> bool:
        return self._held >= AHEAD * self.segment

    def submit(self, segment: _Segment) -> None:
        """Queue a segment; waits while the check is `AHEAD` segments behind (memory)."""
        with self._cond:
            while self._behind() and not self._stopping:
                self._cond.wait()
            self._queue.append(segment)
            self._held += segment.length
            self._cond.notify_all()

    def finish(self) -> dict[str, str]:
        """Wait until every segment handed over is checked; part name -> what was wrong."""
        self._stop()
        if self._failure is not None:
            raise self._failure
        return dict(self._problems)

    def abort(self) -> None:
        """Stop without checking the rest (the export failed or was cancelled)."""
        with self._cond:
            dropped = list(self._queue)
            self._queue.clear()
        for segment in dropped:
            if segment.last:
                os.close(segment.fd)
        self._stop()

    def _stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                segment = self._queue.popleft()
            try:
                if not segment.abandoned and not self._cancelled():
                    self._check(segment)
            except BaseException as exc:  # a bug, not the media: re-raised by finish()
                self._failure = self._failure or exc
            finally:
                if segment.last:
                    os.close(segment.fd)
                with self._cond:
                    self._held -= segment.length
                    self._cond.notify_all()
            if segment.last and not segment.abandoned and not self._cancelled():
                self._report(segment.part, final=True)

    def _cancelled(self) -> bool:
        return self._cancel is not None and self._cancel.cancelled

    def _check(self, segment: _Segment) -> None:
        if segment.part in self._problems:
            return  # the first difference is what the operator needs
        fd, offset = segment.fd, segment.offset
        try:
            write_out(fd, offset, segment.length)  # only clean pages can be dropped
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, offset, segment.length, os.POSIX_FADV_DONTNEED)
            for piece in segment.pieces:
                if self._cancelled():
                    return
                block = os.pread(fd, len(piece), offset)
                expected = piece if isinstance(piece, bytes) else bytes(piece)
                if block != expected:
                    self._problem(segment.part, _difference(offset, block, expected))
                    return
                offset += len(block)
                self._checked[segment.part] = offset
                self._report(segment.part)
        except OSError as exc:
            self._problem(segment.part, f"reading it back failed ({exc.strerror or exc})")

    def _problem(self, part: str, message: str) -> None:
        self._problems.setdefault(part, message)

    def _report(self, part: str, *, final: bool = False) -> None:
        problem = self._problems.get(part, "")
        done = self._checked.get(part, 0)
        total = done if final else self._totals.get(part)
        message = problem or ("ok" if final else "re-reading from the media")
        self._progress(
            Progress(STAGE_READBACK, part, done, total, message, final=final, ok=not problem)
        )


def _difference(offset: int, got: bytes, expected: bytes) -> str:
    if len(got) < len(expected):
        return f"it ends at byte {offset + len(got)}, before byte {offset + len(expected)}"
    at = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
    return f"byte {offset + at} read back differs from what was written"


_SYNC_FILE_RANGE_WRITE_AND_WAIT = 1 | 2 | 4  # WAIT_BEFORE | WRITE | WAIT_AFTER
_sync_file_range: Any = None


def write_out(fd: int, offset: int, length: int) -> None:
    """Write a range's dirty pages to the device and wait for them.

    Linux's sync_file_range does just that, without the journal commit and cache flush an
    fdatasync costs on every segment (the part's own fsync at its end makes it durable);
    elsewhere, or when the call is refused, fdatasync.
    """
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = _load_sync_file_range()
    if _sync_file_range:
        if _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE_AND_WAIT) == 0:
            return
    os.fdatasync(fd)


def _load_sync_file_range() -> Any:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return False
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function
