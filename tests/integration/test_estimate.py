"""The estimate against a real registry: exact (the bytes the export writes), shared blobs
counted once, missing images and platforms named with what does exist, an unreachable
registry failing its images once, cancel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airgap_tui.catalog.load import load_catalog
from airgap_tui.errors import Cancelled
from airgap_tui.events import CancelToken, Progress
from airgap_tui.export.estimate import estimate
from airgap_tui.export.run import ExportRequest, export_bundle
from airgap_tui.models import ImageSpec
from airgap_tui.registry.client import RegistryClient
from tests.harness.native import NativeUpstream, distinct_blob_bytes
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun

MakeRegistry = Callable[..., RegistryHandle]


def factory(host: str) -> RegistryClient:
    return RegistryClient(host, backoff=0, credential_lookup=None, certs_dir=None)


def specs(upstream: NativeUpstream, *names: str) -> list[ImageSpec]:
    catalog = load_catalog()
    return [catalog.resolve(n, 18, upstream.prefix) for n in names]


def test_estimate_is_the_bundle_to_the_byte_and_counts_shared_blobs_once(
    native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    chosen = specs(
        native_upstream,
        "semgrep",
        "secrets:7",
        "gemnasium",
        "kics",
        f"{native_upstream.host}/security-products/container-scanning:8",
        f"{native_upstream.host}/aquasecurity/trivy-java-db:1",
    )
    result = estimate(chosen, client_factory=factory)
    assert result.ok and result.exact
    images = [
        native_upstream.image(n)
        for n in ("semgrep", "secrets", "gemnasium", "kics", "container-scanning")
    ] + [native_upstream.image("aquasecurity/trivy-java-db")]
    # download: the distinct configs and layers, each once
    assert result.download_bytes == distinct_blob_bytes(images, ["linux/amd64"])
    for got, image in zip(result.images, images, strict=True):
        own = image.blobs(["linux/amd64"])
        assert got.download_bytes == sum(b.size for b in own), got.spec.label
        assert got.kind == image.kind
    base = images[0].manifests[0].layers[0].digest
    semgrep = result.images[0]
    assert [layer.shared for layer in semgrep.layers if layer.digest == base] == [True]
    assert result.images[-1].kind == "artifact" and result.images[-1].platform is None
    # exact: the export writes exactly these bytes
    events: list[Progress] = []
    written = export_bundle(
        ExportRequest(specs=chosen, dest=tmp_path / "b", part_size=1 << 20),
        client_factory=factory,
        progress=events.append,
    )
    assert written.ok
    # download progress: per image (the first that uses a blob), ending at its total
    finals = {e.item: e for e in events if e.stage == "pull" and e.final}
    assert set(finals) == {i.spec.label for i in result.images}
    assert all(e.done == e.total for e in finals.values())
    assert sum(e.done for e in finals.values()) == written.downloaded_bytes
    on_disk = sum(p.stat().st_size for p in (tmp_path / "b").glob("images.tar.*"))
    assert result.bundle_bytes == written.bundle_bytes == on_disk


def test_missing_tag_image_and_platform_are_named_with_what_exists(
    native_upstream: NativeUpstream,
) -> None:
    chosen = specs(
        native_upstream,
        "semgrep:99",
        "kubesec",
        f"{native_upstream.host}/security-products/container-scanning:8",
        "secrets:7",
    )
    result = estimate(chosen, platforms=["linux/s390x"], client_factory=factory)
    missing_tag, missing_image, no_platform, plain = result.images
    assert missing_tag.available_tags == ["6"] and "no such tag" in (missing_tag.error or "")
    assert "does not exist" in (missing_image.error or "")
    assert "no linux/s390x image" in (no_platform.error or "")
    assert "linux/amd64, linux/arm64" in (no_platform.error or "")
    # a plain manifest has no platforms to choose from: carried, with a warning
    assert plain.ok and any("built for linux/amd64, not linux/s390x" in p for p in result.problems)
    assert not result.ok
    assert result.bundle_bytes > 0  # the images that do exist are still sized


def test_cancel_stops_the_estimate(native_upstream: NativeUpstream) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        estimate(specs(native_upstream, "semgrep"), cancel=token, client_factory=factory)

    token = CancelToken()

    def cancel_on_first(_event: Progress) -> None:
        token.cancel()

    with pytest.raises(Cancelled):
        estimate(
            specs(native_upstream, "semgrep", "secrets:7"),
            cancel=token,
            progress=cancel_on_first,
            client_factory=lambda host: RegistryClient(
                host, cancel=token, credential_lookup=None, certs_dir=None
            ),
        )


def test_an_unreachable_registry_fails_its_images_once(registry_factory: MakeRegistry) -> None:
    handle = registry_factory("gone")
    host = handle.host
    handle.stop()
    asked: list[str] = []

    class Counting(RegistryClient):
        def raw_manifest(self, repository: str, reference: str):  # type: ignore[no-untyped-def]
            asked.append(repository)
            return super().raw_manifest(repository, reference)

    catalog = load_catalog()
    chosen = [catalog.resolve(n, 18, f"{host}/sec") for n in ("semgrep", "secrets:7", "kics")]
    result = estimate(
        chosen,
        client_factory=lambda h: Counting(
            h, retries=1, backoff=0, credential_lookup=None, certs_dir=None
        ),
    )
    assert asked == ["sec/semgrep"]  # the others were not tried again
    errors = [i.error for i in result.images]
    assert errors == [errors[0]] * 3 and errors[0] is not None
    assert host in errors[0] and "refused" in errors[0]
    assert result.bundle_bytes == 0 and result.download_bytes == 0


def test_cli_estimate_json_and_text(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream
) -> None:
    run = cli_no_engine(
        "estimate", "semgrep", "secrets:7", "--source-prefix", native_upstream.prefix, "--json"
    )
    assert run.code == 0, run.err
    data = run.json
    assert set(data) == {
        "ok",
        "download_bytes",
        "bundle_bytes",
        "exact",
        "tool_bytes",
        "tool_exact",
        "tool_problem",
        "total_bytes",
        "left_out",
        "platforms",
        "images",
    }
    assert data["left_out"] == []
    assert data["platforms"] == ["linux/amd64"]
    first = data["images"][0]
    assert first["digest"] == native_upstream.image("semgrep").digest
    assert first["shared_layers"] == 1 and first["layers"] == 3 and first["kind"] == "image"
    assert first["media_bytes"] > first["download_bytes"]  # its manifest too
    text = cli_no_engine("estimate", "semgrep", "--source-prefix", native_upstream.prefix)
    assert text.code == 0 and "Bundle on the media:" in text.out and "exact" in text.out
    assert "Carried tool airgap-tui.pyz: about " in text.out and "estimated" in text.out
    assert "Total on the media: about " in text.out
    missing = cli_no_engine("estimate", "semgrep:99", "--source-prefix", native_upstream.prefix)
    assert missing.code == 1 and "tags that exist: 6" in missing.err
    # one of two missing: the totals are the other's, and say which one they leave out
    argv = ("estimate", "semgrep:99", "secrets:7", "--source-prefix", native_upstream.prefix)
    partial = cli_no_engine(*argv)
    assert partial.code == 1
    assert "These totals leave out 1 image that could not be sized: semgrep:99" in partial.out
    as_json = cli_no_engine(*argv, "--json").json
    secrets = cli_no_engine("estimate", *argv[2:], "--json").json  # secrets:7 alone
    assert as_json["left_out"] == ["semgrep:99"]
    assert as_json["bundle_bytes"] == secrets["bundle_bytes"] > 0
    assert as_json["download_bytes"] == secrets["download_bytes"]
