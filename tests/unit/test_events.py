"""events.Throttle: few events per second, and the last one of a burst is never lost."""

from __future__ import annotations

import threading

from airgap_tui.events import Progress, Throttle


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def burst(n: int, *, stage: str = "save", item: str = "part-001") -> list[Progress]:
    return [Progress(stage, item, done=i, total=n) for i in range(1, n + 1)]


def test_a_burst_sends_the_first_at_once_and_holds_the_last() -> None:
    clock, seen = Clock(), []
    throttle = Throttle(seen.append, rate=10, clock=clock)
    try:
        for event in burst(1000):
            throttle(event)
        assert [e.done for e in seen] == [1]  # the rest came within the same tenth of a second
        throttle.flush()
        assert [e.done for e in seen] == [1, 1000]  # the latest, not a stale one
    finally:
        throttle.close()


def test_one_event_per_interval_when_time_moves() -> None:
    clock, seen = Clock(), []
    throttle = Throttle(seen.append, rate=10, clock=clock)
    try:
        for event in burst(30):
            throttle(event)
            clock.now += 0.01  # 100 events per second offered
        assert len(seen) == 3  # 10 per second kept: at 0.0, 0.1 and 0.2 s
    finally:
        throttle.close()


def test_the_held_event_arrives_by_itself_when_the_stream_stops() -> None:
    """No flush, no further event: the timer delivers it (a bar stuck at 99 % was the bug)."""
    arrived = threading.Event()
    seen: list[Progress] = []

    def deliver(event: Progress) -> None:
        seen.append(event)
        if event.done == 50:
            arrived.set()

    throttle = Throttle(deliver, rate=20)
    try:
        for event in burst(50):
            throttle(event)
        assert arrived.wait(10), [e.done for e in seen]
        assert seen[-1].done == 50 and seen[0].done == 1
    finally:
        throttle.close()


def test_a_final_event_passes_at_once_and_drops_what_was_held_for_its_item() -> None:
    clock, seen = Clock(), []
    throttle = Throttle(seen.append, rate=10, clock=clock)
    try:
        throttle(Progress("pull", "a", 1, 10))
        throttle(Progress("pull", "a", 5, 10))  # held
        throttle(Progress("pull", "a", 10, 10, final=True))
        throttle.flush()
        assert [(e.done, e.final) for e in seen] == [(1, False), (10, True)]
    finally:
        throttle.close()


def test_items_are_throttled_separately() -> None:
    clock, seen = Clock(), []
    throttle = Throttle(seen.append, rate=10, clock=clock)
    try:
        throttle(Progress("pull", "a", 1))
        throttle(Progress("pull", "b", 1))
        throttle(Progress("push", "a", 1))
        assert [(e.stage, e.item) for e in seen] == [("pull", "a"), ("pull", "b"), ("push", "a")]
    finally:
        throttle.close()


def test_close_flushes_and_nothing_is_sent_after_it() -> None:
    clock, seen = Clock(), []
    with Throttle(seen.append, rate=10, clock=clock) as throttle:
        throttle(Progress("save", "p", 1))
        throttle(Progress("save", "p", 2))
    assert [e.done for e in seen] == [1, 2]
    clock.now += 1
    throttle(Progress("save", "p", 3))  # passes straight through: due, nothing is held
    throttle(Progress("save", "p", 4))  # held, and no timer runs after close
    assert [e.done for e in seen] == [1, 2, 3]
