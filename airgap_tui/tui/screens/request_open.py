"""Prepare a bundle from a request file: the offline GitLab's templates chose the images.

The file is picked with the same path picker as the delta's receipts. Reading it (a hostile
file from the other side: bounded, every field checked) runs in a worker; what it asks for
becomes the selection, and an inventory in it makes the bundle a delta.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from airgap_tui.tui.request_style import REQUEST_CSS
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from airgap_tui.bundle.media import Drive


class RequestDialog(ModalScreen[Path | None]):
    """Answers the request file to open, or None when cancelled."""

    CSS = REQUEST_CSS
    SCOPED_CSS = False  # request.tcss is written like app.tcss: `.-short` is the screen itself
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        current: Path | None,
        expand: Callable[[str], Path],
        *,
        browse_root: Path,
        home: Path,
        find_drives: Callable[[], list[Drive]],
    ) -> None:
        super().__init__()
        self.current = current
        self.to_path = expand
        self.browse_root = browse_root
        self.home = home
        self.find_drives = find_drives

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="request-dialog"):
            yield Static(
                "Carry exactly what the offline GitLab asked for: the request file its "
                "templates wrote (Make a request, or airgap-tui request on the offline host).",
                classes="dialog-text",
            )
            yield PathPicker(
                label="Request file (pick in the tree, or type)",
                value=str(self.current or ""),
                browse_root=self.browse_root,
                home=self.home,
                find_drives=self.find_drives,
                files=True,
                id="request-picker",
            )
            yield Static("", id="request-problem", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Open request", id="use", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.set_class(self.app.size.height < 32, "-short")  # as the wizard's screens do
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._use()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "use":
            self._use()
        else:
            self.dismiss(None)

    def _use(self) -> None:
        text = self.query_one("#request-picker", PathPicker).value
        names = [part.strip() for part in text.split(",") if part.strip()]
        problem = self.problem(names)
        if problem:
            self.query_one("#request-problem", Static).update(problem)
            return
        self.dismiss(self.to_path(names[-1]))

    def problem(self, names: list[str]) -> str:
        if not names:
            return "Give the path of the request file."
        if len(names) > 1:
            return "One request at a time: give a single file."
        path = self.to_path(names[0])
        if not path.is_file():
            return f"{path} is not a file. Give the path of the request file."
        return ""

    def action_cancel(self) -> None:
        self.dismiss(None)
