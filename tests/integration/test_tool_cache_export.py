"""The carried tool in a real export: built beside the downloads the first time (by the child
the console script starts before the parser), taken from the user's cache (checked) the next
time, the same bytes either way; a damaged cache entry is never carried; `export --json` and
`tool --json` say whether the cache was hit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from airgap_tui.events import CancelToken
from airgap_tui.toolpack.cache import cache_dir
from airgap_tui.toolpack.child import ChildBuild
from airgap_tui.toolpack.toolpack import TOOL_FILE
from tests.harness.native import NativeUpstream
from tests.integration.conftest import CliRun
from tests.integration.faults_support import ANALYZERS


def _export(cli: Callable[..., CliRun], upstream: NativeUpstream, dest: Path) -> dict[str, object]:
    run = cli(
        "export", *ANALYZERS, "--source-prefix", upstream.prefix,
        "--to", str(dest), "--part-size", "1MiB", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    result: dict[str, object] = run.json
    return result


def test_the_second_export_takes_the_tool_from_the_cache(
    native_upstream: NativeUpstream,
    cli_no_engine: Callable[..., CliRun],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    taken: list[int] = []
    archive = ChildBuild.archive

    def spied(self: ChildBuild, cancel: CancelToken | None) -> bytes:
        data = archive(self, cancel)
        taken.append(len(data))
        return data

    monkeypatch.setattr(ChildBuild, "archive", spied)
    first = _export(cli_no_engine, native_upstream, tmp_path / "a")
    tool = first["tool"]
    assert isinstance(tool, dict)
    assert taken == [tool["size"]]  # built by the child the console script started first
    second = _export(cli_no_engine, native_upstream, tmp_path / "b")
    assert (first["tool_cached"], second["tool_cached"]) == (False, True)
    assert first["tool"] == second["tool"]
    carried = (tmp_path / "b" / TOOL_FILE).read_bytes()
    assert carried == (tmp_path / "a" / TOOL_FILE).read_bytes()
    seconds = second["seconds"]
    assert isinstance(seconds, dict) and "tool" in seconds  # after the parts: waiting + writing

    # A damaged cache entry is rebuilt, never carried.
    [cached] = cache_dir().glob("*.pyz")
    cached.write_bytes(cached.read_bytes()[:-10] + b"x" * 10)
    third = _export(cli_no_engine, native_upstream, tmp_path / "c")
    assert third["tool_cached"] is False
    assert (tmp_path / "c" / TOOL_FILE).read_bytes() == carried
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == hashlib.sha256(carried).hexdigest()

    tool = cli_no_engine("tool", "--out", str(tmp_path / "t"), "--json")
    assert tool.code == 0 and tool.json["cached"] is True
    assert (tmp_path / "t" / TOOL_FILE).read_bytes() == carried
