"""What every wizard step shares: heading, error banner, Back/Next, and the one place
worker failures turn into a readable sentence (never a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Select, Static
from textual.worker import Worker, WorkerState

from airgap_tui.events import Progress, Throttle
from airgap_tui.tui.formatting import describe_error
from airgap_tui.tui.messages import ProgressUpdate
from airgap_tui.tui.widgets.error_banner import ErrorBanner
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from airgap_tui.tui.host import WizardHost
    from airgap_tui.tui.services import Services
    from airgap_tui.tui.state import WizardState


# Below these, the screens switch to their narrow / short layout (app.tcss: .-narrow, .-short):
# 80x24 is common on jump hosts and consoles.
NARROW_BELOW = 100
SHORT_BELOW = 32


class WizardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
    ]
    KEY = ""  # this step's name in the routing table (tui/routes.py)
    TITLE = ""
    NEXT_LABEL = "Next"
    SHOW_NAV = True
    _nav: tuple[bool, bool] | None = None

    @property
    def wizard(self) -> WizardHost:
        return cast("WizardHost", self.app)

    @property
    def state(self) -> WizardState:
        return self.wizard.state

    @property
    def services(self) -> Services:
        return self.wizard.services

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(self.heading(), id="step-title")
        with Vertical(id="body"):
            yield from self.compose_body()
        yield ErrorBanner(id="error")
        if self.SHOW_NAV:
            with Horizontal(id="nav"):
                yield Button("Back", id="back")
                yield Button(self.next_label(), id="next", variant="primary")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def next_label(self) -> str:
        return self.NEXT_LABEL

    def heading(self) -> str:
        parts = ["airgap-tui"]
        where = self.wizard.position(self.KEY) if self.KEY else None
        if where is not None:
            title, number, steps = where
            parts.append(title)
            if number:
                parts.append(f"{number}/{steps} {self.TITLE}")
            elif self.TITLE:
                parts.append(self.TITLE)
        elif self.TITLE:
            parts.append(self.TITLE)
        return " › ".join(parts)

    def on_mount(self) -> None:
        self.fit_to(self.app.size)
        self.refresh_nav()

    def on_resize(self, event: events.Resize) -> None:
        self.fit_to(event.size)

    def fit_to(self, size: Size) -> None:
        """Narrow and short terminals: side panels shrink, fields and buttons lose borders."""
        short = size.height < SHORT_BELOW
        self.set_class(size.width < NARROW_BELOW, "-narrow")
        self.set_class(short, "-short")
        for widget in self.query("Input, Select, Button"):
            if isinstance(widget, Input | Select | Button):
                widget.compact = short

    # --- navigation ---------------------------------------------------------------------
    def can_go_next(self) -> bool:
        return True

    def can_go_back(self) -> bool:
        return len(self.app.screen_stack) > 1

    def go_next(self) -> None:
        """Move on to the next step of the path (tui/routes.py says which)."""
        self.wizard.advance(self)

    def go_back(self) -> None:
        self.app.pop_screen()

    def refresh_nav(self) -> None:
        nav = (self.can_go_next(), self.can_go_back())
        for button in self.query("#next").results(Button):
            button.disabled = not nav[0]
        for button in self.query("#back").results(Button):
            button.disabled = not nav[1]
        if nav != self._nav:  # the footer rebuilds on every refresh: only when Next/Back change
            self._nav = nav
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next":
            if not self.SHOW_NAV:
                return False
            return True if self.can_go_next() else None
        if action == "back":
            return True if self.can_go_back() else False
        return True

    def action_next(self) -> None:
        if self.can_go_next():
            self.clear_error()
            self.go_next()

    def action_back(self) -> None:
        if self.can_go_back():
            self.go_back()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.action_next()
        elif event.button.id == "back":
            event.stop()
            self.action_back()

    # --- pickers ------------------------------------------------------------------------
    def path_picker(
        self,
        *,
        label: str,
        value: str,
        id: str,
        on_drive: Callable[[Path], Path] = lambda mount_point: mount_point,
    ) -> PathPicker:
        """A path field with this host's removable drives and a browser from where the wizard
        browses: what every step that reads or writes the stick starts from."""
        return PathPicker(
            label=label,
            value=value,
            browse_root=self.wizard.browse_root,
            home=self.services.home,
            find_drives=self.services.removable_drives,
            on_drive=on_drive,
            id=id,
        )

    # --- progress -----------------------------------------------------------------------
    def progress_sink(self, rate: float = 8.0) -> Throttle:
        """A domain progress callback: throttled in the worker, then posted (thread-safe).

        Use it as `with self.progress_sink() as progress:` around the domain call, so the
        last update is posted before the worker posts its result."""

        def post(event: Progress) -> None:
            self.post_message(ProgressUpdate(event))

        return Throttle(post, rate=rate)

    # --- errors -------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        self.query_one("#error", ErrorBanner).show(text)

    def clear_error(self) -> None:
        self.query_one("#error", ErrorBanner).clear()

    @property
    def error_text(self) -> str:
        return self.query_one("#error", ErrorBanner).text

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The single place a failed worker is reported: as the domain's own sentence."""
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker, event.worker.error)
            self.refresh_nav()
        elif event.state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
            self.refresh_nav()

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.show_error(describe_error(error))
