"""The CI snippet: valid YAML naming exactly the pushed images, with the pins GitLab needs."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
import yaml

from airgap_tui.catalog.catalog import Catalog, load_catalog
from airgap_tui.catalog.snippet import ANALYZER_VARIABLES, fips_suffix_variables, render_snippet
from airgap_tui.cli.commands import main
from airgap_tui.errors import CatalogError, UsageError
from tests.fixtures.templates.excerpts import load_excerpts

REGISTRY = "registry.local:5000/analyzers"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _flat(text: str) -> str:
    """The text with comment markers and line wrapping removed, to search sentences."""
    return " ".join(" ".join(line.lstrip(" #") for line in text.splitlines()).split())


def _templates(data: dict[str, Any]) -> list[str]:
    return [item["template"] for item in data.get("include", [])]


def _names_in(text: str, catalog: Catalog) -> set[str]:
    """Catalog images whose name or pushed path appears as a whole word (they are lower-case;
    templates and variables are not)."""
    found = set()
    for name in catalog.names:
        path = catalog.get_path(name)
        for word in {name, path}:
            if re.search(rf"(?<![\w/.-]){re.escape(word)}(?![\w/-])", text):
                found.add(name)
    return found


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
    text = render_snippet(REGISTRY, images, 18)
    variables = _load(text)["variables"]
    assert variables == {
        "SECURE_ANALYZERS_PREFIX": REGISTRY,
        "SECRETS_ANALYZER_VERSION": "6",
        "DAST_VERSION": "5",
        "APISEC_VERSION": "5",
        "DS_MAJOR_VERSION": "5",
    }
    # No 18.x API-Fuzzing template was checked: its pin is a comment to verify, not a setting.
    assert '  # FUZZAPI_VERSION: "5"' in text


def test_api_security_pin_names_follow_the_major() -> None:
    oldest = _load(render_snippet(REGISTRY, [("api-security", "5")], 15))["variables"]
    assert {"DAST_API_VERSION", "FUZZAPI_VERSION"} <= set(oldest)
    assert "APISEC_VERSION" not in oldest
    old = render_snippet(REGISTRY, [("api-security", "5")], 16)
    assert "DAST_API_VERSION" in _load(old)["variables"]
    assert "APISEC_VERSION:" not in old and '# FUZZAPI_VERSION: "5"' in old
    mid = render_snippet(REGISTRY, [("api-security", "6")], 17)
    assert "APISEC_VERSION" in _load(mid)["variables"]
    assert '# DAST_API_VERSION: "6"' in mid and '# FUZZAPI_VERSION: "6"' in mid


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
        if major == 19:  # no 19.x template checked: the prefix is a comment to verify
            assert "variables" not in data or "SECURE_ANALYZERS_PREFIX" not in data["variables"]
            assert f'  # SECURE_ANALYZERS_PREFIX: "{REGISTRY}"' in text
        else:
            assert data["variables"]["SECURE_ANALYZERS_PREFIX"] == REGISTRY
        assert _names_in(text, catalog) == set(names)


# ------------------------------------------------------------------ FIPS
def test_fips_keeps_the_major_in_version_variables_and_sets_suffixes() -> None:
    images = [
        ("semgrep", "6-fips"),
        ("kics", "6-fips"),
        ("secrets", "6-fips"),  # drifted: the version pin holds 6, never 6-fips
        ("gemnasium", "6-fips"),
        ("container-scanning", "8-fips"),
        ("dast", "6-fips"),
        ("api-security", "6-fips"),
    ]
    text = render_snippet(REGISTRY, images, 18)
    variables = _load(text)["variables"]
    assert variables["SAST_IMAGE_SUFFIX"] == "-fips"
    assert variables["SECRET_DETECTION_IMAGE_SUFFIX"] == "-fips"
    assert variables["DS_IMAGE_SUFFIX"] == "-fips"
    assert variables["DAST_IMAGE_SUFFIX"] == "-fips"
    assert variables["APISEC_IMAGE_SUFFIX"] == "-fips"
    assert variables["SECRETS_ANALYZER_VERSION"] == "6"
    assert variables["CS_ANALYZER_IMAGE"] == f"{REGISTRY}/container-scanning:8-fips"
    assert "DS_MAJOR_VERSION" not in variables  # 6 is what 18 requests
    for name, value in variables.items():
        if value.endswith("-fips"):
            assert name.endswith("_IMAGE_SUFFIX") or name == "CS_ANALYZER_IMAGE", name


def test_fips_suffix_is_not_set_when_its_images_disagree() -> None:
    text = render_snippet(REGISTRY, [("semgrep", "6-fips"), ("kics", "6")], 18)
    assert "SAST_IMAGE_SUFFIX" not in _load(text)["variables"]
    assert "SAST_IMAGE_SUFFIX adds -fips to semgrep, kics alike" in _flat(text)


def test_cli_snippet_accepts_fips_tags_and_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snippet", "--gitlab", "18", "--registry", REGISTRY, "semgrep:6-fips"]) == 0
    tagged = _load(capsys.readouterr().out)
    assert tagged["variables"]["SAST_IMAGE_SUFFIX"] == "-fips"
    assert main(["snippet", "--gitlab", "18", "--registry", REGISTRY, "--fips", "semgrep"]) == 0
    assert _load(capsys.readouterr().out) == tagged
    assert main(["snippet", "--gitlab", "17", "--registry", REGISTRY, "semgrep"]) == 0
    assert "semgrep:5" in capsys.readouterr().out  # a name alone takes the catalog's tag
    assert main(["snippet", "--registry", REGISTRY, "kubesec:6-fips"]) == 2
    assert "no FIPS variant" in capsys.readouterr().err


# ------------------------------------------------------------------ opt-in switches
@pytest.mark.parametrize(
    ("major", "image", "variable"),
    [
        (17, ("gitlab-advanced-sast", "1"), "GITLAB_ADVANCED_SAST_ENABLED"),
        (18, ("gitlab-advanced-sast", "2"), "GITLAB_ADVANCED_SAST_ENABLED"),
        (18, ("clangsa", "1"), "GITLAB_ADVANCED_SAST_CPP_ENABLED"),
        (15, ("kubesec", "3"), "SCAN_KUBERNETES_MANIFESTS"),
        (18, ("kubesec", "6"), "SCAN_KUBERNETES_MANIFESTS"),
        (15, ("mobsf", "3"), "SAST_EXPERIMENTAL_FEATURES"),
    ],
)
def test_opt_in_switch_is_set_when_its_image_is_carried(
    major: int, image: tuple[str, str], variable: str
) -> None:
    with_it = _load(render_snippet(REGISTRY, [image, ("secrets", "7")], major))
    assert with_it["variables"][variable] == "true"
    without = render_snippet(REGISTRY, [("secrets", "7")], major)
    assert variable not in without


def test_clangsa_mentions_the_compilation_database() -> None:
    text = render_snippet(REGISTRY, [("clangsa", "1")], 18)
    assert "SAST_COMPILATION_DATABASE" in text


# ------------------------------------------------------------------ dependency scanning v2
def test_dependency_scanning_v2_keeps_resolution_jobs_off_the_internet() -> None:
    text = render_snippet(REGISTRY, [("dependency-scanning", "1")], 18)
    data = _load(text)
    assert data["include"] == [{"template": "Jobs/Dependency-Scanning.v2.gitlab-ci.yml"}]
    assert data["variables"]["DS_DISABLED_RESOLUTION_JOBS"] == "maven, python, gradle"
    assert "package metadata database" in text


def test_carried_resolution_images_get_their_inputs_spelled_out() -> None:
    images = [
        ("dependency-scanning", "1"),
        ("dependency-resolution/ubi9/openjdk-21", "1"),
        ("dependency-resolution/ubi9/openjdk-17-with-gradle-8", "1"),
    ]
    text = _flat(render_snippet(REGISTRY, images, 18))
    assert f'maven_resolution_image: "{REGISTRY}/dependency-resolution/ubi9/openjdk-21:1"' in text
    assert "gradle_resolution_image:" in text and "python_resolution_image" not in text
    assert 'set DS_DISABLED_RESOLUTION_JOBS to "python"' in text


def test_dependency_scanning_v2_tag_drift_is_an_include_input() -> None:
    data = _load(render_snippet(REGISTRY, [("dependency-scanning", "2")], 18))
    assert data["include"] == [
        {
            "template": "Jobs/Dependency-Scanning.v2.gitlab-ci.yml",
            "inputs": {"analyzer_image_version": "2"},
        }
    ]


# ------------------------------------------------------------------ Trivy Java DB, limits
def test_trivy_java_db_points_container_scanning_at_the_mirror() -> None:
    images = [("container-scanning", "8"), ("trivy-java-db", "1")]
    variables = _load(render_snippet(REGISTRY, images, 18))["variables"]
    assert variables["CS_TRIVY_JAVA_DB"] == f"{REGISTRY}/trivy-java-db"
    other = _load(render_snippet(REGISTRY, [("trivy-java-db", "2")], 18))["variables"]
    assert other["CS_TRIVY_JAVA_DB"] == f"{REGISTRY}/trivy-java-db:2"


def test_limits_are_said_in_comments() -> None:
    text = render_snippet(REGISTRY, [("dast-runner-validation", "1"), ("dast", "6")], 18)
    flat = _flat(text)
    assert "What the registry prefix cannot fix:" in text
    assert "a mirrored copy is never used" in flat and "On-demand DAST" in flat
    assert "Scan-execution policies" in flat and "Container Scanning for Registry" not in flat
    cs = _flat(render_snippet(REGISTRY, [("container-scanning", "8")], 18))
    assert "Container Scanning for Registry" in cs


# ------------------------------------------------------------------ every major vs its templates
EXCERPTS = load_excerpts()


def _combinations(catalog: Catalog, major: int) -> list[list[tuple[str, str]]]:
    """Every catalog image of `major` alone, all together, FIPS variants, drifted tags."""
    tagged = [(a.path, a.tag or "1") for a in catalog.analyzers(major, include_removed=False)]
    fips = [(a.path, f"{a.tag or '1'}-fips") for a in catalog.analyzers(major) if a.fips]
    drifted = [(a.path, "99") for a in catalog.analyzers(major, include_removed=False)]
    combos = [[image] for image in tagged + fips + drifted]
    combos += [tagged, fips, drifted, tagged + [("registry.local/team/tool", "1.2")]]
    rng = random.Random(major)
    combos += [rng.sample(tagged + fips + drifted, 6) for _ in range(40)]
    return combos


@pytest.mark.parametrize("major", [15, 16, 17, 18, 19])
def test_every_snippet_parses_and_sets_only_variables_its_major_reads(
    catalog: Catalog, major: int
) -> None:
    reads = catalog.reads(major)
    excerpts = [e for e in EXCERPTS if e.major == major]
    template_inputs = {name for e in excerpts for name in e.inputs}
    for images in _combinations(catalog, major):
        text = render_snippet(REGISTRY, images, major, catalog)
        data = _load(text)  # always a YAML mapping
        assert set(data) <= {"include", "variables"}
        variables = data.get("variables") or {}
        for variable, value in variables.items():
            assert isinstance(value, str)
            assert variable in reads or variable in ANALYZER_VARIABLES, (major, variable, images)
            evidence = reads.get(variable, "")
            if evidence.startswith("fixture "):
                file = evidence.split()[1]
                assert variable in next(e for e in excerpts if e.file == file).variables
            if variable.endswith("_VERSION"):
                assert not value.endswith("-fips"), (variable, value)
        for item in data.get("include", []):
            assert set(item) <= {"template", "inputs"}
            assert set(item.get("inputs", {})) <= template_inputs, item
        for line in text.splitlines():  # only an unbreakable reference may run longer
            assert len(line) <= 100 or " " not in line.lstrip(" #"), line


def test_variables_each_major_sets_are_in_its_template_excerpts(catalog: Catalog) -> None:
    """The headline settings, per major, found in that major's own vendored templates."""
    expect = {
        15: {"SECURE_ANALYZERS_PREFIX", "CS_ANALYZER_IMAGE", "SECRETS_ANALYZER_VERSION"},
        16: {"SECURE_ANALYZERS_PREFIX", "DS_MAJOR_VERSION", "DS_IMAGE_SUFFIX"},
        17: {"CS_ANALYZER_IMAGE", "GITLAB_ADVANCED_SAST_ENABLED", "DAST_IMAGE_SUFFIX"},
        18: {"SAST_IMAGE_SUFFIX", "GITLAB_ADVANCED_SAST_ENABLED", "DS_DISABLED_RESOLUTION_JOBS"},
    }
    for major, variables in expect.items():
        found = {v for e in EXCERPTS if e.major == major for v in e.variables}
        assert variables <= found
        assert all(catalog.reads(major)[v].startswith("fixture ") for v in variables)


def test_gitlab_19_settings_are_comments_to_check() -> None:
    text = render_snippet(REGISTRY, [("semgrep", "6"), ("clangsa", "1")], 19)
    data = _load(text)
    assert data == {"include": [{"template": "Jobs/SAST.gitlab-ci.yml"}]}
    assert f'# SECURE_ANALYZERS_PREFIX: "{REGISTRY}"' in text
    assert '# GITLAB_ADVANCED_SAST_CPP_ENABLED: "true"' in text
    only_dast = _load(render_snippet(REGISTRY, [("dast", "6")], 19))
    assert only_dast == {"variables": {}}


@pytest.mark.parametrize("major", [15, 16, 17, 18])
def test_every_fips_image_has_a_way_to_reach_its_variant(catalog: Catalog, major: int) -> None:
    for analyzer in catalog.analyzers(major, include_removed=False):
        suffixes = fips_suffix_variables(analyzer.name, major)
        if analyzer.name == "container-scanning":
            assert analyzer.fips and not suffixes  # CS_ANALYZER_IMAGE carries the suffix
        else:
            assert analyzer.fips == bool(suffixes), analyzer.name
