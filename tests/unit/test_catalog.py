"""The analyzer catalog: facts per GitLab major, resolving what operators type, presets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from airgap_tui.catalog.catalog import (
    CATEGORIES,
    KIND_ARTIFACT,
    PRESET_ALL_CURRENT,
    PRESET_DEFAULT,
    Catalog,
    split_fips,
)
from airgap_tui.catalog.load import load_catalog, parse_catalog
from airgap_tui.cli.commands import main
from airgap_tui.errors import CatalogError, UsageError
from airgap_tui.models import DEFAULT_SOURCE_PREFIX
from airgap_tui.registry.reference import ImageRef
from tests.fixtures.templates.excerpts import Excerpt, load_excerpts

DATA = Path(__file__).resolve().parents[2] / "airgap_tui" / "catalog" / "data" / "analyzers.yaml"
MIRROR = "127.0.0.1:5000/mirror"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _raw() -> dict[str, object]:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# ------------------------------------------------------------------ facts
def test_loads_every_major_and_category(catalog: Catalog) -> None:
    assert catalog.majors == [15, 16, 17, 18, 19]
    assert catalog.categories == list(CATEGORIES)
    assert all(catalog.is_complete(m) for m in (15, 16, 17, 18))
    assert not catalog.is_complete(19)
    assert "C/C++" in catalog.major_note(19)


@pytest.mark.parametrize(
    ("major", "semgrep", "secrets"),
    [(15, "3", "4"), (16, "4", "5"), (17, "5", "6"), (18, "6", "7")],
)
def test_semgrep_and_secrets_tags_per_major(
    catalog: Catalog, major: int, semgrep: str, secrets: str
) -> None:
    for name, tag in (("semgrep", semgrep), ("secrets", secrets)):
        analyzer = catalog.get(name, major)
        assert analyzer is not None
        assert (analyzer.tag, analyzer.status, analyzer.removed) == (tag, "current", False)
        assert analyzer.default


def test_gitlab_18_tags_follow_the_scan_templates_not_secure_binaries(catalog: Catalog) -> None:
    # Secure-Binaries 18.x mirrors semgrep/kics 5 and gitlab-advanced-sast 1 (drift, MR 260570).
    wanted = {
        "semgrep": "6",
        "gitlab-advanced-sast": "2",
        "kics": "6",
        "kubesec": "6",
        "pmd-apex": "6",
        "sobelow": "6",
        "spotbugs": "5",
        "secrets": "7",
        "container-scanning": "8",
        "dast": "6",
        "api-security": "6",
        "gemnasium": "6",
        "gemnasium-maven": "6",
        "gemnasium-python": "6",
    }
    found = {name: (a.tag if (a := catalog.get(name, 18)) else None) for name in wanted}
    assert found == wanted


def test_removed_and_deprecated_are_flagged(catalog: Catalog) -> None:
    brakeman = catalog.get("brakeman", 17)
    assert brakeman is not None
    assert brakeman.removed and brakeman.tag is None and not brakeman.default
    assert "17.0" in brakeman.note and brakeman.replaced_by == "semgrep"
    assert "brakeman" in [a.name for a in catalog.analyzers(17)]
    assert "brakeman" not in [a.name for a in catalog.analyzers(17, include_removed=False)]
    gemnasium = catalog.get("gemnasium", 18)
    assert gemnasium is not None and gemnasium.deprecated and not gemnasium.removed
    assert gemnasium.tag == "6" and gemnasium.default
    fuzzing = catalog.get("api-fuzzing", 15)
    assert fuzzing is not None and fuzzing.removed and fuzzing.replaced_by == "api-security"


def test_images_absent_where_the_reference_has_no_fact(catalog: Catalog) -> None:
    assert catalog.get("gitlab-advanced-sast", 16) is None
    assert catalog.get("no-such-thing", 18) is None
    assert catalog.get("dependency-scanning", 17) is None
    assert list(catalog.history("gitlab-advanced-sast")) == [17, 18, 19]
    license_16 = catalog.get("license-finder", 16)
    assert license_16 is not None and license_16.needs_tag and "16.x" in license_16.why_no_tag


def test_gitlab_19_lists_what_18_runs_without_guessing_tags(catalog: Catalog) -> None:
    """Issue 17 item 12: a 19.x tag only with a 19.x source (the 19.4.1 v2 Dependency-Scanning
    template, flyisland/gitlab-ee be1c96a2, fixture 19/Jobs-Dependency-Scanning.v2.yml; MR 242169
    for clangsa); 18's other images stay listed, each saying why no tag (issue 16's guess fills
    those in, marked as such)."""
    for analyzer in catalog.analyzers(18, include_removed=False):
        later = catalog.get(analyzer.name, 19)
        if analyzer.kind == KIND_ARTIFACT or analyzer.name.startswith("ds-resolution-"):
            continue
        assert later is not None, analyzer.name
        if later.tag is None:
            assert later.needs_tag and later.why_no_tag.startswith("Not checked"), later.name
    assert {a.name for a in catalog.analyzers(19) if a.tag} == {
        "clangsa",
        "dependency-scanning",
        "ds-resolution-maven",
        "ds-resolution-python",
        "ds-resolution-gradle",
    }
    for analyzer in catalog.analyzers(19):
        if analyzer.tag:
            assert analyzer.tag_source.startswith(("fixture 19/", "MR ")), analyzer.name
    ds = catalog.get("dependency-scanning", 19)
    assert ds is not None and ds.tag == "2" and "MR 245752" in ds.tag_source


def test_every_listed_analyzer_is_consistent(catalog: Catalog) -> None:
    for major in catalog.majors:
        for analyzer in catalog.analyzers(major):
            assert analyzer.major == major
            assert analyzer.category in CATEGORIES
            assert analyzer.deprecated == (analyzer.status == "deprecated")
            if analyzer.removed:
                assert analyzer.tag is None and not analyzer.default and analyzer.note
            assert analyzer.source
    cs = catalog.get("container-scanning", 18)
    assert cs is not None and not cs.prefix_based


def test_catalog_yaml_cites_the_reference() -> None:
    head = DATA.read_text(encoding="utf-8").splitlines()[:6]
    assert any("gitlab-analyzers.md" in line for line in head)


# ------------------------------------------------------------------ resolve
def test_resolve_catalog_name_takes_the_majors_tag(catalog: Catalog) -> None:
    spec = catalog.resolve("semgrep", 17, MIRROR)
    assert (spec.name, spec.tag, spec.analyzer) == ("semgrep", "5", "semgrep")
    assert spec.source == ImageRef("127.0.0.1:5000", "mirror/semgrep", "5")
    default = catalog.resolve("container-scanning/trivy", 18)
    assert str(default.source) == f"{DEFAULT_SOURCE_PREFIX}/container-scanning/trivy:8"
    assert default.name == "container-scanning/trivy"


def test_resolve_explicit_tag_wins(catalog: Catalog) -> None:
    spec = catalog.resolve("secrets:6", 18, MIRROR)
    assert (spec.name, spec.tag, str(spec.source)) == ("secrets", "6", f"{MIRROR}/secrets:6")


def test_explicit_tag_still_works_for_a_removed_analyzer(catalog: Catalog) -> None:
    spec = catalog.resolve("brakeman:4", 18, MIRROR)
    assert (spec.name, spec.tag, spec.analyzer) == ("brakeman", "4", "brakeman")


def test_resolve_custom_image(catalog: Catalog) -> None:
    spec = catalog.resolve("registry.example.com/team/tool:1.2", 18, MIRROR)
    assert (spec.name, spec.tag, spec.analyzer) == ("team/tool", "1.2", None)
    assert spec.source == ImageRef("registry.example.com", "team/tool", "1.2")


def test_custom_image_under_the_source_prefix_is_a_catalog_image(catalog: Catalog) -> None:
    spec = catalog.resolve(f"{MIRROR}/semgrep:6", 15, MIRROR)
    assert (spec.name, spec.tag, spec.analyzer) == ("semgrep", "6", "semgrep")


def test_unknown_name_lists_close_matches(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        catalog.resolve("semgrp", 18)
    assert "'semgrep'" in str(caught.value)
    assert caught.value.exit_code == 2


def test_removed_analyzer_says_since_when_and_replacement(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        catalog.resolve("brakeman", 18)
    message = str(caught.value)
    assert "17.0" in message and "Use semgrep instead" in message and "brakeman:<tag>" in message
    with pytest.raises(CatalogError, match="api-security"):
        catalog.resolve("api-fuzzing", 15)


@pytest.mark.parametrize(
    ("spec", "major", "needle"),
    [
        ("gitlab-advanced-sast", 16, "first appears in GitLab 17"),
        ("license-finder", 16, "license-finder:<tag>"),
        ("semgrep", 19, "partial"),
        ("kubesec:6-fips", 18, "no FIPS variant"),
        ("dependency-scanning", 17, "first appears in GitLab 18"),
        ("semgrep", 14, "only knows GitLab 15, 16, 17, 18, 19"),
        ("registry.example.com/team/tool", 18, "no tag"),
        ("team/tool:1.2", 18, "registry host"),
        ("", 18, "empty"),
    ],
)
def test_resolve_errors(catalog: Catalog, spec: str, major: int, needle: str) -> None:
    with pytest.raises(CatalogError, match=needle):
        catalog.resolve(spec, major)


@pytest.mark.parametrize(
    ("spec", "prefix"),
    [
        ("semgrep:bad tag", DEFAULT_SOURCE_PREFIX),
        ("semgrep:.x", DEFAULT_SOURCE_PREFIX),
        ("semgrep", "mirror"),
        ("semgrep", "not a host/x"),
    ],
)
def test_resolve_rejects_bad_tags_and_prefixes(catalog: Catalog, spec: str, prefix: str) -> None:
    with pytest.raises(UsageError):
        catalog.resolve(spec, 18, prefix)


# ------------------------------------------------------------------ presets
@pytest.mark.parametrize("major", [15, 16, 17, 18, 19])
def test_every_preset_name_resolves(catalog: Catalog, major: int) -> None:
    presets = catalog.presets(major)
    assert PRESET_DEFAULT in presets and PRESET_ALL_CURRENT in presets
    for key, names in presets.items():
        assert len(names) == len(set(names))
        for name in names:
            spec = catalog.resolve(name, major, MIRROR)
            if key in CATEGORIES:
                assert catalog.category_of(name) == key
            if key == PRESET_ALL_CURRENT:
                analyzer = catalog.get(name, major)
                assert analyzer is not None and analyzer.status == "current"
            assert spec.tag


def test_presets_for_gitlab_18(catalog: Catalog) -> None:
    presets = catalog.presets(18)
    default = presets[PRESET_DEFAULT]
    for name in ("semgrep", "secrets", "gemnasium", "container-scanning", "kics"):
        assert name in default
    for name in ("kubesec", "dast", "api-security", "brakeman", "gitlab-advanced-sast"):
        assert name not in default
    assert presets["secret-detection"] == ["secrets"]
    assert "gemnasium" in presets["dependency-scanning"]  # deprecated but still run by default
    assert "gemnasium" not in presets[PRESET_ALL_CURRENT]
    assert "license-scanning" not in presets
    assert "security-code-scan" in catalog.presets(15)[PRESET_DEFAULT]


# ------------------------------------------------------------------ validation
def _entry(data: dict[str, object], name: str) -> dict[str, object]:
    entries = data["analyzers"]
    assert isinstance(entries, list)
    found = next(e for e in entries if e["name"] == name)
    assert isinstance(found, dict)
    return found


def _majors(entry: dict[str, object]) -> dict[int, dict[str, object]]:
    majors = entry["majors"]
    assert isinstance(majors, dict)
    return majors


def _broken(change: str) -> dict[str, object]:
    data = _raw()
    semgrep = _entry(data, "semgrep")
    if change == "category":
        semgrep["category"] = "fuzzing"
    elif change == "int-tag":
        _majors(semgrep)[18]["tag"] = 6
    elif change == "removed-with-tag":
        _majors(semgrep)[18] = {"status": "removed", "tag": "6", "note": "x"}
    elif change == "status":
        _majors(semgrep)[18]["status"] = "gone"
    elif change == "replaced_by":
        semgrep["replaced_by"] = "semgrepp"
    elif change == "unknown-key":
        semgrep["tags"] = {}
    elif change == "unknown-major":
        _majors(semgrep)[14] = {"tag": "2", "status": "current", "default": True}
    elif change == "missing-default":
        del _majors(semgrep)[18]["default"]
    elif change == "bad-path":
        semgrep["path"] = "Semgrep"
    elif change == "null-tag-without-note":
        _majors(semgrep)[18]["tag"] = None
    elif change == "tag-without-source":
        del _majors(semgrep)[18]["source"]
    elif change == "enable-not-a-variable":
        _majors(semgrep)[18]["enable"] = {"scan-it": "true"}
    elif change == "enable-on-removed":
        _majors(semgrep)[18] = {"status": "removed", "note": "x", "enable": {"X_Y": "1"}}
    elif change == "fips-not-bool":
        semgrep["fips"] = "yes"
    elif change == "kind":
        semgrep["kind"] = "helm-chart"
    elif change == "source-ref-with-tag":
        semgrep["source_ref"] = "ghcr.io/example/semgrep:1"
    return data


@pytest.mark.parametrize(
    "change",
    [
        "category",
        "int-tag",
        "removed-with-tag",
        "status",
        "replaced_by",
        "unknown-key",
        "unknown-major",
        "missing-default",
        "bad-path",
        "null-tag-without-note",
        "tag-without-source",
        "enable-not-a-variable",
        "enable-on-removed",
        "fips-not-bool",
        "kind",
        "source-ref-with-tag",
    ],
)
def test_malformed_entry_names_the_entry(change: str) -> None:
    with pytest.raises(CatalogError, match="'semgrep'"):
        parse_catalog(yaml.safe_dump(_broken(change)))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ("limit-unknown-name", "applies_to"),
        ("limit-no-text", "text"),
        ("reads-bad-name", "not a variable name"),
        ("reads-no-evidence", "no evidence"),
    ],
)
def test_malformed_limits_and_reads_are_refused(change: str, needle: str) -> None:
    data = _raw()
    limits, majors = data["limits"], data["majors"]
    assert isinstance(limits, list) and isinstance(majors, dict)
    if change == "limit-unknown-name":
        limits[0]["applies_to"] = ["no-such-image"]
    elif change == "limit-no-text":
        limits[0]["text"] = " "
    elif change == "reads-bad-name":
        majors[18]["reads"]["lower"] = "fixture 18/Jobs-SAST.yml"
    elif change == "reads-no-evidence":
        majors[18]["reads"]["SAST_IMAGE_SUFFIX"] = ""
    with pytest.raises(CatalogError, match=needle):
        parse_catalog(yaml.safe_dump(data))


def test_duplicate_entry_is_refused() -> None:
    data = _raw()
    entries = data["analyzers"]
    assert isinstance(entries, list)
    entries.append(dict(_entry(data, "secrets")))
    with pytest.raises(CatalogError, match="'secrets'.*twice"):
        parse_catalog(yaml.safe_dump(data))


@pytest.mark.parametrize("text", ["analyzers: [", "- a list", "format: 2\n"])
def test_malformed_file_is_refused(text: str) -> None:
    with pytest.raises(CatalogError):
        parse_catalog(text)


def test_unmodified_data_round_trips_through_parse() -> None:
    again = parse_catalog(yaml.safe_dump(_raw()))
    assert again.presets(18) == load_catalog().presets(18)


# ------------------------------------------------------------------ against GitLab's templates
EXCERPTS = load_excerpts()
FIXTURE_REF = re.compile(r"fixture (\d+/[\w.-]+\.yml)")


def _excerpt(file: str) -> Excerpt:
    return next(e for e in EXCERPTS if e.file == file)


def test_every_major_with_templates_has_excerpts() -> None:
    assert {e.major for e in EXCERPTS} == {15, 16, 17, 18, 19}
    assert len(EXCERPTS) >= 20


@pytest.mark.parametrize("excerpt", EXCERPTS, ids=lambda e: e.file)
def test_excerpt_names_repository_path_commit_and_major(excerpt: Excerpt) -> None:
    header = excerpt.header
    assert set(header) == {"repository", "path", "commit", "major", "tag-check"}
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", header["repository"])
    assert re.fullmatch(
        r"lib/gitlab/ci/templates/(Jobs|Security)/[\w.-]+\.gitlab-ci\.yml", header["path"]
    )
    assert re.fullmatch(r"[0-9a-f]{40}", header["commit"])
    assert excerpt.major == int(excerpt.file.split("/")[0])
    assert "(" in header["major"], "say why this commit belongs to that major"
    if not excerpt.tag_check:
        assert "(" in header["tag-check"], "say why the tags are not the catalog's"
    assert excerpt.images, "an excerpt keeps at least one image line"


@pytest.mark.parametrize("excerpt", [e for e in EXCERPTS if e.tag_check], ids=lambda e: e.file)
def test_catalog_equals_the_template(catalog: Catalog, excerpt: Excerpt) -> None:
    for path, tag in excerpt.images.items():
        name = catalog.by_path(path)
        assert name is not None, f"{excerpt.file}: {path} is not in the catalog"
        analyzer = catalog.get(name, excerpt.major)
        assert analyzer is not None and not analyzer.removed, f"{excerpt.file}: {name}"
        assert analyzer.tag == tag, f"{excerpt.file}: {name} is {tag}, catalog {analyzer.tag}"


@pytest.mark.parametrize("excerpt", [e for e in EXCERPTS if not e.tag_check], ids=lambda e: e.file)
def test_catalog_says_why_it_differs_from_a_superseded_template(
    catalog: Catalog, excerpt: Excerpt
) -> None:
    for path, tag in excerpt.images.items():
        name = catalog.by_path(path)
        assert name is not None
        analyzer = catalog.get(name, excerpt.major)
        assert analyzer is not None and analyzer.tag != tag
        assert excerpt.file in analyzer.note, f"{name} {excerpt.major} should name {excerpt.file}"


def test_every_tag_names_its_source_and_cited_fixtures_hold(catalog: Catalog) -> None:
    cited: set[str] = set()
    for major in catalog.majors:
        for analyzer in catalog.analyzers(major):
            if analyzer.tag is None:
                assert analyzer.why_no_tag, f"{analyzer.name} {major}"
                continue
            assert analyzer.tag_source, f"{analyzer.name} {major} has no source"
            for file in FIXTURE_REF.findall(analyzer.tag_source):
                excerpt = _excerpt(file)
                cited.add(file)
                assert excerpt.major == major and excerpt.tag_check
                assert excerpt.images.get(analyzer.path) == analyzer.tag, (analyzer.name, file)
    assert cited == {e.file for e in EXCERPTS if e.tag_check}, "every checked excerpt is cited"


@pytest.mark.parametrize("major", [15, 16, 17, 18, 19])
def test_reads_are_backed_by_the_majors_templates(catalog: Catalog, major: int) -> None:
    """A variable is "read by GitLab N" only with evidence; fixture evidence is checked here."""
    reads = catalog.reads(major)
    for variable, evidence in reads.items():
        assert evidence.strip()
        if evidence.startswith("fixture "):
            excerpt = _excerpt(evidence.removeprefix("fixture ").split()[0])
            assert excerpt.major == major
            assert variable in excerpt.variables, f"{excerpt.file} does not read {variable}"
    assert reads["SECURE_ANALYZERS_PREFIX"].startswith("fixture ")
    if major == 19:  # only the 19.4 v2 Dependency-Scanning template was read
        assert set(reads) == {"SECURE_ANALYZERS_PREFIX", "DS_DISABLED_RESOLUTION_JOBS"}


def test_fips_and_opt_ins_match_the_templates(catalog: Catalog) -> None:
    # SAST_IMAGE_SUFFIX is in the image name of exactly these SAST jobs.
    for excerpt in (_excerpt("17/Jobs-SAST.yml"), _excerpt("18/Jobs-SAST.yml")):
        with_suffix = {
            path
            for line in excerpt.body
            for path in re.findall(r"/([\w-]+):\$SAST_ANALYZER_IMAGE_TAG\$SAST_IMAGE_SUFFIX", line)
        }
        fips = {a.name for a in catalog.analyzers(excerpt.major) if a.fips and a.category == "sast"}
        assert with_suffix == fips
    advanced = catalog.get("gitlab-advanced-sast", 18)
    assert advanced is not None and dict(advanced.enable) == {
        "GITLAB_ADVANCED_SAST_ENABLED": "true"
    }
    kubesec = catalog.get("kubesec", 17)
    assert kubesec is not None and dict(kubesec.enable) == {"SCAN_KUBERNETES_MANIFESTS": "true"}
    mobsf = catalog.get("mobsf", 15)
    assert mobsf is not None and dict(mobsf.enable) == {"SAST_EXPERIMENTAL_FEATURES": "true"}
    clangsa = catalog.get("clangsa", 18)
    assert clangsa is not None and "GITLAB_ADVANCED_SAST_CPP_ENABLED" in dict(clangsa.enable)
    for major in (15, 17, 18):
        for analyzer in catalog.analyzers(major, include_removed=False):
            for variable in dict(analyzer.enable):
                assert variable in catalog.reads(major), (analyzer.name, major, variable)


def test_dependency_scanning_v2_and_its_resolution_images(catalog: Catalog) -> None:
    ds = catalog.get("dependency-scanning", 18)
    assert ds is not None and ds.tag == "1" and "package metadata" in ds.note
    resolution = {
        a.name: (a.path, a.tag)
        for a in catalog.analyzers(18)
        if a.name.startswith("ds-resolution-")
    }
    assert resolution == {
        "ds-resolution-maven": ("dependency-resolution/ubi9/openjdk-21", "1"),
        "ds-resolution-python": (
            "dependency-resolution/ubi9/python-312-minimal-with-piptools-7",
            "9",
        ),
        "ds-resolution-gradle": ("dependency-resolution/ubi9/openjdk-17-with-gradle-8", "1"),
    }
    spec = catalog.resolve("ds-resolution-python", 18)
    assert str(spec.source) == (
        "registry.gitlab.com/security-products/dependency-resolution/ubi9/"
        "python-312-minimal-with-piptools-7:9"
    )


# ------------------------------------------------------------------ FIPS, artifacts, limits
def test_fips_variants(catalog: Catalog) -> None:
    assert split_fips("6-fips") == ("6", True) and split_fips("6") == ("6", False)
    assert split_fips("-fips") == ("-fips", False)
    assert catalog.resolve("semgrep", 18, MIRROR, fips=True).tag == "6-fips"
    assert catalog.resolve("kubesec", 18, MIRROR, fips=True).tag == "6"  # none exists
    spec = catalog.resolve("secrets:7-fips", 18, MIRROR)
    assert (spec.name, spec.tag, str(spec.source)) == (
        "secrets",
        "7-fips",
        f"{MIRROR}/secrets:7-fips",
    )
    cs = catalog.get("container-scanning", 18)
    assert cs is not None and cs.fips_tag == "8-fips"
    with pytest.raises(CatalogError, match="kubesec:6"):
        catalog.resolve("kubesec:6-fips", 18)


def test_trivy_java_db_is_an_artifact_with_its_own_source(catalog: Catalog) -> None:
    entry = catalog.get("trivy-java-db", 18)
    assert entry is not None and entry.kind == KIND_ARTIFACT and not entry.prefix_based
    spec = catalog.resolve("trivy-java-db", 18, MIRROR)  # the source prefix does not apply
    assert spec.source == ImageRef("ghcr.io", "aquasecurity/trivy-java-db", "1")
    assert (spec.name, spec.tag, spec.analyzer) == ("trivy-java-db", "1", "trivy-java-db")
    typed = catalog.resolve("ghcr.io/aquasecurity/trivy-java-db:1", 18, MIRROR)
    assert typed == spec
    for names in catalog.presets(18).values():
        assert "trivy-java-db" not in names  # presets carry images; the exporter must opt in


def test_limits_name_what_the_prefix_cannot_fix(catalog: Catalog) -> None:
    ids = {limit.id for limit in catalog.limits()}
    assert ids == {
        "dast-runner-validation",
        "container-scanning-for-registry",
        "on-demand-dast",
        "coverage-fuzzing",
        "scan-execution-policies",
    }
    every = ["coverage-fuzzing", "scan-execution-policies"]
    assert [x.id for x in catalog.limits(["semgrep"])] == every
    dast = {x.id for x in catalog.limits(["dast-runner-validation", "dast"])}
    assert dast == {"dast-runner-validation", "on-demand-dast", *every}
    text = next(x.text for x in catalog.limits() if x.id == "dast-runner-validation")
    assert "fixed host" in text and "pull_policy" in text


# ------------------------------------------------------------------ CLI contract
def _catalog_json(capsys: pytest.CaptureFixture[str], major: int) -> dict[str, object]:
    assert main(["catalog", "--json", "--gitlab", str(major)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("major", [15, 16, 17, 18, 19])
def test_catalog_json_gives_a_tag_or_says_why_not(
    capsys: pytest.CaptureFixture[str], major: int
) -> None:
    data = _catalog_json(capsys, major)
    rows = data["analyzers"]
    assert isinstance(rows, list) and rows
    for row in rows:
        assert (row["tag"] is None) == bool(row["why_no_tag"]), row["name"]
        if row["tag"] is not None:
            assert row["tag_source"], row["name"]
    if major == 18:
        assert all(row["tag"] for row in rows), "every image GitLab 18 runs has a tag"
        ds = next(r for r in rows if r["name"] == "dependency-scanning")
        assert [(o["tag"], o["template"]) for o in ds["also"]] == [
            ("v0", "Jobs/Dependency-Scanning.latest.gitlab-ci.yml")
        ]
        semgrep = next(r for r in rows if r["name"] == "semgrep")
        assert (
            semgrep["fips_tag"] == "6-fips" and semgrep["tag_source"] == "fixture 18/Jobs-SAST.yml"
        )
    assert data["complete"] == (major != 19)
    limits = data["limits"]
    assert isinstance(limits, list) and len(limits) == 5


def test_catalog_text_lists_limits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--gitlab", "18"]) == 0
    out = capsys.readouterr().out
    assert "semgrep" in out and "6+fips" in out and "dast-runner-validation is pulled" in out


# ------------------------------------------------------------------ issue 17 (GitLab fit, round 3)
def test_dast_18_came_in_18_0(catalog: Catalog) -> None:
    """Issue 17 item 5. GitLab's DAST docs ("Create a DAST CI/CD job"): "This template was
    updated to DAST_VERSION: 6 in GitLab 18.0", through MR 188703."""
    dast = catalog.get("dast", 18)
    assert dast is not None and dast.tag == "6"
    assert "18.0" in dast.note and "MR 188703" in dast.note
    assert "18.1" not in dast.note and "may request 5" not in dast.note
    assert "18.0" in dast.tag_source and "MR 188703" in dast.tag_source
    api = catalog.get("api-security", 18)
    assert api is not None and api.tag == "6" and "18.1" not in api.note


