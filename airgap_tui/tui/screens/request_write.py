"""Make a request, step 3: write the request file to the stick, atomically, and say what to run
on the connected host."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static

from airgap_tui.tui import formatting
from airgap_tui.tui.request_draft import RequestDraft
from airgap_tui.tui.request_messages import RequestWritten
from airgap_tui.tui.request_style import REQUEST_CSS
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import ConfirmDialog
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from textual.worker import Worker

REQUEST_FILE_NAME = "airgap-request.json"


class RequestWriteScreen(WizardScreen):
    CSS = REQUEST_CSS
    SCOPED_CSS = False  # request.tcss is written like app.tcss: `.-short` is the screen itself
    KEY = "request-write"
    TITLE = "Write the request"
    NEXT_LABEL = "Write request"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "rescan", "Rescan drives")]

    def __init__(self) -> None:
        super().__init__()
        self.writing = False

    @property
    def draft(self) -> RequestDraft:
        if self.state.request is None:
            self.state.request = RequestDraft()
        return self.state.request

    def next_label(self) -> str:
        if not self.draft.written:
            return self.NEXT_LABEL
        return "CI snippet" if self.shows_snippet() else "Start over"

    def shows_snippet(self) -> bool:
        """The snippet needs the registry: shown when one was checked on the previous step."""
        return self.draft.inventory is not None and bool(self.state.registry)

    def compose_body(self) -> ComposeResult:
        written = self.draft.written
        with Horizontal(id="request-write-main"):
            yield self.path_picker(
                label="Directory for the request (the stick)",
                value=str(written.parent if written else ""),
                id="request-pick",
            )
            info = Static(self.describe(), id="request-info")
            info.border_title = "The request"
            yield info
        with Horizontal(id="request-name-row"):
            yield Label("File name", id="request-name-label")
            yield Input(
                value=written.name if written else REQUEST_FILE_NAME, id="request-name"
            )  # fmt: skip

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#request-pick", PathPicker).focus_drives()

    def action_rescan(self) -> None:
        self.query_one("#request-pick", PathPicker).rescan()

    def describe(self) -> Text:
        draft = self.draft
        requested = draft.requested()
        text = Text()
        text.append("From: ", "bold")
        text.append(f"{draft.origin}\n")
        text.append("GitLab: ", "bold")
        text.append(f"{draft.version or 'version not known'}{' (FIPS)' if draft.fips else ''}\n")
        text.append("Images: ", "bold")
        text.append(f"{formatting.count(len(requested), 'image')}")
        if draft.opt_in:
            text.append(f" (opt-in: {', '.join(draft.opt_in)})")
        text.append("\n")
        text.append("Inventory: ", "bold")
        if draft.inventory is not None:
            text.append(
                f"{draft.inventory.registry} ({formatting.count(draft.inventory.tag_count, 'tag')})"
                ": the connected host carries only what it lacks\n"
            )
        else:
            text.append("none: the connected host carries every image\n")
        return text

    def target(self) -> Path | None:
        directory = self.query_one("#request-pick", PathPicker).value.strip()
        name = self.query_one("#request-name", Input).value.strip()
        if not directory or not name or "/" in name or name in (".", ".."):
            return None
        path = self.services.expand(directory)
        return path / name if path.is_absolute() else None

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        self.refresh_nav()

    @on(Input.Submitted)
    def field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    # --- next: write, then start over -----------------------------------------------------
    def can_go_next(self) -> bool:
        if self.writing or not self.query("#request-name"):
            return False
        return bool(self.draft.written) or self.target() is not None

    def go_next(self) -> None:
        if self.draft.written:
            if self.shows_snippet():
                self.wizard.advance(self)
            else:
                self.wizard.start_over()
            return
        path = self.target()
        if path is None:
            return
        if path.exists():

            def answered(replace: bool | None) -> None:
                if replace:
                    self.start_writing(path)

            shown = self.services.show(path)
            self.app.push_screen(
                ConfirmDialog(f"{shown} exists. Replace it?", yes="Replace", no="Keep it"),
                answered,
            )
            return
        self.start_writing(path)

    def start_writing(self, path: Path) -> None:
        self.writing = True
        self.refresh_nav()
        self.write_request(self.draft, path)

    @work(thread=True, exclusive=True, group="request", exit_on_error=False)
    def write_request(self, draft: RequestDraft, path: Path) -> None:
        self.services.domain.write_request_draft(draft, path)
        self.post_message(RequestWritten(path))

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.writing = False
        super().worker_failed(worker, error)

    def on_request_written(self, message: RequestWritten) -> None:
        self.writing = False
        self.draft.written = message.path
        shown = self.services.show(message.path)
        text = self.describe()
        text.append("\n✓ Written to ", "bold green")
        text.append(f"{shown}\n\n", "bold green")
        text.append("On the connected host:\n", "bold")
        text.append(f"  airgap-tui export --request {message.path.name} --to DIR\n")
        text.append("or there, Prepare a bundle › Open a request (o).")
        self.query_one("#request-info", Static).update(text)
        for button in self.query("#next").results(Button):
            button.label = self.next_label()
        self.refresh_nav()
