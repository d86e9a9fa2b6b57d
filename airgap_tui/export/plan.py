"""The rules both fronts apply before any byte moves: which images a selection means, where
they come from, and what a destination can take.

The CLI and the wizard ask these functions the same questions and so get the same answers:
the same images in the same order from the same names, and the same verdict on a drive
(fits, reusable parts, another bundle already there, the part size it can hold).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airgap_tui.errors import AirgapError, BundleError, MediaError, UsageError
from airgap_tui.registry.reference import looks_like_host, split_prefix

if TYPE_CHECKING:
    from airgap_tui.bundle.journal import ExportJournal
    from airgap_tui.bundle.manifest import BundleManifest
    from airgap_tui.bundle.media import DestinationInfo
    from airgap_tui.catalog.catalog import Catalog
    from airgap_tui.catalog.request import Request
    from airgap_tui.models import ImageSpec


# --- the source ----------------------------------------------------------------------------
def validate_source_prefix(prefix: str) -> str:
    """`host[:port][/path]` a mirror serves the analyzers under; returned without a trailing
    slash. A bare word is refused: it would be taken for a Docker Hub user."""
    text = prefix.strip().rstrip("/")
    host, _ = split_prefix(text)
    if not looks_like_host(host):
        raise UsageError(
            f"Source {text!r}",
            f"{host!r} does not look like a registry host (it needs a '.', a ':port' or "
            "'localhost')",
            "Give host[:port][/path], e.g. harbor.example.com/gitlab/security-products",
        )
    return text


def validate_platform(platform: str) -> str:
    """`os/arch[/variant]`, as the registry's indexes name platforms."""
    from airgap_tui.registry.oci import parse_platform

    try:
        parse_platform(platform)
    except AirgapError as exc:
        raise UsageError(exc.what, exc.cause, exc.next_step) from None
    return platform.strip()


# --- the selection ---------------------------------------------------------------------------
def resolve_selection(
    catalog: Catalog, names: Iterable[str], major: int, source_prefix: str
) -> list[ImageSpec]:
    """Catalog names (`semgrep`, `semgrep:5`) and full references, as images to pull.

    Kept in the order given, each image once: the bundle's image order (and so its
    fingerprint) depends on the selection, never on how it was typed twice."""
    specs: list[ImageSpec] = []
    seen: set[str] = set()
    for name in names:
        spec = catalog.resolve(name, major, source_prefix)
        if spec.label not in seen:
            seen.add(spec.label)
            specs.append(spec)
    if not specs:
        raise UsageError("Selection", "no images were chosen", "Name at least one analyzer")
    return specs


def request_specs(
    catalog: Catalog, request: Request, major: int, source_prefix: str
) -> list[ImageSpec]:
    """What `export --request FILE` (and the wizard's request) carries: each image the request
    names, once, pulled from `source_prefix`."""
    prefix = validate_source_prefix(source_prefix)
    specs: list[ImageSpec] = []
    seen: set[str] = set()
    for image in request.images:
        ref = f"{prefix}/{image.reference}" if image.under_prefix else image.reference
        if ref not in seen:
            seen.add(ref)
            specs.append(catalog.resolve(ref, major, prefix))
    if not specs:
        raise UsageError(
            f"Request file {request.path}", "it names no image", "Write the request again"
        )
    return specs


# --- the destination -------------------------------------------------------------------------
@dataclass(frozen=True)
class DestinationPlan:
    """What writing `needed` bytes of these images to `path` would meet."""

    path: Path
    info: DestinationInfo
    part_size: int  # the asked part size, clamped to what the filesystem holds per file
    part_size_note: str | None  # why it was clamped
    journal: ExportJournal | None  # an interrupted export of a bundle here
    existing: BundleManifest | None  # a complete bundle already here
    other_images: bool  # `existing` holds other images: it may be the only copy
    reusable: int  # bytes already on the media that need no new space
    unreadable: str | None = None  # why a bundle.yaml here could not be read (e.g. format 1)

    @property
    def resumes(self) -> bool:
        """Writing here resumes (or re-checks) a bundle of these same images."""
        return self.journal is not None or (self.existing is not None and not self.other_images)

    @property
    def usable(self) -> bool:
        return (
            self.info.fits
            and self.info.writable
            and not self.other_images
            and self.unreadable is None
        )

    def refusal(self) -> AirgapError | None:
        """Why nothing may be written here, as the error both fronts show; None if usable."""
        info = self.info
        if self.unreadable is not None:
            return UsageError(
                f"Destination {self.path}",
                f"it already holds a bundle this airgap-tui cannot read ({self.unreadable})",
                "Choose another directory, or delete that bundle first if you no longer need it",
            )
        if self.other_images and self.existing is not None:
            held = ", ".join(f"{i.name}:{i.tag}" for i in self.existing.images)
            return UsageError(
                f"Destination {self.path}",
                f"it already holds a complete bundle of other images ({held})",
                "Choose another directory, or delete that bundle first if you no longer need it",
            )
        if not info.writable:
            return MediaError(
                f"Destination {self.path}",
                f"cannot write to {info.existing} ({info.problem})",
                "Choose a writable directory, or remount the drive read-write",
            )
        if not info.fits:
            return MediaError(
                f"Destination {self.path}",
                f"the bundle {info.space_sentence()}",
                "Free some space or choose a bigger drive",
            )
        return None


def plan_destination(
    path: Path, needed_bytes: int, specs: list[ImageSpec], part_size: int
) -> DestinationPlan:
    """Look at `path` (which may not exist yet) for a bundle of `specs` of `needed_bytes`.

    Parts an interrupted or finished export of the same images left there are rewritten in
    place or kept, so they need no new space; a finished bundle of other images is never
    overwritten. Touches the disk only to read (free space, a write probe, bundle.yaml)."""
    from airgap_tui.bundle.journal import ExportJournal
    from airgap_tui.bundle.media import check_destination, clamp_part_size
    from airgap_tui.bundle.schema import read_manifest

    target = path.expanduser().absolute()
    journal: ExportJournal | None = None
    existing: BundleManifest | None = None
    unreadable: str | None = None
    if target.is_dir():
        journal = ExportJournal.load(target)
        try:
            existing = read_manifest(target)
        except BundleError as exc:
            existing = None
            if (target / "bundle.yaml").exists():
                unreadable = exc.cause
    other = False
    if existing is not None:
        have = sorted((i.name, i.tag) for i in existing.images)
        other = have != sorted((s.name, s.tag) for s in specs)
    if journal is not None:
        reusable = journal.done_bytes
    elif existing is not None and not other:
        reusable = existing.total_bytes
    else:
        reusable = 0
    info = check_destination(target, max(needed_bytes - reusable, 0), strict=False)
    clamped, note = clamp_part_size(part_size, info.filesystem)
    return DestinationPlan(
        path=target,
        info=info,
        part_size=min(clamped, info.max_part_size),
        part_size_note=note,
        journal=journal,
        existing=existing,
        other_images=other,
        reusable=reusable,
        unreadable=unreadable,
    )
