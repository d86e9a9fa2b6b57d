"""fetch_templates against the GitLab API stand-in (tests/harness/gitlab_api.py), which serves
real template files: what comes back, what the token may and may not do, and each failure's
sentence (thing, cause, next step)."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airgap_tui.gitlab.api import fetch_templates
from airgap_tui.gitlab.client import GitLabAuthError, GitLabError, GitLabTLSError
from tests.harness.gitlab_api import GitLabStandIn, Project
from tests.harness.tls import make_ca, make_server_cert

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates" / "15"
TOKEN = "glpat-stand-in-read-api-0123456789"
USER_ONLY = "glpat-stand-in-read-user-98765"
LONELY = "glpat-stand-in-no-projects-5555"


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*.gitlab-ci.yml"))
    }


@pytest.fixture
def gitlab() -> Iterator[GitLabStandIn]:
    with GitLabStandIn(
        TEMPLATES,
        tokens={
            TOKEN: frozenset({"read_api"}),
            USER_ONLY: frozenset({"read_user"}),
            LONELY: frozenset({"read_api"}),
        },
        projects=[
            Project(3, "team/private-app", members=frozenset({TOKEN, USER_ONLY})),
            Project(7, "team/other", public=True),
        ],
    ) as stand_in:
        yield stand_in


def test_reads_every_security_template_and_the_version(gitlab: GitLabStandIn) -> None:
    got = fetch_templates(gitlab.url, token=TOKEN, ca_file=None)
    assert got.version == "17.11.3-ee"
    assert got.sources == _files(TEMPLATES)  # byte for byte what the instance has
    assert got.project == "team/private-app"
    # the nested names went URL-encoded through the project's templates API
    asked = [s.path for s in gitlab.seen if "/templates/" in s.path]
    assert "/api/v4/projects/3/templates/gitlab_ci_ymls/Jobs%2FSAST" in asked
    # the token went in the header only, never into a path or query
    assert all(TOKEN not in s.path for s in gitlab.seen)
    assert {s.token for s in gitlab.seen} == {TOKEN}


def test_follows_include_template(gitlab: GitLabStandIn) -> None:
    got = fetch_templates(
        gitlab.url, token=TOKEN, ca_file=None, names=["Security/Secret-Detection.gitlab-ci.yml"]
    )
    assert sorted(got.sources) == [
        "Jobs/Secret-Detection.gitlab-ci.yml",
        "Security/Secret-Detection.gitlab-ci.yml",
    ]


def test_the_instance_wide_templates_api_does_not_reach_nested_templates(
    gitlab: GitLabStandIn,
) -> None:
    # The reason fetch_templates goes through a project (docs/gitlab-api.md): the route's
    # name requirement has neither "/" nor "%".
    nested = requests.get(f"{gitlab.url}/api/v4/templates/gitlab_ci_ymls/Jobs%2FSAST", timeout=5)
    assert nested.status_code == 404
    project = requests.get(
        f"{gitlab.url}/api/v4/projects/7/templates/gitlab_ci_ymls/Jobs%2FSAST", timeout=5
    )
    assert project.status_code == 200
    assert project.json()["content"] == (TEMPLATES / "Jobs/SAST.gitlab-ci.yml").read_text()


def test_without_a_token_a_public_project_serves_templates_but_not_the_version(
    gitlab: GitLabStandIn,
) -> None:
    got = fetch_templates(gitlab.url, token=None, ca_file=None)
    assert got.version is None
    assert got.project == "team/other"
    assert got.sources == _files(TEMPLATES)
    assert all(s.token is None for s in gitlab.seen)


def test_a_named_project_by_path(gitlab: GitLabStandIn) -> None:
    got = fetch_templates(gitlab.url, token=TOKEN, ca_file=None, project="team/private-app")
    assert got.project == "team/private-app"
    with pytest.raises(GitLabError, match="project team/nope does not exist"):
        fetch_templates(gitlab.url, token=TOKEN, ca_file=None, project="team/nope")


def test_gitlab_before_15_2_has_only_the_version_endpoint() -> None:
    with GitLabStandIn(
        TEMPLATES, version="15.1.6", versions=("version",),
        tokens={TOKEN: frozenset({"api"})},
        projects=[Project(1, "a/b", members=frozenset({TOKEN}))],
    ) as old:  # fmt: skip
        assert fetch_templates(old.url, token=TOKEN, ca_file=None).version == "15.1.6"


def test_a_wrong_token_is_named_without_being_shown(gitlab: GitLabStandIn) -> None:
    secret = "glpat-this-one-is-wrong-4242"
    with pytest.raises(GitLabAuthError) as caught:
        fetch_templates(gitlab.url, token=secret, ca_file=None)
    text = str(caught.value)
    assert "rejected the token (HTTP 401)" in text
    assert "read_api" in text
    assert secret not in text


def test_a_token_without_read_api_names_the_scope(gitlab: GitLabStandIn) -> None:
    with pytest.raises(GitLabAuthError, match="may not read the project list.*read_api scope"):
        fetch_templates(gitlab.url, token=USER_ONLY, ca_file=None)


def test_a_token_that_sees_no_project(gitlab: GitLabStandIn) -> None:
    with pytest.raises(GitLabError, match="sees no project.*member of any project"):
        fetch_templates(gitlab.url, token=LONELY, ca_file=None)


def test_not_a_gitlab(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html>hello</html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(GitLabError, match="does not look like a GitLab API"):
            fetch_templates(url, token=TOKEN, ca_file=None)
        with pytest.raises(GitLabError, match="does not look like a GitLab API"):
            fetch_templates(url, token=None, ca_file=None)
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    with pytest.raises(GitLabError, match=r"unreachable \(connection refused\).*Check the URL"):
        fetch_templates(f"http://127.0.0.1:{port}", token=TOKEN, ca_file=None)


def test_tls_with_an_unknown_ca_then_with_ca_file(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "ca")
    pair = make_server_cert(tmp_path / "server", ca)
    with GitLabStandIn(
        TEMPLATES, tokens={TOKEN: frozenset({"read_api"})},
        projects=[Project(1, "a/b", members=frozenset({TOKEN}))], tls=pair,
    ) as secure:  # fmt: skip
        with pytest.raises(GitLabTLSError, match="signed by an unknown CA.*--ca-file"):
            fetch_templates(secure.url, token=TOKEN, ca_file=None)
        assert secure.seen == []  # the token never left before the certificate was checked
        got = fetch_templates(secure.url, token=TOKEN, ca_file=ca.cert)
        assert got.sources == _files(TEMPLATES)


def test_an_oversized_template_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES, root)
    big = root / "Jobs/SAST.gitlab-ci.yml"
    big.write_text(big.read_text() + "#" * (3 * 1024 * 1024))
    with GitLabStandIn(
        root, tokens={TOKEN: frozenset({"read_api"})},
        projects=[Project(1, "a/b", members=frozenset({TOKEN}))],
    ) as hostile:  # fmt: skip
        with pytest.raises(GitLabError, match="template Jobs/SAST.gitlab-ci.yml is larger than"):
            fetch_templates(hostile.url, token=TOKEN, ca_file=None)


def test_a_server_that_never_answers_meets_the_deadline() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections complete in the kernel; nothing ever answers them
        port = listener.getsockname()[1]
        with pytest.raises(GitLabError, match=r"did not finish within 1 s.*--templates DIR"):
            fetch_templates(f"http://127.0.0.1:{port}", token=TOKEN, ca_file=None, deadline=1.0)
