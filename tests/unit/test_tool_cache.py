"""The carried tool's cache: keyed by what goes into the archive, used only after its sha256
is checked, written atomically, and never able to fail an export."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.errors import Cancelled
from airgap_tui.events import CancelToken
from airgap_tui.toolpack import builder as builder_module
from airgap_tui.toolpack import cache
from airgap_tui.toolpack.builder import ToolBuilder
from airgap_tui.toolpack.cache import (
    KEEP,
    any_kept,
    build_key,
    cache_dir,
    cached_tool,
)
from airgap_tui.toolpack.members import Member
from airgap_tui.toolpack.toolpack import TOOL_FILE, build_tool


class CountingBuild:
    """Stands in for the seconds-long build where only the cache's logic is under test: the
    archive's bytes are a function of the members, as the real build's are."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, *, members: list[Member], cancel: CancelToken | None = None, **_: object
    ) -> bytes:
        self.calls += 1
        if cancel is not None:
            cancel.check("Packing airgap-tui.pyz")
        return b"PK" + b"".join(m.arcname.encode() + m.read() for m in members)


class StandInChild:
    """The export's builder runs its build in a child process (toolpack.child, tested on its
    own); here the build it is handed runs in the thread instead."""

    early = False  # not a child started before the CLI loaded (tests/unit/test_tool_early.py)

    def __init__(self, build: Callable[..., bytes]) -> None:
        self.build = build

    def start(self) -> StandInChild:
        return self

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __call__(self, **kwargs: Any) -> bytes:
        return self.build(**kwargs)


@pytest.fixture
def members(monkeypatch: pytest.MonkeyPatch) -> list[Member]:
    found = [Member("airgap_tui/__init__.py", "airgap-tui", data=b"__version__ = '1'\n")]
    monkeypatch.setattr(cache, "collect_members", lambda root: list(found))
    monkeypatch.setattr(builder_module, "collect_members", lambda root: list(found))
    return found


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch, members: list[Member]) -> CountingBuild:
    counting = CountingBuild()
    monkeypatch.setattr(cache, "build_tool", counting)
    monkeypatch.setattr(builder_module, "ChildBuild", lambda: StandInChild(counting))
    return counting


def test_the_cache_lives_under_xdg_cache_home_else_home(tmp_path: Path) -> None:
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "airgap-tui" / "tool"
    assert cache_dir({}) == Path.home() / ".cache" / "airgap-tui" / "tool"
    # the XDG spec: a relative path is invalid and ignored
    assert cache_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache/airgap-tui/tool"


def test_the_second_build_is_taken_from_the_cache(tmp_path: Path, build: CountingBuild) -> None:
    first = cached_tool(directory=tmp_path)
    second = cached_tool(directory=tmp_path)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.data == first.data and second.sha256 == first.sha256
    assert second.sha256 == hashlib.sha256(first.data).hexdigest()
    assert build.calls == 1
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{first.key}.json", f"{first.key}.pyz"]  # no .part left behind
    record = json.loads((tmp_path / f"{first.key}.json").read_text())
    assert record["sha256"] == first.sha256 and record["size"] == len(first.data)


def test_a_changed_file_or_another_python_is_another_key(
    monkeypatch: pytest.MonkeyPatch, members: list[Member]
) -> None:
    key = build_key(members)
    changed = [Member(members[0].arcname, "airgap-tui", data=b"__version__ = '2'\n")]
    renamed = [Member("airgap_tui/other.py", "airgap-tui", data=members[0].read())]
    assert build_key(changed) != key
    assert build_key(renamed) != key
    assert build_key(list(members)) == key  # same inputs, same key
    monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    assert build_key(members) != key


def test_a_file_on_disk_is_keyed_by_a_stat_that_any_rewrite_changes(tmp_path: Path) -> None:
    """No file is read for the key; a rewrite changes the change time, which utime cannot set
    back, so even same-size bytes with the old mtime restored give another key."""
    source = tmp_path / "mod.py"
    source.write_bytes(b"x = 1\n")
    members = [Member("mod.py", "d", path=source)]
    key = build_key(members)
    assert build_key(members) == key  # untouched: the same key, every time
    before = source.stat()
    source.write_bytes(b"x = 2\n")  # same size
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    assert source.stat().st_mtime_ns == before.st_mtime_ns
    assert build_key(members) != key
    again = build_key(members)
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    assert build_key(members) != again  # a touch alone: rebuilt (a cost, never a wrong tool)


