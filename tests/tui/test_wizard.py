"""Pilot tests: navigation, validation and state of the wizard (fixed data from fakes.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.widgets import Button, Input, RadioButton

from airgap_tui.errors import RegistryError
from airgap_tui.importer import ImportRequest
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.destination import DestinationScreen
from airgap_tui.tui.screens.dialogs import ConfirmDialog, CredentialsDialog
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.push import PushScreen
from airgap_tui.tui.screens.registry import RegistryScreen
from airgap_tui.tui.screens.snippet import SnippetScreen
from airgap_tui.tui.screens.start import StartScreen
from airgap_tui.tui.screens.verify import VerifyScreen
from airgap_tui.tui.screens.write import WriteScreen
from tests.tui.conftest import SIZE
from tests.tui.fakes import BUNDLE, USB, FakeEngine, FixedDomain
from tests.tui.helpers import settle, wait_for

MakeApp = Callable[..., AirgapApp]
REGISTRY = "registry.example.com:5000/security-products"


def type_into(app: AirgapApp, selector: str, value: str) -> None:
    app.screen.query_one(selector, Input).value = value


def next_enabled(app: AirgapApp) -> bool:
    return not app.screen.query_one("#next", Button).disabled


async def test_escape_goes_back_and_paths_open_their_first_step(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, AnalyzersScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        await pilot.press("i")
        await settle(pilot)
        assert app.screen.KEY == "import-bundle"
        assert app.state.path == "import"


async def test_next_needs_a_selection_and_presets_select(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        assert not next_enabled(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen is screen  # Next is refused with nothing chosen
        await pilot.press("1")  # preset "default"
        await settle(pilot)
        default = app.services.get_catalog().presets(18)["default"]
        assert screen.chosen_names() == default
        assert next_enabled(app)
        await pilot.press("x")
        await settle(pilot)
        assert screen.chosen_names() == []


async def test_typing_digits_in_the_tag_box_does_not_fire_presets(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        assert screen.current == "semgrep"
        app.screen.query_one("#tag", Input).focus()
        await pilot.press("ctrl+u", "5", ".", "1")
        await settle(pilot)
        assert screen.chosen_names() == []
        assert app.state.tags == {"semgrep": "5.1"}
        screen.listing.select("semgrep")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, EstimateScreen)
        assert [s.label for s in app.state.specs] == ["semgrep:5.1"]
        assert str(app.state.specs[0].source).endswith("security-products/semgrep:5.1")


async def test_an_analyzer_without_a_known_tag_blocks_next(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        screen.listing.select("dependency-scanning")  # GitLab 18 gives it no tag
        await settle(pilot)
        assert screen.missing_tags() == ["dependency-scanning"]
        assert not next_enabled(app)
        assert "Type a tag for dependency-scanning" in str(screen.query_one("#summary").render())


async def test_custom_images_are_validated_then_added(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        type_into(app, "#custom", "scanner:1.2")  # no registry host
        screen.add_custom()
        await settle(pilot)
        assert "registry host" in screen.error_text
        assert screen.chosen_customs() == []
        type_into(app, "#custom", "registry.example.com/team/scanner:1.2")
        screen.add_custom()
        await settle(pilot)
        assert screen.error_text == ""
        assert screen.chosen_customs() == ["registry.example.com/team/scanner:1.2"]
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert [s.label for s in app.state.specs] == ["team/scanner:1.2"]


async def test_missing_image_blocks_next_on_estimate(make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(missing=frozenset({"secrets:7"})))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e", "1", "ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, EstimateScreen)
        assert app.state.estimate is not None
        assert not next_enabled(app)


class FailingEstimate(FixedDomain):
    def estimate(self, *args: Any, **kwargs: Any) -> Any:
        raise RegistryError(
            "Registry registry.gitlab.com", "it did not answer within 30 s", "Check the network"
        )


async def test_a_worker_failure_is_one_sentence_in_the_screen(make_app: MakeApp) -> None:
    app = make_app(domain=FailingEstimate())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e", "1", "ctrl+n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EstimateScreen)
        assert screen.error_text == (
            "Registry registry.gitlab.com: it did not answer within 30 s. Check the network."
        )
        assert "Traceback" not in screen.error_text
        assert app.is_running


@pytest.mark.parametrize(("free", "fits"), [(14_200_000_000, True), (2_000_000_000, False)])
async def test_destination_blocks_next_when_it_will_not_fit(
    make_app: MakeApp, free: int, fits: bool
) -> None:
    app = make_app(domain=FixedDomain(free=free))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e", "1", "ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, DestinationScreen)
        type_into(app, "#path", f"{USB}/airgap-bundle")
        await settle(pilot)
        assert next_enabled(app) is fits
        await pilot.press("ctrl+n")
        await settle(pilot, skip=("export",))
        assert isinstance(app.screen, DoneScreen if fits else DestinationScreen)


async def test_cancel_asks_first_then_stops_the_writer(make_app: MakeApp) -> None:
    domain = FixedDomain(hold=True)
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e", "2", "ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        type_into(app, "#path", f"{USB}/airgap-bundle")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot, skip=("export",))
        write = app.screen
        assert isinstance(write, WriteScreen) and write.busy
        await pilot.press("escape")
        await settle(pilot, skip=("export",))
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # keep writing
        await settle(pilot, skip=("export",))
        assert app.screen is write and not write.token.cancelled
        await pilot.press("c")
        await settle(pilot, skip=("export",))
        await pilot.press("y")
        await settle(pilot)
        assert write.token.cancelled
        assert not write.busy
        assert "Stopped at your request" in write.error_text
        assert domain.requests and domain.requests[0].dest == Path(f"{USB}/airgap-bundle")


async def test_profile_round_trip(make_app: MakeApp, home: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e", "3")  # preset: secret-detection
        await settle(pilot)
        chosen = app.screen.chosen_names()  # type: ignore[attr-defined]
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        type_into(app, "#path", f"{USB}/airgap-bundle")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        type_into(app, "#profile-name", "monthly")
        await pilot.click("#save-profile")
        await settle(pilot)
        saved = home / ".config" / "airgap-tui" / "profiles" / "monthly.yaml"
        data = yaml.safe_load(saved.read_text())
        assert data["gitlab_major"] == 18
        assert list(data["analyzers"]) == chosen
        await pilot.press("escape")  # Done: back to Start
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        await pilot.press("e")
        await settle(pilot)
        assert app.screen.chosen_names() == []  # type: ignore[attr-defined]
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("enter")  # the only profile
        await settle(pilot)
        assert app.screen.chosen_names() == chosen  # type: ignore[attr-defined]


async def go_to_registry(pilot: Any, app: AirgapApp) -> None:
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    type_into(app, "#path", BUNDLE)
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)
    assert isinstance(app.screen, VerifyScreen)
    await pilot.press("ctrl+n")
    await settle(pilot)
    assert isinstance(app.screen, RegistryScreen)


async def test_bad_part_stops_the_import_at_verify(make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(bad_parts=frozenset({"images.tar.002"})))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        type_into(app, "#path", BUNDLE)
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        assert "images.tar.002" in screen.error_text and "Nothing was loaded" in screen.error_text
        assert not next_enabled(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen is screen


async def test_registry_is_validated_as_typed(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await go_to_registry(pilot, app)
        type_into(app, "#registry", "bad host:99999")
        await settle(pilot)
        assert not next_enabled(app)
        type_into(app, "#registry", REGISTRY)
        await settle(pilot)
        assert next_enabled(app)


async def test_registry_check_asks_the_engine_how_it_reaches_the_registry(
    make_app: MakeApp,
) -> None:
    """On the Docker route the push goes through the engine: its insecure-registries (plain
    HTTP) decide how the wizard checks the registry too, not a guess of its own. The straight
    route (the default) never asks an engine."""
    host = REGISTRY.split("/", 1)[0]

    def engine_factory() -> FakeEngine:
        return FakeEngine(insecure_hosts=(host,))

    for via_docker in (False, True):
        domain = FixedDomain()
        app = make_app(domain=domain, engine_factory=engine_factory)
        async with app.run_test(size=SIZE) as pilot:
            await go_to_registry(pilot, app)
            if via_docker:
                app.screen.query_one("#route-docker", RadioButton).value = True
            type_into(app, "#registry", REGISTRY)
            await settle(pilot)
            await pilot.press("ctrl+n")  # Next checks the connection first
            await settle(pilot)
            assert app.state.via_docker is via_docker
            pushes = [r for r in domain.requests if isinstance(r, ImportRequest)]
            assert [r.via_docker for r in pushes] == [via_docker]
        assert ("registry_client", host, True if via_docker else None) in domain.requests


async def test_login_dialog_masks_and_keeps_credentials_in_memory(
    make_app: MakeApp, home: Path
) -> None:
    domain = FixedDomain(registry="auth")
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await go_to_registry(pilot, app)
        type_into(app, "#registry", REGISTRY)
        await settle(pilot)
        await pilot.press("ctrl+n")  # Next checks the connection first: 401
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CredentialsDialog)
        assert dialog.query_one("#password", Input).password
        type_into(app, "#username", "ops")
        type_into(app, "#password", "wrong")
        await pilot.click("#ok")
        await settle(pilot)
        assert isinstance(app.screen, CredentialsDialog)  # rejected: asked again, with why
        assert "did not accept the login for ops" in app.screen.reason
        type_into(app, "#password", "s3cret")
        await pilot.click("#ok")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, (PushScreen, SnippetScreen))
        assert app.state.credentials is not None
        assert app.state.credentials.password == "s3cret"
        for path in home.rglob("*"):
            if path.is_file():
                assert "s3cret" not in path.read_text(errors="replace")
        assert "s3cret" not in repr(app.state.credentials)


async def test_import_pushes_then_snippet_saves_and_copies(make_app: MakeApp, home: Path) -> None:
    domain = FixedDomain()
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await go_to_registry(pilot, app)
        type_into(app, "#registry", REGISTRY)
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, PushScreen)
        request = domain.requests[-1]
        assert request.registry == REGISTRY and request.bundle_dir == Path(BUNDLE)
        assert next_enabled(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnippetScreen)
        assert f'SECURE_ANALYZERS_PREFIX: "{REGISTRY}"' in screen.text
        await pilot.press("c")
        assert app.clipboard == screen.text
        await pilot.press("s")
        await settle(pilot)
        saved = home / "airgap-analyzers.gitlab-ci.yml"
        assert saved.read_text() == screen.text
        await pilot.press("s")  # exists: asks before replacing
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)


async def test_snippet_path_skips_estimate_and_bundle(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "2", "ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, RegistryScreen)
        type_into(app, "#registry", "registry.local:5000/analyzers")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnippetScreen)
        assert "registry.local:5000/analyzers" in screen.text
        assert "semgrep" in screen.text


async def test_quit_while_writing_asks_then_cancels(make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(hold=True))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e", "2", "ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        type_into(app, "#path", f"{USB}/airgap-bundle")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot, skip=("export",))
        write = app.screen
        assert isinstance(write, WriteScreen)
        await pilot.press("ctrl+q")
        await settle(pilot, skip=("export",))
        assert isinstance(app.screen, ConfirmDialog)
        assert app.is_running
        await pilot.press("y")
        await wait_for(pilot, lambda: write.token.cancelled)
    assert app.return_value == 130
