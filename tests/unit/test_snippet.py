"""The CI snippet: valid YAML naming exactly the pushed images, with the pins GitLab needs."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
import yaml

from airgap_tui.catalog.catalog import Catalog
from airgap_tui.catalog.load import load_catalog
from airgap_tui.catalog.snippet import render_snippet
from airgap_tui.catalog.snippet_model import (
    ANALYZER_VARIABLES,
    FIPS_INSTANCE_WARNING,
    fips_suffix_variables,
)
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
    assert data["variables"] == {
        "SECURE_ANALYZERS_PREFIX": REGISTRY,
        "SECRETS_ANALYZER_VERSION": "7",
    }
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


def test_version_variables_always_hold_the_tag_pushed() -> None:
    """Issue 17 item 3: set the version variable whenever the template reads it, even when the
    tag is the one the catalog expects, so every minor of the major pulls what was pushed.
    API security at 18: the 18.x API-Security template copy (fixture 18/Security-API-Security.yml,
    gitlabhq 67146ed9) requests 5 while 6 is pushed: APISEC_VERSION 6 makes it pull 6."""
    images = [("secrets", "7"), ("dast", "6"), ("api-security", "6"), ("gemnasium", "6")]
    data = _load(render_snippet(REGISTRY, images, 18))
    assert data["variables"] == {
        "SECURE_ANALYZERS_PREFIX": REGISTRY,
        "SECRETS_ANALYZER_VERSION": "7",
        "DAST_VERSION": "6",
        "APISEC_VERSION": "6",
        "DS_MAJOR_VERSION": "6",
    }
    api = next(e for e in EXCERPTS if e.file == "18/Security-API-Security.yml")
    assert api.images["api-security"] == "5" and not api.tag_check
    # the same at every major whose templates read the variable (evidence in analyzers.yaml)
    for major, secrets, dast, ds in ((15, "4", "3", "3"), (16, "5", "4", "4"), (17, "6", "5", "5")):
        images = [("secrets", secrets), ("dast", dast), ("gemnasium", ds)]
        got = _load(render_snippet(REGISTRY, images, major))["variables"]
        assert got["SECRETS_ANALYZER_VERSION"] == secrets, major
        assert got["DAST_VERSION"] == dast, major
        assert got["DS_MAJOR_VERSION"] == ds, major


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
    # 17.x still ships DAST-API.gitlab-ci.yml, which reads DAST_API_VERSION (issue 17 item 1;
    # fixture 17/Security-DAST-API.yml, gitlabhq 0e8bf9c2)
    assert {"APISEC_VERSION", "DAST_API_VERSION"} <= set(_load(mid)["variables"])
    assert '# FUZZAPI_VERSION: "6"' in mid


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
        # 19: read by the 19.4 v2 Dependency-Scanning template (fixture 19/...)
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
    assert variables["DS_MAJOR_VERSION"] == "6"  # the major alone, the suffix apart
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
def test_resolution_jobs_setting_only_where_it_changes_the_v2_templates_default() -> None:
    """Issue 17 item 4. The 18.x v2 template keeps the resolution jobs off itself
    (DS_DISABLED_RESOLUTION_JOBS "maven, python, gradle", fixture
    18/Jobs-Dependency-Scanning.v2.resolution.yml, kd-collective/gitlabhq 014ac629), so setting
    the same value changes nothing; the 19.4 template (fixture 19/Jobs-Dependency-Scanning.v2.yml,
    flyisland/gitlab-ee be1c96a2) has no such line and runs them: there the setting is needed.
    The v1 template never reads it."""
    text = render_snippet(REGISTRY, [("dependency-scanning", "1")], 18)
    data = _load(text)
    assert data["include"] == [{"template": "Jobs/Dependency-Scanning.v2.gitlab-ci.yml"}]
    assert "DS_DISABLED_RESOLUTION_JOBS" not in data["variables"]
    assert "keeps its resolution jobs off itself" in _flat(text)
    assert "package metadata database" in text
    v19 = _load(render_snippet(REGISTRY, [("dependency-scanning", "2")], 19))
    assert v19["variables"]["DS_DISABLED_RESOLUTION_JOBS"] == "maven, python, gradle"
    assert v19["include"] == [{"template": "Jobs/Dependency-Scanning.v2.gitlab-ci.yml"}]
    v1_only = render_snippet(REGISTRY, [("dependency-scanning", "1"), ("gemnasium", "6")], 18)
    assert _templates(_load(v1_only)) == ["Jobs/Dependency-Scanning.gitlab-ci.yml"]
    assert "DS_DISABLED_RESOLUTION_JOBS:" not in v1_only  # neither set nor commented
    catalog = load_catalog()
    assert catalog.template_default(18, "DS_DISABLED_RESOLUTION_JOBS") == "maven, python, gradle"
    assert catalog.template_default(19, "DS_DISABLED_RESOLUTION_JOBS") is None
    for excerpt in EXCERPTS:
        if excerpt.file.startswith(("18/Jobs-Dependency-Scanning.v2.resolution", "19/")):
            lines = [x.strip() for x in excerpt.body if x.strip().startswith("DS_DISABLED_RES")]
            default = catalog.template_default(excerpt.major, "DS_DISABLED_RESOLUTION_JOBS")
            assert lines == ([f'DS_DISABLED_RESOLUTION_JOBS: "{default}"'] if default else [])


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
    """Only the 19.4 v2 Dependency-Scanning template (fixture 19/...) was read for 19: the prefix
    it reads is set, every other template's setting is a comment to check."""
    text = render_snippet(REGISTRY, [("semgrep", "6"), ("clangsa", "1")], 19)
    data = _load(text)
    assert data == {
        "include": [{"template": "Jobs/SAST.gitlab-ci.yml"}],
        "variables": {"SECURE_ANALYZERS_PREFIX": REGISTRY},
    }
    assert '# GITLAB_ADVANCED_SAST_CPP_ENABLED: "true"' in text
    only_dast = render_snippet(REGISTRY, [("dast", "6")], 19)
    assert _load(only_dast) == {"variables": {"SECURE_ANALYZERS_PREFIX": REGISTRY}}
    assert '# DAST_VERSION: "6"' in only_dast


