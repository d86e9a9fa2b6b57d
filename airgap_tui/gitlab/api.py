"""Read a GitLab instance's security CI templates and its version through the REST API.

Which endpoint serves the nested templates (Jobs/SAST, Security/...) is worked out, with sources,
in docs/gitlab-api.md. In short: the instance-wide templates API only routes names without a
slash, so it cannot serve them; a project's templates API
(`GET /projects/:id/templates/gitlab_ci_ymls/:name`, name URL-encoded, "Jobs%2FSAST") reaches
the same finder that `include: template:` uses, and answers with the file's text. So this module
picks one project the token can read, fetches the known security templates by name, follows
their `include: - template:` lines, and reads the version from /metadata (or /version).

The token travels only in the PRIVATE-TOKEN header. It never appears in an error, a log line or
a file, and redirects are not followed (a redirect would carry it to another host).
Every answer is read with a size limit: the instance is another machine and may be hostile.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

import requests
import yaml

from airgap_tui.errors import AirgapError, UsageError

EXTENSION = ".gitlab-ci.yml"

# GitLab's own security templates, as paths under lib/gitlab/ci/templates/, across 14-19.
# A name an instance does not have (404) is skipped: each version has a subset. Templates they
# include are followed, so a wrapper such as Security/SAST brings Jobs/SAST with it.
SECURITY_TEMPLATES: tuple[str, ...] = (
    "Jobs/SAST.gitlab-ci.yml",
    "Jobs/SAST-IaC.gitlab-ci.yml",
    "Jobs/Secret-Detection.gitlab-ci.yml",
    "Jobs/Dependency-Scanning.gitlab-ci.yml",
    "Jobs/Dependency-Scanning.v2.gitlab-ci.yml",
    "Jobs/Container-Scanning.gitlab-ci.yml",
    "Jobs/License-Scanning.gitlab-ci.yml",
    "Security/SAST.gitlab-ci.yml",
    "Security/SAST-IaC.gitlab-ci.yml",
    "Security/Secret-Detection.gitlab-ci.yml",
    "Security/Dependency-Scanning.gitlab-ci.yml",
    "Security/Container-Scanning.gitlab-ci.yml",
    "Security/DAST.gitlab-ci.yml",
    "Security/DAST-API.gitlab-ci.yml",
    "Security/DAST-Runner-Validation.gitlab-ci.yml",
    "Security/API-Fuzzing.gitlab-ci.yml",
    "Security/API-Security.gitlab-ci.yml",
    "Security/Coverage-Fuzzing.gitlab-ci.yml",
    "Security/License-Scanning.gitlab-ci.yml",
    "Security/Cluster-Image-Scanning.gitlab-ci.yml",
    "Security/DAST-On-Demand-Scan.gitlab-ci.yml",
    "Security/DAST-On-Demand-API-Scan.gitlab-ci.yml",
    "Security/API-Discovery.gitlab-ci.yml",
    "DAST.gitlab-ci.yml",  # the root held a few security templates on some versions
    "DAST-API.gitlab-ci.yml",
    "API-Fuzzing.gitlab-ci.yml",
)

MAX_TEMPLATE_BYTES = 2 * 1024 * 1024  # one template answer (JSON around the text)
MAX_SMALL_BYTES = 256 * 1024  # version, metadata, the project list
MAX_TEMPLATES = 100  # includes followed, in all
MAX_TOKEN_BYTES = 4096
TIMEOUT = (10.0, 30.0)  # connect, read (each, at most)
DEADLINE = 300.0  # seconds for the whole walk: a stalling server cannot hold the caller longer


class GitLabError(AirgapError):
    """The GitLab instance refused, failed, was unreachable, or is not a GitLab."""


class GitLabAuthError(GitLabError):
    """The token is missing, wrong, or lacks a scope."""


class GitLabTLSError(GitLabError):
    """The instance's certificate could not be verified."""


@dataclass(frozen=True)
class InstanceTemplates:
    """What an instance said: its version (None when it would not say) and template texts."""

    version: str | None
    sources: dict[str, str] = field(default_factory=dict)  # "Jobs/SAST.gitlab-ci.yml" -> text
    url: str = ""
    project: str = ""  # the project whose templates API answered


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


def template_key(path: str) -> str:
    """The API's name for a template path: "Jobs/SAST.gitlab-ci.yml" -> "Jobs/SAST"."""
    return path[: -len(EXTENSION)] if path.endswith(EXTENSION) else path


