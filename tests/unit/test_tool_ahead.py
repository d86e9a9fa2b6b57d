"""The wizard builds the carried tool ahead (tui/services.Domain.prepare_tool): the real build,
in its child process, fills the user's cache the export then reads; a cancelled one keeps
nothing (the UI side is tests/tui/test_tool_ahead.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airgap_tui.events import CancelToken
from airgap_tui.toolpack.cache import any_kept, cache_dir, cached_tool
from airgap_tui.tui.services import Domain


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert not any_kept(cache_dir())
    return cache_dir()


def test_the_build_ahead_fills_the_cache_the_export_reads(empty_cache: Path) -> None:
    assert Domain().prepare_tool(CancelToken()) is True
    assert any_kept(empty_cache)
    assert cached_tool().cache_hit  # the export's next look finds it there, checked


def test_a_build_ahead_cancelled_keeps_nothing(empty_cache: Path) -> None:
    token = CancelToken()
    token.cancel()
    assert Domain().prepare_tool(token) is False
    assert not any_kept(empty_cache)
