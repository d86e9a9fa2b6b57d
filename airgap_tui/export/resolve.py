"""From a chosen image to exactly what the bundle will carry for it, asking only the registry.

A tag may name an image manifest, an artifact or an index. The bundle carries the chosen
platform's manifest as its original bytes (so the offline digest equals upstream), or the index
itself when several platforms are chosen. Manifests and configs are small and fetched here; their
descriptors give every layer's exact size, which is what makes the estimate exact, and the
configs say when each image was built (`created`; an index: its newest platform carried).
"""

from __future__ import annotations

import re
from typing import Any

from airgap_tui.bundle.layout import (
    IMAGE_CONFIG_TYPES,
    CarriedManifest,
    Descriptor,
    ResolvedImage,
)
from airgap_tui.catalog.age import config_created, newest
from airgap_tui.errors import NotFoundError, RegistryError
from airgap_tui.models import ImageSpec
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.oci import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_CONFIG_BYTES,
    RawManifest,
    available_platforms,
    format_platform,
    manifest_json,
    parse_platform,
    select_platform,
)

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)


def _descriptor(raw: object, what: str, default_type: str = "") -> Descriptor:
    """A registry descriptor; hostile input refused (it names files in the bundle)."""
    if not isinstance(raw, dict):
        raise RegistryError(what, "the manifest lists a descriptor that is not an object")
    digest, size = raw.get("digest"), raw.get("size")
    media_type = raw.get("mediaType") or default_type
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise RegistryError(what, f"the manifest lists an invalid digest {str(digest)[:80]!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(what, f"the manifest lists an invalid size {str(size)[:40]!r}")
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise RegistryError(
            what, f"the manifest lists an invalid media type {str(media_type)[:80]!r}"
        )
    if raw.get("urls"):
        raise RegistryError(
            what,
            f"layer {digest} is a foreign layer (its bytes live outside the registry)",
            "Such images (Windows base layers) cannot be carried; choose a Linux image",
        )
    return Descriptor(digest, size, media_type)


def carried_manifest(raw: RawManifest, platform: str | None, what: str) -> CarriedManifest:
    """Parse an image or artifact manifest (schema 2 / OCI) kept as its original bytes."""
    data = manifest_json(raw.data, what)
    if data.get("schemaVersion") != 2 or raw.media_type not in MANIFEST_TYPES:
        raise RegistryError(
            what,
            f"it is not an image manifest this tool carries ({raw.media_type or 'no media type'})",
            "Rebuild or re-push the image with a current tool (schema 1 is not supported)",
        )
    layers = data.get("layers")
    if not isinstance(layers, list):
        raise RegistryError(what, "the manifest has no layers list")
    return CarriedManifest(
        descriptor=Descriptor(raw.digest, len(raw.data), raw.media_type),
        data=raw.data,
        config=_descriptor(data.get("config"), what),
        layers=tuple(_descriptor(layer, what) for layer in layers),
        platform=platform,
    )


def _config_platform(config: dict[str, Any]) -> str | None:
    os_name, arch = config.get("os"), config.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return None
    variant = config.get("variant")
    return (
        f"{os_name}/{arch}/{variant}"
        if isinstance(variant, str) and variant
        else f"{os_name}/{arch}"
    )


def _check_image_config(config_bytes: bytes, manifest: CarriedManifest, what: str) -> str | None:
    """The config's platform; a diff_ids count that does not match would break `docker load`."""
    config = manifest_json(config_bytes, what)
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or len(ids) != len(manifest.layers):
        raise RegistryError(
            what,
            f"its config lists {len(ids) if isinstance(ids, list) else 'no'} diff IDs for "
            f"{len(manifest.layers)} layers",
            "The image is broken upstream: rebuild it",
        )
    return _config_platform(config)


def resolve_image(
    client: RegistryClient, spec: ImageSpec, platforms: list[str], warnings: list[str]
) -> ResolvedImage:
    """What the bundle carries for `spec`; NotFoundError for a missing tag or platform."""
    for platform in platforms:
        parse_platform(platform)
    src = spec.source
    reference = src.digest or src.tag
    sep = "@" if reference.startswith("sha256:") else ":"
    what = f"Image {src.registry}/{src.repository}{sep}{reference}"
    top = client.raw_manifest(src.repository, reference)
    index: tuple[Descriptor, bytes] | None = None
    if top.media_type in INDEX_TYPES:
        manifests = _platform_manifests(client, src.repository, top, platforms, what)
        if len(platforms) > 1:
            index = (Descriptor(top.digest, len(top.data), top.media_type), top.data)
    else:
        manifests = [carried_manifest(top, None, what)]
    final, configs, built = _with_configs(
        client, src.repository, manifests, platforms, what, warnings
    )
    return ResolvedImage(
        name=spec.name,
        tag=spec.tag,
        source_ref=str(src),
        api_host=src.api_host,
        repository=src.repository,
        manifests=tuple(final),
        index=index,
        analyzer=spec.analyzer,
        configs=configs,
        built=newest(built),
    )


def _platform_manifests(
    client: RegistryClient, repository: str, top: RawManifest, platforms: list[str], what: str
) -> list[CarriedManifest]:
    """The index's manifest for each chosen platform (once each); NotFoundError naming the
    platforms it has when one is missing."""
    listing = manifest_json(top.data, what)
    manifests: list[CarriedManifest] = []
    for platform in platforms:
        entry = select_platform(listing, platform)
        if entry is None:
            have = available_platforms(listing)
            raise NotFoundError(
                what,
                f"it has no {platform} image"
                + (f" (it has {', '.join(have)})" if have else " (its index lists none)"),
                "Choose one of those platforms with --platform",
            )
        child = _descriptor(entry, what)
        if any(m.descriptor.digest == child.digest for m in manifests):
            continue
        raw = client.raw_manifest(repository, child.digest)
        if raw.media_type in INDEX_TYPES:
            raise RegistryError(what, "its index points at another index, which is not supported")
        manifests.append(carried_manifest(raw, format_platform(entry["platform"]), what))
    return manifests


def _with_configs(
    client: RegistryClient,
    repository: str,
    manifests: list[CarriedManifest],
    platforms: list[str],
    what: str,
    warnings: list[str],
) -> tuple[list[CarriedManifest], dict[str, bytes], list[str | None]]:
    """Each manifest's config fetched (the bundle carries it): the manifests, image configs
    checked and their platform filled in, the configs by digest, and when each was built."""
    configs: dict[str, bytes] = {}
    final: list[CarriedManifest] = []
    built: list[str | None] = []
    for manifest in manifests:
        config = client.blob_bytes(repository, manifest.config.digest, MAX_CONFIG_BYTES)
        configs[manifest.config.digest] = config
        if manifest.config.media_type in IMAGE_CONFIG_TYPES:
            built.append(config_created(config))
            manifest = _with_platform(manifest, config, platforms, what, warnings)
        final.append(manifest)
    return final, configs, built


def _with_platform(
    manifest: CarriedManifest, config: bytes, platforms: list[str], what: str, warnings: list[str]
) -> CarriedManifest:
    """The image config checked; a manifest reached without an index takes the platform its
    config names (a warning when that is not the one platform chosen)."""
    built_for = _check_image_config(config, manifest, what)
    if manifest.platform is not None:
        return manifest
    if (
        built_for
        and len(platforms) == 1
        and parse_platform(built_for) != parse_platform(platforms[0])
    ):
        warnings.append(f"{what} is built for {built_for}, not {platforms[0]}.")
    return CarriedManifest(
        manifest.descriptor, manifest.data, manifest.config, manifest.layers, built_for
    )
