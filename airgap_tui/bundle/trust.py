"""Trust that does not come on the stick: the fingerprint the operator carried separately.

An attacker who rewrites the whole stick recomputes the fingerprint along with everything else,
so `verify` alone cannot catch them. The operator reads the fingerprint on the connected host
(export prints it, full and in short groups) and carries it apart from the stick: on paper, in
a phone's photo. `--expect-fingerprint` compares it before anything is pushed.
"""

from __future__ import annotations

import re

from airgap_tui.errors import BundleError, UsageError

SHORT_HEX_DIGITS = 24  # the grouped form export prints: six groups of four
_SEPARATORS = re.compile(r"[\s:_-]+")
_HEX = re.compile(r"[0-9a-f]+")


def parse_expected_fingerprint(text: str) -> str:
    """The hex digits of a fingerprint as typed: full (64 digits, `sha256:` optional) or the
    short grouped form (`1a2b 3c4d …`, 24 digits or more). UsageError when it is neither."""
    what = f"Expected fingerprint {text[:80]!r}"
    cleaned = text.strip().lower().removeprefix("sha256:")
    digits = _SEPARATORS.sub("", cleaned)
    if not _HEX.fullmatch(digits or "-"):
        raise UsageError(
            what,
            "it is not hexadecimal (0-9, a-f; spaces between groups are fine)",
            "Copy the fingerprint export printed on the connected host",
        )
    if not SHORT_HEX_DIGITS <= len(digits) <= 64:
        raise UsageError(
            what,
            f"it has {len(digits)} hex digits; give the full 64 or the short form's "
            f"{SHORT_HEX_DIGITS} (six groups of four)",
            "Copy the fingerprint export printed on the connected host",
        )
    return digits


def fingerprint_matches(expected: str, actual: str) -> bool:
    """`expected` (parsed) is the whole of `actual` or its first digits."""
    return actual.lower().removeprefix("sha256:").startswith(expected)


def check_expected_fingerprint(expected: str, actual: str, bundle: str) -> None:
    """BundleError unless the bundle's fingerprint is the one the operator carried."""
    if fingerprint_matches(expected, actual):
        return
    shown = actual.lower().removeprefix("sha256:")[: len(expected)]
    raise BundleError(
        f"Bundle {bundle}",
        f"its fingerprint {grouped(shown)} is not the one you carried ({grouped(expected)}): "
        "the bundle was rewritten after export, or it is another bundle",
        "Do not import it: nothing was pushed. Bring the bundle again, or check the fingerprint "
        "you carried",
    )


def grouped(hexdigits: str) -> str:
    """Hex digits in groups of four, as they are read aloud."""
    return " ".join(hexdigits[i : i + 4] for i in range(0, len(hexdigits), 4))
