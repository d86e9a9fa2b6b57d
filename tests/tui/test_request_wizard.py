"""The wizard's request paths (issue 16): on the offline host "Make a request for the connected
host" reads GitLab's real templates (a copied directory, or an instance's API through the
stand-in) and writes the same request `airgap-tui request` writes; on the connected host
"Prepare a bundle" opens that request with the path picker and carries what it names."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RadioButton, SelectionList, Switch

from airgap_tui.catalog.request import select_images
from airgap_tui.catalog.template_snippet import render_template_snippet
from airgap_tui.catalog.templates import images_from_templates, read_templates_dir
from airgap_tui.cli.commands import main
from airgap_tui.delta.inventory import Inventory, RepositoryEntry, TagEntry
from airgap_tui.events import CancelToken, ProgressCallback
from airgap_tui.models import Credentials
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.request_open import RequestDialog
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.request_missing import RequestMissingScreen
from airgap_tui.tui.screens.request_source import RequestSourceScreen
from airgap_tui.tui.screens.request_write import RequestWriteScreen
from airgap_tui.tui.screens.snippet import SnippetScreen
from airgap_tui.tui.screens.start import StartScreen
from tests.harness.gitlab_api import GitLabStandIn, Project
from tests.tui.conftest import SIZE, SMALL
from tests.tui.fakes import FixedDomain
from tests.tui.helpers import settle, wait_for

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates" / "17"
TOKEN = "glpat-wizard-stand-in-4711"
REGISTRY = "registry.local:5000/analyzers"
DIGEST = "sha256:" + "ab" * 32
LAYER = "sha256:" + "cd" * 32

MakeApp = Callable[..., AirgapApp]


def without_time(data: dict[str, Any]) -> dict[str, Any]:
    """A request minus when it was written (the only field two runs may differ in)."""
    return {k: v for k, v in data.items() if k != "written"}


def cli_request(out: Path, *args: str) -> dict[str, Any]:
    assert main(["request", *args, "--out", str(out)]) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data


class WithRegistry(FixedDomain):
    """The offline registry holds semgrep:5 (and nothing else) under analyzers/."""

    def registry_inventory(
        self,
        registry: str,
        *,
        credentials: Credentials | None,
        ca_file: Path | None,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> Inventory:
        return Inventory(
            registry=registry,
            taken="2026-12-01T08:00:00Z",
            repositories=[RepositoryEntry("analyzers/semgrep", [TagEntry("5", DIGEST)])],
            blobs={DIGEST: 1_024, LAYER: 52_428_800},
        )


async def to_missing(pilot: Pilot[Any], templates: Path, *, fips: bool = False) -> None:
    """Start › m, a templates directory, Read templates."""
    app = pilot.app
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    assert isinstance(app.screen, RequestSourceScreen)
    app.screen.query_one("#path", Input).value = str(templates)
    if fips:
        app.screen.query_one("#request-fips", Switch).value = True
    await settle(pilot)
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, RequestMissingScreen))
    await settle(pilot)


async def write_to(pilot: Pilot[Any], directory: Path) -> Path:
    """What is missing › Next, then the request into `directory`."""
    app = pilot.app
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, RequestWriteScreen))
    screen = app.screen
    assert isinstance(screen, RequestWriteScreen)
    screen.query_one("#path", Input).value = str(directory)
    await settle(pilot)
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen.draft.written is not None)
    written = screen.draft.written
    assert written is not None
    return written


async def test_a_request_from_a_templates_directory_is_the_one_the_cli_writes(
    make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await to_missing(pilot, TEMPLATES, fips=True)
        screen = app.screen
        assert isinstance(screen, RequestMissingScreen)
        table = screen.query_one("#missing-table", DataTable)
        assert table.row_count == len(screen.draft.images) > 5
        choices = screen.query_one("#opt-in", SelectionList)
        assert "SCAN_KUBERNETES_MANIFESTS" in [
            choices.get_option_at_index(i).value for i in range(choices.option_count)
        ]
        choices.select("SCAN_KUBERNETES_MANIFESTS")
        await settle(pilot)
        written = await write_to(pilot, tmp_path / "usb")
        assert written == tmp_path / "usb" / "airgap-request.json"
        # Next now starts over: the request is on the stick.
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))

    wizard = json.loads(written.read_text())
    cli = cli_request(
        tmp_path / "cli.json",
        "--templates", str(TEMPLATES), "--fips", "--opt-in", "SCAN_KUBERNETES_MANIFESTS",
    )  # fmt: skip
    assert without_time(wizard) == without_time(cli)
    assert wizard["fips"] is True
    names = {(i["name"], i["opt_in"]) for i in wizard["images"]}
    assert ("kubesec", "SCAN_KUBERNETES_MANIFESTS") in names
    assert all(i["opt_in"] != "GITLAB_ADVANCED_SAST_ENABLED" for i in wizard["images"])


@pytest.fixture
def gitlab() -> Iterator[GitLabStandIn]:
    with GitLabStandIn(
        TEMPLATES,
        version="17.11.3-ee",
        tokens={TOKEN: frozenset({"read_api"})},
        projects=[Project(4, "security/scans", members=frozenset({TOKEN}))],
    ) as stand_in:
        yield stand_in


async def from_gitlab(pilot: Pilot[Any], url: str, token: str) -> None:
    app = pilot.app
    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    app.screen.query_one("#from-url", RadioButton).value = True
    await settle(pilot)
    app.screen.query_one("#gitlab-url", Input).value = url
    app.screen.query_one("#token", Input).value = token
    await settle(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot)


async def test_a_request_from_a_gitlab_url_matches_the_cli_and_keeps_no_token(
    make_app: MakeApp, gitlab: GitLabStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await from_gitlab(pilot, gitlab.url, TOKEN)
        await wait_for(pilot, lambda: isinstance(app.screen, RequestMissingScreen))
        draft = app.state.request
        assert draft is not None and draft.version == "17.11.3-ee"
        assert TOKEN not in repr(app.state)  # only the masked field held it
        written = await write_to(pilot, tmp_path / "usb")

    text = written.read_text()
    assert TOKEN not in text
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    cli = cli_request(tmp_path / "cli.json", "--gitlab-url", gitlab.url)
    wizard = json.loads(text)
    assert without_time(wizard) == without_time(cli)
    assert wizard["gitlab_version"] == "17.11.3-ee"
    assert wizard["source"] == f"gitlab-api {gitlab.url}"
    assert {s.token for s in gitlab.seen} == {TOKEN}  # sent, as a header, and nowhere else


async def test_a_wrong_token_is_one_sentence_and_the_wizard_stays(
    make_app: MakeApp, gitlab: GitLabStandIn
) -> None:
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await from_gitlab(pilot, gitlab.url, "glpat-not-this-one")
        screen = app.screen
        assert isinstance(screen, RequestSourceScreen)
        await wait_for(pilot, lambda: bool(screen.error_text))
        assert "rejected the token (HTTP 401)" in screen.error_text
        assert "glpat-not-this-one" not in screen.error_text
        assert screen.can_go_next()  # fix the token and try again


async def test_a_templates_directory_that_is_not_one(make_app: MakeApp, tmp_path: Path) -> None:
    (tmp_path / "Jobs").mkdir()
    (tmp_path / "Jobs" / "SAST.gitlab-ci.yml").write_text("variables: [unclosed\n")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#path", Input).value = str(tmp_path)
        await settle(pilot)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: bool(screen.error_text))
        assert app.screen is screen
        assert "Jobs/SAST.gitlab-ci.yml" in screen.error_text


async def test_what_is_missing_then_prepare_a_bundle_from_that_request(
    make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(domain=WithRegistry())
    async with app.run_test(size=SIZE) as pilot:
        await to_missing(pilot, TEMPLATES)
        screen = app.screen
        assert isinstance(screen, RequestMissingScreen)
        screen.query_one("#registry", Input).value = REGISTRY
        await settle(pilot)
        assert not screen.can_go_next()  # typed but not checked: no claim about the registry
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.missing is not None)
        rows = screen.query_one("#missing-table", DataTable)
        status = {
            str(rows.get_row_at(i)[0]): str(rows.get_row_at(i)[1]) for i in range(rows.row_count)
        }
        assert status["semgrep:5"] == "present"
        assert status["spotbugs:5"] == "missing"
        assert status["kubesec:5"] == "opt-in, not asked"
        written = await write_to(pilot, tmp_path / "usb")
        data = json.loads(written.read_text())
        assert data["inventory"]["registry"] == REGISTRY

        # The registry is known: the CI snippet, built from the templates themselves.
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, SnippetScreen))
        snippet = app.screen
        assert isinstance(snippet, SnippetScreen)
        sources = read_templates_dir(TEMPLATES)
        requested, _ = select_images(images_from_templates(sources))
        assert snippet.text == render_template_snippet(REGISTRY, sources, requested)
        assert f'CS_ANALYZER_IMAGE: "{REGISTRY}/container-scanning:7"' in snippet.text

        # The connected host: Prepare a bundle › o › the request.
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AnalyzersScreen))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestDialog))
        app.screen.query_one("#path", Input).value = str(written)
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EstimateScreen))
        labels = [spec.label for spec in app.state.specs]
        under = sorted({f"{i['name']}:{i['tag']}" for i in data["images"] if i["under_prefix"]})
        assert sorted(labels) == under
        assert app.state.delta_from == [written]  # only what the offline registry lacks
        assert app.state.request_file == written


async def test_a_hostile_request_file_is_refused_in_one_sentence(
    make_app: MakeApp, tmp_path: Path
) -> None:
    hostile = tmp_path / "request.json"
    hostile.write_text('{"kind": "airgap-tui request", "version": 1, "images": 7}')
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AnalyzersScreen))
        screen = app.screen
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestDialog))
        app.screen.query_one("#path", Input).value = str(hostile)
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen and bool(screen.error_text))
        assert f"Request file {hostile}" in screen.error_text
        assert app.state.specs == []
