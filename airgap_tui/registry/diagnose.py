"""Why a registry could not be reached, in plain words: TLS, DNS, refusals, proxies.

An unreachable host is said once and remembered for the process, so every image on it
fails at once with the same sentence instead of waiting for the same timeout again.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from airgap_tui.errors import RegistryError, TLSError

DEFAULT_CERTS_DIR = Path("/etc/docker/certs.d")


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


def _proxy_shown(session: requests.Session, url: str) -> str:
    """The proxy requests uses for `url`, without any user:password in it."""
    proxies = requests.utils.get_environ_proxies(url) if session.trust_env else {}
    scheme = urlsplit(url).scheme
    proxy = proxies.get(scheme) or proxies.get("all") or ""
    return redact_url(proxy) if proxy else "(unknown)"


def tls_error(host: str, ca_file: Path | None, exc: BaseException) -> TLSError:
    """A TLS failure in plain words, with the CA file to give or fix."""
    problem = _cert_problem(exc)
    what = f"Registry {host} refused TLS"
    if problem is None:
        return _HandshakeFailed(
            f"Registry {host}",
            "the TLS handshake failed (it may not speak HTTPS on this port)",
            "Check the port; a plain-HTTP registry must be marked insecure (as in the "
            "engine's insecure-registries), and is then reached over HTTP",
        )
    if "unknown CA" in problem:
        given = f" (the CA in {ca_file} did not sign it)" if ca_file else ""
        step = (
            f"Give its CA certificate with --ca-file CA.crt; for the Docker engine add the CA "
            f"to {DEFAULT_CERTS_DIR}/{host}/ca.crt"
        )
        return TLSError(what, problem + given, step)
    return TLSError(
        what,
        problem,
        f"Fix the registry's certificate; the engine reads its CA from "
        f"{DEFAULT_CERTS_DIR}/{host}/ca.crt",
    )


def connection_error(
    host: str, timeout: float, session: requests.Session, exc: BaseException, url: SplitResult
) -> tuple[RegistryUnreachable, str | None]:
    """The error in one sentence, and the memo key when retrying cannot help."""
    causes = list(_walk_causes(exc))
    text = " ".join(str(e) for e in causes).lower()
    name = url.hostname or url.netloc
    origin = f"{url.scheme}://{url.netloc}"
    key: str | None = origin
    if isinstance(exc, requests.exceptions.ProxyError):
        proxy = _proxy_shown(session, urlunsplit(url))
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
        if is_loopback_host(host):
            cause += " (is the registry running on that port?)"
    elif isinstance(exc, requests.exceptions.ConnectTimeout):
        wait = min(timeout, CONNECT_TIMEOUT)
        cause = f"{url.netloc} did not accept a connection within {wait:g} s"
    elif "timed out" in text or isinstance(exc, requests.exceptions.Timeout):
        cause = f"it did not answer within {timeout:g} s"
        key = None
    else:
        cause = "the connection failed or was reset"
        key = None
    # A token service on another host is named as itself, not as the registry.
    shown = host if url.netloc in (host, "") else url.netloc
    return RegistryUnreachable(f"Can't reach {shown}", cause, UNREACHABLE_NEXT_STEP), key


class _ServerError(RegistryError):
    """A 5xx from the registry: it may pass (restart, overload), so a push retries it."""


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
