"""The HTTP session to one registry: TLS and CA, proxies, auth round trips, bounded retries,
and "unreachable" said once per host."""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

import requests

from airgap_tui.errors import AuthError, NotFoundError, RegistryError, TLSError
from airgap_tui.events import CancelToken
from airgap_tui.models import Credentials
from airgap_tui.registry.auth import Challenge, _basic_header, parse_challenges
from airgap_tui.registry.diagnose import (
    CONNECT_TIMEOUT,
    DEFAULT_CERTS_DIR,
    UNREACHABLE_MEMO_SECONDS,
    RegistryUnreachable,
    _answered,
    _HandshakeFailed,
    _memo_lock,
    _memoised,
    _registry_error_text,
    _ServerError,
    _TrustAdapter,
    _unreachable,
    connection_error,
    is_loopback_host,
    tls_error,
)
from airgap_tui.registry.dockerconfig import credentials_for
from airgap_tui.registry.oci import _loads_object

RETRY_STATUSES = frozenset({500, 502, 503, 504})


def parse_next_link(header: str | None, base_url: str) -> str | None:
    """The `rel="next"` target of a `Link` header, made absolute against `base_url`."""
    if not header:
        return None
    for part in header.split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)$", part)
        if match and re.search(r'rel\s*=\s*"?next"?', match.group(2)):
            return str(urljoin(base_url, match.group(1)))
    return None


CredentialLookup = Callable[[str], Credentials | None]


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


def _json_body(resp: requests.Response, limit: int, what: str) -> dict[str, Any]:
    return _loads_object(_read_limited(resp, limit, what), what)


BodyFactory = Callable[[], Iterable[bytes]]


def _remember_unreachable(origin: str, key: str, error: RegistryUnreachable) -> None:
    """Memo a host that cannot be reached, so the next call fails at once with the same
    sentence; not one that has answered before (its failure may pass)."""
    with _memo_lock:
        if origin not in _answered:
            _unreachable[key] = (error, time.monotonic() + UNREACHABLE_MEMO_SECONDS)


def _remember_answered(origin: str) -> None:
    """This origin answered once: a later failure of it is never memoised as unreachable."""
    with _memo_lock:
        _answered.add(origin)


class RegistryTransport:
    """One registry host over HTTP: the session, auth and retries the pull and push sides share."""

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
        return f"{type(self).__name__}(host={self.host!r}, scheme={self._scheme!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def scheme(self) -> str:
        return self._negotiate()

    @property
    def base_url(self) -> str:
        return f"{self._negotiate()}://{self.host}"

    def _raise_for(self, resp: requests.Response, what: str, *, push_to: str | None = None) -> None:
        """An error status as the operator's sentence, for pulls and pushes alike; a push
        (`push_to`: its repository) says what a push needs. A 5xx is a _ServerError (a push
        retries it), and the registry's own error code and message are kept."""
        code = resp.status_code
        if code < 400:
            return
        if code == 401:
            raise self._auth_error(resp)
        if code == 403:
            may = f"push to {push_to}" if push_to is not None else "pull this repository"
            raise AuthError(
                what,
                "the registry denied access (HTTP 403)",
                f"Check that the account used for {self.host} may {may}",
                registry=self.host,
            )
        if code == 429:
            raise RegistryError(
                what,
                "the registry is rate-limiting requests (HTTP 429)",
                "Wait a while, or log in (docker login) for a higher limit",
            )
        if code == 404 and push_to is None:
            raise NotFoundError(what, "the registry does not have it (HTTP 404)")
        detail = _registry_error_text(resp)
        if code >= 500:
            raise _ServerError(
                what, f"the registry answered HTTP {code}{detail}", "Try again later"
            )
        if push_to is None:
            raise RegistryError(
                what, f"the registry answered HTTP {code}{detail}", "Try again later"
            )
        raise RegistryError(
            what,
            f"the registry refused it (HTTP {code}{detail})",
            "Check the registry's log; run the import again once it is fixed",
        )

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
        retry: bool = True,
    ) -> requests.Response:
        """One request with auth (challenge → token/basic → retry once) and bounded retries
        (`retry=False` when the caller retries the whole step itself: one level of retries)."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        extra = dict(headers or {})
        sent = self._auth_headers(scope)
        resp = self._send(method, url, {**extra, **sent}, retry=retry)
        if resp.status_code != 401:
            return resp
        challenges = parse_challenges(resp.headers.get("WWW-Authenticate", ""))
        if not self._authenticate(challenges, scope, sent.get("Authorization", "")):
            return resp
        resp.close()
        resp = self._send(method, url, {**extra, **self._auth_headers(scope)}, retry=retry)
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
            self._before_try(keys)
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
                raise tls_error(self.host, self.ca_file, exc) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                error, key = connection_error(self.host, self.timeout, self._session, exc, parts)
                if key is not None:
                    _remember_unreachable(origin, key, error)
                    raise error from None
                if last:
                    raise error from None
                self._sleep(attempt)
                continue
            _remember_answered(origin)
            if resp.status_code in RETRY_STATUSES and not last:
                resp.close()
                self._sleep(attempt)
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _before_try(self, keys: tuple[str, ...]) -> None:
        """Stop here when cancelled, or when the host was found unreachable a moment ago."""
        if self.cancel is not None:
            self.cancel.check(f"Talking to registry {self.host}")
        known = _memoised(keys)
        if known is not None:
            raise known

    def _sleep(self, attempt: int) -> None:
        delay = self.backoff * (2**attempt)
        if delay <= 0:
            return
        if self.cancel is not None:
            if self.cancel.wait(delay):
                self.cancel.check(f"Talking to registry {self.host}")
        else:
            time.sleep(delay)
