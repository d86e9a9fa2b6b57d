"""The tar of a format 2 bundle, planned before a byte is downloaded (docs/bundle-format.md).

The parts concatenated form one tar that is both an OCI image layout and a docker-archive. Every
entry's size is known from the manifests (registry descriptors give exact blob sizes), so the
plan gives each blob's offset, the bundle's exact size (the estimate) and the same bytes for the
same selection (the resume). Headers are ustar with fixed metadata, so nothing depends on time.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from airgap_tui.bundle.manifest import KIND_ARTIFACT, KIND_IMAGE, TAR_BLOCK, BundleBlob, BundleImage

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
END_OF_ARCHIVE = bytes(2 * TAR_BLOCK)
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
_USTAR_MAX_SIZE = 8**11 - 1  # 8 GiB − 1: larger entries get a GNU base-256 size field


@dataclass(frozen=True)
class Descriptor:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class CarriedManifest:
    """One image manifest carried as its original bytes, with what it points at."""

    descriptor: Descriptor
    data: bytes
    config: Descriptor
    layers: tuple[Descriptor, ...]
    platform: str | None

    @property
    def is_image(self) -> bool:
        return self.config.media_type in IMAGE_CONFIG_TYPES


@dataclass(frozen=True)
class ResolvedImage:
    """One chosen image as the source registry has it: what the bundle will carry for it."""

    name: str  # pushed as <registry>/<name>:<tag>
    tag: str
    source_ref: str
    api_host: str  # where its blobs are downloaded from
    repository: str
    manifests: tuple[CarriedManifest, ...]  # the chosen platforms' (or the one) manifests
    index: tuple[Descriptor, bytes] | None = None  # the original index, when it is kept
    analyzer: str | None = None
    configs: dict[str, bytes] = field(default_factory=dict, compare=False)  # digest -> bytes
    built: str | None = None  # the config's `created` (an index: its newest platform's)

    @property
    def kind(self) -> str:
        return KIND_IMAGE if self.manifests[0].is_image else KIND_ARTIFACT

    @property
    def top(self) -> Descriptor:
        return self.index[0] if self.index is not None else self.manifests[0].descriptor

    @property
    def platform(self) -> str | None:
        if self.index is not None or self.kind == KIND_ARTIFACT:
            return None
        return self.manifests[0].platform

    def blob_digests(self) -> list[str]:
        """Configs and layers of every manifest carried, de-duplicated, in first-use order."""
        out: dict[str, None] = {}
        for manifest in self.manifests:
            out.setdefault(manifest.config.digest)
            for layer in manifest.layers:
                out.setdefault(layer.digest)
        return list(out)

    def to_bundle_image(self) -> BundleImage:
        return BundleImage(
            name=self.name,
            tag=self.tag,
            analyzer=self.analyzer,
            kind=self.kind,
            source_ref=self.source_ref,
            digest=self.top.digest,
            media_type=self.top.media_type,
            platform=self.platform,
            manifests=(
                [m.descriptor.digest for m in self.manifests] if self.index is not None else []
            ),
            blobs=self.blob_digests(),
            built=self.built,
        )


@dataclass(frozen=True)
class Entry:
    """One tar member: a small file held in memory, or a blob to download."""

    name: str
    size: int
    header_offset: int
    data: bytes | None  # None: a blob fetched from `source`
    blob: BundleBlob | None = None
    source: tuple[str, str] | None = None  # (api host, repository) to download from

    @property
    def data_offset(self) -> int:
        return self.header_offset + TAR_BLOCK

    @property
    def end(self) -> int:
        """Where the next header starts (data padded to a whole block)."""
        return self.data_offset + padded(self.size)

    def header(self) -> bytes:
        return tar_header(self.name, self.size)


@dataclass(frozen=True)
class Layout:
    entries: list[Entry]
    total: int  # bytes of the whole tar, end-of-archive blocks included
    images: list[BundleImage]
    blobs: list[BundleBlob]
    delta: bool = False  # layers left out, manifest.json empty (docs: "Delta bundles")

    def key(self, part_size: int) -> str:
        """Same key ⇔ same tar split the same way (what a resume may rely on)."""
        return layout_key(self.images, self.blobs, part_size, delta=self.delta)

    @property
    def downloads(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.data is None]

    def download_bytes(self) -> int:
        return sum(entry.size for entry in self.downloads)


def layout_key(
    images: list[BundleImage], blobs: list[BundleBlob], part_size: int, *, delta: bool = False
) -> str:
    """The tar is a function of the images and blobs (metadata files are built from them);
    a delta's empty manifest.json makes its tar differ from a full one with the same blobs."""
    content: dict[str, Any] = {
        "images": [image.to_dict() for image in images],
        "blobs": [blob.to_dict() for blob in blobs],
        "part_size": part_size,
    }
    if delta:
        content["delta"] = True
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def padded(size: int) -> int:
    return -(-size // TAR_BLOCK) * TAR_BLOCK


def tar_header(name: str, size: int) -> bytes:
    """A ustar header with fixed metadata: mode 0644, uid/gid 0, no owner names, mtime 0."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    if size <= _USTAR_MAX_SIZE:
        return info.tobuf(tarfile.USTAR_FORMAT, "ascii", "strict")
    return info.tobuf(tarfile.GNU_FORMAT, "ascii", "strict")


def blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def compact_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def index_json(images: list[ResolvedImage]) -> bytes:
    manifests = [
        {
            "mediaType": image.top.media_type,
            "digest": image.top.digest,
            "size": image.top.size,
            "annotations": {
                REF_NAME: f"{image.name}:{image.tag}",
                CONTAINERD_NAME: image.source_ref,
            },
        }
        for image in images
    ]
    return compact_json({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": manifests})


def _has_zstd(manifest: CarriedManifest) -> bool:
    return any(layer.media_type.endswith(("+zstd", ".zstd")) for layer in manifest.layers)


def docker_manifest_json(images: list[ResolvedImage]) -> bytes:
    """docker-archive's manifest.json: images only, the first chosen platform of an index.

    Selection order, except that images with zstd layers come last: Engine 20.10 cannot
    decompress zstd and its `docker load` stops at the first such image, so every other image
    is loaded before that.
    """
    entries = []
    for image in images:
        if image.kind != KIND_IMAGE:
            continue
        first = image.manifests[0]
        entry = {
            "Config": blob_path(first.config.digest),
            "RepoTags": [image.source_ref.split("@", 1)[0]],
            "Layers": [blob_path(layer.digest) for layer in first.layers],
        }
        entries.append((_has_zstd(first), entry))
    return compact_json([entry for _zstd, entry in sorted(entries, key=lambda e: e[0])])


DELTA_MANIFEST_JSON = b"[]"  # a delta cannot be `docker load`ed: its layers are not all here


def plan_layout(
    images: list[ResolvedImage], *, leave_out: Collection[str] = (), delta: bool = False
) -> Layout:
    """Every tar member in contract order, with its offset; blobs once, in first-use order.

    `delta`: the layers in `leave_out` (the target already holds them) are not carried and
    manifest.json is empty, so no engine half-loads an image it cannot complete."""
    leave_out = frozenset(leave_out)
    entries: list[Entry] = []
    blobs: list[BundleBlob] = []
    seen: set[str] = set()
    offset = 0

    def add(
        name: str,
        size: int,
        data: bytes | None,
        blob: Descriptor | None = None,
        source: tuple[str, str] | None = None,
    ) -> None:
        nonlocal offset
        bundle_blob = None
        if blob is not None:
            bundle_blob = BundleBlob(blob.digest, blob.size, blob.media_type, offset + TAR_BLOCK)
            blobs.append(bundle_blob)
        entry = Entry(name, size, offset, data, bundle_blob, source)
        entries.append(entry)
        offset = entry.end

    for name, data in (
        ("oci-layout", OCI_LAYOUT),
        ("index.json", index_json(images)),
        ("manifest.json", DELTA_MANIFEST_JSON if delta else docker_manifest_json(images)),
    ):
        add(name, len(data), data)
    for image in images:
        source = (image.api_host, image.repository)
        small: list[tuple[Descriptor, bytes]] = []
        if image.index is not None:
            small.append(image.index)
        small.extend((m.descriptor, m.data) for m in image.manifests)
        for descriptor, data in small:
            if descriptor.digest not in seen:
                seen.add(descriptor.digest)
                add(blob_path(descriptor.digest), len(data), data, descriptor)
        for manifest in image.manifests:
            for descriptor in (manifest.config, *manifest.layers):
                if descriptor.digest in seen or (delta and descriptor.digest in leave_out):
                    continue
                seen.add(descriptor.digest)
                config = image.configs.get(descriptor.digest)
                add(blob_path(descriptor.digest), descriptor.size, config, descriptor, source)
    return Layout(
        entries=entries,
        total=offset + len(END_OF_ARCHIVE),
        images=[image.to_bundle_image() for image in images],
        blobs=blobs,
        delta=delta,
    )


def entry_bytes(entry: Entry, start: int = 0) -> Iterator[bytes]:
    """Header, data and padding of an in-memory entry, from `start` bytes into the entry."""
    assert entry.data is not None
    whole = entry.header() + entry.data + bytes(padded(entry.size) - entry.size)
    if start < len(whole):
        yield whole[start:]
