"""Write: pull, write parts, read them back; progress per stage, a log, Cancel that cancels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.worker import Worker

from airgap_tui.errors import Cancelled
from airgap_tui.events import STAGE_PULL, STAGE_READBACK, STAGE_SAVE, CancelToken
from airgap_tui.export.run import ExportRequest
from airgap_tui.toolpack.toolpack import STAGE_TOOL
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import ExportDone, ProgressUpdate
from airgap_tui.tui.screens.long_work import LongWorkScreen
from airgap_tui.tui.widgets.stage_board import StageBoard, stage_title

if TYPE_CHECKING:
    from airgap_tui.export.run import ExportResult


class WriteScreen(LongWorkScreen):
    KEY = "write"
    TITLE = "Write"
    NEXT_LABEL = "Done"
    CANCEL_QUESTION = (
        "Stop writing the bundle? The parts already written stay on the drive, and "
        "writing to the same directory later resumes from them."
    )
    CANCEL_YES = "Stop writing"
    CANCEL_NO = "Keep writing"
    STOPPED = (
        "Stopped at your request. The parts already written stay on the drive: go back "
        "(Esc), choose the same directory and write again to resume."
    )

    def __init__(self) -> None:
        super().__init__()
        self.result: ExportResult | None = None
        self._last_message: dict[tuple[str, str], str] = {}

    def compose_body(self) -> ComposeResult:
        yield StageBoard(
            clock=self.services.clock,
            order=[STAGE_PULL, STAGE_SAVE, STAGE_READBACK, STAGE_TOOL],
            per_item=[STAGE_PULL],
            id="stages",
        )
        yield self.work_log()

    def on_mount(self) -> None:
        board = self.query_one("#stages", StageBoard)
        board.prepare(STAGE_PULL, [str(spec.source) for spec in self.state.specs])
        self.start()
        super().on_mount()

    def start(self) -> None:
        dest = self.state.destination
        assert dest is not None
        what = "Resuming" if self.state.resume else "Writing"
        self.log_line(
            f"{what} a bundle of {len(self.state.specs)} images to {dest} "
            f"(parts of at most {formatting.size_binary(self.state.part_size)})."
        )
        self.wizard.stop_preparing_tool()  # done by now, or the export builds it itself
        token = self.begin_work()
        request = ExportRequest(
            specs=list(self.state.specs),
            dest=dest,
            part_size=self.state.part_size,
            source_prefix=self.state.source_prefix,
            gitlab_major=self.state.gitlab_major,
            platform=self.state.platform,
            delta_from=tuple(self.state.delta_from),
            tool=self.state.carry_tool,
            sign_key=self.state.sign_key,
        )
        self.run_export(request, token)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def run_export(self, request: ExportRequest, token: CancelToken) -> None:
        with self.progress_sink() as progress:
            result = self.services.domain.export_bundle(
                request, progress=progress, cancel=token, sizes=self.state.estimate
            )
        self.post_message(ExportDone(result))

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

    def on_export_done(self, message: ExportDone) -> None:
        self.busy = False
        result = message.result
        self.result = result
        self.state.export_result = result
        if result.ok:
            self.log_line(f"Bundle complete: {result.bundle_dir}")
            self.wizard.advance(self)  # Done replaces this screen (tui/routes.py)
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
        super().worker_failed(worker, error)
        if not isinstance(error, Cancelled):
            self.log_line(Text(f"✗ {self.error_text}", "red").plain)

    def can_go_next(self) -> bool:
        return False
