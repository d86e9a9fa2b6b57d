"""`request --gitlab-url`: the templates read through the instance's API (the GitLab API
stand-in serving real vendored templates) give the same request as the copied directory, plus
the instance's version; the token is read from stdin or GITLAB_TOKEN and written nowhere."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.gitlab_api import GitLabStandIn, Project
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates"
TOKEN = "glpat-request-read-api-24680"


@pytest.fixture
def gitlab17() -> Iterator[GitLabStandIn]:
    with GitLabStandIn(
        REAL / "17",
        version="17.11.3-ee",
        tokens={TOKEN: frozenset({"read_api"})},
        projects=[Project(3, "team/app", members=frozenset({TOKEN}))],
    ) as stand_in:
        yield stand_in


def _images(path: Path) -> set[tuple[str, str, str, str]]:
    data = json.loads(path.read_text())
    return {(i["name"], i["tag"], i["job"], i["template"]) for i in data["images"]}


def test_the_api_and_the_copied_directory_give_the_same_request(
    gitlab17: GitLabStandIn,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_dir = tmp_path / "from-dir.json"
    run = cli_no_engine("request", "--templates", str(REAL / "17"), "--out", str(from_dir))
    assert run.code == 0, run.err

    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    from_api = tmp_path / "from-api.json"
    run = cli_no_engine(
        "request", "--gitlab-url", gitlab17.url, "--token-stdin", "--out", str(from_api)
    )
    assert run.code == 0, run.err
    assert _images(from_api) == _images(from_dir)
    data = json.loads(from_api.read_text())
    assert data["gitlab_version"] == "17.11.3-ee"
    assert data["source"].startswith("gitlab-api http://127.0.0.1:")
    assert TOKEN not in from_api.read_text() and TOKEN not in run.out + run.err

    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    again = tmp_path / "from-env.json"
    run = cli_no_engine("request", "--gitlab-url", gitlab17.url, "--out", str(again), "--fips")
    assert run.code == 0, run.err
    tags = {(i["name"], i["tag"]) for i in json.loads(again.read_text())["images"]}
    assert ("container-scanning", "7-fips") in tags and ("semgrep", "5") in tags


def test_a_wrong_token_is_a_clear_error_without_the_token(
    gitlab17: GitLabStandIn,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong-13579")
    run = cli_no_engine("request", "--gitlab-url", gitlab17.url, "--out", str(tmp_path / "r.json"))
    assert run.code != 0
    assert "glpat-wrong-13579" not in run.err and "token" in run.err.lower()
    assert not (tmp_path / "r.json").exists()


def test_check_reads_the_templates_through_the_api_too(
    gitlab17: GitLabStandIn,
    registry_factory: Callable[..., RegistryHandle],
    cli_no_engine: Callable[..., CliRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offline = registry_factory("offline")
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    run = cli_no_engine(
        "check", "--registry", f"{offline.host}/mirror", "--gitlab-url", gitlab17.url, "--json"
    )
    assert run.code == 1, run.err
    assert run.json["gitlab_version"] == "17.11.3-ee"
    assert "semgrep:5" in run.json["missing"] and "container-scanning:7" in run.json["missing"]
    assert f"--gitlab-url {gitlab17.url}" in run.json["fix"]
    assert TOKEN not in run.out
