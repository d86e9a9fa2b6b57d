"""The wizard's side of issue 20: the fingerprint carried apart from the stick is compared on
Verify (match or mismatch, large; a mismatch stops there), the signer is shown on Choose bundle
and Verify, Destination takes a signing key, and Done says how to carry the fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.widgets import Button, Input, Static

from airgap_tui.bundle.manifest import format_fingerprint
from airgap_tui.importer.run import ImportRequest
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.destination import DestinationScreen
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.import_bundle import ImportBundleScreen
from airgap_tui.tui.screens.verify import VerifyScreen
from tests.tui.conftest import SIZE
from tests.tui.fakes import SIGNER, CheckingDomain, FixedDomain, SignedDomain
from tests.tui.helpers import (
    DEST,
    REGISTRY,
    TO_DESTINATION,
    TO_IMPORT,
    TO_PUSH,
    TO_VERIFY,
    settle,
    walk,
)

MakeApp = Callable[..., AirgapApp]


def next_enabled(app: AirgapApp) -> bool:
    return not app.screen.query_one("#next", Button).disabled


def text(app: AirgapApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


async def test_verify_says_match_or_mismatch_for_the_fingerprint_carried(
    make_app: MakeApp,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_VERIFY)
        screen = app.screen
        assert isinstance(screen, VerifyScreen) and screen.report is not None
        verdict = screen.query_one("#carried-verdict", Static)
        assert not verdict.display  # nothing typed: nothing claimed
        assert "Signature: not signed" in text(app, "#signer")

        short = format_fingerprint(screen.report.fingerprint)
        await walk(pilot, ("#carried", short))
        assert verdict.display and verdict.has_class("-match")
        assert "MATCH" in text(app, "#carried-verdict") and next_enabled(app)

        await walk(pilot, ("#carried", "0000 0000 0000 0000 0000 0000"))
        assert verdict.has_class("-mismatch") and not verdict.has_class("-match")
        assert "MISMATCH" in text(app, "#carried-verdict")
        assert "Do not import" in text(app, "#carried-verdict")
        assert not next_enabled(app)
        await walk(pilot, "ctrl+n")
        assert app.screen is screen  # nothing is pushed past a mismatch

        await walk(pilot, ("#carried", "12 34"))  # not a fingerprint: said, not judged
        assert "hex digits" in text(app, "#carried-verdict") and next_enabled(app)


async def test_the_signer_is_shown_on_choose_bundle_and_verify(make_app: MakeApp) -> None:
    app = make_app(domain=SignedDomain())
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_IMPORT)
        assert isinstance(app.screen, ImportBundleScreen)
        assert f"Signature: signed by ssh-ed25519 key {SIGNER.key_fingerprint}" in text(
            app, "#bundle-info"
        )
        await walk(pilot, "ctrl+n")
        assert isinstance(app.screen, VerifyScreen)
        shown = text(app, "#signer")
        assert "exporter@connected" in shown and SIGNER.key_fingerprint in shown
        assert "checked" in shown


async def test_destination_takes_a_signing_key_and_done_says_how_to_carry_the_fingerprint(
    make_app: MakeApp, home: Path
) -> None:
    domain = FixedDomain()
    app = make_app(domain=domain)
    key = home / "id_ed25519"
    key.write_text("not really a key: the fixed domain does not sign\n")
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_DESTINATION, DEST, ("#sign-key", str(home / "missing")), "ctrl+n")
        assert isinstance(app.screen, DestinationScreen)
        assert "no such file" in app.screen.error_text

        await walk(pilot, ("#sign-key", str(key)), "ctrl+n")
        await settle(pilot)
        requests = [r for r in domain.requests if hasattr(r, "sign_key")]
        assert requests and requests[-1].sign_key == key  # type: ignore[attr-defined]
        assert isinstance(app.screen, DoneScreen)
        steps = text(app, "#next-steps")
        assert "Carry the fingerprint above apart from the stick" in steps
        assert "Verify screen" in steps and "--expect-fingerprint" in steps


async def _submit_signers(pilot: Any, path: Path) -> None:
    await walk(pilot, ("#allowed-signers", str(path)))
    pilot.app.screen.query_one("#allowed-signers", Input).focus()
    await walk(pilot, "enter")


async def test_an_allowed_signers_file_is_checked_on_verify_and_import_checks_it_again(
    make_app: MakeApp, home: Path
) -> None:
    good = home / "allowed_signers"
    domain = CheckingDomain(good)
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_VERIFY)
        screen = app.screen
        assert isinstance(screen, VerifyScreen)

        await walk(pilot, ("#allowed-signers", str(good)))
        assert "Press Enter to check" in text(app, "#signer")
        assert not next_enabled(app)  # typed, not checked: nothing goes on yet

        await _submit_signers(pilot, home / "other_signers")
        signer = screen.query_one("#signer", Static)
        assert signer.has_class("-mismatch") and not next_enabled(app)
        assert "does not list" in text(app, "#signer") and "Nothing is pushed" in text(
            app, "#signer"
        )
        await walk(pilot, "ctrl+n")
        assert app.screen is screen

        await _submit_signers(pilot, good)
        assert signer.has_class("-match") and not signer.has_class("-mismatch")
        assert "exporter@connected" in text(app, "#signer") and "checked" in text(app, "#signer")
        assert next_enabled(app) and domain.checked[-1] == good

        short = format_fingerprint(screen.report.fingerprint) if screen.report else ""
        await walk(pilot, ("#carried", short), "ctrl+n", ("#registry", REGISTRY), "ctrl+n")
        await settle(pilot)
        pushed = [r for r in domain.requests if isinstance(r, ImportRequest)]
        assert pushed and pushed[-1].trust is not None
        assert pushed[-1].trust.allowed_signers == good
        assert pushed[-1].trust.expect_fingerprint == short.replace(" ", "")


async def test_without_allowed_signers_import_is_asked_for_no_signature(
    make_app: MakeApp,
) -> None:
    domain = FixedDomain()
    app = make_app(domain=domain)
    async with app.run_test(size=SIZE) as pilot:
        await walk(pilot, *TO_PUSH)
        await settle(pilot)
        pushed = [r for r in domain.requests if isinstance(r, ImportRequest)]
        assert pushed and pushed[-1].trust is None
