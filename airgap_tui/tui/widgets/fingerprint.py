"""A bundle fingerprint, grouped so two people can read it aloud and compare it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Fingerprint(Static):
    DEFAULT_CSS = """
    Fingerprint { height: auto; padding: 0 1; border: round $accent; }
    """

    def __init__(
        self, grouped: str = "", full: str = "", *, tool: str = "", id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.border_title = "Fingerprint"
        self.set_fingerprint(grouped, full, tool=tool)

    def set_fingerprint(self, grouped: str, full: str, *, tool: str = "") -> None:
        """`tool`: the carried airgap-tui.pyz's sha256, checked before that program runs."""
        self.grouped, self.full, self.tool = grouped, full, tool
        text = Text()
        text.append(grouped or "—", style="bold")
        if full and full != grouped:
            text.append(f"\nfull: {full}", style="dim")
        if tool:  # the carried airgap-tui.pyz's sha256, same width as `full:`
            text.append("\ntool: ", style="bold")
            text.append(tool)
        self.update(text)