def included_templates(text: str) -> list[str]:
    """The `include: - template: X` paths of one template's text (nothing when it is not YAML)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return []  # the evaluator reports the broken file by name; here it only ends the walk
    if not isinstance(document, dict):
        return []
    include = document.get("include")
    entries = include if isinstance(include, list) else [include]
    found = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("template"), str):
            name = entry["template"].strip().lstrip("/")
            if name.endswith(EXTENSION) and ".." not in name.split("/"):
                found.append(name)
    return found


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


def fetch_templates(
    url: str,
    *,
    token: str | None,
    ca_file: Path | None,
    project: str | None = None,
    names: Iterable[str] = SECURITY_TEMPLATES,
    deadline: float = DEADLINE,
) -> InstanceTemplates:
    """The security templates `url` serves, and its version.

    `project` (an id or a path such as "group/app") picks whose templates API to use; by default
    the first project the token can read. Any readable project will do: the templates come from
    the instance, not from the project.
    """
    client = _Client(url, token, ca_file, deadline)
    try:
        version = _read_version(client)
        project_id, project_name = _pick_project(client, project)
        sources = dict(_walk_templates(client, project_id, project_name, names))
    finally:
        client.close()
    if not sources:
        raise GitLabError(
            f"GitLab {client.shown}",
            f"project {project_name}'s templates API served none of GitLab's security templates",
            "Copy the templates directory from the GitLab host instead and use --templates DIR "
            "(see the README)",
        )  # fmt: skip
    return InstanceTemplates(version=version, sources=sources, url=client.url, project=project_name)


def _read_version(client: _Client) -> str | None:
    """The instance's version from /metadata (15.2+) or /version; None without a token."""
    if not client.token:
        return None  # both endpoints want a token; the templates of a public project do not
    for path in ("/metadata", "/version"):
        status, answer = client.get(path, MAX_SMALL_BYTES, "the version")
        if status == 404:
            continue
        version = answer.get("version") if isinstance(answer, dict) else None
        if not isinstance(version, str) or not version.strip() or len(version) > 64:
            raise client._not_gitlab(f"{path} has no version string")
        return version.strip()
    raise client._not_gitlab("neither /api/v4/metadata nor /api/v4/version exists")


def _pick_project(client: _Client, project: str | None) -> tuple[str, str]:
    """(id for the URL, name to show) of the project whose templates API is asked."""
    if project:
        ref = quote(project.strip().strip("/"), safe="")
        status, answer = client.get(f"/projects/{ref}", MAX_SMALL_BYTES, f"project {project}")
        if status == 404 or not isinstance(answer, dict) or "id" not in answer:
            raise GitLabError(
                f"GitLab {client.shown}", f"project {project} does not exist or the token "
                "cannot read it", "Give a project the token's user can open, or leave it out",
            )  # fmt: skip
        return str(answer["id"]), str(answer.get("path_with_namespace") or project)
    query = "?simple=true&per_page=1&order_by=id&sort=asc"
    if client.token:
        query += "&membership=true"
    status, answer = client.get("/projects" + query, MAX_SMALL_BYTES, "the project list")
    if status == 404 or not isinstance(answer, list):
        raise client._not_gitlab("/api/v4/projects is not a project list")
    if not answer or not isinstance(answer[0], dict) or "id" not in answer[0]:
        raise GitLabError(
            f"GitLab {client.shown}", "the token sees no project, and GitLab serves its "
            "security templates only through a project's templates API",
            "Give a token of a user who is a member of any project (Guest is enough), or name "
            "a readable project",
        )  # fmt: skip
    first = answer[0]
    return str(first["id"]), str(first.get("path_with_namespace") or first["id"])


def _walk_templates(
    client: _Client, project_id: str, project_name: str, names: Iterable[str]
) -> Iterator[tuple[str, str]]:
    """(path, text) of each named template the instance has, and of the templates they include."""
    queue = list(dict.fromkeys(names))
    seen: set[str] = set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        if len(seen) > MAX_TEMPLATES:
            raise GitLabError(
                f"GitLab {client.shown}", f"its templates include more than {MAX_TEMPLATES} others",
                "Copy the templates directory from the GitLab host and use --templates DIR",
            )  # fmt: skip
        name = quote(template_key(path), safe="")
        status, answer = client.get(
            f"/projects/{project_id}/templates/gitlab_ci_ymls/{name}", MAX_TEMPLATE_BYTES,
            f"template {path}",
        )  # fmt: skip
        if status == 404:
            continue  # not a template of this version
        content = answer.get("content") if isinstance(answer, dict) else None
        if not isinstance(content, str):
            raise client._not_gitlab(f"its answer for template {path} has no text")
        yield path, content
        queue.extend(included for included in included_templates(content) if included not in seen)


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
