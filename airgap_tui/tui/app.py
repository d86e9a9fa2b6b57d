"""The wizard application: holds the state and the services, and routes between steps.

Everything outside the process (engine, drives, registries, catalog, clock, config dir) comes
in through one object, `Services` (its `domain` answers every outside call), so tests point
the wizard at the real test engine and registries, or at fixed data, without patching.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from airgap_tui.events import CancelToken
from airgap_tui.models import DEFAULT_GITLAB_MAJOR, DEFAULT_PLATFORM, DEFAULT_SOURCE_PREFIX
from airgap_tui.tui import routes
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import ConfirmDialog
from airgap_tui.tui.services import Services
from airgap_tui.tui.state import (
    PATH_EXPORT,
    PATH_IMPORT,
    PATH_REQUEST,
    PATH_SNIPPET,
    WizardState,
)


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
        services: Services | None = None,
        *,
        source_prefix: str = DEFAULT_SOURCE_PREFIX,
        platform: str = DEFAULT_PLATFORM,
        gitlab_major: int = DEFAULT_GITLAB_MAJOR,
        state: WizardState | None = None,
    ) -> None:
        """services: the one way in for everything outside (default: the real ones).
        source_prefix, platform, gitlab_major: where the analyzers come from (CLI options).
        state: a prepared wizard state (tests start later screens with it)."""
        super().__init__()
        self.services = services or Services()
        self._tool_ahead: CancelToken | None = None  # prepare_tool's, while it may run
        self.state = state or WizardState(
            source_prefix=source_prefix, platform=platform, gitlab_major=gitlab_major
        )

    @property
    def browse_root(self) -> Path:
        return self.services.browse_root or self.services.home

    def get_default_screen(self) -> Screen[None]:
        return routes.START()

    # --- routing (one table: routes.ROUTES) ---------------------------------------------
    def begin(self, path: str) -> None:
        """Start one of the three paths from the Start screen."""
        self.state.start(path)
        self.push_screen(routes.first_step(path).screen())

    def advance(self, current: WizardScreen) -> None:
        """Go to the step after `current` on the path being walked."""
        step = routes.next_step(self.state.path, current.KEY)
        if step is None:
            self.start_over()
        elif step.replaces_previous:
            self.switch_screen(step.screen())
        else:
            self.push_screen(step.screen())

    def position(self, key: str) -> tuple[str, int, int] | None:
        """(path title, step number, steps) of step `key` on the current path."""
        return routes.position(self.state.path, key)

    # --- the carried tool, built ahead -------------------------------------------------
    def prepare_tool(self) -> None:
        """Build the carried tool into the user's cache while the operator chooses (Estimate
        starts it when the tool goes along), so Write finds it built. One at a time."""
        if self._tool_ahead is not None and not self._tool_ahead.cancelled:
            return
        token = CancelToken()
        self._tool_ahead = token
        self.run_worker(
            partial(self.services.domain.prepare_tool, token),
            thread=True,
            group="tool-ahead",
            exit_on_error=False,
        )

    def stop_preparing_tool(self) -> None:
        """Write is starting: a build still under way stops (the export builds it itself,
        rather than two builds beside the downloads)."""
        if self._tool_ahead is not None:
            self._tool_ahead.cancel()

    def on_unmount(self) -> None:
        self.stop_preparing_tool()  # the wizard is closing: its child build ends with it

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
            (PATH_REQUEST, "Make a request", "Offline host: what the GitLab's templates need"),
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


def run_wizard(
    *,
    source_prefix: str = DEFAULT_SOURCE_PREFIX,
    platform: str = DEFAULT_PLATFORM,
    gitlab_major: int = DEFAULT_GITLAB_MAJOR,
) -> int:
    """Open the wizard in this terminal on this source; the exit code says how it ended."""
    result = AirgapApp(
        source_prefix=source_prefix, platform=platform, gitlab_major=gitlab_major
    ).run()
    return result if isinstance(result, int) else 0
