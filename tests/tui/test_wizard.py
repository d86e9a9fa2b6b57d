"""Pilot tests: navigation, validation and state of the wizard (fixed data from fakes.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.message import Message
from textual.widgets import Button, DataTable, Input, RadioButton, Select, Static, Switch

from airgap_tui.errors import RegistryError
from airgap_tui.events import STAGE_TAG
from airgap_tui.importer.run import ImportRequest
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.messages import DestinationChecked, EstimateDone, ExportDone
from airgap_tui.tui.profiles import Profile, load_profile, save_profile
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
from airgap_tui.tui.widgets.stage_board import StageBoard
from tests.tui.conftest import SIZE
from tests.tui.fakes import BUNDLE, USB, FakeEngine, FixedDomain
from tests.tui.helpers import (
    DEST,
    REGISTRY,
    TO_DESTINATION,
    TO_DONE,
    TO_ESTIMATE,
    TO_HELD_WRITE,
    TO_VERIFY,
    settle,
    wait_for,
    walk,
)

MakeApp = Callable[..., AirgapApp]


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
        await walk(pilot, "e")
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        assert not next_enabled(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen is screen  # Next is refused with nothing chosen
        await walk(pilot, "1")  # preset "default"
        presets = app.services.get_catalog().presets(18)
        assert screen.chosen_names() == presets["default"]
        assert next_enabled(app)
        await walk(pilot, "3")  # a second preset adds to the first, it does not replace it
        wanted = set(presets["default"]) | set(presets["secret-detection"])
        assert set(screen.chosen_names()) == wanted
        assert "gitlab-advanced-sast" not in wanted
        screen.listing.select("gitlab-advanced-sast")  # ticked by hand: kept by a preset too
        await walk(pilot, "1")
        assert "gitlab-advanced-sast" in screen.chosen_names()
        await walk(pilot, "x")
        assert screen.chosen_names() == []


async def test_typing_digits_in_the_tag_box_does_not_fire_presets(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "e")
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
        await walk(pilot, "e")
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        screen.query_one("#major", Select).value = 19  # no 19.x template checked: no tags
        await settle(pilot)
        screen.listing.select("semgrep")
        await settle(pilot)
        assert screen.missing_tags() == ["semgrep"]
        assert not next_enabled(app)
        assert "Type a tag for semgrep" in str(screen.query_one("#summary").render())


async def test_fips_switch_picks_fips_variants_and_profiles_keep_it(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e", "2")  # preset: sast
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        await pilot.click("#fips")
        await settle(pilot)
        assert app.state.fips
        tags = {s.analyzer: s.tag for s in screen.build_specs()}
        assert tags["semgrep"] == "6-fips" and tags["gitlab-advanced-sast"] == "2-fips"
        assert tags["spotbugs"] == "5"  # no FIPS variant: the plain image
        assert "semgrep:6-fips" in str(screen.query_one("#summary").render())
        await pilot.click("#fips")
        await settle(pilot)
        assert {s.tag for s in screen.build_specs()} & {"6-fips", "2-fips"} == set()
        screen.apply_profile(Profile("p", 18, {"semgrep": "6-fips", "kics": "5"}, fips=True))
        await settle(pilot)
        assert app.state.fips and screen.query_one("#fips", Switch).value
        assert app.state.tags == {"kics": "5"}  # 6-fips is the FIPS default, not an override
        assert [s.label for s in screen.build_specs()] == ["semgrep:6-fips", "kics:5"]


def test_profiles_keep_the_fips_choice(tmp_path: Path) -> None:
    save_profile(tmp_path, Profile("fips", 18, {"semgrep": "6-fips"}, fips=True))
    save_profile(tmp_path, Profile("plain", 18, {"semgrep": "6"}))
    assert load_profile(tmp_path, "fips").fips
    assert not load_profile(tmp_path, "plain").fips
    assert "fips" not in yaml.safe_load((tmp_path / "plain.yaml").read_text())


async def test_custom_images_are_validated_then_added(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "e")
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
        await walk(pilot, *TO_ESTIMATE)
        assert isinstance(app.screen, EstimateScreen)
        assert app.state.estimate is not None
        assert not next_enabled(app)
        totals = str(app.screen.query_one("#totals", Static).render())
        # the totals count the nine that resolved and say which one they leave out
        assert totals.startswith("9 images · Download ")
        assert "\nNot in these totals: secrets:7\n" in totals
        assert totals.count("6.10.0") == 1  # the tags that exist, once


class FailingEstimate(FixedDomain):
    def estimate(self, *args: Any, **kwargs: Any) -> Any:
        raise RegistryError(
            "Registry registry.gitlab.com", "it did not answer within 30 s", "Check the network"
        )


async def test_a_worker_failure_is_one_sentence_in_the_screen(make_app: MakeApp) -> None:
    app = make_app(domain=FailingEstimate())
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_ESTIMATE)
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
        await walk(pilot, *TO_DESTINATION)
        assert isinstance(app.screen, DestinationScreen)
        await walk(pilot, DEST)
        assert next_enabled(app) is fits
        await walk(pilot, "ctrl+n")  # waits for the (unheld) export too
        assert isinstance(app.screen, DoneScreen if fits else DestinationScreen)


async def test_cancel_asks_first_then_stops_the_writer(make_app: MakeApp) -> None:
    domain = FixedDomain(hold=True)
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_HELD_WRITE, skip=("export",))
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
        await walk(pilot, "e", "3")  # preset: secret-detection
        chosen = app.screen.chosen_names()  # type: ignore[attr-defined]
        await walk(pilot, "ctrl+n", "ctrl+n", DEST, "ctrl+n")
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
    await walk(pilot, *TO_VERIFY)
    assert isinstance(app.screen, VerifyScreen)
    await walk(pilot, "ctrl+n")
    assert isinstance(app.screen, RegistryScreen)


async def test_bad_part_stops_the_import_at_verify(make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(bad_parts=frozenset({"images.tar.002"})))
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_VERIFY)
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
        domain = FixedDomain(engine=engine_factory)
        app = make_app(domain=domain)
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
        await walk(pilot, "s", "2", "ctrl+n")
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
        await walk(pilot, *TO_HELD_WRITE, skip=("export",))
        write = app.screen
        assert isinstance(write, WriteScreen)
        await pilot.press("ctrl+q")
        await settle(pilot, skip=("export",))
        assert isinstance(app.screen, ConfirmDialog)
        assert app.is_running
        await pilot.press("y")
        await wait_for(pilot, lambda: write.token.cancelled)
    assert app.return_value == 130


async def test_the_source_is_shown_edited_validated_and_used(make_app: MakeApp) -> None:
    mirror = "harbor.example.com/gitlab/security-products"
    app = make_app(source_prefix=mirror)  # as `airgap-tui --source-prefix …` opens it
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "e", "1")
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        assert screen.query_one("#source", Input).value == mirror
        await walk(pilot, ("#source", "security-products"))  # a Docker Hub user, not a host
        assert "does not look like a registry host" in screen.error_text
        assert not next_enabled(app)
        await walk(pilot, ("#source", "nexus.example.com:8443/gitlab/"))
        assert screen.error_text == "" and next_enabled(app)
        assert app.state.source_prefix == "nexus.example.com:8443/gitlab"
        await walk(pilot, "ctrl+n")
        assert isinstance(app.screen, EstimateScreen)
        assert all(
            str(s.source).startswith("nexus.example.com:8443/gitlab/") for s in app.state.specs
        )


async def test_a_proxy_from_the_environment_is_said_on_screen(make_app: MakeApp) -> None:
    domain = FixedDomain(proxy=("HTTPS_PROXY", "http://proxy.example.com:3128"))
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "e")
        summary = str(app.screen.query_one("#summary").render())
        assert "Pulling through the proxy http://proxy.example.com:3128 (HTTPS_PROXY)" in summary


async def test_a_profile_brings_its_source_back(make_app: MakeApp, home: Path) -> None:
    profiles = home / ".config" / "airgap-tui" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "mirror.yaml").write_text(
        "version: 1\ngitlab_major: 18\nanalyzers: {secrets: '7'}\n"
        "source_prefix: nexus.example.com/gitlab\n"
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "e", "p", "enter")
        assert app.state.source_prefix == "nexus.example.com/gitlab"
        assert app.screen.query_one("#source", Input).value == "nexus.example.com/gitlab"


async def test_an_unreachable_source_is_said_once_and_never_as_missing(make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(unreachable=True))
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_ESTIMATE)
        screen = app.screen
        assert isinstance(screen, EstimateScreen) and screen.result is not None
        table = screen.query_one("#estimate-table", DataTable)
        statuses = {str(table.get_cell(i.spec.label, "status")) for i in screen.result.images}
        assert statuses == {"unreachable"}
        totals = str(screen.query_one("#totals", Static).render())
        assert totals.count("Can't reach registry.gitlab.com") == 1
        assert "MISSING" not in totals and "pick a tag" not in totals
        assert not next_enabled(app)
        # no bundle can be made: no sizes at all, not even the carried tool's
        assert totals.startswith("No totals: none of the 10 images could be sized.\n")
        assert "Download" not in totals and "on the media" not in totals.lower()
        assert "airgap-tui.pyz" not in totals


async def test_the_tag_stage_counts_every_image(make_app: MakeApp) -> None:
    """On the Docker route (the only one that tags), every image counts once."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await go_to_registry(pilot, app)
        app.screen.query_one("#route-docker", RadioButton).value = True
        await walk(pilot, ("#registry", REGISTRY), "ctrl+n")
        push = app.screen
        assert isinstance(push, PushScreen) and push.result is not None
        line = push.query_one("#stages", StageBoard).line(STAGE_TAG)
        assert line is not None and line.finished and line.ok
        assert str(line.stats.render()).startswith(f"✓ {len(push.targets())} ")
        assert len(push.targets()) == 3


