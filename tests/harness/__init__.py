"""Launchers for real engines and registries on loopback, shared by tests and benchmarks.

The helpers here are the process plumbing every launcher needs: a free loopback port, polling a
condition against a deadline (never a fixed sleep), and stopping a process group for certain.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"

_PR_SET_PDEATHSIG = 1
# Set by scripts/test.sh for its `-m "not integration"` run: no daemon may start in it.
NO_SERVICES = "AIRGAP_TUI_NO_SERVICES"
_live: dict[int, subprocess.Popen[bytes]] = {}


class HarnessError(RuntimeError):
    """A launcher could not bring its service up (the message carries the log tail)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out on `host`; callers retry if someone else takes it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    alive: Callable[[], str | None] | None = None,
) -> T:
    """Poll `probe` until it returns a non-None value or `timeout` passes.

    `alive` returns an error text when the thing waited for has died, so a crashed daemon fails
    fast instead of running out the clock.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if alive is not None:
            dead = alive()
            if dead:
                raise HarnessError(f"{what}: {dead}")
        try:
            value = probe()
        except Exception as exc:  # probes fail in many ways until the service is up
            last_error = exc
            value = None
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f"{what}: not ready after {timeout:.0f}s (last error: {last_error})")
        time.sleep(interval)


def _die_with_parent() -> None:
    """Child-side: ask the kernel to SIGTERM us if the test process dies (no orphaned daemons)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a daemon in its own session, output appended to `log_path`.

    The child gets PDEATHSIG=SIGTERM, which fires when the *thread* that spawned it exits: spawn
    from the main thread (pytest fixtures do) or from a thread that outlives the daemon.
    """
    if os.environ.get(NO_SERVICES):
        raise HarnessError(
            f"{os.fspath(argv[0])}: this run starts no engine or registry ({NO_SERVICES} is "
            "set); a test that needs one is an integration test (tests/conftest.py)"
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [os.fspath(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # only prctl runs between fork and exec
        )
    _live[proc.pid] = proc
    return proc


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = 20.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left; safe to call twice."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # Children that outlived the leader (e.g. containerd-shim) share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    finally:
        _live.pop(proc.pid, None)


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a daemon log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@atexit.register
def _stop_leftovers() -> None:
    """Last line of defence when a session ends without running its finalisers."""
    for proc in list(_live.values()):
        stop_process(proc, timeout=10.0)
