"""The estimate against a real registry: exact layer sizes from gzip trailers, shared layers
counted once, missing images reported with the tags that exist — and, on both real engines,
the predicted bundle bytes against the bytes `docker save` actually streams."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import zlib
from collections.abc import Callable
from typing import Any

import docker
import pytest
import requests

from airgap_tui.archive_size import format_for_api_version
from airgap_tui.errors import Cancelled
from airgap_tui.estimate import default_save_name, estimate
from airgap_tui.events import CancelToken, Progress
from airgap_tui.models import ImageSpec
from airgap_tui.reference import parse_reference
from airgap_tui.registry import RegistryClient
from tests.harness.engine import EngineHandle
from tests.harness.images import SeededUpstream
from tests.harness.registry import RegistryHandle

MakeRegistry = Callable[..., RegistryHandle]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def layer_tar(name: str, size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = 0
        tf.addfile(info, io.BytesIO((name.encode() * (size // len(name) + 1))[:size]))
    return buf.getvalue()


def gzip_fast(raw: bytes) -> bytes:
    """The same content compressed differently (another blob, the same diff ID)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    return compressor.compress(raw) + compressor.flush()


class Upstream:
    """Pushes images over the Registry API; remembers what it pushed for the assertions."""

    def __init__(self, handle: RegistryHandle) -> None:
        self.handle = handle
        self.session = requests.Session()
        self.session.trust_env = False

    def blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        resp = self.session.post(f"{self.handle.url}/v2/{repo}/blobs/uploads/")
        resp.raise_for_status()
        resp = self.session.put(
            resp.headers["Location"], params={"digest": digest}, data=data,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        resp.raise_for_status()
        return digest

    def manifest(self, repo: str, ref: str, body: dict[str, Any], media_type: str) -> str:
        data = json.dumps(body).encode()
        url = f"{self.handle.url}/v2/{repo}/manifests/{ref}"
        self.session.put(url, data=data, headers={"Content-Type": media_type}).raise_for_status()
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def image(
        self, repo: str, tag: str, layers: list[tuple[bytes, bytes]], *, arch: str = "amd64"
    ) -> tuple[str, dict[str, Any], bytes]:
        """layers: (uncompressed tar, its compressed blob). Returns (digest, manifest, config)."""
        diff_ids = ["sha256:" + hashlib.sha256(raw).hexdigest() for raw, _ in layers]
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "created": "2024-05-01T10:00:00Z",
                "config": {"Env": ["PATH=/bin"], "Cmd": ["/analyzer", "run"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }
        ).encode()
        body = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": self.blob(repo, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": self.blob(repo, gz),
                    "size": len(gz),
                }
                for _raw, gz in layers
            ],
        }
        return self.manifest(repo, tag, body, DOCKER_MANIFEST), body, config


def spec(host: str, path: str, tag: str) -> ImageSpec:
    return ImageSpec(
        name=path.rsplit("/", 1)[-1], tag=tag, source=parse_reference(f"{host}/{path}:{tag}")
    )


def factory(host: str) -> RegistryClient:
    return RegistryClient(host, backoff=0, credential_lookup=None, certs_dir=None)


@pytest.fixture
def upstream(registry_factory: MakeRegistry) -> Upstream:
    return Upstream(registry_factory("estimate-upstream"))


