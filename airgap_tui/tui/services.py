"""Everything the wizard reaches outside itself, in one injectable object.

Screens never import a domain module for work: they call `app.services`. One way in: the app
takes a `Services`; its `domain` answers every call that leaves the process (engine, drives,
catalog, registries, media), and its plain fields say where and when (home, config dir,
clock). Tests and the screenshot script pass a `Domain` subclass (fixed data, or the real test
engine) and a clock that does not move, so what ends up on screen is deterministic.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from airgap_tui.tui.request_domain import RequestDomain

if TYPE_CHECKING:
    from airgap_tui.bundle.manifest import BundleManifest
    from airgap_tui.bundle.media import Drive
    from airgap_tui.bundle.trust import Trust, TrustReport
    from airgap_tui.bundle.verify import VerifyReport
    from airgap_tui.catalog.catalog import Catalog
    from airgap_tui.delta.bundle import DeltaLayout
    from airgap_tui.events import CancelToken, ProgressCallback
    from airgap_tui.export.estimate import Estimate
    from airgap_tui.export.plan import DestinationPlan
    from airgap_tui.export.run import ExportRequest, ExportResult
    from airgap_tui.importer.engine import Engine
    from airgap_tui.importer.run import ImportRequest, ImportResult
    from airgap_tui.models import Credentials, ImageSpec
    from airgap_tui.registry.client import RegistryClient


def default_config_dir() -> Path:
    """`$XDG_CONFIG_HOME/airgap-tui`, else `~/.config/airgap-tui` (profiles live under it)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) / "airgap-tui" if xdg else Path.home() / ".config" / "airgap-tui"


