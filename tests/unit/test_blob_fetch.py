"""Downloads side by side, handed out in order, with bounded buffers (a fake registry client:
pure scheduling logic; the real registry streams are tested in tests/integration)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from airgap_tui.errors import Cancelled, RegistryError
from airgap_tui.events import CancelToken
from airgap_tui.export.blob_fetch import Download, Downloads
from tests.harness import wait_until


class FakeClient:
    """blob_stream yields `chunks` chunks named after the digest; records how far each got."""

    def __init__(self, chunks: int = 20, fail: str | None = None) -> None:
        self.chunks = chunks
        self.fail = fail
        self.produced: dict[str, int] = {}
        self.closed: set[str] = set()
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()

    def blob_stream(
        self, repository: str, digest: str, size: int, *, start: int = 0, hasher: Any = None
    ) -> Iterator[bytes]:
        try:
            for index in range(self.chunks):
                self.gate.wait()
                if digest == self.fail and index == 3:
                    raise RegistryError(f"Blob {digest}", "wrong bytes")
                with self.lock:
                    self.produced[digest] = self.produced.get(digest, 0) + 1
                yield f"{digest}:{index};".encode()
        finally:
            with self.lock:
                self.closed.add(digest)


def jobs(client: FakeClient, n: int) -> list[Download]:
    return [Download(client, "repo", f"d{i}", 0) for i in range(n)]  # type: ignore[arg-type]


def test_blobs_come_out_whole_and_in_order() -> None:
    client = FakeClient(chunks=5)
    with Downloads(jobs(client, 7), streams=3, buffer_chunks=2) as downloads:
        out = [b"".join(downloads.blob(i)) for i in range(7)]
    assert out == [b"".join(f"d{i}:{k};".encode() for k in range(5)) for i in range(7)]


def test_at_most_streams_run_ahead_each_with_a_bounded_buffer() -> None:
    client = FakeClient(chunks=50)
    downloads = Downloads(jobs(client, 10), streams=3, buffer_chunks=4)
    try:
        first = downloads.blob(0)
        next(first)  # starts d0..d2 only

        # the ones behind fill their buffer (4) plus the chunk each holds, then wait
        def settled() -> bool:
            with client.lock:
                return all(client.produced.get(f"d{i}", 0) >= 5 for i in (1, 2))

        wait_until(lambda: settled() or None, timeout=30, what="the streams behind to fill up")
        with client.lock:
            assert set(client.produced) == {"d0", "d1", "d2"}
            assert client.produced["d1"] <= 4 + 1 and client.produced["d2"] <= 4 + 1
        list(first)
        list(downloads.blob(1))  # consuming d0 and d1 starts d3 and d4
        with client.lock:
            assert {"d3", "d4"} <= set(client.produced) and "d5" not in client.produced
    finally:
        downloads.close()


def test_out_of_order_is_refused() -> None:
    with Downloads(jobs(FakeClient(), 2)) as downloads:
        with pytest.raises(ValueError, match="in order"):
            list(downloads.blob(1))


def test_an_error_is_raised_when_its_blob_is_reached_and_streams_stop() -> None:
    client = FakeClient(chunks=10, fail="d1")
    downloads = Downloads(jobs(client, 4), streams=4, buffer_chunks=2)
    assert len(list(downloads.blob(0))) == 10
    with pytest.raises(RegistryError, match="wrong bytes"):
        list(downloads.blob(1))
    downloads.close()
    with client.lock:
        assert {"d0", "d1", "d2", "d3"} == client.closed  # every response closed


def test_cancel_stops_a_consumer_waiting_for_a_silent_registry() -> None:
    client = FakeClient(chunks=10)
    client.gate.clear()  # the registry sends nothing
    token = CancelToken()
    downloads = Downloads(jobs(client, 2), streams=2, cancel=token)
    token.cancel()
    with pytest.raises(Cancelled):
        list(downloads.blob(0))
    downloads.close(wait=0.5)  # does not hang on the stuck streams
    client.gate.set()
