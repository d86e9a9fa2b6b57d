"""The request loop in the wizard against a real registry (the native one, tests/harness/native.py):
GitLab's real 18.x templates, the registry's real inventory on "What is missing", the request
written with it, then on the connected side "Prepare a bundle" opens that request and the
estimate plans a delta against the inventory inside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.request_open import RequestDialog
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.request_missing import RequestMissingScreen
from airgap_tui.tui.screens.request_source import RequestSourceScreen
from airgap_tui.tui.screens.request_write import RequestWriteScreen
from airgap_tui.tui.screens.snippet import SnippetScreen
from airgap_tui.tui.screens.start import StartScreen
from airgap_tui.tui.services import Services
from tests.harness.native import NativeUpstream
from tests.tui.conftest import SIZE
from tests.tui.helpers import NoEngine, settle, settle_until, wait_for

pytestmark = pytest.mark.integration

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates" / "18"


async def test_a_request_with_the_registry_s_inventory_makes_the_bundle_a_delta(
    native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    registry = native_upstream.prefix  # 127.0.0.1:PORT/security-products
    services = Services(domain=NoEngine(), home=home, receipt_dir=tmp_path / "receipts")
    app = AirgapApp(services, source_prefix=native_upstream.prefix, gitlab_major=18)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestSourceScreen))
        app.screen.query_one("#path", Input).value = str(TEMPLATES)
        await settle(pilot)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestMissingScreen))
        missing = app.screen
        assert isinstance(missing, RequestMissingScreen)
        missing.query_one("#registry", Input).value = registry
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle_until(pilot, lambda: missing.missing is not None, what="the inventory")
        rows = missing.query_one("#missing-table", DataTable)
        status = {
            str(rows.get_row_at(i)[0]): str(rows.get_row_at(i)[1]) for i in range(rows.row_count)
        }
        assert status["semgrep:6"] == "present"  # seeded in the registry
        assert status["kics:6"] == "present"
        assert status["pmd-apex:6"] == "missing"  # the templates want it; the registry lacks it

        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestWriteScreen))
        writer = app.screen
        assert isinstance(writer, RequestWriteScreen)
        writer.query_one("#path", Input).value = str(tmp_path / "usb")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle_until(pilot, lambda: writer.draft.written is not None, what="the request")
        written = writer.draft.written
        assert written is not None
        data = json.loads(written.read_text())
        repositories = {r["name"] for r in data["inventory"]["repositories"]}
        assert "security-products/semgrep" in repositories

        await pilot.press("ctrl+n")  # the snippet, for the registry just checked
        await wait_for(pilot, lambda: isinstance(app.screen, SnippetScreen))
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))

        # The connected host: Prepare a bundle › o › the request; the estimate plans the delta.
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AnalyzersScreen))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestDialog))
        app.screen.query_one("#path", Input).value = str(written)
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EstimateScreen))
        await settle_until(pilot, lambda: app.state.delta is not None, what="the delta")
        delta = app.state.delta
        assert delta is not None
        assert delta.delta.kind == "inventory"
        assert delta.saved_bytes > 0  # semgrep and kics are already offline
        assert delta.delta_bytes < delta.full_bytes
