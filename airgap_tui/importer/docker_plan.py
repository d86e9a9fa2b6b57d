"""The Docker route's load plan: what the engine should hold once `docker load` is done.

Read from the bundle before anything is loaded: each image's ID (its config digest), the
diff IDs its layers must have in the engine, the compressed layers pushes may share, and the
names `docker load` may print for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from airgap_tui.bundle.manifest import KIND_ARTIFACT, BundleImage, BundleManifest
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.errors import BundleError
from airgap_tui.registry.oci import INDEX_TYPES, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES


@dataclass(frozen=True)
class DockerImage:
    """One bundle image as the engine sees it after `docker load`."""

    name: str
    tag: str
    source_ref: str
    source_digest: str
    image_id: str  # the config digest: the engine's image ID
    diff_ids: list[str]  # from the config: what the engine's layers must be
    layers: list[str]  # compressed layer digests: what pushes may share


def plan(reader: PartsReader, manifest: BundleManifest, img: BundleImage) -> DockerImage:
    """Read the image's manifest and config from the parts: the image ID and layers to expect.

    For an index, the engine loads the first carried platform (the one manifest.json lists)."""
    top = reader.read_blob(manifest.blob(img.digest), MAX_MANIFEST_BYTES)
    data = _json(top, img.digest)
    if manifest.blob(img.digest).media_type in INDEX_TYPES or "manifests" in data:
        if not img.manifests:
            raise BundleError(f"Image {img.label}", "its index carries no platform manifest")
        data = _json(reader.read_blob(manifest.blob(img.manifests[0]), MAX_MANIFEST_BYTES), "")
    config = data.get("config")
    layers = data.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise BundleError(f"Image {img.label}", "its manifest has no config or layers")
    image_id = str(config.get("digest", ""))
    body = _json(reader.read_blob(manifest.blob(image_id), MAX_CONFIG_BYTES), image_id)
    rootfs = body.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return DockerImage(
        name=img.name,
        tag=img.tag,
        source_ref=img.source_ref,
        source_digest=img.digest,
        image_id=image_id,
        diff_ids=[str(d) for d in diff_ids] if isinstance(diff_ids, list) else [],
        layers=[str(layer.get("digest", "")) for layer in layers if isinstance(layer, dict)],
    )


def _json(body: bytes, what: str) -> dict[str, object]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BundleError(f"Blob {what[:19]}", "it is not a JSON object")
    return data


def is_artifact(img: BundleImage) -> bool:
    return img.kind == KIND_ARTIFACT


def load_names(images: list[DockerImage]) -> dict[str, list[int]]:
    """What `docker load` may print for each image ("Loaded image: NAME"): the name the
    export saved it under, as given or in Docker Hub's short form, or its ID."""
    names: dict[str, list[int]] = {}
    for index, img in enumerate(images):
        saved = img.source_ref.split("@", 1)[0]
        short = saved.removeprefix("docker.io/").removeprefix("library/")
        for name in {saved, short, img.image_id}:
            names.setdefault(name, []).append(index)
    return names
