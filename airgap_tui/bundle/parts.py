"""Part files: names, sizes and the check of every part against bundle.yaml.

Everything read back from the media is hostile: names are checked before anything is opened,
symlinks refused, sizes checked before hashing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from airgap_tui.bundle.manifest import (
    KNOWN_FILES,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    BundlePart,
    show,
)
from airgap_tui.bundle.media import free_bytes, human_size
from airgap_tui.bundle.prehash import PartHashes
from airgap_tui.bundle.reader import open_dir, open_part
from airgap_tui.errors import MediaError, UsageError
from airgap_tui.events import (
    STAGE_VERIFY,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)

DEFAULT_PREFIX = "images.tar"


_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def media_error(exc: OSError, doing: str, directory: Path, still_needed: int | None) -> MediaError:
    """Turn an OSError from a write into one sentence with the next step."""
    resume = "then run the same export again: finished parts are kept"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = human_size(free_bytes(directory))
        except OSError:
            free = "unknown"
        need = f"about {human_size(still_needed)} more is needed, " if still_needed else ""
        return MediaError(
            doing,
            f"the media is full ({need}{free} free)",
            f"Free space or use a bigger drive, {resume}",
        )
    if exc.errno == errno.EROFS:
        return MediaError(
            doing, "the media is mounted read-only", f"Remount it read-write, {resume}"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return MediaError(
            doing, "permission denied", f"Choose a directory you can write to, {resume}"
        )
    if exc.errno == errno.EFBIG:
        return MediaError(
            doing,
            "the filesystem refused a file this large (FAT32 holds at most 4 GiB − 1 per file)",
            "Use a smaller --part-size",
        )
    if exc.errno == errno.EIO:
        return MediaError(
            doing,
            "an I/O error: the drive may be failing or was unplugged",
            f"Check the drive, {resume}",
        )
    return MediaError(doing, exc.strerror or str(exc), resume[0].upper() + resume[1:])


CHUNK_SIZE = 1 << 20


DEFAULT_PART_SIZE = 1 << 30


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kib": 1 << 10,
    "kb": 10**3,
    "m": 1 << 20,
    "mib": 1 << 20,
    "mb": 10**6,
    "g": 1 << 30,
    "gib": 1 << 30,
    "gb": 10**9,
    "t": 1 << 40,
    "tib": 1 << 40,
    "tb": 10**12,
}


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


@dataclass(frozen=True)
class Problem:
    """A file that failed a check, and why."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def part_name(prefix: str, index: int) -> str:
    return f"{prefix}.{index:03d}"


def parse_size(text: str) -> int:
    """A part size such as "1GiB", "500MB", "64MiB" or plain bytes (KiB=1024, KB=1000)."""
    match = _SIZE.match(text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise UsageError(
            f"Part size {text!r}",
            "it is not a size",
            "Give a number with an optional unit, e.g. 1GiB, 500MB, 64MiB or 1048576",
        )
    from fractions import Fraction  # exact "1.5GiB"; loads decimal: not at start-up

    value = int(Fraction(match.group(1)) * unit)
    if value > MAX_PART_SIZE:
        raise UsageError(
            f"Part size {text!r}",
            f"it is above the largest part, {MAX_PART_SIZE} bytes (4 GiB − 1), "
            "which is what a FAT32 stick holds per file",
            "Use 4095MiB or less",
        )
    if value < MIN_PART_SIZE:
        raise UsageError(
            f"Part size {text!r}",
            f"it is below the smallest part, {MIN_PART_SIZE} bytes (1 MiB)",
            "Use 1MiB or more",
        )
    return value


def _drop_cache(fd: int) -> None:
    """Ask the kernel to forget cached pages so reads come from the device.

    Limits: it drops only clean pages (parts are fsynced before this), and it cannot reach a
    drive's own cache or a FUSE filesystem's (ntfs-3g, exfat-fuse) private cache; a stick that
    lies from its controller cache can still fool a read-back.
    """
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass


def _read_chunks(
    fd: int, size: int, cancel: CancelToken | None, doing: str, *, from_media: bool = True
) -> Iterator[bytes]:
    """Exactly `size` bytes from fd in chunks; a short or long file raises OSError.

    `from_media` drops the file's cached pages first so the check reads the drive itself.
    """
    if from_media:
        _drop_cache(fd)
    remaining = size
    while remaining:
        if cancel is not None:
            cancel.check(doing)
        block = os.read(fd, min(CHUNK_SIZE, remaining))
        if not block:
            raise OSError(errno.EIO, "the file ended early")
        remaining -= len(block)
        yield block
    if os.read(fd, 1):
        raise OSError(errno.EIO, "the file grew while being read")


def check_parts(
    bundle_dir: str | os.PathLike[str],
    parts: Iterable[BundlePart],
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    hashes: PartHashes | None = None,
) -> list[Problem]:
    """Every part present, the right size (checked before hashing) and the right sha256.

    Never writes; goes on after a bad part so every bad file is named. `hashes`: digests a
    thread took of these very files while the command started (bundle/prehash.py).
    """
    directory = Path(bundle_dir)
    problems: list[Problem] = []
    dir_fd = open_dir(directory)
    try:
        for part in parts:
            fd, reason = open_part(dir_fd, part)
            done, digest = 0, ""
            if fd is not None:
                try:
                    taken = hashes.take(part.file, os.fstat(fd)) if hashes is not None else None
                    if taken is not None:
                        done, digest = part.size, taken
                    else:
                        done, digest = _hash_part(fd, part, progress, cancel, directory)
                except OSError as exc:
                    reason = f"read failed ({exc.strerror or exc})"
                finally:
                    os.close(fd)
            if not reason and digest != part.sha256:
                reason = (
                    f"sha256 mismatch: the file is damaged (expected {part.sha256[:16]}…, "
                    f"got {digest[:16]}…)"
                )
            if reason:
                problems.append(Problem(show(part.file), reason))
            progress(
                Progress(
                    STAGE_VERIFY,
                    part.file,
                    done,
                    part.size,
                    reason or "ok",
                    final=True,
                    ok=not reason,
                )
            )
    finally:
        os.close(dir_fd)
    return problems


def _hash_part(
    fd: int,
    part: BundlePart,
    progress: ProgressCallback,
    cancel: CancelToken | None,
    directory: Path,
) -> tuple[int, str]:
    """The bytes read and the sha256 of an opened part (read from the media itself)."""
    hasher = hashlib.sha256()
    done = 0
    for block in _read_chunks(fd, part.size, cancel, f"Checking {directory}"):
        hasher.update(block)
        done += len(block)
        progress(Progress(STAGE_VERIFY, part.file, done, part.size, "checking"))
    return done, hasher.hexdigest()


def files_not_listed(bundle_dir: str | os.PathLike[str], listed: Iterable[str]) -> list[str]:
    """Warnings for files other than `listed` and our own (they are ignored, never read)."""
    known = KNOWN_FILES | set(listed)
    warnings = []
    try:
        listing = sorted(os.listdir(bundle_dir))
    except OSError as exc:
        return [f"the directory could not be listed ({exc.strerror or exc})"]
    for name in listing:
        if name in known:
            continue
        path = Path(bundle_dir) / name
        if name.endswith(".part"):
            warnings.append(f"{show(name)}: left over from an interrupted write (safe to delete)")
        elif path.is_dir() and not path.is_symlink():
            warnings.append(f"{show(name)}: a directory the bundle does not list (ignored)")
        else:
            warnings.append(f"{show(name)}: a file the bundle does not list (ignored)")
    return warnings
