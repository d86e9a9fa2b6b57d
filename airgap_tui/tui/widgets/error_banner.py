"""Where a failed step says what went wrong, in the screen where it happened."""

from __future__ import annotations

from textual.widgets import Static


class ErrorBanner(Static):
    DEFAULT_CSS = """
    ErrorBanner {
        display: none;
        height: auto;
        padding: 0 1;
        border: round $error;
        color: $text-error;
    }
    ErrorBanner.-visible { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""

    def show(self, text: str) -> None:
        self.text = text
        self.update(text)
        self.set_class(bool(text), "-visible")

    def clear(self) -> None:
        self.show("")
