"""The wizard's "make a delta against a receipt or inventory" (issue 10), on the native registry:
the Estimate step shows full and delta size before anything is written, the Destination checks
the delta's size, and the bundle written is that delta; a hostile file is refused in one
sentence and blocks Next."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Checkbox, Input, Static

from airgap_tui import __version__
from airgap_tui.bundle.manifest import TOOL_FILE
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.dialogs import DeltaDialog
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.import_bundle import ImportBundleScreen
from airgap_tui.tui.screens.verify import VerifyScreen
from airgap_tui.tui.services import Services
from tests.harness.native import NativeUpstream
from tests.tui.conftest import SIZE
from tests.tui.helpers import NoEngine, settle, settle_until, to_checked_destination, type_text


def _receipt_of(upstream: NativeUpstream, name: str, path: Path) -> Path:
    """A receipt as `import` writes it, saying `name` (linux/amd64) is in registry.local."""
    image = upstream.image(name)
    blobs = [{"digest": b.digest, "size": b.size} for b in image.blobs(["linux/amd64"])]
    record = {
        "kind": "airgap-tui import receipt",
        "registry": "registry.local:5000/analyzers",
        "ok": True,
        "images": [{"name": image.name, "tag": image.tag, "ok": True, "blobs": blobs}],
    }
    path.write_text(json.dumps(record))
    return path


async def test_the_wizard_makes_a_delta_and_shows_the_saving_first(
    native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    dest = tmp_path / "usb" / "airgap-bundle"
    receipt = _receipt_of(native_upstream, "semgrep", tmp_path / "receipt.json")
    hostile = tmp_path / "hostile.json"
    hostile.write_text('{"kind": "airgap-tui import receipt", "registry": 5}')
    services = Services(domain=NoEngine(), home=home, receipt_dir=tmp_path / "receipts")
    app = AirgapApp(services, source_prefix=native_upstream.prefix, gitlab_major=18)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("3", "space")  # secret detection, then tick semgrep
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        estimate = app.screen
        assert isinstance(estimate, EstimateScreen)
        await settle_until(pilot, lambda: estimate.result is not None, what="the estimate")
        assert estimate.result is not None and estimate.result.ok
        full_bytes = estimate.result.bundle_bytes

        # A hostile file: one sentence in the error banner, and no way on.
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DeltaDialog)
        await type_text(pilot, "#path", str(hostile))
        await pilot.press("enter")
        await settle_until(pilot, lambda: bool(estimate.error_text), what="the refusal")
        assert str(hostile) in estimate.error_text and "registry" in estimate.error_text
        assert not estimate.can_go_next()

        # A missing path is caught by the dialog itself.
        await pilot.press("d")
        await settle(pilot)
        await type_text(pilot, "#path", str(tmp_path / "nope.json"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DeltaDialog)
        assert "is not a file" in str(app.screen.query_one("#delta-problem", Static).content)

        await type_text(pilot, "#path", str(receipt))
        await pilot.press("enter")
        await settle_until(pilot, lambda: app.state.delta is not None, what="the delta plan")
        delta = app.state.delta
        assert delta is not None and not estimate.error_text
        assert delta.full_bytes == full_bytes and 0 < delta.delta_bytes < full_bytes
        totals = str(estimate.query_one("#totals", Static).content)
        assert "Delta" in totals and "saves" in totals and "against the receipt" in totals
        assert estimate.can_go_next()

        destination = await to_checked_destination(pilot, dest)
        assert destination.checked is not None
        assert estimate.result is not None
        tool_bytes = estimate.result.tool_bytes
        assert tool_bytes > 0
        # the delta's parts and the carried tool, not the full bundle
        assert destination.checked.info.needed == delta.delta_bytes + tool_bytes
        assert destination.query_one("#path", Input).value == str(dest)
        await pilot.press("ctrl+n")
        await settle_until(
            pilot, lambda: isinstance(app.screen, DoneScreen), what="the bundle is written"
        )
    manifest = read_manifest(dest)
    assert manifest.delta is not None and manifest.delta.kind == "receipt"
    assert manifest.total_bytes == delta.delta_bytes  # what the wizard showed, exactly
    semgrep_layers = {
        layer.digest for m in native_upstream.image("semgrep").manifests for layer in m.layers
    }
    assert {b.digest for b in manifest.delta.expected} == semgrep_layers

    # On the offline side the Verify step checks it like any bundle and says it is a delta.
    offline = AirgapApp(Services(domain=NoEngine(), home=home, receipt_dir=tmp_path / "r"))
    async with offline.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        choose = offline.screen
        assert isinstance(choose, ImportBundleScreen)
        await type_text(pilot, "#path", str(dest))
        await settle_until(pilot, lambda: choose.manifest is not None, what="the bundle is read")
        await pilot.press("ctrl+n")
        await settle(pilot)
        verify = offline.screen
        assert isinstance(verify, VerifyScreen)
        await settle_until(pilot, lambda: verify.report is not None, what="the verification")
        shown = str(verify.query_one("#verify-result", Static).content)
        assert "parts match" in shown or "part matches" in shown
        assert f"Delta bundle against a receipt ({manifest.delta.against[:12]})" in shown
        assert "3 layers already in the target registry" in shown


async def test_a_delta_whose_offline_host_runs_this_tool_leaves_it_out_of_the_sizes(
    native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    """The receipt names the airgap-tui that did the import (this version, installed): the
    estimate, the Destination's check and the bundle all go without airgap-tui.pyz (issue 22)."""
    receipt = _receipt_of(native_upstream, "semgrep", tmp_path / "receipt.json")
    record = json.loads(receipt.read_text())
    receipt.write_text(json.dumps({**record, "tool_version": __version__, "tool_sha256": None}))
    dest = tmp_path / "usb" / "airgap-bundle"
    home = tmp_path / "home"
    home.mkdir()
    services = Services(domain=NoEngine(), home=home, receipt_dir=tmp_path / "receipts")
    app = AirgapApp(services, source_prefix=native_upstream.prefix, gitlab_major=18)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("3", "space", "ctrl+n")
        await settle(pilot)
        estimate = app.screen
        assert isinstance(estimate, EstimateScreen)
        await settle_until(pilot, lambda: estimate.result is not None, what="the estimate")
        await pilot.press("d")
        await settle(pilot)
        await type_text(pilot, "#path", str(receipt))
        await pilot.press("enter")
        await settle_until(pilot, lambda: app.state.delta is not None, what="the delta plan")
        delta = app.state.delta
        assert delta is not None and delta.delta.tool is not None
        assert app.state.bundle_bytes == delta.delta_bytes  # no tool counted
        label = str(estimate.query_one("#carry-tool", Checkbox).label)
        assert f"not needed, the offline host runs airgap-tui {__version__}" in label
        destination = await to_checked_destination(pilot, dest)
        assert destination.checked is not None
        assert destination.checked.info.needed == delta.delta_bytes
        await pilot.press("ctrl+n")
        await settle_until(
            pilot, lambda: isinstance(app.screen, DoneScreen), what="the bundle is written"
        )
    manifest = read_manifest(dest)
    assert manifest.tool is None and not (dest / TOOL_FILE).exists()
    assert manifest.delta is not None and manifest.delta.tool is not None
