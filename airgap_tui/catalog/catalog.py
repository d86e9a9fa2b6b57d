"""Which GitLab analyzer images exist, per GitLab major, and which tag each major's templates want.

The facts live in `data/analyzers.yaml` (cited there) so they can be checked against the reference
without reading code; this module only loads, validates and answers questions about them. The
loader refuses a malformed entry by name rather than guessing, because a wrong tag only shows up
later as a failed scan on the offline side.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from airgap_tui.errors import CatalogError, UsageError
from airgap_tui.models import DEFAULT_SOURCE_PREFIX, ImageSpec
from airgap_tui.registry.reference import (
    looks_like_host,
    parse_reference,
    split_prefix,
    validate_tag,
)

CATALOG_FORMAT = 1


# Display order; the keys are what analyzers.yaml uses.
CATEGORY_LABELS: dict[str, str] = {
    "sast": "SAST",
    "secret-detection": "Secret detection",
    "dependency-scanning": "Dependency scanning",
    "container-scanning": "Container scanning",
    "iac": "IaC scanning",
    "dast": "DAST",
    "api-security": "API security",
    "license-scanning": "License scanning",
}


CATEGORIES: tuple[str, ...] = tuple(CATEGORY_LABELS)


STATUS_CURRENT = "current"


STATUS_DEPRECATED = "deprecated"


STATUS_REMOVED = "removed"


STATUSES = (STATUS_CURRENT, STATUS_DEPRECATED, STATUS_REMOVED)


PRESET_DEFAULT = "default"


PRESET_ALL_CURRENT = "all-current"


KIND_IMAGE = "image"


KIND_ARTIFACT = "artifact"  # an OCI artifact (e.g. Trivy's Java DB): carried, never run


KINDS = (KIND_IMAGE, KIND_ARTIFACT)


FIPS_SUFFIX = "-fips"


LIMITS_ALL = "all"


def split_fips(tag: str) -> tuple[str, bool]:
    """`6-fips` -> ("6", True): GitLab's templates add the suffix themselves, so the base tag is
    what a version variable may hold and the suffix goes into the suffix variable."""
    if tag.endswith(FIPS_SUFFIX) and len(tag) > len(FIPS_SUFFIX):
        return tag[: -len(FIPS_SUFFIX)], True
    return tag, False


@dataclass(frozen=True)
class TemplateTag:
    """Another tag of the same image that one named template of that major requests (say
    Dependency-Scanning.latest's `dependency-scanning:v0` beside the v2 template's `1`)."""

    tag: str
    template: str  # e.g. "Jobs/Dependency-Scanning.latest.gitlab-ci.yml"
    source: str  # where that is stated


@dataclass(frozen=True)
class Analyzer:
    """One analyzer image as GitLab `major` knows it.

    `tag` is None when the image is removed in that major, or when the reference gives no tag
    for it (then `needs_tag` is True and the operator must pass `name:tag`).
    """

    name: str
    category: str
    path: str  # relative to the source prefix and to SECURE_ANALYZERS_PREFIX
    tag: str | None
    status: str
    note: str
    default: bool  # the stock template of its category runs it without opt-in
    deprecated: bool
    removed: bool
    major: int = 0
    replaced_by: str | None = None
    prefix_based: bool = True  # False: the template ignores SECURE_ANALYZERS_PREFIX
    source: str = ""  # where the entry comes from (template, issue)
    tag_source: str = ""  # where this major's tag is stated (fixture, MR, issue)
    fips: bool = False  # a `<tag>-fips` variant exists and the templates can append it
    kind: str = KIND_IMAGE
    source_ref: str | None = None  # full repository it is pulled from, when not under the prefix
    enable: tuple[tuple[str, str], ...] = ()  # variables without which the job never runs
    also: tuple[TemplateTag, ...] = ()  # tags other templates of this major request
    fips_note: str = ""  # why this major has no FIPS variant although the image has one

    @property
    def needs_tag(self) -> bool:
        return self.tag is None and not self.removed

    @property
    def fips_tag(self) -> str | None:
        """The FIPS variant's tag for this major, when there is one."""
        return f"{self.tag}{FIPS_SUFFIX}" if self.tag and self.fips else None

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag some template of this major requests: `tag` first, then `also`."""
        found = [self.tag] if self.tag else []
        return (*found, *(other.tag for other in self.also if other.tag not in found))

    def template_for(self, tag: str) -> str | None:
        """The template that requests `tag` when it is one of `also` (None: the main tag)."""
        return next((other.template for other in self.also if other.tag == tag), None)

    @property
    def why_no_tag(self) -> str:
        """Why `tag` is None, in words (empty when there is a tag)."""
        if self.tag is not None:
            return ""
        return self.note or ("removed" if self.removed else "no tag known")

    @property
    def label(self) -> str:
        return f"{self.name}:{self.tag}" if self.tag else self.name


@dataclass(frozen=True)
class Limit:
    """Something a registry prefix cannot fix (a fixed host, a setting outside .gitlab-ci.yml)."""

    id: str
    applies_to: tuple[str, ...]  # catalog names; empty = every selection
    text: str


@dataclass(frozen=True)
class _Entry:
    name: str
    category: str
    path: str
    source: str
    replaced_by: str | None
    prefix_based: bool
    per_major: Mapping[int, Analyzer]
    fips: bool = False
    kind: str = KIND_IMAGE
    source_ref: str | None = None


@dataclass(frozen=True)
class _Major:
    complete: bool
    note: str
    reads: Mapping[str, str]  # variable -> evidence that this major's templates read it
    defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)  # what they set


class Catalog:
    """The analyzer catalog; build it with `load_catalog()` or `parse_catalog(text)`."""

    def __init__(
        self,
        entries: list[_Entry],
        majors: Mapping[int, _Major],
        limits: list[Limit] | None = None,
    ) -> None:
        self._entries = {entry.name: entry for entry in entries}
        self._by_path = {entry.path: entry for entry in entries}
        self._by_ref = {entry.source_ref: entry for entry in entries if entry.source_ref}
        self._majors = dict(sorted(majors.items()))
        self._limits = list(limits or [])

    # ---------------------------------------------------------------- listing
    @property
    def majors(self) -> list[int]:
        return list(self._majors)

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    @property
    def categories(self) -> list[str]:
        """Categories that have at least one image, in display order."""
        present = {entry.category for entry in self._entries.values()}
        return [category for category in CATEGORIES if category in present]

    def is_complete(self, major: int) -> bool:
        """False for a major the reference only covers in part (then most images need a tag)."""
        return self._major(major).complete

    def major_note(self, major: int) -> str:
        return self._major(major).note

    def reads(self, major: int) -> dict[str, str]:
        """Variables GitLab `major`'s templates read, each with its evidence (see analyzers.yaml).

        The snippet sets only these; anything else would be a setting nobody reads.
        """
        return dict(self._major(major).reads)

    def template_default(self, major: int, variable: str) -> str | None:
        """The value GitLab `major`'s template gives `variable` itself (None: not known).

        A setting equal to it changes nothing, so the snippet leaves it out.
        """
        return self._major(major).defaults.get(variable)

    def limits(self, names: Iterable[str] | None = None) -> list[Limit]:
        """What the prefix cannot fix for a selection (`None`: every limit)."""
        if names is None:
            return list(self._limits)
        chosen = set(names)
        return [
            limit
            for limit in self._limits
            if not limit.applies_to or chosen.intersection(limit.applies_to)
        ]

    def analyzers(self, major: int, *, include_removed: bool = True) -> list[Analyzer]:
        """Images listed for `major` in catalog order; removed ones stay so the UI can warn."""
        self._major(major)
        found = [e.per_major[major] for e in self._entries.values() if major in e.per_major]
        return [a for a in found if include_removed or not a.removed]

    def get(self, name: str, major: int) -> Analyzer | None:
        entry = self._entries.get(name)
        return entry.per_major.get(major) if entry else None

    def history(self, name: str) -> dict[int, Analyzer]:
        """Every major the catalog has a fact for, e.g. to say when an image was removed."""
        entry = self._entries.get(name)
        return dict(sorted(entry.per_major.items())) if entry else {}

    def get_path(self, name: str) -> str | None:
        """Where `name` is pushed under the registry prefix (what a bundle records)."""
        entry = self._entries.get(name)
        return entry.path if entry else None

    def category_of(self, name: str) -> str | None:
        entry = self._entries.get(name)
        return entry.category if entry else None

    def by_path(self, path: str) -> str | None:
        """Catalog name of the image pushed under `path` (what a bundle records), if any."""
        entry = self._by_path.get(path)
        return entry.name if entry else None

    def close_matches(self, name: str) -> list[str]:
        lowered = {n.lower(): n for n in self._entries}
        hits = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
        return [lowered[hit] for hit in hits]

    def presets(self, major: int) -> dict[str, list[str]]:
        """One-key selections for `major`; only images with a catalog tag, so each resolves.

        `default`: what the stock templates run without opt-in; one key per category: its current
        images plus deprecated ones still run by default; `all-current`: every current image.
        """
        usable = [
            a
            for a in self.analyzers(major, include_removed=False)
            if a.tag and a.kind == KIND_IMAGE
        ]
        presets: dict[str, list[str]] = {PRESET_DEFAULT: [a.name for a in usable if a.default]}
        for category in CATEGORIES:
            members = [
                a.name
                for a in usable
                if a.category == category and (a.status == STATUS_CURRENT or a.default)
            ]
            if members:
                presets[category] = members
        presets[PRESET_ALL_CURRENT] = [a.name for a in usable if a.status == STATUS_CURRENT]
        return presets

    # ---------------------------------------------------------------- resolving
    def resolve(
        self,
        spec: str,
        major: int,
        source_prefix: str = DEFAULT_SOURCE_PREFIX,
        *,
        fips: bool = False,
    ) -> ImageSpec:
        """Turn what the operator typed into the image to pull and the name to push.

        `semgrep` takes the tag GitLab `major` requests (its `-fips` variant with `fips=True`,
        where one exists); `semgrep:5` keeps the given tag even for a major where the image is
        removed (operators may run an older GitLab); `semgrep:6-fips` is accepted only for images
        with a FIPS variant. Anything starting with a registry host is a custom image, pushed
        under its repository path (or, under `source_prefix`, under its path relative to it, like
        a catalog image).
        """
        text = spec.strip()
        if not text:
            raise CatalogError("Analyzer", "the name is empty", "Give a catalog name or name:tag")
        first, slash, _ = text.partition("/")
        if slash and looks_like_host(first):
            return self._resolve_custom(text, source_prefix)
        name, colon, tag = text.partition(":")
        entry = self._entries.get(name)
        if entry is None:
            raise self._unknown(name)
        if colon:
            validate_tag(tag, ref=text)
            if split_fips(tag)[1] and not entry.fips:
                raise CatalogError(
                    f"Analyzer {text!r}",
                    f"{entry.name} has no FIPS variant that GitLab's templates use "
                    "(they never append -fips to it)",
                    f"Drop the -fips suffix: {entry.name}:{split_fips(tag)[0]}",
                )
            return self._catalog_spec(entry, tag, source_prefix)
        tag = self._catalog_tag(entry, major)
        analyzer = entry.per_major.get(major)
        if fips and analyzer is not None and analyzer.fips:
            tag += FIPS_SUFFIX
        return self._catalog_spec(entry, tag, source_prefix)

    def _catalog_tag(self, entry: _Entry, major: int) -> str:
        if major not in self._majors:
            known = ", ".join(str(m) for m in self._majors)
            raise CatalogError(
                f"GitLab {major}",
                f"the catalog only knows GitLab {known}",
                f"Pick one of those with --gitlab, or give the tag yourself as {entry.name}:<tag>",
            )
        analyzer = entry.per_major.get(major)
        what = f"Analyzer {entry.name!r} for GitLab {major}"
        explicit = f"Give the tag explicitly as {entry.name}:<tag>"
        if analyzer is None:
            if all(m > major for m in entry.per_major):
                cause = f"it first appears in GitLab {min(entry.per_major)}"
            else:
                cause = f"the catalog has no GitLab {major} tag for it"
                if not self._majors[major].complete:
                    cause += f" (its GitLab {major} data is partial)"
            raise CatalogError(what, cause, explicit)
        if analyzer.removed:
            step = f"give an explicit tag ({entry.name}:<tag>) if your GitLab is older"
            if analyzer.replaced_by:
                step = f"Use {analyzer.replaced_by} instead, or {step}"
            raise CatalogError(what, f"it is removed: {analyzer.note}", _sentence_case(step))
        if analyzer.tag is None:
            cause = f"the catalog has no tag for it ({analyzer.note})"
            if not self._majors[major].complete:
                cause += f"; its GitLab {major} data is partial"
            raise CatalogError(what, cause, explicit)
        return analyzer.tag

    def _catalog_spec(self, entry: _Entry, tag: str, source_prefix: str) -> ImageSpec:
        if entry.source_ref:  # not published under GitLab's prefix (e.g. ghcr.io/aquasecurity)
            source = parse_reference(f"{entry.source_ref}:{tag}")
        else:
            source = parse_reference(f"{_normalise_prefix(source_prefix)}/{entry.path}:{tag}")
        return ImageSpec(name=entry.path, tag=tag, source=source, analyzer=entry.name)

    def _resolve_custom(self, text: str, source_prefix: str) -> ImageSpec:
        last = text.rsplit("/", 1)[1].split("@", 1)[0]
        if ":" not in last:
            raise CatalogError(
                f"Custom image {text!r}",
                "it has no tag (an untagged image would be pushed as 'latest' and drift)",
                "Add the tag, e.g. registry.example.com/team/tool:1.2",
            )
        ref = parse_reference(text)
        name = ref.repository
        prefix = _normalise_prefix(source_prefix)
        under = f"{ref.registry}/{ref.repository}"
        known = self._by_ref.get(under)
        if known is not None and ref.tag and not ref.digest:
            return self._catalog_spec(known, ref.tag, source_prefix)
        if under.startswith(prefix + "/"):
            name = under[len(prefix) + 1 :]
        return ImageSpec(name=name, tag=ref.tag, source=ref, analyzer=self.by_path(name))

    def _unknown(self, name: str) -> CatalogError:
        close = self.close_matches(name)
        cause = "it is not in the catalog"
        if close:
            cause += " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
        return CatalogError(
            f"Analyzer {name!r}",
            cause,
            "Run `airgap-tui catalog` for the names; a custom image needs its registry host, "
            "e.g. registry.example.com/team/tool:1.2",
        )

    def _major(self, major: int) -> _Major:
        info = self._majors.get(major)
        if info is None:
            known = ", ".join(str(m) for m in self._majors)
            raise CatalogError(
                f"GitLab {major}", f"the catalog only knows GitLab {known}", "Pick one of those"
            )
        return info


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _normalise_prefix(prefix: str) -> str:
    host, path = split_prefix(prefix)
    if not looks_like_host(host):
        raise UsageError(
            f"Source prefix {prefix!r}",
            f"{host!r} is not a registry host (it needs a '.', a ':port' or 'localhost')",
            f"Give host[:port][/path], e.g. {DEFAULT_SOURCE_PREFIX}",
        )
    return f"{host}/{path}" if path else host
