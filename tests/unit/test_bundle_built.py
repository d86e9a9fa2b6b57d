"""bundle.yaml's optional images[].built: round trip, covered by the fingerprint, hostile values
refused, and absent in (and so compatible with) bundles written before it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from airgap_tui.bundle.manifest import MANIFEST_NAME, BundleManifest, write_manifest
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.errors import BundleError
from tests.unit.test_bundle_manifest import Fixture

BUILT = "2026-11-20T09:30:00Z"


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path)


def with_built(fx: Fixture, built: str | None) -> BundleManifest:
    manifest = fx.manifest()
    image = dataclasses.replace(manifest.images[0], built=built)
    return fx.manifest(images=[image])


def test_the_build_time_round_trips_and_the_fingerprint_covers_it(fx: Fixture) -> None:
    manifest = with_built(fx, BUILT)
    write_manifest(fx.directory, manifest)
    assert f'"built": "{BUILT}"' in (fx.directory / MANIFEST_NAME).read_text()
    again = read_manifest(fx.directory)
    assert again.images[0].built == BUILT and again.fingerprint == manifest.fingerprint
    assert with_built(fx, None).fingerprint != manifest.fingerprint
    assert with_built(fx, "2026-11-21T09:30:00Z").fingerprint != manifest.fingerprint


def test_a_bundle_without_the_field_reads_as_unknown(fx: Fixture) -> None:
    """What every bundle written before the field holds: no `built` key at all."""
    manifest = with_built(fx, None)
    write_manifest(fx.directory, manifest)
    assert "built" not in (fx.directory / MANIFEST_NAME).read_text()
    assert read_manifest(fx.directory).images[0].built is None


def test_an_edited_build_time_fails_the_fingerprint(fx: Fixture) -> None:
    write_manifest(fx.directory, with_built(fx, BUILT))
    path = fx.directory / MANIFEST_NAME
    path.write_text(path.read_text().replace(BUILT, "2026-12-04T09:30:00Z"))  # "fresher"
    with pytest.raises(BundleError, match="fingerprint"):
        read_manifest(fx.directory)


@pytest.mark.parametrize(
    "value", ["2026-13-40T09:30:00Z", "yesterday", "2026-11-20 09:30:00", 20261120, ["x"]]
)
def test_a_hostile_build_time_is_named(fx: Fixture, value: object) -> None:
    write_manifest(fx.directory, with_built(fx, BUILT))
    data = yaml.safe_load((fx.directory / MANIFEST_NAME).read_text())
    data["images"][0]["built"] = value
    (fx.directory / MANIFEST_NAME).write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(BundleError, match=r"images\[0\]\.built"):
        read_manifest(fx.directory)
