"""bundle.yaml's fields one by one: typed access that names the field when the manifest is
wrong, and the parsers of each entry (image, blob, part, tool, delta). schema.py puts them
together and checks the rules between fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from airgap_tui.bundle.manifest import (
    _ANALYZER,
    _VERSION,
    BUILT,
    DELTA_KINDS,
    DIGEST,
    KINDS,
    MAX_PART_SIZE,
    MEDIA_TYPE,
    PLATFORM,
    SHA256_HEX,
    BundleBlob,
    BundleImage,
    BundlePart,
    Delta,
    DeltaTool,
    ExpectedBlob,
    ToolFile,
    is_safe_part_name,
    show,
)
from airgap_tui.errors import BundleError, UsageError
from airgap_tui.registry.reference import parse_reference, validate_repository_path, validate_tag


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

    def mapping(
        self, value: object, name: str, keys: Iterable[str], optional: Iterable[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(name or "(top)", f"expected a mapping, got {type(value).__name__}")
        allowed = set(keys) | set(optional)
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
        if pattern is not None and not pattern.fullmatch(value):
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


_IMAGE_OPTIONAL_KEYS = ("built",)  # bundles written before it lack it: "unknown"


def _parse_built(s: Schema, value: object, name: str) -> str | None:
    if value is None:
        return None
    built = s.str_(value, name, BUILT)
    try:
        datetime.fromisoformat(built[:-1])  # the shape is BUILT's; this checks the values
    except ValueError as exc:
        raise s.fail(name, f"{show(built)} is not a date and time") from exc
    return built


def _parse_image(s: Schema, raw: object, name: str) -> BundleImage:
    data = s.mapping(raw, name, _IMAGE_KEYS, _IMAGE_OPTIONAL_KEYS)
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
        built=_parse_built(s, data.get("built"), f"{name}.built"),
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
    tool = None
    if isinstance(raw, dict) and "tool" in raw:  # optional: only a delta that leaves it out
        tool = _parse_delta_tool(s, raw["tool"])
        raw = {k: v for k, v in raw.items() if k != "tool"}
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
    return Delta(s.str_(data["against"], "delta.against", SHA256_HEX), kind, expected, tool)


def _parse_delta_tool(s: Schema, raw: object) -> DeltaTool:
    data = s.mapping(raw, "delta.tool", ("version", "sha256"))
    return DeltaTool(
        s.str_(data["version"], "delta.tool.version", _VERSION),
        s.opt_str(data["sha256"], "delta.tool.sha256", SHA256_HEX),
    )
