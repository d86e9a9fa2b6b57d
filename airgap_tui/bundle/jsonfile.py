"""Small JSON files from the other side (receipts, inventories, requests), read as hostile.

Bounded before parsing (a regular file, opened without waiting so a FIFO cannot hang the
command, checked with fstat before any read, at most `limit` bytes even if it grows while read,
and at most so many JSON values, counted before parsing: 63 MiB of tiny items would take
gigabytes once parsed), strict while parsing (no duplicate keys, no NaN or Infinity). The caller
words the errors: it knows what the file is and what the operator should do instead.
airgap_tui.bundle.safe_load holds the pieces (and the YAML side).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airgap_tui.bundle.safe_load import (
    OPEN_FLAGS,
    file_kind,
    json_value_count,
    no_constants,
    no_duplicate_keys,
    read_all,
)

# cause -> the caller's exception, e.g. "it does not exist"
Failure = Callable[[str], Exception]


# A full inventory (InventoryLimits) is about 2 million JSON values; more is refused unread.
MAX_JSON_VALUES = 2_500_000


def read_bounded(path: Path, limit: int, fail: Failure, too_big: Callable[[], Exception]) -> bytes:
    """The file's bytes; a missing, special or oversized file is `fail(cause)` / `too_big()`.

    O_NONBLOCK, then fstat before any read: a FIFO is refused at once, never waited on (a
    symlink the operator made is followed: these paths come from the command line)."""
    try:
        fd = os.open(path, OPEN_FLAGS & ~os.O_NOFOLLOW)
    except FileNotFoundError:
        raise fail("it does not exist") from None
    except OSError as exc:
        raise fail(f"it cannot be opened ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise fail(f"it is not a regular file ({file_kind(info.st_mode)})")
        if info.st_size > limit:
            raise too_big()
        data = read_all(fd, info.st_size, limit)
        if data is None:  # it grew while being read
            raise too_big()
    except OSError as exc:
        raise fail(f"it cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    return data


def type_name(kind: type | tuple[type, ...]) -> str:
    """`str` -> "a string", for "it is X, not Y" sentences."""
    names = {
        str: "a string",
        int: "an integer",
        bool: "a boolean",
        list: "a list",
        dict: "an object",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def json_type(value: object) -> str:
    """What a parsed JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def field_problem(obj: Any, key: str, kind: type | tuple[type, ...]) -> str | None:
    """Why `obj[key]` is not a `kind` ("it is missing", "it is a string, not a list"), or None."""
    if key not in obj:
        return "it is missing"
    value = obj[key]
    if isinstance(value, bool) and kind is not bool:
        return f"it is a boolean, not {type_name(kind)}"
    if not isinstance(value, kind):
        return f"it is {json_type(value)}, not {type_name(kind)}"
    return None


def parse_object(
    raw: bytes, fail: Failure, kind: str, *, max_values: int | None = None
) -> dict[str, Any]:
    """`raw` as one strict JSON object; anything else is `fail(cause)` (`kind`: "a request").

    More JSON values than `max_values` (default: one per 4 bytes, at most MAX_JSON_VALUES)
    is refused before parsing, counted at C speed."""
    limit = max_values if max_values is not None else min(MAX_JSON_VALUES, max(4096, len(raw) // 4))
    head = raw[:1024]  # a slice, not a copy of the whole file
    if len(head) - len(head.lstrip(b"[{ \t\r\n")) > 512:  # no file of ours opens that deep
        raise fail(f"it is not JSON {kind} has (nested too deep)")
    count = json_value_count(raw)
    if count > limit:
        raise fail(
            f"it holds about {count} JSON values, more than the {limit} {kind} has (refused "
            "before parsing)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise fail(f"it is not UTF-8 text ({kind} is JSON)") from None
    try:
        data = json.loads(text, object_pairs_hook=no_duplicate_keys, parse_constant=no_constants)
    except RecursionError:
        raise fail(f"it is not JSON {kind} has (nested too deep)") from None
    except ValueError as exc:
        raise fail(f"it is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise fail(f"it is {json_type(data)}, not a JSON object")
    return data