@pytest.mark.parametrize("major", [15, 16, 17, 18])
def test_every_fips_image_has_a_way_to_reach_its_variant(catalog: Catalog, major: int) -> None:
    for analyzer in catalog.analyzers(major, include_removed=False):
        suffixes = fips_suffix_variables(analyzer.name, major)
        if analyzer.name == "container-scanning":
            assert analyzer.fips and not suffixes  # CS_ANALYZER_IMAGE carries the suffix
        else:
            assert analyzer.fips == bool(suffixes), analyzer.name


# ------------------------------------------------------------------ issue 17 (GitLab fit, round 3)
def _fips_names(catalog: Catalog, major: int) -> list[str]:
    """Every current image of `major` with a catalog tag and a FIPS variant at that major."""
    return [
        a.name
        for a in catalog.analyzers(major, include_removed=False)
        if a.tag and a.fips and a.kind == "image"
    ]


@pytest.mark.parametrize("major", [15, 16, 17, 18])
def test_cli_fips_snippet_sets_a_suffix_for_every_fips_image_it_pushes(
    catalog: Catalog, capsys: pytest.CaptureFixture[str], major: int
) -> None:
    """Done-when of issue 17: `snippet --fips` for 15-18 sets a suffix variable (or, for
    container scanning, an image ending in -fips) for every FIPS image it pushes, and nothing
    the templates of that major are not known to read."""
    names = _fips_names(catalog, major)
    assert main(["snippet", "--gitlab", str(major), "--registry", REGISTRY, "--fips", *names]) == 0
    text = capsys.readouterr().out
    variables = _load(text)["variables"]
    header = _flat(text).split(f"Pushed to {REGISTRY}: ", 1)[1].split(". ", 1)[0]
    pushed = [tuple(label.split(":")) for label in header.split(", ")]
    assert all(tag.endswith("-fips") for _, tag in pushed), header
    assert {name for name, _ in pushed} == {catalog.get_path(n) for n in names}
    for name, tag in pushed:
        if name == "container-scanning":
            assert variables["CS_ANALYZER_IMAGE"] == f"{REGISTRY}/{name}:{tag}"
            continue
        suffixes = fips_suffix_variables(name, major)
        assert suffixes, (major, name)
        assert any(variables.get(v) == "-fips" for v in suffixes), (major, name, variables)
    reads = catalog.reads(major)
    assert all(v in reads or v in ANALYZER_VARIABLES for v in variables), variables
    assert FIPS_INSTANCE_WARNING not in _flat(text)  # everything pushed is a FIPS variant


