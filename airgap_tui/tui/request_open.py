"""Prepare a bundle from a request file: the offline GitLab's templates chose the images.

The file is picked with the same path picker as the delta's receipts. Reading it (a hostile
file from the other side: bounded, every field checked) runs in a worker; what it asks for
becomes the selection, and an inventory in it makes the bundle a delta. It lives beside the
screens, not among them: the Choose analyzers step mixes it in, and no step imports another.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.widgets import Input

from airgap_tui.tui.request_messages import RequestOpened
from airgap_tui.tui.request_style import REQUEST_CSS
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import DeltaDialog
from airgap_tui.tui.state import PATH_EXPORT

if TYPE_CHECKING:
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
            [self.state.request_file] if self.state.request_file else [],
            services.expand,
            browse_root=self.wizard.browse_root,
            home=services.home,
            find_drives=services.removable_drives,
        )
        self.app.push_screen(dialog, self.request_chosen)

    def request_chosen(self, paths: list[Path] | None) -> None:
        if not paths:
            return
        path = paths[0]
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


class RequestDialog(DeltaDialog):
    """The delta's file dialog, asking for one request file: answers [that file], or None."""

    CSS = REQUEST_CSS
    SCOPED_CSS = False  # request.tcss is written like app.tcss: `.-short` is the screen itself

    INTRO = (
        "Carry exactly what the offline GitLab asked for: the request file its templates wrote "
        "(Make a request, or airgap-tui request on the offline host)."
    )
    PICKER_LABEL = "Request file (pick in the tree, or type)"
    USE_LABEL = "Open request"
    FULL_LABEL = None

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#path", Input).placeholder = "/media/usb/airgap-request.json"

    def problem(self, names: list[str]) -> str:
        if len(names) > 1:
            return "One request at a time: give a single file."
        if not names or not self.to_path(names[0]).is_file():
            shown = f"{self.to_path(names[0])} is not a file. " if names else ""
            return f"{shown}Give the path of the request file."
        return ""
