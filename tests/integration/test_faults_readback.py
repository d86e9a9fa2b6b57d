"""Fault matrix, the media row: a stick that lies when its parts are read back.

The export reads every part back from the media behind the writer. Here the media returns
other bytes than were written: `os.pread`, the call the read-back reads with, flips one byte of
one part file (every reader is lied to, as a fake-capacity stick would). The export must say
which part, write no bundle.yaml and forget that part, so a run on an honest drive rewrites
exactly it and ends with the bundle an uninterrupted export writes. The wizard's Write screen
must show the error and offer no way on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Button

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.manifest import MANIFEST_NAME
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.bundle.verify import verify_bundle
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.write import WriteScreen
from airgap_tui.tui.services import Services
from tests.harness.native import NativeUpstream
from tests.integration.conftest import CliRun
from tests.integration.faults_support import NATIVE_ANALYZERS, export_argv, export_with_domain
from tests.tui.conftest import SIZE
from tests.tui.helpers import NoEngine, settle, settle_until, to_checked_destination

ANALYZERS = NATIVE_ANALYZERS  # several parts of 1 MiB
LIAR = "images.tar.001"  # a part in the middle: the parts after it must be kept on the re-run
LIE_AT = 70_000  # the byte of that part that reads back flipped


class LyingMedia:
    """Until `honest()`, every os.pread of part `part` returns byte `at` flipped."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, part: str, at: int) -> None:
        self.part, self.at = part, at
        self.lies = 0
        self._honest = threading.Event()
        real_pread = os.pread

        def pread(fd: int, length: int, offset: int) -> bytes:
            data = real_pread(fd, length, offset)
            if self._honest.is_set() or not offset <= at < offset + len(data):
                return data
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).removesuffix(".part")
            if name != part:
                return data
            self.lies += 1
            flipped = bytearray(data)
            flipped[at - offset] ^= 0x20
            return bytes(flipped)

        monkeypatch.setattr(os, "pread", pread)

    def honest(self) -> None:
        self._honest.set()


def _journaled(dest: Path) -> list[str]:
    journal = ExportJournal.load(dest)
    assert journal is not None, "the journal of the unfinished bundle is gone"
    return sorted(journal.parts)


def test_a_part_that_reads_back_wrong_fails_the_export_and_is_rewritten_on_an_honest_drive(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    pristine = export_with_domain(native_upstream, tmp_path / "pristine", analyzers=ANALYZERS)
    assert pristine.ok and len(pristine.parts_written) >= 4
    all_parts = sorted(pristine.parts_written)
    assert LIAR in all_parts and all_parts[-1] != LIAR

    dest = tmp_path / "stick" / "bundle"
    media = LyingMedia(monkeypatch, LIAR, LIE_AT)
    argv = export_argv(native_upstream, dest, analyzers=ANALYZERS)  # with --json
    lied = cli_no_engine(*[arg for arg in argv if arg != "--json"])
    assert media.lies >= 1
    assert lied.code == 1, lied.out + lied.err
    errors = [line for line in lied.err.splitlines() if LIAR in line]
    assert len(errors) == 1, lied.err
    assert f"byte {LIE_AT}" in errors[0] and "run the export again" in errors[0], errors[0]
    assert "Read-back check: FAILED" in lied.out
    assert "run the same export again" in lied.out
    assert "Fingerprint" not in lied.out and "On the offline host" not in lied.out
    assert not (dest / MANIFEST_NAME).exists()
    journaled = _journaled(dest)
    assert LIAR not in journaled, "the part that read back wrong is forgotten"
    assert journaled == [p for p in all_parts if p != LIAR], "the others are complete"
    kept_inodes = {name: (dest / name).stat().st_ino for name in journaled}

    media.honest()
    again = cli_no_engine(*argv)
    assert again.code == 0, again.err
    result = again.json
    assert result["ok"] is True and result["readback_ok"] is True
    assert result["parts_written"] == [LIAR]  # exactly the part that lied
    assert sorted(result["parts_kept"]) == journaled
    for name, inode in kept_inodes.items():
        assert (dest / name).stat().st_ino == inode, f"{name} was rewritten"
    assert result["fingerprint"] == pristine.fingerprint
    assert read_manifest(dest).fingerprint == pristine.fingerprint
    assert verify_bundle(dest).ok


def test_the_domain_result_says_readback_failed(
    native_upstream: NativeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the CLI and the wizard read: not ok, readback_ok False, one problem naming the part."""
    dest = tmp_path / "bundle"
    LyingMedia(monkeypatch, LIAR, LIE_AT)
    result = export_with_domain(native_upstream, dest, analyzers=ANALYZERS)
    assert result.ok is False and result.readback_ok is False
    assert result.fingerprint == "" and result.tool is None
    assert [p.split(":", 1)[0] for p in result.problems] == [LIAR]
    assert LIAR in result.parts_written  # it was written, then found wrong
    assert not (dest / MANIFEST_NAME).exists()
    assert not (dest / "airgap-tui.pyz").exists()


async def test_the_write_screen_shows_the_part_and_offers_no_next(
    native_upstream: NativeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dest = tmp_path / "usb" / "airgap-bundle"
    liar = "images.tar.000"  # the wizard writes parts of 1 GiB: this bundle is one part
    media = LyingMedia(monkeypatch, liar, LIE_AT)
    services = Services(domain=NoEngine(), home=tmp_path, receipt_dir=tmp_path / "receipts")
    app = AirgapApp(services, source_prefix=native_upstream.prefix, gitlab_major=18)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, AnalyzersScreen)
        await pilot.press("3", "space")  # secret detection, then semgrep
        await settle(pilot)
        await pilot.press("ctrl+n")
        estimate = app.screen
        assert isinstance(estimate, EstimateScreen)
        await settle_until(pilot, lambda: estimate.result is not None, what="the estimate")
        await to_checked_destination(pilot, dest)
        await pilot.press("ctrl+n")
        await settle_until(
            pilot,
            lambda: isinstance(app.screen, WriteScreen) and app.screen.result is not None,
            what="the export ends",
        )
        write = app.screen
        assert isinstance(write, WriteScreen)
        await pilot.press("ctrl+n")  # must lead nowhere
        await settle(pilot)
        assert app.screen is write
        assert media.lies >= 1
        assert write.result is not None and write.result.readback_ok is False
        assert liar in write.error_text and f"byte {LIE_AT}" in write.error_text
        assert not write.can_go_next()
        assert write.query_one("#next", Button).disabled
    assert not (dest / MANIFEST_NAME).exists()
    assert liar not in _journaled(dest)
