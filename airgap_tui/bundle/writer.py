"""Writing a bundle: the part writer (one tar split into parts), stale parts, the finish.

A bundle is one directory: one tar split into parts (`images.tar.000`, …) and `bundle.yaml`,
written last (manifest.py), that lists them with their sizes and sha256. Every write is
.part → fsync → rename → fsync dir, so after a crash a file either has its final name and is
complete, or it does not. Part names and checks live in parts.py, resume state in journal.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from airgap_tui.bundle.atomic import fsync_dir, unlink_durably, write_all
from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.manifest import JOURNAL_NAME as JOURNAL_NAME
from airgap_tui.bundle.manifest import KNOWN_FILES as KNOWN_FILES
from airgap_tui.bundle.manifest import MANIFEST_NAME as MANIFEST_NAME
from airgap_tui.bundle.manifest import MAX_MANIFEST_BYTES as MAX_MANIFEST_BYTES
from airgap_tui.bundle.manifest import MAX_PART_SIZE as MAX_PART_SIZE
from airgap_tui.bundle.manifest import MIN_PART_SIZE as MIN_PART_SIZE
from airgap_tui.bundle.manifest import BundleManifest as Manifest2
from airgap_tui.bundle.manifest import BundlePart as BundlePart
from airgap_tui.bundle.manifest import format_fingerprint as format_fingerprint
from airgap_tui.bundle.manifest import is_safe_part_name as is_safe_part_name
from airgap_tui.bundle.manifest import show as show
from airgap_tui.bundle.manifest import utc_now as utc_now
from airgap_tui.bundle.manifest import write_manifest as write_manifest2
from airgap_tui.bundle.parts import (
    _READ_FLAGS,
    CHUNK_SIZE,
    DEFAULT_PART_SIZE,
    DEFAULT_PREFIX,
    Problem,
    _drop_cache,
    media_error,
    part_name,
)
from airgap_tui.bundle.readback import Readback, TrackedPart
from airgap_tui.errors import MediaError, UsageError
from airgap_tui.events import (
    STAGE_SAVE,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)


class _Sink:
    """One part's bytes: compared against a candidate already on the media, or written anew."""

    def __init__(
        self,
        directory: Path,
        name: str,
        candidate: BundlePart | None,
        on_diverge: Callable[[str], None],
        readback: Readback | None = None,
        part_size: int = 0,
    ) -> None:
        self.directory = directory
        self.readback = readback
        self.part_size = part_size
        self.tracked: TrackedPart | None = None
        self.on_diverge = on_diverge  # the journal must stop vouching for the old file first
        self.name = name
        self.path = directory / name
        self.tmp = directory / (name + ".part")
        self.hasher = hashlib.sha256()  # over the stream's bytes for this part
        self.size = 0
        self.candidate: BundlePart | None = None
        self.compare_fd: int | None = None
        self.write_fd: int | None = None
        if candidate is not None:
            self._open_candidate(candidate)

    @property
    def comparing(self) -> bool:
        return self.compare_fd is not None

    def _open_candidate(self, candidate: BundlePart) -> None:
        try:
            fd = os.open(self.path, _READ_FLAGS)
        except OSError:
            return
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != candidate.size:
            os.close(fd)
            return
        _drop_cache(fd)
        self.compare_fd = fd
        self.candidate = candidate

    def start_writing(self) -> None:
        """Open `<name>.part`; a stale complete file of that name goes first, to free space."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        self.write_fd = os.open(self.tmp, flags, 0o644)
        self._track()

    def _track(self) -> None:
        """Have every byte written to the new .part file read back behind the writer."""
        if self.readback is not None:
            self.tracked = self.readback.track(self.name, self.tmp, self.part_size)

    def feed(self, data: bytes | memoryview) -> None:
        if self.compare_fd is not None:
            if os.pread(self.compare_fd, len(data), self.size) == data:
                self.hasher.update(data)
                self.size += len(data)
                return
            self.diverge()
        self.write(data)

    def write(self, data: memoryview | bytes) -> None:
        assert self.write_fd is not None
        write_all(self.write_fd, data)
        self.hasher.update(data)
        self.size += len(data)
        if self.tracked is not None:
            self.tracked.wrote(data)

    def diverge(self) -> None:
        """Switch to writing: copy the prefix that matched, then the caller continues.

        The prefix equals the stream's bytes (it was just compared), so the new part is the
        current stream's, never a splice of two streams; its hash is checked to be sure the
        media returned the same bytes twice.
        """
        assert self.compare_fd is not None
        old_fd, matched, expected = self.compare_fd, self.size, self.hasher.digest()
        self.compare_fd = None
        self.candidate = None
        try:
            self.on_diverge(self.name)
            self.write_fd = os.open(
                self.tmp,
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o644,
            )
            self._track()
            check = hashlib.sha256()
            offset = 0
            while offset < matched:
                block = os.pread(old_fd, min(CHUNK_SIZE, matched - offset), offset)
                if not block:
                    break
                write_all(self.write_fd, block)
                check.update(block)
                offset += len(block)
                if self.tracked is not None:
                    self.tracked.wrote(block)
        finally:
            os.close(old_fd)
        if offset != matched or check.digest() != expected:
            raise MediaError(
                f"Re-reading {self.path}",
                "the media returned different data on a second read",
                "The drive may be failing: use another drive",
            )

    def finish(self) -> tuple[BundlePart, bool]:
        """Make the part final; True when the file already on the media was kept."""
        if self.compare_fd is not None and self.candidate is not None:
            if (
                self.size == self.candidate.size
                and self.hasher.hexdigest() == self.candidate.sha256
            ):
                os.close(self.compare_fd)
                self.compare_fd = None
                return self.candidate, True
            self.diverge()  # the stream ended early, or the journal was stale
        assert self.write_fd is not None
        fd, self.write_fd = self.write_fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.tmp, self.path)
        fsync_dir(self.directory)
        if self.tracked is not None:
            self.tracked.complete()
            self.tracked = None
        return BundlePart(self.name, self.size, self.hasher.hexdigest()), False

    def abort(self) -> None:
        """On failure: close, and drop the unfinished .part (it frees space on a full stick)."""
        for fd in (self.compare_fd, self.write_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self.write_fd is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
        if self.tracked is not None:
            self.tracked.abandon()
            self.tracked = None
        self.compare_fd = self.write_fd = None


class PartWriter:
    """Split a byte stream into parts of at most `part_size` bytes, each hashed as written.

    With a journal, a part whose file is already on the media is compared with the regenerated
    bytes instead of being rewritten (reading a stick is much faster than writing it): kept when
    every byte and the sha256 match, otherwise rewritten from the point where it differs. The
    journal is updated after every part, so a crash at any point loses at most one part.

    Progress: stage "save", item = part name, done/total = bytes of that part (total is the
    part size, an upper bound for the last part); the final event's message says kept/written.

    With `read_back`, every byte written is re-read from the media behind the writer (see
    readback.py) and `write()` returns once all of it is checked; what did not match is in
    `readback_problems`. Kept parts were read from the media while comparing.
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike[str],
        *,
        part_size: int = DEFAULT_PART_SIZE,
        prefix: str = DEFAULT_PREFIX,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        journal: ExportJournal | None = None,
        expected_bytes: int | None = None,
        read_back: bool = False,
        kept: Iterable[BundlePart] = (),
    ) -> None:
        """`kept`: complete parts already on the media that the stream starts after (a resume
        that does not regenerate their bytes); they must be full parts of `part_size`."""
        if not 0 < part_size <= MAX_PART_SIZE:
            raise UsageError(
                f"Part size {part_size}", f"it must be 1 to {MAX_PART_SIZE} bytes", "Use 1GiB"
            )
        if not is_safe_part_name(part_name(prefix, 0)):
            raise UsageError(
                f"Part prefix {prefix!r}", "it is not a plain file name", "Use images.tar"
            )
        self.directory = Path(bundle_dir)
        self.part_size = part_size
        self.prefix = prefix
        self.progress = progress
        self.cancel = cancel
        self.journal = journal
        self.expected_bytes = expected_bytes
        self.parts: list[BundlePart] = list(kept)
        self.kept: list[str] = [part.file for part in self.parts]
        self.written: list[str] = []
        self.bytes_done = sum(part.size for part in self.parts)
        self.read_back = read_back
        self.readback_problems: list[Problem] = []
        self._readback: Readback | None = None
        self._sink: _Sink | None = None  # the part being written

    def _open(self, index: int) -> _Sink:
        name = part_name(self.prefix, index)
        candidate = self.journal.parts.get(name) if self.journal else None
        sink = _Sink(self.directory, name, candidate, self._forget, self._readback, self.part_size)
        if not sink.comparing:
            self._forget(name)
            sink.start_writing()
        return sink

    def _forget(self, name: str) -> None:
        if self.journal is not None:
            self.journal.forget(name)

    def _event(self, sink: _Sink, *, final: bool = False, kept: bool = False) -> None:
        if final:
            message = "kept: identical to the part already on the media" if kept else "written"
            total = sink.size
        else:
            message = (
                "comparing with the part already on the media" if sink.comparing else "writing"
            )
            total = self.part_size
        self.progress(Progress(STAGE_SAVE, sink.name, sink.size, total, message, final=final))

    def _close(self, sink: _Sink) -> None:
        part, kept = sink.finish()
        (self.kept if kept else self.written).append(part.file)
        self.parts.append(part)
        if self.journal is not None:
            self.journal.record(part)
        self._event(sink, final=True, kept=kept)

    def write(self, chunks: Iterable[bytes]) -> list[BundlePart]:
        """Consume the stream; returns the parts in order. Raises MediaError, Cancelled, …"""
        doing = f"Writing the bundle to {self.directory}"
        if self.read_back:
            self._readback = Readback(progress=self.progress, cancel=self.cancel)
        self._sink = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for chunk in chunks:
                if self.cancel is not None:
                    self.cancel.check(doing)
                self._feed(chunk)
            if self._sink is not None:
                self._close(self._sink)
                self._sink = None
            if self._readback is not None:
                found = self._readback.finish()
                self.readback_problems = [Problem(show(n), m) for n, m in found.items()]
        except OSError as exc:
            name = self._sink.name if self._sink is not None else ""
            self._abort()
            still = None
            if self.expected_bytes is not None:
                still = max(self.expected_bytes - self.bytes_done, 0) or None
            raise media_error(
                exc, f"Writing {name or 'the bundle'} to {self.directory}", self.directory, still
            ) from exc
        except BaseException:
            self._abort()
            raise
        return self.parts

    def _feed(self, chunk: bytes) -> None:
        """Into the open part, opening and closing parts at `part_size` boundaries."""
        view: bytes | memoryview = chunk
        while view:
            sink = self._sink
            if sink is None:
                sink = self._sink = self._open(len(self.parts))
            room = self.part_size - sink.size
            if len(view) <= room:  # the usual case: the chunk itself, not a copy
                piece, view = view, b""
            else:
                view = memoryview(view)
                piece, view = view[:room], view[room:]
            sink.feed(piece)
            self.bytes_done += len(piece)
            self._event(sink)
            if sink.size == self.part_size:
                self._close(sink)
                self._sink = None

    def _abort(self) -> None:
        """The half-written part goes (its .part file), and the read-back stops."""
        if self._sink is not None:
            self._sink.abort()
            self._sink = None
        self._stop_readback()

    def _stop_readback(self) -> None:
        if self._readback is not None:
            self._readback.abort()
            self._readback = None


