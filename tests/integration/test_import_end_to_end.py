"""The real export, then the real import straight to an offline registry, both without an
engine: every pushed digest equals the upstream one (manifests asked with their own media type),
the index with two platforms and the artifact included; a second import uploads nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from airgap_tui.bundle.schema import read_manifest
from tests.harness.native import OCI_INDEX, NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.import_support import served_digest, upload_count

MakeRegistry = Callable[..., RegistryHandle]


def _export(cli: Callable[..., CliRun], upstream: NativeUpstream, dest: Path, *extra: str) -> None:
    run = cli(
        "export",
        "semgrep",
        "secrets:7",
        "gemnasium",
        "kics",
        f"{upstream.host}/security-products/container-scanning:8",
        f"{upstream.host}/aquasecurity/trivy-java-db:1",
        "--source-prefix",
        upstream.prefix,
        "--to",
        str(dest),
        "--part-size",
        "1MiB",
        *extra,
        "--json",
    )
    assert run.code == 0, run.err


def _import(cli: Callable[..., CliRun], bundle: Path, target: str, receipts: Path) -> CliRun:
    return cli(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json"
    )


def test_export_then_import_keeps_every_upstream_digest(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "stick" / "bundle"
    _export(cli_no_engine, native_upstream, bundle)
    manifest = read_manifest(bundle)
    handle = registry_factory("offline")
    target = f"{handle.host}/analyzers"

    run = _import(cli_no_engine, bundle, target, tmp_path / "receipts")

    assert run.code == 0, run.err
    rows = {(row["name"], row["tag"]): row for row in run.json["images"]}
    assert len(rows) == 6 and run.json["route"] == "registry"
    for img in manifest.images:
        upstream = native_upstream.image(img.source_ref.split("/", 1)[1].rsplit(":", 1)[0])
        expected = (
            upstream.manifest_for("linux/amd64").digest
            if upstream.index is not None
            else upstream.digest
        )
        row = rows[(img.name, img.tag)]
        assert row["source_digest"] == row["pushed_digest"] == img.digest == expected
        assert row["digest_kept"] is True and row["status"] == "pushed"
        served = served_digest(handle.url, f"analyzers/{img.name}", img.tag, img.media_type)
        assert served == expected, img.name
    assert {row["kind"] for row in rows.values()} == {"image", "artifact"}
    distinct = {d for img in manifest.images for d in img.blobs}
    uploads = upload_count(handle.log_path)
    assert uploads == len(distinct)  # the shared base layer went once, then by mount

    again = _import(cli_no_engine, bundle, target, tmp_path / "receipts")
    assert again.code == 0, again.err
    assert {row["status"] for row in again.json["images"]} == {"already present"}
    assert upload_count(handle.log_path) == uploads


def test_an_index_with_two_platforms_arrives_with_its_upstream_digest(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "bundle"
    _export(
        cli_no_engine, native_upstream, bundle, "--platform", "linux/amd64", "--platform",
        "linux/arm64",
    )  # fmt: skip
    handle = registry_factory("offline")

    run = _import(cli_no_engine, bundle, handle.host, tmp_path / "receipts")

    assert run.code == 0, run.err
    upstream = native_upstream.image("container-scanning")
    assert served_digest(handle.url, "container-scanning", "8", OCI_INDEX) == upstream.digest
    for child in upstream.manifests:
        served = served_digest(handle.url, "container-scanning", child.digest, child.media_type)
        assert served == child.digest
