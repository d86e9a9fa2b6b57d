"""Write: pull, write parts, read them back; progress per stage, a log, Cancel that cancels."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import RichLog
from textual.worker import Worker

from airgap_tui.errors import Cancelled
from airgap_tui.events import STAGE_PULL, STAGE_READBACK, STAGE_SAVE, CancelToken
from airgap_tui.export import ExportRequest
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import ProgressUpdate, WorkDone
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import ConfirmDialog
from airgap_tui.tui.widgets.stage_board import StageBoard, stage_title

if TYPE_CHECKING:
    from airgap_tui.export import ExportResult


class WriteScreen(WizardScreen):
    KEY = "write"
    TITLE = "Write"
    NEXT_LABEL = "Done"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / Cancel"),
        Binding("c", "cancel", "Cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.token = CancelToken()
        self.busy = False
        self.result: ExportResult | None = None
        self._last_message: dict[tuple[str, str], str] = {}

    def compose_body(self) -> ComposeResult:
        yield StageBoard(
            clock=self.services.clock,
            order=[STAGE_PULL, STAGE_SAVE, STAGE_READBACK],
            per_item=[STAGE_PULL],
            id="stages",
        )
        log = RichLog(id="log", wrap=True, markup=False, max_lines=2000)
        log.border_title = "Log"
        yield log

    def on_mount(self) -> None:
        board = self.query_one("#stages", StageBoard)
        board.prepare(STAGE_PULL, [str(spec.source) for spec in self.state.specs])
        self.start()
        super().on_mount()

    def start(self) -> None:
        dest = self.state.destination
        assert dest is not None
        log = self.query_one("#log", RichLog)
        what = "Resuming" if self.state.resume else "Writing"
        log.write(
            f"{what} a bundle of {len(self.state.specs)} images to {dest} "
            f"(parts of at most {formatting.size_binary(self.state.part_size)})."
        )
        self.busy = True
        self.token = CancelToken()
        request = ExportRequest(
            specs=list(self.state.specs),
            dest=dest,
            part_size=self.state.part_size,
            source_prefix=self.state.source_prefix,
            gitlab_major=self.state.gitlab_major,
            platform=self.state.platform,
        )
        self.run_export(request, self.token)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def run_export(self, request: ExportRequest, token: CancelToken) -> None:
        engine = self.services.engine()
        result = self.services.domain.export_bundle(
            request,
            engine,
            progress=self.progress_sink(),
            cancel=token,
            sizes=self.state.estimate,
        )
        self.post_message(WorkDone("export", result))

    def on_progress_update(self, message: ProgressUpdate) -> None:
        event = message.event
        self.query_one("#stages", StageBoard).apply(event)
        key = (event.stage, event.item)
        text = event.message if event.final or event.stage != STAGE_PULL else ""
        if event.final:
            mark = "✓" if event.ok else "✗"
            self.log_line(
                f"{mark} {stage_title(event.stage)} {event.item}: {event.message or 'done'}"
            )
        elif text and self._last_message.get(key) != text:
            self._last_message[key] = text
            self.log_line(f"  {stage_title(event.stage)} {event.item}: {text}")
        elif key not in self._last_message:
            self._last_message[key] = text
            self.log_line(f"→ {stage_title(event.stage)} {event.item}")

    def log_line(self, line: str) -> None:
        self.query_one("#log", RichLog).write(line)

    def on_work_done(self, message: WorkDone) -> None:
        if message.kind != "export":
            return
        self.busy = False
        result: ExportResult = message.result
        self.result = result
        self.state.export_result = result
        if result.ok:
            self.log_line(f"Bundle complete: {result.bundle_dir}")
            from airgap_tui.tui.screens.done import DoneScreen

            self.app.switch_screen(DoneScreen())
            return
        for problem in result.problems:
            self.log_line(f"✗ {problem}")
        self.show_error(
            "The bundle is not complete: "
            + ("; ".join(result.problems) or "the read-back check failed")
            + ". Go back (Esc) and write again: parts that came out right are kept."
        )
        self.refresh_nav()

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.busy = False
        if isinstance(error, Cancelled):
            self.log_line("Stopped.")
            self.show_error(
                "Stopped at your request. The parts already written stay on the drive: go back "
                "(Esc), choose the same directory and write again to resume."
            )
            return
        super().worker_failed(worker, error)
        self.log_line(Text(f"✗ {self.error_text}", "red").plain)

    # --- cancel -------------------------------------------------------------------------
    def stop_work(self) -> None:
        self.token.cancel()

    def action_cancel(self) -> None:
        if not self.busy or self.token.cancelled:
            return

        def answered(stop: bool | None) -> None:
            if stop and self.busy:
                self.log_line("Cancelling at the next chunk…")
                self.stop_work()

        self.app.push_screen(
            ConfirmDialog(
                "Stop writing the bundle? The parts already written stay on the drive, and "
                "writing to the same directory later resumes from them.",
                yes="Stop writing",
                no="Keep writing",
            ),
            answered,
        )

    def can_go_back(self) -> bool:
        return True

    def action_back(self) -> None:
        if self.busy:
            self.action_cancel()
        else:
            self.app.pop_screen()

    def can_go_next(self) -> bool:
        return False

    def on_unmount(self) -> None:
        self.token.cancel()
