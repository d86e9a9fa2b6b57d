"""The image model as registries and bundles share it: media types, raw manifests, platforms.

No HTTP here: the bundle and the export parse with the same rules as the client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airgap_tui.errors import RegistryError

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"


MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


MEDIA_DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"


MEDIA_DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


INDEX_TYPES = frozenset({MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST})


MANIFEST_TYPES = frozenset({MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST})


ACCEPT_MANIFESTS = ", ".join(
    [MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST]
)


MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the distribution registry's own limit


MAX_CONFIG_BYTES = 16 * 1024 * 1024


_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class RawManifest:
    """A manifest or index exactly as the registry sent it: the bundle carries these bytes."""

    data: bytes
    media_type: str
    digest: str


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageManifest:
    """One platform's image manifest; `index_digest` is set when a tag pointed at an index."""

    digest: str
    media_type: str
    config_digest: str
    config_size: int
    layers: list[Layer]
    index_digest: str | None = None
    platform: str | None = None


def parse_platform(platform: str) -> tuple[str, str, str]:
    """`os/arch[/variant]` → normalised (os, arch, variant) as the engine matches them."""
    parts = [p.strip().lower() for p in platform.split("/")]
    if len(parts) < 2 or not all(parts):
        raise RegistryError(
            f"Platform {platform!r}", "it is not os/arch[/variant]", "Give e.g. linux/amd64"
        )
    os_name, arch = parts[0], parts[1]
    variant = parts[2] if len(parts) > 2 else ""
    arch = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}.get(
        arch, arch
    )
    if arch == "arm64" and variant in ("", "v8"):
        variant = "v8"
    return os_name, arch, variant


def format_platform(entry: Mapping[str, Any]) -> str:
    os_name = str(entry.get("os", "?"))
    arch = str(entry.get("architecture", "?"))
    variant = str(entry.get("variant", "") or "")
    return f"{os_name}/{arch}/{variant}" if variant else f"{os_name}/{arch}"


def select_platform(index: Mapping[str, Any], platform: str) -> dict[str, Any] | None:
    """The index entry the engine would pull for `platform`, or None."""
    want = parse_platform(platform)
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        return None
    for entry in manifests:
        if not isinstance(entry, dict) or not isinstance(entry.get("platform"), dict):
            continue
        plat = entry["platform"]
        os_name = str(plat.get("os", "")).lower()
        arch = str(plat.get("architecture", "")).lower()
        if not os_name or not arch or os_name == "unknown":
            continue
        have = parse_platform(f"{os_name}/{arch}/{plat.get('variant') or ''}".rstrip("/"))
        if have == want:
            return entry
    return None


def available_platforms(index: Mapping[str, Any]) -> list[str]:
    """Real platforms listed in an index (attestation entries, os "unknown", left out)."""
    found: list[str] = []
    manifests = index.get("manifests")
    for entry in manifests if isinstance(manifests, list) else []:
        plat = entry.get("platform") if isinstance(entry, dict) else None
        if isinstance(plat, dict) and plat.get("os") and plat.get("os") != "unknown":
            text = format_platform(plat)
            if text not in found:
                found.append(text)
    return found


def _validate_digest(value: object, what: str) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise RegistryError(what, f"the registry sent an invalid digest {str(value)[:80]!r}")
    return value


def _validate_size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RegistryError(what, f"the registry sent an invalid size {str(value)[:40]!r}")
    return value


def manifest_json(body: bytes, what: str) -> dict[str, Any]:
    """A manifest, index or config the registry sent, as a JSON object (anything else refused)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RegistryError(what, "the registry sent a manifest that is not JSON") from exc
    if not isinstance(data, dict):
        raise RegistryError(what, "the registry sent a manifest that is not a JSON object")
    return data


def parse_image_manifest(
    body: bytes, media_type: str, digest: str, what: str
) -> tuple[str, int, list[Layer]]:
    """(config digest, config size, layers) from an image manifest; hostile input refused."""
    data = manifest_json(body, what)
    if (
        media_type in (MEDIA_DOCKER_SCHEMA1, MEDIA_DOCKER_SCHEMA1_SIGNED)
        or data.get("schemaVersion") == 1
    ):
        raise RegistryError(
            what,
            "it is a schema 1 manifest, which Docker no longer pulls",
            "Rebuild or re-push the image with a current Docker",
        )
    config = data.get("config")
    layers_raw = data.get("layers")
    if not isinstance(config, dict) or not isinstance(layers_raw, list):
        raise RegistryError(what, "the manifest has no config or layers")
    config_digest = _validate_digest(config.get("digest"), what)
    config_size = _validate_size(config.get("size"), what)
    layers: list[Layer] = []
    for entry in layers_raw:
        if not isinstance(entry, dict):
            raise RegistryError(what, "the manifest lists a layer that is not an object")
        annotations = entry.get("annotations")
        layers.append(
            Layer(
                digest=_validate_digest(entry.get("digest"), what),
                size=_validate_size(entry.get("size"), what),
                media_type=str(entry.get("mediaType", "")),
                annotations=(
                    {str(k): str(v) for k, v in annotations.items()}
                    if isinstance(annotations, dict)
                    else {}
                ),
            )
        )
    return config_digest, config_size, layers


def _loads_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RegistryError(what, "the registry sent something that is not JSON") from exc
    if not isinstance(data, dict):
        raise RegistryError(what, "the registry sent JSON that is not an object")
    return data


def _embedded_media_type(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict):
        media = data.get("mediaType")
        if isinstance(media, str):
            return media
        if isinstance(data.get("manifests"), list):
            return MEDIA_OCI_INDEX
        if isinstance(data.get("layers"), list):
            return MEDIA_OCI_MANIFEST
    return ""


def _looks_like_index(body: bytes) -> bool:
    return _embedded_media_type(body) in INDEX_TYPES
