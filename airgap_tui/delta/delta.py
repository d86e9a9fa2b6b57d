"""Delta bundles: what the offline registry already holds, and what the next bundle carries.

The presence file (an import receipt or an inventory) crossed the air gap on a stick, maybe
weeks ago, maybe edited on the way: it is read as hostile input, bounded, every field checked.
A wrong "present" would make a bundle that cannot be imported, a trip back to the other
building; so when in doubt the file is refused with what to do instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgap_tui.bundle.jsonfile import field_problem, parse_object, read_bounded
from airgap_tui.bundle.jsonfile import json_type as _json_type
from airgap_tui.delta.inventory import (
    INVENTORY_KIND,
    INVENTORY_VERSION,
    MAX_BLOB_SIZE,
    MAX_INVENTORY_BYTES,
)
from airgap_tui.delta.tool import HeldTool, read_held_tool
from airgap_tui.errors import UsageError
from airgap_tui.registry.reference import split_prefix, validate_repository_path, validate_tag

RECEIPT_KIND = "airgap-tui import receipt"
REQUEST_KIND = "airgap-tui request"  # catalog/request.py; its inventory can stand in
MAX_PRESENCE_BYTES = MAX_INVENTORY_BYTES  # 64 MiB: far above any real registry's list
FRESH_INVENTORY = (
    "make a fresh inventory with `airgap-tui inventory --registry R --out FILE` on the offline host"
)
KIND_RECEIPT, KIND_INVENTORY, KIND_MIXED = "receipt", "inventory", "mixed"
SKIPPED = "skipped"  # a receipt's status for an artifact `import --via-docker` left out


class PresenceError(UsageError):
    """A receipt or inventory given to --delta-from that cannot be trusted."""


@dataclass(frozen=True)
class BlobRef:
    digest: str
    size: int


@dataclass(frozen=True)
class PresenceSource:
    """One file a presence was read from; `sha256` is what a delta records as `against`."""

    path: Path
    kind: str  # receipt | inventory
    sha256: str
    registry: str  # host[:port][/path] the file describes
    host: str
    tool: HeldTool | None = None  # the airgap-tui that wrote it (None: not recorded)


@dataclass(frozen=True)
class Presence:
    """Blobs known to be in the offline registry, from one or more files."""

    blobs: Mapping[str, int]  # digest -> size
    sources: tuple[PresenceSource, ...]

    @property
    def host(self) -> str:
        return self.sources[0].host

    @property
    def kind(self) -> str:
        kinds = {s.kind for s in self.sources}
        return kinds.pop() if len(kinds) == 1 else KIND_MIXED

    @property
    def against(self) -> str:
        """The file's sha256; for several files, the sha256 of their sorted sha256s."""
        shas = sorted({s.sha256 for s in self.sources})
        if len(shas) == 1:
            return shas[0]
        text = "airgap-tui delta against\n" + "\n".join(shas) + "\n"
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def tools(self) -> tuple[HeldTool, ...]:
        """The airgap-tui each file names: what the offline host ran (delta/tool.py)."""
        return tuple(s.tool for s in self.sources if s.tool is not None)

    def has(self, digest: str, size: int) -> bool:
        return self.blobs.get(digest) == size


# ---------------------------------------------------------------------------------------------
# Reading one file