@pytest.mark.parametrize(
    ("major", "tag", "live"),
    [
        (16, "3-fips", {"DAST_API_IMAGE_SUFFIX"}),
        (17, "5-fips", {"APISEC_IMAGE_SUFFIX", "DAST_API_IMAGE_SUFFIX"}),
    ],
)
def test_dast_api_suffix_is_set_for_16_and_17(major: int, tag: str, live: set[str]) -> None:
    """Issue 17 item 1. The DAST-API template reads DAST_API_IMAGE_SUFFIX and sets it to -fips
    in FIPS mode at 15 (fixture 15/Security-DAST-API.yml, diffblue/gitlab 27b8ba4d) and at 17
    (fixture 17/Security-DAST-API.yml, gitlabhq 0e8bf9c2); MR 84312 (#354362) added it in 15.0,
    so 16 reads it too. The 17 template also reads DAST_API_VERSION."""
    text = render_snippet(REGISTRY, [("api-security", tag)], major)
    variables = _load(text)["variables"]
    assert {v for v, value in variables.items() if value == "-fips"} == live
    version = {16: "DAST_API_VERSION", 17: "APISEC_VERSION"}[major]
    assert variables[version] == tag.removesuffix("-fips")
    if major == 17:
        assert variables["DAST_API_VERSION"] == "5"
    dast_api = next(e for e in EXCERPTS if e.file == "17/Security-DAST-API.yml")
    read = {"DAST_API_IMAGE_SUFFIX", "DAST_API_VERSION", "CI_GITLAB_FIPS_MODE"}
    assert read <= dast_api.variables
    assert dast_api.images == {"api-security": "5"}


def test_dast_fips_suffix_from_16_and_none_on_15(catalog: Catalog) -> None:
    """Issue 17 item 2. MR 117929 (#396555) gave the DAST template DAST_IMAGE_SUFFIX in 16.0,
    so dast:4-fips at 16 needs it set; the 15.x DAST template (fixture 15/Security-DAST.yml,
    diffblue/gitlab 27b8ba4d) has no suffix variable, so a dast:3-fips is never requested: it is
    not carried by default, and pushing it says so."""
    v16 = _load(render_snippet(REGISTRY, [("dast", "4-fips")], 16))["variables"]
    assert v16["DAST_IMAGE_SUFFIX"] == "-fips" and v16["DAST_VERSION"] == "4"
    assert catalog.resolve("dast", 15, fips=True).tag == "3"
    assert catalog.resolve("dast", 16, fips=True).tag == "4-fips"
    dast15 = catalog.get("dast", 15)
    assert dast15 is not None and not dast15.fips and dast15.fips_tag is None
    text = render_snippet(REGISTRY, [("dast", "3-fips")], 15)
    assert "DAST_IMAGE_SUFFIX" not in text
    assert "No GitLab 15 template requests dast:3-fips" in _flat(text)
    assert "Push dast:3 instead" in _flat(text)
    early = next(e for e in EXCERPTS if e.file == "15/Security-DAST.yml")
    assert "DAST_IMAGE_SUFFIX" not in early.variables and early.images == {"dast": "3"}


