"""A column of StageProgress lines that grows as the domain reports stages and images."""

from __future__ import annotations

from collections.abc import Callable, Collection

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label

from airgap_tui.events import Progress
from airgap_tui.tui.widgets.stage_progress import StageProgress

STAGE_TITLES = {
    "estimate": "Estimate",
    "pull": "Pull",
    "save": "Write parts",
    "readback": "Read-back check",
    "verify": "Verify",
    "load": "Load into Docker",
    "tag": "Tag",
    "push": "Push",
    "tool": "Carried tool",
}


def stage_title(stage: str) -> str:
    return STAGE_TITLES.get(stage, stage.title())


class StageBoard(VerticalScroll):
    """One group per stage in pipeline order; a line per item for `per_item` stages.

    A `counted` stage (tagging: one tiny step per image) gets one line that counts the
    images done, "✓ 5 tagged", rather than showing whichever image finished last."""

    DEFAULT_CSS = """
    StageBoard { height: auto; max-height: 18; }
    StageBoard > .stage-group { height: auto; display: none; }
    StageBoard > .stage-group.-active { display: block; }
    StageBoard .group-heading { text-style: bold; }
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        order: Collection[str],
        per_item: Collection[str] = (),
        units: dict[str, str] | None = None,
        counted: Collection[str] = (),
        short: Callable[[str], str] = lambda item: item.rsplit("/", 1)[-1],
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._short = short
        self._clock = clock
        self._order = list(order)
        self._per_item = set(per_item)
        self._units = units or {}
        self._counted = set(counted)
        self._finished: dict[str, dict[str, bool]] = {}  # counted stage -> item -> ok
        self._expected: dict[str, int] = {}
        self._lines: dict[tuple[str, str], StageProgress] = {}

    def compose(self) -> ComposeResult:
        for stage in self._order:
            with Vertical(classes="stage-group", id=f"group-{stage}"):
                if stage in self._per_item:
                    yield Label(stage_title(stage), classes="group-heading")

    def line(self, stage: str, item: str = "") -> StageProgress | None:
        return self._lines.get(self._key(stage, item))

    @property
    def lines(self) -> dict[tuple[str, str], StageProgress]:
        return dict(self._lines)

    def expect(self, stage: str, count: int) -> None:
        """A counted stage is done when `count` items have finished."""
        self._expected[stage] = count

    def reset(self) -> None:
        """Forget every line (a re-run starts from waiting lines again)."""
        self._finished.clear()
        for widget in self._lines.values():
            widget.remove()
        self._lines.clear()
        for group in self.query(".stage-group"):
            group.remove_class("-active")

    def prepare(self, stage: str, items: list[str]) -> None:
        """Show waiting lines up front, so the operator sees the whole job before it starts."""
        for item in items:
            self._ensure(stage, item)

    def apply(self, event: Progress) -> StageProgress:
        if event.stage in self._counted:
            event = self._count(event)
        widget = self._ensure(event.stage, event.item)
        if event.stage not in self._per_item and event.item:
            widget.title_label.update(f"{stage_title(event.stage)}: {event.item}")
        widget.apply(event)
        return widget

    def _count(self, event: Progress) -> Progress:
        """Fold one item's event into the stage's count of finished items."""
        finished = self._finished.setdefault(event.stage, {})
        if event.final:
            finished[event.item] = event.ok
        expected = self._expected.get(event.stage)
        failed = sum(1 for ok in finished.values() if not ok)
        message = f"{failed} failed" if failed else event.message
        done = len(finished)
        all_done = expected is not None and done >= expected
        return Progress(event.stage, "", done, expected, message, final=all_done, ok=not failed)

    def _key(self, stage: str, item: str) -> tuple[str, str]:
        return (stage, item if stage in self._per_item else "")

    def _ensure(self, stage: str, item: str) -> StageProgress:
        key = self._key(stage, item)
        widget = self._lines.get(key)
        if widget is not None:
            return widget
        unit = self._units.get(stage, "bytes")
        title = f"  {self._short(item)}" if stage in self._per_item else stage_title(stage)
        widget = StageProgress(title, clock=self._clock, unit=unit)
        self._lines[key] = widget
        groups = self.query(f"#group-{stage}")
        if groups:
            group = groups.first(Vertical)
            group.add_class("-active")
            group.mount(widget)
        else:  # a stage the screen did not expect: append it at the end
            self.mount(Vertical(widget, classes="stage-group -active", id=f"group-{stage}"))
        return widget
