"""The carried tool built in a child process at low CPU priority, beside an export's downloads.

An export's downloads keep both cores of a small machine busy (hashing, writing, reading back),
and a build in the exporting process would take its share of them and of its interpreter lock.
Built here instead, in `python -m airgap_tui.toolpack.child` at nice NICE, it runs on what the
downloads leave idle, then at full speed once they are done. Same members in, same bytes out as
toolpack.build_tool in the exporting process (the bytecode is compiled in a fresh interpreter
either way), so the cache's key holds.

The parent sends the members as JSON on stdin and reads the archive on stdout; a ToolError in
the child comes back as one line on stderr and exit status 3. Started with `--early`
(toolpack.early), the child collects the default tool's members itself and writes one line
first (EarlyHead: their cache key, whether the user's cache holds their archive, its size),
then the archive, unless the cache holds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, NamedTuple

from airgap_tui.events import CancelToken
from airgap_tui.toolpack.early import CHILD_MODULE, EARLY, end
from airgap_tui.toolpack.members import ROOT_DISTRIBUTION, Member, ToolError
from airgap_tui.toolpack.toolpack import build_tool, main_source, tool_size

NICE = 10  # lower than the export's own threads: the downloads come first
_TOOL_ERROR = 3
_READ = 1 << 20
_MAX_HEAD = 4096  # an early child's first line (EarlyHead)


class EarlyHead(NamedTuple):
    """An early child's first line: its members' cache key, whether the user's cache holds
    their archive (the child stops there then), and the archive's size (as recorded when kept,
    else estimated: toolpack.tool_size)."""

    key: str
    kept: bool
    size: int


class ChildBuild:
    """toolpack.build_tool(members=...) run by a child process at nice NICE: call it with the
    members (as cache.load_or_build does); `start()` spawns the child ahead of that, while the
    caller still collects the members (the interpreter's start-up is then off the path), and
    `close()` ends a child that was never given any work.

    `ChildBuild(early)` adopts a child toolpack.early started before the CLI loaded, which
    collects the members itself: `head()` is what it says first, `archive()` what it builds
    (toolpack.builder takes both instead of collecting the members again)."""

    def __init__(self, early: subprocess.Popen[bytes] | None = None) -> None:
        self._process = early
        self.early = early is not None  # an early child not yet done with
        self._rest = b""  # what came after the head in the same read
        self._reading: subprocess.Popen[bytes] | None = None  # the child a thread reads now
        self._killed = False  # kill() was called: a read that begins after it ends at once
        self._lock = threading.Lock()

    def start(self) -> ChildBuild:
        if self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        return self

    def close(self) -> None:
        process, self._process = self._process, None
        self.early = False
        if process is not None:
            _end(process, None, stderr=True)

    def kill(self) -> None:
        """End the child whose output a thread is reading, or will read, so that read ends now
        and the reader finds its cancel (called from another thread: the pipes are the
        reader's)."""
        with self._lock:
            self._killed = True
            process = self._reading
        if process is not None and process.poll() is None:
            process.kill()

    def _read_from(self, process: subprocess.Popen[bytes] | None) -> None:
        """`process` is the one read from now (None: no longer); ended at once after kill()."""
        with self._lock:
            self._reading = process
            killed = self._killed
        if killed and process is not None and process.poll() is None:
            process.kill()

    def __call__(
        self, *, members: list[Member], root: str = ROOT_DISTRIBUTION, cancel: CancelToken | None
    ) -> bytes:
        """The archive's bytes; `cancel` kills the child."""
        if self.early:
            self.close()  # it builds only the members it collected itself
        process = self._process if self._process is not None else self.start()._process
        assert process is not None
        self._process = None  # one build per child

        def request() -> bytes:
            prefetch(members)  # while the child's interpreter starts
            return _request(members, root)

        return self._archive_of(process, cancel, request=request)

    def head(self, cancel: CancelToken | None) -> EarlyHead | None:
        """What the early child says first; None when it stopped without saying it (the child
        is ended, and the caller builds from the members it collects), but a ToolError it gave
        (the tool cannot be built here) is raised, as the build would raise it."""
        process = self._process
        assert self.early and process is not None
        self._read_from(process)
        try:
            head, self._rest = _read_head(process, cancel)
        except BaseException:
            self.close()
            raise
        finally:
            self._read_from(None)
        if head is None:
            if process.wait() == _TOOL_ERROR:
                self._process, self.early = None, False
                _end(process, None)
                _raise_for(_TOOL_ERROR, process.stderr)
            self.close()
        return head

    def archive(self, cancel: CancelToken | None) -> bytes:
        """The early child's archive, after a head that said it was not kept."""
        process, self._process, self.early = self._process, None, False
        assert process is not None
        return self._archive_of(process, cancel, rest=self._rest)

    def _archive_of(
        self,
        process: subprocess.Popen[bytes],
        cancel: CancelToken | None,
        *,
        rest: bytes = b"",
        request: Callable[[], bytes] | None = None,
    ) -> bytes:
        """What `process` writes until it exits (`rest`: already read of it), `request()`
        fed to its stdin meanwhile; the child ended either way, its failure raised."""
        feeder: threading.Thread | None = None
        self._read_from(process)
        try:
            if request is not None:
                feeder = threading.Thread(
                    target=_feed, args=(process.stdin, request()), daemon=True
                )
                feeder.start()
            data = _read_to_end(process, cancel, rest)
            status = process.wait()
        except BaseException:
            _end(process, feeder, stderr=True)
            raise
        finally:
            self._read_from(None)
        _end(process, feeder)
        _raise_for(status, process.stderr)  # reads and closes stderr
        return data


def _read_to_end(
    process: subprocess.Popen[bytes], cancel: CancelToken | None, head: bytes = b""
) -> bytes:
    """What the child writes on stdout until it closes it (`head`: already read of it)."""
    assert process.stdout is not None
    chunks = [head]
    while chunk := os.read(process.stdout.fileno(), _READ):
        if cancel is not None:
            cancel.check("Packing airgap-tui.pyz")  # the caller's _end kills the child
        chunks.append(chunk)
    if cancel is not None:
        cancel.check("Packing airgap-tui.pyz")
    return b"".join(chunks)


def _read_head(
    process: subprocess.Popen[bytes], cancel: CancelToken | None
) -> tuple[EarlyHead | None, bytes]:
    """An early child's first line and what followed it in the same reads; None for a line
    that is missing or not that."""
    assert process.stdout is not None
    got = b""
    while b"\n" not in got and len(got) <= _MAX_HEAD:
        chunk = os.read(process.stdout.fileno(), _READ)
        if cancel is not None:
            cancel.check("Packing airgap-tui.pyz")
        if not chunk:
            return None, b""
        got += chunk
    line, _, rest = got.partition(b"\n")
    try:
        said = json.loads(line)
        head = EarlyHead(said["key"], said["kept"], said["size"])
    except (ValueError, TypeError, KeyError):
        return None, b""
    if not isinstance(head.key, str) or len(head.key) != 64 or not isinstance(head.kept, bool):
        return None, b""
    if not isinstance(head.size, int) or isinstance(head.size, bool) or head.size <= 0:
        return None, b""
    return head, rest


def _end(
    process: subprocess.Popen[bytes], feeder: threading.Thread | None, *, stderr: bool = False
) -> None:
    """The child killed if it still runs, its pipes closed (stderr only when asked: it is
    read by _raise_for after a build that ran to its end)."""
    if feeder is not None:
        if process.poll() is None:
            process.kill()  # the feeder's write fails and it returns
        feeder.join()  # it closes stdin
    end(process, keep_stderr=not stderr)


def prefetch(members: list[Member]) -> None:
    """Ask the kernel to read every member file and its installed .pyc now, all at once: a few
    thousand small files read one by one take 0.3 s on an idle disk, and far longer beside an
    export's stream of parts; queued together they arrive in a third of that."""
    if not hasattr(os, "posix_fadvise"):
        return
    import importlib.util

    for member in members:
        if member.path is None:
            continue
        paths = [os.fspath(member.path)]
        if paths[0].endswith(".py"):
            paths.append(importlib.util.cache_from_source(paths[0]))
        for path in paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue  # the build reads it and says what is wrong
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)


def _request(members: list[Member], root: str) -> bytes:
    return json.dumps(
        {
            "root": root,
            "main": main_source(root),
            "members": [
                [m.arcname, m.distribution, os.fsdecode(m.path) if m.path else None,
                 m.data.hex() if m.data is not None else None]
                for m in members
            ],
        }
    ).encode("utf-8")  # fmt: skip


def _feed(stdin: IO[bytes] | None, request: bytes) -> None:
    assert stdin is not None
    try:
        with stdin:
            stdin.write(request)
    except BrokenPipeError:
        pass  # the child died at once: its status and stderr say why


def _raise_for(status: int, stderr: IO[bytes] | None) -> None:
    said = stderr.read().decode("utf-8", "replace").strip() if stderr is not None else ""
    if stderr is not None:
        stderr.close()
    if status == 0:
        return
    last = said.splitlines()[-1] if said else f"exit status {status}"
    if status == _TOOL_ERROR:
        raise ToolError("The carried tool (airgap-tui.pyz)", last, "Export with --no-tool")
    raise ToolError(
        "Building the carried tool",
        f"the build process stopped ({last})",
        "Run the export again; if it keeps failing, export with --no-tool",
    )


def main() -> int:
    """The child: members in on stdin, the archive out on stdout (`--early`: toolpack.early)."""
    if sys.argv[1:] == [EARLY]:
        return _build_early()
    os.nice(NICE)
    from pathlib import Path

    request = json.loads(sys.stdin.buffer.read())
    members = [
        Member(
            arcname,
            distribution,
            path=Path(path) if path is not None else None,
            data=bytes.fromhex(data) if data is not None else None,
        )
        for arcname, distribution, path, data in request["members"]
    ]
    return _build_out(members, request["root"], request["main"])


def _build_early() -> int:
    """Collect the default tool's members and say their EarlyHead; then build their archive,
    unless the user's cache holds it. The export waits for the head before its first download,
    so only the build is at nice NICE: on a busy host the head is not starved."""
    from airgap_tui.toolpack.cache import build_key, cache_dir, recorded_size
    from airgap_tui.toolpack.members import collect_members

    try:
        members = collect_members(ROOT_DISTRIBUTION)
        key = build_key(members, ROOT_DISTRIBUTION)
    except ToolError as exc:
        sys.stderr.write(exc.sentence() + "\n")
        return _TOOL_ERROR
    kept = recorded_size(cache_dir(), key)
    size = kept or tool_size(ROOT_DISTRIBUTION, members)
    head = {"key": key, "kept": kept is not None, "size": size}
    try:
        sys.stdout.buffer.write(json.dumps(head).encode("ascii") + b"\n")
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        return 1  # the export ended or went on without this child
    if kept is not None:
        return 0
    os.nice(NICE)
    prefetch(members)
    return _build_out(members, ROOT_DISTRIBUTION, main_source(ROOT_DISTRIBUTION))


def _build_out(members: list[Member], root: str, main: str) -> int:
    try:
        data = build_tool(root=root, members=members, main=main)
    except ToolError as exc:
        sys.stderr.write(exc.sentence() + "\n")
        return _TOOL_ERROR
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
