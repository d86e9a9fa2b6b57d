"""A tiny HTTP relay in front of a registry: counts what is fetched, and misbehaves on request.

It stands where a proxy would between the exporter and the source registry. Every request is
forwarded to the registry and its answer streamed back, while the relay records each blob GET
(digest, Range, bytes sent). Rules, for one blob at a time:

- corrupt(digest, at): flip one byte of the blob's body at offset `at` (a lying proxy);
- hold(digest, after): send `after` bytes of the body, then wait until released (a test stops
  the exporter at a known point by polling, never by sleeping);
- cut(digest, after): send `after` bytes, then close the connection (a registry that dies).
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

_BLOB = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class BlobFetch:
    digest: str
    range: str | None
    status: int
    sent: int = 0


@dataclass
class _Rule:
    kind: str  # corrupt | hold | cut
    digest: str
    offset: int
    times: int = 1  # how many responses it applies to
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class RegistryRelay:
    """`RegistryRelay(registry.url)`; point the exporter at `relay.host` instead."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream = upstream_url.rstrip("/")
        self.fetches: list[BlobFetch] = []
        self.requests: list[tuple[str, str]] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._session = requests.Session()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                relay._forward(self, "GET")

            def do_HEAD(self) -> None:
                relay._forward(self, "HEAD")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        with self._lock:
            for rule in self._rules:
                rule.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._session.close()

    def __enter__(self) -> RegistryRelay:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget rules (releasing any hold) and what was recorded: ready for the next run."""
        with self._lock:
            for rule in self._rules:
                rule.release.set()
            self._rules.clear()
            self.fetches.clear()
            self.requests.clear()

    # -- rules -------------------------------------------------------------------------------

    def _add(self, rule: _Rule) -> _Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def corrupt(self, digest: str, at: int, times: int = 1) -> _Rule:
        return self._add(_Rule("corrupt", digest, at, times))

    def hold(self, digest: str, after: int) -> _Rule:
        return self._add(_Rule("hold", digest, after))

    def cut(self, digest: str, after: int, times: int = 1) -> _Rule:
        return self._add(_Rule("cut", digest, after, times))

    def blob_bytes(self, digest: str | None = None) -> int:
        """Body bytes sent for blob GETs (of one digest, or all)."""
        with self._lock:
            return sum(f.sent for f in self.fetches if digest is None or f.digest == digest)

    def fetched(self) -> list[str]:
        with self._lock:
            return [f.digest for f in self.fetches]

    def _rule_for(self, digest: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.digest == digest and rule.times > 0:
                    rule.times -= 1
                    return rule
        return None

    # -- forwarding ------------------------------------------------------------------------------

    def _forward(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP | {"host"}}
        with self._lock:
            self.requests.append((method, handler.path))
        try:
            resp = self._session.request(
                method,
                self.upstream + handler.path,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=60,
            )
        except requests.RequestException:
            handler.send_error(502)
            return
        with resp:
            match = _BLOB.match(handler.path.split("?", 1)[0])
            handler.send_response(resp.status_code)
            for key, value in resp.headers.items():
                if key.lower() not in _HOP:
                    handler.send_header(key, value)
            length = resp.headers.get("Content-Length")
            if length is not None:
                handler.send_header("Content-Length", length)
            handler.end_headers()
            if method == "HEAD":
                return
            fetch = None
            rule = None
            if match and method == "GET":
                fetch = BlobFetch(match.group(2), handler.headers.get("Range"), resp.status_code)
                with self._lock:
                    self.fetches.append(fetch)
                if resp.status_code in (200, 206):
                    rule = self._rule_for(match.group(2))
            start = 0
            content_range = resp.headers.get("Content-Range", "")
            if content_range.startswith("bytes "):
                start = int(content_range[6:].split("-", 1)[0])
            position = start  # offset in the blob of the next byte sent
            with contextlib.suppress(OSError):
                for chunk in resp.raw.stream(64 * 1024, decode_content=False):
                    if rule is not None:
                        chunk, stop = self._apply(rule, chunk, position)
                        if chunk:
                            handler.wfile.write(chunk)
                            handler.wfile.flush()
                            position += len(chunk)
                            if fetch is not None:
                                fetch.sent += len(chunk)
                        if stop:
                            if rule.kind == "hold":
                                rule.held.set()
                                rule.release.wait()
                            handler.close_connection = True
                            return
                        continue
                    handler.wfile.write(chunk)
                    position += len(chunk)
                    if fetch is not None:
                        fetch.sent += len(chunk)

    def _apply(self, rule: _Rule, chunk: bytes, position: int) -> tuple[bytes, bool]:
        """The chunk as the rule wants it sent, and whether to stop after it."""
        end = position + len(chunk)
        if rule.kind == "corrupt":
            if position <= rule.offset < end:
                data = bytearray(chunk)
                data[rule.offset - position] ^= 0xFF
                return bytes(data), False
            return chunk, False
        if not position <= rule.offset < end:
            return chunk, False
        # cut, or hold (then the connection is dropped: the exporter was stopped meanwhile)
        return chunk[: rule.offset - position], True
