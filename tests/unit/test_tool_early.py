"""The carried tool's build started before the CLI loads (toolpack.early, cli/launch.py): the
real child collects the members itself and says their key and size first; the export's builder
takes its archive without collecting anything, a kept archive stops it, one that stops early
leaves the build to the builder (a ToolError it says refuses the export), and no child outlives
the command that started it."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.cli import launch
from airgap_tui.errors import Cancelled, UsageError
from airgap_tui.toolpack import builder as builder_module
from airgap_tui.toolpack import child as child_module
from airgap_tui.toolpack import early
from airgap_tui.toolpack.builder import ToolBuilder
from airgap_tui.toolpack.cache import build_key, cache_dir, cached_tool, load_kept
from airgap_tui.toolpack.child import ChildBuild, EarlyHead
from airgap_tui.toolpack.members import Member, ToolError, collect_members
from airgap_tui.toolpack.toolpack import build_tool, tool_size

MADE = [Member("m.py", "d", data=b"x = 1\n")]


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return cache_dir()


def _stand_in(code: str) -> subprocess.Popen[bytes]:
    """A child process running `code`, piped as an early child is."""
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _sayer(status: int, said: str = "") -> subprocess.Popen[bytes]:
    """A child standing in for an early one that stops before its head."""
    return _stand_in(f"import sys; sys.stderr.write({said!r}); sys.exit({status})")


@pytest.fixture
def collects_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The builder's thread must not collect the members an early child collected."""

    def refuse(root: str) -> list[Member]:
        raise AssertionError("the builder collected the members")

    monkeypatch.setattr(builder_module, "collect_members", refuse)


def test_the_early_child_says_its_key_and_size_then_builds(empty_cache: Path) -> None:
    members = collect_members()
    child = ChildBuild(early.spawn())
    head = child.head(None)
    assert head == EarlyHead(build_key(members), False, tool_size(members=members))
    assert child.archive(None) == build_tool(members=members)  # the bytes built in-process


def test_a_builder_takes_the_early_childs_archive_and_keeps_it(
    empty_cache: Path, collects_nothing: None
) -> None:
    builder = ToolBuilder(child=ChildBuild(early.spawn())).start()
    try:
        built = builder.result()
        assert builder.expected_size() == tool_size()
    finally:
        builder.close()
    assert not built.cache_hit and built.data == build_tool()
    assert load_kept(empty_cache, built.key) == replace(built, cache_hit=True)


def test_an_early_child_stops_at_the_archive_the_cache_holds(
    empty_cache: Path, collects_nothing: None
) -> None:
    kept = cached_tool()
    process = early.spawn()
    child = ChildBuild(process)
    assert child.head(None) == EarlyHead(kept.key, True, len(kept.data))
    assert process.wait() == 0  # it stopped by itself after its head
    child.close()

    builder = ToolBuilder(child=ChildBuild(early.spawn())).start()
    try:
        assert builder.result() == replace(kept, cache_hit=True)
        assert builder.expected_size() == len(kept.data)
    finally:
        builder.close()


def test_an_archive_the_cache_no_longer_gives_is_built_again(empty_cache: Path) -> None:
    kept = cached_tool()
    [archive] = empty_cache.glob("*.pyz")
    archive.write_bytes(b"damaged")  # the early child reads only the record: it says kept
    builder = ToolBuilder(child=ChildBuild(early.spawn())).start()
    try:
        rebuilt = builder.result()
    finally:
        builder.close()
    assert not rebuilt.cache_hit and rebuilt.data == kept.data


