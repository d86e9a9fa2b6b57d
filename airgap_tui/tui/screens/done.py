"""Done: where the bundle is, its fingerprint to read aloud, the exact next step offline,
and saving the selection as a profile for next month."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Static

from airgap_tui.catalog.age import DEFAULT_MAX_AGE_DAYS, age_days, age_summary
from airgap_tui.errors import UsageError
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import ProfileSaved
from airgap_tui.tui.profiles import Profile, check_name, save_profile
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.widgets.fingerprint import Fingerprint


class DoneScreen(WizardScreen):
    KEY = "done"
    TITLE = "Done"
    NEXT_LABEL = "Start over"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Start over")]
    # Nothing focused at first: on a short terminal the body then shows its top (where the
    # bundle is, the images' ages, the fingerprint), not the profile field at its foot.
    AUTO_FOCUS = ""

    def compose_body(self) -> ComposeResult:
        result = self.state.export_result
        assert result is not None
        summary = Text()
        summary.append("✓ Bundle written and read back from the media.\n", "bold green")
        summary.append("Where: ", "bold")
        summary.append(f"{result.bundle_dir}")
        parts = len(result.parts_written) + len(result.parts_kept)
        summary.append(
            f" ({formatting.size(result.bundle_bytes)} in {formatting.count(parts, 'part')}"
        )
        if result.parts_kept:
            summary.append(f", {len(result.parts_kept)} kept from an earlier run")
        summary.append(")\nImages, days since built: ", "bold")
        summary.append_text(self.images_with_age())
        yield Static(summary, id="done-summary")
        yield Fingerprint(
            self.services.domain.format_fingerprint(result.fingerprint),
            result.fingerprint,
            tool=result.tool.sha256 if result.tool is not None else "",
            id="fingerprint",
        )
        yield Static(self.next_steps(), id="next-steps")
        with Horizontal(id="profile-row"):
            yield Input(
                id="profile-name",
                placeholder=f"Profile name, e.g. gitlab{self.state.gitlab_major}-scanners",
            )
            yield Button("Save selection as profile", id="save-profile")
        yield Static(
            f"Profiles go to {self.services.show(self.services.profiles_dir)} and load on the "
            "Choose analyzers screen (p).",
            id="profile-note",
        )

    def images_with_age(self) -> Text:
        """`semgrep:6 14, …` (days since built, `?` unknown), then what an image past the
        warning age means."""
        result = self.state.export_result
        assert result is not None
        now = self.services.now()
        built = result.images_built
        text = Text()
        for n, label in enumerate(result.images):
            days = age_days(built.get(label), now)
            text.append(", " if n else "")
            text.append(f"{label} ")
            old = days is not None and days > DEFAULT_MAX_AGE_DAYS
            text.append("?" if days is None else str(days), "bold yellow" if old else "bold")
        analyzers = {spec.label: spec.analyzer for spec in self.state.specs}
        rows = [(label, built.get(label), analyzers.get(label)) for label in result.images]
        for warning in age_summary(rows, now, DEFAULT_MAX_AGE_DAYS):
            text.append(f"\n! {warning}.", "yellow")
        return text

    def next_steps(self) -> Text:
        """In the order that keeps the offline host safe: check, then run."""
        result = self.state.export_result
        assert result is not None
        tool = result.tool
        steps = Text()
        steps.append("Next, on the offline host", "bold")
        steps.append(f" (<bundle> is <mount point>/{result.bundle_dir.name})\n")
        steps.append("1. Unmount the drive here (sync first), carry it across, plug it in.\n")
        if tool is not None:
            steps.append("2. BEFORE running the carried tool, compare ")
            steps.append("fingerprint:", "bold")
            steps.append(" in <bundle>/bundle.yaml and ")
            steps.append(f"sha256sum <bundle>/{tool.file}", "bold")
            steps.append(" with the above.\n3. Run ")
            steps.append(f"python3 <bundle>/{tool.file}", "bold")
            steps.append(" (or an installed airgap-tui): ")
        else:
            held = result.delta.delta.tool if result.delta is not None else None
            steps.append("2. Compare the fingerprint the wizard shows there with this one.\n")
            steps.append("3. Run " + ("the " if held else "an installed "))
            steps.append("airgap-tui", "bold")
            steps.append(
                " it already has (this delta leaves the tool out): "
                if held
                else " (no tool is carried): "
            )
        steps.append("Import a bundle", "bold")
        steps.append(", or add ")
        steps.append("import <bundle> --registry <host[:port]/path>", "dim")
        steps.append("\nTrust: ", "bold")
        if result.signed_by:
            steps.append(f"bundle.yaml is signed by key {result.signed_by}. Offline, import with ")
            steps.append("--trust <allowed_signers>", "bold")
            steps.append(" naming that key: a rewritten stick is then refused.")
        else:
            steps.append(
                "a stick rewritten on the way would pass its own checks. Carry the fingerprint "
                "above apart from the stick (on paper, a phone photo) and type it on the "
                "Verify screen (or "
            )
            steps.append("--expect-fingerprint", "bold")
            steps.append("); or sign the bundle with a key on Destination.")
        return steps

    def can_go_back(self) -> bool:
        return True

    def go_back(self) -> None:
        self.wizard.start_over()

    def go_next(self) -> None:
        self.go_back()

    @on(Input.Submitted, "#profile-name")
    @on(Button.Pressed, "#save-profile")
    def save_pressed(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        name = self.query_one("#profile-name", Input).value.strip()
        try:
            check_name(name)
        except UsageError as exc:
            self.show_error(exc.sentence())
            return
        self.clear_error()
        specs_by_analyzer = {s.analyzer: s.tag for s in self.state.specs if s.analyzer}
        profile = Profile(
            name=name,
            gitlab_major=self.state.gitlab_major,
            analyzers={n: specs_by_analyzer.get(n, "") for n in self.state.analyzers},
            custom_images=list(self.state.custom_images),
            source_prefix=self.state.source_prefix,
            platform=self.state.platform,
            fips=self.state.fips,
            tool=self.state.tool_wanted,
        )
        self.write_profile(profile)

    @work(thread=True, exclusive=True, group="profile", exit_on_error=False)
    def write_profile(self, profile: Profile) -> None:
        path = save_profile(self.services.profiles_dir, profile)
        self.post_message(ProfileSaved(path))

    def on_profile_saved(self, message: ProfileSaved) -> None:
        self.query_one("#profile-note", Static).update(
            Text(
                f"✓ Saved {self.services.show(message.path)}. Load it next time with p "
                "on Choose analyzers."
            )
        )
