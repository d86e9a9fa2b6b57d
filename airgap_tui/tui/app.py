"""The wizard application: holds the state and the injected services, and routes between steps.

Everything outside the process (engine, drives, registries, clock, config dir) comes in through
the constructor, so tests point it at the real test engine and registries, and snapshot tests at
fixed data, without patching anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from airgap_tui.models import DEFAULT_GITLAB_MAJOR, DEFAULT_PLATFORM, DEFAULT_SOURCE_PREFIX
from airgap_tui.tui.screens.dialogs import ConfirmDialog
from airgap_tui.tui.services import Domain, Services
from airgap_tui.tui.state import PATH_EXPORT, PATH_IMPORT, PATH_SNIPPET, WizardState

if TYPE_CHECKING:
    from airgap_tui.catalog import Catalog
    from airgap_tui.engine import Engine
    from airgap_tui.media import Drive


class AirgapApp(App[int]):
    # Read through importlib.resources, not CSS_PATH: Textual opens CSS_PATH as a real file,
    # and in the carried airgap-tui.pyz the stylesheet lives inside the zip.
    CSS = resources.files("airgap_tui.tui").joinpath("app.tcss").read_text(encoding="utf-8")
    TITLE = "airgap-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        *,
        engine_factory: Callable[[], Engine] | None = None,
        catalog: Catalog | None = None,
        drives: Callable[[], list[Drive]] | None = None,
        domain: Domain | None = None,
        source_prefix: str = DEFAULT_SOURCE_PREFIX,
        platform: str = DEFAULT_PLATFORM,
        gitlab_major: int = DEFAULT_GITLAB_MAJOR,
        home: Path | None = None,
        browse_root: Path | None = None,
        config_dir: Path | None = None,
        receipt_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        state: WizardState | None = None,
    ) -> None:
        """
        engine_factory: connects to Docker (default: DOCKER_HOST / the local socket).
        catalog: the analyzer catalog (default: the packaged one).
        drives: lists removable drives (default: /proc/self/mountinfo).
        domain: the domain calls; a subclass may feed fixed data to snapshot tests.
        home: where snippet files are offered to be saved (default: ~).
        browse_root: where the directory trees start (default: home).
        config_dir: profiles go under config_dir/profiles (default: home/.config/airgap-tui).
        receipt_dir: where import receipts go (default: the current directory).
        clock: monotonic seconds, for rates and time left.
        state: a prepared wizard state (tests start later screens with it).
        """
        super().__init__()
        if config_dir is None and home is not None:
            config_dir = home / ".config" / "airgap-tui"
        home = home or Path.home()
        self.services = Services(
            domain=domain or Domain(),
            engine_factory=engine_factory,
            catalog=catalog,
            drives=drives,
            clock=clock,
            home=home,
            config_dir=config_dir,
            receipt_dir=receipt_dir,
        )
        self.browse_root = browse_root or home
        self.state = state or WizardState(
            source_prefix=source_prefix, platform=platform, gitlab_major=gitlab_major
        )

    def get_default_screen(self) -> Screen[None]:
        from airgap_tui.tui.screens.start import StartScreen

        return StartScreen()

    # --- routing ------------------------------------------------------------------------
    def begin(self, path: str) -> None:
        """Start one of the three paths from the Start screen."""
        from airgap_tui.tui.screens.analyzers import AnalyzersScreen
        from airgap_tui.tui.screens.import_bundle import ImportBundleScreen

        self.state.start(path)
        if path == PATH_IMPORT:
            self.push_screen(ImportBundleScreen())
        else:
            self.push_screen(AnalyzersScreen())

    async def action_start_over(self) -> None:
        while len(self.screen_stack) > 1:
            await self.pop_screen()

    def start_over(self) -> None:
        """Back to Start from any step (runs on the app, not on the screen being closed)."""
        self.run_worker(self.action_start_over(), group="navigation", exclusive=True)

    async def restart(self, path: str) -> None:
        await self.action_start_over()
        self.begin(path)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Start over", "Back to the Start screen (nothing is deleted)", self.action_start_over
        )
        for path, title, help_text in (
            (PATH_EXPORT, "Prepare a bundle", "Connected host: choose, estimate, write to media"),
            (PATH_IMPORT, "Import a bundle", "Offline host: verify, load, tag, push"),
            (PATH_SNIPPET, "CI snippet", "The .gitlab-ci.yml variables for a registry"),
        ):
            yield SystemCommand(
                title,
                help_text,
                lambda p=path: self.run_worker(self.restart(p), group="navigation"),
            )

    # --- quitting while a transfer runs -------------------------------------------------
    def busy_screen(self) -> Screen[object] | None:
        for screen in reversed(self.screen_stack):
            if getattr(screen, "busy", False):
                found: Screen[object] = screen
                return found
        return None

    async def action_quit(self) -> None:
        busy = self.busy_screen()
        if busy is None:
            self.exit(0)
            return

        def answered(stop: bool | None) -> None:
            if stop:
                stop_work = getattr(busy, "stop_work", None)
                if callable(stop_work):
                    stop_work()
                self.exit(130)

        self.push_screen(
            ConfirmDialog(
                "Work is still running. Stop it at the next chunk and quit? "
                "What is done so far is kept and can be resumed.",
                yes="Stop and quit",
                no="Keep going",
            ),
            answered,
        )


def run_wizard() -> int:
    """Open the wizard in this terminal; the exit code says how it ended."""
    result = AirgapApp().run()
    return result if isinstance(result, int) else 0
