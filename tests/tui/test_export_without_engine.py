"""The wizard's connected-side path with no Docker engine at all: Start -> analyzers ->
estimate -> destination -> write -> done, against the native registry (real HTTP, real media)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from airgap_tui.bundle_manifest import read_manifest
from airgap_tui.engine import Engine
from airgap_tui.errors import EngineError
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.destination import DestinationScreen
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.start import StartScreen
from airgap_tui.tui.widgets.fingerprint import Fingerprint
from airgap_tui.verify import verify_bundle
from tests.harness.native import NativeUpstream
from tests.tui.conftest import SIZE
from tests.tui.helpers import settle, settle_until, type_text


def no_engine() -> Engine:
    raise EngineError("Docker engine at unix:///nonexistent", "it is not reachable", "Start Docker")


async def test_the_connected_side_needs_no_engine(
    native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    dest = tmp_path / "usb" / "airgap-bundle"
    app = AirgapApp(
        engine_factory=no_engine,
        drives=lambda: [],
        source_prefix=native_upstream.prefix,
        gitlab_major=18,
        home=home,
        receipt_dir=tmp_path / "receipts",
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        await settle_until(
            pilot,
            lambda: "not reachable" in str(app.screen.query_one("#engine", Static).content),
            what="the engine check",
        )
        assert "Export, verify and the CI snippet work without an engine" in str(
            app.screen.query_one("#engine", Static).content
        )
        await pilot.press("e")
        await settle(pilot)
        choose = app.screen
        assert isinstance(choose, AnalyzersScreen)
        await pilot.press("3", "space")  # preset 3 (secret detection), then tick semgrep
        await settle(pilot)
        assert choose.chosen_names() == ["semgrep", "secrets"]
        await pilot.press("ctrl+n")
        await settle(pilot)
        estimate = app.screen
        assert isinstance(estimate, EstimateScreen)
        await settle_until(pilot, lambda: estimate.result is not None, what="the estimate")
        assert estimate.result is not None and estimate.result.ok
        expected_bytes = estimate.result.bundle_bytes
        await pilot.press("ctrl+n")
        await settle(pilot)
        destination = app.screen
        assert isinstance(destination, DestinationScreen)
        await type_text(pilot, "#path", str(dest))
        await settle_until(
            pilot,
            lambda: destination.checked is not None and destination.checked.path == dest,
            what="the destination is checked",
        )
        await pilot.press("ctrl+n")
        await settle_until(
            pilot, lambda: isinstance(app.screen, DoneScreen), what="the bundle is written"
        )
        fingerprint = app.screen.query_one("#fingerprint", Fingerprint).full
    report = verify_bundle(dest)
    assert report.ok, report.problems
    manifest = read_manifest(dest)
    assert fingerprint == manifest.fingerprint
    assert manifest.total_bytes == expected_bytes  # the estimate the wizard showed, exactly
    assert [i.digest for i in manifest.images] == [
        native_upstream.image("semgrep").digest,
        native_upstream.image("secrets").digest,
    ]
