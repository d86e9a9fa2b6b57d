"""Reading bundle.yaml as hostile input: bounded, no aliases, every field checked against the
schema before anything trusts it.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from airgap_tui import __version__
from airgap_tui.bundle.manifest import (
    _ANALYZER,
    _PREFIX,
    _VERSION,
    DELTA_KINDS,
    DIGEST,
    FORMAT_VERSION,
    KINDS,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_PART_SIZE,
    MEDIA_TYPE,
    MIN_PART_SIZE,
    PLATFORM,
    READ_FLAGS,
    SHA256_HEX,
    TAR_BLOCK,
    BundleBlob,
    BundleImage,
    BundleManifest,
    BundlePart,
    Delta,
    DeltaTool,
    ExpectedBlob,
    ToolFile,
    is_safe_part_name,
    show,
)
from airgap_tui.errors import BundleError, UsageError
from airgap_tui.registry.reference import parse_reference, validate_repository_path, validate_tag


class Schema:
    """Typed field access that names the field when the manifest is wrong."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, field_name: str, cause: str) -> BundleError:
        return BundleError(
            f"{self.where}, field {field_name}",
            cause,
            "The manifest is damaged or was edited: copy the bundle again from the connected side",
        )

    def mapping(self, value: object, name: str, keys: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(name or "(top)", f"expected a mapping, got {type(value).__name__}")
        allowed = set(keys)
        for key in value:
            if key not in allowed:
                raise self.fail(
                    f"{name}.{show(str(key))}" if name else show(str(key)), "unknown field"
                )
        for key in keys:
            if key not in value:
                raise self.fail(f"{name}.{key}" if name else key, "missing")
        return value

    def str_(self, value: object, name: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(name, f"{show(value[:200])} is not valid")
        return value

    def opt_str(
        self, value: object, name: str, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        return None if value is None else self.str_(value, name, pattern)

    def int_(self, value: object, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(name, f"expected a non-negative integer, got {show(repr(value)[:80])}")
        return value

    def list_(self, value: object, name: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(name, f"expected a list, got {type(value).__name__}")
        return value

    def digests(self, value: object, name: str) -> list[str]:
        items = [
            self.str_(d, f"{name}[{i}]", DIGEST) for i, d in enumerate(self.list_(value, name))
        ]
        if len(set(items)) != len(items):
            raise self.fail(name, "a digest is listed twice")
        return items


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


_IMAGE_KEYS = (
    "name",
    "tag",
    "analyzer",
    "kind",
    "source_ref",
    "digest",
    "media_type",
    "platform",
    "manifests",
    "blobs",
)


_BLOB_KEYS = ("digest", "size", "media_type", "offset")


_PART_KEYS = ("file", "size", "sha256")


_DELTA_KEYS = ("against", "kind", "expected")


def _parse_image(s: Schema, raw: object, name: str) -> BundleImage:
    data = s.mapping(raw, name, _IMAGE_KEYS)
    image_name = s.str_(data["name"], f"{name}.name")
    tag = s.str_(data["tag"], f"{name}.tag")
    source_ref = s.str_(data["source_ref"], f"{name}.source_ref")
    try:
        validate_repository_path(image_name)
        validate_tag(tag)
        parse_reference(source_ref)
    except UsageError as exc:
        raise s.fail(name, exc.cause) from exc
    kind = s.str_(data["kind"], f"{name}.kind")
    if kind not in KINDS:
        raise s.fail(f"{name}.kind", f"{show(kind)} is not image or artifact")
    return BundleImage(
        name=image_name,
        tag=tag,
        source_ref=source_ref,
        digest=s.str_(data["digest"], f"{name}.digest", DIGEST),
        media_type=s.str_(data["media_type"], f"{name}.media_type", MEDIA_TYPE),
        kind=kind,
        platform=s.opt_str(data["platform"], f"{name}.platform", PLATFORM),
        manifests=s.digests(data["manifests"], f"{name}.manifests"),
        blobs=s.digests(data["blobs"], f"{name}.blobs"),
        analyzer=s.opt_str(data["analyzer"], f"{name}.analyzer", _ANALYZER),
    )


def _parse_blob(s: Schema, raw: object, name: str) -> BundleBlob:
    data = s.mapping(raw, name, _BLOB_KEYS)
    return BundleBlob(
        digest=s.str_(data["digest"], f"{name}.digest", DIGEST),
        size=s.int_(data["size"], f"{name}.size"),
        media_type=s.str_(data["media_type"], f"{name}.media_type", MEDIA_TYPE),
        offset=s.int_(data["offset"], f"{name}.offset"),
    )


def _safe_file(s: Schema, value: object, name: str) -> str:
    file = s.str_(value, name)
    if not is_safe_part_name(file):
        raise BundleError(
            f"{s.where}, field {name}",
            f"the name {show(file[:200])} is not a plain file name inside the bundle "
            "(refused before opening anything)",
            "Do not use this bundle: it was damaged or tampered with; copy it again",
        )
    return file


def _parse_part(s: Schema, raw: object, name: str) -> BundlePart:
    data = s.mapping(raw, name, _PART_KEYS)
    file = _safe_file(s, data["file"], f"{name}.file")
    size = s.int_(data["size"], f"{name}.size")
    if size > MAX_PART_SIZE:
        raise s.fail(f"{name}.size", f"{size} is above the largest part ({MAX_PART_SIZE})")
    return BundlePart(
        file=file, size=size, sha256=s.str_(data["sha256"], f"{name}.sha256", SHA256_HEX)
    )


def _parse_tool(s: Schema, raw: object) -> ToolFile | None:
    if raw is None:
        return None
    data = s.mapping(raw, "tool", _PART_KEYS)
    return ToolFile(
        file=_safe_file(s, data["file"], "tool.file"),
        size=s.int_(data["size"], "tool.size"),
        sha256=s.str_(data["sha256"], "tool.sha256", SHA256_HEX),
    )


def _parse_delta(s: Schema, raw: object) -> Delta | None:
    if raw is None:
        return None
    tool = None
    if isinstance(raw, dict) and "tool" in raw:  # optional: only a delta that leaves it out
        tool = _parse_delta_tool(s, raw["tool"])
        raw = {k: v for k, v in raw.items() if k != "tool"}
    data = s.mapping(raw, "delta", _DELTA_KEYS)
    kind = s.str_(data["kind"], "delta.kind")
    if kind not in DELTA_KINDS:
        raise s.fail("delta.kind", f"{show(kind)} is not receipt, inventory or mixed")
    expected = []
    for i, item in enumerate(s.list_(data["expected"], "delta.expected")):
        entry = s.mapping(item, f"delta.expected[{i}]", ("digest", "size"))
        expected.append(
            ExpectedBlob(
                s.str_(entry["digest"], f"delta.expected[{i}].digest", DIGEST),
                s.int_(entry["size"], f"delta.expected[{i}].size"),
            )
        )
    return Delta(s.str_(data["against"], "delta.against", SHA256_HEX), kind, expected, tool)


def _parse_delta_tool(s: Schema, raw: object) -> DeltaTool:
    data = s.mapping(raw, "delta.tool", ("version", "sha256"))
    return DeltaTool(
        s.str_(data["version"], "delta.tool.version", _VERSION),
        s.opt_str(data["sha256"], "delta.tool.sha256", SHA256_HEX),
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
    total = manifest.total_bytes
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
        if not isinstance(platform, str) or not PLATFORM.match(platform):
            raise s.fail(f"platforms[{i}]", f"{show(str(platform))} is not os/arch[/variant]")
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


def read_limited(directory: Path, name: str, limit: int) -> bytes:
    """Read a small file from the bundle without following a symlink or a FIFO."""
    fd = os.open(directory / name, READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def has_aliases(text: str) -> bool:
    """YAML aliases let a small file expand into a huge structure; a manifest never has one."""
    return any(
        isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)
    )


def parse_manifest(raw: bytes, where: str) -> BundleManifest:
    """Validate bundle.yaml's bytes (already read, bounded)."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(
            where,
            f"it is larger than {MAX_MANIFEST_BYTES} bytes, which no bundle manifest is",
            "Do not use this bundle: copy it again from the connected side",
        )
    try:
        text = raw.decode("utf-8")
        if has_aliases(text):
            raise BundleError(
                where,
                "it uses YAML aliases, which a bundle manifest never has",
                "Do not use this bundle: copy it again from the connected side",
            )
        data = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BundleError(
            where,
            f"it is not valid YAML ({str(exc).splitlines()[0]})",
            "The manifest is damaged: copy the bundle again from the connected side",
        ) from exc
    return manifest_from_dict(data, where)


def read_manifest(bundle_dir: str | os.PathLike[str]) -> BundleManifest:
    """Read and validate bundle.yaml; BundleError names what is wrong and what to do."""
    directory = Path(bundle_dir)
    where = f"{MANIFEST_NAME} in {directory}"
    if not directory.is_dir():
        raise BundleError(
            f"Bundle directory {directory}",
            "it does not exist or is not a directory",
            "Check the path and that the drive is mounted",
        )
    try:
        raw = read_limited(directory, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    except FileNotFoundError as exc:
        raise BundleError(
            f"{MANIFEST_NAME} not found in {directory}",
            "this directory holds no complete bundle (an export that was interrupted "
            f"writes {MANIFEST_NAME} last)",
            "Re-run the export on the connected side to finish the bundle, or choose the "
            "directory that holds bundle.yaml",
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            cause = "it is a symbolic link, which a bundle never contains"
        elif exc.errno == errno.EFBIG:
            cause = f"it is larger than {MAX_MANIFEST_BYTES} bytes, which no bundle manifest is"
        else:
            cause = f"it cannot be read ({exc.strerror or exc})"
        raise BundleError(where, cause, "Copy the bundle again from the connected side") from exc
    return parse_manifest(raw, where)
