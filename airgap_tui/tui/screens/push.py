"""Import, step 4: push each image straight to the registry (blobs and original manifests,
digests kept), or stream the parts into `docker load`, tag and push; a result row per image
that says whether its upstream digest was kept (what lets pipelines pin it) and its age."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from airgap_tui.catalog.age import DEFAULT_MAX_AGE_DAYS, age_summary, age_text
from airgap_tui.events import STAGE_BLOB, STAGE_LOAD, STAGE_PUSH, STAGE_TAG, CancelToken
from airgap_tui.importer.run import ImportRequest
from airgap_tui.tui.messages import ImportDone, ProgressUpdate
from airgap_tui.tui.screens.long_work import LongWorkScreen
from airgap_tui.tui.widgets.stage_board import StageBoard, stage_title

if TYPE_CHECKING:
    from airgap_tui.importer.outcome import ImageResult
    from airgap_tui.importer.run import ImportResult


class PushScreen(LongWorkScreen):
    KEY = "push"
    TITLE = "Push to the registry"
    NEXT_LABEL = "Show snippet"
    CANCEL_QUESTION = (
        "Stop the import? Images already pushed stay in the registry; running it again "
        "pushes only what is missing."
    )
    CANCEL_YES = "Stop import"
    CANCEL_NO = "Keep going"
    STOPPED = (
        "Stopped at your request. Images already pushed stay in the registry; running "
        "the import again pushes only what is missing."
    )

    def __init__(self) -> None:
        super().__init__()
        self.result: ImportResult | None = None
        bundle_dir = self.state.bundle_dir
        assert bundle_dir is not None
        self.load_item = bundle_dir.name or str(bundle_dir)

    def targets(self) -> list[str]:
        manifest = self.state.manifest
        assert manifest is not None
        prefix = self.state.registry.rstrip("/")
        for scheme in ("https://", "http://"):
            prefix = prefix.removeprefix(scheme)
        return [f"{prefix}/{image.name}:{image.tag}" for image in manifest.images]

    def compose_body(self) -> ComposeResult:
        yield StageBoard(
            clock=self.services.clock,
            order=[STAGE_LOAD, STAGE_TAG, STAGE_PUSH] if self.state.via_docker else [STAGE_PUSH],
            per_item=[STAGE_PUSH],
            units={STAGE_TAG: "items"},
            counted=[STAGE_TAG],
            id="stages",
        )
        table: DataTable[str | Text] = DataTable(id="results", cursor_type="row")
        table.border_title = "Result per image"
        yield table
        yield Static("", id="push-summary")
        yield self.work_log()

    def on_mount(self) -> None:
        table = self.query_one("#results", DataTable)
        manifest = self.state.manifest
        assert manifest is not None
        labels = [image.label for image in manifest.images]
        # The registry path is the same for every row (the summary names it): the name:tag.
        widest = max((len(label) for label in labels), default=12)
        table.add_column("Image", key="image", width=min(max(widest, 12), 44))
        table.add_column("Status", key="status", width=15)
        table.add_column("Digest", key="digest", width=20)
        table.add_column("Age", key="age", width=8)
        table.add_column("Detail", key="detail")
        for target, label in zip(self.targets(), labels, strict=True):
            table.add_row(label, Text("waiting", "dim"), "", "", "", key=target)
        board = self.query_one("#stages", StageBoard)
        if self.state.via_docker:
            board.prepare(STAGE_LOAD, [self.load_item])
        board.prepare(STAGE_PUSH, self.targets())
        board.expect(STAGE_TAG, len(self.targets()))
        self.start()
        super().on_mount()

    def start(self) -> None:
        assert self.state.bundle_dir is not None
        token = self.begin_work()
        request = ImportRequest(
            bundle_dir=self.state.bundle_dir,
            registry=self.state.registry,
            verify=False,  # the Verify step just read every byte; load re-checks each part
            verified_fingerprint=(
                self.state.verify_report.fingerprint
                if self.state.verify_report is not None and self.state.verify_report.ok
                else None
            ),
            credentials=self.state.credentials,
            ca_file=self.state.ca_file,
            receipt_dir=self.services.receipt_dir,
            via_docker=self.state.via_docker,
            # checked again before anything is pushed; the receipt records them
            trust=self.services.domain.import_trust(
                self.state.carried_fingerprint, self.state.allowed_signers
            ),
        )
        self.log_line(f"Importing {self.state.bundle_dir} into {self.state.registry}.")
        self.run_import(request, token)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def run_import(self, request: ImportRequest, token: CancelToken) -> None:
        engine = self.services.engine() if request.via_docker else None
        with self.progress_sink() as progress:
            result = self.services.domain.import_bundle(
                request, engine, progress=progress, cancel=token
            )
        self.post_message(ImportDone(result))

    def on_progress_update(self, message: ProgressUpdate) -> None:
        event = message.event
        if event.stage == STAGE_BLOB:  # one image's blobs: its push bar shows the bytes
            if event.message.startswith("retry"):
                self.log_line(f"↻ {event.item}: {event.message}")
            return
        if event.stage == STAGE_LOAD and event.item != self.load_item:
            if event.final:  # the per-part read that feeds the load stream
                mark = "✓" if event.ok else "✗"
                self.log_line(f"{mark} read {event.item}: {event.message or 'ok'}")
            return
        self.query_one("#stages", StageBoard).apply(event)
        if event.final:
            mark = "✓" if event.ok else "✗"
            self.log_line(f"{mark} {stage_title(event.stage)} {event.item}: {event.message}")
            if event.stage == STAGE_PUSH and event.ok:
                self.set_status(event.item, Text("pushed", "green"))
        elif event.stage == STAGE_PUSH:
            self.set_status(event.item, Text("pushing…"))

    def set_status(self, target: str, status: Text) -> None:
        table = self.query_one("#results", DataTable)
        if target in table.rows:
            table.update_cell(target, "status", status)

    def on_import_done(self, message: ImportDone) -> None:
        self.busy = False
        result = message.result
        self.result = result
        self.state.import_result = result
        table = self.query_one("#results", DataTable)
        for image in result.images:
            style = "green" if image.ok else "red"
            if image.target not in table.rows:
                table.add_row(f"{image.name}:{image.tag}", "", "", "", "", key=image.target)
            table.update_cell(image.target, "status", Text(image.status, style))
            table.update_cell(image.target, "digest", self.digest_cell(image))
            table.update_cell(image.target, "age", self.age_cell(image.age_days))
            table.update_cell(image.target, "detail", image.error or image.note)
        pushed = sum(1 for i in result.images if i.ok)
        summary = Text()
        if result.ok:
            summary.append(f"✓ All {pushed} images are in {self.state.registry}.", "bold green")
        else:
            summary.append(f"✗ {pushed} of {len(result.images)} images made it.", "bold red")
            for problem in result.problems:
                summary.append(f"\n{problem}", "red")
            summary.append(
                "\nFix the cause above and run the import again: images already in the "
                "registry are skipped."
            )
        for warning in result.warnings:
            summary.append(f"\n! {warning}", "yellow")
        manifest = self.state.manifest
        if manifest is not None:
            rows = [(i.label, i.built, i.analyzer) for i in manifest.images]
            for warning in age_summary(rows, self.services.now(), DEFAULT_MAX_AGE_DAYS):
                summary.append(f"\n! {warning}.", "yellow")
        if result.receipt_path:
            summary.append(f"\nReceipt: {result.receipt_path}", "dim")
        self.query_one("#push-summary", Static).update(summary)
        self.refresh_nav()

    @staticmethod
    def digest_cell(image: ImageResult) -> Text:
        """`digest kept ✓` (pipelines may pin the upstream digest), else the one now served."""
        if image.ok and image.digest_kept:
            return Text("digest kept ✓", "green")
        if image.pushed_digest:
            return Text(image.pushed_digest[:19] + "…", "yellow" if image.ok else "")
        return Text("")

    @staticmethod
    def age_cell(days: int | None) -> Text:
        if days is None:
            return Text("unknown", "dim")
        return Text(age_text(days), "bold yellow" if days > DEFAULT_MAX_AGE_DAYS else "")

    def can_go_next(self) -> bool:
        return self.result is not None and any(i.ok for i in self.result.images)