def test_dependency_scanning_latest_v0_tag() -> None:
    """Issue 17 item 7. Jobs/Dependency-Scanning.latest at 18 pulls dependency-scanning:v0
    (GitLab's RSpec for that template, beside gemnasium:6): the tag with a v is accepted, and the
    snippet includes the template that requests it instead of the v2 one."""
    catalog = load_catalog()
    spec = catalog.resolve("dependency-scanning:v0", 18)
    assert (spec.name, spec.tag, str(spec.source)) == (
        "dependency-scanning",
        "v0",
        "registry.gitlab.com/security-products/dependency-scanning:v0",
    )
    analyzer = catalog.get("dependency-scanning", 18)
    assert analyzer is not None and analyzer.tags == ("1", "v0")
    assert analyzer.template_for("v0") == "Jobs/Dependency-Scanning.latest.gitlab-ci.yml"
    text = render_snippet(REGISTRY, [("dependency-scanning", "v0"), ("gemnasium", "6")], 18)
    data = _load(text)
    assert data["include"] == [{"template": "Jobs/Dependency-Scanning.latest.gitlab-ci.yml"}]
    assert "DS_DISABLED_RESOLUTION_JOBS:" not in text and "analyzer_image_version" not in text
    assert "DS_ENFORCE_NEW_ANALYZER" in text
    assert f"{REGISTRY.split('/')[0]}" in text and "dependency-scanning:v0" in text


def test_fips_instance_warning_for_plain_tags() -> None:
    """Issue 17 item 8. In FIPS mode the container-scanning template appends -fips to
    CS_ANALYZER_IMAGE (fixtures 15/ and 17/Jobs-Container-Scanning.yml) and the
    dependency-scanning template sets DS_IMAGE_SUFFIX (fixtures 16/ and 17/...): a snippet of
    plain tags says so, naming the images; one of FIPS variants does not."""
    plain = render_snippet(REGISTRY, [("container-scanning", "8"), ("gemnasium", "6")], 18)
    flat = _flat(plain)
    assert FIPS_INSTANCE_WARNING in flat
    assert "Pushed as plain tags here: container-scanning:8, gemnasium:6." in flat
    fips = [("container-scanning", "8-fips"), ("gemnasium", "6-fips")]
    assert FIPS_INSTANCE_WARNING not in _flat(render_snippet(REGISTRY, fips, 18))
    assert FIPS_INSTANCE_WARNING not in _flat(render_snippet(REGISTRY, [("kubesec", "6")], 18))
    for file in ("15/Jobs-Container-Scanning.yml", "17/Jobs-Dependency-Scanning.yml"):
        excerpt = next(e for e in EXCERPTS if e.file == file)
        assert "CI_GITLAB_FIPS_MODE" in excerpt.variables
        assert any("-fips" in line for line in excerpt.body)


def test_trivy_java_db_on_17_is_said_to_be_read_by_the_analyzer(catalog: Catalog) -> None:
    """Issue 17 item 9. CS_TRIVY_JAVA_DB is documented in the 17.x container scanning docs
    (offline section) and read by the analyzer since container-scanning MR 2930, not by the
    template."""
    db = catalog.get("trivy-java-db", 17)
    assert db is not None and db.tag == "1" and "MR 2930" in db.tag_source
    text = render_snippet(REGISTRY, [("container-scanning", "7"), ("trivy-java-db", "1")], 17)
    assert _load(text)["variables"]["CS_TRIVY_JAVA_DB"] == f"{REGISTRY}/trivy-java-db"
    assert "read by the container-scanning analyzer, not by the template" in _flat(text)
    assert "CS_TRIVY_JAVA_DB" not in catalog.reads(17)  # not a template variable


