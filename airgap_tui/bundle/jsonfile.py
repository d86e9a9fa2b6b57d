"""Small JSON files from the other side (receipts, inventories, requests), read as hostile.

Bounded before parsing (a regular file, at most `limit` bytes, even if it grows while read),
strict while parsing (no duplicate keys, no NaN or Infinity). The caller words the errors: it
knows what the file is and what the operator should do instead.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

# cause -> the caller's exception, e.g. "it does not exist"
Failure = Callable[[str], Exception]


def read_bounded(path: Path, limit: int, fail: Failure, too_big: Callable[[], Exception]) -> bytes:
    """The file's bytes; a missing, special or oversized file is `fail(cause)` / `too_big()`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise fail("it does not exist") from None
    except OSError as exc:
        raise fail(f"it cannot be opened ({exc.strerror or exc})") from None
    chunks: list[bytes] = []
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise fail("it is not a regular file")
        if info.st_size > limit:
            raise too_big()
        total = 0
        while chunk := os.read(fd, 1024 * 1024):
            total += len(chunk)
            if total > limit:  # it grew while being read
                raise too_big()
            chunks.append(chunk)
    except OSError as exc:
        raise fail(f"it cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: a key twice in one object is an edited or forged file."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key[:40]!r} appears twice in one object")
        out[key] = value
    return out


def no_constants(name: str) -> Any:
    """json's parse_constant: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")
