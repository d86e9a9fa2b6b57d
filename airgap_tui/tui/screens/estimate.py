"""Estimate: sizes per image from the registry (nothing is pulled), filled in by a worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from airgap_tui.events import CancelToken
from airgap_tui.tui import formatting
from airgap_tui.tui.messages import ProgressUpdate, WorkDone
from airgap_tui.tui.screens.base import WizardScreen

if TYPE_CHECKING:
    from airgap_tui.estimate import Estimate

COLUMNS = ("image", "download", "media", "layers", "shared", "status")


class EstimateScreen(WizardScreen):
    KEY = "estimate"
    TITLE = "Estimate"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "rerun", "Estimate again")]

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

    def on_mount(self) -> None:
        table = self.query_one("#estimate-table", DataTable)
        table.add_column("Image", key="image", width=44)
        table.add_column("Download", key="download", width=10)
        table.add_column("On media", key="media", width=10)
        table.add_column("Layers", key="layers", width=6)
        table.add_column("Shared", key="shared", width=6)
        table.add_column("Status", key="status")
        self.action_rerun()
        table.focus()
        super().on_mount()

    def on_unmount(self) -> None:
        self.cancel.cancel()

    def action_rerun(self) -> None:
        table = self.query_one("#estimate-table", DataTable)
        table.clear()
        for spec in self.state.specs:
            table.add_row(spec.label, "…", "…", "", "", Text("waiting", "dim"), key=spec.label)
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
        result = self.services.domain.estimate(
            list(self.state.specs),
            platform=self.state.platform,
            progress=self.progress_sink(),
            cancel=cancel,
        )
        self.post_message(WorkDone("estimate", result))

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
        if event.message:
            status = event.message
        elif event.total:
            status = f"sizing layers {event.done}/{event.total}"
        else:
            status = "sized" if event.final else "asking the registry…"
        style = "" if event.ok else "red"
        self.query_one("#estimate-table", DataTable).update_cell(key, "status", Text(status, style))

    def on_work_done(self, message: WorkDone) -> None:
        if message.kind != "estimate":
            return
        result: Estimate = message.result
        self.result = result
        self.state.estimate = result
        table = self.query_one("#estimate-table", DataTable)
        missing = 0
        for image in result.images:
            key = image.spec.label
            if image.error:
                missing += 1
                status = Text(f"MISSING: {image.error}", "red")
                if image.available_tags:
                    shown = ", ".join(image.available_tags[:8])
                    more = len(image.available_tags) - 8
                    status.append(
                        f" Tags that exist: {shown}" + (f" (+{more})" if more > 0 else "")
                    )
                for column in ("download", "media"):
                    table.update_cell(key, column, "—")
                table.update_cell(key, "status", status, update_width=True)
                continue
            shared = sum(1 for layer in image.layers if layer.shared)
            table.update_cell(key, "download", formatting.size(image.download_bytes))
            table.update_cell(key, "media", formatting.size(image.media_bytes))
            table.update_cell(key, "layers", str(len(image.layers)))
            table.update_cell(key, "shared", str(shared))
            table.update_cell(key, "status", Text("ok", "green"))
        totals = Text()
        totals.append(f"{len(result.images)} images · ", "bold")
        totals.append(f"Download {formatting.size(result.download_bytes)} · ")
        totals.append(f"Bundle on the media {formatting.size(result.bundle_bytes)}", "bold")
        totals.append(" (shared layers once)")
        for image in result.images:
            if image.error:
                tags = ", ".join(image.available_tags[:12]) or "none"
                totals.append(
                    f"\n✗ {image.spec.label}: {image.error}. Tags that exist: {tags}", "red"
                )
        if missing:
            totals.append(
                f"\n{missing} image{'s are' if missing > 1 else ' is'} missing upstream. Go back "
                "(Esc) and pick a tag that exists, or untick it.",
                "red",
            )
        self.query_one("#totals", Static).update(totals)
        self.refresh_nav()

    def can_go_next(self) -> bool:
        return self.result is not None and not any(i.error for i in self.result.images)

    def go_next(self) -> None:
        from airgap_tui.tui.screens.destination import DestinationScreen

        self.app.push_screen(DestinationScreen())
