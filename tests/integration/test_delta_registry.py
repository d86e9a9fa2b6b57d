"""Inventory and the delta pre-check against a real registry (`docker-registry`, loopback).

Images are seeded by pushing blobs straight through the Registry API (layers gzip-compressed by
Python, an OCI index with two platforms), as the registry-native bundle will find them."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from airgap_tui.cli.commands import main
from airgap_tui.delta.check import (
    DeltaMissingError,
    NeededBlobs,
    check_delta_target,
    require_expected_blobs,
)
from airgap_tui.delta.delta import BlobRef, load_presence, plan_delta
from airgap_tui.delta.inventory import InventoryLimits, take_inventory, write_inventory
from airgap_tui.errors import AuthError, RegistryError
from airgap_tui.models import Credentials
from airgap_tui.registry.client import RegistryClient
from tests.harness.registry import RegistryHandle, token_auth
from tests.harness.tls import make_tls
from tests.integration.test_registry import TokenService, serve

MakeRegistry = Callable[..., RegistryHandle]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(text: str, size: int = 2000) -> bytes:
    """A gzip layer made by Python (not an engine): content from `text`, mtime 0."""
    return gzip.compress((text.encode() * (size // len(text) + 1))[:size], mtime=0)


@dataclass
class Seeded:
    digest: str  # manifest (or index) digest the tag points at
    blobs: list[BlobRef]  # config + layers (of every platform for an index)
    manifests: list[str]  # manifest and index digests


class Seeder:
    """Pushes blobs and manifests with plain requests: monolithic POST + PUT uploads."""

    def __init__(self, handle: RegistryHandle, auth: tuple[str, str] | None = None) -> None:
        self.url = handle.url
        self.session = requests.Session()
        self.session.trust_env = False
        if auth is not None:
            self.session.auth = auth

    def blob(self, repo: str, data: bytes) -> BlobRef:
        resp = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/")
        resp.raise_for_status()
        location = resp.headers["Location"]
        location = self.url + location if location.startswith("/") else location
        resp = self.session.put(location, params={"digest": sha(data)}, data=data)
        resp.raise_for_status()
        return BlobRef(sha(data), len(data))

    def manifest(self, repo: str, ref: str, body: dict[str, Any], media_type: str) -> str:
        data = json.dumps(body).encode()
        resp = self.session.put(
            f"{self.url}/v2/{repo}/manifests/{ref}", data=data, headers={"Content-Type": media_type}
        )
        resp.raise_for_status()
        return sha(data)

    def image(
        self, repo: str, tag: str, layers: list[bytes], *, arch: str = "amd64", oci: bool = True
    ) -> Seeded:
        config = json.dumps(
            {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode()
        config_ref = self.blob(repo, config)
        refs = [self.blob(repo, data) for data in layers]
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        layer_type = (
            "application/vnd.oci.image.layer.v1.tar+gzip"
            if oci
            else "application/vnd.docker.image.rootfs.diff.tar.gzip"
        )
        body = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json"
                if oci
                else "application/vnd.docker.container.image.v1+json",
                "digest": config_ref.digest,
                "size": config_ref.size,
            },
            "layers": [{"mediaType": layer_type, "digest": r.digest, "size": r.size} for r in refs],
        }
        digest = self.manifest(repo, tag, body, media_type)
        return Seeded(digest, [config_ref, *refs], [digest])

    def index(self, repo: str, tag: str, platforms: dict[str, list[bytes]]) -> Seeded:
        children = []
        blobs: list[BlobRef] = []
        manifests: list[str] = []
        for arch, layers in platforms.items():
            child = self.image(repo, f"{tag}-{arch}", layers, arch=arch)
            blobs += child.blobs
            manifests += child.manifests
            size = len(self.session.get(f"{self.url}/v2/{repo}/manifests/{child.digest}").content)
            children.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": size,
                    "platform": {"os": "linux", "architecture": arch},
                }
            )
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
        digest = self.manifest(repo, tag, body, OCI_INDEX)
        return Seeded(digest, blobs, [digest, *manifests])


def client_for(handle: RegistryHandle, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("backoff", 0)
    kwargs.setdefault("credential_lookup", None)
    kwargs.setdefault("certs_dir", None)
    return RegistryClient(handle.host, **kwargs)


BASE = layer("base os layer ", 50_000)


def seed_set(seeder: Seeder) -> dict[str, Seeded]:
    """Several repositories and tags sharing a base layer, an index, a Docker-typed image."""
    return {
        "analyzers/semgrep:5": seeder.image("analyzers/semgrep", "5", [BASE, layer("semgrep5 ")]),
        "analyzers/semgrep:6": seeder.image("analyzers/semgrep", "6", [BASE, layer("semgrep6 ")]),
        "analyzers/gitleaks:8": seeder.image(
            "analyzers/gitleaks", "8", [BASE, layer("gitleaks ")], oci=False
        ),
        "analyzers/multi:1": seeder.index(
            "analyzers/multi", "1", {"amd64": [BASE, layer("m-amd ")], "arm64": [layer("m-arm ")]}
        ),
        "library/other:latest": seeder.image("library/other", "latest", [layer("other ")]),
    }


# --- inventory ----------------------------------------------------------------------------------


def test_inventory_lists_repositories_tags_digests_and_every_blob(
    registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    handle = registry_factory()
    seeded = seed_set(Seeder(handle))
    seeded["analyzers/semgrep:latest"] = seeded["analyzers/semgrep:6"]
    Seeder(handle).session.put(  # a second tag on the same manifest: fetched once
        f"{handle.url}/v2/analyzers/semgrep/manifests/latest",
        data=Seeder(handle)
        .session.get(
            f"{handle.url}/v2/analyzers/semgrep/manifests/6",
            headers={"Accept": OCI_MANIFEST},
        )
        .content,
        headers={"Content-Type": OCI_MANIFEST},
    ).raise_for_status()

    with client_for(handle) as client:
        everything = take_inventory(client)
        analyzers = take_inventory(client, "analyzers", registry=f"{handle.host}/analyzers")

    names = [r.name for r in everything.repositories]
    assert names == ["analyzers/gitleaks", "analyzers/multi", "analyzers/semgrep", "library/other"]
    tags = {f"{r.name}:{t.tag}": t.digest for r in everything.repositories for t in r.tags}
    # the index's per-platform tags are seeded too; every tag is listed with its digest
    for ref, item in seeded.items():
        assert tags[ref] == item.digest
    assert {b.digest: b.size for s in seeded.values() for b in s.blobs} == everything.blobs
    assert everything.warnings == []

    assert [r.name for r in analyzers.repositories] == names[:3]
    assert analyzers.registry == f"{handle.host}/analyzers"
    want = {
        b.digest: b.size
        for ref, s in seeded.items()
        if ref.startswith("analyzers/")
        for b in s.blobs
    }
    assert analyzers.blobs == want
    assert BASE and sha(BASE) in analyzers.blobs  # shared base counted once

    path = tmp_path / "inventory.json"
    digest = write_inventory(analyzers, path)
    presence = load_presence(path)
    assert dict(presence.blobs) == want
    assert presence.against == digest and presence.kind == "inventory"


def test_many_tags_on_few_manifests_fetch_each_manifest_once(
    registry_factory: MakeRegistry,
) -> None:
    handle = registry_factory()
    seeder = Seeder(handle)
    image = seeder.image("analyzers/semgrep", "0", [BASE])
    body = seeder.session.get(
        f"{handle.url}/v2/analyzers/semgrep/manifests/0", headers={"Accept": OCI_MANIFEST}
    ).content
    for i in range(1, 300):
        seeder.session.put(
            f"{handle.url}/v2/analyzers/semgrep/manifests/{i}",
            data=body,
            headers={"Content-Type": OCI_MANIFEST},
        ).raise_for_status()
    before = handle.log_path.read_text().count('"GET /v2/analyzers/semgrep/manifests/')
    with client_for(handle) as client:
        inventory = take_inventory(client)
    log = handle.log_path.read_text()
    assert inventory.tag_count == 300
    assert {t.digest for t in inventory.repositories[0].tags} == {image.digest}
    assert inventory.blobs == {b.digest: b.size for b in image.blobs}
    assert log.count('"GET /v2/analyzers/semgrep/manifests/') - before == 1
    assert log.count('"HEAD /v2/analyzers/semgrep/manifests/') == 300


def test_catalog_and_tags_are_followed_across_pages(registry_factory: MakeRegistry) -> None:
    handle = registry_factory()
    seeder = Seeder(handle)
    for i in range(5):
        seeder.image(f"team/app{i}", "1", [layer(f"app{i} ")])
    with client_for(handle) as client:
        assert list(client.repositories(page_size=2)) == [f"team/app{i}" for i in range(5)]
        with pytest.raises(RegistryError) as info:
            list(client.repositories(page_size=2, limit=3))
        assert "more than 3 repositories" in str(info.value)


def test_inventory_caps_are_clear_errors(registry_factory: MakeRegistry) -> None:
    handle = registry_factory()
    seed_set(Seeder(handle))
    with client_for(handle) as client:
        for limits, words in [
            (InventoryLimits(blobs=3), "more than 3 blobs"),
            (InventoryLimits(tags=2), "more than 2 tags"),
            (InventoryLimits(repositories=1), "more than 1 repositories"),
            (InventoryLimits(manifests=2), "more than 2 manifests"),
        ]:
            with pytest.raises(RegistryError) as info:
                take_inventory(client, limits=limits)
            assert words in str(info.value) and "narrower path" in str(info.value)


def test_inventory_command_with_basic_auth_writes_no_secret(
    registry_factory: MakeRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "Inv3ntory-pa55"
    handle = registry_factory("auth", htpasswd=("airgap", secret))
    seeded = Seeder(handle, auth=("airgap", secret)).image("analyzers/semgrep", "6", [BASE])
    out = tmp_path / "stick" / "inv.json"

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(["inventory", "--registry", f"{handle.host}/analyzers", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 1 and "requires a login" in err and not out.exists()

    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\n"))
    argv = ["inventory", "--registry", f"{handle.host}/analyzers", "--username", "airgap"]
    code = main([*argv, "--password-stdin", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 1 and "rejected the credentials" in err and not out.exists()

    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    code = main([*argv, "--password-stdin", "--out", str(out), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["ok"] is True
    assert result["repositories"] == 1 and result["tags"] == 1 and result["blobs"] == 2
    assert result["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert dict(load_presence(out).blobs) == {b.digest: b.size for b in seeded.blobs}
    assert secret not in out.read_text() and secret not in json.dumps(result)
    assert [p.name for p in out.parent.iterdir()] == ["inv.json"]  # no .part left


def test_inventory_command_over_tls_needs_the_ca_file(
    registry_factory: MakeRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = make_tls(tmp_path / "tls")
    handle = registry_factory("tls", tls=tls.pair)
    seeder = Seeder(handle)
    seeder.session.verify = str(tls.ca_cert)
    seeder.image("analyzers/semgrep", "6", [BASE, layer("tls ")])
    out = tmp_path / "out" / "inv.json"
    argv = ["inventory", "--registry", f"{handle.host}/analyzers", "--out", str(out)]

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unknown CA" in err and "--ca-file" in err and not out.exists()

    assert main([*argv, "--ca-file", str(tls.ca_cert)]) == 0
    printed = capsys.readouterr().out
    assert f"Inventory of {handle.host}/analyzers: 1 repositories, 1 tags, 3 blobs" in printed
    assert f"Written: {out}" in printed and "--delta-from inv.json" in printed
    assert hashlib.sha256(out.read_bytes()).hexdigest() in printed


class CatalogGate(TokenService):
    """A token service that can refuse the catalog scope, as Harbor and GitLab do for most."""

    refuse_catalog = False

    def token(self, subject: str, scopes: list[str]) -> str:
        if self.refuse_catalog:
            scopes = [s for s in scopes if not s.startswith("registry:catalog:")]
        return super().token(subject, scopes)


def test_inventory_with_bearer_tokens_asks_for_the_catalog_scope(
    registry_factory: MakeRegistry, tmp_path: Path
) -> None:
    secret = "T0ken-pa55"
    service = CatalogGate(tmp_path, {"ci": secret})
    with serve(service.handle) as token_url:
        handle = registry_factory(
            "token",
            config_overrides=token_auth(token_url, service.bundle),
        )
        seeder = Seeder(handle)
        push = service.token(
            "ci", ["repository:analyzers/semgrep:pull,push", "repository:library/base:pull,push"]
        )
        seeder.session.headers["Authorization"] = f"Bearer {push}"
        seeded = seeder.image("analyzers/semgrep", "6", [BASE])

        with client_for(handle, credentials=Credentials("ci", secret)) as client:
            inventory = take_inventory(client)
        assert inventory.blobs == {b.digest: b.size for b in seeded.blobs}
        scopes = [r["query"].get("scope") for r in service.requests]
        assert ["registry:catalog:*"] in scopes and ["repository:analyzers/semgrep:pull"] in scopes

        with client_for(handle) as anonymous, pytest.raises(RegistryError) as info:
            take_inventory(anonymous)
        assert "requires a login" in str(info.value)

        # An account that may pull but not list the catalog: the inventory says so (not "wrong
        # password"); the pre-check still checks the images' own repositories.
        service.refuse_catalog = True
        elsewhere = seeder.image("analyzers/semgrep", "7", [layer("seven ")]).blobs[1]
        needs = [
            NeededBlobs("semgrep:6", "analyzers/semgrep", tuple(seeded.blobs)),
            NeededBlobs("gitleaks:8", "analyzers/gitleaks", (elsewhere,)),
        ]
        with client_for(handle, credentials=Credentials("ci", secret)) as client:
            with pytest.raises(AuthError) as denied:
                take_inventory(client)
            check = check_delta_target(client, needs)
        text = str(denied.value)
        assert "does not let this account list its repositories (HTTP 401)" in text
        assert "receipt of the last import" in text and "password" not in text
        assert check.mount_from == {("analyzers/gitleaks", elsewhere.digest): "analyzers/semgrep"}
        assert check.ok

        lone = seeder.image("library/base", "1", [layer("lone ")]).blobs[1]
        with client_for(handle, credentials=Credentials("ci", secret)) as client:
            check = check_delta_target(client, [NeededBlobs("kics:5", "analyzers/kics", (lone,))])
        assert check.missing == {"kics:5": (lone,)}
        assert any("other repositories were not searched" in n for n in check.notes)
        text = str(check.error(handle.host, expected=1))
        assert "other repositories were not searched" in text and "kics:5" in text


# --- the delta pre-check ------------------------------------------------------------------------


def test_precheck_finds_present_mountable_and_missing_blobs(
    registry_factory: MakeRegistry,
) -> None:
    handle = registry_factory()
    seeder = Seeder(handle)
    semgrep = seeder.image("analyzers/semgrep", "5", [BASE, layer("semgrep5 ")])
    other = seeder.image("library/base", "1", [layer("only in library/base ")])
    base, old_layer = semgrep.blobs[1], semgrep.blobs[2]
    elsewhere = other.blobs[1]
    absent = BlobRef(sha(b"never pushed"), 12)
    needs = [
        NeededBlobs("semgrep:6", "analyzers/semgrep", (base, elsewhere, absent)),
        NeededBlobs("gitleaks:8", "analyzers/gitleaks", (base, old_layer)),
        NeededBlobs("kics:5", "analyzers/kics", (elsewhere,)),
    ]
    with client_for(handle) as client:
        check = check_delta_target(client, needs)
    assert ("analyzers/semgrep", base.digest) in check.present
    assert check.mount_from == {
        ("analyzers/semgrep", elsewhere.digest): "library/base",
        ("analyzers/gitleaks", base.digest): "analyzers/semgrep",
        ("analyzers/gitleaks", old_layer.digest): "analyzers/semgrep",
        ("analyzers/kics", elsewhere.digest): "library/base",
    }
    assert check.missing == {"semgrep:6": (absent,)}
    assert not check.ok and check.missing_blobs == {absent.digest}

    error = check.error(handle.host, expected=4, kind="inventory", against="ab" * 32)
    assert isinstance(error, DeltaMissingError)
    text = str(error)
    assert "1 of the 4 blobs" in text and "semgrep:6" in text and "gitleaks" not in text
    assert "Nothing was pushed" in text
    assert "Bring a full bundle" in text and "airgap-tui inventory --registry" in text

    with client_for(handle) as client:
        assert check_delta_target(client, needs[1:]).ok


def test_precheck_search_of_other_repositories_is_bounded(registry_factory: MakeRegistry) -> None:
    handle = registry_factory()
    seeder = Seeder(handle)
    for i in range(6):
        seeder.image(f"team/app{i}", "1", [layer(f"app{i} ")])
    hidden = seeder.image("zzz/last", "1", [layer("far away ")]).blobs[1]
    need = [NeededBlobs("x:1", "analyzers/x", (hidden,))]
    with client_for(handle) as client:
        found = check_delta_target(client, need)
        assert found.ok and found.mount_from == {("analyzers/x", hidden.digest): "zzz/last"}
        capped = check_delta_target(client, need, max_probes=3)
    assert capped.missing == {"x:1": (hidden,)}
    assert capped.probes == 1 + 3
    assert any("stopped after 3 requests" in note for note in capped.notes)


def test_precheck_detects_a_stale_inventory(registry_factory: MakeRegistry, tmp_path: Path) -> None:
    """Inventory taken, delta planned against it, then the registry is cleaned: the check
    names every missing blob and image before anything is pushed."""
    handle = registry_factory()
    seeder = Seeder(handle)
    old = seeder.image("analyzers/semgrep", "5", [BASE, layer("semgrep5 ")])
    with client_for(handle) as client:
        inventory = take_inventory(client, "analyzers")
    path = tmp_path / "inventory.json"
    write_inventory(inventory, path)
    presence = load_presence(path)

    # next month's images: semgrep 6 and gitleaks 8 share the base layer already offline
    new_semgrep = [BlobRef(sha(b"manifest6"), 9), BlobRef(sha(b"config6"), 7)]
    new_layer = BlobRef(sha(layer("semgrep6 ")), len(layer("semgrep6 ")))
    base = old.blobs[1]
    tar_order = [*new_semgrep, base, new_layer]
    plan = plan_delta(tar_order, presence, always_carry={b.digest for b in new_semgrep})
    assert plan.expected == (base,)
    assert plan.carry == (*new_semgrep, new_layer)
    assert plan.against == hashlib.sha256(path.read_bytes()).hexdigest()
    needs = [
        NeededBlobs("semgrep:6", "analyzers/semgrep", plan.expected),
        NeededBlobs("gitleaks:8", "analyzers/gitleaks", plan.expected),
    ]
    with client_for(handle) as client:
        fresh = check_delta_target(client, needs)
    assert fresh.ok
    assert fresh.mount_from == {("analyzers/gitleaks", base.digest): "analyzers/semgrep"}

    images = [
        ("semgrep:6", "analyzers/semgrep", [b.digest for b in tar_order]),
        ("gitleaks:8", "analyzers/gitleaks", [base.digest]),
    ]
    with client_for(handle) as client:
        gate = require_expected_blobs(client, handle.host, images, plan.expected)
    assert gate.present == {("analyzers/semgrep", base.digest)}

    handle.wipe()  # someone cleaned the offline registry since the inventory
    with client_for(handle) as client:
        stale = check_delta_target(client, needs)
        assert list(client.repositories()) == []
        with pytest.raises(DeltaMissingError) as refused:
            require_expected_blobs(
                client, handle.host, images, plan.expected, kind="inventory", against="ab" * 32
            )
    assert refused.value.missing == {"semgrep:6": (base,), "gitleaks:8": (base,)}
    assert "make a fresh inventory" in str(refused.value)
    assert stale.missing == {"semgrep:6": (base,), "gitleaks:8": (base,)}
    text = str(stale.error(handle.host, expected=1, kind=plan.kind, against=plan.against))
    assert "1 of the 1 blobs" in text and "needed by 2 images: gitleaks:8, semgrep:6" in text
    assert f"inventory ({plan.against[:12]})" in text
    assert list(handle.storage_dir.rglob("data")) == []  # the check wrote nothing


def test_precheck_with_auth_needs_the_target_but_skips_unreadable_repositories(
    registry_factory: MakeRegistry,
) -> None:
    secret = "Ch3ck-pa55"
    handle = registry_factory("auth", htpasswd=("airgap", secret))
    seeder = Seeder(handle, auth=("airgap", secret))
    image = seeder.image("analyzers/semgrep", "5", [BASE])
    needs = [NeededBlobs("semgrep:6", "analyzers/semgrep", tuple(image.blobs))]
    with client_for(handle, credentials=Credentials("airgap", secret)) as client:
        assert check_delta_target(client, needs).ok
    with client_for(handle) as anonymous, pytest.raises(RegistryError) as info:
        check_delta_target(anonymous, needs)
    assert "requires a login" in str(info.value)
