"""Messages worker threads post to their screen (`post_message` is thread-safe).

Workers never touch a widget: they post one of these and the screen's handler, running on the
event loop, updates the display. One type per result, so a handler's argument says what it
holds and mypy checks it. Progress arrives already throttled (events.Throttle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from airgap_tui.events import Progress

if TYPE_CHECKING:
    from airgap_tui.bundle.manifest import BundleManifest
    from airgap_tui.bundle.media import Drive
    from airgap_tui.bundle.trust import TrustReport
    from airgap_tui.bundle.verify import VerifyReport
    from airgap_tui.delta.bundle import DeltaLayout
    from airgap_tui.export.estimate import Estimate
    from airgap_tui.export.plan import DestinationPlan
    from airgap_tui.export.run import ExportResult
    from airgap_tui.importer.engine import EngineInfo
    from airgap_tui.importer.run import ImportResult
    from airgap_tui.tui.profiles import Profile


@dataclass
class ProgressUpdate(Message):
    """One (throttled) progress event from the domain."""

    event: Progress


# --- Start ---------------------------------------------------------------------------------
@dataclass
class DrivesFound(Message):
    drives: list[Drive]


@dataclass
class EngineStatus(Message):
    """Result of connecting to the engine: `info` on success, else the error sentence."""

    info: EngineInfo | None
    error: str = ""


# --- Choose analyzers ----------------------------------------------------------------------
@dataclass
class TagsFetched(Message):
    analyzer: str
    tags: list[str]


@dataclass
class GuessesFetched(Message):
    """The newest major tag upstream per untagged analyzer, for GitLab `major` from `source`."""

    major: int
    source: str
    guesses: dict[str, str]


@dataclass
class ProfileLoaded(Message):
    profile: Profile


# --- Prepare a bundle ----------------------------------------------------------------------
@dataclass
class EstimateDone(Message):
    estimate: Estimate


@dataclass
class DestinationChecked(Message):
    plan: DestinationPlan


@dataclass
class ExportDone(Message):
    result: ExportResult


@dataclass
class ProfileSaved(Message):
    path: Path


# --- Import a bundle -----------------------------------------------------------------------
@dataclass
class BundleFound(Message):
    path: Path
    manifest: BundleManifest
    signer: str = ""  # who bundle.yaml.sig says signed it (not checked), or "not signed"


@dataclass
class BundleUnreadable(Message):
    path: Path
    sentence: str


@dataclass
class BundleCandidates(Message):
    """No bundle.yaml in `path`; these directories below it hold one."""

    path: Path
    candidates: list[Path]


@dataclass
class VerifyDone(Message):
    report: VerifyReport


@dataclass
class SignerChecked(Message):
    """The signature checked against an allowed_signers file: who signed, or why it fails."""

    allowed_signers: Path
    trust: TrustReport | None
    error: str | None


@dataclass
class RegistryChecked(Message):
    """The registry answered; `key` is what the check was for (address, user, CA)."""

    key: tuple[str, str, str | None]
    host: str
    scheme: str


@dataclass
class ImportDone(Message):
    result: ImportResult


# --- CI snippet ----------------------------------------------------------------------------
@dataclass
class SnippetSaved(Message):
    path: Path


@dataclass
class SnippetFileExists(Message):
    path: Path


@dataclass
class DeltaPlanned(Message):
    """The estimate's delta against receipts or inventories (full vs delta size)."""

    delta: DeltaLayout
    paths: list[Path]  # the files it was asked for (an older answer is dropped)
