"""Inventory of a registry: the repositories, tags, manifests and blobs it really holds.

Taken on the offline host and carried back, it lets the next export leave out every layer the
offline registry already has (`export --delta-from`). It goes through the same client as the
import (auth, TLS, proxies), is bounded (a registry with thousands of tags keeps a set of
digests, never the manifests), and is written atomically: a half-written file never looks
like a complete inventory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airgap_tui import __version__
from airgap_tui.bundle.atomic import atomic_write_stream
from airgap_tui.errors import AirgapError, MediaError, NotFoundError, RegistryError
from airgap_tui.events import CancelToken, Progress, ProgressCallback, ignore_progress
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.oci import INDEX_TYPES, parse_image_manifest
from airgap_tui.toolpack.identity import running_tool

INVENTORY_KIND = "airgap-tui registry inventory"
INVENTORY_VERSION = 1
STAGE_INVENTORY = "inventory"
# The reader (delta.py) refuses presence files above this size; the writer stays under it.
MAX_INVENTORY_BYTES = 64 * 1024 * 1024
MAX_BLOB_SIZE = 1 << 40  # 1 TiB: no layer is that big; a bigger number is a broken manifest
HEADS_AT_ONCE = 8
MAX_INDEX_DEPTH = 2  # an index of indexes is rare; deeper nesting is refused


@dataclass(frozen=True)
class InventoryLimits:
    """Caps that keep memory and the file bounded; above them the operator narrows the path."""

    repositories: int = 20_000
    tags: int = 200_000  # over all repositories
    manifests: int = 200_000  # distinct manifests and indexes
    blobs: int = 300_000  # distinct config and layer blobs


@dataclass(frozen=True)
class TagEntry:
    tag: str
    digest: str  # what the tag points at: a manifest or an index


@dataclass
class RepositoryEntry:
    name: str  # full repository path in the registry
    tags: list[TagEntry] = field(default_factory=list)


@dataclass
class Inventory:
    registry: str  # host[:port][/path] as given
    taken: str  # ISO 8601 UTC
    repositories: list[RepositoryEntry]
    blobs: dict[str, int]  # digest -> size, configs and layers
    warnings: list[str] = field(default_factory=list)

    @property
    def tag_count(self) -> int:
        return sum(len(r.tags) for r in self.repositories)

    @property
    def blob_bytes(self) -> int:
        return sum(self.blobs.values())


def _too_many(what: str, limit: int, kind: str) -> AirgapError:
    return RegistryError(
        what,
        f"it holds more than {limit} {kind}, more than an inventory is meant to list",
        "Take the inventory of a narrower path (--registry host:port/path)",
    )


class _Walker:
    """Collects blob digests per manifest; each distinct manifest is fetched once."""

    def __init__(self, client: RegistryClient, limits: InventoryLimits) -> None:
        self.client = client
        self.limits = limits
        self.seen_manifests: set[str] = set()
        self.blobs: dict[str, int] = {}
        self.warnings: list[str] = []

    def walk(self, repository: str, digest: str, depth: int = 0) -> None:
        if digest in self.seen_manifests:
            return
        if len(self.seen_manifests) >= self.limits.manifests:
            raise _too_many(f"Registry {self.client.host}", self.limits.manifests, "manifests")
        self.seen_manifests.add(digest)
        what = f"Manifest {self.client.host}/{repository}@{digest}"
        try:
            body, media_type, _digest = self.client.manifest_body(repository, digest)
        except NotFoundError:
            self.warnings.append(f"{what}: listed but not found; its blobs are not counted")
            return
        if media_type in INDEX_TYPES:
            try:
                children = _index_children(body, what)
            except RegistryError as exc:
                self.warnings.append(f"{exc.sentence()} Its blobs are not counted")
                return
            for child in children:
                if depth >= MAX_INDEX_DEPTH:
                    self.warnings.append(f"{what}: indexes nested too deep; not followed")
                    return
                self.walk(repository, child, depth + 1)
            return
        try:
            config_digest, config_size, layers = parse_image_manifest(
                body, media_type, digest, what
            )
        except RegistryError as exc:
            self.warnings.append(f"{exc.sentence()} Its blobs are not counted")
            return
        self._add(config_digest, config_size, what)
        for layer in layers:
            self._add(layer.digest, layer.size, what)

    def _add(self, digest: str, size: int, what: str) -> None:
        if size > MAX_BLOB_SIZE:
            self.warnings.append(f"{what}: gives blob {digest} an absurd size {size}; not counted")
            return
        known = self.blobs.get(digest)
        if known is None:
            if len(self.blobs) >= self.limits.blobs:
                raise _too_many(f"Registry {self.client.host}", self.limits.blobs, "blobs")
            self.blobs[digest] = size
        elif known != size:
            self.warnings.append(
                f"{what}: gives blob {digest} size {size}, another manifest {known}; "
                "the first is kept"
            )


def _index_children(body: bytes, what: str) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RegistryError(what, "the registry sent an index that is not JSON") from exc
    entries = data.get("manifests") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise RegistryError(what, "the index has no list of manifests")
    children: list[str] = []
    for entry in entries:
        digest = entry.get("digest") if isinstance(entry, dict) else None
        if not isinstance(digest, str) or not _is_digest(digest):
            raise RegistryError(what, f"the index lists an invalid digest {str(digest)[:80]!r}")
        children.append(digest)
    return children


def _is_digest(text: str) -> bool:
    hexpart = text[7:]
    return (
        text.startswith("sha256:")
        and len(hexpart) == 64
        and all(c in "0123456789abcdef" for c in hexpart)
    )


def in_prefix(repository: str, prefix: str) -> bool:
    """`analyzers/semgrep` is under `analyzers`; `analyzers-old/x` is not."""
    return not prefix or repository == prefix or repository.startswith(prefix.rstrip("/") + "/")


def take_inventory(
    client: RegistryClient,
    prefix: str = "",
    *,
    registry: str | None = None,
    limits: InventoryLimits | None = None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    now: datetime | None = None,
) -> Inventory:
    """List every repository under `prefix`, its tags with digests, and every blob they use.

    Tags are resolved with HEAD (cheap, side by side); only manifests not seen before are
    fetched, so thousands of tags on a few images cost few GETs. A tag deleted while the
    inventory runs is left out with a warning, not an error."""
    limits = limits or InventoryLimits()
    taken = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    label = registry or (f"{client.host}/{prefix}" if prefix else client.host)
    names: list[str] = []
    for name in client.repositories(limit=limits.repositories * 50):
        if in_prefix(name, prefix):
            names.append(name)
            if len(names) > limits.repositories:
                raise _too_many(f"Registry {label}", limits.repositories, "repositories")
    names.sort()
    walker = _Walker(client, limits)
    repositories: list[RepositoryEntry] = []
    tag_total = 0
    with ThreadPoolExecutor(HEADS_AT_ONCE, thread_name_prefix="airgap-tui-inventory") as pool:
        for number, name in enumerate(names, 1):
            if cancel is not None:
                cancel.check("Inventory")
            progress(Progress(STAGE_INVENTORY, "repositories", number - 1, len(names), name))
            try:
                tags = sorted(client.tags(name))
            except NotFoundError:
                tags = []  # listed in the catalog, but no tags (all deleted): holds nothing
            tag_total += len(tags)
            if tag_total > limits.tags:
                raise _too_many(f"Registry {label}", limits.tags, "tags")
            entry = RepositoryEntry(name)
            digests = pool.map(lambda tag, repo=name: client.manifest_exists(repo, tag), tags)
            for tag, digest in zip(tags, digests, strict=True):
                if digest is None:
                    walker.warnings.append(f"{name}:{tag}: listed but gone; left out")
                    continue
                entry.tags.append(TagEntry(tag, digest))
                walker.walk(name, digest)
            repositories.append(entry)
    progress(Progress(STAGE_INVENTORY, "repositories", len(names), len(names), final=True))
    return Inventory(
        registry=label,
        taken=taken,
        repositories=repositories,
        blobs=walker.blobs,
        warnings=walker.warnings,
    )


def inventory_lines(inventory: Inventory) -> Iterable[bytes]:
    """The inventory as JSON, one repository or blob per line: readable, streamed, stable."""

    def dumps(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def rows(items: Iterable[Any]) -> Iterable[bytes]:
        chunk: list[str] = []
        for i, item in enumerate(items):
            chunk.append(("\n " if i == 0 else ",\n ") + dumps(item))
            if len(chunk) >= 1024:
                yield "".join(chunk).encode()
                chunk = []
        yield "".join(chunk).encode()

    head = {
        "kind": INVENTORY_KIND,
        "version": INVENTORY_VERSION,
        "tool_version": __version__,
        "tool_sha256": running_tool().sha256,  # the archive that took it; null: installed
        "registry": inventory.registry,
        "taken": inventory.taken,
        "warnings": inventory.warnings,
    }
    yield ("{" + dumps(head)[1:-1] + ',\n"repositories":[').encode()
    yield from rows(
        {"name": r.name, "tags": [{"tag": t.tag, "digest": t.digest} for t in r.tags]}
        for r in inventory.repositories
    )
    yield b'\n],\n"blobs":['
    yield from rows({"digest": d, "size": n} for d, n in sorted(inventory.blobs.items()))
    yield b"\n]}\n"


def write_inventory(inventory: Inventory, path: Path) -> str:
    """Write atomically (.part -> fsync -> rename); returns the file's sha256 hex, which a
    delta made against it records as `against`."""

    def bounded() -> Iterator[bytes]:
        written = 0
        for data in inventory_lines(inventory):
            written += len(data)
            if written > MAX_INVENTORY_BYTES:
                raise RegistryError(
                    f"Inventory of {inventory.registry}",
                    f"it would be larger than {MAX_INVENTORY_BYTES // (1024 * 1024)} MiB, "
                    "more than export --delta-from reads",
                    "Take the inventory of a narrower path (--registry host:port/path)",
                )
            yield data

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_stream(path, bounded())
    except OSError as exc:
        raise MediaError(
            f"Inventory file {path}",
            f"could not be written ({exc.strerror or exc})",
            "Give --out a path in a writable directory",
        ) from None


def default_inventory_path(host: str, now: datetime | None = None) -> Path:
    """`airgap-inventory-<host>-<UTC time>.json` in the current directory."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return Path(f"airgap-inventory-{safe}-{stamp}.json")
