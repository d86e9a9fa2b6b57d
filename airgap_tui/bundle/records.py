"""The tar's own records checked against bundle.yaml (verify, after the part hashes).

The parts are one tar that `docker load` and OCI tools read by its own records: the tar
headers, index.json, manifest.json and the manifests inside. bundle.yaml's fingerprint covers
their bytes but not what they say, so a bundle re-sealed around a changed index.json would pass
the hashes yet push or load something else. Here every record must agree with bundle.yaml:

- the tar members are oci-layout, index.json, manifest.json, then exactly bundle.yaml's blobs,
  at its offsets and sizes, and nothing else;
- index.json lists each image's top manifest (digest, size, media type, name:tag);
- manifest.json (docker load) lists each image's config and layers, or nothing in a delta;
- every manifest and config parses, every digest a manifest names is in the tar or in the
  delta's `expected` list, with the size bundle.yaml gives, and each image's blob list is what
  its manifests name.

Reads are bounded: tar headers (512 bytes each) and the small JSON files, hash-checked.
"""

from __future__ import annotations

import os
import tarfile
from typing import Any

from airgap_tui.bundle.layout import (
    CONTAINERD_NAME,
    IMAGE_CONFIG_TYPES,
    OCI_LAYOUT,
    REF_NAME,
    blob_path,
    padded,
)
from airgap_tui.bundle.manifest import (
    KIND_IMAGE,
    MANIFEST_NAME,
    TAR_BLOCK,
    BundleBlob,
    BundleImage,
    BundleManifest,
)
from airgap_tui.bundle.parts import Problem
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.bundle.safe_load import parse_bounded_json
from airgap_tui.errors import AirgapError
from airgap_tui.events import CancelToken

MAX_RECORD_BYTES = 4 << 20  # index.json / manifest.json / one manifest or config
TAR_FILE = "the tar in the parts"
_METADATA = ("oci-layout", "index.json", "manifest.json")


