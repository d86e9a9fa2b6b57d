"""The wizard verifies, then imports: the import must not read every byte twice, yet the
receipt must say the check passed — and a bundle changed in between is checked again."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from airgap_tui.bundle.schema import read_manifest
from airgap_tui.events import STAGE_VERIFY, Progress
from airgap_tui.importer.run import ImportRequest, ImportResult, import_bundle
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.import_support import write_bundle


@pytest.fixture
def bundle(native_upstream: NativeUpstream, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    write_bundle(native_upstream, out, names=["semgrep", "secrets"])
    return out


def _import(
    bundle_dir: Path, registry: str, fp: str, receipts: Path
) -> tuple[ImportResult, list[Progress]]:
    events: list[Progress] = []
    result = import_bundle(
        ImportRequest(
            bundle_dir=bundle_dir,
            registry=registry,
            verify=False,
            verified_fingerprint=fp,
            receipt_dir=receipts,
        ),
        progress=events.append,
    )
    return result, events


def test_a_fresh_verification_is_not_repeated_and_is_recorded(
    offline_registry: RegistryHandle, bundle: Path, tmp_path: Path
) -> None:
    fingerprint = read_manifest(bundle).fingerprint
    target = f"{offline_registry.host}/verified-{uuid.uuid4().hex[:8]}"
    result, events = _import(bundle, target, fingerprint, tmp_path)
    assert result.ok and result.verified
    assert not [e for e in events if e.stage == STAGE_VERIFY]
    assert result.receipt_path is not None
    receipt = json.loads(result.receipt_path.read_text())
    assert receipt["verification"]["result"].startswith("passed")


def test_a_stale_verification_runs_the_full_check_again(
    offline_registry: RegistryHandle, bundle: Path, tmp_path: Path
) -> None:
    victim = bundle / read_manifest(bundle).parts[-1].file
    data = bytearray(victim.read_bytes())
    data[10] ^= 0xFF
    victim.write_bytes(bytes(data))
    target = f"{offline_registry.host}/stale-{uuid.uuid4().hex[:8]}"
    result, events = _import(bundle, target, "0" * 64, tmp_path)
    assert not result.ok and not result.verified
    assert [e for e in events if e.stage == STAGE_VERIFY]
    assert any(victim.name in p for p in result.problems)
    assert all(i.status == "failed" for i in result.images)
