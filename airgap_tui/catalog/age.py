"""How old an image is, and what that means for the scans it runs.

An image's config records when it was built (`created`). For the container- and
dependency-scanning images GitLab rebuilds daily, the build date is the date of the
vulnerability data inside: a scan with a six-week-old image reports six-week-old advisories.
The connected host reads the date while resolving (the config is fetched anyway) and
bundle.yaml records it; the offline host shows the age on the day of the import.

Dates travel as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds). An image that records no date,
or an obviously fake one (reproducible builds often say 1970), has an unknown age.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airgap_tui.errors import UsageError

DEFAULT_MAX_AGE_DAYS = 30
BUILT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
BUILT_PATTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
EARLIEST_REAL_BUILD = datetime(2000, 1, 1, tzinfo=UTC)  # before: a placeholder, not a date
_MAX_CREATED_CHARS = 64
UNKNOWN = "unknown"

# GitLab rebuilds these images daily with the vulnerability data baked in (catalog category).
VULNERABILITY_DATA_CATEGORIES = frozenset({"container-scanning", "dependency-scanning"})
VULNERABILITY_DATA = "container-scanning"  # what category_of() says for one of them
# The catalog's analyzers in those categories, by name (what bundle.yaml records). Kept here so
# that verify and import word their warnings without parsing the whole catalog (70 ms in
# airgap-tui.pyz, whose YAML parser is pure Python); tests/unit/test_image_age.py checks this
# set against data/analyzers.yaml.
VULNERABILITY_DATA_ANALYZERS = frozenset(
    {
        "bundler-audit",
        "container-scanning",
        "container-scanning/grype",
        "container-scanning/trivy",
        "dependency-scanning",
        "ds-resolution-gradle",
        "ds-resolution-maven",
        "ds-resolution-python",
        "gemnasium",
        "gemnasium-maven",
        "gemnasium-python",
        "klar",
        "retire.js",
        "trivy-java-db",
    }
)


def config_created(config: bytes | dict[str, Any]) -> str | None:
    """The build time an image config records, as BUILT_FORMAT; None when it has none."""
    if isinstance(config, bytes):
        try:
            config = json.loads(config)
        except ValueError:
            return None
    if not isinstance(config, dict):
        return None
    return normalise(config.get("created"))


def normalise(value: object) -> str | None:
    """An RFC 3339 time (any offset, nanoseconds allowed) as BUILT_FORMAT in UTC, or None."""
    if not isinstance(value, str) or not value or len(value) > _MAX_CREATED_CHARS:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when < EARLIEST_REAL_BUILD:
        return None
    return when.strftime(BUILT_FORMAT)


def newest(dates: Iterable[str | None]) -> str | None:
    """For an index: the newest of its platforms' dates (BUILT_FORMAT sorts as time)."""
    known = [d for d in dates if d]
    return max(known) if known else None


def parse_built(built: str) -> datetime:
    """BUILT_FORMAT read without strptime (its first call imports _strptime and the locale)."""
    if not BUILT_PATTERN.match(built):
        raise ValueError(f"{built!r} is not {BUILT_FORMAT}")
    return datetime.fromisoformat(built[:-1]).replace(tzinfo=UTC)


def age_days(built: str | None, now: datetime) -> int | None:
    """Whole days from the build to `now` (never negative: a clock behind says 0)."""
    if not built:
        return None
    return max(0, (now - parse_built(built)).days)


def day(built: str | None) -> str:
    """The build date alone (`2026-11-20`), or "unknown"."""
    return built[:10] if built else UNKNOWN


def age_text(days: int | None) -> str:
    """`today`, `1 day`, `15 days`, or "unknown"."""
    if days is None:
        return UNKNOWN
    if days == 0:
        return "today"
    return "1 day" if days == 1 else f"{days} days"


def describe(built: str | None, now: datetime) -> str:
    """`2026-11-20 (15 days old)`, `2026-12-05 (built today)`, or "unknown"."""
    days = age_days(built, now)
    if built is None or days is None:
        return UNKNOWN
    return f"{day(built)} ({'built today' if days == 0 else age_text(days) + ' old'})"


def carries_vulnerability_data(category: str | None) -> bool:
    return category in VULNERABILITY_DATA_CATEGORIES


@dataclass(frozen=True)
class ImageAge:
    """One image's build date and its age on a given day, for JSON and the receipt."""

    built: str | None
    age_days: int | None
    vulnerability_data: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"built": self.built, "age_days": self.age_days}


def image_age(built: str | None, now: datetime, category: str | None = None) -> ImageAge:
    return ImageAge(built, age_days(built, now), carries_vulnerability_data(category))


def age_warning(
    label: str,
    built: str | None,
    now: datetime,
    max_age: int,
    category: str | None = None,
) -> str | None:
    """A sentence when `label` is older than `max_age` days (0: never); None otherwise."""
    days = age_days(built, now)
    if max_age <= 0 or days is None or days <= max_age:
        return None
    when = f"{label} was built {age_text(days)} ago ({day(built)})"
    if carries_vulnerability_data(category):
        return (
            f"{when}: GitLab rebuilds it daily, so its vulnerability data is {age_text(days)} "
            "old and scans miss every advisory since. Export a fresh copy on the connected "
            f"host (this warning: --max-age {max_age})"
        )
    return (
        f"{when}, more than --max-age {max_age} days: a newer build of this tag may exist "
        "upstream. Export again on the connected host to carry it"
    )


def category_of(analyzer: str | None) -> str | None:
    """The age category of an analyzer: VULNERABILITY_DATA for one GitLab rebuilds daily, else
    None (a custom image, an unknown name, or any other analyzer)."""
    return VULNERABILITY_DATA if analyzer in VULNERABILITY_DATA_ANALYZERS else None


def age_warnings(
    images: Iterable[tuple[str, str | None, str | None]], now: datetime, max_age: int
) -> list[str]:
    """One sentence per image older than `max_age` days; `images` are (label, built,
    analyzer) triples."""
    if max_age <= 0:
        return []
    found = (
        age_warning(label, built, now, max_age, category_of(analyzer))
        for label, built, analyzer in images
    )
    return [warning for warning in found if warning]


def age_summary(
    images: Iterable[tuple[str, str | None, str | None]], now: datetime, max_age: int
) -> list[str]:
    """age_warnings in at most two sentences, for a screen: the images whose vulnerability
    data is older than `max_age` days, then any other image built before that."""
    if max_age <= 0:
        return []
    data: list[str] = []
    other: list[str] = []
    for label, built, analyzer in images:
        days = age_days(built, now)
        if days is None or days <= max_age:
            continue
        shown = f"{label} ({age_text(days)})"
        (data if carries_vulnerability_data(category_of(analyzer)) else other).append(shown)
    lines = []
    if data:
        lines.append(
            f"Vulnerability data older than {max_age} days: {', '.join(data)}. GitLab rebuilds "
            "these images daily: export fresh copies"
        )
    if other:
        lines.append(
            f"Built more than {max_age} days ago: {', '.join(other)}. A newer build may exist "
            "upstream"
        )
    return lines


def check_max_age(value: int) -> int:
    """--max-age DAYS: 0 turns the warning off; a negative number is a typo."""
    if value < 0:
        raise UsageError(
            f"--max-age {value}",
            "it is a number of days and cannot be negative",
            f"Give 0 to turn the warning off, or a number of days (default {DEFAULT_MAX_AGE_DAYS})",
        )
    return value
