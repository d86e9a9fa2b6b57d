"""How sizes, rates and durations read on screen (one place, so every screen agrees)."""

from __future__ import annotations

import humanize

from airgap_tui.errors import AirgapError


def size(n: int | None) -> str:
    if n is None:
        return "?"
    return str(humanize.naturalsize(n))


def size_binary(n: int) -> str:
    """Part sizes are powers of two (1 GiB), so say them that way."""
    return str(humanize.naturalsize(n, binary=True))


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 part`, `3 parts`: never "1 parts"."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def rate(bytes_per_second: float | None) -> str:
    if not bytes_per_second or bytes_per_second <= 0:
        return "—"
    return f"{humanize.naturalsize(bytes_per_second)}/s"


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe_error(error: BaseException | None) -> str:
    """One readable sentence for any worker failure; never a traceback."""
    if isinstance(error, AirgapError):
        return error.sentence()
    if error is None:
        return "The step failed without saying why. Go back (Esc) and try again."
    text = " ".join(str(error).split())[:300] or type(error).__name__
    return (
        f"Unexpected {type(error).__name__}: {text}. This is a bug in airgap-tui; "
        "go back (Esc) and try again, and please report it with what you did."
    )
