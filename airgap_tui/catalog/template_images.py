"""A job's `image:` expanded: variables, the analyzer prefix, name and tag, or an image outside
the prefix with what to do about it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airgap_tui.catalog.template_model import (
    _DIGEST,
    _HOST,
    _HOST_PART,
    _NAME,
    _PREFIX,
    _TAG,
    _VARIABLE,
    DEFAULT_TEMPLATE_HOST,
    MAX_VALUE_CHARS,
    MAX_VARIABLE_DEPTH,
    MAX_VARIABLE_LOOKUPS,
    TemplateError,
    _Job,
)


def _variables(raw: Any) -> dict[str, str]:
    """A `variables:` mapping as strings; `{value: …, description: …}` entries give value."""
    out: dict[str, str] = {}
    if not isinstance(raw, dict):
        return out
    for key, value in raw.items():
        if isinstance(value, dict):
            value = value.get("value", "")
        if value is None:
            value = ""
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | dict):
            continue  # not a variable GitLab accepts; it cannot be part of an image
        out[str(key)] = str(value)
    return out


class _Expander:
    """`$VAR`, `${VAR}` and `$$` as GitLab expands them, with loops and blow-ups refused."""

    def __init__(self, where: str, scope: Mapping[str, str]) -> None:
        self.where = where
        self.scope = scope
        self.lookups = 0

    def expand(self, text: str) -> str:
        return self._expand(text, [])

    def _expand(self, text: str, stack: list[str]) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1) or match.group(2)
            return self._value(name, stack)

        out = _VARIABLE.sub(one, text)
        if len(out) > MAX_VALUE_CHARS:
            raise TemplateError(
                self.where,
                f"its image expands to more than {MAX_VALUE_CHARS // 1024} KiB",
                "A variable repeats another over and over; fix the template or copy it again",
            )
        return out

    def _value(self, name: str, stack: list[str]) -> str:
        self.lookups += 1
        if self.lookups > MAX_VARIABLE_LOOKUPS:
            raise TemplateError(
                self.where,
                f"its image takes more than {MAX_VARIABLE_LOOKUPS:,} variable lookups to expand",
                "Variables repeat each other over and over; fix the template or copy it again",
            )
        if name == "SECURE_ANALYZERS_PREFIX":
            return _PREFIX  # whatever the template defaults it to, it is the analyzer prefix
        if name == "CI_TEMPLATE_REGISTRY_HOST":
            return _HOST
        if name in stack:
            loop = " -> ".join([*stack[stack.index(name) :], name])
            raise TemplateError(
                self.where,
                f"variable {name} refers to itself ({loop})",
                "GitLab cannot expand it either; fix the variable in the template",
            )
        if len(stack) >= MAX_VARIABLE_DEPTH:
            raise TemplateError(
                self.where,
                f"its variables refer to each other more than {MAX_VARIABLE_DEPTH} deep",
                "Fix the variables in the template",
            )
        value = self.scope.get(name)
        if value is None:
            return ""  # GitLab expands an unset variable to nothing
        return self._expand(value, [*stack, name])


def _split_reference(expanded: str, image_text: str) -> tuple[str, str, bool] | None:
    """(name, tag, under_prefix) of an expanded image, or None when it is no reference."""
    text = expanded.strip()
    literal_host = re.match(r"\s*\"?\$\{?CI_TEMPLATE_REGISTRY_HOST\b", image_text) is not None
    under = False
    if text.startswith(_PREFIX + "/"):
        rest, under = text[len(_PREFIX) + 1 :], True
    elif text.startswith(_HOST + "/security-products/") and not literal_host:
        rest, under = text[len(_HOST) + len("/security-products/") :], True
    else:
        rest = text.replace(_HOST, DEFAULT_TEMPLATE_HOST)
    if _PREFIX in rest or _HOST in rest:
        return None
    if "@" in rest:
        name, _, tag = rest.partition("@")
    else:
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            name, tag = rest[:colon], rest[colon + 1 :]
        else:
            name, tag = rest, "latest"
    if not (is_image_tag(tag) and is_image_name(name, under_prefix=under)):
        return None
    return name, tag, under


def is_image_tag(tag: str) -> bool:
    """A tag (`6`, `6-fips`) or a digest (`sha256:…`)."""
    return _TAG.fullmatch(tag) is not None or _DIGEST.fullmatch(tag) is not None


def is_image_name(name: str, *, under_prefix: bool) -> bool:
    """A path under the prefix (`semgrep`), or outside it a full name (`host:5000/a/b`)."""
    if under_prefix:
        return _NAME.fullmatch(name) is not None
    first, _, path = name.partition("/")
    if "." in first or ":" in first or first == "localhost":
        return _HOST_PART.fullmatch(first) is not None and _NAME.fullmatch(path) is not None
    return _NAME.fullmatch(name) is not None


def _outside_note(job: _Job, name: str, tag: str, image_text: str) -> str:
    if re.match(r"\s*\"?\$\{?CI_TEMPLATE_REGISTRY_HOST\b", image_text):
        how = (
            "its template writes the registry host into the image itself, so "
            "SECURE_ANALYZERS_PREFIX does not move it"
        )
    else:
        how = "it does not go through SECURE_ANALYZERS_PREFIX"
    first = _VARIABLE.match(image_text.strip().strip('"'))
    whole = (first.group(1) or first.group(2)) if first else None
    if whole == "CI_TEMPLATE_REGISTRY_HOST":
        whole = None
    if whole:
        fix = f"mirror {name}:{tag} into your registry and set {whole} to that copy"
    else:
        fix = (
            f"mirror {name}:{tag} into your registry and override the job's image "
            f"({job.name}) in your .gitlab-ci.yml to point at that copy"
        )
    return f"{how}: {fix}"
