"""The YAML side of safe_load: PyYAML's parser (libyaml where built) event by event, with
depth, node count, aliases, tags and the top-level keys checked as each event arrives and the
values built as they come, so no node tree is kept. Its own module so that reading a JSON-shaped
bundle.yaml (what airgap-tui writes) never loads PyYAML: on a cold offline host that is 30 ms of
a 150 ms verify.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import yaml

from airgap_tui.bundle.read_errors import Fail as _Fail
from airgap_tui.bundle.read_errors import first_line as _first_line
from airgap_tui.bundle.read_errors import show as _show
from airgap_tui.errors import AirgapError

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where built
_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("null", "bool", "int", "float", "str", "timestamp")
)
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MAP_TAG = "tag:yaml.org,2002:map"


def parse_yaml_events(
    text: str, fail: _Fail, max_depth: int, limit: int, top_keys: Collection[str] | None
) -> Any:
    """safe_load.parse_bounded_yaml for a YAML document (its bounds already worked out)."""
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
