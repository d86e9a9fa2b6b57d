"""The HTTP side of the GitLab API: one session, the token in a header only, bounded answers,
and GitLab's refusals, TLS and network failures said in one sentence each.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import requests

from airgap_tui.errors import AirgapError, UsageError

MAX_TEMPLATE_BYTES = 2 * 1024 * 1024  # one template answer (JSON around the text)


MAX_SMALL_BYTES = 256 * 1024  # version, metadata, the project list


MAX_TOKEN_BYTES = 4096


TIMEOUT = (10.0, 30.0)  # connect, read (each, at most)


DEADLINE = 300.0  # seconds for the whole walk: a stalling server cannot hold the caller longer


class GitLabError(AirgapError):
    """The GitLab instance refused, failed, was unreachable, or is not a GitLab."""


class GitLabAuthError(GitLabError):
    """The token is missing, wrong, or lacks a scope."""


class GitLabTLSError(GitLabError):
    """The instance's certificate could not be verified."""


def read_token(stream: IO[str]) -> str:
    """The token from the first line of `stream` (--token-stdin), bounded and stripped."""
    line = stream.readline(MAX_TOKEN_BYTES + 1)
    if len(line) > MAX_TOKEN_BYTES:
        raise UsageError(
            "Token on standard input", "it is longer than 4096 characters",
            "Pass only the token, on one line",
        )  # fmt: skip
    token = line.strip()
    if not token:
        raise UsageError(
            "Token on standard input", "it is empty",
            "Pipe the token in, for example: printenv GITLAB_TOKEN | airgap-tui ... --token-stdin",
        )  # fmt: skip
    return token


