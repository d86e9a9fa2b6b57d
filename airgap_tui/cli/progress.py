"""Rich progress bars for the CLI on a terminal: one bar per (stage, item)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from airgap_tui import events
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress


class RichProgress:
    """A ProgressCallback that draws to stderr; throttled so a fast stream stays cheap."""

    def __init__(self, console: Console | None = None) -> None:
        self._bars = Progress(
            TextColumn("{task.fields[stage]:<9}"),
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}
        self._throttle = events.Throttle(self._draw, rate=10)

    def __enter__(self) -> RichProgress:
        self._bars.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._throttle.close()  # the last update of every bar is drawn before they stop
        self._bars.__exit__(exc_type, exc, tb)

    def __call__(self, event: events.Progress) -> None:
        self._throttle(event)

    def _draw(self, event: events.Progress) -> None:
        key = (event.stage, event.item)
        task = self._tasks.get(key)
        if task is None:
            name = event.item if len(event.item) <= 48 else "…" + event.item[-47:]
            task = self._bars.add_task(name, total=event.total, stage=event.stage)
            self._tasks[key] = task
        self._bars.update(task, completed=event.done, total=event.total)
        if event.final:
            self._bars.update(
                task,
                completed=event.total or event.done,
                description=f"{event.item} {'ok' if event.ok else 'FAILED'}",
            )


@contextmanager
def _progress(args: argparse.Namespace) -> Iterator[ProgressCallback]:
    """Rich progress bars on a TTY (when not --json); otherwise nothing."""
    if getattr(args, "json", False) or not sys.stderr.isatty():
        yield ignore_progress
        return
    from airgap_tui.cli.progress import RichProgress

    with RichProgress() as bars:
        yield bars


@contextmanager
def _cancel_on_sigint() -> Iterator[CancelToken]:
    """First Ctrl-C asks the domain to stop at a chunk boundary; a second one aborts."""
    token = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def handler(_sig: int, _frame: Any) -> None:
        if token.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        print("\nairgap-tui: stopping at the next chunk boundary…", file=sys.stderr)
        token.cancel()

    signal.signal(signal.SIGINT, handler)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)
