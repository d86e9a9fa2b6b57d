"""Image age from a real registry to the offline host: the estimate reads each image's build
time from its config (an index: its newest platform carried), bundle.yaml records it, verify
and import show the age on the day and warn past --max-age (a container-scanning image says its
vulnerability data is that old), the receipt and --json carry the dates, and a bundle written
before the field existed still verifies and imports ("unknown")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml

from airgap_tui.bundle.manifest import BundleManifest, write_manifest
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.catalog.age import age_days
from airgap_tui.catalog.load import load_catalog
from airgap_tui.export.estimate import estimate
from airgap_tui.models import ImageSpec
from airgap_tui.registry.client import RegistryClient
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.import_support import write_bundle

MakeRegistry = Callable[..., RegistryHandle]
AMD64, ARM64 = "2024-03-01T10:00:00Z", "2024-03-02T10:00:00Z"  # tests/harness/native.py


def factory(host: str) -> RegistryClient:
    return RegistryClient(host, backoff=0, credential_lookup=None, certs_dir=None)


def spec(upstream: NativeUpstream, name: str) -> ImageSpec:
    return load_catalog().resolve(f"{upstream.host}/{name}", 18, upstream.prefix)


def test_the_estimate_reads_the_build_time_an_index_is_its_newest_platform(
    native_upstream: NativeUpstream,
) -> None:
    chosen = [
        spec(native_upstream, "security-products/semgrep:6"),
        spec(native_upstream, "security-products/container-scanning:8"),
        spec(native_upstream, "aquasecurity/trivy-java-db:1"),
    ]
    one = estimate(chosen, client_factory=factory, tool=False)
    assert [i.built for i in one.images] == [AMD64, AMD64, None]  # an artifact has no date
    both = estimate(chosen[1:2], platforms=["linux/amd64", "linux/arm64"], client_factory=factory)
    assert both.images[0].built == ARM64
    assert both.resolved[0].to_bundle_image().built == ARM64


def test_the_date_travels_in_bundle_yaml_and_import_shows_the_age_on_the_day(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    cli_no_engine: Callable[..., CliRun],
    tmp_path: Path,
) -> None:
    names = ["security-products/semgrep", "security-products/container-scanning"]
    write_bundle(native_upstream, tmp_path / "b", names=names)
    raw = yaml.safe_load((tmp_path / "b" / "bundle.yaml").read_text())
    assert [i.get("built") for i in raw["images"]] == [AMD64, AMD64]

    verify = cli_no_engine("verify", str(tmp_path / "b"), "--json")
    assert verify.code == 0, verify.err
    today = age_days(AMD64, datetime.now(UTC))
    assert verify.json["images"] == [
        {"name": "semgrep", "tag": "6", "built": AMD64, "age_days": today},
        {"name": "container-scanning", "tag": "8", "built": AMD64, "age_days": today},
    ]
    scanning = [w for w in verify.json["warnings"] if "container-scanning:8" in w]
    assert scanning and "vulnerability data is" in scanning[0]
    assert not [w for w in verify.json["warnings"] if "semgrep:6" in w and "vulnerab" in w]

    text = cli_no_engine("verify", str(tmp_path / "b"), "--max-age", "0")
    assert text.code == 0 and "was built" not in text.err  # 0 turns the warning off
    assert f"built {AMD64[:10]} ({today} days old)" in text.out

    handle = registry_factory("offline")
    receipts = tmp_path / "receipts"
    pushed = cli_no_engine(
        "import", str(tmp_path / "b"), "--registry", f"{handle.host}/mirror",
        "--receipt-dir", str(receipts),
    )  # fmt: skip
    assert pushed.code == 0, pushed.err
    lines = pushed.out.splitlines()
    for name in ("semgrep:6", "container-scanning:8"):
        at = next(i for i, line in enumerate(lines) if f"/mirror/{name}" in line)
        assert lines[at].split()[0] == "ok" and lines[at].endswith("pushed digest kept ✓")
        assert lines[at + 1].strip() == f"built {AMD64[:10]} ({today} days old)"
    assert "its vulnerability data is" in pushed.err  # the warning, on stderr
    result = cli_no_engine(
        "import", str(tmp_path / "b"), "--registry", f"{handle.host}/mirror",
        "--receipt-dir", str(receipts), "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    rows = result.json["images"]
    assert [(r["built"], r["age_days"]) for r in rows] == [(AMD64, today)] * 2
    assert any("vulnerability data is" in w for w in result.json["warnings"])
    receipt = json.loads(Path(result.json["receipt"]).read_text())
    assert [(r["built"], r["age_days"]) for r in receipt["images"]] == [(AMD64, today)] * 2


def test_a_bundle_from_before_the_field_verifies_and_imports_with_unknown_age(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    cli_no_engine: Callable[..., CliRun],
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "old"
    manifest = write_bundle(native_upstream, bundle, names=["security-products/semgrep"])
    old = BundleManifest(
        created=manifest.created,
        tool_version=manifest.tool_version,
        source_prefix=manifest.source_prefix,
        gitlab_major=manifest.gitlab_major,
        platforms=manifest.platforms,
        images=[
            type(i)(**{**i.__dict__, "built": None}) for i in manifest.images
        ],  # as written before the field: no `built` key, and its own fingerprint
        blobs=manifest.blobs,
        parts=manifest.parts,
        tool=manifest.tool,
    )
    write_manifest(bundle, old)
    assert "built" not in (bundle / "bundle.yaml").read_text()
    assert read_manifest(bundle).images[0].built is None

    verify = cli_no_engine("verify", str(bundle))
    assert verify.code == 0, verify.err
    assert "built: unknown" in verify.out
    handle = registry_factory("offline")
    result = cli_no_engine(
        "import", str(bundle), "--registry", f"{handle.host}/mirror",
        "--receipt-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert [(r["built"], r["age_days"]) for r in result.json["images"]] == [(None, None)]
