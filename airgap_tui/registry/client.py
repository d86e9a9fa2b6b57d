"""A small Registry HTTP API v2 client: auth challenges, tags, manifests (+ indexes), blob tails.

The estimate needs only tiny requests (manifests, configs, the last bytes of layers), and the
import needs to know what a registry already holds; neither needs a Docker engine, so this
speaks HTTP directly. Credentials and tokens live only in memory and never reach an error text.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from airgap_tui.errors import AuthError, NotFoundError, RegistryError, TLSError
from airgap_tui.events import CancelToken
from airgap_tui.models import DEFAULT_PLATFORM, Credentials
from airgap_tui.registry.dockerconfig import credentials_for

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

RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the distribution registry's own limit
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_TAG_PAGES = 1000
DEFAULT_CERTS_DIR = Path("/etc/docker/certs.d")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


STREAM_CHUNK = 256 * 1024


@dataclass(frozen=True)
class RawManifest:
    """A manifest or index exactly as the registry sent it: the bundle carries these bytes."""

    data: bytes
    media_type: str
    digest: str


def _wrong_bytes(what: str, got: str) -> RegistryError:
    return RegistryError(
        what,
        "the bytes the registry (or a proxy in front of it) sent do not match the digest "
        f"(got {got})",
        "Nothing of it was kept: run the export again; if this repeats, check the registry "
        "and the proxy between this host and it",
    )


class RegistryUnreachable(RegistryError):
    """No HTTP answer at all (refused, reset, timeout, DNS): true for every image on the host.

    Said as one sentence, "can't reach HOST: cause; check the network or proxy, or set a
    mirror", the same for every image and every call, so an operator reads it once."""

    def sentence(self) -> str:
        text = f"{self.what}: {self.cause}"
        if self.next_step:
            text += f"; {self.next_step}"
        return text if text.endswith(".") else text + "."


UNREACHABLE_NEXT_STEP = "check the network or proxy, or set a mirror"
UNREACHABLE_MEMO_SECONDS = 30.0
CONNECT_TIMEOUT = 5.0  # a TCP connect that takes longer is a dropped packet, not a slow link

# Hosts that gave no answer at all, so every later call in this process fails at once with the
# same sentence instead of waiting for the same timeout again; origins that did answer once are
# never memoised (a registry that restarts mid-run is retried instead). Keyed by host name (DNS)
# or by scheme://host:port (refused, connect timeout, proxy).
_unreachable: dict[str, tuple[RegistryUnreachable, float]] = {}
_answered: set[str] = set()
_memo_lock = threading.Lock()


def forget_unreachable() -> None:
    """Forget every host found unreachable (the operator fixed the network or asked again)."""
    with _memo_lock:
        _unreachable.clear()


def _memoised(keys: tuple[str, ...]) -> RegistryUnreachable | None:
    now = time.monotonic()
    with _memo_lock:
        for key in keys:
            found = _unreachable.get(key)
            if found is not None:
                if found[1] > now:
                    return found[0]
                del _unreachable[key]
    return None


# ---------------------------------------------------------------------------------------------
# Plain data


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


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str]


# ---------------------------------------------------------------------------------------------
# Parsing helpers (pure, unit-tested)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a `WWW-Authenticate` value (RFC 7235): several challenges, quoted values, commas."""
    text = header or ""
    pos = 0
    out: list[Challenge] = []

    def skip(chars: str) -> None:
        nonlocal pos
        while pos < len(text) and text[pos] in chars:
            pos += 1

    def token() -> str:
        nonlocal pos
        match = _TOKEN_CHARS.match(text, pos)
        if not match:
            return ""
        pos = match.end()
        return match.group(0)

    def bare() -> str:
        """An unquoted value; lenient (URLs are not RFC tokens, but some servers send them)."""
        nonlocal pos
        start = pos
        while pos < len(text) and text[pos] not in ", \t":
            pos += 1
        return text[start:pos]

    def quoted() -> str:
        nonlocal pos
        pos += 1  # opening quote
        chars: list[str] = []
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            chars.append(text[pos])
            pos += 1
        pos += 1  # closing quote (or end)
        return "".join(chars)

    while pos < len(text):
        skip(" \t,")
        scheme = token()
        if not scheme:
            pos += 1
            continue
        params: dict[str, str] = {}
        while True:
            skip(" \t")
            start = pos
            name = token()
            skip(" \t")
            if not name or pos >= len(text) or text[pos] != "=":
                pos = start  # a new challenge's scheme (or token68, which registries do not use)
                break
            pos += 1
            skip(" \t")
            value = quoted() if pos < len(text) and text[pos] == '"' else bare()
            params[name.lower()] = value
            skip(" \t")
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        out.append(Challenge(scheme.lower(), params))
    return out


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


def parse_next_link(header: str | None, base_url: str) -> str | None:
    """The `rel="next"` target of a `Link` header, made absolute against `base_url`."""
    if not header:
        return None
    for part in header.split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)$", part)
        if match and re.search(r'rel\s*=\s*"?next"?', match.group(2)):
            return str(urljoin(base_url, match.group(1)))
    return None


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: registries Docker treats as insecure by default."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _validate_digest(value: object, what: str) -> str:
    if not isinstance(value, str) or not _DIGEST.match(value):
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


