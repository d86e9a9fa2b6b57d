"""One line of progress for one stage or one image: bar, bytes, rate and time left.

Rate and ETA come from the app's injectable clock rather than ProgressBar's own, so a
snapshot test with a still clock renders the same every time.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from airgap_tui.events import Progress
from airgap_tui.tui import formatting


class StageProgress(Horizontal):
    DEFAULT_CSS = """
    StageProgress { height: 1; width: 1fr; }
    StageProgress > .stage-title { width: 34; text-overflow: ellipsis; text-wrap: nowrap; }
    StageProgress > ProgressBar { width: 46; }
    StageProgress > .stage-stats { width: 1fr; color: $text-muted; text-wrap: nowrap; }
    StageProgress.-done > .stage-stats { color: $text-success; }
    StageProgress.-failed > .stage-stats { color: $text-error; }
    StageProgress.-failed { height: auto; }
    StageProgress.-failed > .stage-stats { text-wrap: wrap; }
    """

    def __init__(
        self,
        title: str,
        *,
        clock: Callable[[], float],
        unit: str = "bytes",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.unit = unit
        self._clock = clock
        self._started: float | None = None
        self._start_done = 0
        self.done = 0
        self.total: int | None = None
        self.finished = False
        self.ok = True
        # Built here, not in compose, so apply() works before the line is mounted.
        self.title_label = Label(title, classes="stage-title")
        self.bar = ProgressBar(total=100, show_eta=False)
        self.stats = Label("waiting", classes="stage-stats")

    def compose(self) -> ComposeResult:
        yield self.title_label
        yield self.bar
        yield self.stats

    def _amount(self, n: int | None) -> str:
        return formatting.size(n) if self.unit == "bytes" else ("?" if n is None else str(n))

    def apply(self, event: Progress) -> None:
        now = self._clock()
        if self._started is None:
            self._started, self._start_done = now, event.done
        self.done, self.total = event.done, event.total
        bar, stats = self.bar, self.stats
        if event.final:
            self.finished, self.ok = True, event.ok
            full = event.total or event.done or 1
            if event.ok:
                bar.update(total=full, progress=full)
                self.add_class("-done")
                stats.update(f"✓ {self._amount(event.total or event.done)}  {event.message}")
            else:
                self.add_class("-failed")
                stats.update(f"✗ {event.message or 'failed'}")
            return
        if event.total:
            bar.update(total=event.total, progress=min(event.done, event.total))
        elapsed = now - self._started
        speed = (event.done - self._start_done) / elapsed if elapsed > 0.5 else None
        parts = [
            f"{self._amount(event.done)} of {self._amount(event.total)}"
            if event.total
            else f"{self._amount(event.done)} so far"
        ]
        if self.unit == "bytes":
            parts.append(formatting.rate(speed))
            if speed and event.total:
                parts.append(formatting.duration((event.total - event.done) / speed) + " left")
        if event.message:
            parts.append(event.message)
        stats.update(" · ".join(parts))
