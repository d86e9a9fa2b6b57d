"""Messages the "Make a request" workers post to their screen (see messages.py for why)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from airgap_tui.delta.inventory import Inventory
    from airgap_tui.tui.request_domain import OpenedRequest
    from airgap_tui.tui.request_draft import RequestDraft


@dataclass
class TemplatesRead(Message):
    """The templates were read and evaluated: `draft` holds their text and images."""

    draft: RequestDraft


@dataclass
class InventoryTaken(Message):
    """What the registry holds, for the images the templates ask for."""

    registry: str
    inventory: Inventory


@dataclass
class RequestWritten(Message):
    path: Path


@dataclass
class RequestOpened(Message):
    """A request file read on the connected host, turned into what to carry."""

    opened: OpenedRequest
