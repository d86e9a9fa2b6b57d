"""Bundles for the import tests, written by the real exporter from the native upstream.

`write_bundle` exports a chosen subset (or all) of the seeded images, by their full references,
so a test can damage one blob or compare a pushed digest with the upstream one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests

from airgap_tui.bundle.manifest import BundleManifest
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.catalog.load import load_catalog
from airgap_tui.export.run import ExportRequest, export_bundle
from tests.harness.native import NativeUpstream

MiB = 1 << 20


def write_bundle(
    upstream: NativeUpstream,
    out: Path,
    *,
    names: list[str] | None = None,
    platforms: tuple[str, ...] = ("linux/amd64",),
    part_size: int = MiB,
) -> BundleManifest:
    """Export `names` (default: every upstream image) into `out` with no engine."""
    images = [upstream.image(n) for n in names] if names else list(upstream.images)
    catalog = load_catalog()
    specs = [catalog.resolve(image.ref, 18, upstream.prefix) for image in images]
    request = ExportRequest(
        specs=specs,
        dest=out,
        part_size=part_size,
        source_prefix=upstream.prefix,
        platforms=platforms,
    )
    result = export_bundle(request)
    assert result.ok, result.problems
    return read_manifest(out)


def served_digest(
    url: str, repository: str, tag: str, media_type: str, *, verify: str | Path | bool = True
) -> str:
    """The digest a registry serves for repository:tag, asked with that media type only."""
    resp = requests.get(
        f"{url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": media_type},
        timeout=30,
        verify=str(verify) if isinstance(verify, Path) else verify,
    )
    resp.raise_for_status()
    assert resp.headers["Content-Type"].split(";")[0] == media_type
    assert (
        "sha256:" + hashlib.sha256(resp.content).hexdigest()
        == resp.headers["Docker-Content-Digest"]
    )
    return str(resp.headers["Docker-Content-Digest"])


def upload_count(log: Path) -> int:
    """Blob uploads a registry finished (from its access log); a mount or a HEAD is none."""
    return sum(
        1
        for line in log.read_text(errors="replace").splitlines()
        if '"PUT /v2/' in line and "/blobs/uploads/" in line and '" 201 ' in line
    )
