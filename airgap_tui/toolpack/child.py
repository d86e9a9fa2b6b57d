"""The carried tool built in a child process at low CPU priority, beside an export's downloads.

An export's downloads keep both cores of a small machine busy (hashing, writing, reading back),
and a build in the exporting process would take its share of them and of its interpreter lock.
Built here instead, in `python -m airgap_tui.toolpack.child` at nice NICE, it runs on what the
downloads leave idle, then at full speed once they are done. Same members in, same bytes out as
toolpack.build_tool in the exporting process (the bytecode is compiled in a fresh interpreter
either way), so the cache's key holds.

The parent sends the members as JSON on stdin and reads the archive on stdout; a ToolError in
the child comes back as one line on stderr and exit status 3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import IO

from airgap_tui.events import CancelToken
from airgap_tui.toolpack.members import ROOT_DISTRIBUTION, Member, ToolError
from airgap_tui.toolpack.toolpack import build_tool, main_source

NICE = 10  # lower than the export's own threads: the downloads come first
_TOOL_ERROR = 3
_READ = 1 << 20


class ChildBuild:
    """toolpack.build_tool(members=...) run by a child process at nice NICE: call it with the
    members (as cache.load_or_build does); `start()` spawns the child ahead of that, while the
    caller still collects the members (the interpreter's start-up is then off the path), and
    `close()` ends a child that was never given any work."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildBuild:
        if self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "airgap_tui.toolpack.child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        return self

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _end(process, None, stderr=True)

    def __call__(
        self, *, members: list[Member], root: str = ROOT_DISTRIBUTION, cancel: CancelToken | None
    ) -> bytes:
        """The archive's bytes; `cancel` kills the child."""
        process = self._process if self._process is not None else self.start()._process
        assert process is not None
        self._process = None  # one build per child
        feeder: threading.Thread | None = None
        chunks: list[bytes] = []
        try:
            prefetch(members)  # while the child's interpreter starts
            feeder = threading.Thread(
                target=_feed, args=(process.stdin, _request(members, root)), daemon=True
            )
            feeder.start()
            assert process.stdout is not None
            while chunk := os.read(process.stdout.fileno(), _READ):
                if cancel is not None:
                    cancel.check("Packing airgap-tui.pyz")  # _end below kills the child
                chunks.append(chunk)
            if cancel is not None:
                cancel.check("Packing airgap-tui.pyz")
            status = process.wait()
        except BaseException:
            _end(process, feeder, stderr=True)
            raise
        _end(process, feeder)
        _raise_for(status, process.stderr)  # reads and closes stderr
        return b"".join(chunks)


def _end(
    process: subprocess.Popen[bytes], feeder: threading.Thread | None, *, stderr: bool = False
) -> None:
    """The child killed if it still runs, its pipes closed (stderr only when asked: it is
    read by _raise_for after a build that ran to its end)."""
    if process.poll() is None:
        process.kill()
        process.wait()
    if feeder is not None:
        feeder.join()
    elif process.stdin is not None:
        process.stdin.close()
    if process.stdout is not None:
        process.stdout.close()
    if stderr and process.stderr is not None:
        process.stderr.close()


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
    """The child: members in on stdin, the archive out on stdout."""
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
    try:
        data = build_tool(root=request["root"], members=members, main=request["main"])
    except ToolError as exc:
        sys.stderr.write(exc.sentence() + "\n")
        return _TOOL_ERROR
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
