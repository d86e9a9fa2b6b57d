"""bundle.yaml format 2: model, fingerprint, hostile input; blob reads across part ends."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from airgap_tui.bundle.manifest import (
    MANIFEST_NAME,
    BundleBlob,
    BundleImage,
    BundleManifest,
    BundlePart,
    Delta,
    ExpectedBlob,
    ToolFile,
    manifest_yaml,
    write_manifest,
)
from airgap_tui.bundle.reader import PartsReader, open_blob
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.errors import BundleError

MiB = 1 << 20


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Fixture:
    """Two parts of 1 MiB + a tail, blobs placed so one straddles the part boundary."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        rng = __import__("random").Random(7)
        self.data = bytearray(rng.randbytes(2 * MiB + 4096))
        self.blob_bytes = {
            "manifest": (1024, b'{"schemaVersion":2}'),
            "config": (2048, b'{"os":"linux","architecture":"amd64"}'),
            "straddle": (MiB - 1024, rng.randbytes(300_000)),  # crosses the end of part 0
            "tail": (2 * MiB + 512, rng.randbytes(3000)),  # in the last part
        }
        for offset, content in self.blob_bytes.values():
            self.data[offset : offset + len(content)] = content
        sizes = [MiB, MiB, len(self.data) - 2 * MiB]
        self.parts: list[BundlePart] = []
        start = 0
        for index, size in enumerate(sizes):
            chunk = bytes(self.data[start : start + size])
            name = f"images.tar.{index:03d}"
            (directory / name).write_bytes(chunk)
            self.parts.append(BundlePart(name, size, hashlib.sha256(chunk).hexdigest()))
            start += size
        types = {
            "manifest": "application/vnd.oci.image.manifest.v1+json",
            "config": "application/vnd.oci.image.config.v1+json",
            "straddle": "application/vnd.oci.image.layer.v1.tar+gzip",
            "tail": "application/vnd.oci.image.layer.v1.tar+zstd",
        }
        self.blobs = [
            BundleBlob(digest_of(content), len(content), types[key], offset)
            for key, (offset, content) in self.blob_bytes.items()
        ]
        self.digests = {key: digest_of(content) for key, (_o, content) in self.blob_bytes.items()}

    def manifest(self, **changes: Any) -> BundleManifest:
        fields: dict[str, Any] = {
            "source_prefix": "registry.gitlab.com/security-products",
            "gitlab_major": 18,
            "platforms": ["linux/amd64"],
            "images": [
                BundleImage(
                    name="semgrep",
                    tag="6",
                    analyzer="semgrep",
                    source_ref="registry.gitlab.com/security-products/semgrep:6",
                    digest=self.digests["manifest"],
                    media_type="application/vnd.oci.image.manifest.v1+json",
                    platform="linux/amd64",
                    blobs=[self.digests["config"], self.digests["straddle"], self.digests["tail"]],
                )
            ],
            "blobs": self.blobs,
            "parts": self.parts,
        }
        fields.update(changes)
        return BundleManifest(**fields)


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path)


def write_raw(directory: Path, data: object) -> None:
    (directory / MANIFEST_NAME).write_text(yaml.safe_dump(data, sort_keys=False))


def good_dict(fx: Fixture) -> dict[str, Any]:
    loaded = yaml.safe_load(manifest_yaml(fx.manifest()))
    assert isinstance(loaded, dict)
    return loaded


# --------------------------------------------------------------------------- model


def test_round_trip_keeps_every_field_and_the_fingerprint(fx: Fixture) -> None:
    manifest = fx.manifest(
        tool=ToolFile("airgap-tui.pyz", 4321, "a" * 64),
        delta=Delta("b" * 64, "receipt", [ExpectedBlob("sha256:" + "c" * 64, 9)]),
    )
    write_manifest(fx.directory, manifest)
    again = read_manifest(fx.directory)
    assert again == manifest
    assert again.fingerprint == manifest.fingerprint
    text = (fx.directory / MANIFEST_NAME).read_text()
    assert text.startswith('{\n  "format_version": 2,\n  "tool_version": ')
    assert f'"fingerprint": "{manifest.fingerprint}"' in text
    assert text.isascii() and yaml.safe_load(text) == json.loads(text)  # JSON: any YAML reader


def test_a_delta_made_against_receipts_and_inventories_together_is_read(fx: Fixture) -> None:
    """`kind: mixed` is what airgap_tui.delta.delta.Presence.kind gives for several files."""
    manifest = fx.manifest(
        delta=Delta("d" * 64, "mixed", [ExpectedBlob("sha256:" + "e" * 64, 12)]),
    )
    write_manifest(fx.directory, manifest)
    again = read_manifest(fx.directory)
    assert again.delta is not None and again.delta.kind == "mixed"
    assert again.fingerprint == manifest.fingerprint


