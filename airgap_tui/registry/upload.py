"""The push side: blobs (HEAD, mount, upload) and original manifest bytes into a registry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from airgap_tui.errors import AuthError, RegistryError
from airgap_tui.registry.auth import _pull_scope, _push_scope, parse_challenges
from airgap_tui.registry.diagnose import RegistryUnreachable, connection_error, tls_error
from airgap_tui.registry.oci import MAX_MANIFEST_BYTES, _validate_digest
from airgap_tui.registry.transport import BodyFactory, RegistryTransport

BLOB_PRESENT = "present"


BLOB_MOUNTED = "mounted"


BLOB_UPLOADED = "uploaded"


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


class RegistryUpload(RegistryTransport):
    """Push: blobs and original manifests into a target registry (the offline side).

    Bodies come from a factory, not an iterator, so a retry or a re-sent request after a new
    token starts the stream again from its first byte."""

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