def remove_stale_parts(
    bundle_dir: str | os.PathLike[str], keep: Iterable[str], prefix: str = DEFAULT_PREFIX
) -> list[str]:
    """Delete our own leftovers (old parts past the new end, .part files); nothing else."""
    directory = Path(bundle_dir)
    pattern = re.compile(rf"^{re.escape(prefix)}\.[0-9]{{3,}}(?:\.part)?$")
    wanted = set(keep)
    removed = []
    for name in sorted(os.listdir(directory)):
        if name in wanted or not (pattern.match(name) or name == MANIFEST_NAME + ".part"):
            continue
        os.unlink(directory / name)
        removed.append(name)
    if removed:
        fsync_dir(directory)
    return removed


def finish_bundle(
    bundle_dir: str | os.PathLike[str],
    manifest: Manifest2,
    journal: ExportJournal | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> list[str]:
    """Complete an export: drop stale parts, write bundle.yaml (last), remove the journal.

    Returns the names removed.
    """
    directory = Path(bundle_dir)
    try:
        removed = remove_stale_parts(directory, (p.file for p in manifest.parts), prefix)
        write_manifest2(directory, manifest)
        unlink_durably(journal.path if journal is not None else directory / JOURNAL_NAME)
    except OSError as exc:
        raise media_error(exc, f"Finishing the bundle in {directory}", directory, None) from exc
    return removed