def test_fingerprint_ignores_creation_time_and_tool_version_but_covers_the_rest(
    fx: Fixture,
) -> None:
    base = fx.manifest()
    assert fx.manifest(created="2020-01-01T00:00:00Z", tool_version="9").fingerprint == (
        base.fingerprint
    )
    moved = [*fx.blobs[:-1], BundleBlob(fx.blobs[-1].digest, fx.blobs[-1].size, "x/y", 2 * MiB)]
    other_part = [*fx.parts[:-1], BundlePart(fx.parts[-1].file, fx.parts[-1].size, "0" * 64)]
    changes: list[dict[str, Any]] = [
        {"platforms": ["linux/arm64"]},
        {"blobs": moved},
        {"parts": other_part},
        {"tool": ToolFile("airgap-tui.pyz", 1, "a" * 64)},
        {"gitlab_major": 17},
    ]
    for change in changes:
        assert fx.manifest(**change).fingerprint != base.fingerprint, change


def test_format_1_is_refused_with_the_next_step(fx: Fixture) -> None:
    write_raw(fx.directory, {"format_version": 1, "platform": "linux/amd64", "images": []})
    with pytest.raises(BundleError) as err:
        read_manifest(fx.directory)
    text = str(err.value)
    assert "made by an older airgap-tui" in text
    assert "Export again with this version" in text


def test_newer_format_is_refused(fx: Fixture) -> None:
    data = good_dict(fx)
    data["format_version"] = 3
    write_raw(fx.directory, data)
    with pytest.raises(BundleError, match="newer airgap-tui"):
        read_manifest(fx.directory)


def test_edited_manifest_fails_the_fingerprint(fx: Fixture) -> None:
    data = good_dict(fx)
    data["images"][0]["tag"] = "7"
    write_raw(fx.directory, data)
    with pytest.raises(BundleError, match="fingerprint"):
        read_manifest(fx.directory)


def _set(data: dict[str, Any], path: str, value: object) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    target: Any = data
    for key in keys[:-1]:
        target = target[key]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


HEX = "d" * 64


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("images.0.name", "../../etc", "images[0]"),
        ("images.0.name", "/abs/path", "images[0]"),
        ("images.0.tag", "-bad", "images[0]"),
        ("images.0.source_ref", "not a ref", "images[0]"),
        ("images.0.kind", "executable", "images[0].kind"),
        ("images.0.digest", "sha256:abc", "images[0].digest"),
        ("images.0.digest", "sha256:" + HEX, "images[0].digest"),  # not in the blobs
        ("images.0.blobs.0", "sha256:" + HEX, "images[0].blobs"),
        ("images.0.manifests", ["sha256:" + HEX], "images[0].manifests"),
        ("images.0.platform", "linux/amd64; rm -rf /", "images[0].platform"),
        ("images.0.media_type", "../x", "images[0].media_type"),
        ("images.0.analyzer", "a/b", "images[0].analyzer"),
        ("images.0.extra", 1, "images[0].extra"),
        ("images.0.kind", KeyError, "images[0].kind"),
        ("blobs.0.digest", "sha512:" + HEX, "blobs[0].digest"),
        ("blobs.0.offset", 1000, "blobs[0].offset"),  # not on a tar block
        ("blobs.1.offset", 1024, "blobs[1].offset"),  # overlaps the blob before
        ("blobs.3.size", 10**9, "blobs[3]"),  # past the end of the parts
        ("blobs.0.size", -1, "blobs[0].size"),
        ("blobs.0.size", True, "blobs[0].size"),
        ("blobs", [], "blobs"),
        ("parts.0.file", "../images.tar.000", "parts[0].file"),
        ("parts.0.file", "/etc/passwd", "parts[0].file"),
        ("parts.0.file", "bundle.yaml", "parts[0].file"),
        ("parts.0.file", "x.part", "parts[0].file"),
        ("parts.0.sha256", "XYZ", "parts[0].sha256"),
        ("parts.0.size", 5 << 30, "parts[0].size"),
        ("parts.0.size", 1000, "parts[0].size"),  # a small part that is not the last
        ("parts", [], "parts"),
        ("platforms", [], "platforms"),
        ("platforms", ["Linux AMD64"], "platforms[0]"),
        ("tool", {"file": "../tool.pyz", "size": 1, "sha256": HEX}, "tool.file"),
        ("delta", {"against": HEX, "kind": "guess", "expected": []}, "delta.kind"),
        ("created", "yesterday", "created"),
        ("gitlab_major", "18", "gitlab_major"),
        ("source_prefix", "registry.example/../x y", "source_prefix"),
    ],
)
def test_hostile_fields_are_named(fx: Fixture, path: str, value: object, expected: str) -> None:
    data = copy.deepcopy(good_dict(fx))
    _set(data, path, value)
    write_raw(fx.directory, data)
    with pytest.raises(BundleError) as err:
        read_manifest(fx.directory)
    assert expected in str(err.value)


