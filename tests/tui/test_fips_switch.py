"""The wizard's "FIPS instance" switch says what the snippet says (issue 17 item 8): on a FIPS
instance GitLab's container- and dependency-scanning templates add -fips themselves
(tests/fixtures/templates/15/ and 17/Jobs-Container-Scanning.yml, 16/ and
17/Jobs-Dependency-Scanning.yml), so plain tags are never pulled there."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Switch

from airgap_tui.catalog.snippet_model import FIPS_INSTANCE_WARNING
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from tests.tui.conftest import SIZE
from tests.tui.helpers import settle

MakeApp = Callable[..., AirgapApp]


async def test_fips_switch_carries_the_fips_instance_warning(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")  # Prepare a bundle: the analyzers step
        await settle(pilot)
        assert isinstance(app.screen, AnalyzersScreen)
        switch = app.screen.query_one("#fips", Switch)
        assert FIPS_INSTANCE_WARNING in str(switch.tooltip)
        assert "container scanning and dependency scanning" in FIPS_INSTANCE_WARNING
