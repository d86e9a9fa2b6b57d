"""Proves the harness against the real engines and registry, and pins down the engine facts the
export/import code depends on (save layout, what varies between two saves, registry trust)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from tests.harness.engine import EngineHandle
from tests.harness.images import (
    STANDARD_IMAGES,
    BuiltImage,
    FakeImage,
    FakeLayer,
    SeededUpstream,
    build_image_archive,
    load_archive,
)
from tests.harness.registry import RegistryHandle
from tests.harness.tls import CA, ENGINE_TLS_HOSTNAME, make_ca, make_server_cert

SAVED = STANDARD_IMAGES[:2]  # semgrep:6 and secrets:7 share the base-os layer
NOW_SLACK = 2


def _epoch(created: str) -> int:
    return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())


@pytest.fixture
def client(engine: EngineHandle) -> Iterator[docker.DockerClient]:
    c = engine.client()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def load(client: docker.DockerClient, tmp_path: Path) -> Iterator[Callable[..., list[BuiltImage]]]:
    """Load fake images into the session engine and remove them again after the test."""
    loaded: list[BuiltImage] = []

    def _load(images: tuple[FakeImage, ...] | list[FakeImage]) -> list[BuiltImage]:
        archive = tmp_path / f"images-{len(loaded)}.tar"
        built = build_image_archive(archive, images)
        load_archive(client, archive)
        loaded.extend(built)
        return built

    try:
        yield _load
    finally:
        for info in loaded:
            try:
                client.images.remove(info.image_id, force=True)
            except docker.errors.NotFound:
                pass


def _push(client: docker.DockerClient, image_id: str, repository: str, tag: str) -> dict[str, Any]:
    """Tag and push; returns the aux record, or {"error": ...} from the progress stream."""
    client.api.tag(image_id, repository, tag)
    aux: dict[str, Any] = {}
    for event in client.api.push(repository, tag, stream=True, decode=True):
        if "error" in event:
            return {"error": str(event["error"])}
        aux.update(event.get("aux") or {})
    return aux


def _save(client: docker.DockerClient, names: list[str]) -> bytes:
    """GET /images/get?names=a&names=b (the SDK only saves one name at a time)."""
    response = client.api._get(client.api._url("/images/get"), params={"names": names}, stream=True)
    client.api._raise_for_status(response)
    return bytes(response.raw.read())


def _members(data: bytes) -> tuple[list[tarfile.TarInfo], dict[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        contents = {}
        for m in members:
            if m.isfile():
                fh = tar.extractfile(m)
                assert fh is not None
                contents[m.name] = fh.read()
    return members, contents


def test_engine_is_private_and_reports_its_version(engine: EngineHandle) -> None:
    with contextlib.closing(engine.client()) as c:
        info = c.info()
    assert info["DockerRootDir"] == str(engine.data_root)
    assert info["Driver"] == "vfs"
    assert "127.0.0.0/8" in info["RegistryConfig"]["InsecureRegistryCIDRs"]
    expected = {"bookworm": ("20.10.", "1.41"), "trixie": ("26.1.", "1.45")}[engine.kind]
    assert engine.version.startswith(expected[0])
    assert engine.api_version == expected[1]
    assert engine.docker_host.startswith("unix:///tmp/")
    assert len(engine.docker_host) - len("unix://") < 108


def test_loaded_images_keep_their_ids_and_diff_ids(
    client: docker.DockerClient, load: Callable[..., list[BuiltImage]]
) -> None:
    for built in load(STANDARD_IMAGES):
        image = client.images.get(built.ref)
        assert image.id == built.image_id
        assert image.attrs["RootFS"]["Layers"] == list(built.diff_ids)


def test_push_to_upstream_lists_tag(
    engine: EngineHandle,
    client: docker.DockerClient,
    load: Callable[..., list[BuiltImage]],
    upstream_registry: RegistryHandle,
) -> None:
    built = load(SAVED)[0]
    path = f"harness-{engine.kind}/semgrep"
    aux = _push(client, built.image_id, f"{upstream_registry.host}/{path}", "6")
    assert "error" not in aux
    tags = requests.get(f"{upstream_registry.url}/v2/{path}/tags/list", timeout=10).json()
    assert tags == {"name": path, "tags": ["6"]}
    head = requests.head(
        f"{upstream_registry.url}/v2/{path}/manifests/6",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert head.headers["Docker-Content-Digest"] == aux["Digest"]


def test_seeded_upstream_holds_the_standard_images(seeded_upstream: SeededUpstream) -> None:
    url = seeded_upstream.registry.url
    assert seeded_upstream.prefix == f"{seeded_upstream.registry.host}/security-products"
    assert [f"{i.name}:{i.tag}" for i in seeded_upstream.images] == [
        "semgrep:6",
        "secrets:7",
        "gemnasium:6",
    ]
    for image in seeded_upstream.images:
        repo = f"security-products/{image.name}"
        assert image.ref == f"{seeded_upstream.prefix}/{image.name}:{image.tag}"
        assert requests.get(f"{url}/v2/{repo}/tags/list", timeout=10).json()["tags"] == [image.tag]
        head = requests.head(
            f"{url}/v2/{repo}/manifests/{image.tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        assert head.headers["Docker-Content-Digest"] == image.digest


def test_registry_auth_and_restart_on_same_port(
    registry_factory: Callable[..., RegistryHandle],
) -> None:
    registry = registry_factory(htpasswd=("alice", "pa ss:word"))
    anonymous = requests.get(f"{registry.url}/v2/", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert requests.get(f"{registry.url}/v2/", auth=("alice", "pa ss:word"), timeout=10).ok
    assert (
        requests.get(f"{registry.url}/v2/", auth=("alice", "nope"), timeout=10).status_code == 401
    )
    port = registry.port
    registry.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{registry.url}/v2/", timeout=10)
    registry.restart()
    assert registry.port == port
    assert requests.get(f"{registry.url}/v2/", auth=("alice", "pa ss:word"), timeout=10).ok


def test_registry_down_then_back_keeps_content(
    client: docker.DockerClient,
    load: Callable[..., list[BuiltImage]],
    registry_factory: Callable[..., RegistryHandle],
) -> None:
    semgrep, secrets = load(SAVED)
    registry = registry_factory()
    assert "error" not in _push(client, semgrep.image_id, f"{registry.host}/p/semgrep", "6")
    registry.stop()
    failed = _push(client, secrets.image_id, f"{registry.host}/p/secrets", "7")
    assert "connection refused" in failed["error"]
    registry.restart()
    assert "error" not in _push(client, secrets.image_id, f"{registry.host}/p/secrets", "7")
    catalog = requests.get(f"{registry.url}/v2/_catalog", timeout=10).json()
    assert catalog == {"repositories": ["p/secrets", "p/semgrep"]}


def test_tls_registry_verifies_against_its_ca(
    registry_factory: Callable[..., RegistryHandle], test_ca: CA, tmp_path: Path
) -> None:
    registry = registry_factory(tls=make_server_cert(tmp_path / "cert", test_ca))
    assert registry.url.startswith("https://127.0.0.1:")
    assert requests.get(f"{registry.url}/v2/", verify=str(test_ca.cert), timeout=10).ok
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{registry.url}/v2/", timeout=10)


def test_engine_verifies_tls_only_off_127(
    engine: EngineHandle,
    client: docker.DockerClient,
    load: Callable[..., list[BuiltImage]],
    registry_factory: Callable[..., RegistryHandle],
    test_ca: CA,
    tmp_path: Path,
) -> None:
    """Session engines trust test_ca (SSL_CERT_FILE) and resolve registry.test to ::1."""
    built = load(SAVED)[0]
    trusted = registry_factory(
        "trusted", tls=make_server_cert(tmp_path / "trusted", test_ca), bind="::1"
    )
    other_ca = make_ca(tmp_path / "other-ca")
    stranger_cert = make_server_cert(tmp_path / "stranger", other_ca)
    stranger6 = registry_factory("stranger6", tls=stranger_cert, bind="::1")
    stranger4 = registry_factory("stranger4", tls=stranger_cert)

    ok = _push(client, built.image_id, f"{ENGINE_TLS_HOSTNAME}:{trusted.port}/p/semgrep", "6")
    assert "error" not in ok
    refused = _push(
        client, built.image_id, f"{ENGINE_TLS_HOSTNAME}:{stranger6.port}/p/semgrep", "6"
    )
    assert "x509: certificate signed by unknown authority" in refused["error"]
    # 127.0.0.0/8 is insecure by default: an untrusted certificate is accepted there.
    assert "error" not in _push(client, built.image_id, f"{stranger4.host}/p/semgrep", "6")
    assert "error" not in _push(client, built.image_id, f"localhost:{stranger4.port}/p/x", "6")
    if engine.kind == "bookworm":
        with pytest.raises(docker.errors.APIError, match="invalid reference format"):
            client.api.tag(built.image_id, f"{trusted.host}/p/semgrep", "6")
    else:
        assert "error" not in _push(client, built.image_id, f"{trusted.host}/p/semgrep", "6")


def _expected_mtimes(
    kind: str, manifest: list[dict[str, Any]], index: dict[str, Any] | None, built: list[BuiltImage]
) -> dict[str, set[int]]:
    """Which mtimes each entry may carry: the creation time of an image that uses it, 0, or
    -1 for "the current time"."""
    created = {
        b.image_id.removeprefix("sha256:"): _epoch(i.created)
        for b, i in zip(built, SAVED, strict=True)
    }
    every = set(created.values())
    allowed: dict[str, set[int]] = {}
    for entry in manifest:
        when = created[entry["Config"].removesuffix(".json").rsplit("/", 1)[-1]]
        allowed[entry["Config"]] = {when}
        for layer in entry["Layers"]:
            allowed.setdefault(layer, set()).add(when)
            if kind == "bookworm":
                v1 = layer.split("/")[0]
                for name in (v1, f"{v1}/VERSION", f"{v1}/json"):
                    allowed.setdefault(name, set()).add(when)
    for name in ("manifest.json", "repositories", "oci-layout"):
        allowed[name] = {0}
    if index is not None:
        for m in index["manifests"]:
            allowed[f"blobs/sha256/{m['digest'].removeprefix('sha256:')}"] = {0}
        allowed["blobs"] = every
        allowed["blobs/sha256"] = {-1}
        allowed["index.json"] = {-1}
    return allowed


def _check_mtimes(
    kind: str, data: bytes, built: list[BuiltImage], t0: float, t1: float
) -> dict[str, int]:
    members, contents = _members(data)
    manifest = json.loads(contents["manifest.json"])
    index = json.loads(contents["index.json"]) if "index.json" in contents else None
    allowed = _expected_mtimes(kind, manifest, index, built)
    every = {_epoch(i.created) for i in SAVED}
    seen: dict[str, int] = {}
    for m in members:
        mtime = int(m.mtime)
        # v1-compat json blobs (trixie) are not referenced by name: any image's time.
        ok = allowed.get(m.name, every if m.name.startswith("blobs/sha256/") else set())
        now = t0 - NOW_SLACK <= mtime <= t1 + NOW_SLACK
        assert mtime in ok or (-1 in ok and now), (m.name, mtime, ok)
        seen[m.name] = mtime
    return seen


def test_save_layout(
    engine: EngineHandle, client: docker.DockerClient, load: Callable[..., list[BuiltImage]]
) -> None:
    built = load(SAVED)
    t0 = time.time()
    data = _save(client, [i.ref for i in SAVED])
    t1 = time.time()
    members, contents = _members(data)
    names = [m.name for m in members]
    manifest = json.loads(contents["manifest.json"])
    assert sorted(e["RepoTags"][0] for e in manifest) == ["secrets:7", "semgrep:6"]
    assert not [m for m in members if m.issym() or m.islnk()]
    by_ref = {e["RepoTags"][0]: e for e in manifest}
    for info in built:
        entry = by_ref[info.ref]
        # Every layer file in the stream is the uncompressed layer tar: sha256 == diff_id.
        digests = [f"sha256:{hashlib.sha256(contents[p]).hexdigest()}" for p in entry["Layers"]]
        assert digests == list(info.diff_ids)
    if engine.kind == "bookworm":
        assert not {"oci-layout", "index.json", "blobs"} & set(names)
        assert {m.uname for m in members} == {"root"}
        for info in built:
            entry = by_ref[info.ref]
            assert entry["Config"] == f"{info.image_id.removeprefix('sha256:')}.json"
            assert all(p.endswith("/layer.tar") and len(p) == 64 + 10 for p in entry["Layers"])
        # base-os is shared: stored once
        assert len([n for n in names if n.endswith("/layer.tar")]) == 6
    else:
        assert {"oci-layout", "index.json", "blobs", "blobs/sha256"} <= set(names)
        assert {m.uname for m in members} == {""}
        assert json.loads(contents["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(contents["index.json"])
        # The order is not stable between saves (tarnorm sorts it); the content is.
        assert sorted(m["annotations"]["io.containerd.image.name"] for m in index["manifests"]) == [
            "docker.io/library/secrets:7",
            "docker.io/library/semgrep:6",
        ]
        for info in built:
            entry = by_ref[info.ref]
            assert entry["Config"] == f"blobs/sha256/{info.image_id.removeprefix('sha256:')}"
            assert entry["Layers"] == [f"blobs/sha256/{d[7:]}" for d in info.diff_ids]
        assert not [n for n in names if n.endswith("/layer.tar")]
    seen = _check_mtimes(engine.kind, data, built, t0, t1)
    if engine.kind == "trixie":
        assert t0 - NOW_SLACK <= seen["index.json"] <= t1 + NOW_SLACK
    else:
        assert not [n for n, t in seen.items() if t > _epoch("2025-01-01T00:00:00Z")]


def test_two_saves_differ_only_in_order_and_mtimes(
    engine: EngineHandle, client: docker.DockerClient, load: Callable[..., list[BuiltImage]]
) -> None:
    built = load(SAVED)
    names = [i.ref for i in SAVED]
    t0 = time.time()
    first, second = _save(client, names), _save(client, names)
    t1 = time.time()
    (m1, c1), (m2, c2) = _members(first), _members(second)
    assert [m.name for m in m1] == [m.name for m in m2]
    fields = ("type", "size", "mode", "uid", "gid", "uname", "gname", "linkname", "pax_headers")
    for a, b in zip(m1, m2, strict=True):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields], a.name
    ordered = {"manifest.json", "index.json"}
    assert {n: c for n, c in c1.items() if n not in ordered} == {
        n: c for n, c in c2.items() if n not in ordered
    }
    for name in ordered & set(c1):
        one, two = json.loads(c1[name]), json.loads(c2[name])
        if name == "index.json":
            one, two = one["manifests"], two["manifests"]
        assert sorted(json.dumps(e, sort_keys=True) for e in one) == sorted(
            json.dumps(e, sort_keys=True) for e in two
        )
    # Whatever mtimes moved, each stream's are within the known rules.
    _check_mtimes(engine.kind, first, built, t0, t1)
    _check_mtimes(engine.kind, second, built, t0, t1)


def test_shared_layer_at_another_depth(
    engine: EngineHandle, client: docker.DockerClient, load: Callable[..., list[BuiltImage]]
) -> None:
    """The same layer on top of different parents: 20.10 writes a second v1 dir whose
    layer.tar is a symlink, stamped with the current time; 26.1 stores the blob once."""
    shared = FakeLayer("harness-shared-top", 5000)
    images = [
        FakeImage(
            "harness-x:1", [FakeLayer("harness-x-base", 3000), shared], "2024-01-01T00:00:00Z"
        ),
        FakeImage(
            "harness-y:1", [FakeLayer("harness-y-base", 3000), shared], "2024-02-01T00:00:00Z"
        ),
    ]
    load(images)
    t0 = time.time()
    data = _save(client, [i.ref for i in images])
    t1 = time.time()
    members, contents = _members(data)
    links = [m for m in members if m.issym()]
    if engine.kind == "bookworm":
        assert len(links) == 1
        link = links[0]
        v1 = link.name.split("/")[0]
        assert link.name == f"{v1}/layer.tar"
        assert link.linkname.startswith("../") and link.linkname.endswith("/layer.tar")
        stamped = [m for m in members if m.name == v1 or m.name.startswith(f"{v1}/")]
        assert len(stamped) == 4
        assert all(t0 - NOW_SLACK <= m.mtime <= t1 + NOW_SLACK for m in stamped)
    else:
        assert links == []
        manifest = json.loads(contents["manifest.json"])
        assert manifest[0]["Layers"][1] == manifest[1]["Layers"][1]
