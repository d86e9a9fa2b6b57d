"""prefetch: a producer thread ahead of its consumer, bounded, errors and stops carried over."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airgap_tui.pipeline import prefetch


def test_items_arrive_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for i in range(1000):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(source(), depth=4)) == list(range(1000))
    assert threads == {"airgap-tui-prefetch"}


def test_the_producer_stays_at_most_depth_items_ahead() -> None:
    produced = 0
    lead: list[int] = []
    consumed = 0
    lock = threading.Lock()

    def source() -> Iterator[int]:
        nonlocal produced
        for i in range(200):
            with lock:
                lead.append(produced - consumed)
                produced += 1
            yield i

    for _ in prefetch(source(), depth=3):
        with lock:
            consumed += 1
    # before producing item n+1 the producer has handed over at most depth + the one in hand
    assert max(lead) <= 3 + 1
    assert produced == consumed == 200


def test_a_producer_error_arrives_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("the engine hung up")

    got: list[int] = []
    with pytest.raises(OSError, match="hung up"):
        for item in prefetch(source()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_closes_the_source_in_its_own_thread() -> None:
    closed_in: list[str] = []
    started = threading.Event()

    def source() -> Iterator[int]:
        try:
            for i in range(10**9):
                started.set()
                yield i
        finally:
            closed_in.append(threading.current_thread().name)

    stream = prefetch(source(), depth=2)
    assert next(stream) == 0
    stream.close()  # joins the producer: the source is closed when this returns
    assert started.is_set()
    assert closed_in == ["airgap-tui-prefetch"]


def test_a_consumer_error_stops_the_producer() -> None:
    finished = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(10**9)
        finally:
            finished.set()

    with pytest.raises(ValueError):
        for item in prefetch(source(), depth=2):
            if item == 5:
                raise ValueError("the media is full")
    assert finished.is_set()
