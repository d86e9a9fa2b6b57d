"""The push side: blobs (HEAD, mount, upload) and original manifest bytes into a registry."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from airgap_tui.errors import BundleError, RegistryError
from airgap_tui.registry.auth import _pull_scope, _push_scope, parse_challenges
from airgap_tui.registry.diagnose import (
    RegistryUnreachable,
    _ServerError,
    connection_error,
    tls_error,
)
from airgap_tui.registry.oci import MAX_MANIFEST_BYTES, _validate_digest
from airgap_tui.registry.transport import BodyFactory, RegistryTransport

BLOB_PRESENT = "present"


BLOB_MOUNTED = "mounted"


BLOB_UPLOADED = "uploaded"


RetryCallback = Callable[[int, float, RegistryError], None]


_EMPTY_BODY = {"Content-Length": "0"}


UPLOAD_WINDOW = 64 << 20  # bytes per PATCH, streamed (never held in memory)


class BlobMismatch(BundleError):
    """The bytes read for a blob do not hash to its digest: the upload was cancelled."""


def _blob_mismatch(digest: str, cause: str) -> BlobMismatch:
    """The error for bytes that cannot be the blob: the upload was cancelled, not committed."""
    return BlobMismatch(
        f"Blob {digest}", cause, "Run verify, then copy the bundle again from the connected side"
    )


class _BodyEnded(Exception):
    """The body ended before the bytes a PATCH announced."""


class _HashedWindows:
    """A blob's body cut into windows of exact length, hashed as the bytes go out."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._left = b""
        self.hasher = hashlib.sha256()
        self.sent = 0

    def take(self, n: int) -> Iterator[bytes]:
        """Exactly `n` more bytes; raises (aborting the request) when the body ends first."""
        remaining = n
        while remaining > 0:
            if self._left:
                piece, self._left = self._left, b""
            else:
                piece = next(self._chunks, b"")
                if not piece:
                    raise _BodyEnded(f"the body ended {remaining} bytes early")
            if len(piece) > remaining:
                piece, self._left = piece[:remaining], piece[remaining:]
            self.hasher.update(piece)
            self.sent += len(piece)
            remaining -= len(piece)
            yield piece

    def finish(self) -> None:
        """Read to the end (a reader checks its digest there); extra bytes count as sent."""
        for piece in (self._left, *self._chunks):
            self.hasher.update(piece)
            self.sent += len(piece)
        self._left = b""


_T = TypeVar("_T")


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


