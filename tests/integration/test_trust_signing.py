"""Trust that does not come on the stick (issue 20): the fingerprint carried apart, and
bundle.yaml.sig in OpenSSH's SSHSIG format, interoperable with plain `ssh-keygen -Y` both ways.

A stick rewritten between the buildings (a layer changed, bundle.yaml re-sealed and re-signed
with the attacker's key) fails both `--expect-fingerprint` and `--trust`, with nothing pushed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from airgap_tui.bundle.manifest import MANIFEST_NAME, format_fingerprint
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.bundle.signature import NAMESPACE, SIGNATURE_NAME
from airgap_tui.errors import BundleError
from airgap_tui.tui.services import Domain
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.trust_support import allowed_signers, flip_byte_at, make_key, reseal

MakeRegistry = Callable[..., RegistryHandle]
NAMES = ("semgrep", "secrets:7")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("keys")
    return {
        "exporter": make_key(directory, "exporter"),
        "attacker": make_key(directory, "attacker"),
    }


def _export(cli: Callable[..., CliRun], upstream: NativeUpstream, dest: Path, *extra: str) -> Any:
    run = cli(
        "export",
        *NAMES,
        "--source-prefix",
        upstream.prefix,
        "--to",
        str(dest),
        "--part-size",
        "1MiB",
        "--no-tool",
        *extra,
        "--json",
    )
    assert run.code == 0, run.err
    return run.json


def _catalog(handle: RegistryHandle) -> list[str]:
    resp = requests.get(f"{handle.url}/v2/_catalog", timeout=30)
    resp.raise_for_status()
    return list(resp.json().get("repositories") or [])


def _ssh_verify(bundle: Path, signers: Path, identity: str) -> subprocess.CompletedProcess[bytes]:
    with open(bundle / MANIFEST_NAME, "rb") as data:
        return subprocess.run(
            [
                "ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", identity,
                "-n", NAMESPACE, "-s", str(bundle / SIGNATURE_NAME),
            ],
            stdin=data,
            capture_output=True,
            check=False,
        )  # fmt: skip


def test_a_bundle_airgap_tui_signs_verifies_with_plain_ssh_keygen(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    keys: dict[str, Path],
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    result = _export(cli_no_engine, native_upstream, dest, "--sign-key", str(keys["exporter"]))
    assert (dest / SIGNATURE_NAME).read_bytes().startswith(b"-----BEGIN SSH SIGNATURE-----")
    assert result["signed_by"].startswith("SHA256:")
    signers = allowed_signers(tmp_path, "exporter@connected", keys["exporter"])

    checked = _ssh_verify(dest, signers, "exporter@connected")
    assert checked.returncode == 0, checked.stderr
    assert b'Good "airgap-tui-bundle" signature for exporter@connected' in checked.stdout

    verified = cli_no_engine(
        "verify", str(dest), "--trust", str(signers), "--json", "--max-age", "0"
    )  # the harness images are years old: no age warnings in the way
    assert verified.code == 0, verified.err
    signer = verified.json["trust"]["signer"]
    assert signer["principal"] == "exporter@connected"
    assert signer["key_fingerprint"] == result["signed_by"]
    assert verified.json["warnings"] == []  # bundle.yaml.sig is the bundle's own file

    plain = cli_no_engine("export", *NAMES, "--source-prefix", native_upstream.prefix,
                          "--to", str(dest), "--part-size", "1MiB", "--no-tool")  # fmt: skip
    assert plain.code == 0, plain.err
    assert not (dest / SIGNATURE_NAME).exists()  # an old signature never outlives its bundle
    assert "--expect-fingerprint" in plain.out and "--sign-key" in plain.out


def test_a_bundle_signed_by_plain_ssh_keygen_is_trusted_by_airgap_tui(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    keys: dict[str, Path],
    registry_factory: MakeRegistry,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    _export(cli_no_engine, native_upstream, dest)
    subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-q", "-f", str(keys["exporter"]), "-n", NAMESPACE,
         str(dest / MANIFEST_NAME)],
        check=True,
    )  # fmt: skip
    signers = allowed_signers(tmp_path, "ops@example", keys["exporter"])
    handle = registry_factory("offline")

    run = cli_no_engine(
        "import", str(dest), "--registry", handle.host, "--trust", str(signers),
        "--receipt-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.json["trust"]["signer"]["principal"] == "ops@example"
    assert sorted(_catalog(handle)) == ["secrets", "semgrep"]
    receipt = json.loads(Path(run.json["receipt"]).read_text())
    assert receipt["trust"]["signer"]["principal"] == "ops@example"  # the audit record says who

    # The wizard's Verify screen checks the same signature through its services.
    fingerprint = run.json["fingerprint"]
    checked = Domain().check_signature(dest, fingerprint, signers)
    assert checked.signer is not None and checked.signer.principal == "ops@example"
    (tmp_path / "other").mkdir()
    stranger = allowed_signers(tmp_path / "other", "ops@example", keys["attacker"])
    with pytest.raises(BundleError):
        Domain().check_signature(dest, fingerprint, stranger)

    # Without --trust a signed bundle is never called unsigned: the key is named, unchecked.
    unasked = cli_no_engine(
        "import", str(dest), "--registry", handle.host, "--receipt-dir", str(tmp_path / "r2"),
    )  # fmt: skip
    assert unasked.code == 0, unasked.err
    assert "(not checked: give --trust)" in unasked.out and "unsigned" not in unasked.out
    (second,) = (tmp_path / "r2").glob("airgap-receipt-*.json")
    trust = json.loads(second.read_text())["trust"]
    assert trust["signer"] is None and trust["signature"]["key"].startswith("SHA256:")


def test_a_rewritten_and_resigned_stick_fails_both_checks_and_pushes_nothing(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    keys: dict[str, Path],
    registry_factory: MakeRegistry,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    exported = _export(cli_no_engine, native_upstream, dest, "--sign-key", str(keys["exporter"]))
    carried = format_fingerprint(exported["fingerprint"])  # the short form, read off a screen
    signers = allowed_signers(tmp_path, "exporter@connected", keys["exporter"])
    manifest = read_manifest(dest)
    layer = manifest.blob(manifest.images[0].blobs[-1])
    flip_byte_at(dest, manifest, layer.offset + layer.size // 2)
    resealed = reseal(dest, manifest, sign_key=keys["attacker"])
    assert resealed.fingerprint != exported["fingerprint"]
    assert cli_no_engine("verify", str(dest)).code == 0  # verify alone cannot tell
    handle = registry_factory("offline")
    attacker = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(keys["attacker"])],
        capture_output=True, text=True, check=True,
    ).stdout.split()[1]  # fmt: skip

    by_fingerprint = cli_no_engine(
        "import", str(dest), "--registry", handle.host, "--expect-fingerprint", carried,
        "--receipt-dir", str(tmp_path),
    )  # fmt: skip
    assert by_fingerprint.code == 1
    assert "is not the one you carried" in by_fingerprint.err
    assert carried.replace(" ", "") in by_fingerprint.err.replace(" ", "")

    by_signature = cli_no_engine(
        "import", str(dest), "--registry", handle.host, "--trust", str(signers),
        "--receipt-dir", str(tmp_path),
    )  # fmt: skip
    assert by_signature.code == 1
    assert attacker in by_signature.err and "does not list" in by_signature.err

    verified = cli_no_engine("verify", str(dest), "--expect-fingerprint", carried, "--json")
    assert verified.code == 1 and verified.json["trust"]["fingerprint_matches"] is False
    assert _catalog(handle) == []  # nothing pushed by either import
    assert not list(tmp_path.glob("airgap-receipt-*.json"))


def test_an_unsigned_bundle_under_trust_stops_and_a_short_fingerprint_is_accepted(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    keys: dict[str, Path],
    registry_factory: MakeRegistry,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    exported = _export(cli_no_engine, native_upstream, dest)
    signers = allowed_signers(tmp_path, "exporter@connected", keys["exporter"])
    handle = registry_factory("offline")

    unsigned = cli_no_engine(
        "import", str(dest), "--registry", handle.host, "--trust", str(signers),
        "--receipt-dir", str(tmp_path),
    )  # fmt: skip
    assert unsigned.code == 1 and "not signed" in unsigned.err
    assert _catalog(handle) == []

    short = format_fingerprint(exported["fingerprint"])
    ok = cli_no_engine("verify", str(dest), "--expect-fingerprint", short)
    assert ok.code == 0, ok.err
    assert "Fingerprint carried: MATCHES" in ok.out
    bad = cli_no_engine("verify", str(dest), "--expect-fingerprint", "12 34")
    assert bad.code == 2 and "hex digits" in bad.err
