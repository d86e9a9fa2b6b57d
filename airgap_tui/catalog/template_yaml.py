"""GitLab CI YAML read safely: `!reference` tags, bounded nodes, aliases and depth, and GitLab's
deep merge for `extends`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import AliasEvent

from airgap_tui.catalog.template_model import (
    MAX_TREE_NODES,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    TemplateError,
)


@dataclass(frozen=True)
class _Reference:
    """A `!reference [job, key, ...]` tag, resolved after every include is merged."""

    path: tuple[str, ...]


class _Loader(yaml.SafeLoader):
    """The safe loader plus `!reference`, and caps on nodes, aliases and nesting depth."""

    def __init__(self, stream: str, origin: str) -> None:
        super().__init__(stream)
        self.origin = origin
        self.nodes = 0
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise _LimitHit(f"it has more than {MAX_YAML_NODES:,} YAML nodes")
        if self.check_event(AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise _LimitHit(f"it uses more than {MAX_YAML_ALIASES:,} YAML aliases")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise _LimitHit(f"it nests deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _construct_reference(loader: yaml.SafeLoader, node: yaml.Node) -> _Reference:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!reference takes a list such as [.job, key]", node.start_mark
        )
    items = loader.construct_sequence(node)
    return _Reference(tuple(str(item) for item in items))


_Loader.add_constructor("!reference", _construct_reference)


class _LimitHit(Exception):
    """Internal: a cap was reached; turned into a TemplateError with the file's name."""


class _DocumentCache:
    """Each file parsed once: its `spec:` inputs (if any) and its body, as a bounded tree."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources
        self.parsed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def get(self, path: str, included_by: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        if path in self.parsed:
            return self.parsed[path]
        if path not in self.sources:
            raise TemplateError(
                f"Template {included_by}",
                f"it includes {path}, which is not among the templates given",
                "Copy GitLab's whole lib/gitlab/ci/templates directory, not single files",
            )
        result = _parse(path, self.sources[path])
        self.parsed[path] = result
        return result


def _parse(path: str, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    what = f"Template {path}"
    step = "It is not a GitLab CI template or it is damaged; copy the templates again"
    loader = _Loader(text, path)
    documents: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            documents.append(loader.construct_document(node))
            if len(documents) > 2:
                raise _LimitHit("it holds more than two YAML documents (a spec and a body)")
    except _LimitHit as exc:
        raise TemplateError(what, str(exc), step) from None
    except RecursionError:
        raise TemplateError(what, f"it nests deeper than {MAX_YAML_DEPTH} levels", step) from None
    except yaml.YAMLError as exc:
        raise TemplateError(what, f"it is not valid YAML ({_yaml_problem(exc)})", step) from None
    finally:
        loader.dispose()
    spec: dict[str, Any] = {}
    if len(documents) == 2:
        header, body = documents
        if not isinstance(header, dict) or "spec" not in header:
            raise TemplateError(what, "its first YAML document is not a `spec:` header", step)
        spec = header
    elif documents:
        body = documents[0]
    else:
        body = {}
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise TemplateError(what, f"it is a YAML {_kind(body)}, not a mapping of jobs", step)
    budget = _Budget(what)
    return _tree(spec, budget), _tree(body, budget)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return f"{str(problem)[:120]}{where}"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


class _Budget:
    """Counts nodes copied, so aliases and references cannot grow a tree without bound."""

    def __init__(self, what: str, limit: int = MAX_TREE_NODES) -> None:
        self.what = what
        self.limit = limit
        self.used = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise TemplateError(
                self.what,
                f"it expands to more than {self.limit:,} YAML nodes (aliases or !reference "
                "repeated over and over)",
                "It is not a GitLab template; copy the templates again",
            )


def _tree(value: Any, budget: _Budget, depth: int = 0) -> Any:
    """A fresh copy with string keys; shared (aliased) nodes are copied, and counted."""
    budget.spend()
    if depth > MAX_YAML_DEPTH * 2:
        raise TemplateError(budget.what, "it nests too deep", "Copy the templates again")
    if isinstance(value, dict):
        return {str(k): _tree(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, budget, depth + 1) for v in value]
    return value


def _merge(base: Any, over: Any, budget: _Budget) -> Any:
    """GitLab's deep merge: mappings merge key by key, anything else is replaced."""
    budget.spend()
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value, budget) if key in base else value
        return out
    return over