# ---------------------------------------------------------------------------------------------
# TLS plumbing


class _HandshakeFailed(TLSError):
    """TLS failed for a reason other than the certificate: usually a plain-HTTP server."""


class _TrustAdapter(HTTPAdapter):
    """Verifies against the system roots plus one extra CA (a private registry's)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(*args, **kwargs)


def _walk_causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        for nxt in (item.__cause__, item.__context__, getattr(item, "reason", None)):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
        stack.extend(arg for arg in item.args if isinstance(arg, BaseException))


def _cert_problem(exc: BaseException) -> str | None:
    """The verification failure in plain words, or None if this is not a certificate problem."""
    for item in _walk_causes(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            message = (item.verify_message or str(item)).lower()
            if "expired" in message:
                return "its certificate has expired"
            if "not yet valid" in message:
                return "its certificate is not valid yet (check the clock)"
            if "hostname" in message or "ip address mismatch" in message or item.verify_code == 62:
                return "its certificate was not issued for this host name or address"
            if "self-signed" in message or "self signed" in message or "issuer" in message:
                return "its certificate is signed by an unknown CA"
            return f"its certificate could not be verified ({item.verify_message or 'unknown'})"
    text = str(exc).lower()
    if "certificate verify failed" in text:
        return "its certificate is signed by an unknown CA"
    return None


# ---------------------------------------------------------------------------------------------
# The client


CredentialLookup = Callable[[str], Credentials | None]


class RegistryClient:
    """Talks to one registry host. Safe to share between the threads of one estimate."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        ca_file: Path | None = None,
        scheme: str | None = None,
        timeout: float = 30,
        insecure: bool | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        cancel: CancelToken | None = None,
        credential_lookup: CredentialLookup | None = credentials_for,
        certs_dir: Path | None = DEFAULT_CERTS_DIR,
    ) -> None:
        """`credentials=None` reads `~/.docker/config.json` (via `credential_lookup`) on the
        first 401; `insecure` defaults to True for loopback hosts, as Docker has it. An insecure
        registry is tried over HTTPS first and over HTTP when it does not speak TLS."""
        if scheme not in (None, "http", "https"):
            raise RegistryError(f"Registry {host}", f"unknown scheme {scheme!r}", "Use http/https")
        self.host = host
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.cancel = cancel
        self._credentials = credentials
        self._credentials_looked_up = credentials is not None
        self._lookup = credential_lookup
        self._insecure = is_loopback_host(host) if insecure is None else insecure
        self._scheme = scheme
        self._lock = threading.RLock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False
        self.ca_file = ca_file
        if ca_file is None and certs_dir is not None and "/" not in host and host not in ("", ".."):
            candidate = certs_dir / host / "ca.crt"
            if candidate.is_file():
                self.ca_file = candidate
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "airgap-tui"
        if self.ca_file is not None:
            context = ssl.create_default_context()
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise TLSError(
                    f"CA file {self.ca_file}",
                    "it could not be read as a PEM certificate",
                    "Give the registry's CA certificate in PEM format",
                ) from exc
            self._session.mount("https://", _TrustAdapter(context))

    def __repr__(self) -> str:
        return f"RegistryClient(host={self.host!r}, scheme={self._scheme!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- public API ---------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return self._negotiate()

    @property
    def base_url(self) -> str:
        return f"{self._negotiate()}://{self.host}"

    def ping(self) -> None:
        """Reachable, speaks the v2 API, and accepts our credentials (if it wants any)."""
        resp = self._request("GET", "/v2/", scope=None)
        with resp:
            if resp.status_code == 404:
                raise RegistryError(
                    f"Registry {self.host}",
                    "it does not serve the Registry HTTP API v2 at /v2/",
                    "Check the host and port",
                )
            self._raise_for(resp, f"Registry {self.host}")

    def tags(self, repository: str, *, page_size: int = 1000) -> list[str]:
        """All tags of `repository`, following `Link` pagination."""
        what = f"Repository {self.host}/{repository}"
        url: str | None = f"/v2/{repository}/tags/list?n={max(1, page_size)}"
        found: list[str] = []
        for _ in range(MAX_TAG_PAGES):
            if url is None:
                break
            resp = self._request("GET", url, scope=_pull_scope(repository))
            with resp:
                if resp.status_code == 404:
                    raise NotFoundError(
                        what, "it does not exist in the registry", "Check the image path"
                    )
                self._raise_for(resp, what)
                data = _json_body(resp, MAX_MANIFEST_BYTES, what)
                page_url = resp.url
                link = resp.headers.get("Link")
            tags = data.get("tags") if isinstance(data, dict) else None
            if isinstance(tags, list):
                found.extend(t for t in tags if isinstance(t, str) and t not in found)
            url = parse_next_link(link, page_url)
        return found

    # -- inventory and delta pre-check (issue 10) -------------------------------------------

    def repositories(self, *, page_size: int = 1000, limit: int = 100_000) -> Iterator[str]:
        """Every repository `GET /v2/_catalog` lists, following `Link` pages, names checked.

        A generator, so a registry with many repositories is never held twice; more than
        `limit` names (or a `Link` chain that never ends) is an error, not a silent cut."""
        from airgap_tui.errors import UsageError
        from airgap_tui.registry.reference import validate_repository_path

        what = f"Catalog of registry {self.host}"
        url: str | None = f"/v2/_catalog?n={max(1, page_size)}"
        count = 0
        for _ in range(MAX_TAG_PAGES):
            if url is None:
                return
            resp = self._request("GET", url, scope="registry:catalog:*")
            with resp:
                code = resp.status_code
                # 401 after a token was granted: the account is fine, the scope was refused
                if code in (403, 404) or (code == 401 and self._creds() and not self._basic):
                    raise (NotFoundError if code == 404 else AuthError)(
                        what,
                        f"the registry does not let this account list its repositories "
                        f"(HTTP {code})",
                        "Use an account that may read the catalog (scope registry:catalog:*), "
                        "or make the delta against the receipt of the last import instead",
                    )
                self._raise_for(resp, what)
                data = _json_body(resp, MAX_MANIFEST_BYTES, what)
                page_url, link = resp.url, resp.headers.get("Link")
            names = data.get("repositories")
            if not isinstance(names, list):
                raise RegistryError(what, "its answer holds no list of repositories")
            for name in names:
                try:
                    if not isinstance(name, str) or len(name) > 255:
                        raise UsageError(what, "not a name")
                    validate_repository_path(name, what=what)
                except UsageError:
                    raise RegistryError(
                        what, f"it lists an invalid repository name {str(name)[:80]!r}"
                    ) from None
                count += 1
                if count > limit:
                    raise RegistryError(
                        what,
                        f"it lists more than {limit} repositories",
                        "Give a narrower path (--registry host:port/path)",
                    )
                yield name
            url = parse_next_link(link, page_url)
        raise RegistryError(what, f"its catalog has more than {MAX_TAG_PAGES} pages")

    def manifest_body(self, repository: str, reference: str) -> tuple[bytes, str, str]:
        """(original bytes, media type, digest) of a manifest or index, digest-checked."""
        sep = "@" if reference.startswith("sha256:") else ":"
        return self._get_manifest(
            repository, reference, f"Manifest {self.host}/{repository}{sep}{reference}"
        )

    def manifest(
        self, repository: str, reference: str, platform: str = DEFAULT_PLATFORM
    ) -> ImageManifest:
        """The image manifest `docker pull --platform` would use, resolving indexes."""
        sep = "@" if reference.startswith("sha256:") else ":"
        what = f"Image {self.host}/{repository}{sep}{reference}"
        body, media_type, digest = self._get_manifest(repository, reference, what)
        if media_type in INDEX_TYPES or _looks_like_index(body):
            index = _loads_object(body, what)
            entry = select_platform(index, platform)
            if entry is None:
                have = available_platforms(index)
                raise NotFoundError(
                    what,
                    f"it has no {platform} image"
                    + (f" (it has {', '.join(have)})" if have else " (its index lists none)"),
                    "Choose one of those platforms with --platform",
                )
            child = _validate_digest(entry.get("digest"), what)
            child_body, child_type, child_digest = self._get_manifest(repository, child, what)
            if child_type in INDEX_TYPES:
                raise RegistryError(
                    what, "its index points at another index, which is not supported"
                )
            config_digest, config_size, layers = parse_image_manifest(
                child_body, child_type, child_digest, what
            )
            return ImageManifest(
                digest=child_digest,
                media_type=child_type or MEDIA_OCI_MANIFEST,
                config_digest=config_digest,
                config_size=config_size,
                layers=layers,
                index_digest=digest,
                platform=format_platform(entry["platform"]),
            )
        config_digest, config_size, layers = parse_image_manifest(body, media_type, digest, what)
        return ImageManifest(
            digest=digest,
            media_type=media_type or MEDIA_DOCKER_MANIFEST,
            config_digest=config_digest,
            config_size=config_size,
            layers=layers,
        )

    def manifest_exists(self, repository: str, tag: str) -> str | None:
        """The digest `tag` points at (index or manifest), or None when it is not there."""
        what = f"Image {self.host}/{repository}:{tag}"
        path = f"/v2/{repository}/manifests/{tag}"
        resp = self._request(
            "HEAD", path, scope=_pull_scope(repository), headers={"Accept": ACCEPT_MANIFESTS}
        )
        with resp:
            if resp.status_code == 404:
                return None
            self._raise_for(resp, what)
            header = resp.headers.get("Docker-Content-Digest", "")
        if _DIGEST.match(header):
            return header
        try:
            _body, _type, digest = self._get_manifest(repository, tag, what)
        except NotFoundError:
            return None
        return digest

    def config(self, repository: str, digest: str) -> dict[str, Any]:
        """The image config blob, checked against its digest."""
        what = f"Config {digest[:19]} of {self.host}/{repository}"
        _validate_digest(digest, what)
        resp = self._request(
            "GET", f"/v2/{repository}/blobs/{digest}", scope=_pull_scope(repository)
        )
        with resp:
            if resp.status_code == 404:
                raise NotFoundError(what, "the registry does not have this blob")
            self._raise_for(resp, what)
            body = _read_limited(resp, MAX_CONFIG_BYTES, what)
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryError(what, "the blob does not match its digest")
        return _loads_object(body, what)

    def blob_size(self, repository: str, digest: str) -> int:
        what = f"Layer {digest[:19]} of {self.host}/{repository}"
        resp = self._request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", scope=_pull_scope(repository)
        )
        with resp:
            if resp.status_code == 404:
                raise NotFoundError(what, "the registry does not have this blob")
            self._raise_for(resp, what)
            length = resp.headers.get("Content-Length", "")
        if not length.isdigit():
            raise RegistryError(what, "the registry did not say how big the blob is")
        return int(length)

    # -- export: raw manifests and checked blob streams ----------------------------------------
    # The bundle carries the registry's own bytes, so these keep manifests as sent (bytes and
    # media type) and check every blob's sha256 while it streams.

    def raw_manifest(self, repository: str, reference: str) -> RawManifest:
        """The manifest or index `reference` names, as the registry sent it (digest checked)."""
        sep = "@" if reference.startswith("sha256:") else ":"
        what = f"Image {self.host}/{repository}{sep}{reference}"
        body, media_type, digest = self._get_manifest(repository, reference, what)
        return RawManifest(body, media_type or MEDIA_DOCKER_MANIFEST, digest)

    def blob_bytes(self, repository: str, digest: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
        """A small blob (a config) whole, checked against its digest."""
        what = f"Blob {digest} of {self.host}/{repository}"
        _validate_digest(digest, what)
        resp = self._request(
            "GET", f"/v2/{repository}/blobs/{digest}", scope=_pull_scope(repository)
        )
        with resp:
            if resp.status_code == 404:
                raise NotFoundError(what, "the registry does not have this blob")
            self._raise_for(resp, what)
            body = _read_limited(resp, limit, what)
        got = "sha256:" + hashlib.sha256(body).hexdigest()
        if got != digest:
            raise _wrong_bytes(what, got)
        return body

    def blob_stream(
        self,
        repository: str,
        digest: str,
        size: int,
        *,
        start: int = 0,
        hasher: Any = None,
        chunk_size: int = STREAM_CHUNK,
    ) -> Generator[bytes, None, None]:
        """The blob's bytes from `start` on, its sha256 checked at the end.

        `hasher` (hashlib.sha256) already holds the first `start` bytes when resuming: they are
        on the media, and the rest comes with `Range: bytes=start-` (206). A dropped connection
        resumes the same way, up to `retries` times. More bytes than `size`, too few, or a wrong
        sha256 raise RegistryError naming the registry, repository, digest and what came.
        """
        what = f"Blob {digest} of {self.host}/{repository}"
        _validate_digest(digest, what)
        if hasher is None:
            if start:
                raise ValueError("resuming a blob stream needs the hasher of its first bytes")
            hasher = hashlib.sha256()
        path = f"/v2/{repository}/blobs/{digest}"
        position = start
        failures = 0
        while position < size:
            headers = {"Accept-Encoding": "identity"}
            if position:
                headers["Range"] = f"bytes={position}-"
            resp = self._request("GET", path, scope=_pull_scope(repository), headers=headers)
            with resp:
                if resp.status_code == 404:
                    raise NotFoundError(what, "the registry does not have this blob")
                self._raise_for(resp, what)
                skip = 0
                if resp.status_code == 200:
                    skip = position  # a server that ignores Range sends it all: drop what we have
                elif resp.status_code != 206 or not resp.headers.get(
                    "Content-Range", ""
                ).startswith(f"bytes {position}-"):
                    raise RegistryError(
                        what, f"unexpected answer HTTP {resp.status_code} to a blob request"
                    )
                try:
                    for chunk in resp.raw.stream(chunk_size, decode_content=False):
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                            if not chunk:
                                continue
                        if position + len(chunk) > size:
                            raise RegistryError(
                                what,
                                f"the registry sent more than the {size} bytes its manifest gives",
                                "Check the registry and any proxy in front of it",
                            )
                        hasher.update(chunk)
                        position += len(chunk)
                        yield chunk
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError):
                    failures += 1
                    if failures > self.retries:
                        raise RegistryError(
                            what,
                            f"the connection broke {failures} times while downloading it "
                            f"({position} of {size} bytes arrived)",
                            "Check the registry and the network, then run the export again: "
                            "it resumes where it stopped",
                        ) from None
                    self._sleep(failures - 1)
                    continue
            if position < size:
                failures += 1
                if failures > self.retries:
                    raise RegistryError(
                        what,
                        f"the registry ended the blob after {position} of {size} bytes",
                        "Run the export again: it resumes where it stopped",
                    )
                self._sleep(failures - 1)
        got = "sha256:" + hasher.hexdigest()
        if got != digest:
            raise _wrong_bytes(what, got)

    # -- internals ------------------------------------------------------------------------------

    def _get_manifest(
        self, repository: str, reference: str, what: str, *, again: bool = True
    ) -> tuple[bytes, str, str]:
        resp = self._request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scope=_pull_scope(repository),
            headers={"Accept": ACCEPT_MANIFESTS},
        )
        with resp:
            missing = resp.status_code == 404
            if not missing:
                self._raise_for(resp, what)
                body = _read_limited(resp, MAX_MANIFEST_BYTES, what)
                media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if missing:
            error = self._missing(repository, what)
            if again and reference in error.available:
                # A 404 for a tag the same registry lists is a passing fault (a proxy or a
                # busy registry), not a missing tag: ask once more before saying it is missing.
                return self._get_manifest(repository, reference, what, again=False)
            raise error
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(what, "the manifest the registry sent does not match its digest")
        if media_type not in INDEX_TYPES | MANIFEST_TYPES:
            embedded = _embedded_media_type(body)
            if embedded:
                media_type = embedded
        return body, media_type, digest

    def _missing(self, repository: str, what: str) -> NotFoundError:
        """A 404 for a manifest, explained with the tags that do exist."""
        try:
            available = self.tags(repository)
        except NotFoundError:
            return NotFoundError(
                what,
                "the repository does not exist in the registry",
                "Check the image path (and --source-prefix)",
            )
        if not available:
            return NotFoundError(what, "no such tag, and the repository has no tags")
        shown = ", ".join(available[:20]) + (" …" if len(available) > 20 else "")
        return NotFoundError(
            what,
            f"no such tag; tags that exist: {shown}",
            "Choose one of the existing tags",
            available=available,
        )

    def _raise_for(self, resp: requests.Response, what: str) -> None:
        code = resp.status_code
        if code < 400:
            return
        if code == 401:
            raise self._auth_error(resp)
        if code == 403:
            raise AuthError(
                what,
                "the registry denied access (HTTP 403)",
                f"Check that the account used for {self.host} may pull this repository",
                registry=self.host,
            )
        if code == 404:
            raise NotFoundError(what, "the registry does not have it (HTTP 404)")
        if code == 429:
            raise RegistryError(
                what,
                "the registry is rate-limiting requests (HTTP 429)",
                "Wait a while, or log in (docker login) for a higher limit",
            )
        raise RegistryError(what, f"the registry answered HTTP {code}", "Try again later")

    def _auth_error(
        self, resp: requests.Response | None, *, token_refused: bool = False
    ) -> AuthError:
        what = f"Registry {self.host}"
        creds = self._credentials
        login = (
            f"Run `docker login {self.host}` (or give --username USER --password-stdin)"
            " and try again"
        )
        if creds is None:
            return AuthError(
                what,
                "it requires a login (HTTP 401) and no credentials were found for it",
                login,
                registry=self.host,
            )
        source = "the token service refused" if token_refused else "it rejected"
        return AuthError(
            what,
            f"{source} the credentials of user {creds.username!r} (HTTP 401)",
            f"Check the user name and password; {login[0].lower()}{login[1:]}",
            registry=self.host,
        )

    def _negotiate(self) -> str:
        """The scheme to use: fixed, https, or (insecure registries) https falling back to http."""
        with self._lock:
            if self._scheme is not None:
                return self._scheme
            if not self._insecure:
                self._scheme = "https"
                return self._scheme
            try:
                resp = self._send("GET", f"https://{self.host}/v2/", {}, retry=False)
                resp.close()
                self._scheme = "https"
            except _HandshakeFailed:
                self._scheme = "http"  # it answered, but not in TLS
            except TLSError:
                raise
            except RegistryError:
                # Nothing on the TLS side; plain HTTP is what insecure registries usually are.
                self._scheme = "http"
            return self._scheme

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        scope: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request with auth (challenge → token/basic → retry once) and bounded retries."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        extra = dict(headers or {})
        sent = self._auth_headers(scope)
        resp = self._send(method, url, {**extra, **sent})
        if resp.status_code != 401:
            return resp
        challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
        if not self._authenticate(challenges, scope, sent.get("Authorization", "")):
            return resp
        resp.close()
        resp = self._send(method, url, {**extra, **self._auth_headers(scope)})
        return resp

    def _auth_headers(self, scope: str | None) -> dict[str, str]:
        with self._lock:
            cached = self._tokens.get(scope or "")
            if cached is not None and cached[1] > time.monotonic():
                return {"Authorization": f"Bearer {cached[0]}"}
            if self._basic and self._credentials is not None:
                return {"Authorization": _basic_header(self._credentials)}
        return {}

    def _creds(self) -> Credentials | None:
        with self._lock:
            if not self._credentials_looked_up:
                self._credentials_looked_up = True
                if self._lookup is not None:
                    self._credentials = self._lookup(self.host)
            return self._credentials

    def _authenticate(self, challenges: list[Challenge], scope: str | None, sent: str) -> bool:
        """Act on a 401's challenges; False when there is nothing we can do (caller raises).

        `sent` is the Authorization this request carried: only a request that carried our
        Basic credentials proves them wrong (another thread may have switched to Basic since)."""
        for challenge in challenges:
            if challenge.scheme == "bearer" and challenge.params.get("realm"):
                self._fetch_token(challenge, scope)
                return True
        for challenge in challenges:
            if challenge.scheme == "basic":
                if sent.startswith("Basic "):
                    return False  # our credentials were sent and rejected
                with self._lock:
                    if self._creds() is None:
                        return False
                    self._basic = True
                return True
        return False

    def _fetch_token(self, challenge: Challenge, scope: str | None) -> None:
        realm = challenge.params["realm"]
        if urlsplit(realm).scheme not in ("http", "https"):
            raise RegistryError(f"Registry {self.host}", "its token service address is not HTTP(S)")
        params: dict[str, str | list[str]] = {}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        wanted = scope or challenge.params.get("scope")
        if wanted:
            params["scope"] = wanted.split()  # a mount asks for two: one `scope` each
        creds = self._creds()
        auth: tuple[str, str] | None = None
        if creds is not None:
            params["account"] = creds.username
            auth = (creds.username, creds.password)
        resp = self._send("GET", realm, {}, params=params, auth=auth)
        with resp:
            if resp.status_code in (401, 403):
                raise self._auth_error(resp, token_refused=True)
            if resp.status_code >= 400:
                raise RegistryError(
                    f"Token service of {self.host}",
                    f"it answered HTTP {resp.status_code}",
                    "Try again later",
                )
            data = _json_body(resp, 1024 * 1024, f"Token service of {self.host}")
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"Token service of {self.host}", "its answer holds no token")
        expires = data.get("expires_in") if isinstance(data, dict) else None
        lifetime = float(expires) if isinstance(expires, (int, float)) and expires > 0 else 60.0
        with self._lock:
            self._tokens[scope or ""] = (token, time.monotonic() + max(lifetime - 10.0, 5.0))

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        retry: bool = True,
        params: Mapping[str, str | list[str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """Send with bounded retries (5xx, resets) for idempotent methods; maps TLS/conn errors.

        A name that does not resolve, a refused connection, a connect timeout or a failing
        proxy is not retried: the next try would fail the same way. It is remembered for the
        host, so the next call fails at once with the same sentence."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        keys = (origin, parts.hostname or parts.netloc)
        attempts = (self.retries + 1) if retry and method in ("GET", "HEAD") else 1
        for attempt in range(attempts):
            if self.cancel is not None:
                self.cancel.check(f"Talking to registry {self.host}")
            known = _memoised(keys)
            if known is not None:
                raise known
            last = attempt == attempts - 1
            try:
                resp = self._session.request(
                    method,
                    url,
                    headers=dict(headers),
                    params=params,
                    auth=auth,
                    stream=True,
                    timeout=(min(self.timeout, CONNECT_TIMEOUT), self.timeout),
                    allow_redirects=True,
                )
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(exc) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                error, key = self._connection_error(exc, parts)
                if key is not None:
                    with _memo_lock:
                        if origin not in _answered:
                            _unreachable[key] = (error, time.monotonic() + UNREACHABLE_MEMO_SECONDS)
                    raise error from None
                if last:
                    raise error from None
                self._sleep(attempt)
                continue
            with _memo_lock:
                _answered.add(origin)
            if resp.status_code in RETRY_STATUSES and not last:
                resp.close()
                self._sleep(attempt)
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep(self, attempt: int) -> None:
        delay = self.backoff * (2**attempt)
        if delay <= 0:
            return
        if self.cancel is not None:
            if self.cancel.wait(delay):
                self.cancel.check(f"Talking to registry {self.host}")
        else:
            time.sleep(delay)

    def _tls_error(self, exc: BaseException) -> TLSError:
        problem = _cert_problem(exc)
        what = f"Registry {self.host} refused TLS"
        if problem is None:
            return _HandshakeFailed(
                f"Registry {self.host}",
                "the TLS handshake failed (it may not speak HTTPS on this port)",
                "Check the port; a plain-HTTP registry must be marked insecure (as in the "
                "engine's insecure-registries), and is then reached over HTTP",
            )
        if "unknown CA" in problem:
            given = f" (the CA in {self.ca_file} did not sign it)" if self.ca_file else ""
            step = (
                f"Give its CA certificate with --ca-file CA.crt; for the Docker engine add the CA "
                f"to {DEFAULT_CERTS_DIR}/{self.host}/ca.crt"
            )
            return TLSError(what, problem + given, step)
        return TLSError(
            what,
            problem,
            f"Fix the registry's certificate; the engine reads its CA from "
            f"{DEFAULT_CERTS_DIR}/{self.host}/ca.crt",
        )

    def _connection_error(
        self, exc: BaseException, url: SplitResult
    ) -> tuple[RegistryUnreachable, str | None]:
        """The error in one sentence, and the memo key when retrying cannot help."""
        causes = list(_walk_causes(exc))
        text = " ".join(str(e) for e in causes).lower()
        name = url.hostname or url.netloc
        origin = f"{url.scheme}://{url.netloc}"
        key: str | None = origin
        if isinstance(exc, requests.exceptions.ProxyError):
            proxy = _proxy_shown(self._session, urlunsplit(url))
            cause = f"the proxy {proxy} did not pass the connection on"
        elif any(isinstance(e, socket.gaierror) for e in causes) or (
            "name or service not known" in text
            or "nodename nor servname" in text
            or "failed to resolve" in text
            or "temporary failure in name resolution" in text
        ):
            cause = f"the name {name} does not resolve"
            key = name
        elif "refused" in text or any(isinstance(e, ConnectionRefusedError) for e in causes):
            cause = f"the connection to {url.netloc} was refused"
            if is_loopback_host(self.host):
                cause += " (is the registry running on that port?)"
        elif isinstance(exc, requests.exceptions.ConnectTimeout):
            wait = min(self.timeout, CONNECT_TIMEOUT)
            cause = f"{url.netloc} did not accept a connection within {wait:g} s"
        elif "timed out" in text or isinstance(exc, requests.exceptions.Timeout):
            cause = f"it did not answer within {self.timeout:g} s"
            key = None
        else:
            cause = "the connection failed or was reset"
            key = None
        # A token service on another host is named as itself, not as the registry.
        shown = self.host if url.netloc in (self.host, "") else url.netloc
        return RegistryUnreachable(f"Can't reach {shown}", cause, UNREACHABLE_NEXT_STEP), key

    # -- push: blobs and original manifests into a target registry (the offline side) --------
    # Bodies come from a factory, not an iterator, so a retry or a re-sent request after a new
    # token starts the stream again from its first byte.

    def blob_exists(self, repository: str, digest: str) -> bool:
        """HEAD the blob: a blob the repository already holds is never uploaded again."""
        what = f"Blob {digest[:19]} in {self.host}/{repository}"
        _validate_digest(digest, what)
        resp = self._request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", scope=_push_scope(repository)
        )
        with resp:
            if resp.status_code == 404:
                return False
            self._raise_for_push(resp, what, repository)
            return True

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> str | None:
        """Cross-repository mount: None when mounted (201), else the upload session the
        registry opened instead (202), which an upload can use."""
        what = f"Blob {digest[:19]} in {self.host}/{repository}"
        _validate_digest(digest, what)
        scope = f"{_push_scope(repository)} {_pull_scope(from_repository)}"
        query = urlencode({"mount": digest, "from": from_repository})
        resp = self._request(
            "POST", f"/v2/{repository}/blobs/uploads/?{query}", scope=scope, headers=_EMPTY_BODY
        )
        with resp:
            self._raise_for_push(resp, what, repository)
            if resp.status_code == 201:
                return None
            return self._upload_location(resp, what)

    def upload_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_body: BodyFactory,
        *,
        location: str | None = None,
    ) -> None:
        """Monolithic upload: POST (unless a mount left a session) then PUT the streamed body
        with its known length. The registry checks the digest; a mismatch is refused."""
        what = f"Blob {digest[:19]} in {self.host}/{repository}"
        _validate_digest(digest, what)
        scope = _push_scope(repository)
        if location is None:
            resp = self._request(
                "POST", f"/v2/{repository}/blobs/uploads/", scope=scope, headers=_EMPTY_BODY
            )
            with resp:
                self._raise_for_push(resp, what, repository)
                location = self._upload_location(resp, what)
        sep = "&" if "?" in location else "?"
        url = f"{location}{sep}{urlencode({'digest': digest})}"
        headers = {"Content-Type": "application/octet-stream"}
        resp = self._send_body("PUT", url, scope, headers, open_body, size)
        with resp:
            self._raise_for_push(resp, what, repository)
            stored = resp.headers.get("Docker-Content-Digest", "")
        if stored and stored != digest:
            raise RegistryError(
                what,
                f"the registry stored the upload as {stored[:19]}…",
                "Check the registry (or a proxy in front of it) and run the import again",
            )

    def push_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_body: BodyFactory,
        *,
        mount_from: str | None = None,
        on_retry: RetryCallback | None = None,
    ) -> str:
        """HEAD, else mount from `mount_from`, else upload; retried (bounded) while the cause
        may pass (5xx, refused or reset connection), never on a 4xx. `on_retry(attempt,
        delay, error)` hears of each retry before its back-off.

        Returns what happened: "present", "mounted" or "uploaded"."""

        def once() -> str:
            if self.blob_exists(repository, digest):
                return BLOB_PRESENT
            location = None
            if mount_from is not None and mount_from != repository:
                location = self.mount_blob(repository, digest, mount_from)
                if location is None:
                    return BLOB_MOUNTED
            self.upload_blob(repository, digest, size, open_body, location=location)
            return BLOB_UPLOADED

        return self._push_retried(once, on_retry)

    def put_manifest(
        self,
        repository: str,
        reference: str,
        body: bytes,
        media_type: str,
        *,
        on_retry: RetryCallback | None = None,
    ) -> str:
        """PUT the original manifest bytes under `reference`; returns the digest, which is
        checked to be the sha256 of those bytes (the digest the source registry had)."""
        sep = "@" if reference.startswith("sha256:") else ":"
        what = f"Manifest {self.host}/{repository}{sep}{reference}"
        if len(body) > MAX_MANIFEST_BYTES:
            raise RegistryError(what, f"it is larger than {MAX_MANIFEST_BYTES} bytes")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        headers = {"Content-Type": media_type}
        path = f"/v2/{repository}/manifests/{reference}"

        def once() -> str:
            scope = _push_scope(repository)
            resp = self._send_body(
                "PUT", self.base_url + path, scope, headers, lambda: [body], len(body)
            )
            with resp:
                self._raise_for_push(resp, what, repository)
                stored = resp.headers.get("Docker-Content-Digest", "") or digest
            if stored != digest:
                raise RegistryError(
                    what,
                    f"the registry stored it as {stored[:19]}…, not {digest[:19]}…: "
                    "it rewrote the manifest",
                    "Use a registry that stores manifests as sent (Docker Distribution, Harbor, "
                    "GitLab's container registry)",
                )
            return digest

        return self._push_retried(once, on_retry)

    def _push_retried(self, once: Callable[[], str], on_retry: RetryCallback | None) -> str:
        for attempt in range(self.retries + 1):
            try:
                return once()
            except (RegistryUnreachable, _ServerError) as exc:
                if attempt == self.retries:
                    raise
                if on_retry is not None:
                    on_retry(attempt + 1, self.backoff * (2**attempt), exc)
                self._sleep(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_body(
        self,
        method: str,
        url: str,
        scope: str,
        headers: Mapping[str, str],
        open_body: BodyFactory,
        size: int,
    ) -> requests.Response:
        """One request with a streamed body of known length; on a 401 (token expired) it
        authenticates and sends the body once more from its start."""
        sent = self._auth_headers(scope)
        resp = self._send_stream(method, url, {**headers, **sent}, open_body, size)
        if resp.status_code != 401:
            return resp
        challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
        resp.close()
        if not self._authenticate(challenges, scope, sent.get("Authorization", "")):
            raise self._auth_error(None)
        return self._send_stream(
            method, url, {**headers, **self._auth_headers(scope)}, open_body, size
        )

    def _send_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        open_body: BodyFactory,
        size: int,
    ) -> requests.Response:
        if self.cancel is not None:
            self.cancel.check(f"Pushing to registry {self.host}")
        try:
            return self._session.request(
                method,
                url,
                data=_SizedBody(open_body(), size),
                headers=dict(headers),
                stream=True,
                timeout=self.timeout,
            )
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise self._connection_error(exc, urlsplit(url))[0] from None

    def _upload_location(self, resp: requests.Response, what: str) -> str:
        location = resp.headers.get("Location", "")
        if resp.status_code != 202 or not location:
            raise RegistryError(
                what, f"the registry opened no upload session (HTTP {resp.status_code})"
            )
        url = urljoin(self.base_url + "/", location)
        if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            raise RegistryError(what, "the registry sent an upload address on another host")
        return url

    def _raise_for_push(self, resp: requests.Response, what: str, repository: str) -> None:
        """Like _raise_for, but says what a push needs and keeps the registry's error code."""
        code = resp.status_code
        if code < 400:
            return
        if code == 401:
            raise self._auth_error(resp)
        if code == 403:
            raise AuthError(
                what,
                "the registry denied access (HTTP 403)",
                f"Check that the account used for {self.host} may push to {repository}",
                registry=self.host,
            )
        detail = _registry_error_text(resp)
        if code >= 500:
            raise _ServerError(what, f"the registry answered HTTP {code}{detail}", "Try again")
        raise RegistryError(
            what,
            f"the registry refused it (HTTP {code}{detail})",
            "Check the registry's log; run the import again once it is fixed",
        )


def _proxy_shown(session: requests.Session, url: str) -> str:
    """The proxy requests uses for `url`, without any user:password in it."""
    proxies = requests.utils.get_environ_proxies(url) if session.trust_env else {}
    scheme = urlsplit(url).scheme
    proxy = proxies.get(scheme) or proxies.get("all") or ""
    return redact_url(proxy) if proxy else "(unknown)"


def proxy_for(url: str) -> tuple[str, str] | None:
    """(environment variable, proxy address without credentials) requests will use for `url`;
    None when it connects directly (no proxy set, or NO_PROXY covers the host)."""
    import os

    proxies = requests.utils.get_environ_proxies(url)
    scheme = urlsplit(url).scheme
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    for name in (f"{scheme}_proxy", f"{scheme}_proxy".upper(), "all_proxy", "ALL_PROXY"):
        if os.environ.get(name) == proxy:
            return name, redact_url(proxy)
    return "proxy", redact_url(proxy)


def redact_url(url: str) -> str:
    """`url` with any user:password removed, so a proxy address can be shown and logged."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# ---------------------------------------------------------------------------------------------
# Small helpers


def _pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _read_limited(resp: requests.Response, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_content(64 * 1024):
        total += len(chunk)
        if total > limit:
            raise RegistryError(
                what, f"the registry sent more than {limit} bytes for a small object"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _loads_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RegistryError(what, "the registry sent something that is not JSON") from exc
    if not isinstance(data, dict):
        raise RegistryError(what, "the registry sent JSON that is not an object")
    return data


def _json_body(resp: requests.Response, limit: int, what: str) -> dict[str, Any]:
    return _loads_object(_read_limited(resp, limit, what), what)


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


# ---------------------------------------------------------------------------------------------
# Push helpers

BLOB_PRESENT = "present"
BLOB_MOUNTED = "mounted"
BLOB_UPLOADED = "uploaded"
BodyFactory = Callable[[], Iterable[bytes]]
RetryCallback = Callable[[int, float, RegistryError], None]
_EMPTY_BODY = {"Content-Length": "0"}


class _ServerError(RegistryError):
    """A 5xx from the registry: it may pass (restart, overload), so a push retries it."""


class _SizedBody:
    """A streamed body whose length is known: requests then sends Content-Length (not chunked
    transfer encoding, which some registries and proxies refuse for uploads)."""

    def __init__(self, chunks: Iterable[bytes], size: int) -> None:
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)


def _push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _registry_error_text(resp: requests.Response) -> str:
    """`: CODE message` from a registry's JSON error body (bounded), or ""."""
    try:
        data = json.loads(resp.raw.read(64 * 1024, decode_content=True) or b"{}")
    except (ValueError, OSError, requests.RequestException):
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    code = str(errors[0].get("code", ""))[:40]
    message = str(errors[0].get("message", ""))[:160]
    text = " ".join(p for p in (code, message) if p)
    return f": {text}" if text else ""
