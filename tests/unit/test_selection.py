"""Choose analyzers' rules, without a screen (airgap_tui/tui/selection.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airgap_tui.catalog.catalog import Catalog
from airgap_tui.catalog.load import load_catalog
from airgap_tui.tui.profiles import Profile
from airgap_tui.tui.selection import AnalyzerSelection, tag_sort_key
from airgap_tui.tui.state import WizardState


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _model(catalog: Catalog, **state: object) -> AnalyzerSelection:
    return AnalyzerSelection(catalog, WizardState(**state))  # type: ignore[arg-type]


def _fips_analyzer(catalog: Catalog, major: int) -> str:
    return next(a.name for a in catalog.analyzers(major) if a.fips_tag and a.tag)


def test_the_model_imports_no_textual() -> None:
    code = (
        "import sys, airgap_tui.tui.selection\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tags_come_from_the_catalog_then_fips_then_the_operator(catalog: Catalog) -> None:
    model = _model(catalog, gitlab_major=18)
    name = _fips_analyzer(catalog, 18)
    entry = catalog.get(name, 18)
    assert entry is not None
    assert model.tag(name) == entry.tag
    model.state.fips = True
    assert model.tag(name) == entry.fips_tag
    model.set_tag(name, " 9.1 ", valid=True)
    assert model.tag(name) == "9.1"
    model.set_tag(name, "bad tag", valid=False)  # invalid: back to the default
    assert model.tag(name) == entry.fips_tag
    model.set_tag(name, str(entry.fips_tag), valid=True)  # the default itself is not kept
    assert name not in model.state.tags


def test_a_removed_analyzer_is_never_ticked_and_groups_follow_the_catalog(catalog: Catalog) -> None:
    model = _model(catalog, gitlab_major=18)
    removed = next(a.name for a in catalog.analyzers(18) if a.removed)
    current = next(a.name for a in catalog.analyzers(18) if not a.removed)
    rows = {r.analyzer.name: r for _, group in model.groups({removed, current}) for r in group}
    assert rows[current].chosen and not rows[removed].chosen
    assert list(rows) == [a.name for a in catalog.analyzers(18)]


def test_missing_tags_and_the_selection_as_the_cli_takes_it(catalog: Catalog) -> None:
    untagged = [a.name for a in catalog.analyzers(19) if not a.tag and not a.removed]
    tagged = next(a for a in catalog.analyzers(19) if a.tag)
    model = _model(catalog, gitlab_major=19)
    if untagged:
        assert model.missing_tags([untagged[0], tagged.name]) == [untagged[0]]
        assert model.labels([untagged[0]], []) == [f"{untagged[0]}:?"]
        model.set_tag(untagged[0], "3", valid=True)
        assert model.missing_tags([untagged[0]]) == []
    assert model.selection([tagged.name], ["reg.example/x:1"]) == [
        f"{tagged.name}:{tagged.tag}",
        "reg.example/x:1",
    ]


def test_presets_add_to_the_selection_and_an_unknown_key_changes_nothing(
    catalog: Catalog,
) -> None:
    model = _model(catalog, gitlab_major=18)
    first = model.presets()[0][1]
    assert model.add_preset(0, {"custom:x"}) == {"custom:x", *first}
    assert model.add_preset(99, {"a"}) == {"a"}


def test_a_new_major_drops_the_typed_tags(catalog: Catalog) -> None:
    model = _model(catalog, gitlab_major=18, tags={"semgrep": "6.1"})
    assert model.change_major(18) is False
    assert model.state.tags == {"semgrep": "6.1"}
    assert model.change_major(17) is True
    assert model.state.tags == {}


def test_majors_fall_back_to_the_newest_when_the_state_names_an_unknown_one(
    catalog: Catalog,
) -> None:
    model = _model(catalog, gitlab_major=3)
    assert model.majors() == catalog.majors
    assert model.state.gitlab_major == catalog.majors[-1]


def test_a_profile_keeps_only_what_this_major_knows(catalog: Catalog) -> None:
    name = _fips_analyzer(catalog, 17)
    entry = catalog.get(name, 17)
    assert entry is not None
    profile = Profile(
        name="p",
        gitlab_major=17,
        analyzers={name: str(entry.fips_tag), "no-such-analyzer": "1"},
        custom_images=["reg.example/x:1"],
        platform="linux/arm64",
        fips=True,
    )
    model = _model(catalog, gitlab_major=18)
    choice = model.apply_profile(profile)
    assert model.state.gitlab_major == 17 and model.state.fips
    assert model.state.platform == "linux/arm64"
    assert choice.chosen == {name}
    assert choice.unknown == ["no-such-analyzer"]
    assert choice.customs == ["reg.example/x:1"]
    assert model.state.tags == {}  # the profile's tag is the FIPS default: nothing to keep


def test_tags_sort_naturally() -> None:
    assert sorted(["6.10", "6.9", "6", "latest"], key=tag_sort_key) == [
        "6",
        "6.9",
        "6.10",
        "latest",
    ]


def test_guesses_are_asked_once_per_major_and_source_and_only_where_tags_are_unknown(
    catalog: Catalog,
) -> None:
    model = _model(catalog, gitlab_major=18)
    assert model.to_guess() == []  # 18 is complete: a missing tag there is deliberate
    incomplete = next(m for m in catalog.majors if not catalog.is_complete(m))
    model.change_major(incomplete)
    wanted = model.to_guess()
    untagged = [a.name for a in catalog.analyzers(incomplete) if a.tag is None and not a.removed]
    assert wanted and {name for name, _ in wanted} <= set(untagged)
    assert model.to_guess() == []  # asked already
    model.state.source_prefix = "mirror.example/gitlab"
    assert model.to_guess() == wanted  # another source: ask again


def test_a_guess_is_taken_only_when_asked_and_never_over_a_typed_tag(catalog: Catalog) -> None:
    incomplete = next(m for m in catalog.majors if not catalog.is_complete(m))
    model = _model(catalog, gitlab_major=incomplete)
    first, second = [name for name, _ in model.to_guess()][:2]
    model.guesses = {first: "7", second: "8"}
    assert model.tag(first) is None and model.guess(first) == "7"
    assert model.missing_tags([first, second]) == [first, second]  # a proposal, not a tag
    model.set_tag(second, "9", valid=True)
    assert model.guess(second) is None
    assert model.take_guesses([first, second]) == [first]
    assert model.tag(first) == "7" and model.tag(second) == "9"
    assert model.missing_tags([first, second]) == []
    model.change_major(18)
    assert model.guesses == {}
