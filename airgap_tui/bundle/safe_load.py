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

import yaml

from airgap_tui.errors import AirgapError, BundleError

OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
DEFAULT_MAX_DEPTH = 32  # none of our files nests deeper than 6
READ_CHUNK = 1 << 20

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where built
_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("null", "bool", "int", "float", "str", "timestamp")
)
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"
_JSON_MARKS = (b"{", b"[", b",", b":")


def _show(text: str, limit: int = 60) -> str:
    text = text[:limit]
    return text if text.isascii() and text.isprintable() else repr(text)


class _Fail:
    """Builds the error: `WHAT, field F: cause. Next step.`"""

    def __init__(self, what: str, error: type[AirgapError], next_step: str) -> None:
        self.what = what
        self.error = error
        self.next_step = next_step

    def __call__(self, cause: str, field: str = "") -> AirgapError:
        if len(field) > 120:
            field = field[:60] + "…" + field[-59:]
        where = f"{self.what}, field {field}" if field else self.what
        return self.error(where, cause, self.next_step)


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
    builder = _YamlBuilder(fail, max_depth, limit, top_keys)
    loader = _YAML_LOADER(text)
    try:
        return builder.run(loader)
    except AirgapError:
        raise
    except yaml.YAMLError as exc:
        raise fail(f"it is not valid YAML ({_first_line(exc)})", builder.field()) from None
    except RecursionError:
        raise fail("it nests too deep", builder.field()) from None
    except (ValueError, OverflowError, TypeError) as exc:
        raise fail(f"a value is not valid ({_first_line(exc)})", builder.field()) from None
    finally:
        loader.dispose()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:160]


class _Frame:
    __slots__ = ("value", "name", "key", "has_key", "index")

    def __init__(self, value: Any, name: str) -> None:
        self.value = value
        self.name = name
        self.key: Any = None
        self.has_key = False
        self.index = 0


class _YamlBuilder:
    """Turns parser events into values, checking the bounds as each event arrives."""

    def __init__(
        self, fail: _Fail, max_depth: int, max_nodes: int, top_keys: Collection[str] | None
    ) -> None:
        self.fail = fail
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.top_keys = None if top_keys is None else frozenset(top_keys)
        self.stack: list[_Frame] = []
        self.nodes = 0

    def field(self) -> str:
        """Where the parse is, as `images[3].tag`: named in every error."""
        if not self.stack:
            return ""
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return f"{frame.name}[{frame.index}]"
        if frame.has_key:
            return _join(frame.name, frame.key)
        return frame.name

    def run(self, loader: Any) -> Any:
        loader.get_event()  # StreamStart
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # DocumentStart
        root = self._document(loader)
        loader.get_event()  # DocumentEnd
        if not loader.check_event(yaml.StreamEndEvent):
            raise self.fail("it holds more than one YAML document")
        return root

    def _document(self, loader: Any) -> Any:
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                raise self.fail(
                    "it uses YAML aliases, which such a file never has (refused before they "
                    "could expand)",
                    self.field(),
                )
            self._count()
            if isinstance(event, yaml.ScalarEvent):
                value = self._scalar(loader, event)
                if not self.stack:
                    return value
                self._add(value)
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                is_seq = isinstance(event, yaml.SequenceStartEvent)
                self._check_tag(event, _SEQ_TAG if is_seq else _MAP_TAG)
                container: Any = [] if is_seq else {}
                name = self.field()
                if self.stack:
                    self._add(container, container=True)
                self.stack.append(_Frame(container, name))
                if len(self.stack) > self.max_depth:
                    raise self.fail(
                        f"it nests deeper than {self.max_depth} levels, which such a file never "
                        "does (refused while parsing)",
                        name,
                    )
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                frame = self.stack.pop()
                if not self.stack:
                    return frame.value

    def _count(self) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise self.fail(
                f"it holds more than {self.max_nodes} values, far more than such a file has "
                "(refused while parsing)",
                self.field(),
            )

    def _check_tag(self, event: Any, expected: str) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != expected:
            raise self.fail(f"the YAML tag {_show(tag)} is not allowed here", self.field())

    def _scalar(self, loader: Any, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag not in _SCALAR_TAGS:
            raise self.fail(f"the YAML tag {_show(str(tag))} is not allowed here", self.field())
        node = yaml.ScalarNode(tag, event.value, style=event.style)
        return loader.yaml_constructors[tag](loader, node)

    def _add(self, value: Any, *, container: bool = False) -> None:
        """Put `value` in the list or mapping being built."""
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            frame.value.append(value)
            frame.index += 1
            return
        if not frame.has_key:
            if container:
                raise self.fail(
                    "a key is a list or mapping, which such a file never has", frame.name
                )
            try:
                hash(value)
            except TypeError:
                raise self.fail("a key is not a plain value", frame.name) from None
            if value in frame.value:
                raise self.fail("it appears twice", _join(frame.name, value))
            if len(self.stack) == 1 and self.top_keys is not None and value not in self.top_keys:
                raise self.fail("unknown field", _join(frame.name, value))
            frame.key, frame.has_key = value, True
            return
        frame.value[frame.key] = value
        frame.has_key = False


def _join(name: str, key: Any) -> str:
    text = _show(str(key))
    return f"{name}.{text}" if name else text


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
        return json.loads(text, object_pairs_hook=no_duplicate_keys, parse_constant=no_constants)
    except RecursionError:
        raise fail("it nests too deep") from None
    except ValueError as exc:
        raise fail(f"it is not valid JSON ({_first_line(exc)})") from None


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
