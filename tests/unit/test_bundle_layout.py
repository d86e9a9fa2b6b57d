"""The planned tar: contract order, offsets, headers, metadata files; same input, same bytes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from airgap_tui.bundle.layout import (
    CarriedManifest,
    Descriptor,
    ResolvedImage,
    entry_bytes,
    plan_layout,
    tar_header,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def blob(data: bytes, media_type: str) -> tuple[Descriptor, bytes]:
    return Descriptor("sha256:" + hashlib.sha256(data).hexdigest(), len(data), media_type), data


LAYERS = {name: blob(name.encode() * 300, GZIP) for name in ("base", "a", "b")}
LAYERS["z"] = blob(b"zstd" * 700, ZSTD)


def image(name: str, layers: list[str], config_type: str = OCI_CONFIG) -> ResolvedImage:
    config, config_data = blob(json.dumps({"name": name}).encode(), config_type)
    body = json.dumps({"layers": layers, "config": config.digest}).encode()
    manifest = CarriedManifest(
        Descriptor("sha256:" + hashlib.sha256(body).hexdigest(), len(body), OCI_MANIFEST),
        body,
        config,
        tuple(LAYERS[n][0] for n in layers),
        "linux/amd64",
    )
    return ResolvedImage(
        name=name,
        tag="1",
        source_ref=f"registry.example/sec/{name}:1",
        api_host="registry.example",
        repository=f"sec/{name}",
        manifests=(manifest,),
        configs={config.digest: config_data},
    )


def build(images: list[ResolvedImage]) -> bytes:
    """The whole tar, with layer bytes filled in from LAYERS (what the export downloads)."""
    layout = plan_layout(images)
    by_digest = {d.digest: data for d, data in LAYERS.values()}
    out = bytearray()
    for entry in layout.entries:
        assert len(out) == entry.header_offset
        if entry.data is not None:
            out += b"".join(entry_bytes(entry))
        else:
            assert entry.blob is not None
            out += entry.header() + by_digest[entry.blob.digest]
            out += bytes(-entry.size % 512)
    out += bytes(1024)
    assert len(out) == layout.total
    return bytes(out)


SET = [
    image("semgrep", ["base", "a"]),
    image("kics", ["base", "z"]),
    image("secrets", ["base", "b"]),
]


def test_order_offsets_and_each_blob_once() -> None:
    layout = plan_layout(SET)
    data = build(SET)
    names = [e.name for e in layout.entries]
    assert names[:3] == ["oci-layout", "index.json", "manifest.json"]
    assert len(names) == len(set(names))
    # first use order: manifest, config, layers of semgrep; then kics' new ones; …
    semgrep = SET[0].manifests[0]
    assert [b.digest for b in layout.blobs[:4]] == [
        semgrep.descriptor.digest,
        semgrep.config.digest,
        LAYERS["base"][0].digest,
        LAYERS["a"][0].digest,
    ]
    for b in layout.blobs:
        assert b.offset % 512 == 0
        assert "sha256:" + hashlib.sha256(data[b.offset : b.offset + b.size]).hexdigest() == (
            b.digest
        )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == names
        assert {(m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {
            (0o644, 0, 0, 0, "", "")
        }
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    refs = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert refs == ["semgrep:1", "kics:1", "secrets:1"]
    # manifest.json: the zstd image last (Engine 20.10 stops at it), paths into blobs/sha256
    assert [m["RepoTags"] for m in manifest] == [
        ["registry.example/sec/semgrep:1"],
        ["registry.example/sec/secrets:1"],
        ["registry.example/sec/kics:1"],
    ]
    assert manifest[0]["Layers"][0] == "blobs/sha256/" + LAYERS["base"][0].digest[7:]
    assert tar_bytes_are_compact(data)


def tar_bytes_are_compact(data: bytes) -> bool:
    """No directory entries and nothing after the two zero blocks."""
    return data.endswith(bytes(1024)) and b"blobs/sha256/\x00" not in data


def test_same_selection_same_bytes_and_key() -> None:
    assert build(SET) == build(list(SET))
    assert plan_layout(SET).key(1 << 20) == plan_layout(list(SET)).key(1 << 20)
    assert plan_layout(SET).key(1 << 20) != plan_layout(SET).key(2 << 20)
    assert plan_layout(SET).key(1 << 20) != plan_layout(SET[:2]).key(1 << 20)


def test_artifacts_are_carried_but_not_in_manifest_json() -> None:
    artifact = image(
        "trivy-java-db", ["b"], config_type="application/vnd.aquasec.trivy.config.v1+json"
    )
    layout = plan_layout([SET[0], artifact])
    assert [i.kind for i in layout.images] == ["image", "artifact"]
    assert layout.images[1].platform is None
    data = build([SET[0], artifact])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert len(manifest) == 1 and len(index["manifests"]) == 2


def test_a_blob_over_8_gib_gets_a_size_field_tar_readers_accept() -> None:
    header = tar_header("blobs/sha256/" + "a" * 64, 9 << 30)
    assert len(header) == 512
    info = tarfile.TarInfo.frombuf(header, "ascii", "strict")
    assert info.size == 9 << 30 and info.name == "blobs/sha256/" + "a" * 64
    small = tar_header("oci-layout", 30)
    assert small[257:265] == b"ustar\x0000"  # ustar, as the contract says, below 8 GiB
    assert tarfile.TarInfo.frombuf(small, "ascii", "strict").size == 30


def test_a_delta_leaves_out_the_given_layers_and_empties_manifest_json() -> None:
    """Configs and manifests stay; only layers in `leave_out` go; no engine may load it."""
    gone = {LAYERS["base"][0].digest, LAYERS["a"][0].digest}
    full = plan_layout(SET)
    delta = plan_layout(SET, leave_out=gone, delta=True)
    carried = {b.digest for b in delta.blobs}
    assert carried == {b.digest for b in full.blobs} - gone
    assert [i.to_dict() for i in delta.images] == [i.to_dict() for i in full.images]
    assert delta.total < full.total
    manifest_json = next(e for e in delta.entries if e.name == "manifest.json")
    assert manifest_json.data == b"[]"
    # same images and blobs, another manifest.json: a resume must not mix them up
    # (a small manifest.json fills the same 512-byte block as "[]": offsets can be equal)
    one = [image("solo", ["b"])]
    solo_full, solo_delta = plan_layout(one), plan_layout(one, delta=True)
    assert solo_delta.blobs == solo_full.blobs
    assert solo_delta.key(1 << 20) != solo_full.key(1 << 20)
    # leave_out without delta changes nothing (a full bundle carries everything)
    assert plan_layout(SET, leave_out=gone).blobs == full.blobs
