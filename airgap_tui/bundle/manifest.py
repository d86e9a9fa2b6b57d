"""bundle.yaml, format 2 (docs/bundle-format.md): the model, its fingerprint, reader and writer.

The manifest is the one file that says what the parts hold: every image with its upstream
digest, every blob with its offset in the concatenated parts, every part with its sha256. It is
read on the offline side from a stick that may have been damaged or tampered with, so the
reader treats every field as hostile: bounded size, no YAML aliases, names checked against
patterns before anything is opened, offsets and sizes checked against the parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airgap_tui import __version__
from airgap_tui.bundle.atomic import atomic_write_bytes
from airgap_tui.bundle.media import FAT32_MAX_FILE_SIZE
from airgap_tui.errors import BundleError

FORMAT_VERSION = 2


MANIFEST_NAME = "bundle.yaml"
TOOL_FILE = "airgap-tui.pyz"  # the carried tool, at the bundle's root (toolpack builds it)


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


BUILT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # an image's build time (UTC)
PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


# RFC 6838 type/subtype (with the +suffix registries use), bounded.
MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)


_VERSION = re.compile(r"^[0-9A-Za-z.+_-]{1,64}$")


_PREFIX = re.compile(r"^[A-Za-z0-9.\-\[\]:]+(?:/[a-z0-9._-]+)*$")


def show(name: str) -> str:
    """A name from the media, safe to print (no terminal escapes)."""
    return name if name.isascii() and name.isprintable() else repr(name)


def is_safe_part_name(name: str) -> bool:
    """A plain file name inside the bundle directory, and not one the bundle uses itself."""
    return (
        bool(_PART_NAME.fullmatch(name))
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
    # When the image was built (its config's `created`; an index: its newest platform), as
    # YYYY-MM-DDTHH:MM:SSZ. None: unknown (not recorded, or a bundle from before the field).
    built: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}:{self.tag}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
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
        if self.built is not None:  # absent when unknown, as in bundles from before it
            data["built"] = self.built
        return data


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
class DeltaTool:
    """The airgap-tui the offline host holds, so this delta does not carry one (issue 22):
    its version, and the sha256 of its airgap-tui.pyz (None: an installed airgap-tui)."""

    version: str
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256}


@dataclass(frozen=True)
class Delta:
    """A bundle that leaves out what the offline side already holds (issue 10)."""

    against: str  # sha256 hex of the receipt or inventory
    kind: str  # receipt | inventory | mixed
    expected: list[ExpectedBlob] = field(default_factory=list)
    tool: DeltaTool | None = None  # set: the carried tool is left out, the offline host has it

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "against": self.against,
            "kind": self.kind,
            "expected": [blob.to_dict() for blob in self.expected],
        }
        if self.tool is not None:  # absent otherwise: earlier deltas read (and hash) the same
            out["tool"] = self.tool.to_dict()
        return out


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


def manifest_yaml(manifest: BundleManifest) -> bytes:
    """bundle.yaml's bytes: JSON, the subset of YAML any YAML reader reads, which airgap-tui
    reads with the C JSON decoder (no YAML parser to load on a cold offline host, and no YAML
    corner for a forged file to hide in). Indented, in to_dict()'s order, ASCII only."""
    return (json.dumps(manifest.to_dict(), indent=2, ensure_ascii=True) + "\n").encode("ascii")


def write_manifest(bundle_dir: str | os.PathLike[str], manifest: BundleManifest) -> None:
    """Write bundle.yaml atomically: the last file of an export, the sign that it is complete.

    Raises OSError; the caller names the media problem (bundle.media_error)."""
    atomic_write_bytes(Path(bundle_dir) / MANIFEST_NAME, manifest_yaml(manifest))
