"""Apps for the TUI tests: fixed drives, engine status, clock and home, so screens are stable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.services import Services
from tests.tui.fakes import NOW, FixedDomain

SIZE = (120, 40)
SMALL = (80, 24)  # jump hosts and consoles: every screen must stay usable at this size


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home directory with a fixed layout (the directory trees start here)."""
    root = tmp_path / "operator"
    for name in ("bundles", "Documents", "scans"):
        (root / name).mkdir(parents=True)
    return root


APP_OPTIONS = ("source_prefix", "platform", "gitlab_major", "state")


def fixed_app(home: Path, **kwargs: Any) -> AirgapApp:
    """The wizard on fixed data and a still clock, with `home` as its home directory."""
    app_options = {k: kwargs.pop(k) for k in APP_OPTIONS if k in kwargs}
    options: dict[str, Any] = {
        "domain": FixedDomain(),
        "home": home,
        "clock": lambda: 0.0,
        "now": lambda: NOW,
        "receipt_dir": home,
        "config_dir": home / ".config" / "airgap-tui",
    }
    options.update(kwargs)
    return AirgapApp(Services(**options), **app_options)


@pytest.fixture
def make_app(home: Path) -> Iterator[Callable[..., AirgapApp]]:
    """AirgapApp with fixed data: `domain=FixedDomain(...)` and other Services fields
    override; source_prefix/platform/gitlab_major/state go to the app. At the end of the test
    every worker thread those apps ran a transfer in has ended (a snapshot of a held export
    leaves one running when the app closes)."""
    apps: list[AirgapApp] = []

    def make(**kwargs: Any) -> AirgapApp:
        app = fixed_app(home, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        domain = app.services.domain
        if isinstance(domain, FixedDomain):
            domain.finish()
