"""The part of PEP 508 the carried tool needs: a requirement's name and extras, and whether its
environment marker holds on this host.

The standard library has no parser and `packaging` is not a runtime dependency: what goes into
the carried tool must not depend on whatever else happens to be installed next to airgap-tui.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass

_HEAD = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?")
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'[^']*'|"[^"]*")"""
    r"""|(?P<op>===|==|!=|<=|>=|~=|<|>|\(|\))"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"""
)
_VERSION_VARIABLES = {"python_version", "python_full_version", "implementation_version"}
_VERSION = re.compile(r"\d+(?:\.\d+)*")


class MarkerError(ValueError):
    """A requirement or marker this subset cannot read."""


@dataclass(frozen=True)
class Requirement:
    name: str  # normalised (PEP 503)
    extras: tuple[str, ...]  # normalised
    marker: str | None


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text: str) -> Requirement:
    """`name[extra,…] (versions) ; marker` or `name @ url ; marker`; versions are not needed:
    the installed distribution is what gets carried."""
    head = _HEAD.match(text)
    if head is None:
        raise MarkerError(f"cannot read the requirement {text!r}")
    rest = text[head.end() :]
    if rest.lstrip().startswith("@"):  # a URL may hold ';': the marker follows whitespace
        split = re.search(r"\s;", rest)
        marker = rest[split.end() :] if split else None
    else:
        marker = rest.split(";", 1)[1] if ";" in rest else None
    extras = tuple(normalize_name(e.strip()) for e in (head.group(2) or "").split(",") if e.strip())
    marker = marker.strip() if marker else None
    return Requirement(normalize_name(head.group(1)), extras, marker or None)


def default_environment() -> dict[str, str]:
    """The marker variables of the running interpreter (PEP 508's table)."""
    info = sys.implementation.version
    implementation_version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        implementation_version += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": implementation_version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def marker_holds(marker: str, environment: dict[str, str], extra: str = "") -> bool:
    """Evaluate `marker` with `extra` set (\"\" outside any extra)."""
    tokens = _tokenize(marker)
    env = dict(environment, extra=extra)
    parser = _Parser(tokens, env)
    value = parser.expression()
    if parser.position != len(tokens):
        raise MarkerError(f"unexpected {tokens[parser.position][1]!r} in the marker {marker!r}")
    return value


def _tokenize(marker: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(marker):
        if marker[position:].strip() == "":
            break
        match = _TOKEN.match(marker, position)
        if match is None or match.end() == position:
            raise MarkerError(f"cannot read the marker {marker!r} at {marker[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """or_expr := and_expr ('or' and_expr)*; and_expr := atom ('and' atom)*;
    atom := '(' or_expr ')' | value op value."""

    def __init__(self, tokens: list[tuple[str, str]], env: dict[str, str]) -> None:
        self.tokens = tokens
        self.env = env
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise MarkerError("the marker ends too early")
        self.position += 1
        return token

    def expression(self) -> bool:
        value = self._conjunction()
        while self._peek() == ("word", "or"):
            self.position += 1
            right = self._conjunction()
            value = value or right
        return value

    def _conjunction(self) -> bool:
        value = self._atom()
        while self._peek() == ("word", "and"):
            self.position += 1
            right = self._atom()
            value = value and right
        return value

    def _atom(self) -> bool:
        if self._peek() == ("op", "("):
            self.position += 1
            value = self.expression()
            if self._take() != ("op", ")"):
                raise MarkerError("a '(' in the marker is not closed")
            return value
        left_name, left = self._value()
        op = self._take()
        if op == ("word", "not"):
            if self._take() != ("word", "in"):
                raise MarkerError("'not' must be followed by 'in'")
            operator = "not in"
        elif op[0] == "op" or op == ("word", "in"):
            operator = op[1]
        else:
            raise MarkerError(f"{op[1]!r} is not a comparison")
        right_name, right = self._value()
        return _compare(left, operator, right, left_name or right_name)

    def _value(self) -> tuple[str, str]:
        kind, text = self._take()
        if kind == "str":
            return "", text[1:-1]
        if kind == "word" and text in self.env:
            return text, self.env[text]
        raise MarkerError(f"unknown marker variable {text!r}")


def _compare(left: str, operator: str, right: str, variable: str) -> bool:
    if variable == "extra":
        left, right = normalize_name(left), normalize_name(right)
    if operator == "in":
        return left in right
    if operator == "not in":
        return left not in right
    if operator == "===":
        return left == right
    if variable in _VERSION_VARIABLES or (_is_version(left) and _is_version(right)):
        if _is_version(left) and _is_version(right.removesuffix(".*")):
            return _compare_versions(left, operator, right)
    if operator == "==":
        return left == right
    if operator == "!=":
        return left != right
    raise MarkerError(f"cannot compare {left!r} {operator} {right!r}")


def _is_version(text: str) -> bool:
    return _VERSION.match(text) is not None


def _release(text: str) -> tuple[int, ...]:
    match = _VERSION.match(text)
    assert match is not None
    return tuple(int(p) for p in match.group(0).split("."))


def _compare_versions(left: str, operator: str, right: str) -> bool:
    a = _release(left)
    if operator in ("==", "!=") and right.endswith(".*"):
        prefix = _release(right[:-2])
        equal = a[: len(prefix)] == prefix
        return equal if operator == "==" else not equal
    b = _release(right)
    width = max(len(a), len(b))
    a_padded, b_padded = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    if operator == "~=":
        if len(b) < 2:
            raise MarkerError(f"'~={right}' needs at least two release numbers")
        return a_padded >= b_padded and a[: len(b) - 1] == b[:-1]
    results = {
        "==": a_padded == b_padded,
        "!=": a_padded != b_padded,
        "<": a_padded < b_padded,
        "<=": a_padded <= b_padded,
        ">": a_padded > b_padded,
        ">=": a_padded >= b_padded,
    }
    return results[operator]
