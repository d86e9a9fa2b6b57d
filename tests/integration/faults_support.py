"""Shared pieces of the fault matrix (tests/integration/test_faults_*.py); holds no tests.

Fixtures defined here are imported by name into the test modules that use them. The engine
relay puts a Unix socket between the CLI and a session engine so a test can hold one response
(or request body) at a chosen byte offset: a subprocess is then stopped at a known point of an
export or import by polling a condition, never by sleeping.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from airgap_tui.catalog.load import load_catalog
from airgap_tui.export.run import ExportRequest, ExportResult, export_bundle
from airgap_tui.models import ImageSpec
from tests.harness import REPO_ROOT, wait_until
from tests.harness.engine import EngineHandle
from tests.harness.native import SOURCE_PATH, NativeUpstream

ANALYZERS = ("semgrep", "secrets:7", "gemnasium")
IMAGE_NAMES = ("semgrep", "secrets", "gemnasium")
TAGS = {"semgrep": "6", "secrets": "7", "gemnasium": "6"}  # what ANALYZERS resolve to
# The export fault matrix: the native upstream's catalog images (kics has the zstd layer).
NATIVE_ANALYZERS = (*ANALYZERS, "kics")
MiB = 1024 * 1024
WAIT = 120.0  # upper bound for conditions polled in these tests (they normally take < 2 s)


def specs_for(prefix: str, analyzers: tuple[str, ...] = ANALYZERS) -> list[ImageSpec]:
    catalog = load_catalog()
    return [catalog.resolve(a, 18, prefix) for a in analyzers]


def export_with_domain(
    upstream: NativeUpstream,
    dest: Path,
    *,
    host: str | None = None,
    part_size: int = MiB,
    analyzers: tuple[str, ...] = NATIVE_ANALYZERS,
    tool: bool = True,
    **kwargs: Any,
) -> ExportResult:
    """export_bundle() through the domain API (for progress callbacks the CLI does not offer);
    `host` reaches the upstream through another address (a RegistryRelay)."""
    prefix = f"{host or upstream.host}/{SOURCE_PATH}"
    request = ExportRequest(
        specs=specs_for(prefix, analyzers),
        dest=dest,
        part_size=part_size,
        source_prefix=prefix,
        tool=tool,
    )
    return export_bundle(request, **kwargs)


def export_argv(
    upstream: Any,
    dest: Path,
    part_size: str = "1MiB",
    host: str | None = None,
    analyzers: tuple[str, ...] = ANALYZERS,
) -> list[str]:
    """The CLI export of `analyzers` from `upstream.prefix` (or through `host`)."""
    return [
        "export",
        *analyzers,
        "--to",
        str(dest),
        "--part-size",
        part_size,
        "--source-prefix",
        f"{host}/{SOURCE_PATH}" if host else upstream.prefix,
        "--json",
    ]


# --------------------------------------------------------------------------- bundles


_PRISTINE: dict[str, Path] = {}  # upstream -> bundle, per session


@pytest.fixture(scope="module")
def exported(native_upstream: NativeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pristine format 2 bundle of ANALYZERS for the session; tests damage copies of it
    (`bundle`). Never modify it: copy it, or export anew."""
    key = native_upstream.prefix
    if key not in _PRISTINE:
        dest = tmp_path_factory.mktemp("pristine") / "bundle"
        result = export_with_domain(native_upstream, dest, analyzers=ANALYZERS)
        assert result.ok, result.problems
        assert len(result.parts_written) >= 3, result  # the matrix needs middle and last parts
        _PRISTINE[key] = dest
    return _PRISTINE[key]


@pytest.fixture
def bundle(exported: Path, tmp_path: Path) -> Path:
    """A fresh copy of the pristine bundle for one test to damage."""
    dest = tmp_path / "bundle"
    shutil.copytree(exported, dest)
    return dest


def part_files(bundle_dir: Path) -> list[Path]:
    return sorted(p for p in bundle_dir.glob("images.tar.*") if not p.name.endswith(".part"))


