"""The inventory's walk over what a registry answers, when the answers are odd or hostile.

The real-registry behaviour is in tests/integration/test_delta_registry.py; these feed the walk
answers a Docker Distribution registry would refuse to store (a registry behind a broken proxy,
or a hostile one), through a stand-in for the client's read methods."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from airgap_tui.delta.inventory import (
    Inventory,
    default_inventory_path,
    in_prefix,
    take_inventory,
    write_inventory,
)
from airgap_tui.errors import MediaError, NotFoundError, RegistryError
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.oci import MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(config: int, *layers: int) -> bytes:
    def desc(n: int) -> dict[str, Any]:
        return {"mediaType": "x", "digest": sha(str(n).encode()), "size": n}

    return json.dumps(
        {"schemaVersion": 2, "config": desc(config), "layers": [desc(n) for n in layers]}
    ).encode()


class FakeClient:
    """Answers like RegistryClient's read methods, from a dict of repositories."""

    host = "fake.local:5000"

    def __init__(self, repos: dict[str, dict[str, bytes]], media: dict[str, str]) -> None:
        self.repos = repos
        self.media = media  # digest -> media type
        self.bodies = {sha(b): b for tags in repos.values() for b in tags.values()}
        self.extra: dict[str, bytes] = {}

    def repositories(self, *, limit: int = 0) -> Iterator[str]:
        yield from self.repos

    def tags(self, repository: str) -> list[str]:
        if not self.repos[repository]:
            raise NotFoundError(repository, "no tags")
        return list(self.repos[repository])

    def manifest_exists(self, repository: str, tag: str) -> str | None:
        body = self.repos[repository].get(tag)
        return None if body is None or tag.startswith("gone") else sha(body)

    def manifest_body(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        body = self.bodies.get(reference) or self.extra.get(reference)
        if body is None:
            raise NotFoundError(reference, "not found")
        return body, self.media.get(reference, MEDIA_OCI_MANIFEST), reference


def walk(client: FakeClient, prefix: str = "") -> Inventory:
    return take_inventory(cast(RegistryClient, client), prefix)


def test_odd_answers_become_warnings_and_their_blobs_are_not_counted() -> None:
    good = manifest(1, 2, 3)
    absurd = manifest(4, 2**41)
    schema1 = json.dumps({"schemaVersion": 1, "fsLayers": []}).encode()
    missing_child = sha(b"child that is not there")
    index = json.dumps({"manifests": [{"digest": missing_child}]}).encode()
    bad_index = json.dumps({"manifests": [{"digest": "sha256:nothex"}]}).encode()
    client = FakeClient(
        {
            "a/good": {"1": good, "gone-2": manifest(9)},
            "a/odd": {"absurd": absurd, "schema1": schema1, "index": index, "bad": bad_index},
            "a/empty": {},
            "b/other": {"1": manifest(7)},
        },
        {sha(index): MEDIA_OCI_INDEX, sha(bad_index): MEDIA_OCI_INDEX},
    )
    inventory = walk(client, "a")
    assert [r.name for r in inventory.repositories] == ["a/empty", "a/good", "a/odd"]
    assert inventory.repositories[0].tags == []
    assert [t.tag for t in inventory.repositories[1].tags] == ["1"]  # gone-2 left out
    assert inventory.blobs == {sha(b"1"): 1, sha(b"2"): 2, sha(b"3"): 3, sha(b"4"): 4}
    text = "\n".join(inventory.warnings)
    assert "a/good:gone-2: listed but gone" in text
    assert "absurd size" in text
    assert "schema 1" in text
    assert f"{missing_child}: listed but not found" in text
    assert "invalid digest 'sha256:nothex'" in text


def test_a_blob_given_two_sizes_keeps_the_first_and_warns() -> None:
    first = json.dumps(
        {
            "config": {"digest": sha(b"c"), "size": 1},
            "layers": [{"digest": sha(b"l"), "size": 10}],
        }
    ).encode()
    second = json.dumps(
        {
            "config": {"digest": sha(b"c"), "size": 1},
            "layers": [{"digest": sha(b"l"), "size": 11}],
        }
    ).encode()
    inventory = walk(FakeClient({"r": {"1": first, "2": second}}, {}))
    assert inventory.blobs[sha(b"l")] == 10
    assert any("size 11, another manifest 10" in w for w in inventory.warnings)


def test_index_nested_too_deep_is_not_followed() -> None:
    leaf = manifest(1, 2)
    client = FakeClient({"r": {}}, {})
    body = leaf
    for _ in range(4):  # index -> index -> index -> index -> manifest
        client.extra[sha(body)] = body
        body = json.dumps({"manifests": [{"digest": sha(body)}]}).encode()
        client.media[sha(body)] = MEDIA_OCI_INDEX
    client.repos["r"] = {"deep": body}
    client.bodies[sha(body)] = body
    inventory = walk(client)
    assert inventory.blobs == {}
    assert any("nested too deep" in w for w in inventory.warnings)


def test_in_prefix_matches_whole_path_components() -> None:
    assert in_prefix("analyzers/semgrep", "analyzers")
    assert in_prefix("analyzers", "analyzers")
    assert in_prefix("anything", "")
    assert not in_prefix("analyzers-old/semgrep", "analyzers")


def test_write_inventory_into_an_unwritable_place_is_a_media_error(tmp_path: Path) -> None:
    inventory = Inventory("r.local:5000", "2026-11-29T12:00:00Z", [], {})
    with pytest.raises(MediaError) as info:
        write_inventory(inventory, tmp_path)  # a directory, not a file
    assert str(tmp_path) in str(info.value) and "--out" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # the .part is gone


def test_write_inventory_refuses_what_delta_from_could_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("airgap_tui.delta.inventory.MAX_INVENTORY_BYTES", 1000)
    blobs = {sha(str(i).encode()): i for i in range(100)}
    inventory = Inventory("r.local:5000", "2026-11-29T12:00:00Z", [], blobs)
    with pytest.raises(RegistryError) as info:
        write_inventory(inventory, tmp_path / "inv.json")
    assert "narrower path" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left


def test_default_path_is_safe_for_any_host() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 29, 12, tzinfo=UTC)
    path = default_inventory_path("registry.local:5000", when)
    assert path == Path("airgap-inventory-registry.local_5000-20261129T120000Z.json")
    assert default_inventory_path("[::1]:5000", when).name.startswith("airgap-inventory-___1__")
    assert "/" not in default_inventory_path("a/../../b", when).name
