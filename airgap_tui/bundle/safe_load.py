"""Read a small YAML or JSON file that came across the air gap, in bounded time and memory.

Every file from the stick or from the other side is hostile: a FIFO that never ends, a symlink,
a file just under the size limit holding millions of tiny items, nesting thousands deep, a
date that does not exist, a 5,000-digit number. These helpers refuse each with an error that
names the file, the field and the cause, before the work grows with the hostile input:

- the file is opened with O_NONBLOCK and O_NOFOLLOW and checked with fstat before any read;
- YAML is parsed once, by libyaml where PyYAML has it, event by event: depth, node count,
  aliases, tags and (optionally) the top-level keys are checked while parsing, and values are
  built as they arrive, so no node tree is kept;
- JSON is counted first (its values, at C speed) and parsed by the C decoder only when
  the counts are within bounds;
- the loader's ValueError, OverflowError and RecursionError become the same clear error.

Used for bundle.yaml, receipts, inventories and request files. Stdlib and PyYAML only.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Collection
from typing import Any

from airgap_tui.bundle.read_errors import Fail as _Fail
from airgap_tui.bundle.read_errors import first_line as _first_line
from airgap_tui.bundle.read_errors import show as _show
from airgap_tui.errors import AirgapError, BundleError

OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
DEFAULT_MAX_DEPTH = 32  # none of our files nests deeper than 6
READ_CHUNK = 1 << 20

_JSON_MARKS = (b"{", b"[", b",", b":")


# --------------------------------------------------------------------------- reading


def read_bounded(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    error: type[AirgapError] = BundleError,
    next_step: str = "",
    dir_fd: int | None = None,
) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, never blocking on a FIFO or device.

    The file is opened without following a symlink and without waiting (O_NONBLOCK), then
    checked with fstat before anything is read; a file that grows while being read is refused
    at the bound. FileNotFoundError is raised as is (the caller knows what a missing file means).
    """
    fail = _Fail(what, error, next_step)
    try:
        fd = os.open(path, OPEN_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise fail("it is a symbolic link, which is refused") from None
        raise fail(f"it cannot be opened ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise fail(f"it is not a regular file ({file_kind(info.st_mode)})")
        if info.st_size > max_bytes:
            raise fail(
                f"it is larger than {max_bytes} bytes ({info.st_size}), which no such file is"
            )
        data = read_all(fd, info.st_size, max_bytes)
        if data is None:
            raise fail(f"it grew past {max_bytes} bytes while being read")
    except OSError as exc:
        raise fail(f"it cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    return data


def read_all(fd: int, size: int, max_bytes: int) -> bytes | None:
    """The rest of a regular file whose fstat says `size` bytes, in one allocation when it
    does not change (a 63 MiB file must not cost twice that); None past `max_bytes`."""
    chunks = [os.read(fd, min(size, max_bytes) + 1)]
    total = len(chunks[0])
    while chunks[-1] and total <= max_bytes:
        chunks.append(os.read(fd, READ_CHUNK))
        total += len(chunks[-1])
    if total > max_bytes:
        return None
    return chunks[0] if len(chunks) <= 2 else b"".join(chunks)


def file_kind(mode: int) -> str:
    """What a non-regular file is, for the error that refuses it."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


# --------------------------------------------------------------------------- YAML


def load_bounded_yaml(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int | None = None,
    top_keys: Collection[str] | None = None,
    error: type[AirgapError] = BundleError,
    next_step: str = "",
) -> Any:
    """read_bounded + parse_bounded_yaml."""
    raw = read_bounded(path, what=what, max_bytes=max_bytes, error=error, next_step=next_step)
    return parse_bounded_yaml(
        raw,
        what=what,
        max_depth=max_depth,
        max_nodes=max_nodes,
        top_keys=top_keys,
        error=error,
        next_step=next_step,
    )


def parse_bounded_yaml(
    raw: bytes,
    *,
    what: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int | None = None,
    top_keys: Collection[str] | None = None,
    error: type[AirgapError] = BundleError,
    next_step: str = "",
) -> Any:
    """One YAML document as plain Python values (dict, list, str, int, float, bool, None,
    datetime), parsed once with every bound checked while parsing.

    `max_nodes` defaults to one node per 16 bytes (at most 500,000, about 1.5 s);
    `top_keys`, when given, are the only keys the top mapping may have (an unknown one stops
    the parse at that key).
    """
    fail = _Fail(what, error, next_step)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"it is not valid YAML (not UTF-8 text at byte {exc.start})") from None
    limit = max_nodes if max_nodes is not None else min(500_000, max(4096, len(raw) // 16))
    if raw.lstrip()[:1] == b"{":  # JSON, YAML's subset, as bundle.yaml is written
        value = _json_document(raw, text, fail, max_depth, limit, top_keys)
        if value is not _NOT_JSON:
            return value
    from airgap_tui.bundle.safe_yaml import parse_yaml_events  # loads PyYAML: only here

    return parse_yaml_events(text, fail, max_depth, limit, top_keys)


_NOT_JSON = object()


def _json_document(
    raw: bytes,
    text: str,
    fail: _Fail,
    max_depth: int,
    limit: int,
    top_keys: Collection[str] | None,
) -> Any:
    """The document read by the C JSON decoder under the YAML path's bounds, or _NOT_JSON
    (YAML's own flow style, a key twice, or damage: the YAML parser then says which)."""
    count = json_value_count(raw)
    if count > limit:
        raise fail(
            f"it holds more than {limit} values, far more than such a file has (refused "
            "before parsing)"
        )
    try:
        value = _strict_json(text)
    except RecursionError:
        raise fail("it nests too deep") from None
    except ValueError:
        return _NOT_JSON
    if top_keys is not None and isinstance(value, dict):
        unknown = next((key for key in value if key not in top_keys), None)
        if unknown is not None:
            raise fail("unknown field", _show(unknown))
    deep = _too_deep(value, max_depth)
    if deep is not None:
        raise fail(f"it nests deeper than {max_depth} levels, which such a file never does", deep)
    return value


# Where a value sits: (parent's place, key or index, whether it is an index), or () at the top.
_Place = tuple[Any, ...]


def _too_deep(value: Any, max_depth: int) -> str | None:
    """Where `value` nests deeper than `max_depth` containers (as `images[0].tags`), if it does.
    Places are linked to their parent's and named only for the answer."""
    stack: list[tuple[Any, int, _Place]] = [(value, 1, ())]
    while stack:
        item, depth, place = stack.pop()
        if isinstance(item, dict):
            children = ((v, (place, k, False)) for k, v in item.items())
        elif isinstance(item, list):
            children = ((v, (place, i, True)) for i, v in enumerate(item))
        else:
            continue
        if depth > max_depth:
            return _place_name(place)
        stack.extend((v, depth + 1, at) for v, at in children)
    return None


def _place_name(place: _Place) -> str:
    steps: list[tuple[Any, bool]] = []
    while place:
        place, key, is_index = place
        steps.append((key, is_index))
    name = ""
    for key, is_index in reversed(steps):
        name += f"[{key}]" if is_index else f"{'.' if name else ''}{_show(str(key))}"
    return name


# --------------------------------------------------------------------------- JSON


def load_bounded_json(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    max_values: int | None = None,
    error: type[AirgapError] = BundleError,
    next_step: str = "",
) -> Any:
    """read_bounded + parse_bounded_json."""
    raw = read_bounded(path, what=what, max_bytes=max_bytes, error=error, next_step=next_step)
    return parse_bounded_json(
        raw,
        what=what,
        max_values=max_values,
        error=error,
        next_step=next_step,
    )


def json_value_count(raw: bytes) -> int:
    """An upper bound on the values in a JSON text (every value but the first follows one of
    `{ [ , :`), counted at C speed without parsing."""
    return 1 + sum(raw.count(mark) for mark in _JSON_MARKS)


def parse_bounded_json(
    raw: bytes,
    *,
    what: str,
    max_values: int | None = None,
    error: type[AirgapError] = BundleError,
    next_step: str = "",
) -> Any:
    """One JSON value, refused before parsing when it holds more than `max_values` values
    (default: one per 4 bytes, at most 2 million); nesting is bounded by the C decoder's
    recursion limit, whose RecursionError is caught.

    Duplicate keys, NaN and Infinity are refused too: a file we wrote never has them.
    """
    fail = _Fail(what, error, next_step)
    limit = max_values if max_values is not None else min(2_000_000, max(4096, len(raw) // 4))
    count = json_value_count(raw)
    if count > limit:
        raise fail(
            f"it holds about {count} JSON values, more than the {limit} such a file has "
            "(refused before parsing)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"it is not UTF-8 text (byte {exc.start})") from None
    try:
        return _strict_json(text)
    except RecursionError:
        raise fail("it nests too deep") from None
    except ValueError as exc:
        raise fail(f"it is not valid JSON ({_first_line(exc)})") from None


def _strict_json(text: str) -> Any:
    """json.loads refusing a key twice, NaN and Infinity (ValueError)."""
    return json.loads(text, object_pairs_hook=no_duplicate_keys, parse_constant=no_constants)


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
