"""Estimate: sizes per image from the registry (nothing is pulled), filled in by a worker;
each image's build date and age (its scans are as old as its data), and whether the
carried tool goes along (t)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Checkbox, DataTable, Static

from airgap_tui.catalog.age import DEFAULT_MAX_AGE_DAYS, age_days, age_summary, day
from airgap_tui.events import CancelToken
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import DeltaPlanned, EstimateDone, ProgressUpdate
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import DeltaDialog

if TYPE_CHECKING:
    from pathlib import Path

    from airgap_tui.delta.bundle import DeltaLayout
    from airgap_tui.export.estimate import Estimate, ImageEstimate

COLUMNS = ("image", "built", "download", "media", "status", "layers", "shared")


class EstimateScreen(WizardScreen):
    KEY = "estimate"
    TITLE = "Estimate"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rerun", "Estimate again"),
        Binding("d", "delta", "Make a delta"),
        Binding("t", "toggle_tool", "Tool"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cancel = CancelToken()
        self.result: Estimate | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Sizes come from the registry's manifests; nothing is downloaded yet. Layers shared "
            "between images are stored once on the media.",
            id="estimate-intro",
        )
        table: DataTable[str | Text] = DataTable(id="estimate-table", cursor_type="row")
        yield table
        yield Static("", id="totals")
        yield Checkbox(self.tool_label(None), self.state.tool_wanted, id="carry-tool")

    def on_mount(self) -> None:
        table = self.query_one("#estimate-table", DataTable)
        widest = max((len(spec.label) for spec in self.state.specs), default=12)
        table.add_column("Image", key="image", width=min(max(widest, 12), 44))
        table.add_column("Built", key="built", width=14)
        table.add_column("Download", key="download", width=8)
        table.add_column("On media", key="media", width=8)
        table.add_column("Status", key="status")  # before the layer counts: seen at 80x24
        table.add_column("Layers", key="layers", width=6)
        table.add_column("Shared", key="shared", width=6)
        self.action_rerun()
        if self.state.carry_tool:
            self.wizard.prepare_tool()  # built while the operator reads this and Destination
        table.focus()
        super().on_mount()

    def on_unmount(self) -> None:
        self.cancel.cancel()

    def action_rerun(self) -> None:
        table = self.query_one("#estimate-table", DataTable)
        table.clear()
        for spec in self.state.specs:
            row = (spec.label, "", "…", "…", Text("waiting", "dim"), "", "")
            table.add_row(*row, key=spec.label)
        self.result = None
        self.state.estimate = None
        self.query_one("#totals", Static).update("Estimating…")
        self.clear_error()
        self.cancel.cancel()
        self.cancel = CancelToken()
        self.run_estimate(self.cancel)
        self.refresh_nav()

    @work(thread=True, exclusive=True, group="estimate", exit_on_error=False)
    def run_estimate(self, cancel: CancelToken) -> None:
        self.services.domain.forget_unreachable()  # a new estimate asks every registry again
        with self.progress_sink() as progress:
            result = self.services.domain.estimate(
                list(self.state.specs),
                platform=self.state.platform,
                progress=progress,
                cancel=cancel,
            )
        self.post_message(EstimateDone(result))

    def row_key(self, item: str) -> str | None:
        for spec in self.state.specs:
            if item in (spec.label, str(spec.source), spec.source.name, spec.name):
                return spec.label
        return None

    def on_progress_update(self, message: ProgressUpdate) -> None:
        event = message.event
        key = self.row_key(event.item)
        if key is None or self.result is not None:
            return
        if event.final and not event.ok:
            status = "failed"  # which way, and why, is said once when the estimate is done
        elif event.message:
            status = event.message
        elif event.total:
            status = f"sizing layers {event.done}/{event.total}"
        else:
            status = "sized" if event.final else "asking the registry…"
        style = "" if event.ok else "red"
        self.query_one("#estimate-table", DataTable).update_cell(key, "status", Text(status, style))

    def on_estimate_done(self, message: EstimateDone) -> None:
        result = message.estimate
        self.result = result
        self.state.estimate = result
        table = self.query_one("#estimate-table", DataTable)
        for image in result.images:
            key = image.spec.label
            if image.error:
                for column in ("download", "media"):
                    table.update_cell(key, column, "—")
                table.update_cell(key, "status", self.status_cell(image), update_width=True)
                continue
            shared = sum(1 for layer in image.layers if layer.shared)
            table.update_cell(key, "built", self.built_cell(image.built))
            table.update_cell(key, "download", formatting.size(image.download_bytes))
            table.update_cell(key, "media", formatting.size(image.media_bytes))
            table.update_cell(key, "layers", str(len(image.layers)))
            table.update_cell(key, "shared", str(shared))
            table.update_cell(key, "status", Text("ok", "green"))
        self.query_one("#totals", Static).update(self.totals(result))
        self.show_tool(result)
        self.state.delta = None
        if self.state.delta_from and result.resolved:
            self.plan_delta(list(self.state.delta_from), result)
        self.refresh_nav()

    @staticmethod
    def status_cell(image: ImageEstimate) -> Text:
        if image.status == "missing":
            status = Text("MISSING", "bold red")
            if image.available_tags:
                shown = ", ".join(image.available_tags[:3])
                more = len(image.available_tags) - 3  # the full list is in the line below
                status.append(f" tags: {shown}" + (f" (+{more})" if more > 0 else ""), "red")
            return status
        return Text(image.status, "bold red")  # unreachable / failed: the sentence is below

    def built_cell(self, built: str | None) -> Text:
        """`2026-11-20 15d`: the build date and its age today, yellow past the warning age."""
        days = age_days(built, self.services.now())
        if days is None:
            return Text("unknown", "dim")
        style = "bold yellow" if days > DEFAULT_MAX_AGE_DAYS else ""
        return Text(f"{day(built)} {days}d", style)

    def totals(self, result: Estimate) -> Text:
        totals = Text()
        left_out = result.left_out
        if not result.sized:  # no bundle can be made: no sizes, only why
            totals.append(
                f"No totals: none of the {formatting.count(len(left_out), 'image')} "
                "could be sized.",
                "bold",
            )
        else:
            sized = len(result.images) - len(left_out)
            totals.append(f"{formatting.count(sized, 'image')} · ", "bold")
            totals.append(f"Download {formatting.size(result.download_bytes)} · ")
            totals.append(f"Bundle on the media {formatting.size(result.bundle_bytes)}", "bold")
            totals.append(" (shared layers once)")
            EstimateScreen.tool_line(totals, result)
            if left_out:
                labels = ", ".join(i.spec.label for i in left_out)
                totals.append(f"\nNot in these totals: {labels}", "yellow")
        rows = [(i.spec.label, i.built, i.spec.analyzer) for i in result.images if i.ok]
        for warning in age_summary(rows, self.services.now(), DEFAULT_MAX_AGE_DAYS):
            totals.append(f"\n! {warning}.", "yellow")
        missing = [i for i in result.images if i.status == "missing"]
        for image in missing:
            totals.append(f"\n✗ {image.spec.label}: {image.error}", "red")
            if "tags that exist" not in (image.error or "").lower():  # the registry's own list
                tags = ", ".join(image.available_tags[:12]) or "none"
                totals.append(f" Tags that exist: {tags}", "red")
        if missing:
            totals.append(
                f"\n{formatting.count(len(missing), 'image')} missing upstream. Go back (Esc) "
                "and pick a tag that exists, or untick it.",
                "red",
            )
        # Unreachable registries, logins, TLS: one sentence per cause, not one per image.
        others = [i for i in result.images if i.error and i.status != "missing"]
        for sentence in dict.fromkeys(i.error for i in others if i.error):
            count = sum(1 for i in others if i.error == sentence)
            totals.append(f"\n✗ {sentence}", "red")
            totals.append(f" ({formatting.count(count, 'image')})", "dim")
        if others:
            totals.append("\nPress r to estimate again once it is fixed.", "red")
        return totals

    @staticmethod
    def tool_line(totals: Text, result: Estimate) -> None:
        """Why the carried airgap-tui.pyz cannot come along (else the switch below says it)."""
        if result.tool_problem is not None:
            totals.append(
                f"\n! The bundle goes without airgap-tui.pyz: {result.tool_problem}", "yellow"
            )

    # --- the carried tool (t): kept in the state and in profiles -------------------------
    def tool_label(self, result: Estimate | None) -> Text:
        label = Text("Carry airgap-tui.pyz for the offline host")
        if result is None or not result.tool_bytes:
            return label
        held = self.state.delta.delta.tool if self.state.delta is not None else None
        if held is not None:
            label.append(f": not needed, the offline host runs airgap-tui {held.version}", "dim")
        elif self.state.tool_wanted:
            label.append(f": about {formatting.size(result.tool_bytes)}")
        else:
            label.append(": left out", "dim")
        if result.ok:  # a total that leaves images out would mislead
            label.append(f" · total {formatting.size(self.state.bundle_bytes)}")
        return label

    def show_tool(self, result: Estimate | None) -> None:
        box = self.query_one("#carry-tool", Checkbox)
        box.display = result is None or result.tool_problem is None
        box.label = self.tool_label(result)

    def action_toggle_tool(self) -> None:
        box = self.query_one("#carry-tool", Checkbox)
        if box.display:
            box.toggle()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.state.tool_wanted = event.value
        self.show_tool(self.result)
        if self.state.carry_tool:
            self.wizard.prepare_tool()

    def can_go_next(self) -> bool:
        if self.state.delta_from and self.state.delta is None:
            return False  # a delta was asked for: not before its size is known
        return self.result is not None and not any(i.error for i in self.result.images)

    # --- delta (issue 10): the saving is shown here, before anything is written ----------
    def action_delta(self) -> None:
        services = self.services
        dialog = DeltaDialog(
            list(self.state.delta_from),
            services.expand,
            browse_root=self.wizard.browse_root,
            home=services.home,
            find_drives=services.removable_drives,
        )
        self.app.push_screen(dialog, self.delta_chosen)

    def delta_chosen(self, paths: list[Path] | None) -> None:
        if paths is None:
            return
        self.clear_error()
        self.state.delta_from = paths
        self.state.delta = None
        if self.result is not None:
            self.query_one("#totals", Static).update(self.totals(self.result))
            if paths and self.result.resolved:
                self.plan_delta(paths, self.result)
        self.refresh_nav()

    @work(thread=True, exclusive=True, group="delta", exit_on_error=False)
    def plan_delta(self, paths: list[Path], result: Estimate) -> None:
        self.post_message(DeltaPlanned(self.services.domain.plan_delta(paths, result), paths))

    def on_delta_planned(self, message: DeltaPlanned) -> None:
        if self.result is None or message.paths != self.state.delta_from:
            return  # an answer for files the operator has since changed
        self.state.delta = message.delta
        totals = self.totals(self.result)
        totals.append_text(self.delta_totals(message.delta))
        self.query_one("#totals", Static).update(totals)
        self.show_tool(self.result)  # the delta may leave the tool out
        self.refresh_nav()

    @staticmethod
    def delta_totals(delta: DeltaLayout) -> Text:
        text = Text("\nDelta ", "bold cyan")
        text.append(f"against the {delta.delta.kind} ({delta.delta.against[:12]}): ")
        text.append(f"full {formatting.size(delta.full_bytes)} · ")
        text.append(f"delta {formatting.size(delta.delta_bytes)}", "bold")
        text.append(f" · saves {formatting.size(delta.saved_bytes)}", "green")
        text.append(
            f" ({formatting.count(len(delta.delta.expected), 'layer')} already offline). "
            "It imports only into that registry, straight (not via Docker)."
        )
        return text
