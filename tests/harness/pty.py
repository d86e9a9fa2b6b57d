"""Run a program on a pseudo-terminal and wait until a text shows on its screen.

The wizard only opens when stdin and stdout are terminals, so a test (or the benchmark) gives it
one: output is read as it comes (select with a deadline, never a sleep), escape sequences are
stripped, and the clock stops when the text first appears.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<>=!]*[ -/]*[@-~]"  # CSI
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    rb"|\x1bP[^\x1b]*\x1b\\"  # DCS
    rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]"
)
CTRL_Q = b"\x11"


@dataclass(frozen=True)
class ScreenRun:
    seconds: float  # from start to the text first appearing
    screen: str  # everything shown, escape sequences stripped
    code: int  # exit code after the quit keys


def plain(output: bytes | bytearray) -> str:
    return _ESCAPES.sub(b"", output).decode("utf-8", "replace")


def run_until_text(
    argv: Sequence[str | os.PathLike[str]],
    text: str,
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 60.0,
    size: tuple[int, int] = (40, 120),
    quit_keys: bytes = CTRL_Q,
) -> ScreenRun:
    """Start `argv` on a new pty of `size` (rows, columns), return when `text` is on screen
    (AssertionError with the screen so far if it is not within `timeout`), then send
    `quit_keys` and wait for the exit code."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    start = time.monotonic()
    proc = subprocess.Popen(
        [os.fspath(a) for a in argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    output = bytearray()
    try:
        seen = _read_until(master, output, start + timeout, lambda: text in plain(output))
        if seen is None:
            raise AssertionError(f"{text!r} not on screen within {timeout:.0f} s:\n{plain(output)}")
        os.write(master, quit_keys)
        _read_until(master, output, time.monotonic() + timeout, lambda: False)
        code = proc.wait(timeout=timeout)
        return ScreenRun(seen - start, plain(output), code)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


def _read_until(
    master: int, output: bytearray, deadline: float, done: Callable[[], bool]
) -> float | None:
    """Read into `output` until done() (returns the time), EOF or the deadline (None)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # EIO: every process holding the pty's other end has exited
            if exc.errno == errno.EIO:
                return None
            raise
        if not chunk:
            return None
        output.extend(chunk)
        if done():
            return time.monotonic()
