"""The carried tool's build started before the CLI loads (toolpack.early, cli/launch.py): the
real child collects the members itself and says their key first; its archive is taken only for
the caller's key, a kept archive stops it, a failed or mismatched one leaves the build to a new
child, and no child outlives the command that started it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.cli import launch
from airgap_tui.errors import UsageError
from airgap_tui.toolpack import early
from airgap_tui.toolpack.builder import ToolBuilder
from airgap_tui.toolpack.cache import build_key, cache_dir, cached_tool
from airgap_tui.toolpack.child import ChildBuild
from airgap_tui.toolpack.members import Member, collect_members
from airgap_tui.toolpack.toolpack import build_tool

MADE = [Member("m.py", "d", data=b"x = 1\n")]


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return cache_dir()


def _no_second_child(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ChildBuild) -> ChildBuild:
        raise AssertionError("a second child was started")

    monkeypatch.setattr(ChildBuild, "start", refuse)


def test_the_early_child_builds_the_archive_for_the_key_it_said(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = collect_members()
    child = ChildBuild(early.spawn())
    _no_second_child(monkeypatch)
    data = child(members=members, cancel=None, key=build_key(members))
    assert data == build_tool(members=members)  # the bytes a build in this process makes


def test_an_early_child_for_other_members_is_ended_and_a_new_child_builds(
    empty_cache: Path,
) -> None:
    process = early.spawn()
    child = ChildBuild(process)
    assert child(members=MADE, cancel=None, key=build_key(MADE)) == build_tool(members=MADE)
    assert process.returncode is not None  # ended, not left building the default tool


def test_an_early_child_that_fails_before_its_key_leaves_the_build_to_a_new_child() -> None:
    failed = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.exit(5)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    built = ChildBuild(failed)(members=MADE, cancel=None, key=build_key(MADE))
    assert built == build_tool(members=MADE)


def test_an_early_child_stops_at_the_archive_the_cache_holds(empty_cache: Path) -> None:
    kept = cached_tool()
    process = early.spawn()
    assert process.stdout is not None
    said = process.stdout.readline()
    assert process.wait() == 0  # it stopped by itself, after one line
    assert said.decode() == f'{{"key": "{kept.key}", "kept": true}}\n'
    early.end(process)

    builder = ToolBuilder(child=ChildBuild(early.spawn())).start()
    try:
        assert builder.result().cache_hit and builder.result().data == kept.data
    finally:
        builder.close()


def test_a_builder_never_started_ends_the_child_it_was_given() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    ToolBuilder(child=ChildBuild(process)).close()
    assert process.returncode is not None


# --- cli/launch ---------------------------------------------------------------------------
@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every early child launch starts, each a sleeper standing in for the build."""
    made: list[subprocess.Popen[bytes]] = []

    def sleeper() -> subprocess.Popen[bytes]:
        made.append(
            subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(60)"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
        return made[-1]

    monkeypatch.setattr(early, "spawn", sleeper)
    return made


@pytest.mark.parametrize(
    "words",
    [
        ["export", "semgrep", "--to", "d", "--no-tool"],
        ["export", "--help"],
        ["estimate", "semgrep"],
        ["tool", "--out", "d"],
        [],
    ],
)
def test_no_early_build_unless_an_export_carries_the_tool(
    words: list[str], spawned: list[subprocess.Popen[bytes]]
) -> None:
    assert launch._start_early_tool(words) is None and spawned == []


def test_a_child_no_export_adopts_is_ended_when_main_ends(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    with pytest.raises(SystemExit):  # argparse refuses the option before export runs
        launch.main(["export", "semgrep", "--to", str(tmp_path), "--no-such-option"])
    [process] = spawned
    assert process.returncode is not None and launch._early_tool is None


def test_export_hands_the_early_child_to_its_builder_and_ends_it(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airgap_tui.export import run

    given: list[Any] = []

    def export_bundle(*args: object, tool_child: ChildBuild | None = None, **_: object) -> None:
        given.append((tool_child, tool_child is not None and tool_child._early))
        raise UsageError("Export", "stopped by the test", "Nothing to do")

    monkeypatch.setattr(run, "export_bundle", export_bundle)
    code = launch.main(["export", "semgrep", "--to", str(tmp_path / "b")])
    assert code != 0
    [process] = spawned
    [(child, adopted_early)] = given
    assert isinstance(child, ChildBuild) and adopted_early
    assert process.returncode is not None  # the command ended it when the export stopped
