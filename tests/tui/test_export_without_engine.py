"""The wizard's connected-side path with no Docker engine at all: Start -> analyzers ->
estimate -> destination -> write -> done, against the native registry (real HTTP, real media),
and the CLI's export of the same selection writes the same bundle, byte for byte."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from textual.widgets import Static

from airgap_tui.bundle.schema import read_manifest
from airgap_tui.bundle.verify import verify_bundle
from airgap_tui.cli.commands import main as cli_main
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.start import StartScreen
from airgap_tui.tui.services import Services
from airgap_tui.tui.widgets.fingerprint import Fingerprint
from tests.harness.native import NativeUpstream
from tests.tui.conftest import SIZE
from tests.tui.helpers import NoEngine, settle, settle_until, to_checked_destination


async def test_the_connected_side_needs_no_engine(
    native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    dest = tmp_path / "usb" / "airgap-bundle"
    services = Services(domain=NoEngine(), home=home, receipt_dir=tmp_path / "receipts")
    app = AirgapApp(services, source_prefix=native_upstream.prefix, gitlab_major=18)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        await settle_until(
            pilot,
            lambda: "no engine answers" in str(app.screen.query_one("#host", Static).content),
            what="the engine check",
        )
        host = str(app.screen.query_one("#host", Static).content)
        assert "Straight to a registry: no Docker needed" in host
        assert "Load into Docker: optional" in host
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
        await to_checked_destination(pilot, dest)
        await pilot.press("ctrl+n")
        await settle_until(
            pilot, lambda: isinstance(app.screen, DoneScreen), what="the bundle is written"
        )
        fingerprint = app.screen.query_one("#fingerprint", Fingerprint).full
        tool_shown = app.screen.query_one("#fingerprint", Fingerprint).tool
    report = verify_bundle(dest)
    assert report.ok, report.problems
    manifest = read_manifest(dest)
    assert fingerprint == manifest.fingerprint
    # the wizard carried the tool, verified like a part, its sha256 shown beside the fingerprint
    assert manifest.tool is not None and report.tool_ok is True
    assert tool_shown == manifest.tool.sha256
    assert manifest.total_bytes == expected_bytes  # the estimate the wizard showed, exactly
    assert [i.digest for i in manifest.images] == [
        native_upstream.image("semgrep").digest,
        native_upstream.image("secrets").digest,
    ]

    # The CLI, given the same selection as names, writes the very same bundle.
    cli_dest = tmp_path / "usb" / "from-cli"
    argv = ["export", "semgrep", "secrets", "--source-prefix", native_upstream.prefix]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli_main([*argv, "--gitlab", "18", "--to", str(cli_dest)]) == 0, out.getvalue()
    from_cli = read_manifest(cli_dest)
    assert from_cli.fingerprint == fingerprint
    assert [p.to_dict() for p in from_cli.parts] == [p.to_dict() for p in manifest.parts]