def test_side_effects_on_15_are_said() -> None:
    """Issue 17 item 10. GitLab 15's SAST template (fixture 15/Jobs-SAST.yml, gitlabhq 05f0ebba)
    skips spotbugs-sast when SAST_EXPERIMENTAL_FEATURES is true and an AndroidManifest.xml
    exists; license-finder is pulled by the License-Scanning template (fixture
    15/Jobs-License-Scanning.yml), which the snippet now includes."""
    sast = next(e for e in EXCERPTS if e.file == "15/Jobs-SAST.yml")
    spotbugs = "\n".join(sast.body).split("spotbugs-sast:", 1)[1]
    assert "SAST_EXPERIMENTAL_FEATURES == 'true'" in spotbugs and "AndroidManifest.xml" in spotbugs
    mobsf = render_snippet(REGISTRY, [("mobsf", "3"), ("spotbugs", "3")], 15)
    assert "also stops spotbugs-sast on any project that has an AndroidManifest.xml" in _flat(mobsf)
    assert "AndroidManifest" not in render_snippet(REGISTRY, [("spotbugs", "3")], 15)
    lic = render_snippet(REGISTRY, [("license-finder", "4")], 15)
    data = _load(lic)
    assert _templates(data) == ["Jobs/License-Scanning.gitlab-ci.yml"]
    assert data["variables"]["LICENSE_MANAGEMENT_VERSION"] == "4"
    assert "License-Scanning template (included above)" in _flat(lic)
    later = render_snippet(REGISTRY, [("license-finder", "4")], 16)
    assert "include" not in _load(later) and "removed in 16.3" in later


def test_coverage_fuzzing_binary_is_named_as_not_carried() -> None:
    """Issue 17 item 11. Security/Coverage-Fuzzing.gitlab-ci.yml (gitlabhq/gitlabhq 35ec8d92)
    downloads gitlab-cov-fuzz with wget from ${COVFUZZ_URL_PREFIX}/${COVFUZZ_VERSION}/binaries/
    gitlab-cov-fuzz_Linux_x86_64, not from a registry: every snippet says what to do."""
    flat = _flat(render_snippet(REGISTRY, [("semgrep", "6")], 18))
    limits = flat.split("What the registry prefix cannot fix:", 1)[1]
    assert "COVFUZZ_URL_PREFIX" in limits and "gitlab-cov-fuzz_Linux_x86_64" in limits
    assert "web server inside the network" in limits and "wget" in limits


def test_advanced_sast_ext_on_19_is_opt_in_without_a_guessed_tag(catalog: Catalog) -> None:
    """Issue 17 item 6. MR 246271 (19.3) adds job gitlab-advanced-sast-ext, image
    $SECURE_ANALYZERS_PREFIX/gitlab-advanced-sast-ext, opt-in with GITLAB_ADVANCED_SAST_EXT_ENABLED;
    it absorbed MR 246469, the source of the old next-gen-sast:0 entry. No template shows the
    tag yet, so the operator gives it."""
    assert "next-gen-sast" not in catalog.names
    ext = catalog.get("gitlab-advanced-sast-ext", 19)
    assert ext is not None and ext.tag is None and ext.path == "gitlab-advanced-sast-ext"
    assert dict(ext.enable) == {"GITLAB_ADVANCED_SAST_EXT_ENABLED": "true"}
    assert "next-gen-sast:0" in ext.note and "MR 246271" in catalog.history(ext.name)[19].source
    with pytest.raises(CatalogError, match="gitlab-advanced-sast-ext:<tag>"):
        catalog.resolve("gitlab-advanced-sast-ext", 19)
    text = render_snippet(REGISTRY, [("gitlab-advanced-sast-ext", "0")], 19)
    assert '# GITLAB_ADVANCED_SAST_EXT_ENABLED: "true"' in text
    assert "gitlab-advanced-sast-ext:0" in text