class RegistryUpload(RegistryTransport):
    """Push: blobs and original manifests into a target registry (the offline side).

    Bodies come from a factory, not an iterator, so a retry or a re-sent request after a new
    token starts the stream again from its first byte."""

    def blob_exists(self, repository: str, digest: str, *, retry: bool = True) -> bool:
        """HEAD the blob: a blob the repository already holds is never uploaded again."""
        what = f"Blob {digest[:19]} in {self.host}/{repository}"
        _validate_digest(digest, what)
        resp = self._request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", scope=_push_scope(repository), retry=retry
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
        window: int = UPLOAD_WINDOW,
    ) -> None:
        """Chunked upload that never asks the registry to commit bytes that do not match.

        POST (unless a mount left a session), then PATCH the streamed body in windows while
        hashing it; the final `PUT ?digest=`, which commits the blob, is sent only when the
        bytes sent are exactly `size` bytes hashing to `digest`. Otherwise the session is
        cancelled (DELETE) and BlobMismatch raised: whatever the registry (or a proxy in front
        of it) checks, it is never asked to store wrong bytes under a trusted digest."""
        what = f"Blob {digest[:19]} in {self.host}/{repository}"
        _validate_digest(digest, what)
        scope = _push_scope(repository)
        if location is None:
            location = self._open_upload(repository, scope, what)
        body = _HashedWindows(open_body())
        try:
            while body.sent < size:
                n = min(window, size - body.sent)
                location = self._patch_window(location, scope, body, n, what, repository)
            body.finish()
        except _BodyEnded as exc:
            self._cancel_upload(location)
            raise _blob_mismatch(
                digest,
                f"{exc} (it is {size} bytes): the upload to {self.host}/{repository} was "
                "cancelled before the registry was asked to commit it",
            ) from None
        except BaseException:
            self._cancel_upload(location)
            raise
        got = "sha256:" + body.hasher.hexdigest()
        if body.sent != size or got != digest:
            self._cancel_upload(location)
            raise _blob_mismatch(
                digest,
                f"the bytes read for it hash to {got} ({body.sent} bytes), not to its digest: "
                f"the upload to {self.host}/{repository} was cancelled before the registry "
                "was asked to commit it",
            )
        self._commit_upload(location, digest, scope, what, repository)

    def _open_upload(self, repository: str, scope: str, what: str) -> str:
        """POST a new upload session; returns its address."""
        resp = self._request(
            "POST", f"/v2/{repository}/blobs/uploads/", scope=scope, headers=_EMPTY_BODY
        )
        with resp:
            self._raise_for_push(resp, what, repository)
            return self._upload_location(resp, what)

    def _patch_window(
        self, location: str, scope: str, body: _HashedWindows, n: int, what: str, repository: str
    ) -> str:
        """PATCH the next `n` bytes of `body`; returns the address the session goes on at.

        A 401 means the token expired mid-upload: it is renewed and the PATCH fails like a 5xx,
        so the push starts again (a half-sent window cannot be resent from here)."""
        start = body.sent
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + n - 1}",
            **self._auth_headers(scope),
        }
        resp = self._send_stream("PATCH", location, headers, partial(body.take, n), n)
        with resp:
            if resp.status_code == 401:  # the token expired mid-upload: start again
                self._authenticate(
                    parse_challenges(resp.headers.get("WWW-Authenticate", "")),
                    scope,
                    headers.get("Authorization", ""),
                )
                raise _ServerError(what, "the registry's token expired mid-upload")
            self._raise_for_push(resp, what, repository)
            return self._upload_location(resp, what)

    def _commit_upload(
        self, location: str, digest: str, scope: str, what: str, repository: str
    ) -> None:
        """The final `PUT ?digest=`, which commits the blob; a registry that stores it under
        another digest is an error."""
        sep = "&" if "?" in location else "?"
        url = f"{location}{sep}{urlencode({'digest': digest})}"
        resp = self._send_body("PUT", url, scope, _EMPTY_BODY, lambda: [], 0)
        with resp:
            self._raise_for_push(resp, what, repository)
            stored = resp.headers.get("Docker-Content-Digest", "")
        if stored and stored != digest:
            raise RegistryError(
                what,
                f"the registry stored the upload as {stored[:19]}…",
                "Check the registry (or a proxy in front of it) and run the import again",
            )

    def _cancel_upload(self, location: str) -> None:
        """DELETE an upload session (best effort: the registry drops stale ones anyway)."""
        try:
            headers = {**_EMPTY_BODY, **self._auth_headers(None)}
            self._session.request("DELETE", location, headers=headers, timeout=self.timeout).close()
        except requests.RequestException:
            pass

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

        def once() -> str:  # retried here, so its HEAD is not retried again inside
            if self.blob_exists(repository, digest, retry=False):
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

    def mount_blob_retried(
        self,
        repository: str,
        digest: str,
        from_repository: str,
        *,
        on_retry: RetryCallback | None = None,
    ) -> bool:
        """mount_blob, retried like every other push request (5xx, refused or reset
        connection): True when mounted, False when the registry opened an upload instead."""
        return self._push_retried(
            lambda: self.mount_blob(repository, digest, from_repository) is None, on_retry
        )

    def _push_retried(self, once: Callable[[], _T], on_retry: RetryCallback | None) -> _T:
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
            raise tls_error(self.host, self.ca_file, exc) from None
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise connection_error(self.host, self.timeout, self._session, exc, urlsplit(url))[
                0
            ] from None

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
        """_raise_for for a push into `repository` (what a push needs; a 5xx is retried)."""
        self._raise_for(resp, what, push_to=repository)
