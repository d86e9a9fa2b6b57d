"""Apps for the TUI tests: fixed drives, engine status, clock and home, so screens are stable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.tui.app import AirgapApp
from tests.tui.fakes import DRIVES, FixedDomain, fake_engine

SIZE = (120, 40)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home directory with a fixed layout (the directory trees start here)."""
    root = tmp_path / "operator"
    for name in ("bundles", "Documents", "scans"):
        (root / name).mkdir(parents=True)
    return root


@pytest.fixture
def make_app(home: Path) -> Callable[..., AirgapApp]:
    """AirgapApp with fixed data; keyword arguments override (domain=FixedDomain(...), ...)."""

    def make(**kwargs: Any) -> AirgapApp:
        options: dict[str, Any] = {
            "engine_factory": fake_engine,
            "drives": lambda: list(DRIVES),
            "domain": FixedDomain(),
            "home": home,
            "clock": lambda: 0.0,
            "receipt_dir": home,
        }
        options.update(kwargs)
        return AirgapApp(**options)

    return make
