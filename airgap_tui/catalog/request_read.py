"""Reading a request file from the other side as hostile input: bounded size and depth, every
field checked, one clear sentence for what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airgap_tui.bundle.jsonfile import field_problem, parse_object, read_bounded
from airgap_tui.bundle.jsonfile import json_type as _json_type
from airgap_tui.catalog.request import (
    _NEXT,
    _TEMPLATE,
    _VARIABLE,
    _VERSION,
    INVENTORY_KIND,
    MAX_JSON_DEPTH,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_IMAGES,
    REQUEST_KIND,
    REQUEST_VERSION,
    Request,
    RequestedImage,
    RequestError,
)
from airgap_tui.catalog.template_images import is_image_name, is_image_tag


class _Fields:
    """Field checks that name the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, problem: str, next_step: str = _NEXT) -> RequestError:
        where = f"Request file {self.path}" + (f": field {field}" if field else "")
        return RequestError(where, problem, next_step)

    def get(
        self, obj: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]
    ) -> Any:
        problem = field_problem(obj, key, kind)
        if problem is not None:
            raise self.fail(f"{where}.{key}" if where else key, problem)
        return obj[key]

    def text(
        self, obj: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str], limit: int
    ) -> str:
        value = self.get(obj, key, where, str)
        if len(value) > limit or not pattern.fullmatch(value):
            field = f"{where}.{key}" if where else key
            raise self.fail(field, f"{value[:80]!r} is not a valid {key}")
        return str(value)


def _read_bounded(path: Path) -> bytes:
    what = f"Request file {path}"
    step = "Give the request file `airgap-tui request` wrote on the offline host"
    return read_bounded(
        path,
        MAX_REQUEST_BYTES,
        lambda cause: RequestError(what, cause, step),
        lambda: _too_big(path),
    )


def _too_big(path: Path) -> RequestError:
    return RequestError(
        f"Request file {path}",
        f"it is larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB, far more than any request; "
        "it is not one, or it is damaged",
        _NEXT,
    )


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a hostile file cannot exhaust the stack here)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return deepest


def read_request(path: Path) -> Request:
    """Read a request file; every way it can be wrong is a RequestError naming the field."""
    fields = _Fields(path)
    raw = _read_bounded(path)
    data = parse_object(raw, lambda cause: fields.fail("", cause), "a request")
    if _depth(data) > MAX_JSON_DEPTH:
        raise fields.fail("", f"it nests deeper than {MAX_JSON_DEPTH} levels; a request does not")
    kind = data.get("kind")
    if kind != REQUEST_KIND:
        raise fields.fail(
            "kind",
            f"it is {str(kind)[:60]!r}, not {REQUEST_KIND!r}"
            if kind is not None
            else "it is missing: this is not a request file",
            "Give the request file `airgap-tui request` wrote on the offline host",
        )
    version = fields.get(data, "version", "", int)
    if version != REQUEST_VERSION:
        raise fields.fail(
            "version",
            f"it is {version}; this airgap-tui reads version {REQUEST_VERSION}",
            "Use the same airgap-tui version on both hosts (the bundle carries it), or "
            + _NEXT[0].lower()
            + _NEXT[1:],
        )
    gitlab_version = data.get("gitlab_version")
    if gitlab_version is not None:
        gitlab_version = fields.text(data, "gitlab_version", "", _VERSION, 64)
    fips = fields.get(data, "fips", "", bool)
    source = fields.get(data, "source", "", str)[:200]
    written = fields.get(data, "written", "", str)[:40]
    images = _images(fields, fields.get(data, "images", "", list), "images")
    left_out = _images(fields, data.get("left_out", []), "left_out")
    if len(images) + len(left_out) > MAX_REQUEST_IMAGES:
        raise fields.fail("images", f"it lists more than {MAX_REQUEST_IMAGES:,} images")
    inventory = data.get("inventory")
    sha = None
    if inventory is not None:
        if not isinstance(inventory, dict):
            raise fields.fail("inventory", f"it is {_json_type(inventory)}, not an object")
        if inventory.get("kind") != INVENTORY_KIND:
            raise fields.fail(
                "inventory.kind",
                f"it is {str(inventory.get('kind'))[:60]!r}, not {INVENTORY_KIND!r}",
            )
        canonical = json.dumps(inventory, sort_keys=True, separators=(",", ":")).encode()
        sha = hashlib.sha256(canonical).hexdigest()
    return Request(
        path=path,
        images=images,
        left_out=left_out,
        gitlab_version=gitlab_version,
        fips=fips,
        source=source,
        written=written,
        inventory=inventory,
        inventory_sha256=sha,
    )


def _images(fields: _Fields, raw: Any, where: str) -> tuple[RequestedImage, ...]:
    if not isinstance(raw, list):
        raise fields.fail(where, f"it is {_json_type(raw)}, not a list")
    if len(raw) > MAX_REQUEST_IMAGES:
        raise fields.fail(where, f"it lists more than {MAX_REQUEST_IMAGES:,} images")
    out: list[RequestedImage] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise fields.fail(at, f"it is {_json_type(item)}, not an object")
        under = item.get("under_prefix", True)
        if not isinstance(under, bool):
            raise fields.fail(f"{at}.under_prefix", f"it is {_json_type(under)}, not a boolean")
        name = fields.get(item, "name", at, str)
        if len(name) > 255 or not is_image_name(name, under_prefix=under):
            raise fields.fail(f"{at}.name", f"{name[:80]!r} is not an image path")
        tag = fields.get(item, "tag", at, str)
        if not is_image_tag(tag):
            raise fields.fail(f"{at}.tag", f"{tag[:80]!r} is not a tag")
        job = fields.get(item, "job", at, str)
        if not job or len(job) > 255 or any(ord(c) < 32 for c in job):
            raise fields.fail(f"{at}.job", f"{job[:80]!r} is not a job name")
        template = fields.text(item, "template", at, _TEMPLATE, 512)
        if ".." in template.split("/"):
            raise fields.fail(f"{at}.template", f"{template[:80]!r} is not a template path")
        opt_in = item.get("opt_in")
        if opt_in is not None and (not isinstance(opt_in, str) or not _VARIABLE.fullmatch(opt_in)):
            raise fields.fail(f"{at}.opt_in", "it is neither null nor a variable name")
        fips = fields.get(item, "fips", at, bool)
        note = item.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 2000):
            raise fields.fail(f"{at}.note", "it is neither null nor a short text")
        out.append(RequestedImage(name, tag, job, template, opt_in, fips, under, note))
    return tuple(out)
