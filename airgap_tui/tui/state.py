"""What the operator has chosen so far; each screen reads and writes only its own part.

Credentials live here in memory only: nothing in this object is ever written to disk (a
profile takes the selection, never a password).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from airgap_tui.bundle.parts import DEFAULT_PART_SIZE
from airgap_tui.models import (
    DEFAULT_GITLAB_MAJOR,
    DEFAULT_PLATFORM,
    DEFAULT_SOURCE_PREFIX,
    Credentials,
    ImageSpec,
)

if TYPE_CHECKING:
    from airgap_tui.bundle.manifest import BundleManifest
    from airgap_tui.bundle.verify import VerifyReport
    from airgap_tui.delta.bundle import DeltaLayout
    from airgap_tui.export.estimate import Estimate
    from airgap_tui.export.run import ExportResult
    from airgap_tui.importer.run import ImportResult
    from airgap_tui.tui.request_draft import RequestDraft

PATH_EXPORT = "export"
PATH_IMPORT = "import"
PATH_SNIPPET = "snippet"
PATH_REQUEST = "request"  # offline host: ask the connected host for what the templates need


@dataclass
class WizardState:
    path: str = ""  # PATH_EXPORT / PATH_IMPORT / PATH_SNIPPET
    # Choose analyzers
    gitlab_major: int = DEFAULT_GITLAB_MAJOR
    fips: bool = False  # a FIPS instance: take the -fips variants where they exist
    source_prefix: str = DEFAULT_SOURCE_PREFIX
    platform: str = DEFAULT_PLATFORM
    analyzers: list[str] = field(default_factory=list)  # catalog names, in catalog order
    tags: dict[str, str] = field(default_factory=dict)  # operator's tag per analyzer
    custom_images: list[str] = field(default_factory=list)  # full references
    specs: list[ImageSpec] = field(default_factory=list)
    # Estimate / Destination / Write / Done
    estimate: Estimate | None = None
    delta_from: list[Path] = field(default_factory=list)  # receipts/inventories: a delta
    delta: DeltaLayout | None = None  # planned from `delta_from` on the estimate
    tool_wanted: bool = True  # carry airgap-tui.pyz (the Estimate screen's switch; profiles)
    destination: Path | None = None
    sign_key: Path | None = None  # an SSH key: export writes bundle.yaml.sig with it
    part_size: int = DEFAULT_PART_SIZE
    resume: bool = False
    export_result: ExportResult | None = None
    # Import
    bundle_dir: Path | None = None
    manifest: BundleManifest | None = None
    verify_report: VerifyReport | None = None
    # What the operator brought apart from the stick, once Verify found it holds: the
    # fingerprint as typed, and the allowed_signers file the signature was checked against.
    # Import checks both again before pushing, and the receipt records them.
    carried_fingerprint: str | None = None
    allowed_signers: Path | None = None
    # Target registry (snippet and import paths)
    registry: str = ""
    credentials: Credentials | None = None
    ca_file: Path | None = None
    registry_checked: bool = False
    via_docker: bool = (
        False  # import: load into Docker, tag, push (default: straight, digests kept)
    )
    import_result: ImportResult | None = None
    # Make a request (offline host) / Prepare a bundle from a request (connected host)
    request: RequestDraft | None = None
    request_file: Path | None = None  # the request the bundle carries

    def start(self, path: str) -> None:
        """Begin a path from the Start screen, keeping only what carries over between runs."""
        keep = WizardState(
            gitlab_major=self.gitlab_major,
            fips=self.fips,
            source_prefix=self.source_prefix,
            platform=self.platform,
            tool_wanted=self.tool_wanted,
            registry=self.registry,
            ca_file=self.ca_file,
        )
        self.__dict__.update(keep.__dict__)
        self.path = path

    def tag_for(self, analyzer: str, default: str | None) -> str | None:
        return self.tags.get(analyzer) or default

    @property
    def bundle_bytes(self) -> int:
        """What the media must hold: the parts (of the delta, if one was asked for) and the
        carried tool when it goes along."""
        if self.estimate is None:
            return 0
        tool = self.estimate.tool_bytes if self.tool_goes_along else 0
        if self.delta is not None:
            return self.delta.delta_bytes + tool
        return self.estimate.bundle_bytes + tool

    @property
    def carry_tool(self) -> bool:
        """Write airgap-tui.pyz when the operator wants it and the estimate found it can be
        built here (else the estimate screen said why, and the bundle goes without it)."""
        return self.tool_wanted and (self.estimate is None or self.estimate.tool_problem is None)

    @property
    def tool_held_offline(self) -> bool:
        """The delta leaves airgap-tui.pyz out: the offline host runs the same one."""
        return self.delta is not None and self.delta.delta.tool is not None

    @property
    def tool_goes_along(self) -> bool:
        """airgap-tui.pyz is written next to the parts (what the export will do)."""
        return self.carry_tool and not self.tool_held_offline

    def snippet_images(self) -> list[tuple[str, str]]:
        """(name, tag) of what is (or will be) in the target registry."""
        if self.path == PATH_IMPORT:
            if self.import_result is not None:
                return [(i.name, i.tag) for i in self.import_result.images if i.ok]
            if self.manifest is not None:
                return [(i.name, i.tag) for i in self.manifest.images]
            return []
        return [(s.name, s.tag) for s in self.specs]

    @property
    def snippet_major(self) -> int:
        if self.path == PATH_IMPORT and self.manifest is not None:
            return self.manifest.gitlab_major or self.gitlab_major
        return self.gitlab_major
