"""`import --via-docker` on both real engines: the parts stream into `docker load`, each image
is tagged and pushed by the engine, the artifact is skipped with a note, a re-run finds every
image in the registry; the CLI prints the same result in --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from airgap_tui.bundle.manifest import KIND_ARTIFACT
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.errors import EngineError
from airgap_tui.importer.engine import Engine
from airgap_tui.importer.run import ImportRequest, import_bundle
from airgap_tui.registry.client import RegistryClient
from tests.harness.engine import EngineHandle
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.faults_support import engine_images
from tests.integration.import_support import write_bundle

MakeRegistry = Callable[..., RegistryHandle]
# gzip, uncompressed and (index) layers, Docker and OCI manifests, and the artifact.
NAMES = ["semgrep", "gemnasium", "container-scanning", "aquasecurity/trivy-java-db"]


@pytest.fixture(scope="module")
def bundle(native_upstream: NativeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("via-docker-bundle")
    write_bundle(native_upstream, out, names=NAMES)
    return out


def test_load_tag_push_on_the_engine(
    clean_engine: EngineHandle,
    bundle: Path,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    native_upstream: NativeUpstream,
) -> None:
    handle = registry_factory("offline")
    target = f"{handle.host}/engine"
    request = ImportRequest(
        bundle_dir=bundle, registry=target, receipt_dir=tmp_path, via_docker=True, push_backoff=0
    )
    engine = Engine.connect(clean_engine.docker_host)
    try:
        result = import_bundle(request, engine)
        images = {i.name: i for i in result.images}
        for name in NAMES[:3]:
            assert engine.inspect(f"{target}/{name}:{images[name].tag}") is not None
    finally:
        engine.close()

    assert result.ok, [(i.target, i.error) for i in result.images]
    assert result.route == "docker"
    artifact = images["aquasecurity/trivy-java-db"]
    assert artifact.kind == KIND_ARTIFACT and artifact.status == "skipped" and not artifact.ok
    assert "cannot be loaded into Docker" in artifact.note and artifact.blobs == []
    client = RegistryClient(handle.host, credential_lookup=None, certs_dir=None)
    for name in NAMES[:3]:
        res = images[name]
        assert res.status == "pushed", res.error
        stored = client.manifest(f"engine/{name}", res.tag)
        assert res.pushed_digest == stored.digest
        assert res.digest_kept == (stored.digest == res.source_digest)
        assert {b["digest"] for b in res.blobs} == {
            stored.config_digest,
            *(layer.digest for layer in stored.layers),
        }
        upstream = native_upstream.image(name)
        platform = upstream.manifests[0]
        assert stored.config_digest == platform.config.digest  # the same image, re-pushed
    receipt = json.loads(result.receipt_path.read_text())  # type: ignore[union-attr]
    assert receipt["route"] == "docker" and receipt["engine"] == clean_engine.docker_host
    assert receipt["ok"] is True

    again = import_bundle(request, Engine.connect(clean_engine.docker_host))
    assert again.ok
    assert [i.status for i in again.images] == ["already present"] * 3 + ["skipped"]


def test_cli_import_via_docker_json(
    clean_engine: EngineHandle,
    bundle: Path,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli: Callable[..., CliRun],
) -> None:
    handle = registry_factory("offline")
    run = cli(
        "import",
        str(bundle),
        "--registry",
        handle.host,
        "--via-docker",
        "--receipt-dir",
        str(tmp_path),
        "--json",
    )
    assert run.code == 0, run.err
    out = run.json
    assert out["ok"] is True and out["route"] == "docker" and out["verified"] is True
    rows = {row["name"]: row for row in out["images"]}
    assert rows["aquasecurity/trivy-java-db"]["status"] == "skipped"
    for name in NAMES[:3]:
        row = rows[name]
        assert row["ok"] and row["status"] == "pushed"
        assert set(row) >= {"source_digest", "pushed_digest", "digest_kept", "blobs", "target"}


def test_an_engine_that_cannot_read_zstd_layers_is_named_before_anything_is_loaded(
    clean_engine: EngineHandle,
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
) -> None:
    """kics carries a zstd layer: Engine 20.10 (bookworm) refuses it with a clear sentence and
    loads nothing; Engine 26.1 (trixie) loads and pushes it."""
    out = tmp_path / "bundle"
    write_bundle(native_upstream, out, names=["kics", "semgrep"])
    assert any("zstd" in b.media_type for b in read_manifest(out).blobs), (
        "the harness has no zstd layer (install zstd)"
    )
    handle = registry_factory("offline")
    request = ImportRequest(
        bundle_dir=out, registry=handle.host, receipt_dir=tmp_path, via_docker=True
    )
    engine = Engine.connect(clean_engine.docker_host)
    try:
        if clean_engine.kind == "bookworm":
            with pytest.raises(EngineError) as refused:
                import_bundle(request, engine)
            sentence = refused.value.sentence()
            assert "cannot load zstd-compressed layers, which kics:6 use" in sentence
            assert "Import without --via-docker" in sentence
            assert engine_images(clean_engine) == []
        else:
            result = import_bundle(request, engine)
            assert result.ok and [i.status for i in result.images] == ["pushed"] * 2
    finally:
        engine.close()
