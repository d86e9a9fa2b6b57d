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
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airgap_tui import __version__
from airgap_tui.bundle.atomic import atomic_write_bytes
from airgap_tui.catalog.template_model import TemplateImage
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


SOURCE_CATALOG = "built-in catalog"  # neither given: not from the instance


_NEXT = (
    "Write the request again on the offline host (`airgap-tui request … --out FILE`) "
    "and carry it unedited"
)


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
    head = json.dumps({k: v for k, v in data.items() if k != "inventory"}, indent=1)
    if "inventory" in data:  # compact: an inventory can be large, and nobody reads it by eye
        inventory = json.dumps(data["inventory"], sort_keys=True, separators=(",", ":"))
        head = f'{head[:-2]},\n "inventory": {inventory}\n}}'
    raw = (head + "\n").encode()
    if len(raw) > MAX_REQUEST_BYTES:
        raise RequestError(
            f"Request file {path}",
            f"it would be larger than {MAX_REQUEST_BYTES // (1024 * 1024)} MiB, more than "
            "export --request reads",
            "Take the inventory of a narrower path (--registry host:port/path)",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, raw)
    except OSError as exc:
        raise MediaError(
            f"Request file {path}",
            f"could not be written ({exc.strerror or exc})",
            "Give --out a path in a writable directory (the stick's mount point)",
        ) from None
    return hashlib.sha256(raw).hexdigest()
