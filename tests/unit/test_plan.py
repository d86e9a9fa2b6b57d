"""plan: the selection, the source and the destination rules both fronts apply."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.manifest import (
    BundleBlob,
    BundleImage,
    BundleManifest,
    BundlePart,
    write_manifest,
)
from airgap_tui.bundle.media import FAT32_MAX_FILE_SIZE
from airgap_tui.catalog.load import load_catalog
from airgap_tui.errors import MediaError, UsageError
from airgap_tui.export.plan import (
    plan_destination,
    resolve_selection,
    validate_platform,
    validate_source_prefix,
)
from airgap_tui.models import ImageSpec

MIRROR = "harbor.example.com:8443/gitlab/security-products"


def specs(*names: str) -> list[ImageSpec]:
    return resolve_selection(load_catalog(), names, 18, MIRROR)


def test_selection_keeps_the_order_given_and_each_image_once() -> None:
    chosen = specs("secrets", "semgrep", "secrets", "semgrep:6", "registry.example.com/t/x:1")
    labels = [s.label for s in chosen]
    assert labels[0].startswith("secrets:") and labels[1].startswith("semgrep:")
    assert len(labels) == len(set(labels))
    assert str(chosen[0].source).startswith(MIRROR + "/")
    assert chosen[-1].label == "t/x:1"


def test_an_empty_selection_and_an_unknown_name_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no images were chosen"):
        resolve_selection(load_catalog(), [], 18, MIRROR)
    with pytest.raises(UsageError):
        specs("no-such-analyzer")


def test_source_prefix_rules() -> None:
    assert validate_source_prefix(f" {MIRROR}/ ") == MIRROR
    assert validate_source_prefix("localhost:5000") == "localhost:5000"
    with pytest.raises(UsageError, match="does not look like a registry host"):
        validate_source_prefix("security-products")
    with pytest.raises(UsageError):
        validate_source_prefix("bad host:99999/x")
    assert validate_platform("linux/arm64") == "linux/arm64"
    with pytest.raises(UsageError, match="os/arch"):
        validate_platform("amd64")


def _bundle(directory: Path, images: list[tuple[str, str]]) -> BundleManifest:
    """A format 2 bundle.yaml over one 1000-byte part: one manifest blob per image."""
    directory.mkdir(parents=True, exist_ok=True)
    data = b"x" * 1000
    (directory / "images.tar.000").write_bytes(data)
    digests = ["sha256:" + hashlib.sha256(f"{n}:{t}".encode()).hexdigest() for n, t in images]
    manifest = BundleManifest(
        source_prefix=MIRROR,
        gitlab_major=18,
        platforms=["linux/amd64"],
        images=[
            BundleImage(
                name=n,
                tag=t,
                source_ref=f"{MIRROR}/{n}:{t}",
                digest=digest,
                media_type="application/vnd.oci.image.manifest.v1+json",
                platform="linux/amd64",
            )
            for (n, t), digest in zip(images, digests, strict=True)
        ],
        blobs=[
            BundleBlob(digest, 10, "application/vnd.oci.image.manifest.v1+json", 512 + 1024 * i)
            for i, digest in enumerate(digests)
        ],
        parts=[BundlePart("images.tar.000", len(data), hashlib.sha256(data).hexdigest())],
    )
    write_manifest(directory, manifest)
    return manifest


def test_a_bundle_this_version_cannot_read_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text("format_version: 1\nimages: []\n")
    plan = plan_destination(tmp_path, 10, specs("semgrep:6"), 1024**3)
    assert not plan.usable and plan.unreadable is not None
    refusal = plan.refusal()
    assert isinstance(refusal, UsageError)
    assert "already holds a bundle this airgap-tui cannot read" in refusal.sentence()


def test_an_empty_directory_fits_and_the_part_size_is_clamped(tmp_path: Path) -> None:
    plan = plan_destination(tmp_path / "new" / "bundle", 10_000, specs("semgrep"), 8 * 1024**3)
    assert plan.usable and plan.refusal() is None and not plan.resumes
    assert plan.info.needed == 10_000 and plan.reusable == 0
    assert plan.part_size == FAT32_MAX_FILE_SIZE
    assert plan.part_size_note is not None and "4 GiB" in plan.part_size_note


def test_a_bundle_of_other_images_is_never_overwritten(tmp_path: Path) -> None:
    _bundle(tmp_path, [("secrets", "7")])
    plan = plan_destination(tmp_path, 10, specs("semgrep:6"), 1024**3)
    assert plan.other_images and not plan.usable and not plan.resumes
    refusal = plan.refusal()
    assert isinstance(refusal, UsageError)
    assert "already holds a complete bundle of other images (secrets:7)" in refusal.sentence()


def test_the_same_bundle_is_reused_and_needs_no_new_space(tmp_path: Path) -> None:
    chosen = specs("semgrep:6")
    _bundle(tmp_path, [(chosen[0].name, "6")])
    plan = plan_destination(tmp_path, 1000, chosen, 1024**3)
    assert plan.resumes and plan.usable and plan.reusable == 1000 and plan.info.needed == 0


def test_an_interrupted_export_counts_its_parts_as_reusable(tmp_path: Path) -> None:
    journal = ExportJournal.begin(tmp_path, "key", 1024)
    journal.record(BundlePart("images.tar.001", 1024, "0" * 64))
    plan = plan_destination(tmp_path, 5000, specs("semgrep"), 1024**3)
    assert plan.journal is not None and plan.resumes
    assert plan.reusable == 1024 and plan.info.needed == 5000 - 1024


def test_a_destination_too_small_is_refused_with_the_numbers(tmp_path: Path) -> None:
    plan = plan_destination(tmp_path, 10**18, specs("semgrep"), 1024**3)
    refusal = plan.refusal()
    assert isinstance(refusal, MediaError) and not plan.usable
    assert "Free some space or choose a bigger drive" in refusal.sentence()
