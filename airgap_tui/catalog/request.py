"""The request file: what the offline GitLab's templates pull, carried to the connected host.

Written on the offline host by `airgap-tui request` (atomically: a half-written request never
looks complete) and read on the connected host by `export --request` / `estimate --request`.
On the connected side it is hostile input, like a receipt: bounded size and depth, every
field checked, every error naming the file, the field and what to do. The inventory it may
embed is the one `airgap-tui inventory` writes; the delta code reads that part.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airgap_tui import __version__
from airgap_tui.catalog.templates import TemplateImage
from airgap_tui.errors import MediaError, UsageError

REQUEST_KIND = "airgap-tui request"
REQUEST_VERSION = 1
INVENTORY_KIND = "airgap-tui registry inventory"  # what `airgap-tui inventory` writes
MAX_INVENTORY_BYTES = 64 * 1024 * 1024  # the inventory reader's own cap
MAX_REQUEST_BYTES = MAX_INVENTORY_BYTES + 16 * 1024 * 1024
MAX_REQUEST_IMAGES = 10_000
MAX_JSON_DEPTH = 16

SOURCE_TEMPLATES = "templates"
SOURCE_GITLAB_API = "gitlab-api"

_NEXT = (
    "Write the request again on the offline host (`airgap-tui request … --out FILE`) "
    "and carry it unedited"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_VERSION = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,6}){0,3}(?:[-+][A-Za-z0-9.-]{1,40})?")
_TEMPLATE = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+){0,7}")


class RequestError(UsageError):
    """A request file that cannot be used, or options that do not fit the templates."""


@dataclass(frozen=True)
class RequestedImage:
    """One image a job of the offline GitLab's templates pulls."""

    name: str  # path under the analyzer prefix; outside it, the full reference without tag
    tag: str
    job: str
    template: str
    opt_in: str | None
    fips: bool
    under_prefix: bool = True
    note: str | None = None

    @property
    def reference(self) -> str:
        sep = "@" if self.tag.startswith("sha256:") else ":"
        return f"{self.name}{sep}{self.tag}"

    @classmethod
    def of(cls, image: TemplateImage) -> RequestedImage:
        return cls(
            image.name,
            image.tag,
            image.job,
            image.template,
            image.opt_in,
            image.fips,
            image.under_prefix,
            image.note,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tag": self.tag,
            "job": self.job,
            "template": self.template,
            "opt_in": self.opt_in,
            "fips": self.fips,
            "under_prefix": self.under_prefix,
            "note": self.note,
        }


@dataclass(frozen=True)
class Request:
    """A request as read back: checked, with the inventory left for the delta reader."""

    path: Path
    images: tuple[RequestedImage, ...]
    left_out: tuple[RequestedImage, ...]
    gitlab_version: str | None
    fips: bool
    source: str
    written: str
    inventory: Mapping[str, Any] | None
    inventory_sha256: str | None  # of the inventory's canonical JSON: a delta's `against`

    def references(self) -> list[str]:
        """Each distinct image under the analyzer prefix once, as `name:tag`, sorted."""
        return sorted({i.reference for i in self.images if i.under_prefix})

    def outside_prefix(self) -> list[RequestedImage]:
        return [i for i in self.images if not i.under_prefix]


# ---------------------------------------------------------------------------------------------
# Building and writing


def select_images(
    images: Sequence[TemplateImage],
    *,
    all_opt_in: bool = False,
    opt_in: Iterable[str] = (),
) -> tuple[list[TemplateImage], list[TemplateImage]]:
    """(requested, left out): jobs that run without a switch, plus the opt-ins asked for."""
    wanted = {name.strip() for name in opt_in if name.strip()}
    known = {i.opt_in for i in images if i.opt_in}
    unknown = sorted(wanted - known)
    if unknown:
        waits = ", ".join(sorted(known)) or "none"
        raise RequestError(
            f"--opt-in {','.join(unknown)}",
            f"no job in these templates waits for {'it' if len(unknown) == 1 else 'them'} "
            f"(the variables jobs wait for: {waits})",
            "Give the names of the variables exactly as the templates spell them",
        )
    requested: list[TemplateImage] = []
    left: list[TemplateImage] = []
    for image in images:
        if image.opt_in is None or all_opt_in or image.opt_in in wanted:
            requested.append(image)
        else:
            left.append(image)
    return requested, left


def public_source(kind: str, url: str | None = None) -> str:
    """Where the templates came from, with no credentials (a URL's user:password is dropped)."""
    if kind == SOURCE_GITLAB_API and url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return f"{SOURCE_GITLAB_API} {parts.scheme}://{host}{parts.path}".rstrip("/")
    return kind


