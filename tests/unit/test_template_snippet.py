"""The CI snippet built from the instance's own templates (GitLab's real 15-18 templates, vendored
under tests/fixtures/gitlab-templates): the prefix, the image variables the prefix does not
reach, opt-in switches, FIPS, and images no variable moves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airgap_tui.catalog.request import select_images
from airgap_tui.catalog.template_snippet import image_variables, render_template_snippet
from airgap_tui.catalog.templates import images_from_templates, read_templates_dir
from airgap_tui.errors import UsageError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates"
REGISTRY = "registry.local:5000/analyzers"


def snippet_of(major: str, *, fips: bool = False, opt_in: tuple[str, ...] = ()) -> dict:
    sources = read_templates_dir(FIXTURES / major)
    requested, _ = select_images(images_from_templates(sources, fips=fips), opt_in=opt_in)
    text = render_template_snippet(REGISTRY, sources, requested, gitlab_version=f"{major}.0.0")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("major", ["15", "17"])
def test_container_scanning_gets_its_own_variable(major: str) -> None:
    sources = read_templates_dir(FIXTURES / major)
    assert image_variables(sources) == {"container-scanning": "CS_ANALYZER_IMAGE"}
    tag = "5" if major == "15" else "7"  # what each major's template asks for
    variables = snippet_of(major)["variables"]
    assert variables["SECURE_ANALYZERS_PREFIX"] == REGISTRY
    assert variables["CS_ANALYZER_IMAGE"] == f"{REGISTRY}/container-scanning:{tag}"


def test_fips_leaves_the_suffix_to_the_template() -> None:
    variables = snippet_of("17", fips=True)["variables"]
    assert variables["CS_ANALYZER_IMAGE"] == f"{REGISTRY}/container-scanning:7"


def test_opt_ins_are_set_only_when_carried() -> None:
    without = snippet_of("17")["variables"]
    assert "SCAN_KUBERNETES_MANIFESTS" not in without
    with_switch = snippet_of("17", opt_in=("SCAN_KUBERNETES_MANIFESTS",))["variables"]
    assert with_switch["SCAN_KUBERNETES_MANIFESTS"] == "true"
    assert "GITLAB_ADVANCED_SAST_ENABLED" not in with_switch


def test_includes_run_without_a_target_and_dast_is_left_to_the_operator() -> None:
    data = snippet_of("17")
    included = [entry["template"] for entry in data["include"]]
    assert "Jobs/SAST.gitlab-ci.yml" in included
    assert not any(t.startswith("Security/DAST") for t in included)


def test_an_image_no_variable_moves_is_a_comment_with_what_to_do() -> None:
    sources = read_templates_dir(FIXTURES / "outside-prefix")
    images = images_from_templates(sources)
    text = render_template_snippet(REGISTRY, sources, images)
    assert "# Images no variable moves to the registry:" in text
    assert "dast-runner-validation:1" in text
    assert yaml.safe_load(text)["variables"] == {"SECURE_ANALYZERS_PREFIX": REGISTRY}


def test_a_registry_without_a_host_is_refused() -> None:
    sources = read_templates_dir(FIXTURES / "17")
    with pytest.raises(UsageError, match="not a registry host"):
        render_template_snippet("analyzers", sources, images_from_templates(sources))
