"""A delta bundle's tar and sizes: the selected images against what the offline side holds.

The full layout (estimate.py) already knows every blob with its size; a delta is the same
images with the layers a receipt or inventory lists left out. Export and estimate (CLI and
wizard) share this, so the size the operator is shown is the size that gets written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_tui.bundle.layout import Layout, ResolvedImage, plan_layout
from airgap_tui.bundle.manifest import Delta, ExpectedBlob
from airgap_tui.delta.delta import BlobRef, DeltaPlan, Presence, load_presences, plan_delta


@dataclass(frozen=True)
class DeltaLayout:
    """The delta's tar, its bundle.yaml `delta`, and the sizes shown before writing."""

    layout: Layout
    delta: Delta
    plan: DeltaPlan
    full_bytes: int  # the full bundle's tar (what the export without --delta-from writes)
    sources: tuple[Path, ...]

    @property
    def delta_bytes(self) -> int:
        return self.layout.total

    @property
    def saved_bytes(self) -> int:
        return self.full_bytes - self.delta_bytes

    def to_dict(self) -> dict[str, Any]:
        """The `delta` block of `estimate --json` / `export --json`."""
        return {
            "against": self.delta.against,
            "kind": self.delta.kind,
            "files": [str(p) for p in self.sources],
            "full_bytes": self.full_bytes,
            "delta_bytes": self.delta_bytes,
            "saved_bytes": self.saved_bytes,
            "expected_blobs": len(self.delta.expected),
            "expected_bytes": sum(b.size for b in self.delta.expected),
            "carried_blobs": len(self.layout.blobs),
            # The offline host's airgap-tui, when the carried tool is left out (issue 22).
            "tool": self.delta.tool.to_dict() if self.delta.tool is not None else None,
        }


def image_blobs(images: Sequence[ResolvedImage]) -> tuple[list[BlobRef], set[str]]:
    """Every blob of the images in tar order, and the digests always carried (manifests,
    indexes, configs: the contract says only layers may be left out)."""
    refs: list[BlobRef] = []
    always: set[str] = set()
    for image in images:
        if image.index is not None:
            always.add(image.index[0].digest)
        for manifest in image.manifests:
            always.add(manifest.descriptor.digest)
            always.add(manifest.config.digest)
            refs.append(BlobRef(manifest.config.digest, manifest.config.size))
            refs.extend(BlobRef(layer.digest, layer.size) for layer in manifest.layers)
    return refs, always


def delta_layout(
    images: Sequence[ResolvedImage], presence: Presence, *, full: Layout | None = None
) -> DeltaLayout:
    """Plan the delta of `images` against `presence` (`full`: the full layout, if known)."""
    refs, always = image_blobs(images)
    plan = plan_delta(refs, presence, always_carry=always)
    leave_out = {ref.digest for ref in plan.expected}
    layout = plan_layout(list(images), leave_out=leave_out, delta=True)
    if full is None:
        full = plan_layout(list(images))
    delta = Delta(
        against=plan.against,
        kind=plan.kind,
        expected=[ExpectedBlob(ref.digest, ref.size) for ref in plan.expected],
    )
    sources = tuple(source.path for source in presence.sources)
    return DeltaLayout(layout, delta, plan, full.total, sources)


def load_delta_from(paths: Sequence[Path]) -> Presence | None:
    """The merged --delta-from files, or None when none were given (a full bundle)."""
    return load_presences(list(paths)) if paths else None
