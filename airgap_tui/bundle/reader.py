"""Random access to one blob's bytes inside the parts, without re-assembling the tar.

The import pushes blobs side by side straight from the stick: each blob is a byte range of the
concatenated parts (bundle.yaml gives its offset and size), which may cross a part boundary.
Reads are positional (pread), so several threads can share one reader; memory is one chunk per
stream. Part names come from a validated manifest and are checked again before opening; a
symlink, a non-regular file or a file of the wrong size is refused.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from airgap_tui.bundle.manifest import (
    READ_FLAGS,
    BundleBlob,
    BundleManifest,
    BundlePart,
    is_safe_part_name,
    show,
)
from airgap_tui.errors import BundleError
from airgap_tui.events import CancelToken

CHUNK_SIZE = 1 << 20


def open_part(dir_fd: int, part: BundlePart) -> tuple[int | None, str]:
    """An fd for a part of the right size, or None and the reason (without following links)."""
    if not is_safe_part_name(part.file):  # defence in depth: manifests are validated already
        return None, "the name is not a plain file name inside the bundle (refused)"
    try:
        st = os.stat(part.file, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return None, "is a symbolic link, which a bundle never contains (refused)"
    if not stat.S_ISREG(st.st_mode):
        return None, "is not a regular file (refused)"
    if st.st_size != part.size:
        how = "truncated" if st.st_size < part.size else "too long"
        return None, f"{how}: {st.st_size} bytes, the manifest says {part.size}"
    try:
        fd = os.open(part.file, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        return None, f"cannot be opened ({exc.strerror or exc})"
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size != part.size:
        os.close(fd)
        return None, "changed while being checked"
    return fd, ""


def open_dir(directory: Path) -> int:
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise BundleError(
            f"Bundle directory {directory}",
            f"it cannot be opened ({exc.strerror or exc})",
            "Check the path and that the drive is mounted",
        ) from exc


class PartsReader:
    """Byte ranges of the concatenated parts; thread-safe, opens each part once.

    Use as a context manager (or call close()); every error is a BundleError naming the part.
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike[str],
        parts: list[BundlePart],
        *,
        cancel: CancelToken | None = None,
    ) -> None:
        self.directory = Path(bundle_dir)
        self.parts = list(parts)
        self.cancel = cancel
        self.starts: list[int] = []
        offset = 0
        for part in self.parts:
            self.starts.append(offset)
            offset += part.size
        self.total = offset
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}
        self._dir_fd: int | None = open_dir(self.directory)

    def __enter__(self) -> PartsReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
            if self._dir_fd is not None:
                os.close(self._dir_fd)
                self._dir_fd = None

    def _fd(self, index: int) -> int:
        with self._lock:
            fd = self._fds.get(index)
            if fd is not None:
                return fd
            if self._dir_fd is None:
                raise BundleError(f"Bundle {self.directory}", "the reader is closed")
            part = self.parts[index]
            fd, reason = open_part(self._dir_fd, part)
            if fd is None:
                raise BundleError(
                    f"Part {show(part.file)} in {self.directory}",
                    reason,
                    "Run verify, then copy the bundle again from the connected side",
                )
            self._fds[index] = fd
            return fd

    def parts_of(self, blob: BundleBlob) -> list[str]:
        """The part files a blob's bytes lie in (for an error that names where to look)."""
        first = bisect.bisect_right(self.starts, blob.offset) - 1
        last = bisect.bisect_right(self.starts, max(blob.offset, blob.offset + blob.size - 1)) - 1
        return [part.file for part in self.parts[max(first, 0) : last + 1]]

    def read_range(self, offset: int, size: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """`size` bytes from `offset`, in chunks of at most `chunk_size`, across part ends."""
        if offset < 0 or size < 0 or offset + size > self.total:
            raise BundleError(
                f"Bundle {self.directory}",
                f"bytes {offset}..{offset + size} lie outside its parts ({self.total} bytes)",
                "The manifest is damaged: copy the bundle again from the connected side",
            )
        position, end = offset, offset + size
        while position < end:
            if self.cancel is not None:
                self.cancel.check(f"Reading the bundle in {self.directory}")
            index = bisect.bisect_right(self.starts, position) - 1
            while self.parts[index].size == 0:  # an empty part holds nothing
                index += 1
            fd = self._fd(index)
            within = position - self.starts[index]
            want = min(chunk_size, end - position, self.parts[index].size - within)
            try:
                block = os.pread(fd, want, within)
            except OSError as exc:
                raise BundleError(
                    f"Part {show(self.parts[index].file)} in {self.directory}",
                    f"read failed ({exc.strerror or exc})",
                    "Check the drive, then run verify",
                ) from exc
            if not block:
                raise BundleError(
                    f"Part {show(self.parts[index].file)} in {self.directory}",
                    "it ended early (changed after it was checked)",
                    "Run verify, then copy the bundle again from the connected side",
                )
            position += len(block)
            yield block

    def blob(
        self, blob: BundleBlob, *, check: bool = True, chunk_size: int = CHUNK_SIZE
    ) -> Iterator[bytes]:
        """The blob's bytes; with `check`, a sha256 mismatch raises at the end (after the
        last chunk was handed on: a registry upload then fails its own digest check too)."""
        hasher = hashlib.sha256() if check else None
        for block in self.read_range(blob.offset, blob.size, chunk_size):
            if hasher is not None:
                hasher.update(block)
            yield block
        if hasher is not None and "sha256:" + hasher.hexdigest() != blob.digest:
            raise BundleError(
                f"Blob {blob.digest} in {self.directory}",
                f"its bytes on the media do not match its digest (got sha256:{hasher.hexdigest()})",
                "Run verify, then copy the bundle again from the connected side",
            )

    def read_blob(self, blob: BundleBlob, limit: int) -> bytes:
        """A small blob (manifest, config) whole, checked against its digest."""
        if blob.size > limit:
            raise BundleError(
                f"Blob {blob.digest} in {self.directory}",
                f"it is {blob.size} bytes, more than the {limit} a manifest or config may be",
                "Do not use this bundle: copy it again from the connected side",
            )
        return b"".join(self.blob(blob))


def open_blob(
    bundle_dir: str | os.PathLike[str],
    manifest: BundleManifest,
    digest: str,
    *,
    check: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """One blob's bytes by digest (opens and closes its own reader; see PartsReader to share)."""
    blob = manifest.blob(digest)
    with PartsReader(bundle_dir, manifest.parts) as reader:
        yield from reader.blob(blob, check=check, chunk_size=chunk_size)
