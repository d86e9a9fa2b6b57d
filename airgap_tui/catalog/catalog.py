"""Which GitLab analyzer images exist, per GitLab major, and which tag each major's templates want.

The facts live in `data/analyzers.yaml` (cited there) so they can be checked against the reference
without reading code; this module only loads, validates and answers questions about them. The
loader refuses a malformed entry by name rather than guessing, because a wrong tag only shows up
later as a failed scan on the offline side.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

import yaml

from airgap_tui.errors import CatalogError, UsageError
from airgap_tui.models import DEFAULT_SOURCE_PREFIX, ImageSpec
from airgap_tui.registry.reference import (
    looks_like_host,
    parse_reference,
    split_prefix,
    validate_repository_path,
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

_FIX = "The packaged catalog is damaged: reinstall airgap-tui or report this as a bug"
_ENTRY_KEYS = {
    "name",
    "category",
    "path",
    "source",
    "majors",
    "replaced_by",
    "prefix_based",
    "fips",
    "kind",
    "source_ref",
}
_MAJOR_KEYS = {"tag", "status", "default", "note", "source", "enable", "fips", "also"}
_ALSO_KEYS = {"tag", "template", "source"}
_TEMPLATE_PATH = re.compile(r"^(Jobs|Security)/[A-Za-z0-9.-]+\.gitlab-ci\.yml$")
_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")


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


# -------------------------------------------------------------------- loading and validation
@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The catalog shipped with the package (parsed once per process)."""
    resource = resources.files("airgap_tui.catalog").joinpath("data", "analyzers.yaml")
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            "Catalog data/analyzers.yaml", f"it cannot be read: {exc}", _FIX
        ) from exc
    return parse_catalog(text, origin="data/analyzers.yaml")


def parse_catalog(text: str, origin: str = "analyzers.yaml") -> Catalog:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"Catalog {origin}", f"it is not valid YAML ({exc})", _FIX) from exc
    if not isinstance(data, dict):
        raise CatalogError(f"Catalog {origin}", "it is not a mapping", _FIX)
    if data.get("format") != CATALOG_FORMAT:
        raise CatalogError(
            f"Catalog {origin}", f"format is {data.get('format')!r}, not {CATALOG_FORMAT}", _FIX
        )
    majors = _parse_majors(data.get("majors"), origin)
    raw_entries = data.get("analyzers")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise CatalogError(f"Catalog {origin}", "'analyzers' is not a non-empty list", _FIX)
    entries: list[_Entry] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries):
        entry = _parse_entry(raw, index, origin, majors)
        for key in (entry.name, entry.path):
            if key in seen:
                raise CatalogError(_where(entry.name, origin), f"{key!r} appears twice", _FIX)
        seen.update({entry.name, entry.path})
        entries.append(entry)
    names = {entry.name for entry in entries}
    for entry in entries:
        if entry.replaced_by is not None and entry.replaced_by not in names:
            raise CatalogError(
                _where(entry.name, origin),
                f"replaced_by names {entry.replaced_by!r}, which is not in the catalog",
                _FIX,
            )
    limits = _parse_limits(data.get("limits", []), origin, names)
    return Catalog(entries, majors, limits)


def _where(name: str, origin: str) -> str:
    return f"Catalog entry {name!r} in {origin}"


def _parse_majors(raw: object, origin: str) -> dict[int, _Major]:
    if not isinstance(raw, dict) or not raw:
        raise CatalogError(f"Catalog {origin}", "'majors' is not a non-empty mapping", _FIX)
    majors: dict[int, _Major] = {}
    for key, value in raw.items():
        if not isinstance(key, int) or isinstance(key, bool) or not isinstance(value, dict):
            raise CatalogError(f"Catalog {origin}", f"major {key!r} is malformed", _FIX)
        complete = value.get("complete", True)
        note = value.get("note", "")
        reads = value.get("reads", {})
        defaults = value.get("defaults", {})
        if (
            not isinstance(complete, bool)
            or not isinstance(note, str)
            or not isinstance(reads, dict)
            or not isinstance(defaults, dict)
            or set(value) - {"complete", "note", "reads", "defaults"}
        ):
            raise CatalogError(f"Catalog {origin}", f"major {key!r} is malformed", _FIX)
        for variable, evidence in reads.items():
            if not isinstance(variable, str) or not _VARIABLE.match(variable):
                raise CatalogError(
                    f"Catalog {origin}", f"major {key}: {variable!r} is not a variable name", _FIX
                )
            if not isinstance(evidence, str) or not evidence.strip():
                raise CatalogError(
                    f"Catalog {origin}", f"major {key}: {variable} has no evidence", _FIX
                )
        for variable, default in defaults.items():
            if variable not in reads or not isinstance(default, str):
                raise CatalogError(
                    f"Catalog {origin}",
                    f"major {key}: default for {variable!r} must be a string, for a variable "
                    "the major reads (its evidence is the reads entry)",
                    _FIX,
                )
        majors[key] = _Major(
            complete=complete,
            note=note.strip(),
            reads={var: " ".join(ev.split()) for var, ev in reads.items()},
            defaults=dict(defaults),
        )
    return majors


