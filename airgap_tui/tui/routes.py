"""The wizard's routing in one table: each path is its steps in order, each step a screen.

Screens never import the next screen: they ask the app to `advance()`, and the app looks the
next step up here. So the screen modules import only the shared base, dialogs and widgets, and
a step added, moved or dropped is a change to this table alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.destination import DestinationScreen
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.import_bundle import ImportBundleScreen
from airgap_tui.tui.screens.push import PushScreen
from airgap_tui.tui.screens.registry import RegistryScreen
from airgap_tui.tui.screens.request_missing import RequestMissingScreen
from airgap_tui.tui.screens.request_source import RequestSourceScreen
from airgap_tui.tui.screens.request_write import RequestWriteScreen
from airgap_tui.tui.screens.snippet import SnippetScreen
from airgap_tui.tui.screens.start import StartScreen
from airgap_tui.tui.screens.verify import VerifyScreen
from airgap_tui.tui.screens.write import WriteScreen
from airgap_tui.tui.state import PATH_EXPORT, PATH_IMPORT, PATH_REQUEST, PATH_SNIPPET


@dataclass(frozen=True)
class Step:
    screen: type[WizardScreen]
    # Replace the screen before it instead of stacking on it: Done follows a finished Write,
    # and Back from Done must not land on a Write that would run again.
    replaces_previous: bool = False

    @property
    def key(self) -> str:
        return self.screen.KEY


@dataclass(frozen=True)
class Route:
    title: str
    steps: tuple[Step, ...]

    def keys(self) -> list[str]:
        return [step.key for step in self.steps]


START = StartScreen

ROUTES: dict[str, Route] = {
    PATH_EXPORT: Route(
        "Prepare a bundle",
        (
            Step(AnalyzersScreen),
            Step(EstimateScreen),
            Step(DestinationScreen),
            Step(WriteScreen),
            Step(DoneScreen, replaces_previous=True),
        ),
    ),
    PATH_IMPORT: Route(
        "Import a bundle",
        (
            Step(ImportBundleScreen),
            Step(VerifyScreen),
            Step(RegistryScreen),
            Step(PushScreen),
            Step(SnippetScreen),  # the snippet for what was pushed
        ),
    ),
    PATH_SNIPPET: Route(
        "CI snippet",
        (Step(AnalyzersScreen), Step(RegistryScreen), Step(SnippetScreen)),
    ),
    PATH_REQUEST: Route(
        "Make a request",
        (
            Step(RequestSourceScreen),
            Step(RequestMissingScreen),
            Step(RequestWriteScreen),
            Step(SnippetScreen),  # from the templates, when the registry was checked
        ),
    ),
}


def first_step(path: str) -> Step:
    return ROUTES[path].steps[0]


def next_step(path: str, key: str) -> Step | None:
    """The step after `key` on `path`; None at the end (or for a step not on it)."""
    keys = ROUTES[path].keys() if path in ROUTES else []
    if key not in keys or keys.index(key) + 1 >= len(keys):
        return None
    return ROUTES[path].steps[keys.index(key) + 1]


def position(path: str, key: str) -> tuple[str, int, int] | None:
    """(path title, 1-based step number, number of steps), for the heading."""
    route = ROUTES.get(path)
    if route is None:
        return None
    keys = route.keys()
    if key not in keys:
        return (route.title, 0, len(keys))
    return (route.title, keys.index(key) + 1, len(keys))
