"""Overlap a producer with its consumer: an iterator run a few items ahead in a thread.

The export reads the engine's stream (socket, HTTP chunk decoding, tar normalising) and writes
parts (hash, write, fsync); in one thread each waits for the other. Reads, writes and sha256
release the GIL, so running the reader ahead in its own thread lets both go at once while a
bounded buffer keeps memory at `depth` chunks.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_DEPTH = 8


class _Buffer(Generic[T]):
    """A bounded hand-over between one producer and one consumer that either side can end."""

    def __init__(self, depth: int) -> None:
        self._items: deque[T] = deque()
        self._depth = depth
        self._cond = threading.Condition()
        self._closed = False  # the consumer has gone: drop everything
        self._done = False  # the producer has finished (error or not)
        self._error: BaseException | None = None

    def put(self, item: T) -> bool:
        """Wait for room; False when the consumer has gone and the producer should stop."""
        with self._cond:
            while len(self._items) >= self._depth and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def finish(self, error: BaseException | None) -> None:
        with self._cond:
            self._done = True
            self._error = error
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def get(self) -> list[T]:
        """[item], or [] once the producer is done; the producer's error is raised."""
        with self._cond:
            while not self._items and not self._done:
                self._cond.wait()
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return [item]
            if self._error is not None:
                raise self._error
            return []


def prefetch(
    source: Iterable[T], *, depth: int = DEFAULT_DEPTH, name: str = "prefetch"
) -> Generator[T, None, None]:
    """Yield `source`'s items, produced in a thread up to `depth` items ahead.

    The producer's exception is raised here, in the consumer's thread, after the items it
    produced before failing. Closing this generator (or an exception in the consumer) stops
    the producer at its next item and closes `source` in the producer's thread.
    """
    buffer: _Buffer[T] = _Buffer(depth)

    def produce() -> None:
        error: BaseException | None = None
        iterator = iter(source)
        try:
            for item in iterator:
                if not buffer.put(item):
                    break
        except BaseException as exc:  # handed to the consumer, which decides
            error = exc
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 - reported unless one is already
                    error = error or exc
            buffer.finish(error)

    thread = threading.Thread(target=produce, name=f"airgap-tui-{name}", daemon=True)
    thread.start()
    try:
        while item := buffer.get():
            yield item[0]
    finally:
        buffer.close()
        thread.join()