def test_the_key_reads_no_member_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "mod.py"
    source.write_bytes(b"x = 1\n")
    member = Member("mod.py", "d", path=source)

    def no_read(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    assert len(build_key([member])) == 64


@pytest.mark.parametrize("damage", ["flip", "truncate", "record", "no-archive"])
def test_a_damaged_cache_entry_is_rebuilt_never_used(
    tmp_path: Path, build: CountingBuild, damage: str
) -> None:
    first = cached_tool(directory=tmp_path)
    archive, record = tmp_path / f"{first.key}.pyz", tmp_path / f"{first.key}.json"
    if damage == "flip":
        data = bytearray(archive.read_bytes())
        data[-1] ^= 0xFF
        archive.write_bytes(bytes(data))
    elif damage == "truncate":
        archive.write_bytes(archive.read_bytes()[:-1])
    elif damage == "record":
        record.write_text("{not json")
    else:
        archive.unlink()
    again = cached_tool(directory=tmp_path)
    assert not again.cache_hit and build.calls == 2
    assert again.data == first.data
    assert archive.read_bytes() == first.data  # repaired for next time
    assert cached_tool(directory=tmp_path).cache_hit


def test_a_cache_that_cannot_be_written_costs_only_the_rebuild(
    tmp_path: Path, build: CountingBuild
) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    first = cached_tool(directory=blocked / "tool")
    second = cached_tool(directory=blocked / "tool")
    assert (first.cache_hit, second.cache_hit) == (False, False)
    assert first.data == second.data and build.calls == 2


def test_only_the_most_recently_used_archives_are_kept(
    tmp_path: Path, build: CountingBuild, members: list[Member]
) -> None:
    keys = []
    for n in range(KEEP + 2):
        members[:] = [Member("airgap_tui/__init__.py", "airgap-tui", data=f"v{n}".encode())]
        result = cached_tool(directory=tmp_path)
        keys.append(result.key)
        record = tmp_path / f"{result.key}.json"
        os.utime(record, ns=(n * 10**9, n * 10**9))  # a distinct use time per entry
    kept = {p.stem for p in tmp_path.glob("*.pyz")}
    assert kept == set(keys[-KEEP:])
    assert {p.stem for p in tmp_path.glob("*.json")} == kept


def test_the_builder_runs_beside_the_caller_and_hands_over_the_result(
    tmp_path: Path, build: CountingBuild
) -> None:
    builder = ToolBuilder(directory=tmp_path).start()
    result = builder.result()
    assert builder.done and not result.cache_hit and build.calls == 1
    assert ToolBuilder(directory=tmp_path).start().result().cache_hit


def test_the_builder_stops_when_the_export_is_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, members: list[Member]
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_build(*, cancel: CancelToken | None = None, **_: object) -> bytes:
        started.set()
        assert release.wait(10)
        assert cancel is not None
        cancel.check("Packing airgap-tui.pyz")
        return b"never"

    monkeypatch.setattr(builder_module, "ChildBuild", lambda: StandInChild(slow_build))
    builder = ToolBuilder(directory=tmp_path).start()
    assert started.wait(10)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        builder.result(token)  # the caller's cancel stops the builder too
    release.set()
    builder.close()  # the build sees its own cancel at its next check and keeps nothing
    assert isinstance(builder._error, Cancelled)
    assert not list(tmp_path.glob("*.pyz"))


def test_the_builder_says_the_size_then_writes_the_archive_where_it_is_told(
    tmp_path: Path, build: CountingBuild
) -> None:
    first = ToolBuilder(directory=tmp_path / "cache").start()
    estimated = first.expected_size()
    assert estimated > 0  # from the members: nothing cached yet
    (tmp_path / "a").mkdir()
    first.write_into(tmp_path / "a")
    info = first.written()
    first.close()
    data = (tmp_path / "a" / TOOL_FILE).read_bytes()
    assert (info.size, info.sha256, info.cached) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        False,
    )
    assert first.outcome == "written"
    second = ToolBuilder(directory=tmp_path / "cache").start()
    assert second.expected_size() == len(data)  # exact: the cache records it
    second.write_into(tmp_path / "a")
    assert second.written().cached and second.outcome == "kept"  # identical: left as it was
    second.close()
    assert build.calls == 1


def test_a_builder_that_cannot_collect_raises_at_the_first_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airgap_tui.toolpack.members import ToolError

    def missing(root: str) -> list[Member]:
        raise ToolError("Python package rich", "it is not installed here", "Reinstall it")

    monkeypatch.setattr(builder_module, "collect_members", missing)
    builder = ToolBuilder(directory=tmp_path).start()
    with pytest.raises(ToolError, match="rich"):
        builder.expected_size()
    builder.close()


def test_discard_removes_what_the_builder_wrote_and_close_waits_for_it(
    tmp_path: Path, build: CountingBuild
) -> None:
    (tmp_path / "a").mkdir()
    builder = ToolBuilder(directory=tmp_path / "cache").start()
    builder.write_into(tmp_path / "a")
    builder.written()
    assert (tmp_path / "a" / TOOL_FILE).is_file()
    builder.discard()
    assert not (tmp_path / "a" / TOOL_FILE).exists()
    # one that was never told where to write ends when closed
    idle = ToolBuilder(directory=tmp_path / "cache").start()
    idle.result()
    idle.close()
    assert idle.done and not list((tmp_path / "a").iterdir())


def test_the_real_archive_is_cached_byte_for_byte(tmp_path: Path) -> None:
    """The real build of this installation: the cached copy is the archive a build makes."""
    first = cached_tool(directory=tmp_path)
    second = cached_tool(directory=tmp_path)
    assert not first.cache_hit and second.cache_hit
    assert second.data == first.data
    assert first.data == build_tool()  # deterministic: what the cache holds is what a build makes


def test_an_empty_cache_is_known_without_a_key(tmp_path: Path, build: CountingBuild) -> None:
    """The builder starts its child before the key is known only when nothing is kept."""
    assert not any_kept(tmp_path / "missing") and not any_kept(tmp_path)
    cached_tool(directory=tmp_path)
    assert any_kept(tmp_path)
