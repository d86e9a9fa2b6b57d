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
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from airgap_tui.dockerconfig import credentials_for
from airgap_tui.errors import AuthError, NotFoundError, RegistryError, TLSError
from airgap_tui.events import CancelToken
from airgap_tui.models import DEFAULT_PLATFORM, Credentials

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


class RegistryUnreachable(RegistryError):
    """No HTTP answer at all (refused, reset, timeout, DNS): true for every image on the host."""


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


def parse_image_manifest(
    body: bytes, media_type: str, digest: str, what: str
) -> tuple[str, int, list[Layer]]:
    """(config digest, config size, layers) from an image manifest; hostile input refused."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise RegistryError(what, "the registry sent a manifest that is not JSON") from exc
    if not isinstance(data, dict):
        raise RegistryError(what, "the registry sent a manifest that is not a JSON object")
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
        from airgap_tui.reference import validate_repository_path

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

    def blob_tail(
        self, repository: str, digest: str, n: int = 4, *, size: int | None = None
    ) -> bytes:
        """The last `n` bytes of a blob, never reading the whole blob.

        Asks for a suffix range first; a server that ignores it gets an explicit range (which
        needs the size); a server that ignores that too is an error, because reading a layer
        of gigabytes to learn four bytes is never what the operator wants.
        """
        what = f"Layer {digest[:19]} of {self.host}/{repository}"
        _validate_digest(digest, what)
        path = f"/v2/{repository}/blobs/{digest}"
        scope = _pull_scope(repository)
        data = self._ranged(path, scope, f"bytes=-{n}", what, n, suffix=True)
        if data is not None:
            return data
        if size is None:
            size = self.blob_size(repository, digest)
        if size < n:
            raise RegistryError(what, f"the blob has only {size} bytes")
        data = self._ranged(path, scope, f"bytes={size - n}-{size - 1}", what, n, suffix=False)
        if data is not None:
            return data
        raise RegistryError(
            what,
            "the registry (or a proxy in front of it) ignores HTTP Range requests",
            "Estimate without this registry, or let the proxy pass Range headers",
        )

    def blob_head(self, repository: str, digest: str, n: int) -> bytes:
        """The first `n` bytes of a blob (e.g. a zstd frame header); None-free: errors raise."""
        what = f"Layer {digest[:19]} of {self.host}/{repository}"
        _validate_digest(digest, what)
        path = f"/v2/{repository}/blobs/{digest}"
        data = self._ranged(path, _pull_scope(repository), f"bytes=0-{n - 1}", what, n, False)
        if data is None:
            raise RegistryError(what, "the registry ignores HTTP Range requests")
        return data

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

    # -- internals ------------------------------------------------------------------------------

    def _ranged(
        self, path: str, scope: str, range_value: str, what: str, n: int, suffix: bool
    ) -> bytes | None:
        """Bytes of a 206 answer, or None when the server sent the whole blob instead."""
        headers = {"Range": range_value, "Accept-Encoding": "identity"}
        resp = self._request("GET", path, scope=scope, headers=headers)
        with resp:
            if resp.status_code == 404:
                raise NotFoundError(what, "the registry does not have this blob")
            if resp.status_code == 416:
                raise RegistryError(what, "the blob is smaller than the bytes asked for")
            if resp.status_code == 200:
                return None  # closing without reading: the body is the whole blob
            self._raise_for(resp, what)
            if resp.status_code != 206:
                raise RegistryError(what, f"unexpected HTTP {resp.status_code} for a range request")
            data = resp.raw.read(n + 1, decode_content=False)
        if len(data) != n:
            raise RegistryError(what, f"asked for {n} bytes of the blob, got {len(data)}")
        return data

    def _get_manifest(self, repository: str, reference: str, what: str) -> tuple[bytes, str, str]:
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
            raise self._missing(repository, what)
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
        params: dict[str, str] = {}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        wanted = scope or challenge.params.get("scope")
        if wanted:
            params["scope"] = wanted
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
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """Send with bounded retries (5xx, resets) for idempotent methods; maps TLS/conn errors."""
        attempts = (self.retries + 1) if retry and method in ("GET", "HEAD") else 1
        for attempt in range(attempts):
            if self.cancel is not None:
                self.cancel.check(f"Talking to registry {self.host}")
            last = attempt == attempts - 1
            try:
                resp = self._session.request(
                    method,
                    url,
                    headers=dict(headers),
                    params=params,
                    auth=auth,
                    stream=True,
                    timeout=self.timeout,
                    allow_redirects=True,
                )
            except requests.exceptions.SSLError as exc:
                raise self._tls_error(exc) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                if last:
                    raise self._connection_error(exc) from None
                self._sleep(attempt)
                continue
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

    def _connection_error(self, exc: BaseException) -> RegistryUnreachable:
        text = " ".join(str(e) for e in _walk_causes(exc)).lower()
        if "refused" in text:
            cause = "the connection was refused (is the registry running on that port?)"
        elif (
            "name or service not known" in text
            or "nodename nor servname" in text
            or ("failed to resolve" in text)
        ):
            cause = "the host name does not resolve"
        elif "timed out" in text or isinstance(exc, requests.exceptions.Timeout):
            cause = f"it did not answer within {self.timeout:g} s"
        else:
            cause = "the connection failed or was reset"
        return RegistryUnreachable(
            f"Registry {self.host}", cause, "Check the address and that the registry is up"
        )


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
