"""What the two long-running steps (Write, Push) share: a log, and Cancel that asks first,
then sets the domain's CancelToken so the worker stops at its next chunk."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import RichLog
from textual.worker import Worker

from airgap_tui.errors import Cancelled
from airgap_tui.events import CancelToken
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import ConfirmDialog


class LongWorkScreen(WizardScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / Cancel"),
        Binding("c", "cancel", "Cancel"),
    ]
    # The confirm dialog's question and buttons, and what the screen says once stopped.
    CANCEL_QUESTION = ""
    CANCEL_YES = "Stop"
    CANCEL_NO = "Keep going"
    STOPPED = ""

    def __init__(self) -> None:
        super().__init__()
        self.token = CancelToken()
        self.busy = False

    def work_log(self) -> RichLog:
        log = RichLog(id="log", wrap=True, markup=False, max_lines=2000)
        log.border_title = "Log"
        return log

    def log_line(self, line: str) -> None:
        self.query_one("#log", RichLog).write(line)

    def begin_work(self) -> CancelToken:
        """A fresh token for a new run of the work."""
        self.busy = True
        self.token = CancelToken()
        return self.token

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.busy = False
        if isinstance(error, Cancelled):
            self.log_line("Stopped.")
            self.show_error(self.STOPPED)
            return
        super().worker_failed(worker, error)

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
            ConfirmDialog(self.CANCEL_QUESTION, yes=self.CANCEL_YES, no=self.CANCEL_NO), answered
        )

    def can_go_back(self) -> bool:
        return True

    def action_back(self) -> None:
        if self.busy:
            self.action_cancel()
        else:
            self.app.pop_screen()

    def on_unmount(self) -> None:
        self.token.cancel()
