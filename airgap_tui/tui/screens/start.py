"""Start: pick a path; see what this host can do (the import routes, the proxy in effect) and
which removable drives are plugged in.

Docker is optional: export, verify, pushing straight to a registry and the snippet need no
engine; only the "load into Docker" route does, so its absence is a note, not an error."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
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
        "connected host: pick analyzers, see the size, write to a drive",
    ),
    (
        PATH_IMPORT,
        "i",
        "Import a bundle",
        "offline host: verify the drive, push straight to your registry",
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

    def __init__(self) -> None:
        super().__init__()
        self.engine_line = Text("… Load into Docker: checking for an engine", "dim")

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Carries GitLab's security-scanner images across an air gap on removable media.",
            id="intro",
        )
        options = []
        for path, key, title, help_text in PATHS:
            prompt = Text.assemble((f" {key} ", "bold reverse"), " ", (title, "bold"))
            prompt.append(f"\n     {help_text}", style="dim")
            options.append(Option(prompt, id=path))
        yield OptionList(*options, id="paths")
        with Container(id="status-row"):
            host = Static(self.host_text(), id="host")
            host.border_title = "This host"
            yield host
            drives = DriveTable(id="drives")
            drives.border_title = "Removable drives"
            yield drives

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#paths", OptionList).focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        self.engine_line = Text("… Load into Docker: checking for an engine", "dim")
        self.show_host()
        self.services.forget_engine()
        self.check_engine()
        self.find_drives()

    def action_begin(self, path: str) -> None:
        self.wizard.begin(path)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.wizard.begin(event.option.id)

    # --- this host ----------------------------------------------------------------------
    def host_text(self) -> Text:
        """The routes this host can take and the proxy in effect, one line each."""
        text = Text()
        text.append("✓ ", "bold green")
        text.append("Straight to a registry", "bold")
        text.append(": no Docker needed (digests kept)\n")
        text.append_text(self.engine_line)
        text.append("\n")
        source = self.state.source_prefix.split("/", 1)[0]
        proxy = self.services.domain.source_proxy(source)
        text.append("Proxy ", "bold")
        if proxy is None:
            text.append(f"to {source}: none, direct")
        else:
            name, address = proxy
            text.append(f"to {source}: {address} ({name})")
        return text

    def show_host(self) -> None:
        self.query_one("#host", Static).update(self.host_text())

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
        line = Text()
        info = message.info
        if info is None:
            line.append("– ", "bold")
            line.append("Load into Docker", "bold")
            line.append(": optional; no engine answers here (r: check again)", "dim")
        else:
            line.append("✓ ", "bold green")
            line.append("Load into Docker", "bold")
            line.append(f": optional; Docker {info.version} at {info.docker_host}")
        self.engine_line = line
        self.show_host()

    def on_drives_found(self, message: DrivesFound) -> None:
        self.query_one("#drives", DriveTable).show_drives(message.drives)
