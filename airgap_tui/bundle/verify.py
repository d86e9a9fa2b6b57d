"""Verify a format 2 bundle without an engine and without writing (read-only media work).

bundle.yaml is read as hostile input; then every part (and the carried tool) is checked for
presence, size (before hashing) and sha256. Blobs need no separate check: their bytes are inside
the parts, whose hashes the fingerprint covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from airgap_tui.bundle.manifest import BundleManifest, BundlePart, ToolFile
from airgap_tui.bundle.parts import Problem, check_parts, files_not_listed
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress
from airgap_tui.toolpack.toolpack import TOOL_FILE


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    fingerprint: str
    manifest: BundleManifest
    problems: list[Problem]
    warnings: list[str]

    @property
    def tool(self) -> ToolFile | None:
        """The carried airgap-tui.pyz as bundle.yaml lists it (None: exported with --no-tool)."""
        return self.manifest.tool

    @property
    def tool_ok(self) -> bool | None:
        """True when the carried tool matched its size and sha256; None when none is listed."""
        tool = self.manifest.tool
        if tool is None:
            return None
        return not any(p.file == tool.file for p in self.problems)


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
    problems = [_named(p, manifest.tool) for p in check_parts(bundle_dir, files, progress, cancel)]
    listed = [f.file for f in files]
    warnings = files_not_listed(bundle_dir, [*listed, TOOL_FILE])
    if manifest.tool is None and os.path.lexists(os.path.join(bundle_dir, TOOL_FILE)):
        warnings.append(
            f"{TOOL_FILE}: bundle.yaml does not list it (the bundle was exported with "
            "--no-tool), so neither verify nor the fingerprint covers it: compare its sha256 "
            "with the connected host's before running it, or use an installed airgap-tui"
        )
    return VerifyReport(
        ok=not problems,
        fingerprint=manifest.fingerprint,
        manifest=manifest,
        problems=problems,
        warnings=warnings,
    )


def _named(problem: Problem, tool: ToolFile | None) -> Problem:
    """A bad carried tool says what it is and what to do: it is a program about to run."""
    if tool is None or problem.file != tool.file:
        return problem
    return Problem(
        problem.file,
        f"the carried airgap-tui program failed its check ({problem.message}). Do not run "
        f"it: copy {TOOL_FILE} again from the connected host (or export again), or use an "
        "installed airgap-tui",
    )
