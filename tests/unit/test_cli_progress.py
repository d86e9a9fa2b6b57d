"""The CLI's terminal progress bars draw every stage and mark the end of each item."""

from __future__ import annotations

import io

from rich.console import Console

from airgap_tui.cli.progress import RichProgress
from airgap_tui.events import Progress


def test_bars_show_items_and_results() -> None:
    out = io.StringIO()
    bars = RichProgress(Console(file=out, force_terminal=True, width=120))
    with bars:
        bars(Progress("pull", "reg/semgrep:6", 10, 100))
        bars(Progress("pull", "reg/semgrep:6", 100, 100, final=True))
        bars(Progress("save", "images.tar.000", 5, 10))
        bars(Progress("push", "reg/secrets:7", 0, None, final=True, ok=False))
    text = out.getvalue()
    assert "reg/semgrep:6 ok" in text
    assert "images.tar.000" in text
    assert "reg/secrets:7 FAILED" in text
