"""What a wizard step may ask of the app it runs in.

The screens type `self.app` as this Protocol, not as the App class: the App imports the routing
table, which imports every screen, so a screen importing the App (even for types) would close an
import circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from airgap_tui.tui.services import Services
    from airgap_tui.tui.state import WizardState


class Step(Protocol):
    """A step as the routing table knows it: by its key."""

    KEY: str


class WizardHost(Protocol):
    state: WizardState
    services: Services

    @property
    def browse_root(self) -> Path: ...

    def begin(self, path: str) -> None: ...

    def advance(self, current: Step) -> None: ...

    def position(self, key: str) -> tuple[str, int, int] | None: ...

    def start_over(self) -> None: ...

    def prepare_tool(self) -> None: ...

    def stop_preparing_tool(self) -> None: ...
