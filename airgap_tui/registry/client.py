"""The pull side of the Registry HTTP API v2: tags, catalogs, manifests (raw bytes kept), configs,
blob streams and tails.

The estimate needs only tiny requests and the import needs to know what a registry already
holds; neither needs a Docker engine, so this speaks HTTP directly. `RegistryClient` is the one
object callers hold: this pull side on top of the push side (upload.py) and the shared session
(transport.py). Credentials and tokens live only in memory and never reach an error text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterable, Iterator
from typing import Any

import requests
import urllib3

from airgap_tui.errors import AuthError, NotFoundError, RegistryError
from airgap_tui.models import DEFAULT_PLATFORM
from airgap_tui.registry.auth import _pull_scope
from airgap_tui.registry.oci import (
    _DIGEST,
    ACCEPT_MANIFESTS,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_MANIFEST,
    ImageManifest,
    RawManifest,
    _embedded_media_type,
    _loads_object,
    _looks_like_index,
    _validate_digest,
    available_platforms,
    format_platform,
    parse_image_manifest,
    select_platform,
)
from airgap_tui.registry.transport import _json_body, _read_limited, parse_next_link
from airgap_tui.registry.upload import RegistryUpload

MAX_TAG_PAGES = 1000


STREAM_CHUNK = 256 * 1024


def _wrong_bytes(what: str, got: str) -> RegistryError:
    return RegistryError(
        what,
        "the bytes the registry (or a proxy in front of it) sent do not match the digest "
        f"(got {got})",
        "Nothing of it was kept: run the export again; if this repeats, check the registry "
        "and the proxy between this host and it",
    )


def _too_many_bytes(what: str, size: int) -> RegistryError:
    return RegistryError(
        what,
        f"the registry sent more than the {size} bytes its manifest gives",
        "Check the registry and any proxy in front of it",
    )


def _connection_broke(what: str, failures: int, position: int, size: int) -> RegistryError:
    """A blob download's broken connection (retried, resuming, until `retries` is spent)."""
    return RegistryError(
        what,
        f"the connection broke {failures + 1} times while downloading it "
        f"({position} of {size} bytes arrived)",
        "Check the registry and the network, then run the export again: "
        "it resumes where it stopped",
    )


def _ended_early(what: str, position: int, size: int) -> RegistryError:
    """A blob download the registry ended short (retried, resuming, like a broken one)."""
    return RegistryError(
        what,
        f"the registry ended the blob after {position} of {size} bytes",
        "Run the export again: it resumes where it stopped",
    )


class RegistryClient(RegistryUpload):
    """Talks to one registry host. Safe to share between the threads of one estimate."""

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
        if _DIGEST.fullmatch(header):
            return header
        try:
            _body, _type, digest = self._get_manifest(repository, tag, what)
        except NotFoundError:
            return None
        return digest

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
            resp, skip = self._blob_response(repository, path, position, what)
            with resp:
                try:
                    stream = resp.raw.stream(chunk_size, decode_content=False)
                    for chunk in _after(stream, skip):
                        if position + len(chunk) > size:
                            raise _too_many_bytes(what, size)
                        hasher.update(chunk)
                        position += len(chunk)
                        yield chunk
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError):
                    failures = self._again_or_raise(
                        failures, _connection_broke(what, failures, position, size)
                    )
                    continue
            if position < size:
                failures = self._again_or_raise(failures, _ended_early(what, position, size))
        got = "sha256:" + hasher.hexdigest()
        if got != digest:
            raise _wrong_bytes(what, got)

    def _blob_response(
        self, repository: str, path: str, position: int, what: str
    ) -> tuple[requests.Response, int]:
        """GET the blob from `position` on; and how many leading bytes to drop (a server that
        ignores Range sends it all)."""
        headers = {"Accept-Encoding": "identity"}
        if position:
            headers["Range"] = f"bytes={position}-"
        resp = self._request("GET", path, scope=_pull_scope(repository), headers=headers)
        try:
            if resp.status_code == 404:
                raise NotFoundError(what, "the registry does not have this blob")
            self._raise_for(resp, what)
            if resp.status_code == 200:
                return resp, position
            if resp.status_code != 206 or not resp.headers.get("Content-Range", "").startswith(
                f"bytes {position}-"
            ):
                raise RegistryError(
                    what, f"unexpected answer HTTP {resp.status_code} to a blob request"
                )
        except BaseException:
            resp.close()
            raise
        return resp, 0

    def _again_or_raise(self, failures: int, error: RegistryError) -> int:
        """One more broken download: wait and go on, or raise `error` once `retries` are used
        up."""
        failures += 1
        if failures > self.retries:
            raise error from None
        self._sleep(failures - 1)
        return failures

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


def _after(chunks: Iterable[bytes], skip: int) -> Iterator[bytes]:
    """`chunks` without their first `skip` bytes."""
    for chunk in chunks:
        if skip:
            dropped = min(skip, len(chunk))
            chunk, skip = chunk[dropped:], skip - dropped
            if not chunk:
                continue
        yield chunk
