"""How a command runs: progress bars on a terminal (rich, loaded only then) and Ctrl-C as a
cancel the domain honours at a chunk boundary."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress


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
