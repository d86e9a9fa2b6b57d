"""Reading the packaged catalog (data/analyzers.yaml) and checking every fact in it: a damaged
file is refused with the entry and field named, never half-used.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from importlib import resources
from typing import Any

import yaml

from airgap_tui.catalog.catalog import (
    CATALOG_FORMAT,
    CATEGORIES,
    KIND_IMAGE,
    KINDS,
    LIMITS_ALL,
    STATUS_DEPRECATED,
    STATUS_REMOVED,
    STATUSES,
    Analyzer,
    Catalog,
    Limit,
    TemplateTag,
    _Entry,
    _Major,
)
from airgap_tui.errors import CatalogError, UsageError
from airgap_tui.registry.reference import (
    looks_like_host,
    parse_reference,
    validate_repository_path,
    validate_tag,
)

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


# safe_load's loader, in C where PyYAML was built with libyaml (10x faster: verify and import
# read the catalog for every image's age warning); pure Python in airgap-tui.pyz.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")


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
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, libyaml's
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
            if not isinstance(variable, str) or not _VARIABLE.fullmatch(variable):
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

    entry = _parse_entry_fields(name, raw, fail)
    raw_majors = raw.get("majors")
    if not isinstance(raw_majors, dict) or not raw_majors:
        raise fail("majors must be a non-empty mapping")
    per_major: dict[int, Analyzer] = {}
    for major, fact in raw_majors.items():
        if not isinstance(major, int) or isinstance(major, bool) or major not in majors:
            raise fail(f"major {major!r} is not one of the catalog's majors")
        per_major[major] = _analyzer_at(entry, major, fact, fail)
    return replace(entry, per_major=per_major)


def _parse_entry_fields(
    name: str, raw: dict[str, object], fail: Callable[[str], CatalogError]
) -> _Entry:
    """Everything of an entry but its per-major facts."""
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    category = raw.get("category")
    if not isinstance(category, str) or category not in CATEGORIES:
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
    if replaced_by is not None and not isinstance(replaced_by, str):
        raise fail("replaced_by must be a catalog name")
    if not isinstance(prefix_based, bool) or not isinstance(fips, bool):
        raise fail("prefix_based and fips must be true or false")
    if not isinstance(kind, str) or kind not in KINDS:
        raise fail(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    return _Entry(
        name=name,
        category=category,
        path=path,
        source=source.strip(),
        replaced_by=replaced_by,
        prefix_based=prefix_based,
        per_major={},
        fips=fips,
        kind=kind,
        source_ref=_parse_source_ref(raw.get("source_ref"), fail),
    )


def _parse_source_ref(source_ref: object, fail: Callable[[str], CatalogError]) -> str | None:
    if source_ref is None:
        return None
    if not isinstance(source_ref, str):
        raise fail("source_ref must be host/repository")
    try:
        ref = parse_reference(f"{source_ref}:x")
    except UsageError as exc:
        raise fail(f"source_ref: {exc.cause}") from exc
    if f"{ref.registry}/{ref.repository}" != source_ref or ref.registry == "docker.io":
        raise fail("source_ref must be a registry host and repository, without a tag")
    return source_ref


def _analyzer_at(
    entry: _Entry, major: int, fact: object, fail: Callable[[str], CatalogError]
) -> Analyzer:
    """The entry as GitLab `major` asks for it."""
    tag, status, note, default = _parse_major_fact(major, fact, fail)
    assert isinstance(fact, dict)  # _parse_major_fact refused anything else
    tag_source, enable = _parse_major_extras(major, fact, tag, fail)
    also = _parse_also(major, fact, tag, fail)
    major_fips, fips_note = _parse_major_fips(major, fact, entry.fips, fail)
    return Analyzer(
        name=entry.name,
        category=entry.category,
        path=entry.path,
        tag=tag,
        status=status,
        note=note,
        default=default,
        deprecated=status == STATUS_DEPRECATED,
        removed=status == STATUS_REMOVED,
        major=major,
        replaced_by=entry.replaced_by,
        prefix_based=entry.prefix_based,
        source=entry.source,
        tag_source=tag_source,
        fips=major_fips,
        kind=entry.kind,
        source_ref=entry.source_ref,
        enable=enable,
        also=also,
        fips_note=fips_note,
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
        if not isinstance(variable, str) or not _VARIABLE.fullmatch(variable):
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
        if not _TEMPLATE_PATH.fullmatch(template):
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
