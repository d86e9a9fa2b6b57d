"""Start: pick a path; see whether Docker answers and which removable drives are plugged in."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from airgap_tui.errors import AirgapError
from airgap_tui.tui.messages import DrivesFound, EngineStatus
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.state import PATH_EXPORT, PATH_IMPORT, PATH_REQUEST, PATH_SNIPPET
from airgap_tui.tui.widgets.drive_table import DriveTable

PATHS = [
    (
        PATH_EXPORT,
        "e",
        "Prepare a bundle",
        "connected host: choose analyzers, estimate, write them to a USB drive",
    ),
    (
        PATH_IMPORT,
        "i",
        "Import a bundle",
        "offline host: verify the drive, load, tag and push to your registry",
    ),
    (
        PATH_SNIPPET,
        "s",
        "CI snippet",
        "the .gitlab-ci.yml variables for analyzers already in a registry",
    ),
    (
        PATH_REQUEST,
        "m",
        "Make a request for the connected host",
        "offline host: ask for what this GitLab's own templates need",
    ),
]


class StartScreen(WizardScreen):
    KEY = "start"
    SHOW_NAV = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "begin('export')", "Prepare"),
        Binding("i", "begin('import')", "Import"),
        Binding("s", "begin('snippet')", "Snippet"),
        Binding("m", "begin('request')", "Request"),
        Binding("r", "refresh", "Refresh"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Carries GitLab security-scanner images across an air gap on removable media. "
            "Choose what to do on this host:",
            id="intro",
        )
        options = []
        for path, key, title, help_text in PATHS:
            prompt = Text.assemble((f" {key} ", "bold reverse"), " ", (title, "bold"))
            prompt.append(f"\n     {help_text}", style="dim")
            options.append(Option(prompt, id=path))
        yield OptionList(*options, id="paths")
        with Horizontal(id="status-row"):
            engine = Static("Checking the Docker engine…", id="engine")
            engine.border_title = "Docker engine"
            yield engine
            drives = DriveTable(id="drives")
            drives.border_title = "Removable drives"
            yield drives

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#paths", OptionList).focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one("#engine", Static).update("Checking the Docker engine…")
        self.services.forget_engine()
        self.check_engine()
        self.find_drives()

    def action_begin(self, path: str) -> None:
        self.wizard.begin(path)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.wizard.begin(event.option.id)

    # --- workers ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def check_engine(self) -> None:
        try:
            info = self.services.engine().info()
        except AirgapError as exc:
            self.services.forget_engine()
            self.post_message(EngineStatus(None, exc.sentence()))
            return
        self.post_message(EngineStatus(info))

    @work(thread=True, exclusive=True, group="drives", exit_on_error=False)
    def find_drives(self) -> None:
        self.post_message(DrivesFound(self.services.removable_drives()))

    def on_engine_status(self, message: EngineStatus) -> None:
        text = Text()
        info = message.info
        if info is None:
            text.append("✗ not reachable\n", style="bold red")
            text.append(message.error)
            text.append(
                "\nExport, verify and the CI snippet work without an engine; press r to check "
                "again.",
                style="dim",
            )
        else:
            text.append("✓ reachable\n", style="bold green")
            text.append(f"Docker {info.version} (API {info.api_version})\n")
            text.append(f"DOCKER_HOST: {info.docker_host}")
        self.query_one("#engine", Static).update(text)

    def on_drives_found(self, message: DrivesFound) -> None:
        self.query_one("#drives", DriveTable).show_drives(message.drives)
