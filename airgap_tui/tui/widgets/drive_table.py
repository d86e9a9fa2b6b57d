"""The removable drives the domain found, one row each; selecting a row picks its mount point."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message
from textual.widgets import DataTable

from airgap_tui.tui import formatting

if TYPE_CHECKING:
    from airgap_tui.bundle.media import Drive


class DriveTable(DataTable[str]):
    DEFAULT_CSS = """
    DriveTable { height: auto; max-height: 8; }
    """

    class Picked(Message):
        def __init__(self, table: DriveTable, mount_point: Path) -> None:
            super().__init__()
            self.table = table
            self.mount_point = mount_point

        @property
        def control(self) -> DriveTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.drives: list[Drive] = []

    def on_mount(self) -> None:
        self.add_columns("Mount point", "Filesystem", "Free", "Size", "Device")
        self.show_drives([], placeholder="Looking for removable drives…")

    def show_drives(self, drives: list[Drive], *, placeholder: str = "") -> None:
        self.drives = list(drives)
        self.clear()
        for index, drive in enumerate(self.drives):
            self.add_row(
                str(drive.mount_point),
                drive.filesystem,
                formatting.size(drive.free),
                formatting.size(drive.total),
                str(drive.device),
                key=str(index),
            )
        if not self.drives:
            self.add_row(
                placeholder or "No removable drive found (vfat/exfat/ntfs under /media, /mnt)",
                "",
                "",
                "",
                "",
                key="none",
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key is None or key == "none":
            return
        self.post_message(self.Picked(self, Path(self.drives[int(key)].mount_point)))
