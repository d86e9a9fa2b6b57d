"""Snapshots of the request screens at 120x40 and 80x24, on fixed data: GitLab's real 17.x
templates (tests/fixtures/gitlab-templates/17) read from wherever the operator points, a fixed
registry inventory, and no file written (test_request_wizard.py writes and reads real ones).
Update after a reviewed change: pytest --snapshot-update."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from airgap_tui.catalog.templates import read_templates_dir
from airgap_tui.delta.inventory import Inventory, RepositoryEntry, TagEntry
from airgap_tui.events import CancelToken, ProgressCallback
from airgap_tui.gitlab.api import InstanceTemplates
from airgap_tui.models import Credentials
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.request_draft import RequestDraft
from tests.tui.conftest import SIZE, SMALL
from tests.tui.fakes import USB, FixedDomain
from tests.tui.helpers import Action, still, walk

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates" / "17"
REGISTRY = "registry.local:5000/analyzers"
MakeApp = Callable[..., AirgapApp]


class RequestDomain(FixedDomain):
    """The 17.x templates whatever directory or URL is given; semgrep:5 in the registry."""

    def read_templates_dir(self, root: Path) -> dict[str, str]:
        return read_templates_dir(TEMPLATES)

    def fetch_templates(
        self, url: str, *, token: str | None, ca_file: Path | None
    ) -> InstanceTemplates:
        return InstanceTemplates("17.11.3-ee", read_templates_dir(TEMPLATES), url, "security/a")

    def registry_inventory(
        self,
        registry: str,
        *,
        credentials: Credentials | None,
        ca_file: Path | None,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> Inventory:
        digest = "sha256:" + "ab" * 32
        return Inventory(
            registry, "2026-12-01T08:00:00Z",
            [RepositoryEntry("analyzers/semgrep", [TagEntry("5", digest)])], {digest: 1_024},
        )  # fmt: skip

    def write_request_draft(self, draft: RequestDraft, path: Path) -> str:
        self.request_data(draft)  # built as for real; the stick is not there to write on
        return "0" * 64


Steps = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(params=[SIZE, SMALL], ids=["120x40", "80x24"])
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    value: tuple[int, int] = request.param
    return value


@pytest.fixture
def snap(snap_compare: Any, size: tuple[int, int]) -> Callable[..., bool]:
    def take(app: AirgapApp, *actions: Action | Mapping[str, str]) -> bool:
        async def run(pilot: Pilot[Any]) -> None:
            for action in actions:
                if isinstance(action, Mapping):  # {"click": selector}
                    await pilot.click(action["click"])
                    await walk(pilot)
                else:
                    await walk(pilot, action)
            still(pilot)

        return bool(snap_compare(app, terminal_size=size, run_before=run))

    return take


Snap = Callable[..., bool]
TO_MISSING: tuple[Action, ...] = ("m", ("#path", f"{USB}/templates"), "ctrl+n")


def test_request_templates_directory(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(domain=RequestDomain()), "m", ("#path", f"{USB}/templates"))


def test_request_gitlab_url(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=RequestDomain())
    url = ("#gitlab-url", "https://gitlab.example.com")
    assert snap(app, "m", {"click": "#from-url"}, url, ("#token", "glpat-not-shown"))


def test_request_what_is_missing(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=RequestDomain())
    assert snap(app, *TO_MISSING, ("#registry", REGISTRY), "ctrl+t")


def test_request_written(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=RequestDomain())
    steps = (*TO_MISSING, ("#registry", REGISTRY), "ctrl+t", "ctrl+n", ("#path", USB), "ctrl+n")
    assert snap(app, *steps)


def test_prepare_a_bundle_open_request(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=RequestDomain())
    assert snap(app, "e", "o", ("#path", f"{USB}/airgap-request.json"))


def test_request_snippet_from_the_templates(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=RequestDomain())
    steps = (*TO_MISSING, ("#registry", REGISTRY), "ctrl+t", "ctrl+n", ("#path", USB), "ctrl+n")
    assert snap(app, *steps, "ctrl+n")
