"""The import receipt: the audit record a security officer asks for (no secrets in it).

Per image it says which upstream digest went in and which digest the registry now serves
(`digest_kept`), and the blobs the image needs that the target now holds: a later
`export --delta-from RECEIPT` leaves those out (docs/bundle-format.md, "Import receipt").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from airgap_tui import __version__
from airgap_tui.bundle.atomic import atomic_write_bytes
from airgap_tui.bundle.manifest import BundleManifest
from airgap_tui.bundle.trust import TrustReport
from airgap_tui.errors import MediaError
from airgap_tui.importer.outcome import ImageResult
from airgap_tui.toolpack.identity import running_tool


def write_receipt(
    directory: Path,
    *,
    bundle_dir: Path,
    manifest: BundleManifest,
    registry: str,
    verification: str,
    problems: Sequence[str],
    images: Sequence[ImageResult],
    warnings: Sequence[str] = (),
    route: str,
    engine: str | None,
    started: datetime,
    trust: TrustReport | None = None,
) -> Path:
    """Write `airgap-receipt-<fingerprint>-<time>.json` atomically and return its path."""
    finished = datetime.now(UTC)
    rows = [image.to_dict() for image in images]
    record = {
        "kind": "airgap-tui import receipt",
        "tool_version": __version__,
        # The airgap-tui.pyz that did the import (null: an installed airgap-tui): a delta made
        # against this receipt leaves out a carried tool the offline host already has.
        "tool_sha256": running_tool().sha256,
        "bundle": str(bundle_dir.resolve()),
        "bundle_fingerprint": manifest.fingerprint,
        "bundle_created": manifest.created,
        "source_prefix": manifest.source_prefix,
        "registry": registry,
        "route": route,  # "registry" (straight, digests kept) or "docker" (load, tag, push)
        "engine": engine,
        "verification": {
            "result": verification,
            "problems": list(problems),
            "warnings": list(warnings),
        },
        # The fingerprint carried and the signer checked (--expect-fingerprint, --trust, or the
        # wizard's Verify screen); without them, the key the signature names, unchecked.
        "trust": trust.to_dict() if trust is not None else None,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "ok": not problems and all(r.get("ok") or r.get("status") == "skipped" for r in rows),
        "images": rows,
    }
    stamp = finished.strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"airgap-receipt-{manifest.fingerprint[:12]}-{stamp}.json"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode())
    except OSError as exc:
        raise MediaError(
            f"Receipt {path}",
            f"could not be written ({exc.strerror or exc})",
            "Pass --receipt-dir with a writable directory",
        ) from None
    return path
