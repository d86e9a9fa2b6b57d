"""CLI commands that only talk to the upstream registry (no pulls)."""

from __future__ import annotations

from collections.abc import Callable

from tests.harness.images import SeededUpstream
from tests.integration.conftest import CliRun


def test_tags_lists_what_really_exists_upstream(
    cli: Callable[..., CliRun], seeded_upstream: SeededUpstream
) -> None:
    run = cli("tags", "semgrep", "--source-prefix", seeded_upstream.prefix, "--json")
    assert run.code == 0, run.err
    assert run.json["tags"] == ["6"]
    assert run.json["image"] == f"{seeded_upstream.prefix}/semgrep"


def test_estimate_names_a_missing_tag_and_the_tags_that_exist(
    cli: Callable[..., CliRun], seeded_upstream: SeededUpstream
) -> None:
    run = cli(
        "estimate", "semgrep:99", "secrets", "--source-prefix", seeded_upstream.prefix, "--json"
    )
    assert run.code == 1
    images = {i["name"]: i for i in run.json["images"]}
    assert images["semgrep"]["error"] and "99" in images["semgrep"]["error"]
    assert images["semgrep"]["available_tags"] == ["6"]
    assert images["secrets"]["error"] is None and images["secrets"]["download_bytes"] > 0
    assert "semgrep" in run.err