def test_dast_api_is_read_on_16_and_17(catalog: Catalog) -> None:
    """Issue 17 item 1: the 17.x DAST-API template (fixture 17/Security-DAST-API.yml, gitlabhq
    0e8bf9c2) reads DAST_API_VERSION and DAST_API_IMAGE_SUFFIX; 16 rests on MR 84312 and the
    templates either side (15/ and 17/Security-DAST-API.yml)."""
    reads17, reads16 = catalog.reads(17), catalog.reads(16)
    assert reads17["DAST_API_VERSION"] == "fixture 17/Security-DAST-API.yml"
    assert reads17["DAST_API_IMAGE_SUFFIX"] == "fixture 17/Security-DAST-API.yml"
    assert "MR 84312" in reads16["DAST_API_IMAGE_SUFFIX"]
    assert "MR 117929" in reads16["DAST_IMAGE_SUFFIX"]
    assert "MR 86670" in catalog.reads(15)["DS_IMAGE_SUFFIX"]
    dast_api = _excerpt("17/Security-DAST-API.yml")
    assert dast_api.header["commit"] == "0e8bf9c2065c6f5c1d2c0715d2749af231b837df"
    assert any('DAST_API_IMAGE_SUFFIX: "-fips"' in line for line in dast_api.body)


def test_the_19_excerpt_is_a_19_release(catalog: Catalog) -> None:
    """Issue 17 item 12: the one 19.x template read, at a commit whose VERSION is 19.4.1-jh."""
    excerpt = _excerpt("19/Jobs-Dependency-Scanning.v2.yml")
    assert excerpt.header["repository"] == "flyisland/gitlab-ee"
    assert "19.4.1" in excerpt.header["major"]
    assert excerpt.images["dependency-scanning"] == "2"
    assert excerpt.inputs["disabled_resolution_jobs"] == ""
    assert not any(line.strip().startswith("DS_DISABLED_RESOLUTION_JOBS:") for line in excerpt.body)