async def test_workers_report_with_typed_messages(make_app: MakeApp) -> None:
    """Each worker posts one message type whose field holds its result (no kind + Any)."""
    seen: list[Message] = []
    app = make_app()
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await walk(pilot, *TO_DONE)
        assert isinstance(app.screen, DoneScreen)
    typed = (EstimateDone, DestinationChecked, ExportDone)
    results = list({id(m): m for m in seen if isinstance(m, typed)}.values())  # bubbled once
    assert [type(m) for m in results] == [EstimateDone, DestinationChecked, ExportDone]
    estimate, checked, export = results
    assert isinstance(estimate, EstimateDone) and estimate.estimate is app.state.estimate
    assert isinstance(checked, DestinationChecked) and checked.plan.usable
    assert isinstance(export, ExportDone) and export.result is app.state.export_result
    assert not any(type(m).__name__ == "WorkDone" for m in seen)


class Recording(FixedDomain):
    """Counts the calls that leave the process."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def connect_engine(self) -> FakeEngine:
        self.calls.append("engine")
        return super().connect_engine()

    def removable_drives(self) -> list[Any]:
        self.calls.append("drives")
        return super().removable_drives()

    def load_catalog(self) -> Any:
        self.calls.append("catalog")
        return super().load_catalog()


async def test_everything_outside_comes_through_the_one_services_object(
    make_app: MakeApp,
) -> None:
    domain = Recording()
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "e", "1")
        assert app.services.domain is domain
        assert {"engine", "drives", "catalog"} <= set(domain.calls)
        assert domain.calls.count("catalog") == 1  # loaded once, then kept by Services
        start = next(s for s in app.screen_stack if isinstance(s, StartScreen))
        engine_text = str(start.query_one("#host", Static).render())
        assert "Docker 27.3.1" in engine_text  # the injected engine's answer, not a real one


async def test_the_delta_dialog_picks_receipts_in_the_tree(make_app: MakeApp, home: Path) -> None:
    """The delta's files come from the same path picker as bundles (drives, a path, a tree),
    in a mode that lists JSON files: a file picked in the tree is added to those named."""
    from textual.widgets import DirectoryTree

    from airgap_tui.tui.screens.dialogs import DeltaDialog
    from airgap_tui.tui.widgets.dir_tree import ReceiptTree

    (home / "airgap-receipt-1.json").write_text("{}")
    (home / "airgap-receipt-2.json").write_text("{}")
    (home / "notes.txt").write_text("not a receipt")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_ESTIMATE)
        await pilot.press("d")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DeltaDialog)
        tree = dialog.query_one("#tree", ReceiptTree)
        shown = {p.name for p in tree.filter_paths(home.iterdir())}
        assert {"airgap-receipt-1.json", "airgap-receipt-2.json"} <= shown
        assert "notes.txt" not in shown
        for name in ("airgap-receipt-1.json", "airgap-receipt-2.json", "airgap-receipt-1.json"):
            tree.post_message(DirectoryTree.FileSelected(tree.root, home / name))
            await settle(pilot)
        field = dialog.query_one("#path", Input)
        assert field.value == f"{home / 'airgap-receipt-1.json'}, {home / 'airgap-receipt-2.json'}"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, EstimateScreen) and app.state.delta_from == []


async def test_an_unknown_major_gets_upstream_guesses_the_operator_takes_with_g(
    make_app: MakeApp,
) -> None:
    """GitLab 19: the catalog has no tags; the newest major tag upstream is proposed, marked as a
    guess, and used only once the operator presses g."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, "e")
        screen = app.screen
        assert isinstance(screen, AnalyzersScreen)
        screen.query_one("#major", Select).value = 19
        await settle(pilot)
        await wait_for(pilot, lambda: bool(screen.model.guesses))
        screen.listing.select("semgrep")
        await settle(pilot)
        summary = str(screen.query_one("#summary").render())
        assert "Type a tag for semgrep" in summary
        assert "Press g" in summary and "semgrep:6" in summary and "guess" in summary
        assert not next_enabled(app)
        await pilot.press("g")
        await settle(pilot)
        assert app.state.tags["semgrep"] == "6"  # the fake registry's newest major tag
        assert screen.missing_tags() == []
        assert next_enabled(app)
        assert screen.selection() == ["semgrep:6"]