def _parse_limits(raw: object, origin: str, names: set[str]) -> list[Limit]:
    if not isinstance(raw, list):
        raise CatalogError(f"Catalog {origin}", "'limits' is not a list", _FIX)
    limits: list[Limit] = []
    for index, item in enumerate(raw):
        where = f"Catalog {origin}, limit #{index + 1}"
        if not isinstance(item, dict) or set(item) != {"id", "applies_to", "text"}:
            raise CatalogError(where, "it needs exactly id, applies_to and text", _FIX)
        ident, applies, text = item["id"], item["applies_to"], item["text"]
        if not isinstance(ident, str) or not isinstance(text, str) or not text.strip():
            raise CatalogError(where, "id and text must be non-empty strings", _FIX)
        if applies == LIMITS_ALL:
            targets: tuple[str, ...] = ()
        elif isinstance(applies, list) and applies and all(n in names for n in applies):
            targets = tuple(applies)
        else:
            raise CatalogError(where, f"applies_to must be {LIMITS_ALL!r} or catalog names", _FIX)
        limits.append(Limit(id=ident, applies_to=targets, text=" ".join(text.split())))
    return limits


def _parse_entry(raw: object, index: int, origin: str, majors: Mapping[int, _Major]) -> _Entry:
    if not isinstance(raw, dict):
        raise CatalogError(_where(f"#{index + 1}", origin), "it is not a mapping", _FIX)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogError(_where(f"#{index + 1}", origin), "it has no name", _FIX)
    where = _where(name, origin)

    def fail(cause: str) -> CatalogError:
        return CatalogError(where, cause, _FIX)

    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    category = raw.get("category")
    if category not in CATEGORIES:
        raise fail(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    path, source = raw.get("path"), raw.get("source")
    if not isinstance(path, str) or not isinstance(source, str) or not source.strip():
        raise fail("path and source must be non-empty strings")
    try:
        validate_repository_path(name, what="Name")
        validate_repository_path(path, what="Path")
    except UsageError as exc:
        raise fail(exc.cause) from exc
    if ":" in name or ("/" in name and looks_like_host(name.split("/", 1)[0])):
        raise fail("the name would be read as a custom image reference")
    replaced_by = raw.get("replaced_by")
    prefix_based = raw.get("prefix_based", True)
    fips = raw.get("fips", False)
    kind = raw.get("kind", KIND_IMAGE)
    source_ref = raw.get("source_ref")
    if replaced_by is not None and not isinstance(replaced_by, str):
        raise fail("replaced_by must be a catalog name")
    if not isinstance(prefix_based, bool) or not isinstance(fips, bool):
        raise fail("prefix_based and fips must be true or false")
    if kind not in KINDS:
        raise fail(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if source_ref is not None:
        if not isinstance(source_ref, str):
            raise fail("source_ref must be host/repository")
        try:
            ref = parse_reference(f"{source_ref}:x")
        except UsageError as exc:
            raise fail(f"source_ref: {exc.cause}") from exc
        if f"{ref.registry}/{ref.repository}" != source_ref or ref.registry == "docker.io":
            raise fail("source_ref must be a registry host and repository, without a tag")
    raw_majors = raw.get("majors")
    if not isinstance(raw_majors, dict) or not raw_majors:
        raise fail("majors must be a non-empty mapping")
    per_major: dict[int, Analyzer] = {}
    for major, fact in raw_majors.items():
        if not isinstance(major, int) or isinstance(major, bool) or major not in majors:
            raise fail(f"major {major!r} is not one of the catalog's majors")
        tag, status, note, default = _parse_major_fact(major, fact, fail)
        tag_source, enable = _parse_major_extras(major, fact, tag, fail)
        also = _parse_also(major, fact, tag, fail)
        major_fips, fips_note = _parse_major_fips(major, fact, fips, fail)
        per_major[major] = Analyzer(
            name=name,
            category=category,
            path=path,
            tag=tag,
            status=status,
            note=note,
            default=default,
            deprecated=status == STATUS_DEPRECATED,
            removed=status == STATUS_REMOVED,
            major=major,
            replaced_by=replaced_by,
            prefix_based=prefix_based,
            source=source.strip(),
            tag_source=tag_source,
            fips=major_fips,
            kind=kind,
            source_ref=source_ref,
            enable=enable,
            also=also,
            fips_note=fips_note,
        )
    return _Entry(
        name=name,
        category=category,
        path=path,
        source=source.strip(),
        replaced_by=replaced_by,
        prefix_based=prefix_based,
        per_major=per_major,
        fips=fips,
        kind=kind,
        source_ref=source_ref,
    )


def _parse_major_extras(
    major: int, fact: dict[str, object], tag: str | None, fail: Callable[[str], CatalogError]
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(tag source, opt-in variables): every tag names where it is stated, never guessed."""
    source = fact.get("source", "")
    if not isinstance(source, str):
        raise fail(f"GitLab {major}: source must be a string")
    if tag is not None and not source.strip():
        raise fail(f"GitLab {major}: tag {tag!r} needs a source (template fixture, MR or issue)")
    enable = fact.get("enable", {})
    if not isinstance(enable, dict):
        raise fail(f"GitLab {major}: enable must map variables to values")
    pairs: list[tuple[str, str]] = []
    for variable, value in enable.items():
        if not isinstance(variable, str) or not _VARIABLE.match(variable):
            raise fail(f"GitLab {major}: enable key {variable!r} is not a variable name")
        if not isinstance(value, str):
            raise fail(f"GitLab {major}: enable value for {variable} must be a quoted string")
        pairs.append((variable, value))
    return " ".join(source.split()), tuple(pairs)


def _parse_also(
    major: int, fact: dict[str, object], tag: str | None, fail: Callable[[str], CatalogError]
) -> tuple[TemplateTag, ...]:
    """Tags other templates of the same major request, each with its template and source."""
    raw = fact.get("also", [])
    if not isinstance(raw, list):
        raise fail(f"GitLab {major}: also must be a list of {{tag, template, source}}")
    found: list[TemplateTag] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != _ALSO_KEYS:
            raise fail(f"GitLab {major}: each also entry needs exactly tag, template and source")
        other, template, source = item["tag"], item["template"], item["source"]
        if not all(isinstance(v, str) and v.strip() for v in (other, template, source)):
            raise fail(f"GitLab {major}: also entries are non-empty strings")
        try:
            validate_tag(other)
        except UsageError as exc:
            raise fail(f"GitLab {major}: also: {exc.cause}") from exc
        if not _TEMPLATE_PATH.match(template):
            raise fail(f"GitLab {major}: also: {template!r} is not a Jobs/ or Security/ template")
        if other == tag or other in (t.tag for t in found):
            raise fail(f"GitLab {major}: also repeats tag {other!r}")
        found.append(TemplateTag(tag=other, template=template, source=" ".join(source.split())))
    return tuple(found)


def _parse_major_fips(
    major: int, fact: dict[str, object], entry_fips: bool, fail: Callable[[str], CatalogError]
) -> tuple[bool, str]:
    """`fips: false` on one major: no template of that major can request the variant."""
    if "fips" not in fact:
        return entry_fips, ""
    if fact["fips"] is not False or not entry_fips:
        raise fail(f"GitLab {major}: fips may only be false, on an entry with fips: true")
    note = fact.get("note", "")
    if not isinstance(note, str) or "fips" not in note.lower():
        raise fail(f"GitLab {major}: fips: false needs a note saying why (naming FIPS)")
    return False, " ".join(note.split())


def _parse_major_fact(
    major: int, fact: object, fail: Callable[[str], CatalogError]
) -> tuple[str | None, str, str, bool]:
    """(tag, status, note, default) for one major of one entry."""
    if not isinstance(fact, dict):
        raise fail(f"GitLab {major}: the entry is not a mapping")
    unknown = set(fact) - _MAJOR_KEYS
    if unknown:
        raise fail(f"GitLab {major}: unknown keys {sorted(unknown)}")
    status = fact.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise fail(f"GitLab {major}: status {status!r} is not one of {', '.join(STATUSES)}")
    note = fact.get("note", "")
    if not isinstance(note, str):
        raise fail(f"GitLab {major}: note must be a string")
    note = note.strip()
    if status == STATUS_REMOVED:
        if fact.get("tag") is not None or fact.get("default", False) or fact.get("enable"):
            raise fail(f"GitLab {major}: a removed image has no tag, opt-in or default")
        if not note:
            raise fail(f"GitLab {major}: a removed image needs a note saying since when")
        return None, status, note, False
    if "tag" not in fact or "default" not in fact:
        raise fail(f"GitLab {major}: tag (or null) and default are required")
    tag, default = fact["tag"], fact["default"]
    if tag is not None and not isinstance(tag, str):
        raise fail(f"GitLab {major}: tag {tag!r} must be a quoted string")
    if isinstance(tag, str):
        try:
            validate_tag(tag)
        except UsageError as exc:
            raise fail(f"GitLab {major}: {exc.cause}") from exc
    if not isinstance(default, bool):
        raise fail(f"GitLab {major}: default must be true or false")
    if tag is None and not note:
        raise fail(f"GitLab {major}: a null tag needs a note saying why")
    return tag, status, note, default
