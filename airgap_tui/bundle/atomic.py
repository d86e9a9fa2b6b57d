"""Atomic small-file writes: `<name>.part` -> fsync -> rename -> fsync the directory.

A reader (or an operator unplugging the stick) sees the old file or the new one, never half.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename durable; some filesystems (FAT via FUSE, …) cannot, and that is tolerated."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write_stream(path, (data,))


def atomic_write_stream(path: Path, chunks: Iterable[bytes]) -> str:
    """Write `chunks` as `path` (.part -> fsync -> rename -> fsync dir) and return the sha256 hex
    of what was written; an exception from `chunks` (a size bound, a cancel) leaves no file."""
    tmp = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        for data in chunks:
            digest.update(data)
            write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return digest.hexdigest()


def unlink_durably(path: Path) -> bool:
    """Remove `path` and make the removal durable; False when it was not there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True
