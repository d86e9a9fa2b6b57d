"""Small modal questions: confirm a cancel, ask for registry credentials, pick a profile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from airgap_tui.models import Credentials
from airgap_tui.tui.profiles import list_profiles
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from airgap_tui.bundle.media import Drive


class ConfirmDialog(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes", show=False),
        Binding("n", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, id="yes", variant="error")
                yield Button(self.no, id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class CredentialsDialog(ModalScreen[Credentials | None]):
    """Asks for a registry login; the password is masked and goes no further than memory."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, registry: str, *, reason: str = "", username: str = "") -> None:
        super().__init__()
        self.registry, self.reason, self.username = registry, reason, username

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Registry {self.registry} asks for a login.", classes="dialog-text")
            if self.reason:
                yield Static(self.reason, classes="dialog-error", markup=False)
            yield Label("Username", classes="field")
            yield Input(value=self.username, id="username", placeholder="user name or token name")
            yield Label("Password or token (kept in memory only, never saved)", classes="field")
            yield Input(id="password", password=True, placeholder="password")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Sign in", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#password" if self.username else "#username", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "username":
            self.query_one("#password", Input).focus()
        else:
            self._accept()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._accept()
        else:
            self.dismiss(None)

    def _accept(self) -> None:
        username = self.query_one("#username", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not username or not password:
            self.query_one("#username" if not username else "#password", Input).focus()
            self.notify("Give both a user name and a password.", severity="warning")
            return
        self.dismiss(Credentials(username, password))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ProfilePicker(ModalScreen[str | None]):
    """Lists saved profiles; the listing runs in a worker (the config dir may be slow)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, directory: Path, shown: str = "") -> None:
        super().__init__()
        self.directory = directory
        self.shown = shown or str(directory)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Load a saved profile", classes="dialog-text")
            yield OptionList(id="profiles")
            yield Static("", id="profiles-note", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._list()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _list(self) -> None:
        names = list_profiles(self.directory)
        self.app.call_from_thread(self._show, names)

    def _show(self, names: list[str]) -> None:
        options = self.query_one("#profiles", OptionList)
        options.add_options([Option(name, id=name) for name in names])
        note = self.query_one("#profiles-note", Static)
        if names:
            options.highlighted = 0
            options.focus()
            note.update(f"From {self.shown}")
        else:
            note.update(f"No profiles yet in {self.shown}. Save one on the last export step.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DeltaDialog(ModalScreen[list[Path] | None]):
    """Make a delta against a receipt or inventory: one or more files, absolute paths.

    Answers the files ([] = a full bundle again), or None when cancelled. Whether a file is a
    receipt or inventory that can be trusted is for the domain to say (the estimate shows it).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        current: list[Path],
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

    INTRO = (
        "Make a delta against what the offline registry already holds: the import receipt it "
        "wrote, or an inventory (airgap-tui inventory on the offline host). Several files: "
        "separate them with commas."
    )
    PICKER_LABEL = "Receipt or inventory file (pick in the tree, or type)"
    USE_LABEL = "Make delta"
    FULL_LABEL: str | None = "Full bundle"  # None: no way back to a full bundle here

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="delta-dialog"):
            yield Static(self.INTRO, classes="dialog-text")
            yield PathPicker(
                label=self.PICKER_LABEL,
                value=", ".join(str(p) for p in self.current),
                browse_root=self.browse_root,
                home=self.home,
                find_drives=self.find_drives,
                files=True,
                id="delta-picker",
            )
            yield Static("", id="delta-problem", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.USE_LABEL, id="use", variant="primary")
                if self.FULL_LABEL is not None:
                    yield Button(self.FULL_LABEL, id="full")
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
        elif event.button.id == "full":
            self.dismiss([])
        else:
            self.dismiss(None)

    def _use(self) -> None:
        text = self.query_one("#delta-picker", PathPicker).value
        names = [part.strip() for part in text.split(",") if part.strip()]
        problem = self.problem(names)
        if problem:
            self.query_one("#delta-problem", Static).update(problem)
            return
        self.dismiss(list(dict.fromkeys(self.to_path(name) for name in names)))

    def problem(self, names: list[str]) -> str:
        if not names:
            return "Give the path of a receipt or inventory, or choose Full bundle."
        for name in names:
            path = self.to_path(name)
            if not path.is_file():
                return f"{path} is not a file. Give the path of a receipt or inventory."
        return ""

    def action_cancel(self) -> None:
        self.dismiss(None)
