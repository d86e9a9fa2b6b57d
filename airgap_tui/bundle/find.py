"""Which directories on a drive hold a bundle: what the operator picks from."""

from __future__ import annotations

from pathlib import Path

from airgap_tui.bundle.manifest import MANIFEST_NAME


def find_bundles(directory: Path, limit: int = 20) -> list[Path]:
    """Bundles in `directory` itself or one level below (where an export puts them): what a
    drive holds, for the operator to pick from. Unreadable entries are passed over."""
    found: list[Path] = []
    try:
        if (directory / MANIFEST_NAME).is_file():
            return [directory]
        for child in sorted(directory.iterdir()):
            if len(found) >= limit:
                break
            try:
                if child.is_dir() and not child.is_symlink() and (child / MANIFEST_NAME).is_file():
                    found.append(child)
            except OSError:
                continue
    except OSError:
        return found
    return found
