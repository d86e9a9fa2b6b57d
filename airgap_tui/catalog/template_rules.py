"""What a job's `rules:` say: never, only when a variable is set (opt-in), or a FIPS suffix."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from airgap_tui.catalog.template_images import _variables
from airgap_tui.catalog.template_model import _BARE, _FIPS_MODE, _NOT_TRUE, _TRUE_CHECK


def _fips_rule_variables(
    rules: list[Any], value_of: Callable[[str], str | None] = lambda _name: None
) -> dict[str, str] | None:
    """The variables of the first rule that applies on a FIPS instance, if it sets any.

    A `$VAR =~ /re/` or `$VAR !~ /re/` beside the FIPS check is tested against the value the
    templates give VAR (`value_of`; None for a variable they do not set, such as the instance's
    GITLAB_FEATURES, which then counts as holding): container scanning adds `-fips` only when
    `CS_ANALYZER_IMAGE` does not already end in `-fips` or `-ubi`."""
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("when") == "never":
            continue
        condition = rule.get("if")
        if isinstance(condition, str) and _FIPS_MODE.search(condition):
            if not all(_regex_holds(part, value_of) for part in _conjuncts(condition)):
                continue
            values = _variables(rule.get("variables"))
            if values:
                return values
    return None


_REGEX_TEST = re.compile(r"\$\{?(\w+)\}?\s*(=~|!~)\s*/(.*)/([a-z]*)\s*")


def _regex_holds(part: str, value_of: Callable[[str], str | None]) -> bool:
    """A conjunct that is not a regex test holds; a regex test is checked (Ruby's \\z is \\Z)."""
    match = _REGEX_TEST.fullmatch(part)
    if match is None:
        return True
    name, operator, pattern, flags = match.groups()
    value = value_of(name)
    if value is None:
        return True
    try:
        regex = re.compile(pattern.replace("\\z", "\\Z"), re.IGNORECASE if "i" in flags else 0)
    except re.error:
        return True  # a pattern Python cannot read: as before, the rule is taken
    found = regex.search(value) is not None
    return found if operator == "=~" else not found


def _never_runs(rules: list[Any]) -> bool:
    """True when no rule before an unconditional `when: never` can start the job."""
    for rule in rules:
        if not isinstance(rule, dict):
            return False
        conditional = any(key in rule for key in ("if", "exists", "changes"))
        if rule.get("when") == "never":
            if not conditional:
                return True
            continue
        return False
    return True  # no rule matches: GitLab does not add the job


def _excluded_switch(name: str) -> bool:
    return name.startswith("CI_") or name == "GITLAB_FEATURES"


def _conjuncts(condition: str) -> list[str]:
    """Split an `if:` on top-level `&&`; parenthesised groups stay whole."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(condition):
        char = condition[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif condition.startswith("&&", i) and depth == 0:
            parts.append(condition[start:i].strip())
            start = i + 2
            i += 1
        i += 1
    parts.append(condition[start:].strip())
    return parts


def _opt_in(rules: list[Any], global_vars: Mapping[str, str]) -> str | None:
    """The variable a job needs set before it runs at all (GITLAB_ADVANCED_SAST_ENABLED, …)."""

    def off_by_default(name: str) -> bool:
        return global_vars.get(name, "").strip().lower() not in ("true", "1")

    for rule in rules:
        if not isinstance(rule, dict) or rule.get("when") != "never":
            continue
        condition = rule.get("if")
        if not isinstance(condition, str):
            break
        parts = _conjuncts(condition)
        names: set[str] = set()
        for part in parts:
            match = _NOT_TRUE.fullmatch(part)
            if match is None:
                names = set()
                break
            names.add(match.group(1))
        if len(names) == 1:
            (name,) = names
            if not _excluded_switch(name) and off_by_default(name):
                return name
    candidates: set[str] | None = None
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("when") == "never":
            continue
        condition = rule.get("if")
        if not isinstance(condition, str):
            return None  # a rule that runs the job with no condition at all
        names = set()
        for part in _conjuncts(condition):
            match = _TRUE_CHECK.fullmatch(part) or _BARE.fullmatch(part)
            if match and not _excluded_switch(match.group(1)):
                names.add(match.group(1))
        candidates = names if candidates is None else candidates & names
    if not candidates:
        return None
    switches = sorted(name for name in candidates if off_by_default(name))
    return switches[0] if switches else None
