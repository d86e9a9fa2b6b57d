"""bundle.yaml.sig (SSHSIG via ssh-keygen) and the fingerprint carried apart: parsing, checking,
and what a host without ssh-keygen is told."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airgap_tui.bundle import signature
from airgap_tui.bundle.signature import (
    HAND_CHECK,
    NAMESPACE,
    SIGNATURE_NAME,
    hand_check,
    sign_bytes,
    signature_info,
    verify_signature,
)
from airgap_tui.bundle.trust import (
    Trust,
    check_trust,
    fingerprint_matches,
    parse_expected_fingerprint,
)
from airgap_tui.errors import BundleError, UsageError
from tests.integration.trust_support import allowed_signers, make_key

DATA = b"format_version: 2\nfingerprint: abc\n"
FULL = "d3795645e8e0573961ecb1a0" + "0" * 40


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_key(tmp_path_factory.mktemp("key"), "exporter")


def _key_fingerprint(key: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(key)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()[1]


def test_the_signature_names_its_key_without_ssh_keygen(key: Path) -> None:
    info = signature_info(sign_bytes(DATA, key))
    assert info.namespace == NAMESPACE and info.key_type == "ssh-ed25519"
    assert info.key_fingerprint == _key_fingerprint(key)  # as ssh-keygen -l prints it


@pytest.mark.parametrize(
    "raw", [b"", b"hello", b"-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----\n"]
)
def test_a_damaged_signature_is_named(raw: bytes) -> None:
    with pytest.raises(BundleError, match="not an OpenSSH signature"):
        signature_info(raw)


def test_a_good_signature_names_its_principal_and_a_changed_byte_fails(
    key: Path, tmp_path: Path
) -> None:
    signers = allowed_signers(tmp_path, "ops@example", key)
    sig = sign_bytes(DATA, key)
    signer = verify_signature(DATA, sig, signers)
    assert signer.principal == "ops@example" and signer.key_fingerprint == _key_fingerprint(key)
    with pytest.raises(BundleError, match="changed after signing"):
        verify_signature(DATA + b"#", sig, signers)
    with pytest.raises(BundleError, match="not signed"):
        verify_signature(DATA, None, signers)


def test_a_key_the_allowed_signers_do_not_list_is_named(key: Path, tmp_path: Path) -> None:
    other = make_key(tmp_path, "other")
    signers = allowed_signers(tmp_path, "ops@example", key)
    with pytest.raises(BundleError) as err:
        verify_signature(DATA, sign_bytes(DATA, other), signers)
    assert _key_fingerprint(other) in str(err.value) and "does not list" in str(err.value)


def test_without_ssh_keygen_the_signer_and_the_hand_check_are_given(
    key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sig = sign_bytes(DATA, key)
    signers = allowed_signers(tmp_path, "ops@example", key)
    monkeypatch.setattr(signature, "ssh_keygen", lambda: None)
    with pytest.raises(UsageError) as err:
        verify_signature(DATA, sig, signers)
    text = str(err.value)
    assert _key_fingerprint(key) in text and "no ssh-keygen" in text and HAND_CHECK in text
    assert _key_fingerprint(key) in hand_check(sig) and HAND_CHECK in hand_check(sig)
    with pytest.raises(UsageError, match="openssh-client"):
        sign_bytes(DATA, key)


@pytest.mark.parametrize(
    "typed",
    [
        FULL,
        "sha256:" + FULL.upper(),
        "d379 5645 e8e0 5739 61ec b1a0",
        "d379-5645-e8e0-5739-61ec-b1a0",
    ],
)
def test_the_fingerprint_carried_may_be_full_or_the_short_groups(typed: str) -> None:
    assert fingerprint_matches(parse_expected_fingerprint(typed), FULL)


@pytest.mark.parametrize("typed", ["", "d379 5645", "xyz" * 10, "0" * 65])
def test_a_fingerprint_that_is_not_one_is_a_usage_error(typed: str) -> None:
    with pytest.raises(UsageError):
        parse_expected_fingerprint(typed)


def test_check_trust_stops_on_a_fingerprint_that_is_not_the_one_carried(tmp_path: Path) -> None:
    carried = parse_expected_fingerprint("d379 5645 e8e0 5739 61ec b1a0")
    other = "e" * 64
    with pytest.raises(BundleError, match="not the one you carried"):
        check_trust(tmp_path, other, DATA, Trust(expect_fingerprint=carried))
    report = check_trust(tmp_path, FULL, DATA, Trust(expect_fingerprint=carried))
    assert report.fingerprint_matches is True and report.signature is None


def test_check_trust_reports_an_unchecked_signature(key: Path, tmp_path: Path) -> None:
    (tmp_path / SIGNATURE_NAME).write_bytes(sign_bytes(DATA, key))
    report = check_trust(tmp_path, FULL, DATA, Trust())
    assert report.signer is None and report.signature is not None
    assert "not checked" in report.signed_by()
