"""Issue 16 part 7: a major the built-in catalog has no tag for gets, per analyzer, the newest
major tag that exists upstream (listed the way `tags` lists them), clearly marked as a guess."""

from __future__ import annotations

from collections.abc import Callable

from tests.harness.native import NativeUpstream
from tests.integration.conftest import CliRun


def test_gitlab_19_without_templates_gets_a_marked_guess(
    native_upstream: NativeUpstream, cli_no_engine: Callable[..., CliRun]
) -> None:
    source = ["--source-prefix", native_upstream.prefix]
    run = cli_no_engine("catalog", "--gitlab", "19", "--guess", *source, "--json")
    assert run.code == 0, run.err
    rows = {r["name"]: r for r in run.json["analyzers"]}
    # what the upstream really holds, newest major tag each
    for name, tag in (("semgrep", "6"), ("secrets", "7"), ("kics", "6"), ("gemnasium", "6")):
        assert rows[name]["tag"] is None and rows[name]["guess"] == tag, name
        assert "a guess for GitLab 19" in rows[name]["guess_why"]
    # an analyzer the upstream does not hold: no guess, and why
    assert rows["sobelow"]["guess"] is None and "no guess" in rows["sobelow"]["guess_why"]
    # analyzers the catalog has a 19 tag for are not guessed
    assert "guess" not in rows["clangsa"]

    text = cli_no_engine("catalog", "--gitlab", "19", "--guess", *source)
    assert text.code == 0
    line = next(x for x in text.out.splitlines() if x.strip().startswith("semgrep "))
    assert "6 (guess)" in line
    assert "not read from a GitLab template" in text.out


def test_a_major_newer_than_the_catalog(
    native_upstream: NativeUpstream, cli_no_engine: Callable[..., CliRun]
) -> None:
    run = cli_no_engine("catalog", "--gitlab", "20")
    assert run.code == 2 and "--guess" in run.err
    run = cli_no_engine(
        "catalog", "--gitlab", "20", "--guess", "--source-prefix", native_upstream.prefix,
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    rows = {r["name"]: r for r in run.json["analyzers"]}
    assert not run.json["complete"] and "No GitLab 20 data" in run.json["note"]
    assert rows["container-scanning"]["guess"] == "8"
    assert all(
        "guess_why" in r for r in rows.values() if r["kind"] == "image" and r["prefix_based"]
    )
