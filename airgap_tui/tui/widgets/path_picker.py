"""Three ways to name one directory (or, with `files=True`, a receipt or inventory file): a
removable drive, a typed path, or the directory tree.

The Input (#path) is the single source of truth; picking a drive or a tree entry writes into it,
so the screen only listens to `Input.Changed`. Drives are looked up in a thread worker (mount
tables can stall on a dead network mount).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DirectoryTree, Input, Label

from airgap_tui.tui.messages import DrivesFound
from airgap_tui.tui.validators import AbsolutePath
from airgap_tui.tui.widgets.dir_tree import DirsOnlyTree, ReceiptTree
from airgap_tui.tui.widgets.drive_table import DriveTable

if TYPE_CHECKING:
    from airgap_tui.bundle.media import Drive


class PathPicker(Vertical):
    def __init__(
        self,
        *,
        label: str,
        value: str,
        browse_root: Path,
        home: Path,
        find_drives: Callable[[], list[Drive]],
        on_drive: Callable[[Path], Path] = lambda mount_point: mount_point,
        files: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._label = label
        self._value = value
        self._browse_root = browse_root
        self._home = home
        self._find_drives = find_drives
        self._on_drive = on_drive  # the directory to propose on a picked drive
        self._files = files  # pick .json files (several, comma-separated); the caller checks them

    def compose(self) -> ComposeResult:
        drives = DriveTable(id="drives")
        drives.border_title = "Removable drives (Enter picks one)"
        yield drives
        yield Label(self._label, classes="field")
        yield Input(
            value=self._value,
            id="path",
            placeholder="/media/usb/airgap-receipt-….json"
            if self._files
            else "/media/usb/airgap-bundle",
            validators=[] if self._files else [AbsolutePath()],
        )
        tree_class = ReceiptTree if self._files else DirsOnlyTree
        tree = tree_class(self._browse_root, home=self._home, id="tree")
        tree.border_title = "Browse"
        yield tree

    def on_mount(self) -> None:
        self.rescan()

    @property
    def value(self) -> str:
        return self.query_one("#path", Input).value

    def focus_drives(self) -> None:
        self.query_one("#drives", DriveTable).focus()

    def rescan(self) -> None:
        self._scan()

    @work(thread=True, exclusive=True, group="drives", exit_on_error=False)
    def _scan(self) -> None:
        self.post_message(DrivesFound(self._find_drives()))

    def on_drives_found(self, message: DrivesFound) -> None:
        message.stop()
        self.query_one("#drives", DriveTable).show_drives(message.drives)

    @on(DriveTable.Picked)
    def _drive_picked(self, event: DriveTable.Picked) -> None:
        event.stop()
        self.query_one("#path", Input).value = str(self._on_drive(event.mount_point))

    @on(DirectoryTree.DirectorySelected, "#tree")
    def _dir_picked(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        self.query_one("#path", Input).value = str(event.path)

    @on(DirectoryTree.FileSelected, "#tree")
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        """A file picked in the tree is added to the ones already named (a delta may be made
        against several receipts and inventories)."""
        event.stop()
        field = self.query_one("#path", Input)
        named = [part.strip() for part in field.value.split(",") if part.strip()]
        picked = str(event.path)
        if picked not in named:
            named.append(picked)
        field.value = ", ".join(named)
