"""The carried tool is built while the operator chooses: Estimate starts the build (once, and
only when the tool goes along), Write stops one still under way, and closing the wizard ends it."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Checkbox

from airgap_tui.events import CancelToken
from airgap_tui.export.run import ExportRequest
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.estimate import EstimateScreen
from tests.tui.conftest import SIZE
from tests.tui.fakes import FixedDomain
from tests.tui.helpers import DEST, TO_ESTIMATE, wait_for, walk

HELD = ("tool-ahead",)  # the held build runs until cancelled: not waited for

MakeApp = Callable[..., AirgapApp]


async def _at_estimate_building(pilot: Pilot[None], domain: FixedDomain) -> CancelToken:
    """Walk to Estimate and wait until its build ahead has started; that build's token."""
    await walk(pilot, *TO_ESTIMATE, skip=HELD)
    assert isinstance(pilot.app.screen, EstimateScreen)
    await wait_for(pilot, lambda: len(domain.tool_builds) == 1)
    return domain.tool_builds[0]


async def test_estimate_builds_the_tool_ahead_and_write_stops_a_build_under_way(
    make_app: MakeApp,
) -> None:
    domain = FixedDomain(hold_tool=True)
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        token = await _at_estimate_building(pilot, domain)
        assert not token.cancelled  # building while the operator reads the estimate

        await walk(pilot, "ctrl+n", DEST, "ctrl+n", skip=HELD)
        assert [r for r in domain.requests if isinstance(r, ExportRequest)]  # Write ran
        assert token.cancelled  # the export builds it itself: never two builds at once
        assert len(domain.tool_builds) == 1


async def test_one_build_at_a_time_none_without_the_tool_and_none_after_closing(
    make_app: MakeApp,
) -> None:
    domain = FixedDomain(hold_tool=True)
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await _at_estimate_building(pilot, domain)
        box = app.screen.query_one("#carry-tool", Checkbox)
        box.value = False
        await walk(pilot, skip=HELD)
        box.value = True  # wanted again while the first build still runs: not a second one
        await walk(pilot, skip=HELD)
        assert len(domain.tool_builds) == 1
    assert domain.tool_builds[0].cancelled  # the wizard closed: its build ended with it


async def test_no_build_ahead_when_the_tool_stays_home(make_app: MakeApp) -> None:
    domain = FixedDomain()
    app = make_app(domain=domain)
    app.state.tool_wanted = False  # as a profile that leaves the tool out
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_ESTIMATE)
        assert isinstance(app.screen, EstimateScreen)
        assert domain.tool_builds == []
