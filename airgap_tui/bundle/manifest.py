"""bundle.yaml, format 2 (docs/bundle-format.md): the model, its fingerprint, reader and writer.

The manifest is the one file that says what the parts hold: every image with its upstream
digest, every blob with its offset in the concatenated parts, every part with its sha256. It is
read on the offline side from a stick that may have been damaged or tampered with, so the
reader treats every field as hostile: bounded size, no YAML aliases, names checked against
patterns before anything is opened, offsets and sizes checked against the parts.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from airgap_tui import __version__
from airgap_tui.bundle.atomic import atomic_write_bytes
from airgap_tui.bundle.media import FAT32_MAX_FILE_SIZE
from airgap_tui.errors import BundleError, UsageError
from airgap_tui.registry.reference import parse_reference, validate_repository_path, validate_tag

FORMAT_VERSION = 2
MANIFEST_NAME = "bundle.yaml"
JOURNAL_NAME = ".airgap-export.json"
KNOWN_FILES = frozenset({MANIFEST_NAME, JOURNAL_NAME})
MAX_PART_SIZE = FAT32_MAX_FILE_SIZE
MIN_PART_SIZE = 1 << 20  # smaller parts only multiply files (FAT32: at most 65,534 per directory)
MAX_MANIFEST_BYTES = 8 << 20  # a real one is a few hundred KB even with thousands of parts
TAR_BLOCK = 512
_FINGERPRINT_DOMAIN = b"airgap-tui bundle fingerprint v2\n"

KIND_IMAGE = "image"
KIND_ARTIFACT = "artifact"
KINDS = frozenset({KIND_IMAGE, KIND_ARTIFACT})
DELTA_KINDS = frozenset({"receipt", "inventory", "mixed"})  # airgap_tui.delta.delta.Presence.kind

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY

_PART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ANALYZER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")
# RFC 6838 type/subtype (with the +suffix registries use), bounded.
MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)
_VERSION = re.compile(r"^[0-9A-Za-z.+_-]{1,64}$")
_PREFIX = re.compile(r"^[A-Za-z0-9.\-\[\]:]+(?:/[a-z0-9._-]+)*$")


# --------------------------------------------------------------------------- names


def show(name: str) -> str:
    """A name from the media, safe to print (no terminal escapes)."""
    return name if name.isascii() and name.isprintable() else repr(name)


def is_safe_part_name(name: str) -> bool:
    """A plain file name inside the bundle directory, and not one the bundle uses itself."""
    return (
        bool(_PART_NAME.match(name))
        and ".." not in name
        and not name.endswith(".part")
        and name not in KNOWN_FILES
    )


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_fingerprint(fingerprint: str, groups: int = 6) -> str:
    """The first 24 hex digits in groups of four, for reading aloud across the gap."""
    hexdigits = fingerprint.removeprefix("sha256:").lower()
    return " ".join(hexdigits[i : i + 4] for i in range(0, 4 * groups, 4))


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class BundlePart:
    """One file of the split tar."""

    file: str
    size: int
    sha256: str  # lowercase hex

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class BundleBlob:
    """One registry blob (manifest, index, config or layer) and where its bytes start."""

    digest: str
    size: int
    media_type: str
    offset: int  # in the concatenated parts

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "size": self.size,
            "media_type": self.media_type,
            "offset": self.offset,
        }


@dataclass(frozen=True)
class BundleImage:
    """One image or artifact the bundle carries, pushed as `<registry>/<name>:<tag>`."""

    name: str
    tag: str
    source_ref: str
    digest: str  # upstream digest of the top manifest carried (platform manifest or index)
    media_type: str  # of that top manifest
    kind: str = KIND_IMAGE
    platform: str | None = None  # None for an index or an artifact
    manifests: list[str] = field(default_factory=list)  # child manifests (index only)
    blobs: list[str] = field(default_factory=list)  # configs + layers, de-duplicated
    analyzer: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}:{self.tag}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tag": self.tag,
            "analyzer": self.analyzer,
            "kind": self.kind,
            "source_ref": self.source_ref,
            "digest": self.digest,
            "media_type": self.media_type,
            "platform": self.platform,
            "manifests": list(self.manifests),
            "blobs": list(self.blobs),
        }


@dataclass(frozen=True)
class ToolFile:
    """The carried airgap-tui zipapp, so the offline host needs nothing else."""

    file: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class ExpectedBlob:
    digest: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Delta:
    """A bundle that leaves out what the offline side already holds (issue 10)."""

    against: str  # sha256 hex of the receipt or inventory
    kind: str  # receipt | inventory | mixed
    expected: list[ExpectedBlob] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "kind": self.kind,
            "expected": [blob.to_dict() for blob in self.expected],
        }


@dataclass(frozen=True, kw_only=True)
class BundleManifest:
    """bundle.yaml. Images in selection order, blobs and parts in tar order."""

    format_version: int = FORMAT_VERSION
    tool_version: str = __version__
    created: str = field(default_factory=utc_now)  # ISO 8601 UTC
    source_prefix: str
    gitlab_major: int | None
    platforms: list[str]
    images: list[BundleImage]
    blobs: list[BundleBlob]
    parts: list[BundlePart]
    tool: ToolFile | None = None
    delta: Delta | None = None

    @property
    def total_bytes(self) -> int:
        return sum(part.size for part in self.parts)

    def blob(self, digest: str) -> BundleBlob:
        """The blob of that digest; BundleError when the bundle does not hold it."""
        for blob in self.blobs:
            if blob.digest == digest:
                return blob
        raise BundleError(
            f"Blob {show(digest)}",
            "this bundle does not hold it",
            "Check that the bundle is the one made for this import",
        )

    def content(self) -> dict[str, Any]:
        """Everything the fingerprint covers: all but `created`, `tool_version`, `fingerprint`."""
        return {
            "format_version": self.format_version,
            "source_prefix": self.source_prefix,
            "gitlab_major": self.gitlab_major,
            "platforms": list(self.platforms),
            "images": [image.to_dict() for image in self.images],
            "blobs": [blob.to_dict() for blob in self.blobs],
            "parts": [part.to_dict() for part in self.parts],
            "tool": self.tool.to_dict() if self.tool is not None else None,
            "delta": self.delta.to_dict() if self.delta is not None else None,
        }

    @property
    def fingerprint(self) -> str:
        """sha256 hex over what the bundle carries, identical on both sides of the gap.

        Covers every image, blob offset and part sha256 (so every byte of the parts) and the
        tool; leaves out `created` and `tool_version`, so a resumed or repeated export of the
        same bytes keeps the same fingerprint.
        """
        canonical = json.dumps(
            self.content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        )
        return hashlib.sha256(_FINGERPRINT_DOMAIN + canonical.encode("ascii")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The YAML document, in the order docs/bundle-format.md shows."""
        content = self.content()
        return {
            "format_version": self.format_version,
            "tool_version": self.tool_version,
            "created": self.created,
            "fingerprint": self.fingerprint,
            **{k: v for k, v in content.items() if k != "format_version"},
        }


# --------------------------------------------------------------------------- writing


def manifest_yaml(manifest: BundleManifest) -> bytes:
    return yaml.safe_dump(
        manifest.to_dict(), sort_keys=False, default_flow_style=False, allow_unicode=False
    ).encode("utf-8")


def write_manifest(bundle_dir: str | os.PathLike[str], manifest: BundleManifest) -> None:
    """Write bundle.yaml atomically: the last file of an export, the sign that it is complete.

    Raises OSError; the caller names the media problem (bundle.media_error)."""
    atomic_write_bytes(Path(bundle_dir) / MANIFEST_NAME, manifest_yaml(manifest))


# --------------------------------------------------------------------------- reading


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
    return Delta(s.str_(data["against"], "delta.against", SHA256_HEX), kind, expected)


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
