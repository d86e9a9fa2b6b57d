"""The byte model of the engine's multi-image export archive (`docker save a b c`).

The estimate promises the bundle size before anything is pulled, so this module lists the
entries the engine's exporter will write — from registry facts only: config sizes, layer diff
IDs and uncompressed sizes — and sizes the tar stream exactly as Go's archive/tar writes it.
All knowledge of the two layouts lives here:

- "docker-archive" (Engine 20.10): `<v1id>/` with `VERSION`, `json`, `layer.tar` per layer
  position, `<config-hex>.json` per image, `manifest.json`, `repositories`.
- "oci" (Engine 25+, measured on 26.1): an OCI image layout (`blobs/sha256/…` holding layers,
  configs, manifests and the legacy per-layer json, `index.json`, `oci-layout`) plus
  `manifest.json` and `repositories`.

The JSON files the engine generates are re-created with Go's encoding rules, so for ordinary
images the prediction is exact; where the engine's own state cannot be known in advance (local
time zone of the daemon, image history not in the config) the error is a few bytes per image.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ArchiveFormat = Literal["docker-archive", "oci"]
ARCHIVE_FORMATS: tuple[ArchiveFormat, ...] = ("docker-archive", "oci")

BLOCK = 512
USTAR_NAME = 100
USTAR_PREFIX = 155
USTAR_MAX_SIZE = 8**11 - 1  # 11 octal digits
OCI_LAYOUT_CONTENT = '{"imageLayoutVersion": "1.0.0"}'
V1_EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class LayerSize:
    """A layer as the engine stores it: its diff ID and its uncompressed tar size."""

    diff_id: str
    size: int


@dataclass(frozen=True)
class ImageLayout:
    """What the exporter needs to know about one image (all of it available from a registry)."""

    config_digest: str  # = the engine's image ID
    config_size: int
    layers: tuple[LayerSize, ...]  # rootfs order
    repo_tags: tuple[str, ...] = ()  # the names given to `docker save`
    config: Mapping[str, Any] | None = None  # the config JSON (for the legacy per-layer json)


@dataclass(frozen=True)
class TarEntry:
    name: str
    size: int = 0
    kind: Literal["file", "dir", "symlink"] = "file"
    linkname: str = ""


# ---------------------------------------------------------------------------------------------
# Go archive/tar arithmetic


def padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _split_ustar(name: str) -> bool:
    """Go's splitUSTARPath: can a long name go into USTAR's prefix+name fields?"""
    length = len(name)
    if length <= USTAR_NAME or not name.isascii():
        return False
    if length > USTAR_PREFIX + 1:
        length = USTAR_PREFIX + 1
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    suffix = len(name) - i - 1
    return not (i <= 0 or suffix > USTAR_NAME or suffix == 0 or i > USTAR_PREFIX)


def _pax_record(key: str, value: str) -> int:
    base = len(key.encode()) + len(value.encode()) + 3
    size = base + len(str(base))
    if len(str(size)) != len(str(base)):
        size = base + len(str(size))
    return size


def header_size(entry: TarEntry) -> int:
    """Header bytes Go writes for an entry with Format=PAX (USTAR whenever it fits)."""
    records = 0
    name_bytes = len(entry.name.encode())
    if (name_bytes > USTAR_NAME or not entry.name.isascii()) and not _split_ustar(entry.name):
        records += _pax_record("path", entry.name)
    if len(entry.linkname.encode()) > USTAR_NAME or not entry.linkname.isascii():
        records += _pax_record("linkpath", entry.linkname)
    if entry.size > USTAR_MAX_SIZE:
        records += _pax_record("size", str(entry.size))
    return BLOCK + (BLOCK + padded(records) if records else 0)


def tar_size(entries: Iterable[TarEntry]) -> int:
    """Bytes of the tar stream: headers, contents padded to 512, and the 1024-byte trailer.

    Go's tar.Writer does not pad the stream to a 10 KiB record (GNU tar and Python do)."""
    total = 0
    for entry in entries:
        total += header_size(entry)
        if entry.kind == "file":
            total += padded(entry.size)
    return total + 2 * BLOCK


