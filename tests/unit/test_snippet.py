"""The CI snippet: valid YAML naming exactly the pushed images, with the pins GitLab needs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from airgap_tui.catalog import Catalog, load_catalog
from airgap_tui.errors import CatalogError, UsageError
from airgap_tui.snippet import render_snippet

REGISTRY = "registry.local:5000/analyzers"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _templates(data: dict[str, Any]) -> list[str]:
    return [item["template"] for item in data.get("include", [])]


def _names_in(text: str, catalog: Catalog) -> set[str]:
    """Catalog names that appear as whole words (names are lower-case; templates are not)."""
    return {
        name
        for name in catalog.names
        if re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w/-])", text)
    }


def test_parses_and_round_trips_the_values() -> None:
    text = render_snippet(REGISTRY, [("semgrep", "6"), ("secrets", "7")], 18)
    data = _load(text)
    assert data["variables"] == {"SECURE_ANALYZERS_PREFIX": REGISTRY}
    assert _templates(data) == ["Jobs/SAST.gitlab-ci.yml", "Jobs/Secret-Detection.gitlab-ci.yml"]
    assert text.startswith("# ")
    assert all(len(line) <= 100 for line in text.splitlines())


@pytest.mark.parametrize(
    "images",
    [
        [("semgrep", "6"), ("secrets", "7")],
        [("gemnasium", "6"), ("container-scanning", "8"), ("kics", "6")],
        [("dast", "5"), ("api-security", "5"), ("dast-runner-validation", "1")],
        [("brakeman", "4"), ("registry.local/team/tool", "1.2")],
    ],
)
def test_names_exactly_the_chosen_images(catalog: Catalog, images: list[tuple[str, str]]) -> None:
    text = render_snippet(REGISTRY, images, 18)
    chosen = {name for name, _ in images if catalog.by_path(name)}
    assert _names_in(text, catalog) == chosen
    for name, tag in images:
        assert f"{name}:{tag}" in text


def test_container_scanning_image_only_when_chosen(catalog: Catalog) -> None:
    without = _load(render_snippet(REGISTRY, [("semgrep", "6")], 18))
    assert "CS_ANALYZER_IMAGE" not in without["variables"]
    with_cs = _load(render_snippet(REGISTRY, [("semgrep", "6"), ("container-scanning", "8")], 18))
    assert with_cs["variables"]["CS_ANALYZER_IMAGE"] == f"{REGISTRY}/container-scanning:8"
    assert "Jobs/Container-Scanning.gitlab-ci.yml" in _templates(with_cs)


def test_container_scanning_prefers_the_default_image_and_mentions_the_other() -> None:
    images = [("container-scanning/trivy", "8"), ("container-scanning", "8")]
    text = render_snippet(REGISTRY, images, 18)
    assert _load(text)["variables"]["CS_ANALYZER_IMAGE"] == f"{REGISTRY}/container-scanning:8"
    assert f"{REGISTRY}/container-scanning/trivy:8" in text
    grype = _load(render_snippet(REGISTRY, [("container-scanning/grype", "6")], 16))
    assert grype["variables"]["CS_ANALYZER_IMAGE"] == f"{REGISTRY}/container-scanning/grype:6"


def test_removed_container_scanner_gets_no_image_variable() -> None:
    data = _load(render_snippet(REGISTRY, [("container-scanning/grype", "6")], 18))
    assert "CS_ANALYZER_IMAGE" not in data["variables"]
    assert "include" not in data


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("https://registry.local:5000/analyzers/", REGISTRY),
        ("registry.local:5000", "registry.local:5000"),  # nothing appended
        ("localhost:5000/a/b", "localhost:5000/a/b"),
    ],
)
def test_prefix_is_normalised_never_extended(prefix: str, expected: str) -> None:
    data = _load(render_snippet(prefix, [("semgrep", "6"), ("container-scanning", "8")], 18))
    assert data["variables"]["SECURE_ANALYZERS_PREFIX"] == expected
    assert data["variables"]["CS_ANALYZER_IMAGE"] == f"{expected}/container-scanning:8"


@pytest.mark.parametrize(
    "prefix", ["", "   ", "registry", "bad host!/x", "registry.local:99999", "reg.local/Upper"]
)
def test_prefix_validation_errors(prefix: str) -> None:
    with pytest.raises(UsageError):
        render_snippet(prefix, [("semgrep", "6")], 18)


@pytest.mark.parametrize(
    "image",
    [("semgrep\nvariables:", "6"), ("semgrep", "6\n  X: y"), ("../etc", "1"), ("semgrep", "")],
)
def test_hostile_names_and_tags_are_refused(image: tuple[str, str]) -> None:
    with pytest.raises(UsageError):
        render_snippet(REGISTRY, [image], 18)


def test_no_images_and_unknown_major_are_refused() -> None:
    with pytest.raises(UsageError):
        render_snippet(REGISTRY, [], 18)
    with pytest.raises(CatalogError):
        render_snippet(REGISTRY, [("semgrep", "6")], 12)


def test_matching_tags_need_no_pins() -> None:
    images = [("secrets", "7"), ("dast", "6"), ("api-security", "6"), ("gemnasium", "6")]
    data = _load(render_snippet(REGISTRY, images, 18))
    assert data["variables"] == {"SECURE_ANALYZERS_PREFIX": REGISTRY}


def test_differing_tags_are_pinned_for_gitlab_18() -> None:
    images = [
        ("secrets", "6"),
        ("dast", "5"),
        ("api-security", "5"),
        ("gemnasium", "5"),
        ("gemnasium-python", "5"),
    ]
    variables = _load(render_snippet(REGISTRY, images, 18))["variables"]
    assert variables == {
        "SECURE_ANALYZERS_PREFIX": REGISTRY,
        "SECRETS_ANALYZER_VERSION": "6",
        "DAST_VERSION": "5",
        "APISEC_VERSION": "5",
        "FUZZAPI_VERSION": "5",
        "DS_MAJOR_VERSION": "5",
    }


def test_api_security_pin_names_follow_the_major() -> None:
    old = _load(render_snippet(REGISTRY, [("api-security", "5")], 16))["variables"]
    assert {"DAST_API_VERSION", "FUZZAPI_VERSION"} <= set(old) and "APISEC_VERSION" not in old
    mid = _load(render_snippet(REGISTRY, [("api-security", "6")], 17))["variables"]
    assert {"APISEC_VERSION", "DAST_API_VERSION", "FUZZAPI_VERSION"} <= set(mid)


def test_gemnasium_images_with_different_tags_are_not_pinned() -> None:
    text = render_snippet(REGISTRY, [("gemnasium", "5"), ("gemnasium-maven", "6")], 18)
    assert "DS_MAJOR_VERSION" not in _load(text)["variables"]
    assert "different tags" in text


def test_sast_tag_drift_is_a_per_job_comment() -> None:
    text = render_snippet(REGISTRY, [("semgrep", "5")], 18)
    data = _load(text)
    assert "SAST_ANALYZER_IMAGE_TAG" not in data["variables"]
    assert 'SAST_ANALYZER_IMAGE_TAG: "5"' in text
    assert "GitLab 18 requests 6" in text


def test_target_needing_templates_are_comments_only() -> None:
    text = render_snippet(REGISTRY, [("dast", "6"), ("api-security", "6")], 18)
    data = _load(text)
    assert "include" not in data
    assert "DAST.gitlab-ci.yml" in text and "API-Security.gitlab-ci.yml" in text


def test_dependency_scanning_v2_template() -> None:
    alone = _load(render_snippet(REGISTRY, [("dependency-scanning", "v1")], 18))
    assert _templates(alone) == ["Jobs/Dependency-Scanning.v2.gitlab-ci.yml"]
    both = render_snippet(REGISTRY, [("dependency-scanning", "v1"), ("gemnasium", "6")], 18)
    assert _templates(_load(both)) == ["Jobs/Dependency-Scanning.gitlab-ci.yml"]
    assert "Dependency-Scanning.v2" in both


def test_image_not_used_by_the_major_gets_no_settings() -> None:
    text = render_snippet(REGISTRY, [("brakeman", "4"), ("secrets", "7")], 18)
    assert _templates(_load(text)) == ["Jobs/Secret-Detection.gitlab-ci.yml"]
    assert "brakeman:4 gets no settings" in text
    older = render_snippet(REGISTRY, [("brakeman", "4")], 16)
    assert _templates(_load(older)) == ["Jobs/SAST.gitlab-ci.yml"]


def test_custom_image_is_listed_not_configured() -> None:
    text = render_snippet(REGISTRY, [("team/tool", "1.2")], 18)
    data = _load(text)
    assert data["variables"] == {"SECURE_ANALYZERS_PREFIX": REGISTRY}
    assert f"{REGISTRY}/team/tool:1.2" in text


@pytest.mark.parametrize("major", [15, 16, 17, 18, 19])
def test_every_preset_renders(catalog: Catalog, major: int) -> None:
    for names in catalog.presets(major).values():
        if not names:
            continue
        specs = [catalog.resolve(name, major) for name in names]
        text = render_snippet(REGISTRY, [(s.name, s.tag) for s in specs], major, catalog)
        data = _load(text)
        assert data["variables"]["SECURE_ANALYZERS_PREFIX"] == REGISTRY
        assert _names_in(text, catalog) == set(names)
