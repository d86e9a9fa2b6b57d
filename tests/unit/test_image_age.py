"""Image age: the build time an image config records, its age on a given day, and the
warning that says what an old container- or dependency-scanning image means."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airgap_tui.catalog.age import (
    VULNERABILITY_DATA,
    VULNERABILITY_DATA_ANALYZERS,
    age_days,
    age_summary,
    age_text,
    age_warning,
    category_of,
    check_max_age,
    config_created,
    describe,
    image_age,
    newest,
    normalise,
)
from airgap_tui.catalog.load import load_catalog
from airgap_tui.errors import UsageError

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2026-11-20T09:30:00Z", "2026-11-20T09:30:00Z"),
        ("2026-11-20T09:30:00.123456789Z", "2026-11-20T09:30:00Z"),  # Go's nanoseconds
        ("2026-11-20T11:30:00+02:00", "2026-11-20T09:30:00Z"),
        ("2026-11-20T09:30:00", "2026-11-20T09:30:00Z"),  # no offset: taken as UTC
        ("1970-01-01T00:00:00Z", None),  # reproducible builds: a placeholder, not a date
        ("0001-01-01T00:00:00Z", None),
        ("yesterday", None),
        ("", None),
        (1732095000, None),
        (None, None),
        ("2026-11-20T09:30:00Z" + " " * 100, None),  # bounded
    ],
)
def test_the_build_time_is_read_from_the_config(created: object, expected: str | None) -> None:
    assert normalise(created) == expected
    assert config_created(json.dumps({"created": created}).encode()) == expected


def test_a_config_without_created_or_not_json_has_no_date() -> None:
    assert config_created(b'{"architecture": "amd64"}') is None
    assert config_created(b"not json") is None
    assert config_created(b"[]") is None


def test_an_index_is_as_new_as_its_newest_platform() -> None:
    assert newest(["2026-10-01T00:00:00Z", None, "2026-11-02T00:00:00Z"]) == (
        "2026-11-02T00:00:00Z"
    )
    assert newest([None, None]) is None


def test_the_age_is_whole_days_on_the_day_asked() -> None:
    assert age_days("2026-11-20T09:30:00Z", NOW) == 14  # 14 days and 22.5 hours
    assert age_days("2026-12-05T07:00:00Z", NOW) == 0
    assert age_days("2026-12-06T00:00:00Z", NOW) == 0  # a clock behind never says -1
    assert age_days(None, NOW) is None
    assert [age_text(d) for d in (0, 1, 2, None)] == ["today", "1 day", "2 days", "unknown"]
    assert describe("2026-11-20T09:30:00Z", NOW) == "2026-11-20 (14 days old)"
    assert describe("2026-12-05T07:00:00Z", NOW) == "2026-12-05 (built today)"
    assert describe(None, NOW) == "unknown"
    assert image_age("2026-11-20T09:30:00Z", NOW).to_dict() == {
        "built": "2026-11-20T09:30:00Z",
        "age_days": 14,
    }


def test_an_old_scanning_image_says_its_vulnerability_data_is_that_old() -> None:
    old = "2026-10-21T00:00:00Z"  # 45 days before NOW
    warning = age_warning("container-scanning:8", old, NOW, 30, "container-scanning")
    assert warning is not None
    assert "container-scanning:8 was built 45 days ago (2026-10-21)" in warning
    assert "vulnerability data is 45 days old" in warning
    other = age_warning("semgrep:6", old, NOW, 30, "sast")
    assert other is not None and "vulnerability" not in other and "--max-age 30" in other


def test_no_warning_within_the_limit_when_off_or_when_unknown() -> None:
    assert age_warning("semgrep:6", "2026-11-20T00:00:00Z", NOW, 30) is None
    assert age_warning("semgrep:6", "2026-11-05T08:00:00Z", NOW, 30) is None  # exactly 30
    assert age_warning("semgrep:6", "2026-11-04T08:00:00Z", NOW, 30) is not None  # 31
    assert age_warning("semgrep:6", "2020-01-01T00:00:00Z", NOW, 0) is None  # 0: off
    assert age_warning("semgrep:6", None, NOW, 30) is None  # unknown: said elsewhere


def test_max_age_cannot_be_negative() -> None:
    assert check_max_age(0) == 0 and check_max_age(30) == 30
    with pytest.raises(UsageError, match="cannot be negative"):
        check_max_age(-1)


def test_the_catalog_names_the_images_that_carry_vulnerability_data() -> None:
    catalog = load_catalog()
    carrying = {
        name
        for name in catalog.names
        if image_age("2026-01-01T00:00:00Z", NOW, catalog.category_of(name)).vulnerability_data
    }
    assert {"container-scanning", "gemnasium", "gemnasium-maven"} <= carrying
    assert not {"semgrep", "secrets", "dast", "kics"} & carrying
    # the offline host's table (no catalog parse) names exactly these
    assert carrying == VULNERABILITY_DATA_ANALYZERS
    assert all(category_of(name) == VULNERABILITY_DATA for name in carrying)
    assert category_of("semgrep") is None and category_of(None) is None


def test_a_screen_gets_the_warnings_in_two_sentences_at_most() -> None:
    rows = [
        ("semgrep:6", "2026-10-01T00:00:00Z", "semgrep"),
        ("gemnasium:6", "2026-10-30T06:00:00Z", "gemnasium"),
        ("container-scanning:8", "2026-10-21T06:00:00Z", "container-scanning"),
        ("secrets:7", "2026-11-30T00:00:00Z", "secrets"),
        ("custom:1", None, None),
    ]
    data, other = age_summary(rows, NOW, 30)
    assert data.startswith("Vulnerability data older than 30 days: gemnasium:6 (36 days), ")
    assert "container-scanning:8 (45 days)" in data and "daily" in data
    assert other.startswith("Built more than 30 days ago: semgrep:6 (65 days).")
    assert age_summary(rows, NOW, 0) == [] and age_summary(rows[3:], NOW, 30) == []