# ---------------------------------------------------------------------------------------------
# Go encoding/json, as far as the engine's generated files need it


def go_json(value: Any) -> str:
    """json.Marshal output: compact, HTML-safe escapes, UTF-8 kept, map keys sorted."""
    if isinstance(value, GoStruct):
        return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in value.items) + "}"
    if isinstance(value, Mapping):
        items = sorted(value.items())
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return (
            text.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


@dataclass(frozen=True)
class GoStruct:
    """An ordered object: a Go struct's fields in declaration order."""

    items: tuple[tuple[str, Any], ...]


def go_len(value: Any) -> int:
    return len(go_json(value).encode())


def _lookup(data: Mapping[str, Any] | None, key: str) -> Any:
    """Go's case-insensitive field matching on unmarshal (exact match first)."""
    if not data:
        return None
    if key in data:
        return data[key]
    lower = key.lower()
    for k, v in data.items():
        if isinstance(k, str) and k.lower() == lower:
            return v
    return None


def _strslice(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


def _set(value: Any) -> dict[str, dict[str, Any]] | None:
    if isinstance(value, Mapping):
        return {str(k): {} for k in value}
    return None


def _str_map(value: Any) -> dict[str, str] | None:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bool(value: Any) -> bool:
    return bool(value) if isinstance(value, bool) else False


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _healthcheck(value: Any) -> GoStruct | None:
    if not isinstance(value, Mapping):
        return None
    items: list[tuple[str, Any]] = []
    test = _strslice(_lookup(value, "Test"))
    if test:
        items.append(("Test", test))
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        number = _int(_lookup(value, key))
        if number:
            items.append((key, number))
    return GoStruct(tuple(items))


def container_config(data: Mapping[str, Any] | None) -> GoStruct:
    """container.Config as the engine re-marshals it (field order and omitempty of 20.10/26)."""
    items: list[tuple[str, Any]] = [
        ("Hostname", _str(_lookup(data, "Hostname"))),
        ("Domainname", _str(_lookup(data, "Domainname"))),
        ("User", _str(_lookup(data, "User"))),
        ("AttachStdin", _bool(_lookup(data, "AttachStdin"))),
        ("AttachStdout", _bool(_lookup(data, "AttachStdout"))),
        ("AttachStderr", _bool(_lookup(data, "AttachStderr"))),
    ]
    ports = _set(_lookup(data, "ExposedPorts"))
    if ports:
        items.append(("ExposedPorts", ports))
    items += [
        ("Tty", _bool(_lookup(data, "Tty"))),
        ("OpenStdin", _bool(_lookup(data, "OpenStdin"))),
        ("StdinOnce", _bool(_lookup(data, "StdinOnce"))),
        ("Env", _strslice(_lookup(data, "Env"))),
        ("Cmd", _strslice(_lookup(data, "Cmd"))),
    ]
    health = _healthcheck(_lookup(data, "Healthcheck"))
    if health is not None:
        items.append(("Healthcheck", health))
    if _bool(_lookup(data, "ArgsEscaped")):
        items.append(("ArgsEscaped", True))
    items += [
        ("Image", _str(_lookup(data, "Image"))),
        ("Volumes", _set(_lookup(data, "Volumes"))),
        ("WorkingDir", _str(_lookup(data, "WorkingDir"))),
        ("Entrypoint", _strslice(_lookup(data, "Entrypoint"))),
    ]
    if _bool(_lookup(data, "NetworkDisabled")):
        items.append(("NetworkDisabled", True))
    mac = _str(_lookup(data, "MacAddress"))
    if mac:
        items.append(("MacAddress", mac))
    items += [
        ("OnBuild", _strslice(_lookup(data, "OnBuild"))),
        ("Labels", _str_map(_lookup(data, "Labels"))),
    ]
    stop_signal = _str(_lookup(data, "StopSignal"))
    if stop_signal:
        items.append(("StopSignal", stop_signal))
    stop_timeout = _lookup(data, "StopTimeout")
    if isinstance(stop_timeout, int) and not isinstance(stop_timeout, bool):
        items.append(("StopTimeout", stop_timeout))
    shell = _strslice(_lookup(data, "Shell"))
    if shell:
        items.append(("Shell", shell))
    return GoStruct(tuple(items))


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def go_time(text: str) -> str:
    """An RFC 3339 time as Go re-formats it (RFC3339Nano: trailing zeros dropped, Z for UTC)."""
    match = _TIME.match(text)
    if not match:
        return text
    base, frac, zone = match.groups()
    frac = (frac or "")[:9].rstrip("0")
    zone = "Z" if zone in ("Z", "+00:00", "-00:00") else zone
    return base + (f".{frac}" if frac else "") + zone


def v1_json(
    *, v1_id: str, parent: str, os_name: str, config: Mapping[str, Any] | None = None
) -> str:
    """The legacy per-layer `json` (image.V1Image); `config` only for an image's top layer."""
    items: list[tuple[str, Any]] = [("id", v1_id)]
    if parent:
        items.append(("parent", parent))
    if config is None:
        items += [("created", V1_EPOCH), ("container_config", container_config(None))]
    else:
        comment = _str(config.get("comment"))
        if comment:
            items.append(("comment", comment))
        created = config.get("created")
        items.append(("created", go_time(created) if isinstance(created, str) else None))
        container = _str(config.get("container"))
        if container:
            items.append(("container", container))
        cc = config.get("container_config")
        items.append(
            ("container_config", container_config(cc if isinstance(cc, Mapping) else None))
        )
        for key in ("docker_version", "author"):
            text = _str(config.get(key))
            if text:
                items.append((key, text))
        cfg = config.get("config")
        if isinstance(cfg, Mapping):
            items.append(("config", container_config(cfg)))
        for key in ("architecture", "variant"):
            text = _str(config.get(key))
            if text:
                items.append((key, text))
    if os_name:
        items.append(("os", os_name))
    if config is not None:
        size = _int(config.get("Size"))
        if size:
            items.append(("Size", size))
    return go_json(GoStruct(tuple(items)))


# ---------------------------------------------------------------------------------------------
# Layouts


def familiar(ref: str) -> str:
    """reference.FamiliarString: Docker Hub names lose `docker.io/` and `library/`."""
    if not ref.startswith("docker.io/"):
        return ref
    rest = ref[len("docker.io/") :]
    name = rest.split(":", 1)[0]
    if rest.startswith("library/") and name.count("/") == 1:
        return rest[len("library/") :]
    return rest


def _split_tag(ref: str) -> tuple[str, str]:
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def _fake_id(*parts: str) -> str:
    """A stand-in for an ID whose value the engine derives; only its length (64) matters."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass
class _Unique:
    """Images de-duplicated by ID (config digest), each with all the names it is saved under."""

    images: list[ImageLayout]
    tags: dict[str, list[str]]


def _unique_images(images: Sequence[ImageLayout]) -> _Unique:
    order: list[ImageLayout] = []
    tags: dict[str, list[str]] = {}
    for image in images:
        if image.config_digest not in tags:
            order.append(image)
            tags[image.config_digest] = []
        for tag in image.repo_tags:
            if tag not in tags[image.config_digest]:
                tags[image.config_digest].append(tag)
    return _Unique(order, tags)


@dataclass(frozen=True)
class _V1Layer:
    key: str  # stands in for the v1 ID: non-top IDs depend on the layer chain only
    parent: str
    json_size: int
    layer: LayerSize


def _v1_layers(image: ImageLayout) -> list[_V1Layer]:
    """The legacy per-layer records the exporter derives for each position of the rootfs."""
    out: list[_V1Layer] = []
    parent = ""
    os_name = _os_of(image)
    for i, layer in enumerate(image.layers):
        top = i == len(image.layers) - 1
        chain = "/".join(item.diff_id for item in image.layers[: i + 1])
        key = _fake_id("top", image.config_digest, chain) if top else _fake_id("chain", chain)
        config = (image.config or {}) if top else None
        text = v1_json(v1_id=key, parent=parent, os_name=os_name, config=config)
        out.append(_V1Layer(key, parent, len(text.encode()), layer))
        parent = key
    return out


def _os_of(image: ImageLayout) -> str:
    if image.config is None:
        return "linux"  # not known: what every image the catalog names is
    value = image.config.get("os")
    return value if isinstance(value, str) else ""


def _hex(digest: str) -> str:
    return digest.split(":", 1)[-1]


def _repositories(unique: _Unique, top_ids: Mapping[str, str]) -> TarEntry | None:
    repos: dict[str, dict[str, str]] = {}
    for image in unique.images:
        for tag in unique.tags[image.config_digest]:
            name, tag_part = _split_tag(familiar(tag))
            repos.setdefault(name, {})[tag_part] = top_ids[image.config_digest]
    return TarEntry("repositories", size=go_len(repos) + 1) if repos else None  # Encoder: "\n"


def legacy_entries(images: Sequence[ImageLayout]) -> list[TarEntry]:
    """Engine 20.10's `docker save`: a `<v1id>/` dir per layer position; a layer already
    written under another v1 ID becomes a symlink to that `layer.tar`."""
    unique = _unique_images(images)
    entries: list[TarEntry] = []
    seen_v1: set[str] = set()
    first_dir: dict[str, str] = {}
    manifest: list[GoStruct] = []
    top_ids: dict[str, str] = {}
    for image in unique.images:
        records = _v1_layers(image)
        for rec in records:
            if rec.key in seen_v1:
                continue
            seen_v1.add(rec.key)
            entries.append(TarEntry(f"{rec.key}/", kind="dir"))
            entries.append(TarEntry(f"{rec.key}/VERSION", size=3))
            entries.append(TarEntry(f"{rec.key}/json", size=rec.json_size))
            if rec.layer.diff_id in first_dir:
                target = f"../{first_dir[rec.layer.diff_id]}/layer.tar"
                entries.append(TarEntry(f"{rec.key}/layer.tar", kind="symlink", linkname=target))
            else:
                first_dir[rec.layer.diff_id] = rec.key
                entries.append(TarEntry(f"{rec.key}/layer.tar", size=rec.layer.size))
        config_name = f"{_hex(image.config_digest)}.json"
        entries.append(TarEntry(config_name, size=image.config_size))
        top_ids[image.config_digest] = records[-1].key if records else ""
        tags = [familiar(t) for t in unique.tags[image.config_digest]]
        manifest.append(
            GoStruct(
                (
                    ("Config", config_name),
                    ("RepoTags", tags or None),
                    ("Layers", [f"{rec.key}/layer.tar" for rec in records]),
                )
            )
        )
    entries.append(TarEntry("manifest.json", size=go_len(manifest) + 1))  # Encoder adds "\n"
    repositories = _repositories(unique, top_ids)
    if repositories is not None:
        entries.append(repositories)
    return entries


def _layer_descriptor(layer: LayerSize, *, sources: bool) -> GoStruct:
    """An uncompressed layer's descriptor: OCI field order, or distribution's (LayerSources)."""
    media = ("mediaType", "application/vnd.oci.image.layer.v1.tar")
    digest = ("digest", layer.diff_id)
    size = ("size", layer.size)
    return GoStruct((media, size, digest) if sources else (media, digest, size))


def oci_manifest(image: ImageLayout) -> str:
    """The OCI manifest Engine 26 writes for an image (its layers are the uncompressed tars)."""
    config = GoStruct(
        (
            ("mediaType", "application/vnd.oci.image.config.v1+json"),
            ("digest", image.config_digest),
            ("size", image.config_size),
        )
    )
    layers = [_layer_descriptor(layer, sources=False) for layer in image.layers]
    return go_json(
        GoStruct(
            (
                ("schemaVersion", 2),
                ("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                ("config", config),
                ("layers", layers),
            )
        )
    )


def oci_entries(images: Sequence[ImageLayout]) -> list[TarEntry]:
    """Engine 25+'s `docker save` (measured on 26.1): everything is a blob under blobs/sha256 —
    layers, image configs, OCI manifests and the legacy per-layer v1 json — plus index.json,
    oci-layout, manifest.json (with LayerSources) and repositories; no `<v1id>/` dirs."""
    unique = _unique_images(images)
    entries = [TarEntry("blobs/", kind="dir"), TarEntry("blobs/sha256/", kind="dir")]
    blobs: dict[str, int] = {}
    manifest: list[GoStruct] = []
    index: list[GoStruct] = []
    top_ids: dict[str, str] = {}
    for image in unique.images:
        records = _v1_layers(image)
        for rec in records:
            blobs.setdefault("v1:" + rec.key, rec.json_size)
            blobs.setdefault(rec.layer.diff_id, rec.layer.size)
        blobs.setdefault(image.config_digest, image.config_size)
        oci = oci_manifest(image)
        manifest_digest = "sha256:" + hashlib.sha256(oci.encode()).hexdigest()
        blobs.setdefault(manifest_digest, len(oci.encode()))
        top_ids[image.config_digest] = image.layers[-1].diff_id if image.layers else ""
        tags = unique.tags[image.config_digest]
        for tag in tags:
            annotations = {
                "io.containerd.image.name": _full_name(tag),
                "org.opencontainers.image.ref.name": _split_tag(tag)[1],
            }
            index.append(
                GoStruct(
                    (
                        ("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                        ("digest", manifest_digest),
                        ("size", len(oci.encode())),
                        ("annotations", annotations),
                    )
                )
            )
        sources = {layer.diff_id: _layer_descriptor(layer, sources=True) for layer in image.layers}
        item: list[tuple[str, Any]] = [
            ("Config", f"blobs/sha256/{_hex(image.config_digest)}"),
            ("RepoTags", [familiar(t) for t in tags] or None),
            ("Layers", [f"blobs/sha256/{_hex(layer.diff_id)}" for layer in image.layers]),
        ]
        if sources:
            item.append(("LayerSources", sources))
        manifest.append(GoStruct(tuple(item)))
    for key, size in blobs.items():
        name = _fake_id(key) if key.startswith("v1:") else _hex(key)
        entries.append(TarEntry(f"blobs/sha256/{name}", size=size))
    entries.append(TarEntry("index.json", size=go_len(_index(index))))
    entries.append(TarEntry("manifest.json", size=go_len(manifest) + 1))
    entries.append(TarEntry("oci-layout", size=len(OCI_LAYOUT_CONTENT)))
    top_hex = {k: _hex(v) for k, v in top_ids.items()}
    repositories = _repositories(unique, top_hex)
    if repositories is not None:
        entries.append(repositories)
    return entries


def _index(manifests: list[GoStruct]) -> GoStruct:
    return GoStruct(
        (
            ("schemaVersion", 2),
            ("mediaType", "application/vnd.oci.image.index.v1+json"),
            ("manifests", manifests),
        )
    )


def _full_name(tag: str) -> str:
    """reference.ParseNormalizedNamed(...).String(): Docker Hub names gain docker.io/library/."""
    first = tag.split("/", 1)[0]
    if "/" in tag and ("." in first or ":" in first or first == "localhost"):
        return tag
    return "docker.io/" + (tag if "/" in tag else "library/" + tag)


def format_for_api_version(api_version: str) -> ArchiveFormat:
    """The layout an engine's `docker save` writes: OCI from Engine 25 (API 1.44) on."""
    try:
        major, minor = (int(part) for part in api_version.split(".")[:2])
    except ValueError:
        return "oci"
    return "oci" if (major, minor) >= (1, 44) else "docker-archive"


def archive_entries(images: Sequence[ImageLayout], archive_format: ArchiveFormat) -> list[TarEntry]:
    if archive_format == "docker-archive":
        return legacy_entries(images)
    if archive_format == "oci":
        return oci_entries(images)
    raise ValueError(f"unknown archive format {archive_format!r}")


def archive_size(images: Sequence[ImageLayout], archive_format: ArchiveFormat) -> int:
    """Predicted bytes of `docker save` for these images on an engine writing `archive_format`."""
    if not images:
        return 0
    return tar_size(archive_entries(images, archive_format))
