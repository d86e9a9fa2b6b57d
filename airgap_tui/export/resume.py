"""What an interrupted or repeated export finds on the media, and what a re-run keeps.

A re-run of the same selection keeps the complete parts the journal vouches for (each re-hashed
from the media) instead of writing them again; parts that may hold a blob that failed its check
are forgotten, and an operator's stop says what is left on the media.
"""

from __future__ import annotations

from pathlib import Path

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.layout import Entry, Layout
from airgap_tui.bundle.manifest import MANIFEST_NAME, BundlePart
from airgap_tui.bundle.media import human_size
from airgap_tui.bundle.parts import DEFAULT_PREFIX, check_parts, part_name
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.errors import BundleError, Cancelled
from airgap_tui.events import CancelToken


def finished_parts(dest: Path, layout: Layout, part_size: int) -> list[BundlePart]:
    """The parts of a complete bundle of the same tar already in `dest` (a re-run keeps them)."""
    try:
        manifest = read_manifest(dest)
    except BundleError:
        return []
    if manifest.blobs != layout.blobs or [i.to_dict() for i in manifest.images] != [
        i.to_dict() for i in layout.images
    ]:
        return []
    if (manifest.delta is not None) != layout.delta:  # same blobs, other manifest.json
        return []
    if any(part.size != part_size for part in manifest.parts[:-1]):
        return []
    return list(manifest.parts)


def kept_prefix(
    dest: Path, journal: ExportJournal, part_size: int, total: int, cancel: CancelToken
) -> list[BundlePart]:
    """Complete parts 000, 001, … the journal vouches for, each re-hashed from the media.

    Only an unbroken run from the first part is kept without regenerating it. A part that
    fails its check is forgotten; parts after it stay candidates that the writer compares
    byte for byte with the regenerated stream (kept if equal, never trusted blindly).
    """
    kept: list[BundlePart] = []
    offset = 0
    while True:
        part = journal.parts.get(part_name(DEFAULT_PREFIX, len(kept)))
        if part is None or offset + part.size > total:
            break
        if part.size != part_size and offset + part.size != total:
            break
        if check_parts(dest, [part], cancel=cancel):
            journal.forget(part.file)
            break
        kept.append(part)
        offset += part.size
    return kept


def forget_parts_holding(journal: ExportJournal, parts: list[BundlePart], entry: Entry) -> None:
    """A blob that failed its check may have reached parts already closed: never keep those."""
    start = 0
    for part in parts:
        end = start + part.size
        if start < entry.data_offset + entry.size and entry.data_offset < end:
            journal.forget(part.file)
        start = end


def cancelled(exc: Cancelled, dest: Path, parts: list[BundlePart]) -> Cancelled:
    """The operator's stop, saying what is on the media (complete parts are kept on a re-run)."""
    if parts:
        size = human_size(sum(p.size for p in parts))
        count = "1 complete part is" if len(parts) == 1 else f"{len(parts)} complete parts are"
        state = (
            f"{count} in {dest} ({size}) but {MANIFEST_NAME} is not written yet, "
            "so the bundle cannot be used as it is"
        )
    else:
        state = f"no part was completed in {dest}"
    return Cancelled(
        exc.what,
        f"cancelled by the operator; {state}",
        "Run the same export again to resume: it keeps the complete parts and writes the rest",
    )