def test_sizes_sharing_and_missing_images(upstream: Upstream) -> None:
    host = upstream.handle.host
    base = layer_tar("base-os", 2_000_000)
    runtime = layer_tar("runtime", 500_000)
    semgrep_bin = layer_tar("semgrep", 300_001)
    secrets_bin = layer_tar("gitleaks", 123_457)
    base_gz, runtime_gz = gzip.compress(base, mtime=0), gzip.compress(runtime, mtime=0)
    semgrep_gz, secrets_gz = (
        gzip.compress(semgrep_bin, mtime=0),
        gzip.compress(secrets_bin, mtime=0),
    )
    runtime_fast = gzip_fast(runtime)  # same diff ID as runtime_gz, different blob
    assert runtime_fast != runtime_gz

    semgrep_digest, semgrep_m, semgrep_cfg = upstream.image(
        "sec/semgrep", "6", [(base, base_gz), (runtime, runtime_gz), (semgrep_bin, semgrep_gz)]
    )
    _, secrets_m, secrets_cfg = upstream.image(
        "sec/secrets", "7", [(base, base_gz), (runtime, runtime_fast), (secrets_bin, secrets_gz)]
    )
    for tag in ("5", "6"):
        upstream.image("sec/gemnasium", tag, [(base, base_gz)])

    # A multi-platform image: the arm64 entry must not be counted.
    amd_digest, amd_m, amd_cfg = upstream.image("sec/kics", "amd", [(base, base_gz)])
    arm_digest, arm_m, _ = upstream.image(
        "sec/kics", "arm", [(layer_tar("arm", 900_000), gzip.compress(layer_tar("arm", 900_000)))],
        arch="arm64",
    )  # fmt: skip
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": arm_digest, "size": len(json.dumps(arm_m)),
             "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": DOCKER_MANIFEST, "digest": amd_digest, "size": len(json.dumps(amd_m)),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    }  # fmt: skip
    index_digest = upstream.manifest("sec/kics", "5", index, OCI_INDEX)

    specs = [
        spec(host, "sec/semgrep", "6"),
        spec(host, "sec/gemnasium", "7"),  # missing tag: 5 and 6 exist
        spec(host, "sec/secrets", "7"),
        spec(host, "sec/nothing", "1"),  # missing repository
        spec(host, "sec/kics", "5"),
    ]
    events: list[Progress] = []
    threads: set[int] = set()

    def progress(event: Progress) -> None:
        events.append(event)
        threads.add(threading.get_ident())

    result = estimate(specs, progress=progress, client_factory=factory, workers=4)
    semgrep, gemnasium, secrets, nothing, kics = result.images

    # Every layer's uncompressed size is exact, from four bytes of the blob.
    assert [layer.uncompressed for layer in semgrep.layers] == [
        len(base),
        len(runtime),
        len(semgrep_bin),
    ]
    assert [layer.compressed for layer in semgrep.layers] == [
        len(base_gz),
        len(runtime_gz),
        len(semgrep_gz),
    ]
    assert [layer.uncompressed for layer in secrets.layers] == [
        len(base),
        len(runtime),
        len(secrets_bin),
    ]
    assert all(layer.exact for image in (semgrep, secrets, kics) for layer in image.layers)
    # Shared = another selected image has the same diff ID (even as a different blob).
    assert [layer.shared for layer in semgrep.layers] == [True, True, False]
    assert [layer.shared for layer in secrets.layers] == [True, True, False]
    assert [layer.shared for layer in kics.layers] == [True]

    assert semgrep.manifest_digest == semgrep_digest and semgrep.index_digest is None
    assert (kics.manifest_digest, kics.index_digest) == (amd_digest, index_digest)
    assert kics.platform == "linux/amd64"
    assert kics.download_bytes == len(base_gz) + len(amd_cfg)
    assert semgrep.download_bytes == len(base_gz) + len(runtime_gz) + len(semgrep_gz) + len(
        semgrep_cfg
    )
    assert semgrep.unpacked_bytes == len(base) + len(runtime) + len(semgrep_bin)

    # Totals: each distinct blob once (runtime twice: two different blobs), configs included.
    assert result.download_bytes == (
        len(base_gz) + len(runtime_gz) + len(runtime_fast) + len(semgrep_gz) + len(secrets_gz)
        + len(semgrep_cfg) + len(secrets_cfg) + len(amd_cfg)
    )  # fmt: skip
    unique_unpacked = len(base) + len(runtime) + len(semgrep_bin) + len(secrets_bin)
    assert unique_unpacked < result.bundle_bytes < unique_unpacked + 64 * 1024

    # The missing ones are named, with what exists, and did not stop the others.
    assert gemnasium.error is not None and f"{host}/sec/gemnasium:7" in gemnasium.error
    assert sorted(gemnasium.available_tags) == ["5", "6"]
    assert nothing.error is not None and "repository does not exist" in nothing.error
    assert nothing.available_tags == []
    assert not result.ok
    assert result.problems == [gemnasium.error, nothing.error]
    assert semgrep_m["layers"][0]["digest"] == secrets_m["layers"][0]["digest"]

    # Progress: stage "estimate", from the calling thread only, one final event per image.
    assert threads == {threading.get_ident()}
    assert {e.stage for e in events} == {"estimate"}
    finals = {e.item: e.ok for e in events if e.final}
    assert finals == {"semgrep:6": True, "gemnasium:7": False, "secrets:7": True,
                      "nothing:1": False, "kics:5": True}  # fmt: skip
    as_json = result.to_dict()
    assert as_json["download_bytes"] == result.download_bytes
    assert as_json["images"][1]["available_tags"] == gemnasium.available_tags


