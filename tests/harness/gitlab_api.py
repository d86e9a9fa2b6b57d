"""A GitLab API stand-in on loopback: real template text, the version endpoints, token checks.

It answers the few routes airgap_tui.gitlab.api uses, the way GitLab's source does (see
docs/gitlab-api.md for the files each rule comes from):

- GET /api/v4/metadata and /api/v4/version: need a token (read_user, read_api or api scope);
  `versions=("version",)` makes /metadata 404 as on GitLab before 15.2.
- GET /api/v4/projects (simple, membership, per_page) and /api/v4/projects/:id.
- GET /api/v4/projects/:id/templates/gitlab_ci_ymls/:name: the name must match GitLab's route
  requirement [\\w%.+-]+ on the raw path and is then URL-decoded, so "Jobs%2FSAST" serves
  <root>/Jobs/SAST.gitlab-ci.yml; a name with "..", or with ".latest." in it, is refused.
- GET /api/v4/templates/gitlab_ci_ymls/:name: the instance-wide route, whose requirement
  [\\w.-]+ has no "/" and no "%": nested templates are not reachable there (as on GitLab).

The template files are real GitLab templates read from a directory (vendored with their source);
the stand-in only serves them. It records every request (path and whether a token came with it)
and can also serve TLS with a certificate from tests/harness/tls.py.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

EXTENSION = ".gitlab-ci.yml"
_PROJECT_NAME = re.compile(r"^[\w%.+-]+$")  # lib/api/project_templates.rb
_GLOBAL_NAME = re.compile(r"^[\w.-]+$")  # lib/api/templates.rb
_ROOT_CATEGORIES = ("", "Pages", "Verify", "autodeploy")  # GitlabCiYmlTemplate.categories
_VERSION_SCOPES = {"read_user", "read_api", "api"}
_READ_SCOPES = {"read_api", "api"}


@dataclass(frozen=True)
class Project:
    id: int
    path: str
    public: bool = False
    members: frozenset[str] = frozenset()  # tokens whose user is a member


@dataclass
class Seen:
    path: str  # raw request path with query
    token: str | None
    status: int


@dataclass
class GitLabStandIn:
    """`with GitLabStandIn(root) as gitlab:` then `fetch_templates(gitlab.url, ...)`."""

    root: Path  # the lib/gitlab/ci/templates tree to serve
    version: str = "17.11.3-ee"
    tokens: dict[str, frozenset[str]] = field(default_factory=dict)  # token -> scopes
    projects: list[Project] = field(default_factory=list)
    versions: tuple[str, ...] = ("metadata", "version")
    tls: tuple[Path, Path] | None = None  # (cert, key)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stand_in._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GitLabStandIn:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- routing -------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        raw = handler.path
        parts = urlsplit(raw)
        token = handler.headers.get("PRIVATE-TOKEN")
        status, body = self._route(parts.path, parse_qs(parts.query), token)
        with self._lock:
            self.seen.append(Seen(path=raw, token=token, status=status))
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, path: str, query: dict[str, list[str]], token: str | None) -> tuple[int, Any]:
        if token is not None and token not in self.tokens:
            return 401, {"message": "401 Unauthorized"}  # an unknown token fails everywhere
        scopes = self.tokens.get(token or "", frozenset())
        if not path.startswith("/api/v4/"):
            return 404, {"error": "404 Not Found"}
        route = path[len("/api/v4") :]
        if route in ("/metadata", "/version"):
            if route.lstrip("/") not in self.versions:
                return 404, {"error": "404 Not Found"}
            if token is None:
                return 401, {"message": "401 Unauthorized"}
            if not scopes & _VERSION_SCOPES:
                return 403, {"error": "insufficient_scope"}
            return 200, {"version": self.version, "revision": "0123456789a", "enterprise": True}
        if token is not None and not scopes & _READ_SCOPES:
            return 403, {"error": "insufficient_scope"}
        if route == "/projects":
            return 200, self._project_list(query, token)
        if route.startswith("/templates/gitlab_ci_ymls/"):
            return self._template(route.rsplit("/", 1)[1], _GLOBAL_NAME)
        match = re.fullmatch(r"/projects/([^/]+)(/templates/gitlab_ci_ymls/([^/]+))?", route)
        if match is None:
            return 404, {"error": "404 Not Found"}
        project = self._project(unquote(match.group(1)), token)
        if project is None:
            return 404, {"message": "404 Project Not Found"}
        if match.group(2) is None:
            return 200, {"id": project.id, "path_with_namespace": project.path}
        return self._template(match.group(3), _PROJECT_NAME)

    def _visible(self, project: Project, token: str | None) -> bool:
        return project.public or (token is not None and token in project.members)

    def _project(self, ref: str, token: str | None) -> Project | None:
        for project in self.projects:
            if ref in (str(project.id), project.path) and self._visible(project, token):
                return project
        return None

    def _project_list(self, query: dict[str, list[str]], token: str | None) -> list[Any]:
        membership = query.get("membership", ["false"])[0] == "true"
        per_page = int(query.get("per_page", ["20"])[0])
        found = [
            {"id": p.id, "path_with_namespace": p.path}
            for p in sorted(self.projects, key=lambda p: p.id)
            if self._visible(p, token) and (not membership or (token in p.members))
        ]
        return found[:per_page]

    def _template(self, raw_name: str, requirement: re.Pattern[str]) -> tuple[int, Any]:
        if not requirement.match(raw_name):
            return 404, {"error": "404 Not Found"}  # the route does not match at all
        name = unquote(raw_name)
        if ".." in name.split("/") or name.startswith("/") or "\\" in name:
            return 400, {"error": "Invalid path"}  # Gitlab::PathTraversal
        if re.search(r"\.latest\.", name):
            return 404, {"message": "404 Template Not Found"}  # BASE_EXCLUDED_PATTERNS
        for category in _ROOT_CATEGORIES:  # GlobalTemplateFinder#select_directory
            candidate = self.root / category / (name + EXTENSION)
            if candidate.is_file() and candidate.resolve().is_relative_to(self.root.resolve()):
                text = candidate.read_text(encoding="utf-8")
                return 200, {"name": Path(name).name, "content": text}
        return 404, {"message": "404 Template Not Found"}
