"""bundle.yaml.sig: an older export's signature is removed before bundle.yaml is rewritten (it
never covers the new one), and the new bundle.yaml is signed with the operator's key."""

from __future__ import annotations

from pathlib import Path

from airgap_tui.bundle.atomic import atomic_write_bytes, unlink_durably
from airgap_tui.bundle.manifest import MANIFEST_NAME, MAX_MANIFEST_BYTES
from airgap_tui.bundle.parts import media_error
from airgap_tui.bundle.safe_load import read_bounded
from airgap_tui.bundle.signature import SIGNATURE_NAME, sign_bytes, signature_info


def drop_signature(dest: Path) -> None:
    """Remove the bundle.yaml.sig an older export left in `dest`, if any."""
    try:
        unlink_durably(dest / SIGNATURE_NAME)
    except OSError as exc:
        raise media_error(exc, f"Removing the old {SIGNATURE_NAME}", dest, None) from exc


def sign_bundle(dest: Path, key: Path) -> str:
    """Write bundle.yaml.sig over the bundle.yaml just written; the key's SHA256 fingerprint."""
    data = read_bounded(
        dest / MANIFEST_NAME, what=f"{MANIFEST_NAME} in {dest}", max_bytes=MAX_MANIFEST_BYTES
    )
    signature = sign_bytes(data, key)
    try:
        atomic_write_bytes(dest / SIGNATURE_NAME, signature)
    except OSError as exc:
        raise media_error(exc, f"Writing {SIGNATURE_NAME}", dest, len(signature)) from exc
    return signature_info(signature).key_fingerprint