def test_cancel_stops_the_estimate(upstream: Upstream) -> None:
    raw = layer_tar("x", 1000)
    upstream.image("sec/a", "1", [(raw, gzip.compress(raw))])
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        estimate([spec(upstream.handle.host, "sec/a", "1")], cancel=token, client_factory=factory)

    token = CancelToken()

    def cancel_on_first(_event: Progress) -> None:
        token.cancel()

    with pytest.raises(Cancelled):
        estimate(
            [spec(upstream.handle.host, "sec/a", "1")] * 2,
            cancel=token,
            progress=cancel_on_first,
            client_factory=lambda host: RegistryClient(
                host, cancel=token, credential_lookup=None, certs_dir=None
            ),
        )


def test_an_unreachable_registry_fails_its_images_once(upstream: Upstream) -> None:
    host = upstream.handle.host
    upstream.handle.stop()
    asked: list[str] = []

    class Counting(RegistryClient):
        def manifest(self, repository: str, reference: str, platform: str = "linux/amd64") -> Any:
            asked.append(repository)
            return super().manifest(repository, reference, platform)

    result = estimate(
        [spec(host, "sec/a", "1"), spec(host, "sec/b", "2")],
        client_factory=lambda h: Counting(
            h, retries=1, backoff=0, credential_lookup=None, certs_dir=None
        ),
    )
    assert asked == ["sec/a"]  # the second image was not tried again
    assert [i.error for i in result.images] == [result.images[0].error] * 2
    assert result.images[0].error is not None
    assert host in result.images[0].error and "refused" in result.images[0].error
    assert result.bundle_bytes == 0 and result.download_bytes == 0


# ----------------------------------------------------------------------------------------------
# The promise: predicted bundle bytes == bytes the engine's export writes


def _saved_bytes(client: docker.DockerClient, names: list[str]) -> int:
    resp = client.api._get(client.api._url("/images/get"), params={"names": names}, stream=True)
    client.api._raise_for_status(resp)
    total = 0
    for chunk in resp.iter_content(1024 * 1024):
        total += len(chunk)
    return total


def test_bundle_bytes_equal_the_engine_export(
    engine: EngineHandle, seeded_upstream: SeededUpstream
) -> None:
    host, path = seeded_upstream.prefix.split("/", 1)
    specs = [spec(host, f"{path}/{img.name}", img.tag) for img in seeded_upstream.images]
    fmt = format_for_api_version(engine.api_version)
    assert fmt == ("docker-archive" if engine.kind == "bookworm" else "oci")
    result = estimate(specs, archive_format=fmt, client_factory=factory)
    assert result.ok and result.exact, result.problems
    assert [i.manifest_digest for i in result.images] == [i.digest for i in seeded_upstream.images]

    client = engine.client()
    pulled: list[str] = []
    try:
        for s in specs:
            image = client.images.pull(f"{s.source.registry}/{s.source.repository}", tag=s.tag)
            pulled.append(image.id)
        for s, info in zip(specs, result.images, strict=True):
            assert client.images.get(default_save_name(s)).id == info.config_digest
        written = _saved_bytes(client, [default_save_name(s) for s in specs])
    finally:
        for image_id in pulled:
            client.images.remove(image_id, force=True)
        client.close()
    assert result.bundle_bytes == written
