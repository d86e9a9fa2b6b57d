"""Make a request, step 2: what the templates ask for, which opt-in jobs to include, and (with
the offline registry's address) which of those images it lacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from airgap_tui.errors import AuthError
from airgap_tui.events import CancelToken
from airgap_tui.models import Credentials
from airgap_tui.registry.reference import split_prefix
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import ProgressUpdate
from airgap_tui.tui.request_draft import RequestDraft
from airgap_tui.tui.request_messages import InventoryTaken
from airgap_tui.tui.request_style import REQUEST_CSS
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import CredentialsDialog
from airgap_tui.tui.validators import OptionalFile, RegistryPrefix

if TYPE_CHECKING:
    from textual.worker import Worker

    from airgap_tui.catalog.template_model import TemplateImage


class RequestMissingScreen(WizardScreen):
    CSS = REQUEST_CSS
    SCOPED_CSS = False  # request.tcss is written like app.tcss: `.-short` is the screen itself
    KEY = "request-missing"
    TITLE = "What is missing"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+t", "check", "Check registry")]

    def __init__(self) -> None:
        super().__init__()
        self.cancel = CancelToken()
        self.checking = False
        self.checked: tuple[str, str] | None = None  # (registry, CA) the inventory is for
        self.missing: list[TemplateImage] | None = None

    @property
    def draft(self) -> RequestDraft:
        if self.state.request is None:  # only reached after the templates were read
            self.state.request = RequestDraft()
        return self.state.request

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Optional: the registry the offline GitLab pulls analyzers from. Checked, the "
            "request carries its inventory and the connected host brings only what it lacks.",
            id="missing-intro",
        )
        with Horizontal(id="missing-registry-row"):
            yield Input(
                value=self.state.registry,
                id="registry",
                placeholder="registry: host[:port][/path] (optional)",
                validators=[RegistryPrefix()],
                valid_empty=True,
            )
            yield Input(
                value=str(self.state.ca_file or ""),
                id="registry-ca",
                placeholder="CA file (optional)",
                validators=[OptionalFile()],
            )
            yield Button("Check", id="check")
        opt_ins = self.draft.opt_in_names()
        choices = SelectionList[str](
            *(Selection(name, name, name in self.draft.opt_in) for name in opt_ins),
            id="opt-in",
        )
        choices.border_title = "Opt-in jobs: included only when ticked"
        choices.display = bool(opt_ins)
        yield choices
        table: DataTable[str | Text] = DataTable(id="missing-table", cursor_type="row")
        table.border_title = "What the templates pull"
        yield table
        yield Static("", id="missing-summary")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#missing-table", DataTable)
        table.add_columns("Image", "In the registry", "Job", "Template")
        self.show_images()
        self.query_one("#registry", Input).focus()

    def on_unmount(self) -> None:
        self.cancel.cancel()

    # --- the table ------------------------------------------------------------------------
    def show_images(self) -> None:
        table = self.query_one("#missing-table", DataTable)
        table.clear()
        missing = {id(i) for i in self.missing} if self.missing is not None else None
        requested = {id(i) for i in self.draft.requested()}
        for image in self.draft.images:
            if id(image) not in requested:
                status = Text("opt-in, not asked", "dim")
            elif not image.under_prefix:
                status = Text("outside the prefix", "yellow")
            elif missing is None:
                status = Text("not checked", "dim")
            elif id(image) in missing:
                status = Text("missing", "bold red")
            else:
                status = Text("present", "green")
            table.add_row(image.reference, status, image.job, image.template)
        self.update_summary()

    def update_summary(self) -> None:
        requested = self.draft.requested()
        text = Text(f"{formatting.count(len(requested), 'image')} requested")
        if not requested:
            text.append(": every job here waits for an opt-in; tick the ones you enable", "yellow")
        outside = [i for i in requested if not i.under_prefix]
        if outside:
            text.append(f" ({len(outside)} outside the analyzer prefix: see the request)")
        if self.missing is not None and self.checked is not None:
            wanted = {id(i) for i in requested}
            lacking = [i for i in self.missing if id(i) in wanted]
            text.append(" · ")
            style = "bold red" if lacking else "green"
            text.append(f"{len(lacking)} missing from {self.checked[0]}", style)
        elif self.query_one("#registry", Input).value.strip():
            text.append(" · check the registry (ctrl+t) to see what it lacks", "dim")
        self.query_one("#missing-summary", Static).update(text)

    @on(SelectionList.SelectedChanged, "#opt-in")
    def opt_in_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        event.stop()
        self.draft.opt_in = list(event.selection_list.selected)
        self.show_images()

    # --- the registry ---------------------------------------------------------------------
    def registry(self) -> str:
        return self.query_one("#registry", Input).value.strip()

    def ca_file(self) -> Path | None:
        text = self.query_one("#registry-ca", Input).value.strip()
        return self.services.expand(text) if text else None

    def key(self) -> tuple[str, str]:
        return (self.registry(), str(self.ca_file() or ""))

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        if self.checked is not None and self.key() != self.checked:
            self.checked, self.missing = None, None
            self.draft.inventory = None
            self.show_images()
        else:
            self.update_summary()
        self.refresh_nav()

    @on(Input.Submitted)
    def field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_check()

    @on(Button.Pressed, "#check")
    def check_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_check()

    def action_check(self) -> None:
        registry = self.registry()
        if self.checking or not registry:
            return
        fields = ("#registry", "#registry-ca")
        if not all(self.query_one(name, Input).is_valid for name in fields):
            return
        self.clear_error()
        self.checking = True
        self.cancel.cancel()
        self.cancel = CancelToken()
        self.query_one("#missing-summary", Static).update(Text("Taking the inventory…", "dim"))
        self.refresh_nav()
        self.take_inventory(registry, self.ca_file(), self.state.credentials, self.cancel)

    @work(thread=True, exclusive=True, group="inventory", exit_on_error=False)
    def take_inventory(
        self,
        registry: str,
        ca_file: Path | None,
        credentials: Credentials | None,
        cancel: CancelToken,
    ) -> None:
        with self.progress_sink() as progress:
            inventory = self.services.domain.registry_inventory(
                registry, credentials=credentials, ca_file=ca_file, progress=progress,
                cancel=cancel,
            )  # fmt: skip
        self.post_message(InventoryTaken(registry, inventory))

    def on_progress_update(self, message: ProgressUpdate) -> None:
        event = message.event
        if self.checking and event.total:
            self.query_one("#missing-summary", Static).update(
                Text(f"Taking the inventory… {event.done}/{event.total} {event.message}", "dim")
            )

    def on_inventory_taken(self, message: InventoryTaken) -> None:
        self.checking = False
        if message.registry != self.registry():
            self.refresh_nav()
            return  # the field changed while the inventory ran
        self.state.registry = message.registry
        self.state.ca_file = self.ca_file()
        self.checked = self.key()
        self.draft.inventory = message.inventory
        self.missing = self.services.domain.missing_images(
            self.draft.images, message.registry, message.inventory
        )
        self.show_images()
        self.refresh_nav()

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.checking = False
        self.update_summary()
        if isinstance(error, AuthError):
            host, _ = split_prefix(self.registry())
            tried = self.state.credentials
            reason = (
                f"It did not accept the login for {tried.username}: {error.cause}" if tried else ""
            )
            self.app.push_screen(
                CredentialsDialog(host, reason=reason, username=tried.username if tried else ""),
                self.got_credentials,
            )
            return
        super().worker_failed(worker, error)

    def got_credentials(self, credentials: Credentials | None) -> None:
        if credentials is not None:
            self.state.credentials = credentials
            self.action_check()

    # --- next -----------------------------------------------------------------------------
    def can_go_next(self) -> bool:
        if self.checking or not self.draft.requested():
            return False  # as `airgap-tui request`: a request for nothing is refused
        if not self.query("#registry"):
            return False
        # A registry typed in must be checked first: the request would claim an inventory.
        return not self.registry() or self.checked == self.key()

    def go_next(self) -> None:
        if not self.registry():
            self.draft.inventory = None
        self.wizard.advance(self)