class _Mismatch(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def check_records(
    bundle_dir: str | os.PathLike[str], manifest: BundleManifest, cancel: CancelToken | None = None
) -> list[Problem]:
    """Problems where the tar's records disagree with bundle.yaml (empty when they agree).

    Run it once the parts matched their sha256: a damaged part is reported by that check."""
    try:
        with PartsReader(bundle_dir, manifest.parts, cancel=cancel) as reader:
            members = _members(reader, manifest)
            _check_members(members, manifest)
            _check_index(reader, members, manifest)
            _check_docker_manifest(reader, members, manifest)
            _check_images(reader, manifest)
    except _Mismatch as exc:
        return [Problem(exc.where, exc.message + _DO_NOT)]
    except AirgapError as exc:
        return [Problem(TAR_FILE, exc.sentence())]
    return []


_DO_NOT = (
    ". The bundle's records do not agree with bundle.yaml: it was damaged or re-sealed after "
    "export. Do not import or load it; copy it again from the connected side"
)


def _members(reader: PartsReader, manifest: BundleManifest) -> list[tuple[str, int, int]]:
    """(name, data offset, size) of every tar member, read header by header."""
    members: list[tuple[str, int, int]] = []
    offset = 0
    limit = len(manifest.blobs) + len(_METADATA) + 1
    while offset + TAR_BLOCK <= reader.total:
        header = b"".join(reader.read_range(offset, TAR_BLOCK))
        if header == bytes(TAR_BLOCK):
            return members
        if len(members) >= limit:
            raise _Mismatch(TAR_FILE, f"it holds more members than the {limit - 1} it lists")
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.TarError as exc:
            raise _Mismatch(
                TAR_FILE, f"the tar header at byte {offset} is damaged ({exc})"
            ) from None
        if not info.isreg():
            raise _Mismatch(TAR_FILE, f"member {info.name[:80]!r} is not a regular file")
        members.append((info.name, offset + TAR_BLOCK, info.size))
        offset += TAR_BLOCK + padded(info.size)
    raise _Mismatch(TAR_FILE, "it has no end-of-archive block")


def _check_members(members: list[tuple[str, int, int]], manifest: BundleManifest) -> None:
    names = [name for name, _o, _s in members[: len(_METADATA)]]
    if names != list(_METADATA):
        raise _Mismatch(TAR_FILE, f"it starts with {names}, not {list(_METADATA)}")
    blobs = members[len(_METADATA) :]
    listed = {blob.digest: blob for blob in manifest.blobs}
    for name, offset, size in blobs:
        digest = "sha256:" + name.removeprefix("blobs/sha256/")
        blob = listed.get(digest)
        if blob is None or name != blob_path(digest):
            raise _Mismatch(TAR_FILE, f"member {name[:100]!r} is not a blob {MANIFEST_NAME} lists")
        if (offset, size) != (blob.offset, blob.size):
            raise _Mismatch(
                TAR_FILE,
                f"member {name} holds {size} bytes at {offset}; {MANIFEST_NAME} says "
                f"{blob.size} bytes at {blob.offset}",
            )
    if len(blobs) != len(manifest.blobs):
        raise _Mismatch(
            TAR_FILE, f"it holds {len(blobs)} blobs, {MANIFEST_NAME} lists {len(manifest.blobs)}"
        )
    layout = members[0]
    if layout[2] != len(OCI_LAYOUT):
        raise _Mismatch("oci-layout", "it is not the OCI layout version file")


def _json(reader: PartsReader, member: tuple[str, int, int], what: str) -> Any:
    name, offset, size = member
    if size > MAX_RECORD_BYTES:
        raise _Mismatch(what, f"it is {size} bytes, more than {MAX_RECORD_BYTES}")
    raw = b"".join(reader.read_range(offset, size))
    return parse_bounded_json(raw, what=what)


def _check_index(
    reader: PartsReader, members: list[tuple[str, int, int]], manifest: BundleManifest
) -> None:
    index = _json(reader, members[1], "index.json")
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list) or len(entries) != len(manifest.images):
        raise _Mismatch("index.json", f"it does not list the {len(manifest.images)} images")
    for i, (entry, image) in enumerate(zip(entries, manifest.images, strict=True)):
        top = manifest.blob(image.digest)
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        expected = {
            "digest": image.digest,
            "size": top.size,
            "mediaType": image.media_type,
        }
        got = {k: entry.get(k) for k in expected} if isinstance(entry, dict) else {}
        if got != expected or not isinstance(annotations, dict):
            raise _Mismatch("index.json", f"manifests[{i}] is not {image.label}'s {image.digest}")
        if annotations.get(REF_NAME) != image.label or annotations.get(CONTAINERD_NAME) != (
            image.source_ref
        ):
            raise _Mismatch("index.json", f"manifests[{i}] names another image than {image.label}")


def _check_docker_manifest(
    reader: PartsReader, members: list[tuple[str, int, int]], manifest: BundleManifest
) -> None:
    entries = _json(reader, members[2], "manifest.json")
    if not isinstance(entries, list):
        raise _Mismatch("manifest.json", "it is not a list")
    if manifest.delta is not None:
        if entries:
            raise _Mismatch("manifest.json", "a delta bundle's is empty, this one lists images")
        return
    images = {image.source_ref.split("@", 1)[0]: image for image in manifest.images}
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        tags = entry.get("RepoTags") if isinstance(entry, dict) else None
        if not isinstance(tags, list) or len(tags) != 1 or tags[0] not in images:
            raise _Mismatch("manifest.json", f"entry {i} names no image {MANIFEST_NAME} lists")
        image = images[tags[0]]
        if image.kind != KIND_IMAGE or tags[0] in seen:
            raise _Mismatch("manifest.json", f"entry {i} ({tags[0]}) is not expected there")
        seen.add(tags[0])
        config, layers = _first_manifest_parts(reader, manifest, image)
        expected = {"Config": blob_path(config), "Layers": [blob_path(d) for d in layers]}
        if {k: entry.get(k) for k in expected} != expected:
            raise _Mismatch(
                "manifest.json", f"entry {i} ({tags[0]}) is not that image's config and layers"
            )
    missing = [ref for ref, img in images.items() if img.kind == KIND_IMAGE and ref not in seen]
    if missing:
        raise _Mismatch("manifest.json", f"it leaves out {', '.join(missing)[:200]}")