def test_the_child_that_builds_in_a_damaged_cache_entrys_place_is_ended_when_it_fails(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_tool()
    [archive] = empty_cache.glob("*.pyz")
    archive.write_bytes(b"damaged")  # the early child says kept; the builder must build
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recorded(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    def gone(root: str) -> list[Member]:
        raise ToolError("Python package x", "it is not installed here", "Reinstall it")

    child = ChildBuild(early.spawn())
    monkeypatch.setattr(subprocess, "Popen", recorded)
    monkeypatch.setattr(builder_module, "collect_members", gone)
    builder = ToolBuilder(child=child).start()
    try:
        with pytest.raises(ToolError):
            builder.result()
    finally:
        builder.close()
    assert started and all(p.returncode is not None for p in started)  # none left waiting


def test_an_early_child_that_stops_before_its_head_leaves_the_build_to_the_builder(
    empty_cache: Path,
) -> None:
    builder = ToolBuilder(child=ChildBuild(_sayer(5, "crashed"))).start()
    try:
        assert builder.result().data == build_tool()
    finally:
        builder.close()


def test_a_tool_error_from_the_early_child_refuses_the_export_before_it_downloads() -> None:
    said = "The carried tool (airgap-tui.pyz): mod.so has no pure-Python fallback. Export with"
    builder = ToolBuilder(child=ChildBuild(_sayer(3, said + " --no-tool\n"))).start()
    try:
        with pytest.raises(ToolError) as raised:
            builder.expected_size()
    finally:
        builder.close()
    assert "mod.so has no pure-Python fallback" in raised.value.sentence()


def test_a_stdin_build_ends_an_early_child_first() -> None:
    process = early.spawn()
    assert ChildBuild(process)(members=MADE, cancel=None) == build_tool(members=MADE)
    assert process.returncode is not None  # ended, not left building the default tool


@pytest.mark.parametrize("early", [True, False])
def test_stopping_a_builder_ends_the_child_it_reads_at_once(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, early: bool
) -> None:
    """A cancelled export does not wait for a build to finish: the child is ended, whether
    the builder waits for an early child's head or reads a child's archive."""
    silent = [sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(60)"]
    real_popen = subprocess.Popen
    started: list[subprocess.Popen[bytes]] = []
    spawned = threading.Event()

    def spawn(*args: object, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real_popen(silent, **kwargs))
        spawned.set()
        return started[-1]

    if early:
        child = ChildBuild(spawn(stdout=subprocess.PIPE, stdin=subprocess.DEVNULL))
        builder = ToolBuilder(child=child).start()
    else:
        monkeypatch.setattr(subprocess, "Popen", spawn)
        builder = ToolBuilder().start()  # an empty cache: its child starts at once
    assert spawned.wait(30)
    closer = threading.Thread(target=builder.close)
    closer.start()
    closer.join(timeout=30)  # the silent child would hold it 60 s
    assert not closer.is_alive()
    assert all(p.returncode is not None for p in started)
    assert isinstance(builder._error, Cancelled)


def test_a_builder_never_started_ends_the_child_it_was_given() -> None:
    process = _sayer(0)
    ToolBuilder(child=ChildBuild(process)).close()
    assert process.returncode is not None


# --- cli/launch ---------------------------------------------------------------------------
@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every early child launch starts, each a sleeper standing in for the build."""
    made: list[subprocess.Popen[bytes]] = []

    def sleeper() -> subprocess.Popen[bytes]:
        made.append(_stand_in("import time; time.sleep(60)"))
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
        given.append((tool_child, tool_child is not None and tool_child.early))
        raise UsageError("Export", "stopped by the test", "Nothing to do")

    monkeypatch.setattr(run, "export_bundle", export_bundle)
    code = launch.main(["export", "semgrep", "--to", str(tmp_path / "b")])
    assert code != 0
    [process] = spawned
    [(child, adopted_early)] = given
    assert isinstance(child, ChildBuild) and adopted_early
    assert process.returncode is not None  # the command ended it when the export stopped


def test_the_early_child_says_its_head_at_normal_priority_and_builds_at_nice(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export waits for the head before its first download: on a busy host a nice child
    would hold it back; only the build yields to the downloads."""
    import os

    events: list[str] = []

    class Written:
        @staticmethod
        def write(data: bytes) -> None:
            events.append("head" if data.endswith(b"\n") else "data")

        @staticmethod
        def flush() -> None:
            pass

    class Stdout:
        buffer = Written

    def build(*args: object) -> int:
        events.append("build")
        return 0

    monkeypatch.setattr(sys, "stdout", Stdout)
    monkeypatch.setattr(os, "nice", lambda n: events.append(f"nice {n}"))
    monkeypatch.setattr(child_module, "prefetch", lambda members: None)
    monkeypatch.setattr(child_module, "_build_out", build)
    assert child_module._build_early() == 0
    assert events == ["head", f"nice {child_module.NICE}", "build"]