def build_request(
    requested: Sequence[TemplateImage],
    left_out: Sequence[TemplateImage] = (),
    *,
    gitlab_version: str | None,
    fips: bool,
    source: str,
    inventory: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The request as a JSON object (docs/request-format.md)."""
    if len(requested) + len(left_out) > MAX_REQUEST_IMAGES:
        raise RequestError(
            "Request",
            f"the templates name more than {MAX_REQUEST_IMAGES:,} images",
            "Give GitLab's templates directory, not a generated one",
        )
    data: dict[str, Any] = {
        "kind": REQUEST_KIND,
        "version": REQUEST_VERSION,
        "tool_version": __version__,
        "written": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source,
        "gitlab_version": gitlab_version,
        "fips": fips,
        "images": [RequestedImage.of(i).as_json() for i in requested],
        "left_out": [RequestedImage.of(i).as_json() for i in left_out],
    }
    if inventory is not None:
        data["inventory"] = dict(inventory)
    return data


def write_request(data: Mapping[str, Any], path: Path) -> str:
    """Write atomically (.part -> fsync -> rename -> fsync dir); returns the file's sha256."""
    raw = (json.dumps(data, indent=1, sort_keys=False) + "\n").encode()
    if len(raw) > MAX_REQUEST_BYTES:
        raise RequestError(
            f"Request file {path}",
            f"it would be larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB, more than "
            "export --request reads",
            "Take the inventory of a narrower path (--registry host:port/path)",
        )
    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644
        )
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise MediaError(
            f"Request file {path}",
            f"could not be written ({exc.strerror or exc})",
            "Give --out a path in a writable directory (the stick's mount point)",
        ) from None
    return hashlib.sha256(raw).hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (FAT via FUSE) cannot; the rename is still atomic
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Reading back (hostile input)


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
        field = f"{where}.{key}" if where else key
        if key not in obj:
            raise self.fail(field, "it is missing")
        value = obj[key]
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(field, f"it is {_json_type(value)}, not {_type_name(kind)}")
        if not isinstance(value, kind):
            raise self.fail(field, f"it is {_json_type(value)}, not {_type_name(kind)}")
        return value

    def text(
        self, obj: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str], limit: int
    ) -> str:
        value = self.get(obj, key, where, str)
        if len(value) > limit or not pattern.fullmatch(value):
            field = f"{where}.{key}" if where else key
            raise self.fail(field, f"{value[:80]!r} is not a valid {key}")
        return str(value)


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "a number", list: "a list"}
    names[dict] = "an object"
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key[:40]!r} appears twice in one object")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _read_bounded(path: Path) -> bytes:
    what = f"Request file {path}"
    step = "Give the request file `airgap-tui request` wrote on the offline host"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RequestError(what, "it does not exist", step) from None
    except OSError as exc:
        raise RequestError(what, f"it cannot be opened ({exc.strerror or exc})", step) from None
    chunks: list[bytes] = []
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RequestError(what, "it is not a regular file", step)
        total = info.st_size
        if total > MAX_REQUEST_BYTES:
            raise _too_big(path)
        total = 0
        while chunk := os.read(fd, 1024 * 1024):
            total += len(chunk)
            if total > MAX_REQUEST_BYTES:  # it grew while being read
                raise _too_big(path)
            chunks.append(chunk)
    except OSError as exc:
        raise RequestError(what, f"it cannot be read ({exc.strerror or exc})", step) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise fields.fail("", "it is not UTF-8 text (a request is JSON)") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except RecursionError:
        raise fields.fail("", "it nests deeper than any request does") from None
    except ValueError as exc:
        raise fields.fail("", f"it is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise fields.fail("", f"it is {_json_type(data)}, not a JSON object")
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
            raise fields.fail(f"{at}.under_prefix", f"it is {_json_type(under)}, not true or false")
        name = fields.get(item, "name", at, str)
        if len(name) > 255 or not _valid_name(name, under):
            raise fields.fail(f"{at}.name", f"{name[:80]!r} is not an image path")
        tag = fields.get(item, "tag", at, str)
        if not (_TAG.fullmatch(tag) or _DIGEST.fullmatch(tag)):
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


def _valid_name(name: str, under_prefix: bool) -> bool:
    if under_prefix:
        return _PATH.fullmatch(name) is not None
    first, _, rest = name.partition("/")
    if "." in first or ":" in first or first == "localhost":
        return _HOST.fullmatch(first) is not None and _PATH.fullmatch(rest) is not None
    return _PATH.fullmatch(name) is not None
