"""Presence files (import receipts, inventories) read as hostile input, and delta planning."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.delta.delta import (
    MAX_PRESENCE_BYTES,
    BlobRef,
    Presence,
    PresenceError,
    load_presence,
    load_presences,
    merge_presence,
    plan_delta,
)
from airgap_tui.delta.inventory import Inventory, RepositoryEntry, TagEntry, write_inventory


def digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def receipt(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "airgap-tui import receipt",
        "registry": "registry.local:5000/analyzers",
        "bundle_fingerprint": "ab" * 32,
        "ok": True,
        "images": [
            {
                "name": "semgrep",
                "tag": "6",
                "target": "registry.local:5000/analyzers/semgrep:6",
                "status": "pushed",
                "ok": True,
                "source_digest": digest(100),
                "pushed_digest": digest(100),
                "digest_kept": True,
                "blobs": [{"digest": digest(1), "size": 10}, {"digest": digest(2), "size": 20}],
            },
            {
                "name": "gitleaks",
                "tag": "8",
                "target": "registry.local:5000/analyzers/gitleaks:8",
                "status": "pushed",
                "ok": True,
                "blobs": [{"digest": digest(1), "size": 10}, {"digest": digest(3), "size": 30}],
            },
        ],
    }
    data.update(over)
    return data


def inventory(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "airgap-tui registry inventory",
        "version": 1,
        "registry": "registry.local:5000",
        "taken": "2026-11-29T12:00:00Z",
        "repositories": [
            {"name": "analyzers/semgrep", "tags": [{"tag": "6", "digest": digest(100)}]}
        ],
        "blobs": [{"digest": digest(1), "size": 10}, {"digest": digest(4), "size": 40}],
    }
    data.update(over)
    return data


def write(tmp_path: Path, data: Any, name: str = "presence.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def refused(path: Path) -> str:
    with pytest.raises(PresenceError) as info:
        load_presence(path)
    message = str(info.value)
    assert str(path) in message  # every refusal names the file
    return message


# --- good files ---------------------------------------------------------------------------------


def test_receipt_gives_every_blob_of_every_image_and_its_fingerprint(tmp_path: Path) -> None:
    path = write(tmp_path, receipt())
    presence = load_presence(path)
    assert dict(presence.blobs) == {digest(1): 10, digest(2): 20, digest(3): 30}
    assert presence.kind == "receipt"
    assert presence.against == hashlib.sha256(path.read_bytes()).hexdigest()
    assert presence.host == "registry.local:5000"


def test_inventory_gives_its_blob_list(tmp_path: Path) -> None:
    presence = load_presence(write(tmp_path, inventory()))
    assert dict(presence.blobs) == {digest(1): 10, digest(4): 40}
    assert presence.kind == "inventory"


def test_inventory_written_by_write_inventory_reads_back(tmp_path: Path) -> None:
    inv = Inventory(
        registry="127.0.0.1:5000/analyzers",
        taken="2026-11-29T12:00:00Z",
        repositories=[
            RepositoryEntry("analyzers/a", [TagEntry("1", digest(9)), TagEntry("2", digest(9))]),
            RepositoryEntry("analyzers/empty", []),
        ],
        blobs={digest(i): i for i in range(3000)},
        warnings=["analyzers/a:3: listed but gone; left out"],
    )
    path = tmp_path / "inv.json"
    sha = write_inventory(inv, path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not (tmp_path / "inv.json.part").exists()
    presence = load_presence(path)
    assert dict(presence.blobs) == inv.blobs
    assert presence.against == sha
    data = json.loads(path.read_text())
    assert data["repositories"][1] == {"name": "analyzers/empty", "tags": []}
    assert len(path.read_text().splitlines()) > 3000  # one entry per line


def test_empty_inventory_writes_valid_json(tmp_path: Path) -> None:
    inv = Inventory(
        registry="r.local:5000", taken="2026-11-29T12:00:00Z", repositories=[], blobs={}
    )
    path = tmp_path / "inv.json"
    write_inventory(inv, path)
    assert dict(load_presence(path).blobs) == {}


# --- hostile files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"kind": NaN}', "not valid JSON"),
        ("[1, 2, 3]", "a list, not a JSON object"),
        ('"just a string"', "not a JSON object"),
        ("", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
    ],
    ids=["broken", "nan", "list", "string", "empty", "deep"],
)
def test_not_json_or_not_an_object_is_refused(tmp_path: Path, text: str, words: str) -> None:
    message = refused(write(tmp_path, text))
    assert words in message
    assert "airgap-tui inventory --registry" in message  # says what to do


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert "not UTF-8" in refused(path)


def test_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:
        handle.truncate(MAX_PRESENCE_BYTES + 1)  # sparse: costs no disk
    message = refused(path)
    assert "larger than 64 MiB" in message


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    assert "does not exist" in refused(tmp_path / "nope.json")
    assert "not a regular file" in refused(tmp_path)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    text = json.dumps(inventory())[:-1] + ', "blobs": []}'
    assert "appears twice" in refused(write(tmp_path, text))


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (None, "field kind: it is missing"),
        ("airgap-tui bundle", "neither"),
        (7, "neither"),
    ],
)
def test_unknown_kind_is_refused(tmp_path: Path, kind: Any, words: str) -> None:
    data = inventory()
    if kind is None:
        del data["kind"]
    else:
        data["kind"] = kind
    assert words in refused(write(tmp_path, data))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.pop("registry"), "field registry", "missing"),
        (lambda d: d.update(registry=5), "field registry", "an integer, not a string"),
        (lambda d: d.update(registry="bad host!/x"), "field registry", "not a host name"),
        (lambda d: d.pop("blobs"), "field blobs", "missing"),
        (lambda d: d.update(blobs={"a": 1}), "field blobs", "an object, not a list"),
        (lambda d: d.update(version=2), "field version", "reads version 1"),
        (lambda d: d.update(version="1"), "field version", "a string, not an integer"),
        (lambda d: d.update(version=True), "field version", "a boolean"),
        (lambda d: d.pop("taken"), "field taken", "missing"),
        (lambda d: d["blobs"].append("x"), "field blobs[2]", "a string, not an object"),
        (lambda d: d["blobs"][0].pop("size"), "field blobs[0].size", "missing"),
        (lambda d: d["blobs"][0].update(size=-1), "field blobs[0].size", "not a blob size"),
        (lambda d: d["blobs"][0].update(size=2**50), "field blobs[0].size", "not a blob size"),
        (lambda d: d["blobs"][0].update(size=1.5), "field blobs[0].size", "fraction"),
        (lambda d: d["blobs"][0].update(size="10"), "field blobs[0].size", "a string"),
        (lambda d: d["blobs"][0].update(size=None), "field blobs[0].size", "null"),
        (
            lambda d: d["blobs"][0].update(digest="sha256:" + "A" * 64),
            "field blobs[0].digest",
            "64 lowercase hex",
        ),
        (
            lambda d: d["blobs"][0].update(digest="sha512:" + "a" * 128),
            "field blobs[0].digest",
            "not a digest",
        ),
        (
            lambda d: d["blobs"][0].update(digest=digest(1) + "\n"),
            "field blobs[0].digest",
            "not a digest",
        ),
        (
            lambda d: d["blobs"][0].update(digest="sha256:" + "a" * 63),
            "field blobs[0].digest",
            "not a digest",
        ),
        (lambda d: d["blobs"].append(dict(d["blobs"][0])), "field blobs[2]", "listed twice"),
        (
            lambda d: d["blobs"].append({"digest": digest(1), "size": 11}),
            "field blobs[2]",
            "listed twice",
        ),
        (
            lambda d: d["repositories"].append(dict(d["repositories"][0])),
            "field repositories[1].name",
            "listed twice",
        ),
        (
            lambda d: d["repositories"][0].update(name="../../etc"),
            "field repositories[0].name",
            "not a valid repository name",
        ),
        (
            lambda d: d["repositories"][0]["tags"].append({"tag": "6", "digest": digest(5)}),
            "field repositories[0].tags[1].tag",
            "listed twice",
        ),
        (
            lambda d: d["repositories"][0]["tags"][0].update(tag="-x"),
            "field repositories[0].tags[0].tag",
            "a tag is",
        ),
        (
            lambda d: d["repositories"][0]["tags"][0].update(digest="latest"),
            "field repositories[0].tags[0].digest",
            "not a digest",
        ),
        (lambda d: d["repositories"][0].pop("tags"), "field repositories[0].tags", "missing"),
    ],
)
def test_hostile_inventory_fields_are_refused_naming_the_field(
    tmp_path: Path, change: Any, field: str, words: str
) -> None:
    data = inventory()
    change(data)
    message = refused(write(tmp_path, data))
    assert field in message and words in message
    assert "airgap-tui inventory --registry R --out FILE" in message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.pop("ok"), "field ok", "missing"),
        (lambda d: d.update(ok="yes"), "field ok", "a string, not a boolean"),
        (lambda d: d.pop("images"), "field images", "missing"),
        (lambda d: d.update(images=None), "field images", "null, not a list"),
        (lambda d: d["images"].append(3), "field images[2]", "an integer, not an object"),
        (lambda d: d["images"][0].update(name=["x"]), "field images[0].name", "a list"),
        (lambda d: d["images"][1].update(ok=False), "field images[1].ok", "edited"),
        (lambda d: d["images"][1].pop("ok"), "field images[1].ok", "missing"),
        (
            lambda d: d["images"][0]["blobs"].append(dict(d["images"][0]["blobs"][0])),
            "field images[0].blobs[2]",
            "listed twice",
        ),
        (
            lambda d: d["images"][1]["blobs"][0].update(size=11),
            "field images[1].blobs[0].size",
            "two sizes",
        ),
        (
            lambda d: d["images"][1]["blobs"][1].update(digest="sha256:zz"),
            "field images[1].blobs[1].digest",
            "not a digest",
        ),
    ],
)
def test_hostile_receipt_fields_are_refused_naming_the_field(
    tmp_path: Path, change: Any, field: str, words: str
) -> None:
    data = receipt()
    change(data)
    message = refused(write(tmp_path, data))
    assert field in message and words in message


def test_receipt_counts_no_blob_of_an_image_the_docker_route_skipped(tmp_path: Path) -> None:
    data = receipt()
    data["images"].append(
        {
            "name": "trivy-java-db",
            "tag": "1",
            "status": "skipped",
            "ok": False,
            "blobs": None,
        }
    )
    presence = load_presence(write(tmp_path, data))
    assert dict(presence.blobs) == {digest(1): 10, digest(2): 20, digest(3): 30}


def test_receipt_of_a_failed_import_is_refused(tmp_path: Path) -> None:
    data = receipt(ok=False)
    data["images"][1].update(ok=False, status="failed", blobs=[])
    message = refused(write(tmp_path, data))
    assert "did not finish" in message
    assert "Run the import again" in message and "airgap-tui inventory" in message


def test_receipt_without_blob_lists_is_from_an_older_version(tmp_path: Path) -> None:
    data = receipt()
    for image in data["images"]:
        del image["blobs"]
    message = refused(write(tmp_path, data))
    assert "field images[0].blobs" in message and "older than bundle format 2" in message


# --- several files ------------------------------------------------------------------------------


def test_several_files_merge_into_one_presence(tmp_path: Path) -> None:
    a = write(tmp_path, receipt(), "a.json")
    b = write(tmp_path, inventory(), "b.json")
    presence = load_presences([a, b, a])  # the same file twice counts once
    assert dict(presence.blobs) == {digest(1): 10, digest(2): 20, digest(3): 30, digest(4): 40}
    assert presence.kind == "mixed"
    shas = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b))
    expected = hashlib.sha256(
        ("airgap-tui delta against\n" + "\n".join(shas) + "\n").encode()
    ).hexdigest()
    assert presence.against == expected
    assert len(presence.sources) == 2
    same_kind = load_presences([b, write(tmp_path, inventory(taken="later"), "c.json")])
    assert same_kind.kind == "inventory"


def test_files_of_different_registries_do_not_merge(tmp_path: Path) -> None:
    a = write(tmp_path, receipt(), "a.json")
    b = write(tmp_path, inventory(registry="other.local:5000"), "b.json")
    with pytest.raises(PresenceError) as info:
        load_presences([a, b])
    assert "different registries" in str(info.value)
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_files_that_disagree_on_a_size_do_not_merge(tmp_path: Path) -> None:
    a = write(tmp_path, receipt(), "a.json")
    data = inventory()
    data["blobs"][0]["size"] = 99
    b = write(tmp_path, data, "b.json")
    with pytest.raises(PresenceError) as info:
        load_presences([a, b])
    assert "two sizes (10 and 99)" in str(info.value)


def test_merge_needs_a_presence() -> None:
    with pytest.raises(ValueError):
        merge_presence([])


# --- planning -----------------------------------------------------------------------------------


def presence_of(blobs: dict[str, int]) -> Presence:
    from airgap_tui.delta.delta import PresenceSource

    source = PresenceSource(
        Path("inv.json"), "inventory", "cd" * 32, "r.local:5000", "r.local:5000"
    )
    return Presence(blobs, (source,))


def test_plan_carries_manifests_configs_and_absent_layers_only() -> None:
    manifest, config, base, app, new = (
        BlobRef(digest(i), s) for i, s in enumerate([5, 7, 1000, 300, 50])
    )
    presence = presence_of(
        {manifest.digest: 5, config.digest: 7, base.digest: 1000, app.digest: 300}
    )
    plan = plan_delta(
        [manifest, config, base, app, new], presence, always_carry={manifest.digest, config.digest}
    )
    assert plan.carry == (manifest, config, new)
    assert plan.expected == (base, app)
    assert plan.full_bytes == 1362 and plan.delta_bytes == 62 and plan.saved_bytes == 1300
    assert plan.against == "cd" * 32 and plan.kind == "inventory"
    assert plan.manifest_field() == {
        "against": "cd" * 32,
        "kind": "inventory",
        "expected": [{"digest": base.digest, "size": 1000}, {"digest": app.digest, "size": 300}],
    }


def test_plan_counts_a_shared_blob_once_and_keeps_tar_order() -> None:
    base, a, b = BlobRef(digest(1), 100), BlobRef(digest(2), 10), BlobRef(digest(3), 20)
    plan = plan_delta([a, base, b, base], presence_of({base.digest: 100}), always_carry=set())
    assert plan.carry == (a, b) and plan.expected == (base,)
    assert plan.full_bytes == 130 and plan.delta_bytes == 30


def test_plan_carries_a_layer_whose_recorded_size_differs() -> None:
    layer = BlobRef(digest(1), 100)
    plan = plan_delta([layer], presence_of({layer.digest: 99}), always_carry=set())
    assert plan.carry == (layer,) and plan.expected == ()


def test_plan_against_nothing_present_is_the_full_bundle() -> None:
    blobs = [BlobRef(digest(i), i * 10) for i in range(1, 6)]
    plan = plan_delta(blobs, presence_of({}), always_carry=set())
    assert plan.carry == tuple(blobs) and plan.expected == ()
    assert plan.delta_bytes == plan.full_bytes == 150


def test_plan_refuses_a_blob_with_two_sizes() -> None:
    with pytest.raises(ValueError):
        plan_delta(
            [BlobRef(digest(1), 1), BlobRef(digest(1), 2)], presence_of({}), always_carry=set()
        )


def test_needed_blobs_pairs_each_image_with_the_expected_blobs_it_uses() -> None:
    from airgap_tui.delta.check import NeededBlobs, needed_blobs

    base, shared, other = BlobRef(digest(1), 100), BlobRef(digest(2), 20), BlobRef(digest(3), 5)
    images = [
        ("semgrep:6", "analyzers/semgrep", [digest(10), base.digest, shared.digest]),
        ("gitleaks:8", "analyzers/gitleaks", [digest(11), base.digest, base.digest]),
        ("kics:5", "analyzers/kics", [digest(12)]),  # everything it needs is in the bundle
    ]
    assert needed_blobs(images, [base, shared, other]) == [
        NeededBlobs("semgrep:6", "analyzers/semgrep", (base, shared)),
        NeededBlobs("gitleaks:8", "analyzers/gitleaks", (base,)),
    ]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["inventory", "--registry", "bad host!"], "not a host name"),
        (["inventory", "--registry", "r.local:5000", "--password-stdin"], "needs --username"),
    ],
)
def test_inventory_command_refuses_bad_input_with_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    from airgap_tui.cli.commands import main

    assert main(argv) == 2
    assert words in capsys.readouterr().err