class _Reader:
    """Field checks that name the file, the field and what to do."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind

    def fail(self, field: str, problem: str, next_step: str = "") -> PresenceError:
        if not next_step:
            if self.kind == KIND_RECEIPT:
                next_step = (
                    "Use the receipt `airgap-tui import` wrote, unedited, or " + FRESH_INVENTORY
                )
            else:
                next_step = FRESH_INVENTORY[0].upper() + FRESH_INVENTORY[1:]
        where = f"{self.path}: field {field}" if field else str(self.path)
        return PresenceError(where, problem, next_step)

    def get(
        self, obj: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]
    ) -> Any:
        problem = field_problem(obj, key, kind)
        if problem is not None:
            raise self.fail(f"{where}.{key}" if where else key, problem)
        return obj[key]

    def blob(self, entry: object, field: str) -> BlobRef:
        if not isinstance(entry, dict):
            raise self.fail(field, f"it is {_json_type(entry)}, not an object")
        digest = self.get(entry, "digest", field, str)
        if not _is_digest(digest):
            raise self.fail(
                f"{field}.digest",
                f"{digest[:80]!r} is not a digest (sha256: and 64 lowercase hex digits)",
            )
        size = self.get(entry, "size", field, int)
        if not 0 <= size <= MAX_BLOB_SIZE:
            raise self.fail(f"{field}.size", f"{size} is not a blob size (0 to 1 TiB)")
        return BlobRef(digest, size)

    def registry(self, data: Mapping[str, Any]) -> tuple[str, str]:
        text = self.get(data, "registry", "", str)
        try:
            host, _path = split_prefix(text)
        except UsageError as exc:
            raise self.fail("registry", exc.cause) from None
        return text, host.lower()

    def blob_list(self, items: object, field: str, blobs: dict[str, int], *, dup_ok: bool) -> None:
        """Add every entry to `blobs`; a digest twice in this list, or with two sizes, is refused
        (`dup_ok`: the same blob may be listed again by another image of a receipt)."""
        if not isinstance(items, list):
            raise self.fail(field, f"it is {_json_type(items)}, not a list")
        here: set[str] = set()
        for i, entry in enumerate(items):
            ref = self.blob(entry, f"{field}[{i}]")
            if ref.digest in here:
                raise self.fail(f"{field}[{i}]", f"blob {ref.digest} is listed twice")
            here.add(ref.digest)
            known = blobs.get(ref.digest)
            if known is not None and known != ref.size:
                raise self.fail(
                    f"{field}[{i}].size",
                    f"blob {ref.digest} is listed with two sizes ({known} and {ref.size})",
                )
            if known is not None and not dup_ok:
                raise self.fail(f"{field}[{i}]", f"blob {ref.digest} is listed twice")
            blobs[ref.digest] = ref.size


def _is_digest(text: str) -> bool:
    hexpart = text[7:]
    return (
        text.startswith("sha256:")
        and len(hexpart) == 64
        and all(c in "0123456789abcdef" for c in hexpart)
    )


def _read_bounded(path: Path) -> bytes:
    what = f"Presence file {path}"
    step = "Give the path of a receipt written by `airgap-tui import`, or " + FRESH_INVENTORY
    return read_bounded(
        path,
        MAX_PRESENCE_BYTES,
        lambda cause: PresenceError(what, cause, step),
        lambda: _too_big(path),
    )


def _too_big(path: Path) -> PresenceError:
    return PresenceError(
        f"Presence file {path}",
        f"it is larger than {MAX_PRESENCE_BYTES // (1024 * 1024)} MiB, far more than any "
        "receipt or inventory; it is not one, or it is damaged",
        "Give the receipt written by `airgap-tui import`, or " + FRESH_INVENTORY,
    )


def load_presence(path: Path) -> Presence:
    """Read one receipt or inventory; every way it can be wrong is a PresenceError."""
    raw = _read_bounded(path)
    sha = hashlib.sha256(raw).hexdigest()
    reader = _Reader(path, KIND_INVENTORY)
    data = parse_object(raw, lambda cause: reader.fail("", cause), "a receipt or inventory")
    kind = data.get("kind")
    if kind == RECEIPT_KIND:
        reader.kind = KIND_RECEIPT
        return _receipt(reader, data, sha)
    if kind == INVENTORY_KIND:
        return _inventory(reader, data, sha)
    if kind == REQUEST_KIND:  # a request made with --registry: the inventory it carries
        return _request_inventory(path)
    raise reader.fail(
        "kind",
        f"it is {str(kind)[:60]!r}, neither {RECEIPT_KIND!r} nor {INVENTORY_KIND!r}"
        if kind is not None
        else "it is missing: this is neither an import receipt nor an inventory",
        "Give a receipt written by `airgap-tui import`, or " + FRESH_INVENTORY,
    )


def presence_from_inventory(data: Mapping[str, Any], path: Path, sha: str) -> Presence:
    """An inventory carried inside another file (a request): the checks a file gets."""
    reader = _Reader(path, KIND_INVENTORY)
    if data.get("kind") != INVENTORY_KIND:
        raise reader.fail("inventory.kind", f"it is not {INVENTORY_KIND!r}")
    return _inventory(reader, data, sha)


def _request_inventory(path: Path) -> Presence:
    from airgap_tui.catalog.request_read import read_request

    request = read_request(path)  # every field checked, as export --request does
    if request.inventory is None or request.inventory_sha256 is None:
        raise PresenceError(
            f"Request file {path}",
            "it holds no inventory: it was written without --registry",
            "Carry every image it names (export --request), or write it again with --registry",
        )
    return presence_from_inventory(request.inventory, path, request.inventory_sha256)


def _receipt(reader: _Reader, data: Mapping[str, Any], sha: str) -> Presence:
    registry, host = reader.registry(data)
    ok = reader.get(data, "ok", "", bool)
    images = reader.get(data, "images", "", list)
    if not ok:
        raise reader.fail(
            "ok",
            f"the import it records did not finish (ok is false): not every blob it lists may "
            f"be in {registry}",
            "Run the import again until its receipt says ok and use that receipt, or "
            + FRESH_INVENTORY,
        )
    blobs: dict[str, int] = {}
    for i, image in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(image, dict):
            raise reader.fail(where, f"it is {_json_type(image)}, not an object")
        for key in ("name", "tag", "target"):
            if key in image:
                reader.get(image, key, where, str)
        if not reader.get(image, "ok", where, bool):
            if image.get("status") == SKIPPED:
                continue  # an artifact the Docker route cannot load: nothing of it was pushed
            raise reader.fail(
                f"{where}.ok", "this image failed although the receipt says ok: it was edited"
            )
        if "blobs" not in image:
            raise reader.fail(
                f"{where}.blobs",
                "it is missing: this receipt was written by an airgap-tui older than bundle "
                "format 2, which did not record blobs",
                FRESH_INVENTORY[0].upper() + FRESH_INVENTORY[1:],
            )
        reader.blob_list(image["blobs"], f"{where}.blobs", blobs, dup_ok=True)
    tool = read_held_tool(data, reader.path, reader.fail)
    source = PresenceSource(reader.path, KIND_RECEIPT, sha, registry, host, tool)
    return Presence(blobs, (source,))


def _inventory(reader: _Reader, data: Mapping[str, Any], sha: str) -> Presence:
    version = reader.get(data, "version", "", int)
    if version != INVENTORY_VERSION:
        raise reader.fail(
            "version",
            f"it is {version}; this airgap-tui reads version {INVENTORY_VERSION}",
            "Use the same airgap-tui version on both hosts, or " + FRESH_INVENTORY,
        )
    registry, host = reader.registry(data)
    reader.get(data, "taken", "", str)
    repositories = reader.get(data, "repositories", "", list)
    names: set[str] = set()
    for i, repo in enumerate(repositories):
        where = f"repositories[{i}]"
        if not isinstance(repo, dict):
            raise reader.fail(where, f"it is {_json_type(repo)}, not an object")
        name = reader.get(repo, "name", where, str)
        try:
            validate_repository_path(name[:256])
        except UsageError as exc:
            raise reader.fail(f"{where}.name", exc.cause) from None
        if name in names:
            raise reader.fail(f"{where}.name", f"repository {name!r} is listed twice")
        names.add(name)
        tags: set[str] = set()
        for j, entry in enumerate(reader.get(repo, "tags", where, list)):
            field = f"{where}.tags[{j}]"
            if not isinstance(entry, dict):
                raise reader.fail(field, f"it is {_json_type(entry)}, not an object")
            tag = reader.get(entry, "tag", field, str)
            try:
                validate_tag(tag)
            except UsageError as exc:
                raise reader.fail(f"{field}.tag", exc.cause) from None
            if tag in tags:
                raise reader.fail(f"{field}.tag", f"tag {tag!r} of {name} is listed twice")
            tags.add(tag)
            digest = reader.get(entry, "digest", field, str)
            if not _is_digest(digest):
                raise reader.fail(
                    f"{field}.digest",
                    f"{digest[:80]!r} is not a digest (sha256: and 64 lowercase hex digits)",
                )
    blobs: dict[str, int] = {}
    reader.blob_list(reader.get(data, "blobs", "", list), "blobs", blobs, dup_ok=False)
    tool = read_held_tool(data, reader.path, reader.fail)
    source = PresenceSource(reader.path, KIND_INVENTORY, sha, registry, host, tool)
    return Presence(blobs, (source,))


# ---------------------------------------------------------------------------------------------
# Several files


def merge_presence(presences: Sequence[Presence]) -> Presence:
    """One presence from several files (repeatable --delta-from) of the SAME registry host."""
    if not presences:
        raise ValueError("merge_presence needs at least one presence")
    blobs: dict[str, int] = {}
    sources: list[PresenceSource] = []
    owner: dict[str, Path] = {}
    first = presences[0].sources[0]
    for presence in presences:
        for source in presence.sources:
            if source.host != first.host:
                raise PresenceError(
                    f"Presence files {first.path} and {source.path}",
                    f"they describe different registries ({first.registry} and {source.registry})",
                    "Give only receipts or inventories of the registry you will import into",
                )
            if all(s.sha256 != source.sha256 for s in sources):
                sources.append(source)
        for digest, size in presence.blobs.items():
            known = blobs.get(digest)
            if known is not None and known != size:
                raise PresenceError(
                    f"Presence files {owner[digest]} and {presence.sources[0].path}",
                    f"they give blob {digest} two sizes ({known} and {size})",
                    "One of them was edited or damaged; " + FRESH_INVENTORY,
                )
            if known is None:
                blobs[digest] = size
                owner[digest] = presence.sources[0].path
    return Presence(blobs, tuple(sources))


def load_presences(paths: Sequence[Path]) -> Presence:
    """Read and merge every --delta-from file."""
    return merge_presence([load_presence(p) for p in paths])


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class DeltaPlan:
    """Which blobs the bundle carries (tar order), which the target must already hold."""

    carry: tuple[BlobRef, ...]
    expected: tuple[BlobRef, ...]  # in the order the images first use them
    full_bytes: int  # every blob carried: the full bundle's blob bytes
    delta_bytes: int  # the blobs this delta carries
    against: str
    kind: str

    @property
    def saved_bytes(self) -> int:
        return self.full_bytes - self.delta_bytes

    def manifest_field(self) -> dict[str, Any]:
        """bundle.yaml's `delta` (see docs/bundle-format.md, "Delta bundles")."""
        return {
            "against": self.against,
            "kind": self.kind,
            "expected": [{"digest": b.digest, "size": b.size} for b in self.expected],
        }


def plan_delta(
    blobs: Iterable[BlobRef], presence: Presence, *, always_carry: Collection[str]
) -> DeltaPlan:
    """Leave out each layer the target holds (same digest AND size); `always_carry` (every
    manifest, index and config) is carried regardless, as the contract says.

    `blobs` is every blob of the selected images in tar order; a digest listed again is the
    same blob shared by another image, and is counted once."""
    carry: list[BlobRef] = []
    expected: list[BlobRef] = []
    seen: dict[str, int] = {}
    for ref in blobs:
        known = seen.get(ref.digest)
        if known is not None:
            if known != ref.size:
                raise ValueError(f"blob {ref.digest} given with two sizes ({known}, {ref.size})")
            continue
        seen[ref.digest] = ref.size
        if ref.digest not in always_carry and presence.has(ref.digest, ref.size):
            expected.append(ref)
        else:
            carry.append(ref)
    return DeltaPlan(
        carry=tuple(carry),
        expected=tuple(expected),
        full_bytes=sum(seen.values()),
        delta_bytes=sum(b.size for b in carry),
        against=presence.against,
        kind=presence.kind,
    )
