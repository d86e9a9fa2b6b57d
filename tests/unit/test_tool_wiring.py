"""The carried tool's wiring that needs no registry: the estimate's share, the refusal from
inside a zip, and the user's cache of the archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import airgap_tui
from airgap_tui.cli.commands import build_parser
from airgap_tui.export.estimate import estimate_tool
from airgap_tui.toolpack import cache, toolpack
from airgap_tui.toolpack.cache import write_cached_tool
from airgap_tui.toolpack.members import ToolError
from airgap_tui.toolpack.toolpack import (
    TOOL_FILE,
    check_buildable,
    write_tool,
)


def test_the_estimate_counts_the_tool_within_a_few_per_cent_of_the_built_archive(
    tmp_path: Path,
) -> None:
    size, problem = estimate_tool()
    assert problem is None
    built = write_tool(tmp_path).size  # the archive an export carries
    assert built == (tmp_path / TOOL_FILE).stat().st_size > 1_000_000
    assert abs(size - built) <= 0.05 * built, (size, built)


def test_a_tool_that_cannot_be_built_is_a_sentence_in_the_estimate_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(root: str = "") -> list[toolpack.Member]:
        raise ToolError("Python package rich", "it is not installed here", "Reinstall it")

    monkeypatch.setattr(toolpack, "collect_members", missing)
    assert estimate_tool() == (0, "Python package rich: it is not installed here. Reinstall it.")


def test_running_from_inside_a_zip_is_refused_with_no_tool_as_the_way_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inside = tmp_path / TOOL_FILE / "airgap_tui" / "__init__.py"  # as zipimport reports it
    monkeypatch.setattr(airgap_tui, "__file__", str(inside))
    with pytest.raises(ToolError) as raised:
        check_buildable()
    message = raised.value.sentence()
    assert f"this airgap-tui runs from inside a zip ({tmp_path / TOOL_FILE})" in message
    assert "cannot be re-packed from inside a zip" in message
    assert "Export with --no-tool" in message


def test_export_takes_no_tool_flag() -> None:
    parser = build_parser()
    assert parser.parse_args(["export", "semgrep", "--to", "x"]).no_tool is False
    assert parser.parse_args(["export", "semgrep", "--to", "x", "--no-tool"]).no_tool is True


def test_the_tool_is_built_once_then_taken_from_the_users_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    builds: list[str] = []
    real_build = toolpack.build_tool

    def counted(**kwargs: Any) -> bytes:
        builds.append(kwargs["root"])
        return real_build(**kwargs)

    monkeypatch.setattr(cache, "build_tool", counted)
    monkeypatch.setattr(toolpack, "build_tool", counted)
    first = write_cached_tool(tmp_path / "a", create=True)
    second = write_cached_tool(tmp_path / "b", create=True)
    assert (first.cached, second.cached) == (False, True) and len(builds) == 1
    assert second[:3] == first[:3]  # file, size, sha256: what bundle.yaml records
    assert (tmp_path / "b" / TOOL_FILE).read_bytes() == (tmp_path / "a" / TOOL_FILE).read_bytes()
    assert list((tmp_path / "cache" / "airgap-tui" / "tool").glob("*.pyz"))
    # without the cache it always builds
    assert not write_tool(tmp_path / "d", create=True).cached
    assert len(builds) == 2
