"""Which airgap-tui is running: its version, and when it runs from airgap-tui.pyz, that file's
sha256. A receipt or an inventory records it, so the next delta knows which tool the offline
host already holds and can leave the carried tool out (issue 22).

Run from the archive, the package's `__file__` lies inside the zip (`…/airgap-tui.pyz/
airgap_tui/__init__.py`): its directory is not a directory, and the archive is its parent. That
is also how toolpack.check_buildable tells it cannot re-pack itself.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_tui import __version__

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ToolIdentity:
    """`sha256` is None for an installed airgap-tui (no single file to name)."""

    version: str
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256}


def running_archive() -> Path | None:
    """The airgap-tui.pyz this process runs from, or None when airgap-tui is installed."""
    import airgap_tui

    package_dir = Path(airgap_tui.__file__).parent
    if package_dir.is_dir():
        return None
    archive = package_dir.parent
    return archive if archive.is_file() else None


@functools.cache
def running_tool() -> ToolIdentity:
    """This process's airgap-tui (hashed once per process: the archive does not change)."""
    archive = running_archive()
    if archive is None:
        return ToolIdentity(__version__, None)
    digest = hashlib.sha256()
    try:
        with archive.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return ToolIdentity(__version__, None)  # unreadable now: say only the version
    return ToolIdentity(__version__, digest.hexdigest())