def _read_json_blob(reader: PartsReader, blob: BundleBlob, what: str) -> dict[str, Any]:
    if blob.size > MAX_RECORD_BYTES:
        raise _Mismatch(what, f"it is {blob.size} bytes, more than {MAX_RECORD_BYTES}")
    data = parse_bounded_json(reader.read_blob(blob, MAX_RECORD_BYTES), what=what)
    if not isinstance(data, dict):
        raise _Mismatch(what, "it is not a JSON object")
    return data


def _first_manifest_parts(
    reader: PartsReader, manifest: BundleManifest, image: BundleImage
) -> tuple[str, list[str]]:
    digest = image.manifests[0] if image.manifests else image.digest
    data = _read_json_blob(reader, manifest.blob(digest), f"Manifest {digest} of {image.label}")
    config = data.get("config")
    layers = data.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise _Mismatch(f"Manifest {digest}", "it has no config or layers")
    return str(config.get("digest")), [
        str(layer.get("digest")) for layer in layers if isinstance(layer, dict)
    ]


def _check_index_children(top: dict[str, Any], image: BundleImage, sizes: dict[str, int]) -> None:
    """An index lists each of the image's manifests with the size bundle.yaml gives it."""
    listed = {
        str(m.get("digest")): m.get("size")
        for m in top.get("manifests") or []
        if isinstance(m, dict)
    }
    for child in image.manifests:
        if listed.get(child) != sizes.get(child):
            raise _Mismatch(
                f"Index {image.digest} of {image.label}",
                f"it does not list {child} with the size {MANIFEST_NAME} gives",
            )


def _check_images(reader: PartsReader, manifest: BundleManifest) -> None:
    """Every manifest and config parses; every digest named is carried or expected, sized."""
    sizes = {blob.digest: blob.size for blob in manifest.blobs}
    if manifest.delta is not None:
        for expected in manifest.delta.expected:
            sizes.setdefault(expected.digest, expected.size)
    for image in manifest.images:
        top = _read_json_blob(
            reader, manifest.blob(image.digest), f"Manifest {image.digest} of {image.label}"
        )
        children = image.manifests
        if children:
            _check_index_children(top, image, sizes)
        named: dict[str, None] = {}
        for digest in children or [image.digest]:
            data = (
                top
                if digest == image.digest
                else _read_json_blob(
                    reader, manifest.blob(digest), f"Manifest {digest} of {image.label}"
                )
            )
            what = f"Manifest {digest} of {image.label}"
            config = data.get("config")
            layers = data.get("layers")
            if not isinstance(config, dict) or not isinstance(layers, list):
                raise _Mismatch(what, "it has no config or layers")
            for descriptor in (config, *layers):
                ref = descriptor.get("digest") if isinstance(descriptor, dict) else None
                if not isinstance(ref, str) or ref not in sizes:
                    raise _Mismatch(
                        what,
                        f"it names {str(ref)[:80]}, which the bundle neither holds nor expects",
                    )
                if descriptor.get("size") != sizes[ref]:
                    raise _Mismatch(
                        what,
                        f"it gives {ref} {descriptor.get('size')} bytes, "
                        f"{MANIFEST_NAME} {sizes[ref]}",
                    )
                named.setdefault(ref)
            config_digest = str(config["digest"])
            if image.kind == KIND_IMAGE and config.get("mediaType") in IMAGE_CONFIG_TYPES:
                carried = next((b for b in manifest.blobs if b.digest == config_digest), None)
                if carried is not None:
                    _read_json_blob(reader, carried, f"Config {config_digest} of {image.label}")
        if list(named) != image.blobs:
            raise _Mismatch(
                f"{MANIFEST_NAME}, field images ({image.label})",
                "its blob list is not what its manifests name",
            )
