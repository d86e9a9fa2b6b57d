"""A stick rewritten between the buildings (issue 20): a layer with one byte flipped and
bundle.yaml re-sealed passes verify, yet the import never asks the registry to commit it.

The registry sits behind a relay that hashes what the client sends for every upload session
(tests/harness/relay.py), so the test sees what a registry that does not check digests would
have stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import requests

from airgap_tui.importer.engine import Engine
from airgap_tui.importer.run import ImportRequest, import_bundle
from tests.harness.engine import EngineHandle
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.harness.relay import RegistryRelay
from tests.integration.faults_support import engine_images
from tests.integration.import_support import served_digest, write_bundle
from tests.integration.trust_support import flip_byte_at, reseal

MakeRegistry = Callable[..., RegistryHandle]


def test_a_resealed_tampered_layer_is_never_committed_and_the_rest_is_pushed(
    native_upstream: NativeUpstream, registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory("offline")
    out = tmp_path / "bundle"
    manifest = write_bundle(native_upstream, out, names=["semgrep", "secrets"])
    semgrep, secrets = manifest.images
    only_secrets = [d for d in secrets.blobs if d not in semgrep.blobs]
    layer = manifest.blob(only_secrets[-1])
    part = flip_byte_at(out, manifest, layer.offset + layer.size // 2)
    manifest = reseal(out, manifest)

    with RegistryRelay(handle.url) as relay:
        result = import_bundle(
            ImportRequest(bundle_dir=out, registry=relay.host, receipt_dir=tmp_path, push_backoff=0)
        )
        commits = list(relay.commits)
        cancelled = list(relay.cancelled)

    assert result.verified  # the re-sealed bundle passes verify: only the digests catch it
    ok, broken = result.images
    assert ok.ok and ok.pushed_digest == semgrep.digest
    assert served_digest(handle.url, semgrep.name, semgrep.tag, semgrep.media_type) == (
        semgrep.digest
    )
    assert not broken.ok
    assert layer.digest in broken.error and "secrets" in broken.error and part in broken.error
    assert "cancelled" in broken.error
    assert commits and all(c.honest for c in commits), commits
    assert not [c for c in commits if c.claimed == layer.digest]
    assert cancelled  # the tampered upload was DELETEd, not left open


def test_the_docker_route_never_loads_a_resealed_tampered_layer(
    clean_engine: EngineHandle,
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
) -> None:
    handle = registry_factory("offline")
    out = tmp_path / "bundle"
    manifest = write_bundle(native_upstream, out, names=["semgrep"])
    [image] = manifest.images
    layer = manifest.blob(image.blobs[-1])
    part = flip_byte_at(out, manifest, layer.offset + layer.size // 2)
    reseal(out, manifest)
    before = engine_images(clean_engine)

    engine = Engine.connect(clean_engine.docker_host)
    try:
        result = import_bundle(
            ImportRequest(
                bundle_dir=out,
                registry=handle.host,
                receipt_dir=tmp_path,
                via_docker=True,
                push_backoff=0,
            ),
            engine,
        )
    finally:
        engine.close()

    assert result.verified and not result.ok
    [failed] = result.images
    assert layer.digest in failed.error and part in failed.error
    assert "nothing was loaded" in failed.error
    assert engine_images(clean_engine) == before  # the engine registered nothing
    assert requests.get(f"{handle.url}/v2/_catalog", timeout=30).json()["repositories"] == []
