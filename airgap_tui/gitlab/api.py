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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml

from airgap_tui.gitlab.client import (
    DEADLINE,
    MAX_SMALL_BYTES,
    MAX_TEMPLATE_BYTES,
    GitLabError,
    _Client,
)

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


MAX_TEMPLATES = 100  # includes followed, in all


@dataclass(frozen=True)
class InstanceTemplates:
    """What an instance said: its version (None when it would not say) and template texts."""

    version: str | None
    sources: dict[str, str] = field(default_factory=dict)  # "Jobs/SAST.gitlab-ci.yml" -> text
    url: str = ""
    project: str = ""  # the project whose templates API answered


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
