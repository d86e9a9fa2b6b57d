"""Waiting for the wizard's workers without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerState

from airgap_tui.bundle.media import Drive
from airgap_tui.errors import EngineError
from airgap_tui.importer.engine import Engine
from airgap_tui.tui.screens.destination import DestinationScreen
from airgap_tui.tui.services import Domain
from tests.tui.fakes import BUNDLE, USB

ACTIVE = (WorkerState.PENDING, WorkerState.RUNNING)


class NoEngine(Domain):
    """The real domain on a host with no Docker engine and no removable drive."""

    def connect_engine(self) -> Engine:
        raise EngineError(
            "Docker engine at unix:///nonexistent", "it is not reachable", "Start Docker"
        )

    def removable_drives(self) -> list[Drive]:
        return []


async def settle(pilot: Pilot[Any], rounds: int = 4, *, skip: Collection[str] = ()) -> None:
    """Let the screen's workers finish and their messages land.

    The DirectoryTree's queue loader never finishes (group "_loader"), so "all workers" would
    wait forever; `skip` names groups left running on purpose (a held export); a cancelled
    worker raises on wait(), hence return_exceptions.
    """
    ignored = {"_loader", *skip}
    for _ in range(rounds):
        await pilot.pause()
        active = [w for w in pilot.app.workers if w.group not in ignored and w.state in ACTIVE]
        if active:
            await asyncio.gather(*(w.wait() for w in active), return_exceptions=True)
    await pilot.pause()


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], rounds: int = 500) -> None:
    """Process events until `condition` holds (each round yields to the event loop)."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause()
    raise AssertionError("the screen never reached the expected state")


async def settle_until(
    pilot: Pilot[Any],
    condition: Callable[[], bool],
    *,
    what: str,
    rounds: int = 100,
    skip: Collection[str] = (),
    timeout: float = 900.0,
) -> None:
    """settle() until `condition` holds, for steps that wait on real transfers.

    Each round awaits the workers themselves (a pull or push ends when it ends, no sleeping);
    the timeout only keeps a hung engine from hanging the whole suite.
    """
    async with asyncio.timeout(timeout):
        for _ in range(rounds):
            if condition():
                return
            await settle(pilot, skip=skip)
    if not condition():
        raise AssertionError(f"the wizard never reached: {what}")


async def type_text(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Focus an Input on the current screen, empty it and type `text` key by key."""
    pilot.app.screen.query_one(selector).focus()
    await pilot.pause()
    await pilot.press("end", "ctrl+u", *text)


async def to_checked_destination(pilot: Pilot[Any], dest: Path) -> DestinationScreen:
    """From Estimate: Next, type `dest` and wait until the Destination screen has checked it."""
    await pilot.press("ctrl+n")
    await settle(pilot)
    destination = pilot.app.screen
    assert isinstance(destination, DestinationScreen)
    await type_text(pilot, "#path", str(dest))
    await settle_until(
        pilot,
        lambda: destination.checked is not None and destination.checked.path == dest,
        what="the destination is checked",
    )
    return destination


# --------------------------------------------------------------------------- walking the wizard
# An action is a key to press, or (selector, value) to type into an Input of the screen.
Action = str | tuple[str, str]

REGISTRY = "registry.example.com:5000/security-products"
TO_ESTIMATE: tuple[Action, ...] = ("e", "1", "ctrl+n")  # preset 1 (default analyzers)
TO_DESTINATION: tuple[Action, ...] = (*TO_ESTIMATE, "ctrl+n")
DEST: Action = ("#path", f"{USB}/airgap-bundle")
TO_DONE: tuple[Action, ...] = (*TO_DESTINATION, DEST, "ctrl+n")
TO_HELD_WRITE: tuple[Action, ...] = ("e", "2", "ctrl+n", "ctrl+n", DEST, "ctrl+n")  # hold=True
TO_IMPORT: tuple[Action, ...] = ("i", ("#path", BUNDLE))
TO_VERIFY: tuple[Action, ...] = (*TO_IMPORT, "ctrl+n")
TO_REGISTRY: tuple[Action, ...] = (*TO_VERIFY, "ctrl+n")
TO_PUSH: tuple[Action, ...] = (*TO_REGISTRY, ("#registry", REGISTRY), "ctrl+n")


async def walk(pilot: Pilot[Any], *actions: Action, skip: Collection[str] = ()) -> None:
    """Do `actions` from where the wizard is, settling after each (and before the first)."""
    await settle(pilot, skip=skip)
    for action in actions:
        if isinstance(action, tuple):
            selector, value = action
            pilot.app.screen.query_one(selector, Input).value = value
        else:
            await pilot.press(action)
        await settle(pilot, skip=skip)


def still(pilot: Pilot[Any]) -> None:
    """No blinking cursor on screen: a snapshot must not depend on when it was taken."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
