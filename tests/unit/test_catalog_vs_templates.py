"""The built-in catalog and the snippet, checked against GitLab's real templates as evaluated.

`tests/fixtures/gitlab-templates/<major>/` holds whole GitLab templates (each named with its
repository, path and commit in that directory's SOURCES); `images_from_templates` lists what
their security jobs pull. Issue 17's last done-when:

- the built-in catalog and the evaluated templates agree on every 15-18 fixture: every image a
  template pulls is in the catalog for that major with that tag, its FIPS variant and its opt-in;
  where they differ on purpose, KNOWN_DIFFERENCES names the entry and says why;
- the snippet cases run through the evaluator: the snippet's own YAML is evaluated as the
  project's .gitlab-ci.yml on top of those templates, and every image a job then pulls is one
  that was pushed (on a plain instance and, for -fips pushes, on a FIPS instance); plain pushes on
  a FIPS instance pull exactly the -fips variants the snippet's FIPS warning names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from airgap_tui.catalog.catalog import Catalog, split_fips
from airgap_tui.catalog.load import load_catalog
from airgap_tui.catalog.snippet import render_snippet
from airgap_tui.catalog.snippet_model import FIPS_INSTANCE_WARNING
from airgap_tui.catalog.template_model import TemplateImage
from airgap_tui.catalog.templates import images_from_templates, read_templates_dir
from tests.fixtures.templates.excerpts import load_excerpts

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates"
MAJORS = (15, 16, 17, 18)
REGISTRY = "registry.local:5000/analyzers"
VENDORED = "Vendored"  # the templates go under here, so only the snippet is a pipeline entry

# (major, catalog name) -> why the catalog does not take that template's word.
KNOWN_DIFFERENCES: dict[tuple[int, str], str] = {
    (18, "api-security"): (
        "18/Security/API-Security.gitlab-ci.yml (gitlabhq 67146ed9) is a copy from the 18.0 cycle "
        "that still requests 5; MR 188703 moved it to 6 for 18.0 (DAST docs), and the snippet "
        "always sets APISEC_VERSION to the tag pushed"
    ),
}
# (major, catalog name) -> why the template's FIPS behaviour is not the catalog's on purpose.
KNOWN_FIPS_DIFFERENCES: dict[tuple[int, str], str] = {
    # These templates read a suffix variable but have no CI_GITLAB_FIPS_MODE rule of their own
    # at that major: a FIPS variant is pulled only when the snippet sets the suffix.
    (15, "semgrep"): "15.x SAST template: SAST_IMAGE_SUFFIX, no FIPS rule",
    (15, "secrets"): "15.x Secret-Detection template: SECRET_DETECTION_IMAGE_SUFFIX, no FIPS rule",
    (17, "semgrep"): "17.x SAST template: SAST_IMAGE_SUFFIX, no FIPS rule",
    (17, "gitlab-advanced-sast"): "17.x SAST template: SAST_IMAGE_SUFFIX, no FIPS rule",
    (17, "kics"): "17.x SAST-IaC template: SAST_IMAGE_SUFFIX, no FIPS rule",
    (18, "semgrep"): "18.0 SAST template: SAST_IMAGE_SUFFIX, no FIPS rule",
    (18, "gitlab-advanced-sast"): "18.0 SAST template: SAST_IMAGE_SUFFIX, no FIPS rule",
    (18, "kics"): "18.0 SAST-IaC template: SAST_IMAGE_SUFFIX, no FIPS rule",
}


def _sources(major: int) -> dict[str, str]:
    return read_templates_dir(ROOT / str(major))


def _evaluated(major: int, *, fips: bool) -> list[TemplateImage]:
    return [i for i in images_from_templates(_sources(major), fips=fips) if i.under_prefix]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# ------------------------------------------------------------------ catalog == templates
@pytest.mark.parametrize("major", MAJORS)
def test_every_image_the_templates_pull_is_in_the_catalog_with_that_tag(
    catalog: Catalog, major: int
) -> None:
    differ: set[str] = set()
    for image in _evaluated(major, fips=False):
        name = catalog.by_path(image.name)
        assert name is not None, f"{major}/{image.template}: {image.name} is not in the catalog"
        analyzer = catalog.get(name, major)
        assert analyzer is not None and not analyzer.removed, f"{major}: {name}"
        if image.tag in analyzer.tags:
            continue
        assert (major, name) in KNOWN_DIFFERENCES, (
            f"{major}/{image.template}: {name} is {image.tag}, the catalog says "
            f"{'/'.join(analyzer.tags)}"
        )
        differ.add(name)
    expected = {name for (m, name) in KNOWN_DIFFERENCES if m == major}
    assert differ == expected, "a known difference no template shows any more: drop it"


@pytest.mark.parametrize("major", MAJORS)
def test_fips_variants_and_opt_ins_agree(catalog: Catalog, major: int) -> None:
    plain = {(i.template, i.job): i for i in _evaluated(major, fips=False)}
    by_rule: set[str] = set()
    for image in _evaluated(major, fips=True):
        name = catalog.by_path(image.name)
        assert name is not None
        analyzer = catalog.get(name, major)
        assert analyzer is not None
        base, is_fips = split_fips(image.tag)
        assert is_fips == image.fips, image
        if image.fips:  # the template's own FIPS rule asks for the variant
            assert analyzer.fips, f"{major}: {name} is pulled as {image.tag}"
            assert plain[(image.template, image.job)].tag == base
            by_rule.add(name)
        assert (image.opt_in is None) == (not analyzer.enable), (major, name, image.opt_in)
        if image.opt_in:
            assert image.opt_in in dict(analyzer.enable), (major, name)
    # the catalog's FIPS images the templates carry no FIPS rule for are named, and why
    in_set = {catalog.by_path(i.name) for i in plain.values()}
    without_rule = {
        a.name
        for a in catalog.analyzers(major, include_removed=False)
        if a.fips and a.name in in_set and a.name not in by_rule
    }
    assert without_rule == {n for (m, n) in KNOWN_FIPS_DIFFERENCES if m == major}


def test_whole_templates_and_excerpts_at_the_same_commit_agree() -> None:
    """An excerpt (tests/fixtures/templates/) and a whole template (gitlab-templates/) read at
    the same commit give the same images: the excerpts the catalog cites are faithful."""
    commits: dict[tuple[int, str], str] = {}
    for major in MAJORS:
        for line in (ROOT / str(major) / "SOURCES").read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            file, _repo, path, commit = (part.strip() for part in line.split("|")[:4])
            commits[(major, path)] = commit
            assert file == path.removeprefix("lib/gitlab/ci/templates/")
    compared = 0
    for excerpt in load_excerpts():
        key = (excerpt.major, excerpt.header["path"])
        if commits.get(key) != excerpt.header["commit"]:
            continue
        template = excerpt.header["path"].removeprefix("lib/gitlab/ci/templates/")
        whole = {
            i.name: i.tag for i in _evaluated(excerpt.major, fips=False) if i.template == template
        }
        assert whole == excerpt.images, excerpt.file
        compared += 1
    assert compared >= 8


# ------------------------------------------------------------------ the snippet, evaluated
_COMMENTED_INCLUDE = re.compile(r"^\s*#\s+- template: (\S+\.gitlab-ci\.yml)")


def _as_project_pipeline(snippet: str, sources: dict[str, str]) -> dict[str, str]:
    """The vendored templates under VENDORED/, and the snippet as the one pipeline entry: its
    includes point there, and its commented includes (DAST, API security: they need a target)
    are taken as uncommented, as an operator does who has the target."""
    data: dict[str, Any] = yaml.safe_load(snippet) or {}
    includes = list(data.get("include", []))
    for line in snippet.splitlines():
        found = _COMMENTED_INCLUDE.match(line)
        if found and f"Security/{found.group(1)}" in sources:
            includes.append({"template": f"Security/{found.group(1)}"})
    for item in includes:
        assert item["template"] in sources, f"the snippet includes {item['template']}"
        item["template"] = f"{VENDORED}/{item['template']}"
    project = {"include": includes, "variables": data.get("variables") or {}}
    tree = {f"{VENDORED}/{path}": text for path, text in sources.items()}
    tree["Security/Project.gitlab-ci.yml"] = yaml.safe_dump(project, sort_keys=False)
    return tree


def _pulled(snippet: str, major: int, *, fips: bool) -> set[str]:
    """What the project's jobs pull, as `name:tag` under the registry the snippet names."""
    pulled = set()
    for image in images_from_templates(_as_project_pipeline(snippet, _sources(major)), fips=fips):
        if image.under_prefix:
            pulled.add(f"{image.name}:{image.tag}")
        else:
            assert image.name.startswith(f"{REGISTRY}/"), image
            name = image.name.removeprefix(f"{REGISTRY}/")
            tag = image.tag
            pulled.add(f"{name}:{tag}")
    return pulled


