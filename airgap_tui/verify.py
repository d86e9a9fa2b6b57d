"""Verify a format 2 bundle without an engine and without writing (read-only media work).

bundle.yaml is read as hostile input; then every part (and the carried tool) is checked for
presence, size (before hashing) and sha256. Blobs need no separate check: their bytes are inside
the parts, whose hashes the fingerprint covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from airgap_tui.bundle import Problem, check_parts, files_not_listed
from airgap_tui.bundle_manifest import BundleManifest, BundlePart, read_manifest
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    fingerprint: str
    manifest: BundleManifest
    problems: list[Problem]
    warnings: list[str]


def verify_bundle(
    bundle_dir: str | os.PathLike[str],
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> VerifyReport:
    """A missing or bad bundle.yaml raises BundleError; bad files are reported one by one."""
    manifest = read_manifest(bundle_dir)
    files = list(manifest.parts)
    if manifest.tool is not None:
        tool = manifest.tool
        files.append(BundlePart(tool.file, tool.size, tool.sha256))
    problems = check_parts(bundle_dir, files, progress, cancel)
    return VerifyReport(
        ok=not problems,
        fingerprint=manifest.fingerprint,
        manifest=manifest,
        problems=problems,
        warnings=files_not_listed(bundle_dir, [f.file for f in files]),
    )
