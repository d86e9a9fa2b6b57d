"""A small bundle's files hashed on a thread while the command is still importing its code.

`verify` and `import` start by hashing every part. On a small bundle the interpreter's start-up
and imports take longer than that hashing, so the CLI starts this first thing: a thread hashes
the files a bundle holds (`images.tar.NNN`, `airgap-tui.pyz`; regular files only, links not
followed, at most PREHASH_LIMIT bytes in all, else nothing), each read from the media as
check_parts reads it (cached pages dropped first). check_parts then takes a digest from here only
for the very file it opened: same device, inode, size, modification and change times as when it
was hashed, unchanged from the first byte to the last; anything else is hashed as before.
Light to import on purpose (no YAML, no manifest, no re or pathlib): the console script starts
it before the CLI's code is loaded (cli/launch.py). While it runs the interpreter switches
threads every SWITCH_INTERVAL instead of every 5 ms: after each read and each hash of a chunk
this thread waits for the lock the importing thread holds, and at 5 ms a wait those waits
made the hashing several times slower than the drive.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading

PREHASH_LIMIT = 128 * 1024 * 1024  # bytes: larger bundles are hashed part by part, as they go
MAX_ENTRIES = 4096  # directory entries looked at (a hostile stick may hold millions)
PART_PREFIX, TOOL_NAME = "images.tar.", "airgap-tui.pyz"  # as part_name() and TOOL_FILE give
SWITCH_INTERVAL = 0.0005  # s, while hashing (see above)
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_CHUNK = 1 << 20  # reads overlap hashing; fewer, larger ones each wait longer for the GIL

Identity = tuple[int, int, int, int, int]


def is_bundle_file(name: str) -> bool:
    """A name part_name() or TOOL_FILE gives (tests/unit/test_prehash.py checks they agree)."""
    if name == TOOL_NAME:
        return True
    digits = name[len(PART_PREFIX) :] if name.startswith(PART_PREFIX) else ""
    return 3 <= len(digits) <= 6 and digits.isascii() and digits.isdigit()


def identity(st: os.stat_result) -> Identity:
    """What says a file is the same one, unchanged: device, inode, size, mtime, ctime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_switching = threading.Lock()
_hashing = 0  # PartHashes threads hashing now
_before = 0.0  # the switch interval before the first of them started


def _quick_switches(on: bool) -> None:
    """SWITCH_INTERVAL while any PartHashes thread hashes; the interval before, after the last."""
    global _hashing, _before
    with _switching:
        if on:
            if not _hashing:
                _before = sys.getswitchinterval()
                sys.setswitchinterval(min(_before, SWITCH_INTERVAL))
            _hashing += 1
        else:
            _hashing -= 1
            if not _hashing:
                sys.setswitchinterval(_before)


class PartHashes:
    """The sha256 of each bundle file in `directory`, computed on a thread started by start()."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)
        self._listed = threading.Event()
        self._pending: dict[str, threading.Event] = {}
        self._digests: dict[str, tuple[Identity, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="airgap-tui-prehash", daemon=True)

    def start(self) -> PartHashes:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop at the next chunk and wait for the thread: the command is over (a refused
        bundle.yaml leaves its parts unread), and nothing reads on behind its back."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def take(self, name: str, st: os.stat_result) -> str | None:
        """The sha256 of `name` when it was hashed here as the file `st` describes, else None
        (then the caller hashes it). Waits for that file's hash if it is under way."""
        self._listed.wait()
        pending = self._pending.get(name)
        if pending is None:
            return None
        pending.wait()
        found = self._digests.get(name)
        if found is None or found[0] != identity(st):
            return None
        return found[1]

    def _run(self) -> None:
        try:
            names = self._choose()
            self._pending = {name: threading.Event() for name in names}
        finally:
            self._listed.set()
        if not names:
            return
        _quick_switches(True)
        try:
            for name in names:
                try:
                    if not self._stop.is_set():
                        self._hash(name)
                except OSError:
                    pass  # check_parts reads it again and names what is wrong
                finally:
                    self._pending[name].set()
        finally:
            _quick_switches(False)

    def _choose(self) -> list[str]:
        """The bundle's files, in name order, when they add up to at most PREHASH_LIMIT."""
        chosen: list[str] = []
        total = 0
        try:
            with os.scandir(self.directory) as entries:
                for seen, entry in enumerate(entries):
                    if seen >= MAX_ENTRIES:
                        return []
                    if not is_bundle_file(entry.name) or not entry.is_file(follow_symlinks=False):
                        continue
                    total += entry.stat(follow_symlinks=False).st_size
                    if total > PREHASH_LIMIT:
                        return []
                    chosen.append(entry.name)
        except OSError:
            return []
        return sorted(chosen)

    def _hash(self, name: str) -> None:
        fd = os.open(os.path.join(self.directory, name), _FLAGS)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                return
            if hasattr(os, "posix_fadvise"):  # read the drive, not the page cache, ahead
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            hasher = hashlib.sha256()
            remaining = before.st_size
            while remaining > 0:
                if self._stop.is_set():
                    return
                block = os.read(fd, min(_CHUNK, remaining))
                if not block:
                    return
                hasher.update(block)
                remaining -= len(block)
            if os.read(fd, 1) or identity(os.fstat(fd)) != identity(before):
                return  # it changed while being read: hashed again by check_parts
            self._digests[name] = (identity(before), hasher.hexdigest())
        finally:
            os.close(fd)
