"""What an attacker with the stick does: change bytes, then re-seal bundle.yaml (part hashes and
fingerprint recomputed, re-signed with their own key) so that `verify` alone passes."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from pathlib import Path

from airgap_tui.bundle.manifest import BundleManifest, BundlePart, write_manifest
from airgap_tui.bundle.signature import SIGNATURE_NAME, sign_bytes


def flip_byte_at(out: Path, manifest: BundleManifest, offset: int) -> str:
    """Flip one byte at `offset` of the concatenated parts; returns the part's file name."""
    start = 0
    for part in manifest.parts:
        if offset < start + part.size:
            path = out / part.file
            data = bytearray(path.read_bytes())
            data[offset - start] ^= 0xFF
            path.write_bytes(bytes(data))
            return part.file
        start += part.size
    raise AssertionError("offset past the parts")


def reseal(out: Path, manifest: BundleManifest, *, sign_key: Path | None = None) -> BundleManifest:
    """Recompute every part's sha256 and the fingerprint; re-sign when given a key."""
    parts = [
        BundlePart(p.file, p.size, hashlib.sha256((out / p.file).read_bytes()).hexdigest())
        for p in manifest.parts
    ]
    resealed = dataclasses.replace(manifest, parts=parts)
    write_manifest(out, resealed)
    if sign_key is not None:
        signature = sign_bytes((out / "bundle.yaml").read_bytes(), sign_key)
        (out / SIGNATURE_NAME).write_bytes(signature)
    return resealed


def make_key(directory: Path, name: str) -> Path:
    """A fresh ed25519 key pair without passphrase (as `ssh-keygen` makes one)."""
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


def allowed_signers(directory: Path, identity: str, key: Path) -> Path:
    """An allowed_signers file trusting `key` for `identity` (OpenSSH's format)."""
    path = directory / "allowed_signers"
    public = key.with_suffix(".pub") if key.suffix != ".pub" else key
    public = Path(str(key) + ".pub") if not public.exists() else public
    kind, blob = public.read_text().split()[:2]
    path.write_text(f'{identity} namespaces="airgap-tui-bundle" {kind} {blob}\n')
    return path