def base_url(url: str) -> str:
    """`https://host[:port][/prefix]` from what an operator typed, or a UsageError."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"GitLab URL {url!r}", "it is not an http(s) URL with a host name",
            "Give the address you open GitLab at, for example https://gitlab.example.com",
        )  # fmt: skip
    if parts.username or parts.password:
        raise UsageError(
            f"GitLab URL {parts.hostname}", "it carries a user name or password",
            "Leave credentials out of the URL; pass a token with --token-stdin or GITLAB_TOKEN",
        )  # fmt: skip
    path = parts.path.rstrip("/")
    for suffix in ("/api/v4", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return f"{parts.scheme}://{parts.netloc}{path}"


class _Client:
    """One session against one instance: bounded reads, no redirects, errors in plain words."""

    def __init__(
        self, url: str, token: str | None, ca_file: Path | None, deadline: float = DEADLINE
    ) -> None:
        self.url = base_url(url)
        self.seconds = deadline
        self.deadline = time.monotonic() + deadline
        self.api = self.url + "/api/v4"
        self.shown = urlsplit(self.url).netloc + urlsplit(self.url).path
        self.token = token
        self.ca_file = ca_file
        self.session = requests.Session()
        self.session.trust_env = True  # a proxy from the environment is honoured
        if ca_file is not None:
            try:
                ssl.create_default_context().load_verify_locations(cafile=str(ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(
                    f"CA file {ca_file}", f"it could not be read as a PEM certificate ({exc})",
                    "Give the GitLab server's CA certificate in PEM format",
                ) from None  # fmt: skip
        # Passed on every call: a session's own `verify` loses to REQUESTS_CA_BUNDLE.
        self.verify: bool | str = str(ca_file) if ca_file is not None else True

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, limit: int, what: str) -> tuple[int, Any]:
        """(status, parsed JSON or None) for `path` under /api/v4."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["PRIVATE-TOKEN"] = self.token
        try:
            resp = self.session.get(
                self.api + path, headers=headers, timeout=self.timeout(what), stream=True,
                allow_redirects=False, verify=self.verify,
            )  # fmt: skip
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc) from None
        except requests.exceptions.RequestException as exc:
            if time.monotonic() >= self.deadline:
                raise self._too_slow(what) from None
            raise GitLabError(
                f"GitLab {self.shown}", f"it is unreachable ({_short_cause(exc)})",
                "Check the URL and that this host can reach it (a proxy in HTTPS_PROXY is used)",
            ) from None  # fmt: skip
        with resp:
            if resp.is_redirect:
                target = resp.headers.get("Location", "?")
                raise GitLabError(
                    f"GitLab {self.shown}", f"it redirects {what} to {_without_query(target)}",
                    "Give the address it redirects to as the GitLab URL (https:// if it "
                    "moves you there); redirects are not followed so the token stays put",
                )  # fmt: skip
            body = _read_bounded(resp, limit, what, self)
            status = resp.status_code
            content_type = resp.headers.get("Content-Type", "")
        if status in (401, 403):
            raise self._auth_error(status, what, body)
        if status == 404:
            return status, None
        if status >= 400:
            raise GitLabError(
                f"GitLab {self.shown}", f"it answered HTTP {status} to {what}",
                "Try again later; if it persists, look at the GitLab server's logs",
            )  # fmt: skip
        if "json" not in content_type.lower():
            raise self._not_gitlab(f"it answered {what} with {content_type or 'no type'}, not JSON")
        try:
            return status, json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise self._not_gitlab(f"its answer to {what} is not valid JSON") from None

    def timeout(self, what: str) -> tuple[float, float]:
        """(connect, read) timeouts, never past the walk's deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._too_slow(what)
        return (min(TIMEOUT[0], left), min(TIMEOUT[1], left))

    def _too_slow(self, what: str) -> GitLabError:
        return GitLabError(
            f"GitLab {self.shown}",
            f"reading {what} did not finish within {self.seconds:.0f} s",
            "Check the network and the GitLab server's load; or copy the templates directory "
            "from the GitLab host and use --templates DIR",
        )

    def _not_gitlab(self, cause: str) -> GitLabError:
        return GitLabError(
            f"GitLab URL {self.url}", f"this does not look like a GitLab API: {cause}",
            "Give the address you open GitLab at in a browser (without /api/v4)",
        )  # fmt: skip

    def _auth_error(self, status: int, what: str, body: bytes) -> GitLabAuthError:
        text = body[:500].decode("utf-8", "replace").lower()
        if not self.token:
            return GitLabAuthError(
                f"GitLab {self.shown}", f"it wants a token for {what} (HTTP {status})",
                "Create a personal access token with the read_api scope and pass it with "
                "--token-stdin or GITLAB_TOKEN",
            )  # fmt: skip
        if status == 403 or "insufficient_scope" in text:
            return GitLabAuthError(
                f"GitLab {self.shown}", f"the token may not read {what} (HTTP {status})",
                "Give a token with the read_api scope (read_user alone only reads the version)",
            )  # fmt: skip
        return GitLabAuthError(
            f"GitLab {self.shown}", "it rejected the token (HTTP 401): wrong, expired or revoked",
            "Create a new personal access token with the read_api scope",
        )  # fmt: skip

    def _tls_error(self, exc: BaseException) -> GitLabTLSError:
        text = " ".join(str(item) for item in _causes(exc)).lower()
        if "certificate verify failed" in text or "certificate_verify_failed" in text:
            if "expired" in text:
                cause = "its certificate has expired"
            elif "hostname" in text or "ip address mismatch" in text:
                cause = "its certificate was not issued for this host name"
            else:
                cause = "its certificate is signed by an unknown CA"
                if self.ca_file is not None:
                    cause += f" (the CA in {self.ca_file} did not sign it)"
            return GitLabTLSError(
                f"GitLab {self.shown} refused TLS", cause,
                "Give the CA certificate that signed it with --ca-file CA.crt",
            )  # fmt: skip
        return GitLabTLSError(
            f"GitLab {self.shown}", f"the TLS handshake failed ({_short_cause(exc)})",
            "If it serves plain HTTP, give the URL with http://",
        )  # fmt: skip


def _read_bounded(resp: requests.Response, limit: int, what: str, client: _Client) -> bytes:
    """At most `limit` bytes of the body, before the deadline, or a GitLabError naming it."""
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(client.shown, what, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _too_large(client.shown, what, limit)
            chunks.append(chunk)
            client.timeout(what)  # a server dripping bytes meets the deadline here
    except requests.exceptions.RequestException as exc:
        raise GitLabError(
            f"GitLab {client.shown}", f"the answer to {what} broke off ({_short_cause(exc)})",
            "Try again; if it persists, check the network between here and GitLab",
        ) from None  # fmt: skip
    return b"".join(chunks)


def _too_large(shown: str, what: str, limit: int) -> GitLabError:
    return GitLabError(
        f"GitLab {shown}", f"its answer to {what} is larger than {limit // 1024} KiB",
        "Check that the URL points at GitLab; or copy the templates and use --templates DIR",
    )  # fmt: skip


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend(arg for arg in getattr(item, "args", ()) if isinstance(arg, BaseException))
        for nested in (item.__cause__, item.__context__, getattr(item, "reason", None)):
            if isinstance(nested, BaseException):
                todo.append(nested)


def _short_cause(exc: BaseException) -> str:
    text = " ".join(str(item) for item in _causes(exc)).lower()
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "it did not answer in time"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "its host name does not resolve"
    if "no route to host" in text or "network is unreachable" in text:
        return "no route to it"
    return type(exc).__name__


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