def _broken_also(change: str) -> dict[str, object]:
    data = _raw()
    ds = _majors(_entry(data, "dependency-scanning"))[18]
    dast = _majors(_entry(data, "dast"))
    also = ds["also"]
    assert isinstance(also, list)
    if change == "also-not-a-list":
        ds["also"] = {"tag": "v0"}
    elif change == "also-missing-source":
        del also[0]["source"]
    elif change == "also-bad-template":
        also[0]["template"] = "Dependency-Scanning.latest"
    elif change == "also-repeats-tag":
        also[0]["tag"] = "1"
    elif change == "also-bad-tag":
        also[0]["tag"] = "-v0"
    elif change == "fips-true-on-major":
        dast[16]["fips"] = True
    elif change == "fips-false-without-note":
        dast[16]["fips"] = False
        dast[16]["note"] = "Browser-based"
    elif change == "default-not-read":
        majors = data["majors"]
        assert isinstance(majors, dict)
        majors[18]["defaults"]["NOT_READ_ANYWHERE"] = "x"
    return data


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ("also-not-a-list", "'dependency-scanning'"),
        ("also-missing-source", "'dependency-scanning'"),
        ("also-bad-template", "'dependency-scanning'"),
        ("also-repeats-tag", "'dependency-scanning'"),
        ("also-bad-tag", "'dependency-scanning'"),
        ("fips-true-on-major", "'dast'"),
        ("fips-false-without-note", "'dast'"),
        ("default-not-read", "NOT_READ_ANYWHERE"),
    ],
)
def test_malformed_also_fips_and_defaults_are_refused(change: str, needle: str) -> None:
    with pytest.raises(CatalogError, match=needle):
        parse_catalog(yaml.safe_dump(_broken_also(change)))
