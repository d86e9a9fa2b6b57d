"""The analyzer catalog: facts per GitLab major, resolving what operators type, presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airgap_tui.catalog import (
    CATEGORIES,
    PRESET_ALL_CURRENT,
    PRESET_DEFAULT,
    Catalog,
    load_catalog,
    parse_catalog,
)
from airgap_tui.errors import CatalogError, UsageError
from airgap_tui.models import DEFAULT_SOURCE_PREFIX
from airgap_tui.reference import ImageRef

DATA = Path(__file__).resolve().parents[2] / "airgap_tui" / "data" / "analyzers.yaml"
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
    assert "clangsa" in catalog.major_note(19)


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
    assert catalog.get("semgrep", 19) is None
    assert catalog.get("no-such-thing", 18) is None
    kics = catalog.get("kics", 15)
    assert kics is not None and kics.tag is None and kics.needs_tag
    assert list(catalog.history("gitlab-advanced-sast")) == [17, 18]


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
        ("kics", 15, "kics:<tag>"),
        ("semgrep", 19, "partial"),
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
    ],
)
def test_malformed_entry_names_the_entry(change: str) -> None:
    with pytest.raises(CatalogError, match="'semgrep'"):
        parse_catalog(yaml.safe_dump(_broken(change)))


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
