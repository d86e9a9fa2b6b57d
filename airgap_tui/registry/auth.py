"""Registry auth: WWW-Authenticate challenges, scopes and basic headers. Credentials never
reach an error text."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from airgap_tui.models import Credentials

_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a `WWW-Authenticate` value (RFC 7235): several challenges, quoted values, commas."""
    text = header or ""
    pos = 0
    out: list[Challenge] = []

    def skip(chars: str) -> None:
        nonlocal pos
        while pos < len(text) and text[pos] in chars:
            pos += 1

    def token() -> str:
        nonlocal pos
        match = _TOKEN_CHARS.match(text, pos)
        if not match:
            return ""
        pos = match.end()
        return match.group(0)

    def bare() -> str:
        """An unquoted value; lenient (URLs are not RFC tokens, but some servers send them)."""
        nonlocal pos
        start = pos
        while pos < len(text) and text[pos] not in ", \t":
            pos += 1
        return text[start:pos]

    def quoted() -> str:
        nonlocal pos
        pos += 1  # opening quote
        chars: list[str] = []
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            chars.append(text[pos])
            pos += 1
        pos += 1  # closing quote (or end)
        return "".join(chars)

    while pos < len(text):
        skip(" \t,")
        scheme = token()
        if not scheme:
            pos += 1
            continue
        params: dict[str, str] = {}
        while True:
            skip(" \t")
            start = pos
            name = token()
            skip(" \t")
            if not name or pos >= len(text) or text[pos] != "=":
                pos = start  # a new challenge's scheme (or token68, which registries do not use)
                break
            pos += 1
            skip(" \t")
            value = quoted() if pos < len(text) and text[pos] == '"' else bare()
            params[name.lower()] = value
            skip(" \t")
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        out.append(Challenge(scheme.lower(), params))
    return out


def _pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"
