"""Destination: a drive or directory for the bundle; blocks Next when it will not fit.

The verdict is `plan.plan_destination`, the same the CLI's export applies: this screen only
says it in words."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Static

from airgap_tui.bundle.media import FAT_FILESYSTEMS
from airgap_tui.bundle.parts import DEFAULT_PART_SIZE
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import DestinationChecked
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from airgap_tui.export.plan import DestinationPlan

BUNDLE_DIR_NAME = "airgap-bundle"


class DestinationScreen(WizardScreen):
    KEY = "destination"
    TITLE = "Destination"
    NEXT_LABEL = "Write bundle"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "refresh", "Rescan drives")]

    def __init__(self) -> None:
        super().__init__()
        self.checked: DestinationPlan | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="dest-main"):
            yield self.path_picker(
                label="Bundle directory (created if missing)",
                value=str(self.state.destination or ""),
                on_drive=lambda mount_point: mount_point / BUNDLE_DIR_NAME,
                id="dest-pick",
            )
            info = Static("Pick a drive or a directory.", id="dest-info")
            info.border_title = "Will it fit?"
            yield info
        yield Input(
            value=str(self.state.sign_key or ""),
            placeholder="Signing key (optional): an SSH private key, e.g. ~/.ssh/id_ed25519",
            id="sign-key",
        )

    def on_mount(self) -> None:
        picker = self.query_one(PathPicker)
        if picker.value:
            self.check(picker.value)
        picker.focus_drives()
        super().on_mount()

    def action_refresh(self) -> None:
        self.query_one(PathPicker).rescan()

    @on(Input.Changed, "#path")
    def path_changed(self, event: Input.Changed) -> None:
        self.checked = None
        self.refresh_nav()
        if event.validation_result is not None and not event.validation_result.is_valid:
            reasons = " ".join(event.validation_result.failure_descriptions)
            self.query_one("#dest-info", Static).update(Text(reasons, "yellow"))
            return
        self.check(event.value)

    def check(self, value: str) -> None:
        self.query_one("#dest-info", Static).update(Text("Checking…", "dim"))
        self.check_destination(self.services.expand(value), self.state.bundle_bytes)

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def check_destination(self, path: Path, needed: int) -> None:
        plan = self.services.domain.plan_destination(
            path, needed, list(self.state.specs), DEFAULT_PART_SIZE
        )
        self.post_message(DestinationChecked(plan))

    def on_destination_checked(self, message: DestinationChecked) -> None:
        plan = message.plan
        current = self.services.expand(self.query_one("#path", Input).value)
        if plan.path != current.expanduser().absolute():
            return  # an answer for a path the operator has since changed
        self.checked = plan
        self.state.part_size = plan.part_size
        self.query_one("#dest-info", Static).update(self.describe(plan))
        self.refresh_nav()

    def describe(self, plan: DestinationPlan) -> Text:
        info = plan.info
        text = Text()
        text.append("Filesystem: ", "bold")
        text.append(f"{info.filesystem} (mounted at {info.mount_point})\n")
        text.append("Free: ", "bold")
        text.append(f"{formatting.size(info.free)}\n")
        text.append("Bundle needs: ", "bold")
        text.append(f"{formatting.size(info.needed)}")
        estimate = self.state.estimate
        if estimate is not None and estimate.tool_bytes and self.state.tool_goes_along:
            text.append(" (with airgap-tui.pyz)", "dim")
        text.append("\n\n")
        if not info.writable:
            text.append(f"✗ Cannot write here ({info.problem}). ", "bold red")
            text.append("Choose a writable directory, or remount the drive read-write.\n")
        elif not info.fits:
            short = info.needed - info.free
            text.append(f"✗ It will not fit: {formatting.size(short)} short. ", "bold red")
            text.append("Free some space or choose a bigger drive.\n")
        else:
            text.append("✓ It fits.\n", "bold green")
        _describe_what_is_there(text, plan)
        _describe_parts(text, plan)
        return text

    def can_go_next(self) -> bool:
        return self.checked is not None and self.checked.usable

    def go_next(self) -> None:
        assert self.checked is not None
        key = self.query_one("#sign-key", Input).value.strip()
        self.state.sign_key = self.services.expand(key) if key else None
        if self.state.sign_key is not None and not self.state.sign_key.is_file():
            self.show_error(
                f"Signing key {self.state.sign_key}: no such file. Give an SSH private key "
                "(ssh-keygen -t ed25519 makes one), or leave the field empty to write an "
                "unsigned bundle."
            )
            return
        self.clear_error()
        self.state.destination = self.checked.path
        self.state.resume = self.checked.resumes
        self.wizard.advance(self)


def _describe_what_is_there(text: Text, plan: DestinationPlan) -> None:
    """A bundle already in the directory: another one (refused), an unfinished one (resumed)
    or the same one (kept part by part)."""
    if plan.other_images and plan.existing is not None:
        held = ", ".join(f"{i.name}:{i.tag}" for i in plan.existing.images)
        text.append("✗ ", "bold red")
        text.append(
            f"This directory already holds a complete bundle of other images ({held}). "
            "It may be the only copy: choose another directory.\n"
        )
    elif plan.journal is not None:
        journal = plan.journal
        text.append("↻ Resume: ", "bold cyan")
        text.append(
            "this directory holds an unfinished bundle "
            f"({formatting.count(len(journal.parts), 'part')}, "
            f"{formatting.size(journal.done_bytes)}). Writing resumes it: every part that "
            "comes out byte-identical is kept, the rest is written again.\n"
        )
    elif plan.existing is not None:
        text.append("↻ ", "bold cyan")
        text.append(
            "A complete bundle of these images is already here; writing again keeps every "
            "part that comes out byte-identical.\n"
        )


def _describe_parts(text: Text, plan: DestinationPlan) -> None:
    """Why the bundle is written in parts, said for the filesystem it goes on."""
    info = plan.info
    text.append("\nParts: ", "bold")
    largest = formatting.size_binary(plan.part_size)
    text.append(f"the bundle is written as files of at most {largest}")
    if info.filesystem in FAT_FILESYSTEMS:
        text.append(
            ". FAT32 cannot hold a file of 4 GiB or more, so one big archive would fail "
            "half-way; parts avoid that, and each part has its own checksum so a bad copy "
            "names the part to copy again."
        )
    else:
        text.append(
            ", small enough for any FAT32 stick should the bundle be copied on; each part "
            "has its own checksum."
        )
    if plan.part_size_note:
        text.append(f"\n{plan.part_size_note}", "dim")
