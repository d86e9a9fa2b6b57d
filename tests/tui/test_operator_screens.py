"""Pilot tests of what issue 19 puts on screen (fixed data from fakes.py, "now" fixed by
conftest): the Start screen says what this host can do without Docker, at 80x24 and 120x40;
images' build dates and ages on Estimate, Verify, Push and Done; "digest kept ✓" per image;
the carry-the-tool switch, kept in profiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from textual.widgets import Checkbox, DataTable, OptionList, RadioButton, Static

from airgap_tui.export.run import ExportRequest
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.profiles import load_profile
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.import_bundle import ImportBundleScreen
from airgap_tui.tui.screens.push import PushScreen
from airgap_tui.tui.screens.start import StartScreen
from airgap_tui.tui.screens.verify import VerifyScreen
from tests.tui.conftest import SIZE, SMALL
from tests.tui.fakes import TOOL, FixedDomain, age, built
from tests.tui.helpers import (
    DEST,
    REGISTRY,
    TO_DONE,
    TO_ESTIMATE,
    TO_PUSH,
    TO_REGISTRY,
    TO_VERIFY,
    walk,
)
from tests.tui.test_snapshots import broken_engine

MakeApp = Callable[..., AirgapApp]


def text_of(app: AirgapApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["80x24", "120x40"])
async def test_start_without_docker_shows_the_routes_this_host_can_take(
    make_app: MakeApp, size: tuple[int, int]
) -> None:
    domain = FixedDomain(
        engine=broken_engine, proxy=("HTTPS_PROXY", "http://proxy.example.com:3128")
    )
    app = make_app(domain=domain)
    async with app.run_test(size=size) as pilot:
        await walk(pilot)
        assert isinstance(app.screen, StartScreen)
        host = text_of(app, "#host")
        assert "✓ Straight to a registry: no Docker needed (digests kept)" in host
        assert "– Load into Docker: optional; no engine answers here" in host
        assert "✗" not in host and "Start Docker" not in host  # not an error: optional
        assert "Proxy to registry.gitlab.com: http://proxy.example.com:3128 (HTTPS_PROXY)" in host
        drives = app.screen.query_one("#drives", DataTable)
        assert drives.row_count == 2
        # every entry says what it does now, and all of it is on screen at this size
        paths = app.screen.query_one("#paths", OptionList)
        prompt = str(paths.get_option("import").prompt)
        assert "offline host: verify the drive, push straight to your registry" in prompt
        assert "load, tag" not in prompt
        assert paths.region.height == 2 * paths.option_count + 2  # no entry wraps
        for widget in (paths, app.screen.query_one("#host"), drives):
            region = widget.region
            assert region.height > 0 and region.bottom <= size[1] - 1, widget
        assert app.screen.query_one("#host").region.height <= 5  # three lines, bordered
        await walk(pilot, "i")  # importing needs no engine
        assert isinstance(app.screen, ImportBundleScreen)


async def test_start_with_docker_names_it_as_the_optional_route(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await walk(pilot)
        host = text_of(app, "#host")
        assert "✓ Load into Docker: optional; Docker 27.3.1 at unix:///var/run/docker.sock" in host
        assert "Proxy to registry.gitlab.com: none, direct" in host


async def test_the_estimate_shows_each_images_date_and_age(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_ESTIMATE)
        screen = app.screen
        assert isinstance(screen, EstimateScreen) and screen.result is not None
        table = screen.query_one("#estimate-table", DataTable)
        for image in screen.result.images:
            name = image.spec.name
            cell = str(table.get_cell(image.spec.label, "built"))
            assert cell == f"{built(name)[:10]} {age(name)}d"
        totals = text_of(app, "#totals")
        assert "Vulnerability data older than 30 days: gemnasium:6 (36 days)" in totals
        assert "container-scanning:8 (45 days)" in totals
        assert "semgrep:6 (" not in totals  # two weeks old: no warning


async def test_the_tool_switch_leaves_it_out_and_a_profile_keeps_that(
    make_app: MakeApp, home: Path
) -> None:
    domain = FixedDomain()
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_ESTIMATE)
        box = app.screen.query_one("#carry-tool", Checkbox)
        with_tool = app.state.bundle_bytes
        assert (
            box.value
            and app.state.carry_tool
            and f"about {TOOL.size / 1e6:.1f} MB" in str(box.label)
        )
        await walk(pilot, "t")
        assert not box.value and not app.state.carry_tool and "left out" in str(box.label)
        assert app.state.bundle_bytes == with_tool - TOOL.size
        await walk(pilot, "ctrl+n", DEST, "ctrl+n")
        assert isinstance(app.screen, DoneScreen)
        [request] = [r for r in domain.requests if isinstance(r, ExportRequest)]
        assert request.tool is False
        app.screen.query_one("#profile-name").value = "no-tool"  # type: ignore[attr-defined]
        await pilot.click("#save-profile")
        await walk(pilot)
        saved = home / ".config" / "airgap-tui" / "profiles" / "no-tool.yaml"
        assert yaml.safe_load(saved.read_text())["tool"] is False
        await walk(pilot, "escape", "e")  # a new run: the switch comes back on by default…
        app.state.tool_wanted = True
        profile = load_profile(home / ".config" / "airgap-tui" / "profiles", "no-tool")
        app.screen.apply_profile(profile)  # type: ignore[attr-defined]
        assert app.state.tool_wanted is False  # …and the profile turns it off again
        await walk(pilot, "ctrl+n")
        assert not app.screen.query_one("#carry-tool", Checkbox).value


async def test_verify_shows_the_age_on_the_day_of_the_import(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await walk(pilot, *TO_VERIFY)
        assert isinstance(app.screen, VerifyScreen)
        result = text_of(app, "#verify-result")
        assert f"semgrep:6 {built('semgrep')[:10]} ({age('semgrep')} days old)" in result
        assert "Vulnerability data older than 30 days: gemnasium:6 (36 days)" in result


async def test_push_says_digest_kept_and_each_images_age(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await walk(pilot, *TO_PUSH)
        push = app.screen
        assert isinstance(push, PushScreen) and push.result is not None
        table = push.query_one("#results", DataTable)
        for image in push.result.images:
            assert str(table.get_cell(image.target, "image")) == f"{image.name}:{image.tag}"
            assert str(table.get_cell(image.target, "digest")) == "digest kept ✓"
            assert str(table.get_cell(image.target, "age")) == f"{age(image.name)} days"
        assert "gemnasium:6 (36 days)" in text_of(app, "#push-summary")


async def test_push_through_docker_shows_the_digest_the_registry_now_serves(
    make_app: MakeApp,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_REGISTRY, ("#registry", REGISTRY))
        app.screen.query_one("#route-docker", RadioButton).value = True
        await walk(pilot, "ctrl+n")
        push = app.screen
        assert isinstance(push, PushScreen) and push.result is not None
        table = push.query_one("#results", DataTable)
        for image in push.result.images:
            assert not image.digest_kept
            assert str(table.get_cell(image.target, "digest")) == image.pushed_digest[:19] + "…"


async def test_done_shows_each_images_age(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await walk(pilot, *TO_DONE)
        assert isinstance(app.screen, DoneScreen)
        summary = text_of(app, "#done-summary")
        assert "semgrep:6 14, " in summary and "container-scanning:8 45" in summary
        assert "container-scanning:8 (45 days)" in summary
        # the top of the screen (where, ages, fingerprint) is what a short terminal shows
        assert app.screen.query_one("#done-summary").region.y <= 2
        assert app.screen.query_one("#fingerprint").region.bottom <= SMALL[1] - 2
