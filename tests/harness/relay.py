"""A tiny HTTP relay in front of a registry: counts what is fetched, and misbehaves on request.

It stands where a proxy would between the exporter and the source registry. Every request is
forwarded to the registry and its answer streamed back, while the relay records each blob GET
(digest, Range, bytes sent). Rules, for one blob at a time:

- corrupt(digest, at): flip one byte of the blob's body at offset `at` (a lying proxy);
- hold(digest, after): send `after` bytes of the body, then wait until released (a test stops
  the exporter at a known point by polling, never by sleeping);
- cut(digest, after): send `after` bytes, then close the connection (a registry that dies).

It also forwards pushes (POST, PATCH, PUT, DELETE) and hashes what the client sends for each
upload session, so a test sees what a registry that does not check digests would have stored:
`commits` lists every final `PUT ?digest=` with the sha256 of the bytes really sent, and
`cancelled` every upload the client DELETEd.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

_BLOB = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
_UPLOAD = re.compile(r"^/v2/(.+)/blobs/uploads/([^/?]+)$")


@dataclass
class Commit:
    """A final PUT of an upload: the digest the client claimed, and the one of what it sent."""

    repository: str
    claimed: str
    sent: str
    status: int

    @property
    def honest(self) -> bool:
        return self.claimed == self.sent


class _Body:
    """A request body of known length, hashed into `hasher` as it is forwarded."""

    def __init__(self, rfile: Any, length: int, hasher: Any) -> None:
        self._rfile = rfile
        self._length = length
        self._hasher = hasher

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Any:
        left = self._length
        while left > 0:
            chunk = self._rfile.read(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)
            if self._hasher is not None:
                self._hasher.update(chunk)
            yield chunk


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
        self.commits: list[Commit] = []
        self.cancelled: list[str] = []  # upload paths the client DELETEd
        self._uploads: dict[str, Any] = {}  # upload path -> sha256 of what was sent so far
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

            def do_POST(self) -> None:
                relay._forward_push(self, "POST")

            def do_PATCH(self) -> None:
                relay._forward_push(self, "PATCH")

            def do_PUT(self) -> None:
                relay._forward_push(self, "PUT")

            def do_DELETE(self) -> None:
                relay._forward_push(self, "DELETE")

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
            self.commits.clear()
            self.cancelled.clear()
            self._uploads.clear()

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

    def committed(self, digest: str) -> list[Commit]:
        """The final PUTs that claimed `digest`."""
        with self._lock:
            return [c for c in self.commits if c.claimed == digest]

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

    def _forward_push(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        """Forward a push request, hashing upload bodies per session; rewrite Location."""
        path, _, query = handler.path.partition("?")
        upload = _UPLOAD.match(path)
        with self._lock:
            self.requests.append((method, handler.path))
            hasher = None
            if upload is not None and method in ("PATCH", "PUT"):
                hasher = self._uploads.setdefault(path, hashlib.sha256())
            if upload is not None and method == "DELETE":
                self.cancelled.append(path)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP | {"host"}}
        length = int(handler.headers.get("Content-Length") or 0)
        body = _Body(handler.rfile, length, hasher)
        try:
            resp = self._session.request(
                method,
                self.upstream + handler.path,
                headers=headers,
                data=body if length else b"",
                allow_redirects=False,
                timeout=60,
            )
        except requests.RequestException:
            handler.send_error(502)
            return
        if upload is not None and method == "PUT":
            claimed = ""
            for pair in query.split("&"):
                key, _, value = pair.partition("=")
                if key == "digest":
                    claimed = requests.utils.unquote(value)
            with self._lock:
                sent = self._uploads.pop(path, hashlib.sha256())
                self.commits.append(
                    Commit(upload.group(1), claimed, "sha256:" + sent.hexdigest(), resp.status_code)
                )
        content = resp.content
        handler.send_response(resp.status_code)
        for key, value in resp.headers.items():
            if key.lower() in _HOP:
                continue
            if key.lower() == "location":
                value = self._relayed_location(value)
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(content)

    def _relayed_location(self, location: str) -> str:
        """An upload address of the registry, as the relay's (the client talks to the relay);
        the hash of the session follows it, since the registry moves it on every PATCH."""
        relayed = location.replace(self.upstream, f"http://{self.host}", 1)
        return relayed
