"""Import, step 2: check every part before anything is loaded; a mismatch stops here. Each
image's build date and its age today: a scanning image's vulnerability data is that old. What
the operator brought apart from the stick is checked here too: the fingerprint carried, and
the signature against an allowed_signers file (as `--trust` does); either one failing stops
here, and import checks both again before pushing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static
from textual.worker import Worker

from airgap_tui.catalog.age import DEFAULT_MAX_AGE_DAYS, age_summary, describe
from airgap_tui.errors import AirgapError, Cancelled, UsageError
from airgap_tui.events import STAGE_VERIFY, CancelToken
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import ProgressUpdate, SignerChecked, VerifyDone
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.widgets.fingerprint import Fingerprint
from airgap_tui.tui.widgets.stage_board import StageBoard

if TYPE_CHECKING:
    from airgap_tui.bundle.verify import VerifyReport


class VerifyScreen(WizardScreen):
    KEY = "verify"
    TITLE = "Verify"
    NEXT_LABEL = "Target registry"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "rerun", "Verify again")]

    def __init__(self) -> None:
        super().__init__()
        self.token = CancelToken()
        self.busy = False
        self.report: VerifyReport | None = None
        self.carried_ok: bool | None = None  # None: no fingerprint typed (or not one)
        self.signer_ok: bool | None = None  # None: no allowed_signers file checked yet

    def compose_body(self) -> ComposeResult:
        manifest = self.state.manifest
        assert manifest is not None
        yield Static(
            f"Reading every byte of {formatting.count(len(manifest.parts), 'part')} "
            f"({formatting.size(manifest.total_bytes)}) from {self.state.bundle_dir} and "
            "comparing their sha256. Nothing is loaded into Docker in this step.",
            id="verify-intro",
        )
        yield StageBoard(
            clock=self.services.clock, order=[STAGE_VERIFY], per_item=[STAGE_VERIFY], id="parts"
        )
        yield Static("", id="verify-result")
        yield Fingerprint(id="fingerprint")
        yield Static("", id="signer")
        yield Input(
            placeholder="allowed_signers file (optional): Enter checks who signed bundle.yaml",
            id="allowed-signers",
        )
        yield Input(
            placeholder="Fingerprint you carried (optional): type it as export printed it",
            id="carried",
        )
        yield Static("", id="carried-verdict")

    def on_mount(self) -> None:
        self.query_one("#fingerprint", Fingerprint).display = False
        self.query_one("#carried-verdict", Static).display = False
        self.action_rerun()
        super().on_mount()

    def action_rerun(self) -> None:
        if self.busy:
            return
        manifest = self.state.manifest
        assert manifest is not None and self.state.bundle_dir is not None
        board = self.query_one("#parts", StageBoard)
        board.reset()
        board.prepare(STAGE_VERIFY, [part.file for part in manifest.parts])
        self.report = None
        self.state.verify_report = None
        self.forget_signer()
        self.clear_error()
        self.query_one("#verify-result", Static).update(Text("Verifying…", "dim"))
        self.busy = True
        self.token = CancelToken()
        self.run_verify(self.token)
        self.refresh_nav()

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def run_verify(self, token: CancelToken) -> None:
        assert self.state.bundle_dir is not None
        with self.progress_sink() as progress:
            report = self.services.domain.verify_bundle(
                self.state.bundle_dir, progress=progress, cancel=token
            )
        self.post_message(VerifyDone(report))

    def on_progress_update(self, message: ProgressUpdate) -> None:
        self.query_one("#parts", StageBoard).apply(message.event)

    def on_verify_done(self, message: VerifyDone) -> None:
        self.busy = False
        report = message.report
        self.report = report
        self.state.verify_report = report
        result = self.query_one("#verify-result", Static)
        if report.ok:
            parts = len(report.manifest.parts)
            text = Text(
                "✓ The part matches." if parts == 1 else f"✓ All {parts} parts match.",
                "bold green",
            )
            text.append_text(self.ages(report))
            for warning in report.warnings:
                text.append(f"\n! {warning}", "yellow")
            delta = report.manifest.delta
            if delta is not None:  # issue 10: it needs what the registry already holds
                text.append(
                    f"\nDelta bundle against a {delta.kind} ({delta.against[:12]}): it expects "
                    f"{formatting.count(len(delta.expected), 'layer')} already in the target "
                    "registry (checked before anything is pushed; not via Docker).",
                    "cyan",
                )
            result.update(text)
            fingerprint = self.query_one("#fingerprint", Fingerprint)
            fingerprint.set_fingerprint(
                self.services.domain.format_fingerprint(report.fingerprint), report.fingerprint
            )
            fingerprint.display = True
            self.query_one("#signer", Static).update(
                f"Signature: {report.trust.signed_by() if report.trust else 'not signed'}"
            )
            self.compare_carried()
            self.check_signer()
        else:
            bad = ", ".join(p.file for p in report.problems)
            count = formatting.count(len(report.problems), "bad part")
            result.update(Text(f"✗ {count}: {bad}", "bold red"))
            details = "; ".join(str(p) for p in report.problems)
            self.show_error(
                f"Verification failed: {details}. Nothing was loaded. Copy those parts again "
                "from the connected host (or write the bundle again there), then press r."
            )
        self.refresh_nav()

    @on(Input.Changed, "#carried")
    def carried_changed(self, _event: Input.Changed) -> None:
        self.compare_carried()
        self.refresh_nav()

    # ------------------------------------------------------------------ the signature

    @on(Input.Changed, "#allowed-signers")
    def signers_changed(self, _event: Input.Changed) -> None:
        self.forget_signer()
        if self.typed_signers() is not None and self.report is not None and self.report.ok:
            self.signer_line(Text("Press Enter to check the signature against this file.", "dim"))
        self.refresh_nav()

    @on(Input.Submitted, "#allowed-signers")
    def signers_submitted(self, _event: Input.Submitted) -> None:
        self.check_signer()

    def typed_signers(self) -> Path | None:
        typed = self.query_one("#allowed-signers", Input).value.strip()
        return Path(typed).expanduser() if typed else None

    def forget_signer(self) -> None:
        self.signer_ok = None
        self.state.allowed_signers = None
        self.query_one("#signer", Static).remove_class("-match", "-mismatch")

    def check_signer(self) -> None:
        """The signature against the typed allowed_signers file, on a thread (ssh-keygen)."""
        path = self.typed_signers()
        report = self.report
        if path is None or report is None or not report.ok:
            return
        self.forget_signer()
        self.signer_line(Text(f"Checking the signature against {path}…", "dim"))
        assert self.state.bundle_dir is not None
        self.run_signer_check(self.state.bundle_dir, report.fingerprint, path)

    @work(thread=True, exclusive=True, group="signer", exit_on_error=False)
    def run_signer_check(self, bundle_dir: Path, fingerprint: str, path: Path) -> None:
        try:
            trust = self.services.domain.check_signature(bundle_dir, fingerprint, path)
        except AirgapError as exc:
            self.post_message(SignerChecked(path, None, exc.sentence()))
            return
        self.post_message(SignerChecked(path, trust, None))

    def on_signer_checked(self, message: SignerChecked) -> None:
        if message.allowed_signers != self.typed_signers():
            return  # the field changed while ssh-keygen ran: that answer is for another file
        line = self.query_one("#signer", Static)
        if message.trust is not None:
            self.signer_ok = True
            self.state.allowed_signers = message.allowed_signers
            line.add_class("-match")
            self.signer_line(Text(f"✓ Signature: {message.trust.signed_by()}", "bold"))
        else:
            self.signer_ok = False
            line.add_class("-mismatch")
            self.signer_line(Text(f"✗ {message.error} Nothing is pushed.", "bold"))
        self.refresh_nav()

    def signer_line(self, text: Text) -> None:
        self.query_one("#signer", Static).update(text)

    def compare_carried(self) -> None:
        """Match or mismatch, large: the one check a rewritten stick cannot fake."""
        verdict = self.query_one("#carried-verdict", Static)
        typed = self.query_one("#carried", Input).value.strip()
        verdict.remove_class("-match", "-mismatch")
        self.carried_ok = None
        self.state.carried_fingerprint = None
        if not typed or self.report is None:
            verdict.display = False
            return
        verdict.display = True
        try:
            self.carried_ok = self.services.domain.carried_fingerprint_matches(
                typed, self.report.fingerprint
            )
        except UsageError as exc:
            verdict.update(Text(exc.cause, "yellow"))
            return
        if self.carried_ok:
            self.state.carried_fingerprint = typed
            verdict.add_class("-match")
            verdict.update("✓ MATCH: this is the bundle whose fingerprint you carried")
        else:
            verdict.add_class("-mismatch")
            verdict.update("✗ MISMATCH: this is not the bundle that was exported. Do not import it")

    def ages(self, report: VerifyReport) -> Text:
        """`Built: semgrep:6 2026-11-20 (15 days old) · …`, and what too old means."""
        now = self.services.now()
        images = report.manifest.images
        text = Text("\nBuilt: ", "bold")
        text.append(" · ".join(f"{i.label} {describe(i.built, now)}" for i in images))
        rows = [(i.label, i.built, i.analyzer) for i in images]
        for warning in age_summary(rows, now, DEFAULT_MAX_AGE_DAYS):
            text.append(f"\n! {warning}.", "yellow")
        return text

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.busy = False
        if isinstance(error, Cancelled):
            self.query_one("#verify-result", Static).update("Stopped. Press r to verify again.")
            return
        super().worker_failed(worker, error)

    def stop_work(self) -> None:
        self.token.cancel()

    def go_back(self) -> None:
        self.stop_work()
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self.token.cancel()

    def can_go_next(self) -> bool:
        """A carried fingerprint that does not match, or a signature that an allowed_signers
        file typed here does not accept (or that was not checked yet), stops here."""
        signers_hold = self.signer_ok is True or (
            self.signer_ok is None and self.typed_signers() is None
        )
        return (
            self.report is not None
            and self.report.ok
            and self.carried_ok is not False
            and signers_hold
        )