class Domain(RequestDomain):
    """Thin forwarding to the domain modules, imported lazily so the wizard opens fast.

    Subclass and override a method to feed fixed data to a snapshot test; everything the
    wizard does to images, media and registries goes through these methods.
    """

    def load_catalog(self) -> Catalog:
        from airgap_tui.catalog.load import load_catalog

        return load_catalog()

    def connect_engine(self) -> Engine:
        from airgap_tui.importer.engine import Engine

        return Engine.connect()

    def removable_drives(self) -> list[Drive]:
        from airgap_tui.bundle.media import removable_drives

        return removable_drives()

    def source_proxy(self, host: str) -> tuple[str, str] | None:
        """The proxy (variable, address without credentials) used to reach `host`, if any."""
        from airgap_tui.registry.diagnose import proxy_for

        return proxy_for(f"https://{host}/v2/")

    def forget_unreachable(self) -> None:
        """The operator asks again: hosts found unreachable get another try."""
        from airgap_tui.registry.diagnose import forget_unreachable

        forget_unreachable()

    def resolve_selection(
        self, names: list[str], major: int, source_prefix: str
    ) -> list[ImageSpec]:
        from airgap_tui.export.plan import resolve_selection

        return resolve_selection(self.load_catalog(), names, major, source_prefix)

    def registry_client(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        ca_file: Path | None = None,
        insecure: bool | None = None,
    ) -> RegistryClient:
        from airgap_tui.registry.client import RegistryClient

        return RegistryClient(host, credentials=credentials, ca_file=ca_file, insecure=insecure)

    def estimate(
        self,
        specs: list[ImageSpec],
        *,
        platform: str,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> Estimate:
        from airgap_tui.export.estimate import estimate

        return estimate(specs, platforms=[platform], progress=progress, cancel=cancel)

    def plan_delta(self, paths: list[Path], sizes: Estimate) -> DeltaLayout:
        """Full vs delta size against receipts or inventories (what export --delta-from
        writes), with the carried tool left out when they name the same one, as the export
        will; a bad file raises the PresenceError the CLI prints."""
        from airgap_tui.delta.delta import load_presences
        from airgap_tui.export.delta_plan import delta_for
        from airgap_tui.export.tool_choice import tool_left_out

        presence = load_presences(paths)
        held = tool_left_out(tool=True, with_tool=False, presence=presence)
        layout = delta_for(sizes, presence, held)
        assert layout is not None  # a presence always gives a delta
        return layout

    def plan_destination(
        self, path: Path, needed_bytes: int, specs: list[ImageSpec], part_size: int
    ) -> DestinationPlan:
        """The same rules the CLI's export applies (fits, reusable, another bundle there)."""
        from airgap_tui.export.plan import plan_destination

        return plan_destination(path, needed_bytes, specs, part_size)

    def export_bundle(
        self,
        request: ExportRequest,
        *,
        progress: ProgressCallback,
        cancel: CancelToken,
        sizes: Estimate | None = None,
    ) -> ExportResult:
        """Straight from the source registries: no engine."""
        from airgap_tui.export.run import export_bundle

        return export_bundle(request, progress=progress, cancel=cancel, sizes=sizes)

    def prepare_tool(self, cancel: CancelToken) -> bool:
        """Build the carried airgap-tui.pyz into the user's cache (in a child at nice 10) while
        the operator is still choosing, so Write takes it from there instead of building it
        beside its downloads. True when the cache holds it; False when it cannot be built here
        (the estimate says why) or `cancel` stopped it (Write then builds it as an export does)."""
        from airgap_tui.errors import AirgapError
        from airgap_tui.toolpack.builder import ToolBuilder

        builder = ToolBuilder().start()
        try:
            builder.result(cancel)
        except AirgapError:  # ToolError, Cancelled
            return False
        finally:
            builder.close()
        return True

    def read_manifest(self, bundle_dir: Path) -> BundleManifest:
        from airgap_tui.bundle.schema import read_manifest

        return read_manifest(bundle_dir)

    def bundle_signer(self, bundle_dir: Path) -> str:
        """Who bundle.yaml.sig says signed the bundle (read, not checked: the CLI's --trust
        checks it against an allowed_signers file), or why it cannot be read."""
        from airgap_tui.bundle.signature import read_signature, signature_info
        from airgap_tui.errors import AirgapError

        try:
            raw = read_signature(bundle_dir)
            if raw is None:
                return "not signed"
            return f"signed by {signature_info(raw).describe()} (not checked here)"
        except AirgapError as exc:
            return exc.sentence()

    def carried_fingerprint_matches(self, typed: str, fingerprint: str) -> bool:
        """The fingerprint the operator carried (full or short groups) is this bundle's;
        UsageError when what was typed is no fingerprint."""
        from airgap_tui.bundle.trust import fingerprint_matches, parse_expected_fingerprint

        return fingerprint_matches(parse_expected_fingerprint(typed), fingerprint)

    def check_signature(
        self, bundle_dir: Path, fingerprint: str, allowed_signers: Path
    ) -> TrustReport:
        """bundle.yaml.sig checked against `allowed_signers` (as `--trust` does): who signed;
        BundleError or UsageError naming what does not hold. `fingerprint` is the verified
        bundle's: a bundle.yaml rewritten since is refused."""
        from airgap_tui.bundle.schema import read_manifest_and_bytes
        from airgap_tui.bundle.trust import Trust, check_trust
        from airgap_tui.errors import BundleError

        manifest, raw = read_manifest_and_bytes(bundle_dir)
        if manifest.fingerprint != fingerprint:
            raise BundleError(
                f"Bundle {bundle_dir}",
                "its bundle.yaml changed after it was verified",
                "Press r to verify it again",
            )
        return check_trust(
            bundle_dir, manifest.fingerprint, raw, Trust(allowed_signers=allowed_signers)
        )

    def import_trust(self, carried: str | None, allowed_signers: Path | None) -> Trust | None:
        """What import checks again before pushing (and its receipt records): the fingerprint
        carried and the allowed_signers file that Verify found to hold."""
        from airgap_tui.bundle.trust import Trust, parse_expected_fingerprint

        if carried is None and allowed_signers is None:
            return None
        expected = parse_expected_fingerprint(carried) if carried is not None else None
        return Trust(expect_fingerprint=expected, allowed_signers=allowed_signers)

    def find_bundles(self, directory: Path, limit: int = 20) -> list[Path]:
        from airgap_tui.bundle.find import find_bundles

        return find_bundles(directory, limit)

    def verify_bundle(
        self, bundle_dir: Path, *, progress: ProgressCallback, cancel: CancelToken
    ) -> VerifyReport:
        from airgap_tui.bundle.verify import verify_bundle

        return verify_bundle(bundle_dir, progress=progress, cancel=cancel)

    def import_bundle(
        self,
        request: ImportRequest,
        engine: Engine | None,
        *,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> ImportResult:
        from airgap_tui.importer.run import import_bundle

        return import_bundle(request, engine, progress=progress, cancel=cancel)

    def render_snippet(self, registry: str, images: list[tuple[str, str]], major: int) -> str:
        from airgap_tui.catalog.snippet import render_snippet

        return render_snippet(registry, images, major)

    def format_fingerprint(self, fingerprint: str) -> str:
        from airgap_tui.bundle.writer import format_fingerprint

        return format_fingerprint(fingerprint)


@dataclass
class Services:
    """The one injection point: `AirgapApp(Services(domain=..., home=..., clock=...))`."""

    domain: Domain = field(default_factory=Domain)
    clock: Callable[[], float] = time.monotonic  # monotonic seconds, for rates and time left
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # images' ages
    home: Path = field(default_factory=Path.home)  # `~` on screen; snippet files go here
    config_dir: Path | None = None  # profiles under it (default: $XDG_CONFIG_HOME/airgap-tui)
    receipt_dir: Path | None = None  # import receipts (default: the current directory)
    browse_root: Path | None = None  # where directory trees start (default: home)
    _catalog: Catalog | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def profiles_dir(self) -> Path:
        return (self.config_dir or default_config_dir()) / "profiles"

    def expand(self, text: str) -> Path:
        """A typed path; `~` means the wizard's home (injectable, unlike $HOME)."""
        text = text.strip()
        if text == "~" or text.startswith("~/"):
            return self.home / text[2:]
        return Path(text)

    def show(self, path: Path) -> str:
        """A path for the screen, with the home directory written as `~`."""
        if path == self.home:
            return "~"
        if self.home in path.parents:
            return str(Path("~") / path.relative_to(self.home))
        return str(path)

    def get_catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self.domain.load_catalog()
        return self._catalog

    def removable_drives(self) -> list[Drive]:
        return self.domain.removable_drives()

    def engine(self) -> Engine:
        """The Docker engine, connected on first use (from a worker thread) and then shared."""
        with self._lock:
            if self._engine is None:
                self._engine = self.domain.connect_engine()
            return self._engine

    def forget_engine(self) -> None:
        """Drop a cached engine so the next call reconnects (after the operator fixed it)."""
        with self._lock:
            engine, self._engine = self._engine, None
        close = getattr(engine, "close", None)
        if callable(close):
            close()
