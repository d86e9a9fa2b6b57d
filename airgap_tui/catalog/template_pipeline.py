"""One template set as GitLab builds a pipeline from it: includes, `extends`, hidden jobs and
variables in GitLab's merge order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airgap_tui.catalog.template_images import (
    _Expander,
    _outside_note,
    _split_reference,
    _variables,
)
from airgap_tui.catalog.template_model import (
    _HOST,
    _INPUT,
    _PREFIX,
    DEFAULT_TEMPLATE_HOST,
    MAX_EXTENDS_DEPTH,
    MAX_INCLUDE_DEPTH,
    MAX_INCLUDES,
    MAX_REFERENCE_DEPTH,
    MAX_VALUE_CHARS,
    MAX_YAML_DEPTH,
    RESERVED_KEYS,
    TemplateError,
    TemplateImage,
    _InputWithoutDefault,
    _Job,
)
from airgap_tui.catalog.template_rules import _fips_rule_variables, _never_runs, _opt_in
from airgap_tui.catalog.template_yaml import _Budget, _DocumentCache, _kind, _merge, _Reference


@dataclass
class _Pipeline:
    """One entry template with everything it includes, merged as GitLab merges them."""

    entry: str
    cache: _DocumentCache
    config: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # job -> file that defined it last

    def __post_init__(self) -> None:
        self.budget = _Budget(f"Template {self.entry}")
        self.includes = 0
        self.config = self._load(self.entry, {}, None, 0)
        self.config = self._resolve_references(self.config)

    # -- includes and inputs ------------------------------------------------------------------

    def _load(
        self, path: str, inputs: Mapping[str, Any], parent: str | None, depth: int
    ) -> dict[str, Any]:
        if depth > MAX_INCLUDE_DEPTH:
            raise TemplateError(
                f"Template {parent}",
                f"its includes nest deeper than {MAX_INCLUDE_DEPTH} levels (an include loop?)",
                "Copy the templates again",
            )
        spec, body = self.cache.get(path, parent)
        if spec:
            values = self._input_values(path, spec, inputs)
            body = self._interpolate(path, body, values)
        merged: dict[str, Any] = {}
        for include in self._include_list(path, body.get("include")):
            target, include_inputs = include
            self.includes += 1
            if self.includes > MAX_INCLUDES:
                raise TemplateError(
                    f"Template {self.entry}",
                    f"it includes more than {MAX_INCLUDES} files (GitLab's limit)",
                    "Copy the templates again",
                )
            merged = _merge(
                merged, self._load(target, include_inputs, path, depth + 1), self.budget
            )
        own = {k: v for k, v in body.items() if k != "include"}
        for key, value in own.items():
            if key not in RESERVED_KEYS and isinstance(value, dict):
                self.origin[key] = path
        result: dict[str, Any] = _merge(merged, own, self.budget)
        return result

    def _include_list(self, path: str, raw: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
        if raw is None:
            return
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            if isinstance(item, str):
                if "://" in item:
                    continue  # a remote include: not in this set, so not followed offline
                yield item.lstrip("/"), {}
                continue
            if not isinstance(item, dict):
                raise TemplateError(
                    f"Template {path}",
                    f"an include entry is a {_kind(item)}, not a path or a mapping",
                    "It is not a GitLab template; copy the templates again",
                )
            raw_inputs = item.get("inputs")
            inputs: Mapping[str, Any] = raw_inputs if isinstance(raw_inputs, dict) else {}
            target = item.get("template", item.get("local"))
            if isinstance(target, str):
                yield target.lstrip("/"), inputs
            # remote:, project:, component: live outside the templates; not followed offline

    def _input_values(
        self, path: str, spec: dict[str, Any], given: Mapping[str, Any]
    ) -> dict[str, Any]:
        declared = spec.get("spec", {}) or {}
        raw_inputs = declared.get("inputs", {}) if isinstance(declared, dict) else {}
        values: dict[str, Any] = {}
        if isinstance(raw_inputs, dict):
            for name, decl in raw_inputs.items():
                if isinstance(decl, dict) and "default" in decl:
                    values[name] = decl["default"]
        values.update(given)
        return values

    def _interpolate(self, path: str, value: Any, inputs: Mapping[str, Any]) -> Any:
        self.budget.spend()
        if isinstance(value, dict):
            return {
                self._interpolate_text(path, k, inputs): self._interpolate(path, v, inputs)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._interpolate(path, v, inputs) for v in value]
        if isinstance(value, str):
            whole = _INPUT.fullmatch(value.strip())
            if whole and whole.group(1) in inputs and not isinstance(inputs[whole.group(1)], str):
                return inputs[whole.group(1)]  # `allow_failure: $[[ inputs.x ]]` keeps its type
            return self._interpolate_text(path, value, inputs)
        return value

    def _interpolate_text(self, path: str, text: str, inputs: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in inputs:
                raise _InputWithoutDefault(
                    f"Template {path}",
                    f"it uses input {name!r}, which its spec declares without a default and "
                    "no include gives",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            value = inputs[name]
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)

        out = _INPUT.sub(one, text)
        if len(out) > MAX_VALUE_CHARS:
            raise TemplateError(
                f"Template {path}", "an input expands to more than 64 KiB", "Copy it again"
            )
        return out

    # -- !reference ---------------------------------------------------------------------------

    def _resolve_references(self, value: Any, depth: int = 0) -> Any:
        self.budget.spend()
        if isinstance(value, _Reference):
            return self._resolve_references(self._lookup(value), depth + 1)
        if depth > MAX_REFERENCE_DEPTH + MAX_YAML_DEPTH * 2:
            raise TemplateError(
                f"Template {self.entry}",
                f"its !reference tags nest deeper than {MAX_REFERENCE_DEPTH} levels",
                "It is not a GitLab template as shipped; copy the templates again",
            )
        if isinstance(value, dict):
            return {k: self._resolve_references(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                was_reference = isinstance(item, _Reference)
                resolved = self._resolve_references(item, depth + 1)
                if was_reference and isinstance(resolved, list):
                    out.extend(resolved)  # GitLab flattens a referenced list into the list
                else:
                    out.append(resolved)
            return out
        return value

    def _lookup(self, reference: _Reference) -> Any:
        node: Any = self.config
        for key in reference.path:
            if isinstance(node, _Reference):
                node = self._lookup(node)
            if not isinstance(node, dict) or key not in node:
                return None  # GitLab refuses the pipeline; here the field is simply empty
            node = node[key]
        return node

    # -- jobs ---------------------------------------------------------------------------------

    def images(self, *, fips: bool, skipped: list[str]) -> Iterator[TemplateImage]:
        global_vars = _variables(self.config.get("variables"))
        for name, body in self.config.items():
            if name in RESERVED_KEYS or name.startswith(".") or not isinstance(body, dict):
                continue
            template = self.origin.get(name, self.entry)
            job = _Job(name, self._extend(name, body, template, [name]), template)
            rules = job.body.get("rules")
            rule_list = rules if isinstance(rules, list) else []
            if isinstance(rules, list) and _never_runs(rule_list):
                continue  # the stub of a removed analyzer: its only rule is `when: never`
            raw_image = job.body.get("image")
            image_text = raw_image.get("name") if isinstance(raw_image, dict) else raw_image
            if image_text is None:
                continue  # no image of its own: it runs on the runner's default image
            if not isinstance(image_text, str | int | float):
                raise TemplateError(
                    f"Template {template}, job {name}",
                    f"its image is a {_kind(image_text)}, not a string or {{name: …}}",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            image = self._image(job, str(image_text), global_vars, rule_list, fips, skipped)
            if image is not None:
                yield image

    def _extend(
        self, name: str, body: dict[str, Any], template: str, chain: list[str]
    ) -> dict[str, Any]:
        parents = body.get("extends")
        if parents is None:
            return body
        if len(chain) > MAX_EXTENDS_DEPTH:
            raise TemplateError(
                f"Template {template}, job {chain[0]}",
                f"its extends chain is deeper than {MAX_EXTENDS_DEPTH} levels "
                f"({' -> '.join(chain[:4])} -> …), GitLab's own limit",
                "It is not a GitLab template as shipped; copy the templates again",
            )
        names = parents if isinstance(parents, list) else [parents]
        merged: dict[str, Any] = {}
        for parent in names:
            if not isinstance(parent, str):
                raise TemplateError(
                    f"Template {template}, job {chain[0]}",
                    f"extends names a {_kind(parent)}, not a job",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            if parent in chain:
                raise TemplateError(
                    f"Template {template}, job {chain[0]}",
                    f"its extends chain loops ({' -> '.join([*chain, parent])})",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            parent_body = self.config.get(parent)
            if not isinstance(parent_body, dict):
                raise TemplateError(
                    f"Template {template}, job {chain[0]}",
                    f"it extends {parent!r}, which no template in the set defines",
                    "Copy GitLab's whole templates directory",
                )
            resolved = self._extend(parent, parent_body, template, [*chain, parent])
            merged = _merge(merged, resolved, self.budget)
        own = {k: v for k, v in body.items() if k != "extends"}
        result: dict[str, Any] = _merge(merged, own, self.budget)
        return result

    def _image(
        self,
        job: _Job,
        image_text: str,
        global_vars: dict[str, str],
        rules: list[Any],
        fips: bool,
        skipped: list[str],
    ) -> TemplateImage | None:
        where = f"Template {job.template}, job {job.name}"
        job_vars = _variables(job.body.get("variables"))
        scope = {**global_vars, **job_vars}
        plain = _Expander(where, scope).expand(image_text)
        expanded = plain
        expander = _Expander(where, scope)
        fips_rule = (
            _fips_rule_variables(
                rules, lambda name: expander.expand(f"${{{name}}}") if name in scope else None
            )
            if fips
            else None
        )
        if fips_rule:
            expanded = _Expander(where, {**scope, **fips_rule}).expand(image_text)
        parsed = _split_reference(expanded, image_text)
        if parsed is None:
            shown = expanded.replace(_PREFIX, "$SECURE_ANALYZERS_PREFIX").replace(
                _HOST, DEFAULT_TEMPLATE_HOST
            )
            skipped.append(
                f"{job.template}, job {job.name}: its image {image_text!r} expands to "
                f"{shown!r}, which is not an image reference (it needs a variable the "
                "templates do not set)"
            )
            return None
        name, tag, under_prefix = parsed
        note = None if under_prefix else _outside_note(job, name, tag, image_text)
        return TemplateImage(
            name=name,
            tag=tag,
            job=job.name,
            template=job.template,
            opt_in=_opt_in(rules, global_vars),
            fips=fips and expanded != plain,
            under_prefix=under_prefix,
            note=note,
        )
