"""Verify a format 2 bundle without an engine and without writing (read-only media work).

bundle.yaml is read as hostile input; then every part (and the carried tool) is checked for
presence, size (before hashing) and sha256. Blobs need no separate check: their bytes are inside
the parts, whose hashes the fingerprint covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from airgap_tui.bundle.manifest import (
    MANIFEST_NAME,
    TOOL_FILE,
    BundleManifest,
    BundlePart,
    ToolFile,
    show,
)
from airgap_tui.bundle.parts import Problem, check_parts, files_not_listed
from airgap_tui.bundle.prehash import PartHashes
from airgap_tui.bundle.records import check_records
from airgap_tui.bundle.schema import read_manifest_and_bytes
from airgap_tui.bundle.signature import SIGNATURE_NAME
from airgap_tui.bundle.trust import (
    Trust,
    TrustReport,
    check_trust,
    fingerprint_matches,
    signature_or_none,
)
from airgap_tui.errors import BundleError
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    fingerprint: str
    manifest: BundleManifest
    problems: list[Problem]
    warnings: list[str]
    # The fingerprint carried apart from the stick and the signature (issue 20); None when
    # verify was not asked to check either and the bundle is unsigned.
    trust: TrustReport | None = None

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
    trust: Trust | None = None,
    *,
    records: bool = True,
    hashes: PartHashes | None = None,
) -> VerifyReport:
    """A missing or bad bundle.yaml raises BundleError; bad files are reported one by one.

    With `trust`, a fingerprint that is not the one carried, or a signature that does not
    hold, is the first problem (checked before any part is read here; `hashes`, digests a thread
    took of the files while the command started, are used only for the very files it read:
    bundle/prehash.py). `records=False` leaves out the tar's own records (tests of the parts
    alone, whose bytes are no tar)."""
    manifest, raw = read_manifest_and_bytes(bundle_dir)
    problems: list[Problem] = []
    trusted = _trust(bundle_dir, manifest, raw, trust or Trust(), problems)
    files = list(manifest.parts)
    if manifest.tool is not None:
        tool = manifest.tool
        files.append(BundlePart(tool.file, tool.size, tool.sha256))
    part_problems = check_parts(bundle_dir, files, progress, cancel, hashes)
    problems += [_named(p, manifest.tool) for p in part_problems]
    if (
        records and not part_problems
    ):  # the bytes are what bundle.yaml says: now what they say must agree
        problems += check_records(bundle_dir, manifest, cancel)
    listed = [f.file for f in files]
    warnings = files_not_listed(bundle_dir, [*listed, TOOL_FILE, SIGNATURE_NAME])
    held = manifest.delta is not None and manifest.delta.tool is not None
    stray = _stray_tool(bundle_dir, manifest.tool, held=held)
    if stray is not None:
        problems.append(stray)
    return VerifyReport(
        ok=not problems,
        fingerprint=manifest.fingerprint,
        manifest=manifest,
        problems=problems,
        warnings=warnings,
        trust=trusted,
    )


def _trust(
    bundle_dir: str | os.PathLike[str],
    manifest: BundleManifest,
    raw: bytes,
    trust: Trust,
    problems: list[Problem],
) -> TrustReport | None:
    try:
        report = check_trust(bundle_dir, manifest.fingerprint, raw, trust)
    except BundleError as exc:
        signature_asked = trust.allowed_signers is not None
        failed_fingerprint = trust.expect_fingerprint is not None and not fingerprint_matches(
            trust.expect_fingerprint, manifest.fingerprint
        )
        file = MANIFEST_NAME if failed_fingerprint or not signature_asked else SIGNATURE_NAME
        problems.append(Problem(file, exc.sentence()))
        return TrustReport(
            fingerprint_matches=None
            if trust.expect_fingerprint is None
            else not failed_fingerprint,
            signer=None,
            signature=signature_or_none(bundle_dir),
        )
    if not trust.asked and report.signature is None:
        return None
    return report


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


def _stray_tool(
    bundle_dir: str | os.PathLike[str], tool: ToolFile | None, *, held: bool = False
) -> Problem | None:
    """An airgap-tui.pyz bundle.yaml does not list: the file the README says to run, so one
    put there by someone else (the real tool renamed beside it, or none listed) is an error."""
    if not os.path.lexists(os.path.join(bundle_dir, TOOL_FILE)):
        return None
    if tool is not None and tool.file == TOOL_FILE:
        return None
    if tool is None and held:
        why = "this delta leaves the tool out: the offline host already has it"
        instead = "use the airgap-tui the offline host has"
    elif tool is None:
        why = "the bundle was exported without the tool (--no-tool)"
        instead = "use an installed airgap-tui"
    else:
        why = f"the carried tool is {show(tool.file)}, which verify checked"
        instead = f"run {show(tool.file)} (python3 {show(tool.file)}) or an installed airgap-tui"
    return Problem(
        TOOL_FILE,
        f"bundle.yaml does not list it ({why}), so neither verify nor the fingerprint covers "
        f"it: it may not be the program that was exported. Do not run it: delete it and "
        f"{instead}",
    )
