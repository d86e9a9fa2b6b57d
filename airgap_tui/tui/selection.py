"""The analyzer selection behind Choose analyzers, as plain Python: the catalog rows for a
GitLab major, tags (the catalog's, its -fips variant, or the operator's), presets, custom
images, profiles, and the selection handed to the domain.

No Textual here, so these rules are tested without a screen; the screen only draws them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airgap_tui.catalog.catalog import CATEGORY_LABELS

if TYPE_CHECKING:
    from airgap_tui.catalog.catalog import Analyzer, Catalog
    from airgap_tui.tui.profiles import Profile
    from airgap_tui.tui.state import WizardState

PRESET_LIMIT = 10


def tag_sort_key(tag: str) -> list[tuple[int, int | str]]:
    """Natural order, so 6.10 sorts after 6.9."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", tag) if p]


@dataclass(frozen=True)
class Row:
    """One analyzer's line in the list: ticked or not, with the tag it would be bundled at."""

    analyzer: Analyzer
    tag: str | None
    chosen: bool


@dataclass(frozen=True)
class ProfileChoice:
    """What a profile selects here: catalog names, custom images, and the names this GitLab
    major's catalog does not know (left out, and said so)."""

    chosen: set[str]
    customs: list[str]
    unknown: list[str] = field(default_factory=list)


class AnalyzerSelection:
    """The state of Choose analyzers (kept in the wizard's state) and the rules on it."""

    def __init__(self, catalog: Catalog | None, state: WizardState) -> None:
        self.catalog = catalog
        self.state = state
        # For a major the catalog has no tag for: the newest major tag upstream, per analyzer.
        # A proposal only: the operator takes them (take_guesses), never silently.
        self.guesses: dict[str, str] = {}
        self._asked: set[tuple[int, str]] = set()

    def to_guess(self) -> list[tuple[str, str]]:
        """(name, path) of this major's current images with no known tag, the first time it is
        asked for this major and source (then empty): what to ask upstream about. Only for a
        major the catalog covers in part (19 today): elsewhere a missing tag is deliberate."""
        key = (self.major, self.state.source_prefix)
        if key in self._asked or self.catalog is None or self.catalog.is_complete(self.major):
            return []
        self._asked.add(key)
        return [
            (a.name, a.path)
            for a in self.analyzers()
            if a.tag is None and not a.removed and a.source_ref is None
        ]

    def guess(self, name: str) -> str | None:
        """The proposal for `name`, when it has no tag of its own or typed by the operator."""
        return self.guesses.get(name) if self.tag(name) is None else None

    def take_guesses(self, names: list[str]) -> list[str]:
        """Type the proposed tag for each of `names` that has one; returns those taken."""
        taken = []
        for name in names:
            proposal = self.guess(name)
            if proposal is not None:
                self.state.tags[name] = proposal
                taken.append(name)
        return taken

    @property
    def major(self) -> int:
        return self.state.gitlab_major

    def majors(self) -> list[int]:
        """The majors to offer; a state major the catalog lacks falls back to the newest."""
        majors = self.catalog.majors if self.catalog else [self.state.gitlab_major]
        if self.state.gitlab_major not in majors:
            self.state.gitlab_major = majors[-1]
        return majors

    def analyzers(self) -> list[Analyzer]:
        return self.catalog.analyzers(self.major) if self.catalog else []

    def analyzer(self, name: str | None) -> Analyzer | None:
        if not name or self.catalog is None:
            return None
        return self.catalog.get(name, self.major)

    def default_tag(self, analyzer: Analyzer | None) -> str | None:
        """The catalog's tag, or its -fips variant on a FIPS instance where one exists."""
        if analyzer is None:
            return None
        return (analyzer.fips_tag if self.state.fips else None) or analyzer.tag

    def tag(self, name: str) -> str | None:
        """The tag `name` is bundled at: the operator's, else the default."""
        return self.state.tag_for(name, self.default_tag(self.analyzer(name)))

    def set_tag(self, name: str, value: str, *, valid: bool) -> None:
        """The operator typed a tag: an empty, invalid or default one means the default."""
        analyzer = self.analyzer(name)
        if analyzer is None:
            return
        value = value.strip()
        if not value or not valid or value == self.default_tag(analyzer):
            self.state.tags.pop(name, None)
        else:
            self.state.tags[name] = value

    def presets(self) -> list[tuple[str, list[str]]]:
        if self.catalog is None:
            return []
        return list(self.catalog.presets(self.major).items())[:PRESET_LIMIT]

    def add_preset(self, index: int, chosen: set[str]) -> set[str]:
        presets = self.presets()
        if index >= len(presets):
            return chosen
        return chosen | set(presets[index][1])

    def groups(self, chosen: set[str]) -> list[tuple[str, list[Row]]]:
        """Catalog rows by category, in catalog order; a removed analyzer is never ticked."""
        by_category: dict[str, list[Row]] = {}
        for analyzer in self.analyzers():
            row = Row(
                analyzer, self.tag(analyzer.name), analyzer.name in chosen and not analyzer.removed
            )
            by_category.setdefault(analyzer.category, []).append(row)
        return [(CATEGORY_LABELS.get(c, c), rows) for c, rows in by_category.items()]

    def missing_tags(self, names: list[str]) -> list[str]:
        """Chosen analyzers with no known tag for this major: the operator must type one."""
        return [name for name in names if self.tag(name) is None]

    def labels(self, names: list[str], customs: list[str]) -> list[str]:
        return [f"{name}:{self.tag(name) or '?'}" for name in names] + list(customs)

    def selection(self, names: list[str], customs: list[str]) -> list[str]:
        """What is ticked, as the CLI would be given it: `name:tag`, then custom references."""
        return [f"{name}:{self.tag(name)}" for name in names] + list(customs)

    def change_major(self, major: int) -> bool:
        """A new major drops the typed tags (they were for the old one); False if unchanged."""
        if major == self.state.gitlab_major:
            return False
        self.state.gitlab_major = major
        self.state.tags.clear()
        self.guesses = {}
        return True

    def apply_profile(self, profile: Profile) -> ProfileChoice:
        """Take a saved profile's major, FIPS switch, platform, tool switch and tags; return
        its choice."""
        if profile.platform:
            self.state.platform = profile.platform
        if self.catalog and profile.gitlab_major in self.catalog.majors:
            self.state.gitlab_major = profile.gitlab_major
        self.state.fips = profile.fips
        self.state.tool_wanted = profile.tool
        known = {a.name: a for a in self.analyzers()}
        self.state.tags = {
            name: tag
            for name, tag in profile.analyzers.items()
            if name in known and tag != self.default_tag(known[name])
        }
        return ProfileChoice(
            chosen={n for n in profile.analyzers if n in known},
            customs=list(profile.custom_images),
            unknown=[n for n in profile.analyzers if n not in known],
        )
