"""The carried tool made on its own thread while an export resolves and downloads.

An export starts the builder before it resolves. The builder collects what goes into the archive
first, so a tool that cannot be built is refused before the first download (`expected_size`).
Then it takes the archive from the user's cache (toolpack.cache) or builds it in a child process
at low priority (toolpack.child: the downloads come first). Given a child the console script
started before the CLI loaded (toolpack.early), it takes what that child collected and built
instead: its thread then collects nothing while the export resolves. Once the export has locked
its bundle directory and says so (`write_into`), it writes airgap-tui.pyz there (.part, fsync,
read back, rename) beside the parts. After the last part the export waits only for what is left
of all that (`written`), then writes bundle.yaml: still last.
"""

from __future__ import annotations

import threading
from pathlib import Path

from airgap_tui.events import CancelToken, Progress
from airgap_tui.toolpack.cache import (
    any_kept,
    build_key,
    cache_dir,
    keep,
    load_kept,
    load_or_build,
    recorded_size,
)
from airgap_tui.toolpack.child import ChildBuild, EarlyHead
from airgap_tui.toolpack.members import ROOT_DISTRIBUTION, collect_members
from airgap_tui.toolpack.toolpack import TOOL_FILE, ToolBuild, ToolInfo, tool_size, write_tool

_POLL = 0.05  # s: how soon a waiting caller notices its own cancel


class ToolBuilder:
    """One export's carried tool on a thread. `stop()` makes it give up at its next file or
    chunk; `close()` stops it and waits for the thread, so nothing is written after the export
    has left its bundle directory."""

    def __init__(
        self,
        root: str = ROOT_DISTRIBUTION,
        *,
        directory: Path | None = None,
        child: ChildBuild | None = None,
    ) -> None:
        self.root = root
        self.directory = cache_dir() if directory is None else directory
        self._child = child  # one started before the CLI loaded (toolpack.early), if any
        self._in_use: ChildBuild | None = None  # the child the thread reads: stop() ends it
        self.cancel = CancelToken()
        self._size = 0
        self._result: ToolBuild | None = None
        self._written: ToolInfo | None = None
        self._error: BaseException | None = None
        self._target: Path | None = None
        self.outcome = ""  # what write_tool did: "written", or "kept" (an identical one was there)
        self._ready, self._built, self._finished = (threading.Event() for _ in range(3))
        self._target_set = threading.Event()
        self._thread = threading.Thread(target=self._run, name="airgap-tui-tool", daemon=True)

    def start(self) -> ToolBuilder:
        self._thread.start()
        return self

    def _run(self) -> None:
        child = self._child if self._child is not None else ChildBuild()
        try:
            if child.early and self.root != ROOT_DISTRIBUTION:
                child.close()  # it collects the default tool's members
            head = self._use(child).head(self.cancel) if child.early else None
            if head is not None:
                self._size = head.size
                self._ready.set()
                self._result = self._from_early(child, head)
            else:
                self._result = self._collect_and_build(child)
            child.close()
            self._built.set()
            self._target_set.wait()
            if self._target is not None:
                self._written = write_tool(
                    self._target, cancel=self.cancel, built=self._result, progress=self._note
                )
        except BaseException as exc:  # handed to the caller's next wait: its thread raises it
            self._error = exc
        finally:
            child.close()
            if self._in_use is not None:
                self._in_use.close()  # the one that built in the early child's place
            self._finished.set()

    def _use(self, child: ChildBuild) -> ChildBuild:
        """`child` is the one stop() ends from now on; a stop() before this is met here."""
        self._in_use = child
        self.cancel.check(f"Packing {TOOL_FILE}")
        return child

    def _collect_and_build(self, child: ChildBuild) -> ToolBuild:
        self._use(child)
        if not any_kept(self.directory):  # a first build: the child starts meanwhile
            child.start()
        members = collect_members(self.root)
        key = build_key(members, self.root)
        self._size = recorded_size(self.directory, key) or tool_size(self.root, members)
        self._ready.set()
        return load_or_build(
            members, key, self.directory, self.root, cancel=self.cancel, build=child
        )

    def _from_early(self, child: ChildBuild, head: EarlyHead) -> ToolBuild:
        """The archive of the members the early child collected (this thread collects none):
        from the cache, else as the child builds it; when the cache no longer gives the one
        the child found there (damaged, removed), built here as without an early child."""
        kept = load_kept(self.directory, head.key)
        if kept is not None:
            return kept
        if not head.kept:
            return keep(self.directory, head.key, child.archive(self.cancel))
        child.close()
        return self._collect_and_build(ChildBuild())

    @property
    def done(self) -> bool:
        """The archive is had (built or from the cache), or the build failed."""
        return self._built.is_set() or self._finished.is_set()

    def expected_size(self, cancel: CancelToken | None = None) -> int:
        """The archive's size (exact when cached, else estimated), once what goes into it is
        known; raises the ToolError that says why it cannot be built here."""
        self._wait(self._ready, cancel)
        return self._size

    def result(self, cancel: CancelToken | None = None) -> ToolBuild:
        """The archive (the caller's `cancel` stops the wait and the build)."""
        self._wait(self._built, cancel)
        assert self._result is not None
        return self._result

    def write_into(self, directory: Path) -> None:
        """Write airgap-tui.pyz into `directory` (existing, locked by the caller) once built."""
        self._target = directory
        self._target_set.set()

    def written(self, cancel: CancelToken | None = None) -> ToolInfo:
        """What write_into wrote (name, size, sha256, from the cache or not)."""
        self._wait(self._finished, cancel)
        assert self._written is not None, "written() without write_into()"
        return self._written

    def _note(self, event: Progress) -> None:
        if event.final:
            self.outcome = event.message

    def discard(self) -> None:
        """Stop, and remove the airgap-tui.pyz this builder wrote (not one it found there)."""
        self.close()
        if self._target is not None and self.outcome == "written":
            try:
                (self._target / TOOL_FILE).unlink()
            except FileNotFoundError:
                pass

    def stop(self) -> None:
        self.cancel.cancel()
        self._target_set.set()
        if self._in_use is not None:
            self._in_use.kill()  # a build under way ends now, not when its archive is done

    def close(self) -> None:
        """Stop an unfinished build or write and wait for the thread to end."""
        if not self._finished.is_set():
            self.stop()
        if self._thread.is_alive():
            self._thread.join()
        if self._child is not None:
            self._child.close()  # given, and the thread never started or has ended

    def _wait(self, event: threading.Event, cancel: CancelToken | None) -> None:
        """Until `event`, or the thread ended without it (its error is raised here)."""
        while True:
            if cancel is not None and cancel.cancelled:
                self.stop()
                cancel.check(f"Packing {TOOL_FILE}")
            if event.wait(_POLL) or self._finished.is_set():
                break
        if self._error is not None and (event is self._finished or not event.is_set()):
            raise self._error
