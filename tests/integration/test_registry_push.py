"""The registry client's push block against a real Docker Distribution registry: HEAD, cross-
repository mount, streamed monolithic upload, manifests PUT with their original bytes, htpasswd
auth, and a registry that goes away mid-push and comes back (bounded retries)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airgap_tui.errors import AuthError, RegistryError
from airgap_tui.models import Credentials
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.diagnose import RegistryUnreachable
from airgap_tui.registry.oci import MEDIA_OCI_MANIFEST
from airgap_tui.registry.upload import BLOB_MOUNTED, BLOB_PRESENT, BLOB_UPLOADED, BlobMismatch
from tests.harness.registry import RegistryHandle, token_auth
from tests.integration.test_registry import TokenService, serve

MakeRegistry = Callable[..., RegistryHandle]
SECRET = "Push-secret-pa55word"


def _client(host: str, **kwargs: Any) -> RegistryClient:
    """A client that never consults the developer's config or /etc/docker and never waits."""
    kwargs.setdefault("backoff", 0)
    kwargs.setdefault("credential_lookup", None)
    kwargs.setdefault("certs_dir", None)
    return RegistryClient(host, **kwargs)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _chunks(data: bytes, size: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    """A body factory that streams `data` in pieces and counts how often it was opened."""

    def open_body() -> Iterator[bytes]:
        opened.append(1)
        for start in range(0, len(data), size):
            yield data[start : start + size]

    opened: list[int] = []
    open_body.opened = opened  # type: ignore[attr-defined]
    return open_body


def _layer(seed: str, size: int = 300_000) -> bytes:
    """Python's gzip, not an engine's: the bytes a build tool would have pushed (about 2:1)."""
    noise = random.Random(seed).randbytes(size // 2)
    return gzip.compress(noise + bytes(size - len(noise)), mtime=0)


def _get_blob(handle: RegistryHandle, repo: str, digest: str) -> bytes:
    resp = requests.get(f"{handle.url}/v2/{repo}/blobs/{digest}", timeout=30)
    resp.raise_for_status()
    return resp.content


def _uploads_in_log(handle: RegistryHandle) -> int:
    """Completed blob uploads the registry logged (a mount logs none)."""
    return sum(
        1
        for line in handle.log_path.read_text(errors="replace").splitlines()
        if '"PUT /v2/' in line and "/blobs/uploads/" in line and '" 201 ' in line
    )


def test_streamed_upload_then_head_skips(registry_factory: MakeRegistry) -> None:
    handle = registry_factory("plain")
    client = _client(handle.host)
    blob = _layer("alpha", 1_000_000)
    digest = _digest(blob)
    body = _chunks(blob)

    assert not client.blob_exists("team/app", digest)
    assert client.push_blob("team/app", digest, len(blob), body) == BLOB_UPLOADED
    assert client.blob_exists("team/app", digest)
    assert _get_blob(handle, "team/app", digest) == blob
    assert client.push_blob("team/app", digest, len(blob), body) == BLOB_PRESENT
    assert len(body.opened) == 1  # type: ignore[attr-defined]  # the second push read nothing


def test_mount_from_another_repository_and_fallback_upload(registry_factory: MakeRegistry) -> None:
    handle = registry_factory("plain")
    client = _client(handle.host)
    blob = _layer("shared-base")
    digest = _digest(blob)
    client.push_blob("sec/one", digest, len(blob), _chunks(blob))
    uploads = _uploads_in_log(handle)

    body = _chunks(blob)
    assert client.push_blob("sec/two", digest, len(blob), body, mount_from="sec/one") == (
        BLOB_MOUNTED
    )
    assert body.opened == []  # type: ignore[attr-defined]
    assert _uploads_in_log(handle) == uploads
    assert _get_blob(handle, "sec/two", digest) == blob

    # The claimed source does not hold it: the 202 session the registry opens takes the upload.
    other = _layer("not-anywhere")
    got = client.push_blob(
        "sec/three", _digest(other), len(other), _chunks(other), mount_from="x/y"
    )
    assert got == BLOB_UPLOADED
    assert _get_blob(handle, "sec/three", _digest(other)) == other
    assert _uploads_in_log(handle) == uploads + 1


def test_wrong_bytes_are_refused_and_nothing_is_stored(registry_factory: MakeRegistry) -> None:
    handle = registry_factory("plain")
    client = _client(handle.host, retries=3)
    blob = _layer("good")
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0xFF
    body = _chunks(bytes(bad))
    with pytest.raises(BlobMismatch) as info:
        client.push_blob("team/app", _digest(blob), len(blob), body)
    # The client hashed what it sent and cancelled the upload: no PUT ?digest= was asked.
    assert _digest(blob) in info.value.sentence() and "cancelled" in info.value.sentence()
    assert len(body.opened) == 1  # type: ignore[attr-defined]  # never retried
    assert not client.blob_exists("team/app", _digest(blob))
    short = _chunks(blob[:-10])
    with pytest.raises(BlobMismatch, match="ended 10 bytes early"):
        client.push_blob("team/app", _digest(blob), len(blob), short)
    assert not client.blob_exists("team/app", _digest(blob))


def _image(client: RegistryClient, repo: str) -> tuple[bytes, list[bytes]]:
    layer = _layer(repo)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    for blob in (config, layer):
        client.push_blob(repo, _digest(blob), len(blob), _chunks(blob))
    # Original bytes as a build tool writes them: indented, keys in its own order.
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        },
        indent=3,
    ).encode()
    return manifest, [config, layer]