def tree_state(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under `root`: (mode, size, mtime_ns, sha256) — to prove nothing changed."""
    found: dict[str, tuple[int, int, int, str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = ""
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    st = root.lstat()
    found["."] = (st.st_mode, st.st_size, st.st_mtime_ns, "")
    return found


# --------------------------------------------------------------------------- engine state


def engine_images(engine: EngineHandle) -> list[str]:
    """Every image the engine holds (IDs), to prove nothing was loaded."""
    client = engine.client()
    try:
        return [image.id for image in client.images.list(all=True)]
    finally:
        client.close()


def wipe_engine(engine: EngineHandle) -> None:
    client = engine.client()
    try:
        for image in client.images.list(all=True):
            client.images.remove(image.id, force=True)
    finally:
        client.close()


def tags_with_auth(
    url: str, repository: str, auth: tuple[str, str] | None = None, verify: str | bool = True
) -> list[str]:
    """Tags a registry serves (404 = none), with basic auth and a CA when given."""
    response = requests.get(
        f"{url}/v2/{repository}/tags/list", auth=auth, verify=verify, timeout=30
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return list(response.json().get("tags") or [])


# --------------------------------------------------------------------------- media


@contextlib.contextmanager
def mounted_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` (the kernel's own ENOSPC and read-only errors); root only."""
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


# --------------------------------------------------------------------------- the CLI as a process


@dataclass
class CliProcess:
    """`python -m airgap_tui …` with its output in files, so a test can poll them."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def err_text(self) -> str:
        return self.stderr.read_text(errors="replace")

    def out_text(self) -> str:
        return self.stdout.read_text(errors="replace")

    def wait(self, timeout: float = WAIT) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def start_cli(
    argv: list[str], workdir: Path, *, docker_host: str, env: dict[str, str] | None = None
) -> CliProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = workdir / "stdout.txt", workdir / "stderr.txt"
    environment = {**os.environ, "DOCKER_HOST": docker_host, **(env or {})}
    environment.pop("NO_COLOR", None)
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airgap_tui", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=environment,
            cwd=REPO_ROOT,
        )
    return CliProcess(proc, stdout, stderr)


@pytest.fixture
def cli_processes() -> Iterator[list[CliProcess]]:
    """Register started CLI processes here: any still running at teardown is killed."""
    started: list[CliProcess] = []
    yield started
    for process in started:
        process.stop()


# --------------------------------------------------------------------------- the engine relay


@dataclass
class _Hold:
    match: bytes  # seen in a client->engine chunk: that request is the one to hold
    nth: int  # hold the nth request that matches (1 = the first)
    after: int  # bytes passed on before holding
    direction: str  # "response" (engine->client) or "request" (client->engine, e.g. a body)
    seen: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class EngineRelay:
    """A Unix socket that relays to a Docker engine and can hold one transfer at a byte offset.

    With `hold(match, after=N)`, the nth request whose bytes contain `match` gets N bytes of its
    response (or of its request, body included) through, then nothing until `release()`;
    `held` is set when the relay starts holding. Everything else passes untouched.
    """

    def __init__(self, engine_socket: str) -> None:
        self.engine_socket = engine_socket
        self._dir = Path(tempfile.mkdtemp(prefix="agt-relay-", dir="/tmp"))  # short: < 108 bytes
        self.path = self._dir / "docker.sock"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen(64)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._rule: _Hold | None = None
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def hold(self, match: bytes, *, after: int, nth: int = 1, direction: str = "response") -> _Hold:
        assert direction in ("response", "request")
        self._rule = _Hold(match, nth, after, direction)
        return self._rule

    def close(self) -> None:
        self._closed = True
        if self._rule is not None:
            self._rule.release.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.engine_socket)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            state: dict[str, Any] = {"watched": False, "count": 0}
            for src, dst, direction in (
                (client, upstream, "request"),
                (upstream, client, "response"),
            ):
                threading.Thread(
                    target=self._pump, args=(src, dst, direction, state), daemon=True
                ).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, direction: str, state: dict[str, Any]
    ) -> None:
        try:
            while True:
                data = src.recv(256 * 1024)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                rule = self._rule
                if rule is not None and direction == "request" and rule.match in data:
                    with self._lock:
                        rule.seen += 1
                        if rule.seen == rule.nth:
                            state["watched"] = True
                if rule is not None and state["watched"] and direction == rule.direction:
                    room = rule.after - state["count"]
                    if 0 <= room < len(data) and not rule.release.is_set():
                        dst.sendall(data[:room])
                        state["count"] += room
                        data = data[room:]
                        rule.held.set()
                        rule.release.wait()
                    state["count"] += len(data)
                dst.sendall(data)
        except OSError:
            with contextlib.suppress(OSError):
                dst.close()


@pytest.fixture
def relay(engine: EngineHandle) -> Iterator[EngineRelay]:
    """A relay in front of the session engine; point DOCKER_HOST at `relay.docker_host`."""
    relay = EngineRelay(engine.docker_host.removeprefix("unix://"))
    try:
        yield relay
    finally:
        relay.close()


def wait_for(probe: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll a condition (never a fixed sleep)."""
    return wait_until(lambda: probe() or None, timeout=timeout, what=what, interval=0.01)
