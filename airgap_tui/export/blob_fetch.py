"""Blobs downloaded side by side, handed out in tar order, memory bounded.

The tar needs blobs one after another, but one HTTP stream rarely fills a link. So a few
streams run ahead of the writer, each into a small queue: the writer drains the blob it needs
while the next ones fill. A stream whose queue is full waits, so memory stays at about
streams × (buffer + 1) chunks however large the blobs are, and nothing is copied to disk.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from airgap_tui.events import CancelToken
from airgap_tui.registry.client import RegistryClient

STREAMS = 4
BUFFER_CHUNKS = 8  # per stream, of registry.STREAM_CHUNK (256 KiB)
_DONE = object()
_POLL = 0.25  # seconds between checks of the stop flag while blocked on a queue


class _Stopped(Exception):
    """The consumer went away; the stream ends quietly."""


@dataclass(frozen=True)
class Download:
    client: RegistryClient
    repository: str
    digest: str
    size: int
    start: int = 0  # resume: the first `start` bytes are already on the media
    hasher: Any = None  # hashlib.sha256 holding those first bytes


class Downloads:
    """Run `jobs` with at most `streams` ahead of the consumer; `blob(i)` in order 0, 1, …"""

    def __init__(
        self,
        jobs: list[Download],
        *,
        streams: int = STREAMS,
        buffer_chunks: int = BUFFER_CHUNKS,
        cancel: CancelToken | None = None,
    ) -> None:
        self.jobs = jobs
        self.streams = max(1, streams)
        self.buffer_chunks = max(1, buffer_chunks)
        self.cancel = cancel
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queues: dict[int, queue.Queue[object]] = {}
        self._started = 0
        self._next = 0

    def __enter__(self) -> Downloads:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self, wait: float = 2.0) -> None:
        """Stop every stream: each closes its HTTP response at its next chunk.

        Streams are daemon threads, waited for at most `wait` seconds in all: one blocked on a
        silent registry must not hold up a cancelled export (it ends at its read timeout).
        """
        self._stop.set()
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start_until(self, limit: int) -> None:
        while self._started < min(limit, len(self.jobs)):
            q: queue.Queue[object] = queue.Queue(self.buffer_chunks)
            self._queues[self._started] = q
            thread = threading.Thread(
                target=self._run,
                args=(self.jobs[self._started], q),
                name=f"download-{self._started}",
                daemon=True,
            )
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            self._started += 1

    def _put(self, q: queue.Queue[object], item: object) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _run(self, job: Download, q: queue.Queue[object]) -> None:
        try:
            stream = job.client.blob_stream(
                job.repository, job.digest, job.size, start=job.start, hasher=job.hasher
            )
            with closing(stream):
                for chunk in stream:
                    self._put(q, chunk)
            self._put(q, _DONE)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the consumer, which raises it in order
            try:
                self._put(q, exc)
            except _Stopped:
                return

    def blob(self, index: int) -> Iterator[bytes]:
        """Job `index`'s bytes; raises what its stream raised (wrong digest, registry down…)."""
        if index != self._next:
            raise ValueError(f"blobs are handed out in order: {self._next} next, not {index}")
        self._next += 1
        self._start_until(index + self.streams)
        q = self._queues.pop(index)
        while True:
            if self.cancel is not None:
                self.cancel.check("Downloading the images")
            try:
                item = q.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
        self._start_until(index + 1 + self.streams)
