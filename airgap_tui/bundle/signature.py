"""Signed bundles: bundle.yaml.sig, an OpenSSH signature (SSHSIG) over bundle.yaml.

bundle.yaml lists every part's sha256 and the carried tool's, so a signature over it covers
every byte of the bundle. The format is OpenSSH's own (`ssh-keygen -Y sign`, namespace
`airgap-tui-bundle`), so anyone can check a bundle without airgap-tui:

    ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n airgap-tui-bundle \\
        -s bundle.yaml.sig < bundle.yaml

Signing and checking run `ssh-keygen` (openssh-client, on nearly every Linux host). Without
it, the signer's key is still read from the signature (pure stdlib) so the operator is told
who signed and how to check by hand. The signature file is read like every file on the stick:
bounded, not followed through a symlink, never blocking on a FIFO.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airgap_tui.bundle.safe_load import read_bounded
from airgap_tui.errors import BundleError, UsageError

if TYPE_CHECKING:
    import subprocess

SIGNATURE_NAME = "bundle.yaml.sig"
NAMESPACE = "airgap-tui-bundle"
MAX_SIGNATURE_BYTES = 64 * 1024  # an SSHSIG is under 2 KB even with an RSA 16384 key
MAX_ALLOWED_SIGNERS_BYTES = 4 * 1024 * 1024
TIMEOUT = 60.0  # seconds for one ssh-keygen run (a hardware key may wait for a touch)
_ARMOR = re.compile(
    rb"-----BEGIN SSH SIGNATURE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END SSH SIGNATURE-----\s*\Z"
)
_GOOD = re.compile(
    r'Good "[^"]*" signature for (?P<principal>.+?) with (?P<type>\S+) key (?P<fp>\S+)'
)
HAND_CHECK = (
    "ssh-keygen -Y verify -f ALLOWED_SIGNERS -I IDENTITY -n "
    f"{NAMESPACE} -s {SIGNATURE_NAME} < bundle.yaml"
)


@dataclass(frozen=True)
class SignatureInfo:
    """What the signature says about its signer, read from its bytes (not yet trusted)."""

    key_type: str  # e.g. ssh-ed25519
    key_fingerprint: str  # SHA256:base64, as ssh-keygen -l prints it
    namespace: str

    def describe(self) -> str:
        return f"{self.key_type} key {self.key_fingerprint}"


@dataclass(frozen=True)
class Signer:
    """A signature checked against an allowed_signers file."""

    principal: str  # the identity allowed_signers gives the key
    key_type: str
    key_fingerprint: str

    def describe(self) -> str:
        return f"{self.principal} ({self.key_type} key {self.key_fingerprint})"


def ssh_keygen() -> str | None:
    """The path of ssh-keygen, or None when openssh-client is not installed."""
    import shutil  # here: verify without a signature never loads it

    return shutil.which("ssh-keygen")


def _need_ssh_keygen(doing: str) -> str:
    tool = ssh_keygen()
    if tool is None:
        raise UsageError(
            doing,
            "ssh-keygen is not installed on this host (it comes with openssh-client)",
            "Install openssh-client, or check by hand on a host that has it: " + HAND_CHECK,
        )
    return tool


def _run(
    args: list[str], *, data: bytes = b"", timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    """Run ssh-keygen detached from the terminal (it must never prompt inside the wizard);
    _Timeout when it does not answer in time."""
    import subprocess  # here: verify without a signature never loads it

    try:
        return subprocess.run(
            args,
            input=data,
            capture_output=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except _Timeout:
        raise _Timeout from None


class _Timeout(Exception):
    """ssh-keygen did not answer within TIMEOUT."""


def _stderr(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return (lines[-1] if lines else f"exit status {proc.returncode}")[:200]


# --------------------------------------------------------------------------- signing


def sign_bytes(data: bytes, key: str | os.PathLike[str]) -> bytes:
    """An SSHSIG signature of `data` with the private key at `key` (or a public key whose
    private half is in ssh-agent). A key with a passphrase must be in ssh-agent."""
    key_path = Path(key)
    what = f"Signing key {key_path}"
    tool = _need_ssh_keygen(what)
    if not key_path.is_file():
        raise UsageError(what, "it does not exist or is not a file", "Give the path of an SSH key")
    try:
        proc = _run([tool, "-Y", "sign", "-q", "-f", str(key_path), "-n", NAMESPACE], data=data)
    except _Timeout:
        raise UsageError(what, "ssh-keygen did not answer in time", "Try again") from None
    if proc.returncode != 0 or not _ARMOR.match(proc.stdout):
        cause = _stderr(proc)
        step = "Give an SSH private key made by ssh-keygen (ed25519 or RSA)"
        if "passphrase" in cause.lower() or "incorrect" in cause.lower():
            step = (
                "The key has a passphrase: load it into ssh-agent (ssh-add KEY) and give its "
                ".pub file"
            )
        raise UsageError(what, f"ssh-keygen could not sign with it ({cause})", step)
    return proc.stdout


def key_fingerprint(key: str | os.PathLike[str]) -> str:
    """`SHA256:…` of a key file, as ssh-keygen -l prints it (for the export's output)."""
    tool = _need_ssh_keygen(f"Signing key {key}")
    proc = _run([tool, "-l", "-E", "sha256", "-f", str(key)])
    fields = proc.stdout.decode("utf-8", "replace").split()
    return fields[1] if proc.returncode == 0 and len(fields) > 1 else ""


# --------------------------------------------------------------------------- reading


def read_signature(bundle_dir: str | os.PathLike[str]) -> bytes | None:
    """bundle.yaml.sig's bytes, or None when the bundle is not signed."""
    path = Path(bundle_dir) / SIGNATURE_NAME
    try:
        return read_bounded(
            path,
            what=f"{SIGNATURE_NAME} in {Path(bundle_dir)}",
            max_bytes=MAX_SIGNATURE_BYTES,
            next_step="Do not use this bundle: it was damaged or tampered with; copy it again",
        )
    except FileNotFoundError:
        return None


def signature_info(signature: bytes, where: str = SIGNATURE_NAME) -> SignatureInfo:
    """The signer's key and the namespace, parsed from the armored SSHSIG (PROTOCOL.sshsig)."""

    def fail(cause: str) -> BundleError:
        return BundleError(
            where,
            f"it is not an OpenSSH signature ({cause})",
            "Do not use this bundle: it was damaged or tampered with; copy it again",
        )

    match = _ARMOR.match(signature.strip() + b"\n")
    if match is None:
        raise fail("no BEGIN/END SSH SIGNATURE armor")
    try:
        blob = base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except ValueError:
        raise fail("its base64 is damaged") from None
    reader = _Reader(blob)
    if reader.take(6) != b"SSHSIG":
        raise fail("the SSHSIG magic is missing")
    version = reader.uint32()
    if version != 1:
        raise fail(f"version {version}")
    public_key = reader.string()
    namespace = reader.string().decode("utf-8", "replace")
    key_type = _Reader(public_key).string().decode("ascii", "replace")
    digest = base64.b64encode(hashlib.sha256(public_key).digest()).decode().rstrip("=")
    return SignatureInfo(key_type=key_type, key_fingerprint=f"SHA256:{digest}", namespace=namespace)


class _Reader:
    """SSH wire format: uint32 and length-prefixed strings, bounds-checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.position + n > len(self.data):
            raise BundleError(SIGNATURE_NAME, "it is truncated", "Copy the bundle again")
        chunk = self.data[self.position : self.position + n]
        self.position += n
        return chunk

    def uint32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self) -> bytes:
        return self.take(self.uint32())


# --------------------------------------------------------------------------- checking


def verify_signature(
    data: bytes,
    signature: bytes | None,
    allowed_signers: str | os.PathLike[str],
    *,
    bundle: str = "bundle.yaml",
) -> Signer:
    """Check `signature` over `data` (bundle.yaml's bytes, as parsed) against allowed_signers.

    BundleError when the bundle is unsigned, the signature is bad, or its key is not listed
    (naming the key that signed); UsageError when ssh-keygen or the allowed_signers file is
    missing."""
    where = f"{SIGNATURE_NAME} for {bundle}"
    stop = "Do not import this bundle: it was rewritten or not signed by a key you trust"
    signers = Path(allowed_signers)
    if signature is None:
        raise BundleError(
            where,
            f"the bundle is not signed, and --trust {signers} asks for a signature",
            stop + " (or export it again with --sign-key)",
        )
    info = signature_info(signature, where)
    if info.namespace != NAMESPACE:
        raise BundleError(
            where,
            f"it was made for {info.namespace!r}, not {NAMESPACE!r} (by {info.describe()})",
            stop,
        )
    tool = ssh_keygen()
    if tool is None:  # the carried pyz on a host without openssh-client
        raise UsageError(
            where,
            f"it is signed by {info.describe()}, but this host has no ssh-keygen to check it "
            "(it comes with openssh-client)",
            "Install openssh-client, or check by hand on a host that has it: " + HAND_CHECK,
        )
    _check_allowed_signers(signers)
    principal, proc = _find_and_verify(tool, data, signature, signers, where, info, stop)
    out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    good = _GOOD.search(out)
    if proc.returncode != 0 or good is None:
        raise BundleError(
            where,
            f"the signature by {info.describe()} ({principal} in {signers}) does not match "
            f"bundle.yaml: it was changed after signing ({_stderr(proc)})",
            stop,
        )
    return Signer(principal=good["principal"], key_type=good["type"], key_fingerprint=good["fp"])


def _check_allowed_signers(signers: Path) -> None:
    """Refuse a missing, oversized, symlinked or FIFO allowed_signers file (UsageError)
    before ssh-keygen is pointed at it."""
    try:
        read_bounded(
            signers,
            what=f"allowed_signers file {signers}",
            max_bytes=MAX_ALLOWED_SIGNERS_BYTES,
            error=UsageError,
            next_step="Give the allowed_signers file that lists the exporting host's key",
        )
    except FileNotFoundError:
        raise UsageError(
            f"allowed_signers file {signers}",
            "it does not exist",
            "Give the allowed_signers file that lists the exporting host's key",
        ) from None


def _find_and_verify(
    tool: str,
    data: bytes,
    signature: bytes,
    signers: Path,
    where: str,
    info: SignatureInfo,
    stop: str,
) -> tuple[str, subprocess.CompletedProcess[bytes]]:
    """ssh-keygen's principal for the signing key (BundleError when `signers` lists none),
    and its `-Y verify` run as that principal; the signature goes through a private temp file."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="airgap-tui-sig-") as tmp:
        sig_path = Path(tmp) / SIGNATURE_NAME
        sig_path.write_bytes(signature)
        try:
            found = _run([tool, "-Y", "find-principals", "-s", str(sig_path), "-f", str(signers)])
            principals = found.stdout.decode("utf-8", "replace").split()
            if found.returncode != 0 or not principals:
                raise BundleError(
                    where,
                    f"it is signed by {info.describe()}, which {signers} does not list",
                    stop,
                )
            principal = principals[0]
            proc = _run(
                [
                    tool,
                    "-Y",
                    "verify",
                    "-f",
                    str(signers),
                    "-I",
                    principal,
                    "-n",
                    NAMESPACE,
                    "-s",
                    str(sig_path),
                ],
                data=data,
            )
        except _Timeout:
            raise BundleError(where, "ssh-keygen did not answer in time", "Try again") from None
    return principal, proc


def hand_check(signature: bytes | None) -> str:
    """What to tell an operator whose host has no ssh-keygen: who signed, how to check."""
    if signature is None:
        return "The bundle is not signed."
    try:
        info = signature_info(signature)
    except BundleError as exc:
        return exc.sentence()
    return (
        f"bundle.yaml.sig is signed by {info.describe()}; this host has no ssh-keygen to check "
        f"it. Check it on a host with openssh-client: {HAND_CHECK}"
    )
