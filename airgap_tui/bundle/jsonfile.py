"""Small JSON files from the other side (receipts, inventories, requests), read as hostile.

Bounded before parsing (a regular file, at most `limit` bytes, even if it grows while read),
strict while parsing (no duplicate keys, no NaN or Infinity). The caller words the errors: it
knows what the file is and what the operator should do instead.
"""

from __future__ import annotations

import json
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


def parse_object(raw: bytes, fail: Failure, kind: str) -> dict[str, Any]:
    """`raw` as one strict JSON object; anything else is `fail(cause)` (`kind`: "a request")."""
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
