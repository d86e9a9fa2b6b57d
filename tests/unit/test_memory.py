"""One malloc heap for the streaming commands (the benchmark's flat-RSS row measures the
effect); here: it takes on glibc, and is a no-op that says so elsewhere."""

from __future__ import annotations

import platform
import sys

import pytest

from airgap_tui import memory


def test_one_heap_takes_on_glibc_linux() -> None:
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert memory.single_heap() is on_glibc


def test_another_platform_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.single_heap() is False
