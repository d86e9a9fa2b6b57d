"""The export journal: which parts an interrupted export already wrote, so a re-run resumes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from airgap_tui.bundle.atomic import atomic_write_bytes, unlink_durably
from airgap_tui.bundle.manifest import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_PART_SIZE,
    BundlePart,
    is_safe_part_name,
)
from airgap_tui.bundle.parts import _SHA256_HEX, media_error
from airgap_tui.bundle.safe_load import load_bounded_json
from airgap_tui.errors import AirgapError


@dataclass
class ExportJournal:
    """What an unfinished export already put on the media, so a re-run can keep it.

    Every entry describes a complete part file (renamed into place after fsync) and its sha256.
    Entries are candidates, not promises: the writer keeps a part only when the regenerated
    stream reproduces it byte for byte.
    """

    bundle_dir: Path
    selection_key: str
    part_size: int
    parts: dict[str, BundlePart] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.bundle_dir / JOURNAL_NAME

    @property
    def done_bytes(self) -> int:
        return sum(part.size for part in self.parts.values())

    def matches(self, selection_key: str) -> bool:
        return self.selection_key == selection_key

    @classmethod
    def load(cls, bundle_dir: str | os.PathLike[str]) -> ExportJournal | None:
        """The journal left by an earlier run; None when absent or unreadable (start afresh)."""
        directory = Path(bundle_dir)
        try:
            data = load_bounded_json(
                directory / JOURNAL_NAME, what=JOURNAL_NAME, max_bytes=MAX_MANIFEST_BYTES
            )
            parts: dict[str, BundlePart] = {}
            for raw in data["parts"]:
                part = BundlePart(file=raw["file"], size=raw["size"], sha256=raw["sha256"])
                if not (
                    isinstance(part.file, str)
                    and is_safe_part_name(part.file)
                    and isinstance(part.size, int)
                    and not isinstance(part.size, bool)
                    and 0 <= part.size <= MAX_PART_SIZE
                    and isinstance(part.sha256, str)
                    and _SHA256_HEX.fullmatch(part.sha256)
                ):
                    return None
                parts[part.file] = part
            key, part_size = data["selection_key"], data["part_size"]
            if (
                data.get("version") != 1
                or not isinstance(key, str)
                or not isinstance(part_size, int)
            ):
                return None
        except (OSError, AirgapError, ValueError, KeyError, TypeError):
            return None
        return cls(directory, key, part_size, parts)

    @classmethod
    def begin(
        cls,
        bundle_dir: str | os.PathLike[str],
        selection_key: str,
        part_size: int,
        *,
        resume: bool = True,
        finished: Iterable[BundlePart] = (),
    ) -> ExportJournal:
        """Start or resume an export: record the selection, then retire bundle.yaml.

        With `resume`, the parts of an earlier run of this selection, and `finished` (the parts
        of a complete bundle of the same selection already in the directory), become
        candidates to keep. bundle.yaml is removed before any part changes, so the directory
        never looks complete while it is being rewritten.
        """
        directory = Path(bundle_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            candidates: dict[str, BundlePart] = {}
            if resume:
                candidates.update({p.file: p for p in finished})
                previous = cls.load(directory)
                if previous is not None and previous.matches(selection_key):
                    candidates.update(previous.parts)
            journal = cls(directory, selection_key, part_size, candidates)
            journal.save()
            unlink_durably(directory / MANIFEST_NAME)
        except OSError as exc:
            raise media_error(exc, f"Preparing {directory}", directory, None) from exc
        return journal

    def save(self) -> None:
        data = {
            "version": 1,
            "selection_key": self.selection_key,
            "part_size": self.part_size,
            "parts": [part.to_dict() for part in self.parts.values()],
        }
        atomic_write_bytes(self.path, json.dumps(data, indent=1).encode("utf-8"))

    def record(self, part: BundlePart) -> None:
        self.parts[part.file] = part
        self.save()

    def forget(self, file: str) -> None:
        if self.parts.pop(file, None) is not None:
            self.save()

    def remove(self) -> None:
        unlink_durably(self.path)
