"""Import, step 1: find the bundle on a drive and show what it holds before touching Docker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Static

from airgap_tui.errors import AirgapError
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import BundleCandidates, BundleFound, BundleUnreadable
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.widgets.fingerprint import Fingerprint
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from airgap_tui.bundle.manifest import BundleManifest


class ImportBundleScreen(WizardScreen):
    KEY = "import-bundle"
    TITLE = "Choose bundle"
    NEXT_LABEL = "Verify"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "refresh", "Rescan drives")]

    def __init__(self) -> None:
        super().__init__()
        self.manifest: BundleManifest | None = None
        self.loaded_from: Path | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="bundle-main"):
            yield self.path_picker(
                label="Bundle directory (the one holding bundle.yaml)",
                value=str(self.state.bundle_dir or ""),
                id="bundle-pick",
            )
            with VerticalScroll(id="bundle-side"):
                info = Static("Pick a drive or the bundle directory.", id="bundle-info")
                info.border_title = "What the bundle holds"
                yield info
                yield Fingerprint(id="fingerprint")

    def on_mount(self) -> None:
        self.query_one("#fingerprint", Fingerprint).display = False
        picker = self.query_one(PathPicker)
        if picker.value:
            self.look(self.services.expand(picker.value))
        picker.focus_drives()
        super().on_mount()

    def action_refresh(self) -> None:
        self.query_one(PathPicker).rescan()

    @on(Input.Changed, "#path")
    def path_changed(self, event: Input.Changed) -> None:
        self.manifest = None
        self.query_one("#fingerprint", Fingerprint).display = False
        self.refresh_nav()
        if event.validation_result is not None and not event.validation_result.is_valid:
            text = " ".join(event.validation_result.failure_descriptions)
            self.query_one("#bundle-info", Static).update(Text(text, "yellow"))
            return
        self.look(self.services.expand(event.value))

    def look(self, path: Path) -> None:
        self.query_one("#bundle-info", Static).update(Text("Reading…", "dim"))
        self.read_bundle(path)

    @work(thread=True, exclusive=True, group="manifest", exit_on_error=False)
    def read_bundle(self, path: Path) -> None:
        candidates = self.services.domain.find_bundles(path)
        if candidates == [path]:
            try:
                manifest = self.services.domain.read_manifest(path)
            except AirgapError as exc:
                self.post_message(BundleUnreadable(path, exc.sentence()))
                return
            self.post_message(BundleFound(path, manifest, self.services.domain.bundle_signer(path)))
        else:
            self.post_message(BundleCandidates(path, candidates))

    def current_path(self) -> Path:
        return self.services.expand(self.query_one("#path", Input).value)

    def on_bundle_unreadable(self, message: BundleUnreadable) -> None:
        if message.path == self.current_path():
            self.query_one("#bundle-info", Static).update(Text(message.sentence, "red"))
            self.refresh_nav()

    def on_bundle_candidates(self, message: BundleCandidates) -> None:
        path = message.path
        if path != self.current_path():
            return
        text = Text()
        if message.candidates:
            text.append(f"No bundle.yaml in {path}. Bundles found below it:\n", "yellow")
            for candidate in message.candidates:
                text.append(f"  {candidate}\n")
            text.append("Pick one in the tree or type its path.", "dim")
        else:
            text.append(
                f"No bundle in {path} (no bundle.yaml here or one level below). An "
                "interrupted export writes bundle.yaml last: finish it on the connected host.",
                "yellow",
            )
        self.query_one("#bundle-info", Static).update(text)
        self.refresh_nav()

    def on_bundle_found(self, message: BundleFound) -> None:
        if message.path == self.current_path():
            self.show_manifest(message.path, message.manifest, message.signer)
            self.refresh_nav()

    def show_manifest(self, path: Path, manifest: BundleManifest, signer: str = "") -> None:
        self.manifest, self.loaded_from = manifest, path
        text = Text()
        text.append("Made: ", "bold")
        text.append(f"{manifest.created} by airgap-tui {manifest.tool_version}\n")
        text.append("From: ", "bold")
        text.append(f"{manifest.source_prefix} for GitLab {manifest.gitlab_major or '?'}")
        text.append(f" ({', '.join(manifest.platforms)})\n")
        text.append("Size: ", "bold")
        parts = formatting.count(len(manifest.parts), "part")
        text.append(f"{formatting.size(manifest.total_bytes)} in {parts}\n")
        if signer:
            text.append("Signature: ", "bold")
            text.append(f"{signer}\n")
        text.append(f"Images ({len(manifest.images)}):\n", "bold")
        sizes = {blob.digest: blob.size for blob in manifest.blobs}
        for image in manifest.images:
            text.append(f"  {image.name}:{image.tag}", "")
            size = sum(sizes.get(digest, 0) for digest in image.blobs)
            kind = "  (artifact)" if image.kind == "artifact" else ""
            text.append(f"  {formatting.size(size)}{kind}\n", "dim")
        self.query_one("#bundle-info", Static).update(text)
        fingerprint = self.query_one("#fingerprint", Fingerprint)
        fingerprint.set_fingerprint(
            self.services.domain.format_fingerprint(manifest.fingerprint), manifest.fingerprint
        )
        fingerprint.display = True

    def can_go_next(self) -> bool:
        return self.manifest is not None

    def go_next(self) -> None:
        self.state.bundle_dir = self.loaded_from
        self.state.manifest = self.manifest
        self.state.verify_report = None
        self.wizard.advance(self)