def _push_set(major: int, *, fips: bool) -> list[tuple[str, str]]:
    return sorted({(i.name, i.tag) for i in _evaluated(major, fips=fips)})


@pytest.mark.parametrize("major", MAJORS)
def test_snippet_for_what_the_templates_want_makes_them_pull_exactly_that(major: int) -> None:
    pushed = _push_set(major, fips=False)
    snippet = render_snippet(REGISTRY, pushed, major)
    assert _pulled(snippet, major, fips=False) == {f"{n}:{t}" for n, t in pushed}


@pytest.mark.parametrize("major", MAJORS)
def test_fips_snippet_on_a_fips_instance_pulls_only_what_was_pushed(major: int) -> None:
    """The FIPS push is what the templates pull on a FIPS instance; the snippet's suffix and
    version variables must make that instance pull exactly those tags."""
    pushed = _push_set(major, fips=True)
    snippet = render_snippet(REGISTRY, pushed, major)
    assert _pulled(snippet, major, fips=True) == {f"{n}:{t}" for n, t in pushed}


@pytest.mark.parametrize("major", MAJORS)
def test_plain_snippet_on_a_fips_instance_is_what_the_warning_names(major: int) -> None:
    """Issue 17 item 8, through the evaluator: the -fips images a FIPS instance pulls although
    only plain tags were pushed are exactly the images the snippet's FIPS warning names."""
    pushed = _push_set(major, fips=False)
    snippet = render_snippet(REGISTRY, pushed, major)
    surprise = _pulled(snippet, major, fips=True) - {f"{n}:{t}" for n, t in pushed}
    assert all(split_fips(label.split(":")[1])[1] for label in surprise), surprise
    flat = " ".join(" ".join(line.lstrip(" #") for line in snippet.splitlines()).split())
    if not surprise:
        assert FIPS_INSTANCE_WARNING not in flat
        return
    assert FIPS_INSTANCE_WARNING in flat
    named = flat.split("Pushed as plain tags here: ", 1)[1].split(".", 1)[0]
    expected = sorted(label.removesuffix("-fips") for label in surprise)
    assert sorted(named.split(", ")) == expected


@pytest.mark.parametrize("major", MAJORS)
def test_snippet_for_the_catalogs_tags_makes_the_templates_pull_them(
    catalog: Catalog, major: int
) -> None:
    """Issue 17 item 3, through the evaluator: push the catalog's tag of every image the
    templates run (api-security 6 at 18, where the template copy asks for 5) and the version
    variables the snippet always sets make the jobs pull exactly those tags."""
    pushed = set()
    for image in _evaluated(major, fips=False):
        name = catalog.by_path(image.name)
        analyzer = catalog.get(name, major) if name else None
        assert analyzer is not None and analyzer.tag
        pushed.add((image.name, analyzer.tag))
    snippet = render_snippet(REGISTRY, sorted(pushed), major)
    assert _pulled(snippet, major, fips=False) == {f"{n}:{t}" for n, t in pushed}
    if major == 18:
        assert ("api-security", "6") in pushed
