"""Trust that does not come on the stick: the fingerprint the operator carried separately.

An attacker who rewrites the whole stick recomputes the fingerprint along with everything else,
so `verify` alone cannot catch them. The operator reads the fingerprint on the connected host
(export prints it, full and in short groups) and carries it apart from the stick: on paper, in
a phone's photo. `--expect-fingerprint` compares it before anything is pushed. Or the
connected host signs bundle.yaml (`export --sign-key`) and the offline host holds the
allowed_signers file that names its key (`--trust`): see airgap_tui.bundle.signature.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_tui.bundle.signature import (
    SignatureInfo,
    Signer,
    read_signature,
    signature_info,
    verify_signature,
)
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


@dataclass(frozen=True)
class Trust:
    """What the operator brought apart from the stick (both optional)."""

    expect_fingerprint: str | None = None  # hex digits, as parse_expected_fingerprint gives
    allowed_signers: Path | None = None

    @property
    def asked(self) -> bool:
        return self.expect_fingerprint is not None or self.allowed_signers is not None


@dataclass(frozen=True)
class TrustReport:
    """What was checked: the fingerprint (None: not asked), the signer (None: not asked), and
    who the signature says signed (None: unsigned), checked or not."""

    fingerprint_matches: bool | None
    signer: Signer | None
    signature: SignatureInfo | None

    def signed_by(self) -> str:
        """One line for the operator: the checked signer, else the key the signature names."""
        if self.signer is not None:
            return f"signed by {self.signer.describe()}, checked"
        if self.signature is not None:
            return f"signed by {self.signature.describe()} (not checked: give --trust)"
        return "not signed"

    def to_dict(self) -> dict[str, Any]:
        """As --json and the import receipt record it."""
        signer, signature = self.signer, self.signature
        return {
            "fingerprint_matches": self.fingerprint_matches,
            "signer": None
            if signer is None
            else {
                "principal": signer.principal,
                "key_type": signer.key_type,
                "key_fingerprint": signer.key_fingerprint,
            },
            "signature": None
            if signature is None
            else {"key_type": signature.key_type, "key": signature.key_fingerprint},
        }


def unchecked_signature(bundle_dir: str | os.PathLike[str]) -> TrustReport | None:
    """Who bundle.yaml.sig says signed the bundle, not checked (nothing was asked), so the
    output and the receipt never call a signed bundle unsigned; None when it is unsigned or
    the signature cannot be read (verify then names that)."""
    info = signature_or_none(bundle_dir)
    return None if info is None else TrustReport(None, None, info)


def signature_or_none(bundle_dir: str | os.PathLike[str]) -> SignatureInfo | None:
    try:
        raw = read_signature(bundle_dir)
        return signature_info(raw) if raw is not None else None
    except BundleError:
        return None


def check_trust(
    bundle_dir: str | os.PathLike[str], fingerprint: str, manifest_bytes: bytes, trust: Trust
) -> TrustReport:
    """Raise BundleError when the fingerprint carried or the signature asked for does not hold
    (the caller then pushes nothing); otherwise what was found. `manifest_bytes` are the
    bytes of bundle.yaml that were parsed, so the signature covers what is trusted."""
    bundle = str(bundle_dir)
    matches = None
    if trust.expect_fingerprint is not None:
        check_expected_fingerprint(trust.expect_fingerprint, fingerprint, bundle)
        matches = True
    raw_signature = read_signature(bundle_dir)
    info = None
    if raw_signature is not None:
        try:
            info = signature_info(raw_signature, f"bundle.yaml.sig in {bundle}")
        except BundleError:
            if trust.allowed_signers is not None:
                raise
    signer = None
    if trust.allowed_signers is not None:
        signer = verify_signature(
            manifest_bytes,
            raw_signature,
            trust.allowed_signers,
            bundle=f"bundle.yaml in {bundle}",
        )
    return TrustReport(fingerprint_matches=matches, signer=signer, signature=info)