def test_manifest_put_keeps_the_original_bytes_and_digest(registry_factory: MakeRegistry) -> None:
    handle = registry_factory("plain")
    client = _client(handle.host)
    manifest, _blobs = _image(client, "sec/semgrep")

    pushed = client.put_manifest("sec/semgrep", "6", manifest, MEDIA_OCI_MANIFEST)
    assert pushed == _digest(manifest)
    served = requests.get(
        f"{handle.url}/v2/sec/semgrep/manifests/6",
        headers={"Accept": MEDIA_OCI_MANIFEST},
        timeout=30,
    )
    assert served.content == manifest
    assert served.headers["Docker-Content-Digest"] == pushed
    assert client.manifest_exists("sec/semgrep", "6") == pushed


def test_manifest_naming_a_missing_blob_is_refused_with_the_registry_code(
    registry_factory: MakeRegistry,
) -> None:
    handle = registry_factory("plain")
    client = _client(handle.host)
    manifest, _blobs = _image(client, "sec/a")
    with pytest.raises(RegistryError) as info:
        client.put_manifest("sec/b", "1", manifest, MEDIA_OCI_MANIFEST)  # blobs are in sec/a
    assert "MANIFEST_BLOB_UNKNOWN" in info.value.sentence()
    assert "sec/b:1" in info.value.sentence()


def test_htpasswd_push_and_refusals(registry_factory: MakeRegistry) -> None:
    handle = registry_factory("auth", htpasswd=("ci", SECRET))
    client = _client(handle.host, credentials=Credentials("ci", SECRET))
    manifest, _blobs = _image(client, "sec/app")
    assert client.put_manifest("sec/app", "1", manifest, MEDIA_OCI_MANIFEST) == _digest(manifest)
    blob = _layer("mounted-with-auth")
    client.push_blob("sec/app", _digest(blob), len(blob), _chunks(blob))
    assert (
        client.push_blob("sec/other", _digest(blob), len(blob), _chunks(blob), mount_from="sec/app")
        == BLOB_MOUNTED
    )

    for credentials in (None, Credentials("ci", "wrong")):
        blob = _layer(f"refused-{credentials}")
        with pytest.raises(AuthError) as info:
            _client(handle.host, credentials=credentials).push_blob(
                "sec/app", _digest(blob), len(blob), _chunks(blob)
            )
        assert SECRET not in info.value.sentence()
        assert handle.host in info.value.sentence()


class _RestartingClient(RegistryClient):
    """Brings the registry back at the first back-off, where a real one would come back."""

    def __init__(self, handle: RegistryHandle, **kwargs: Any) -> None:
        self.handle = handle
        self.backoffs = 0
        super().__init__(handle.host, credential_lookup=None, certs_dir=None, **kwargs)

    def _sleep(self, attempt: int) -> None:
        self.backoffs += 1
        self.handle.start()


def test_a_registry_that_goes_away_mid_push_and_comes_back(registry_factory: MakeRegistry) -> None:
    handle = registry_factory("flaky")
    client = _RestartingClient(handle, retries=3, scheme="http")
    blob = _layer("during-restart", 2_000_000)
    first = True

    def open_body() -> Iterator[bytes]:
        nonlocal first
        for start in range(0, len(blob), 256 * 1024):
            if first and start >= 512 * 1024:
                first = False
                handle.stop()  # the registry dies with the upload half sent
            yield blob[start : start + 256 * 1024]

    assert client.push_blob("sec/app", _digest(blob), len(blob), open_body) == BLOB_UPLOADED
    assert client.backoffs >= 1
    assert _get_blob(handle, "sec/app", _digest(blob)) == blob


def test_a_registry_that_stays_away_is_named_after_bounded_retries(
    registry_factory: MakeRegistry,
) -> None:
    handle = registry_factory("gone")
    client = _client(handle.host, retries=2, scheme="http")
    handle.stop()
    blob = _layer("never")
    with pytest.raises(RegistryUnreachable) as info:
        client.push_blob("sec/app", _digest(blob), len(blob), _chunks(blob))
    assert handle.host in info.value.sentence() and "refused" in info.value.sentence()


def test_bearer_tokens_carry_push_scopes_and_both_repositories_for_a_mount(
    registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    service = TokenService(tmp_path, {"ci": SECRET})
    with serve(service.handle) as token_url:
        handle = registry_factory(
            "token",
            config_overrides=token_auth(token_url, service.bundle),
        )
        client = _client(handle.host, credentials=Credentials("ci", SECRET))
        manifest, _blobs = _image(client, "sec/one")
        assert client.put_manifest("sec/one", "1", manifest, MEDIA_OCI_MANIFEST) == (
            _digest(manifest)
        )
        blob = _layer("token-mounted")
        client.push_blob("sec/one", _digest(blob), len(blob), _chunks(blob))
        body = _chunks(blob)
        got = client.push_blob("sec/two", _digest(blob), len(blob), body, mount_from="sec/one")

    assert got == BLOB_MOUNTED and body.opened == []  # type: ignore[attr-defined]
    scopes = [r["query"].get("scope") for r in service.requests if r["auth"]]
    assert ["repository:sec/one:pull,push"] in scopes
    assert ["repository:sec/two:pull,push", "repository:sec/one:pull"] in scopes
    for token in service.issued:
        assert token not in repr(client)
