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


class _Scanner:
    """A cursor over one header value, with the few token shapes RFC 7235 uses."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.text)

    def at(self, char: str) -> bool:
        return self.more() and self.text[self.pos] == char

    def skip(self, chars: str) -> None:
        while self.more() and self.text[self.pos] in chars:
            self.pos += 1

    def token(self) -> str:
        match = _TOKEN_CHARS.match(self.text, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group(0)

    def bare(self) -> str:
        """An unquoted value; lenient (URLs are not RFC tokens, but some servers send them)."""
        start = self.pos
        while self.more() and self.text[self.pos] not in ", \t":
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        self.pos += 1  # opening quote
        chars: list[str] = []
        while self.more() and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        self.pos += 1  # closing quote (or end)
        return "".join(chars)

    def params(self) -> dict[str, str]:
        """`name=value, …` up to the next challenge's scheme."""
        params: dict[str, str] = {}
        while True:
            self.skip(" \t")
            start = self.pos
            name = self.token()
            self.skip(" \t")
            if not name or not self.at("="):
                self.pos = start  # a new challenge's scheme (or token68, which registries lack)
                return params
            self.pos += 1
            self.skip(" \t")
            params[name.lower()] = self.quoted() if self.at('"') else self.bare()
            self.skip(" \t")
            if not self.at(","):
                return params
            self.pos += 1


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a `WWW-Authenticate` value (RFC 7235): several challenges, quoted values, commas."""
    scanner = _Scanner(header or "")
    out: list[Challenge] = []
    while scanner.more():
        scanner.skip(" \t,")
        scheme = scanner.token()
        if not scheme:
            scanner.pos += 1
            continue
        out.append(Challenge(scheme.lower(), scanner.params()))
    return out


def _pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"
