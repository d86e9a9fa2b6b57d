"""Reading bundle.yaml as hostile input: bounded, no aliases, every field checked against the
schema before anything trusts it (each field: schema_fields.py; the rules between them: here).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from airgap_tui import __version__
from airgap_tui.bundle.manifest import (
    _PREFIX,
    _VERSION,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MIN_PART_SIZE,
    PLATFORM,
    TAR_BLOCK,
    BundleManifest,
    show,
)
from airgap_tui.bundle.safe_load import parse_bounded_yaml, read_bounded
from airgap_tui.bundle.schema_fields import (
    Schema,
    _parse_blob,
    _parse_delta,
    _parse_image,
    _parse_part,
    _parse_tool,
)
from airgap_tui.errors import BundleError

_TOP_KEYS = (
    "format_version",
    "tool_version",
    "created",
    "fingerprint",
    "source_prefix",
    "gitlab_major",
    "platforms",
    "images",
    "blobs",
    "parts",
    "tool",
    "delta",
)


def _check_version(data: dict[str, Any], where: str) -> None:
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Schema(where).fail("format_version", "missing or not a positive integer")
    if version < FORMAT_VERSION:
        raise BundleError(
            where,
            f"it is bundle format {version}, made by an older airgap-tui (before registry-native "
            f"bundles); this airgap-tui {__version__} reads format {FORMAT_VERSION} only",
            "Export again with this version on the connected side",
        )
    if version > FORMAT_VERSION:
        raise BundleError(
            where,
            f"it was made by a newer airgap-tui (bundle format {version}; "
            f"this airgap-tui {__version__} reads format {FORMAT_VERSION})",
            "Use the airgap-tui that made the bundle (airgap-tui.pyz on the stick), or upgrade",
        )


def _check_layout(s: Schema, manifest: BundleManifest) -> None:
    """Cross-field rules: parts sized as written, blobs inside the parts, references known."""
    _check_parts(s, manifest)
    _check_images_listed(s, manifest)
    known = _check_blobs(s, manifest)
    _check_references(s, manifest, known)


def _check_parts(s: Schema, manifest: BundleManifest) -> None:
    parts = manifest.parts
    if not parts:
        raise s.fail("parts", "the bundle lists no part")
    if len({part.file for part in parts}) != len(parts):
        raise s.fail("parts", "a part file is listed twice")
    if manifest.tool is not None and manifest.tool.file in {part.file for part in parts}:
        raise s.fail("tool.file", "it is also listed as a part")
    for i, part in enumerate(parts[:-1]):
        if part.size < MIN_PART_SIZE:
            raise s.fail(f"parts[{i}].size", f"only the last part may be below {MIN_PART_SIZE}")


def _check_images_listed(s: Schema, manifest: BundleManifest) -> None:
    if not manifest.images:
        raise s.fail("images", "the bundle lists no image")
    seen: set[tuple[str, str]] = set()
    for i, image in enumerate(manifest.images):
        if (image.name, image.tag) in seen:
            raise s.fail(f"images[{i}]", f"{image.name}:{image.tag} is listed twice")
        seen.add((image.name, image.tag))
    if not manifest.platforms:
        raise s.fail("platforms", "no platform is listed")
    for i, platform in enumerate(manifest.platforms):
        if not isinstance(platform, str) or not PLATFORM.fullmatch(platform):
            raise s.fail(f"platforms[{i}]", f"{show(str(platform))} is not os/arch[/variant]")


def _check_blobs(s: Schema, manifest: BundleManifest) -> set[str]:
    """Each blob once, in tar order, inside the parts; returns the digests held."""
    total = manifest.total_bytes
    end = 0
    known: set[str] = set()
    for i, blob in enumerate(manifest.blobs):
        if blob.digest in known:
            raise s.fail(f"blobs[{i}]", f"{blob.digest} is listed twice")
        known.add(blob.digest)
        # Each blob's tar header (512 bytes) comes before it, and data starts on a block.
        if blob.offset % TAR_BLOCK or blob.offset < end + TAR_BLOCK:
            raise s.fail(f"blobs[{i}].offset", "blobs overlap or are not in tar order")
        end = blob.offset + blob.size
        if end > total:
            raise s.fail(
                f"blobs[{i}]", f"it ends at byte {end}, past the end of the parts ({total})"
            )
    if not manifest.blobs:
        raise s.fail("blobs", "the bundle lists no blob")
    return known


def _check_references(s: Schema, manifest: BundleManifest, known: set[str]) -> None:
    """Every manifest an image names is held; every blob held or expected (a delta)."""
    carried = set(known)
    if manifest.delta is not None:
        carried |= {blob.digest for blob in manifest.delta.expected}
    for i, image in enumerate(manifest.images):
        if image.digest not in known:
            raise s.fail(f"images[{i}].digest", "the bundle does not hold this manifest")
        for ref in image.manifests:
            if ref not in known:
                raise s.fail(f"images[{i}].manifests", f"the bundle does not hold {ref}")
        for ref in image.blobs:
            if ref not in carried:
                raise s.fail(f"images[{i}].blobs", f"the bundle does not hold {ref}")


def manifest_from_dict(data: object, where: str) -> BundleManifest:
    """Validate a parsed bundle.yaml; every name in it is treated as hostile."""
    s = Schema(where)
    if not isinstance(data, dict):
        raise BundleError(
            where,
            f"it is not a bundle manifest (a YAML mapping), it holds a {type(data).__name__}",
            "Check that this is an airgap-tui bundle directory",
        )
    _check_version(data, where)
    data = s.mapping(data, "", _TOP_KEYS)
    created = s.str_(data["created"], "created")
    try:
        datetime.fromisoformat(created)
    except ValueError as exc:
        raise s.fail("created", f"{show(created[:80])} is not an ISO 8601 time") from exc
    gitlab_major = data["gitlab_major"]
    if gitlab_major is not None:
        gitlab_major = s.int_(gitlab_major, "gitlab_major")
    manifest = BundleManifest(
        format_version=FORMAT_VERSION,
        tool_version=s.str_(data["tool_version"], "tool_version", _VERSION),
        created=created,
        source_prefix=s.str_(data["source_prefix"], "source_prefix", _PREFIX),
        gitlab_major=gitlab_major,
        platforms=[
            s.str_(p, f"platforms[{i}]", PLATFORM)
            for i, p in enumerate(s.list_(data["platforms"], "platforms"))
        ],
        images=[
            _parse_image(s, raw, f"images[{i}]")
            for i, raw in enumerate(s.list_(data["images"], "images"))
        ],
        blobs=[
            _parse_blob(s, raw, f"blobs[{i}]")
            for i, raw in enumerate(s.list_(data["blobs"], "blobs"))
        ],
        parts=[
            _parse_part(s, raw, f"parts[{i}]")
            for i, raw in enumerate(s.list_(data["parts"], "parts"))
        ],
        tool=_parse_tool(s, data["tool"]),
        delta=_parse_delta(s, data["delta"]),
    )
    _check_layout(s, manifest)
    stored = s.str_(data["fingerprint"], "fingerprint")
    if stored != manifest.fingerprint:
        raise s.fail(
            "fingerprint",
            "it does not match the manifest's content (bundle.yaml was changed after export)",
        )
    return manifest


MAX_MANIFEST_NODES = 300_000  # thousands of blobs and parts are ~100,000 values
MAX_MANIFEST_DEPTH = 8  # the deepest real path is delta.expected[i].digest (4)
_LEADING_VERSION = re.compile(rb"format_version: *([0-9]{1,6}) *\r?\n")


def parse_manifest(raw: bytes, where: str) -> BundleManifest:
    """Validate bundle.yaml's bytes (already read, bounded): parsed once, by libyaml where
    PyYAML has it, with depth, size, aliases, tags and the top-level fields checked while
    parsing (airgap_tui.bundle.safe_load), then every field against the schema."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(
            where,
            f"it is larger than {MAX_MANIFEST_BYTES} bytes, which no bundle manifest is",
            "Do not use this bundle: copy it again from the connected side",
        )
    leading = _LEADING_VERSION.match(raw)
    if leading is not None:  # another format has other fields: say so before naming one
        _check_version({"format_version": int(leading.group(1))}, where)
    data = parse_bounded_yaml(
        raw,
        what=where,
        max_depth=MAX_MANIFEST_DEPTH,
        max_nodes=MAX_MANIFEST_NODES,
        top_keys=_TOP_KEYS,
        next_step="The manifest is damaged or was edited: copy the bundle again from the "
        "connected side",
    )
    return manifest_from_dict(data, where)


