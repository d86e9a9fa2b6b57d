"""Snippet: the .gitlab-ci.yml lines for what is in the registry; copy or save them."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Static

from airgap_tui.catalog.snippet import save_snippet
from airgap_tui.errors import AirgapError
from airgap_tui.tui.messages import SnippetFileExists, SnippetSaved
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import ConfirmDialog
from airgap_tui.tui.validators import AbsolutePath

SNIPPET_FILE = "airgap-analyzers.gitlab-ci.yml"


class SnippetScreen(WizardScreen):
    KEY = "snippet"
    TITLE = "CI snippet"
    NEXT_LABEL = "Finish"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy"),
        Binding("s", "save", "Save to file"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.text = ""

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="snippet-box"):
            yield Static("", id="snippet")
        with Horizontal(id="save-row"):
            yield Input(
                value=f"~/{SNIPPET_FILE}",
                id="save-path",
                validators=[AbsolutePath()],
            )
            yield Button("Save (s)", id="save")
            yield Button("Copy (c)", id="copy")
        yield Static("", id="save-status")

    def on_mount(self) -> None:
        box = self.query_one("#snippet-box", VerticalScroll)
        box.border_title = f".gitlab-ci.yml for {self.state.registry}"
        draft = self.state.request  # templates were given: the snippet comes from them
        try:
            if draft is not None and draft.sources:
                self.text = self.services.domain.render_request_snippet(self.state.registry, draft)
            else:
                self.text = self.services.domain.render_snippet(
                    self.state.registry, self.state.snippet_images(), self.state.snippet_major
                )
        except AirgapError as exc:
            self.show_error(exc.sentence())
        else:
            self.query_one("#snippet", Static).update(
                Syntax(
                    self.text, "yaml", theme="ansi_dark", word_wrap=True, background_color="default"
                )
            )
        box.focus()
        super().on_mount()

    def action_copy(self) -> None:
        if not self.text:
            return
        self.app.copy_to_clipboard(self.text)
        self.query_one("#save-status", Static).update(
            Text(
                "Copied to the clipboard (through the terminal, OSC 52; if your terminal blocks "
                "that, save to a file instead).",
                "green",
            )
        )

    @on(Button.Pressed, "#copy")
    def copy_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_copy()

    @on(Button.Pressed, "#save")
    @on(Input.Submitted, "#save-path")
    def save_pressed(self, event: Button.Pressed | Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        field = self.query_one("#save-path", Input)
        result = field.validate(field.value)
        if not self.text:
            return
        if result is not None and not result.is_valid:
            self.show_error(" ".join(result.failure_descriptions))
            return
        self.clear_error()
        self.save(self.services.expand(field.value), overwrite=False)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def save(self, path: Path, overwrite: bool) -> None:
        if save_snippet(path, self.text, overwrite=overwrite):
            self.post_message(SnippetSaved(path))
        else:
            self.post_message(SnippetFileExists(path))

    def on_snippet_saved(self, message: SnippetSaved) -> None:
        self.query_one("#save-status", Static).update(
            Text(f"✓ Saved to {self.services.show(message.path)}", "green")
        )

    def on_snippet_file_exists(self, message: SnippetFileExists) -> None:
        path = message.path

        def answered(yes: bool | None) -> None:
            if yes:
                self.save(path, overwrite=True)

        self.app.push_screen(
            ConfirmDialog(
                f"{self.services.show(path)} exists. Replace it?", yes="Replace", no="Keep it"
            ),
            answered,
        )

    def go_next(self) -> None:
        self.wizard.start_over()  # the last step of both paths that show it
