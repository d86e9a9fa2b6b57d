"""The pure parts of airgap_tui.gitlab.api: URLs an operator types, the token on stdin, and the
`include: template:` lines the walk follows."""

from __future__ import annotations

import io

import pytest

from airgap_tui.errors import UsageError
from airgap_tui.gitlab.api import included_templates, template_key
from airgap_tui.gitlab.client import base_url, read_token


@pytest.mark.parametrize(
    ("typed", "base"),
    [
        ("gitlab.example.com", "https://gitlab.example.com"),
        ("https://gitlab.example.com/", "https://gitlab.example.com"),
        ("http://10.0.0.5:8080/gitlab/api/v4", "http://10.0.0.5:8080/gitlab"),
        ("https://gitlab.example.com/api/", "https://gitlab.example.com"),
    ],
)
def test_base_url(typed: str, base: str) -> None:
    assert base_url(typed) == base


@pytest.mark.parametrize("typed", ["ftp://gitlab", "https://", "https://root:pw@gitlab.local"])
def test_base_url_refuses(typed: str) -> None:
    with pytest.raises(UsageError) as caught:
        base_url(typed)
    assert "pw" not in str(caught.value)


def test_read_token_takes_the_first_line_stripped() -> None:
    assert read_token(io.StringIO("glpat-abc \nignored\n")) == "glpat-abc"


@pytest.mark.parametrize(("text", "cause"), [("\n", "empty"), ("x" * 5000, "longer than")])
def test_read_token_refuses(text: str, cause: str) -> None:
    with pytest.raises(UsageError, match=cause):
        read_token(io.StringIO(text))


def test_template_key() -> None:
    assert template_key("Jobs/SAST.gitlab-ci.yml") == "Jobs/SAST"


def test_included_templates() -> None:
    text = (
        "include:\n"
        "  - template: Jobs/Secret-Detection.gitlab-ci.yml\n"
        "  - local: ci/other.yml\n"
        "  - template: ../../etc/passwd.gitlab-ci.yml\n"
        "  - template: Jobs/Not-A-Template.yml\n"
    )
    assert included_templates(text) == ["Jobs/Secret-Detection.gitlab-ci.yml"]
    assert included_templates("include:\n  template: Jobs/SAST.gitlab-ci.yml\n") == [
        "Jobs/SAST.gitlab-ci.yml"
    ]
    assert included_templates(": not yaml: [") == []
    assert included_templates("- a list\n") == []