def test_yaml_aliases_and_non_mappings_are_refused(fx: Fixture) -> None:
    (fx.directory / MANIFEST_NAME).write_text("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(BundleError, match="aliases"):
        read_manifest(fx.directory)
    (fx.directory / MANIFEST_NAME).write_text("- just\n- a list\n")
    with pytest.raises(BundleError, match="not a bundle manifest"):
        read_manifest(fx.directory)
    (fx.directory / MANIFEST_NAME).write_bytes(b"\xff\xfe: [")
    with pytest.raises(BundleError, match="not valid YAML"):
        read_manifest(fx.directory)


def test_symlinked_or_huge_manifest_is_refused(fx: Fixture, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_bytes(manifest_yaml(fx.manifest()))
    (fx.directory / MANIFEST_NAME).symlink_to(elsewhere)
    with pytest.raises(BundleError, match="symbolic link"):
        read_manifest(fx.directory)
    (fx.directory / MANIFEST_NAME).unlink()
    with open(fx.directory / MANIFEST_NAME, "wb") as f:
        f.truncate(9 << 20)
    with pytest.raises(BundleError, match="larger than"):
        read_manifest(fx.directory)


def test_missing_manifest_says_the_export_did_not_finish(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="writes bundle.yaml last"):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------- blob reads


def test_every_blob_reads_back_exactly_including_one_across_a_part_end(fx: Fixture) -> None:
    manifest = fx.manifest()
    for key, (_offset, content) in fx.blob_bytes.items():
        chunks = list(open_blob(fx.directory, manifest, fx.digests[key], chunk_size=64 * 1024))
        assert b"".join(chunks) == content
        assert max(len(c) for c in chunks) <= 64 * 1024  # bounded memory per stream
    # the straddling blob really came from two parts
    straddle = manifest.blob(fx.digests["straddle"])
    assert straddle.offset < MiB < straddle.offset + straddle.size


def test_reader_is_shared_by_threads(fx: Fixture) -> None:
    from concurrent.futures import ThreadPoolExecutor

    manifest = fx.manifest()
    with PartsReader(fx.directory, manifest.parts) as reader:
        with ThreadPoolExecutor(4) as pool:
            results = list(
                pool.map(lambda b: b"".join(reader.blob(b, chunk_size=4096)), manifest.blobs * 3)
            )
    assert results == [content for _o, content in fx.blob_bytes.values()] * 3


def test_damaged_blob_bytes_raise_with_the_digest(fx: Fixture) -> None:
    manifest = fx.manifest()
    path = fx.directory / "images.tar.001"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # inside the straddling blob's second half
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError) as err:
        b"".join(open_blob(fx.directory, manifest, fx.digests["straddle"]))
    assert fx.digests["straddle"] in str(err.value) and "got sha256:" in str(err.value)


def test_unknown_digest_and_bad_parts_are_refused(fx: Fixture, tmp_path: Path) -> None:
    manifest = fx.manifest()
    with pytest.raises(BundleError, match="does not hold it"):
        list(open_blob(fx.directory, manifest, "sha256:" + HEX))
    part = fx.directory / "images.tar.002"
    part.rename(tmp_path / "moved")
    part.symlink_to(tmp_path / "moved")
    with pytest.raises(BundleError, match="symbolic link"):
        list(open_blob(fx.directory, manifest, fx.digests["tail"]))
    part.unlink()
    (tmp_path / "moved").rename(part)
    with open(part, "r+b") as f:
        f.truncate(100)
    with pytest.raises(BundleError, match="truncated"):
        list(open_blob(fx.directory, manifest, fx.digests["tail"]))


def test_reads_outside_the_parts_are_refused(fx: Fixture) -> None:
    with PartsReader(fx.directory, fx.parts) as reader:
        with pytest.raises(BundleError, match="outside its parts"):
            list(reader.read_range(2 * MiB, 10 * MiB))
        assert b"".join(reader.read_range(MiB - 3, 6)) == bytes(fx.data[MiB - 3 : MiB + 3])


def test_small_blob_limit(fx: Fixture) -> None:
    manifest = fx.manifest()
    with PartsReader(fx.directory, manifest.parts) as reader:
        assert reader.read_blob(manifest.blob(fx.digests["config"]), 1024).startswith(b'{"os"')
        with pytest.raises(BundleError, match="more than"):
            reader.read_blob(manifest.blob(fx.digests["straddle"]), 1024)


def test_reader_leaves_no_fd_open(fx: Fixture) -> None:
    before = len(os.listdir("/proc/self/fd"))
    manifest = fx.manifest()
    for digest in fx.digests.values():
        b"".join(open_blob(fx.directory, manifest, digest))
    assert len(os.listdir("/proc/self/fd")) == before


def test_an_image_or_part_listed_twice_is_refused(fx: Fixture) -> None:
    data = good_dict(fx)
    data["images"].append(copy.deepcopy(data["images"][0]))
    write_raw(fx.directory, data)
    with pytest.raises(BundleError, match="semgrep:6 is listed twice"):
        read_manifest(fx.directory)
    data = good_dict(fx)
    data["parts"][1]["file"] = data["parts"][0]["file"]
    write_raw(fx.directory, data)
    with pytest.raises(BundleError, match="a part file is listed twice"):
        read_manifest(fx.directory)
