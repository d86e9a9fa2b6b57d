"""Prepare a bundle from a request file: the offline GitLab's templates chose the images.

The file is picked with the same path picker as the delta's receipts. Reading it (a hostile
file from the other side: bounded, every field checked) runs in a worker; what it asks for
becomes the selection, and an inventory in it makes the bundle a delta. It lives beside the
screens, not among them: the Choose analyzers step mixes it in, and no step imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from airgap_tui.tui.request_messages import RequestOpened
from airgap_tui.tui.request_style import REQUEST_CSS
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.state import PATH_EXPORT
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from airgap_tui.bundle.media import Drive
    from airgap_tui.tui.request_domain import OpenedRequest


class OpensRequests(WizardScreen):
    """Prepare a bundle's first step, given `o`: the request decides the images (and, with an
    inventory in it, makes the bundle a delta against that registry), then on to the estimate."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("o", "open_request", "Request")]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_request":
            return self.state.path == PATH_EXPORT
        return super().check_action(action, parameters)

    def action_open_request(self) -> None:
        services = self.services
        dialog = RequestDialog(
            self.state.request_file,
            services.expand,
            browse_root=self.wizard.browse_root,
            home=services.home,
            find_drives=services.removable_drives,
        )
        self.app.push_screen(dialog, self.request_chosen)

    def request_chosen(self, path: Path | None) -> None:
        if path is None:
            return
        self.clear_error()
        self.read_request(path, self.state.source_prefix, self.state.gitlab_major)

    @work(thread=True, exclusive=True, group="request", exit_on_error=False)
    def read_request(self, path: Path, source_prefix: str, major: int) -> None:
        opened = self.services.domain.open_request(path, source_prefix, major)
        self.post_message(RequestOpened(opened))

    def on_request_opened(self, message: RequestOpened) -> None:
        opened: OpenedRequest = message.opened
        state = self.state
        state.request_file = opened.path
        state.specs = list(opened.specs)
        state.analyzers, state.custom_images = [], []
        state.gitlab_major = opened.major
        state.fips = opened.fips
        state.estimate, state.delta = None, None
        # The request's inventory stands in for a receipt: only the layers it lacks are carried.
        state.delta_from = [opened.path] if opened.has_inventory else []
        self.wizard.advance(self)


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
        field = self.query_one("#path", Input)
        field.placeholder = "/media/usb/airgap-request.json"
        field.focus()

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