def read_manifest(bundle_dir: str | os.PathLike[str]) -> BundleManifest:
    """Read and validate bundle.yaml; BundleError names what is wrong and what to do."""
    return read_manifest_and_bytes(bundle_dir)[0]


def read_manifest_and_bytes(bundle_dir: str | os.PathLike[str]) -> tuple[BundleManifest, bytes]:
    """bundle.yaml validated, and the very bytes validated (what a signature must cover)."""
    directory = Path(bundle_dir)
    where = f"{MANIFEST_NAME} in {directory}"
    if not directory.is_dir():
        raise BundleError(
            f"Bundle directory {directory}",
            "it does not exist or is not a directory",
            "Check the path and that the drive is mounted",
        )
    try:
        raw = read_bounded(
            directory / MANIFEST_NAME,
            what=where,
            max_bytes=MAX_MANIFEST_BYTES,
            next_step="Copy the bundle again from the connected side",
        )
    except FileNotFoundError as exc:
        raise BundleError(
            f"{MANIFEST_NAME} not found in {directory}",
            "this directory holds no complete bundle (an export that was interrupted "
            f"writes {MANIFEST_NAME} last)",
            "Re-run the export on the connected side to finish the bundle, or choose the "
            "directory that holds bundle.yaml",
        ) from exc
    return parse_manifest(raw, where), raw
