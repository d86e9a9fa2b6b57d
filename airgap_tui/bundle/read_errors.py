"""The error a reader of a hostile file raises: the file, the field, the cause, the next step
(safe_load and safe_yaml share it)."""

from __future__ import annotations

from airgap_tui.errors import AirgapError


def show(text: str, limit: int = 60) -> str:
    """A value from the file as it may be printed: short, and quoted unless plain ASCII."""
    text = text[:limit]
    return text if text.isascii() and text.isprintable() else repr(text)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:160]


class Fail:
    """Builds the error: `WHAT, field F: cause. Next step.`"""

    def __init__(self, what: str, error: type[AirgapError], next_step: str) -> None:
        self.what = what
        self.error = error
        self.next_step = next_step

    def __call__(self, cause: str, field: str = "") -> AirgapError:
        if len(field) > 120:
            field = field[:60] + "…" + field[-59:]
        where = f"{self.what}, field {field}" if field else self.what
        return self.error(where, cause, self.next_step)
