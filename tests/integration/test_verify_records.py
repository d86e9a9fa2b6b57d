"""verify checks the tar's own records against bundle.yaml (issue 20): a bundle re-sealed
around a changed index.json, manifest.json or tar header passes the part hashes, yet verify
names the record that disagrees, and import pushes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airgap_tui.bundle.layout import blob_path
from airgap_tui.bundle.manifest import BundleManifest
from airgap_tui.bundle.verify import verify_bundle
from airgap_tui.importer.run import ImportRequest, import_bundle
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.import_support import write_bundle
from tests.integration.trust_support import reseal

MakeRegistry = Callable[..., RegistryHandle]


@pytest.fixture
def bundle(native_upstream: NativeUpstream, tmp_path: Path) -> tuple[Path, BundleManifest]:
    out = tmp_path / "bundle"
    return out, write_bundle(native_upstream, out, names=["semgrep", "secrets"])


def _replace_in_parts(out: Path, manifest: BundleManifest, old: bytes, new: bytes) -> None:
    """Same length, first occurrence in the concatenated parts (metadata is in part 0)."""
    assert len(old) == len(new)
    path = out / manifest.parts[0].file
    data = path.read_bytes()
    assert old in data, old
    path.write_bytes(data.replace(old, new, 1))


def test_records_of_a_genuine_bundle_agree(bundle: tuple[Path, BundleManifest]) -> None:
    out, _manifest = bundle
    report = verify_bundle(out)
    assert report.ok, report.problems


@pytest.mark.parametrize(
    ("old", "new", "file", "words"),
    [
        (b'"io.containerd.image.name":"', b'"io.containerd.image.namE":"', "index.json", "names"),
        (b'"RepoTags":["', b'"RepoTagz":["', "manifest.json", "names no image"),
        (b"manifest.json\x00", b"manifest.jsoN\x00", "the tar in the parts", "starts with"),
    ],
    ids=["index.json", "manifest.json", "tar header"],
)
def test_a_record_changed_and_resealed_is_named_and_nothing_is_pushed(
    bundle: tuple[Path, BundleManifest],
    registry_factory: MakeRegistry,
    tmp_path: Path,
    old: bytes,
    new: bytes,
    file: str,
    words: str,
) -> None:
    out, manifest = bundle
    _replace_in_parts(out, manifest, old, new)
    if file == "the tar in the parts":  # keep the header checksum right, as an attacker would
        _fix_header_checksum(out, manifest, new)
    reseal(out, manifest)

    report = verify_bundle(out)
    assert not report.ok
    [problem] = report.problems
    assert problem.file == file and words in problem.message and "Do not import" in problem.message

    handle = registry_factory("offline")
    result = import_bundle(
        ImportRequest(bundle_dir=out, registry=handle.host, receipt_dir=tmp_path)
    )
    assert not result.ok and not result.verified
    assert all(not image.ok for image in result.images)


def _fix_header_checksum(out: Path, manifest: BundleManifest, name: bytes) -> None:
    path = out / manifest.parts[0].file
    data = bytearray(path.read_bytes())
    start = data.index(name)
    header = data[start : start + 512]
    header[148:156] = b" " * 8
    checksum = sum(header)
    header[148:156] = b"%06o\x00 " % checksum
    data[start : start + 512] = header
    path.write_bytes(bytes(data))


def test_a_tar_member_bundle_yaml_does_not_list_is_named(
    bundle: tuple[Path, BundleManifest],
) -> None:
    """A layer's tar member renamed (checksum fixed): docker load would read another file."""
    out, manifest = bundle
    layer = manifest.images[0].blobs[0]  # the config: its header is in the first part
    name = blob_path(layer).encode() + b"\x00"
    renamed = name[:-2] + (b"0" if name[-2:-1] != b"0" else b"1") + b"\x00"
    _replace_in_parts(out, manifest, name, renamed)
    _fix_header_checksum(out, manifest, renamed)
    reseal(out, manifest)
    report = verify_bundle(out)
    assert not report.ok
    assert "is not a blob bundle.yaml lists" in report.problems[0].message
