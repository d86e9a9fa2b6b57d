"""Registry client pieces that need no real registry: challenge and platform parsing,
docker config.json credentials (incl. a credential helper), and protocol behaviour against
small in-process HTTP servers that misbehave on purpose (Range ignored, 5xx, token auth)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.errors import NotFoundError, RegistryError
from airgap_tui.models import Credentials
from airgap_tui.registry.auth import parse_challenges
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.diagnose import is_loopback_host
from airgap_tui.registry.dockerconfig import credentials_for, normalize_host
from airgap_tui.registry.oci import (
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_MANIFEST,
    available_platforms,
    parse_image_manifest,
    parse_platform,
    select_platform,
)
from airgap_tui.registry.transport import parse_next_link

# ----------------------------------------------------------------------------------------------
# WWW-Authenticate


def test_bearer_challenge_with_quoted_comma_scope() -> None:
    header = (
        'Bearer realm="https://gitlab.com/jwt/auth",service="container_registry",'
        'scope="repository:security-products/semgrep:pull,push"'
    )
    [challenge] = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://gitlab.com/jwt/auth",
        "service": "container_registry",
        "scope": "repository:security-products/semgrep:pull,push",
    }


def test_several_challenges_spaces_escapes_and_case() -> None:
    header = 'Basic realm="Registry \\"Realm\\"" , BEARER Realm=https://auth.example/token, error=x'
    basic, bearer = parse_challenges(header)
    assert basic.scheme == "basic"
    assert basic.params == {"realm": 'Registry "Realm"'}
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token", "error": "x"}


def test_empty_and_garbage_challenges() -> None:
    assert parse_challenges("") == []
    [only] = parse_challenges("Negotiate")
    assert only.scheme == "negotiate" and only.params == {}


# ----------------------------------------------------------------------------------------------
# Platforms

INDEX: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {
            "digest": "sha256:" + "a" * 64,
            "platform": {"os": "linux", "architecture": "amd64"},
        },
        {
            "digest": "sha256:" + "b" * 64,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
        },
        {
            "digest": "sha256:" + "c" * 64,
            "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
        },
        {
            "digest": "sha256:" + "d" * 64,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        },
    ],
}


@pytest.mark.parametrize(
    ("wanted", "digest_char"),
    [
        ("linux/amd64", "a"),
        ("linux/x86_64", "a"),
        ("linux/arm64", "b"),
        ("linux/arm64/v8", "b"),
        ("linux/aarch64", "b"),
        ("linux/arm/v7", "c"),
    ],
)
def test_select_platform(wanted: str, digest_char: str) -> None:
    entry = select_platform(INDEX, wanted)
    assert entry is not None
    assert entry["digest"] == "sha256:" + digest_char * 64


def test_select_platform_misses_and_lists_real_platforms_only() -> None:
    assert select_platform(INDEX, "linux/s390x") is None
    assert select_platform(INDEX, "windows/amd64") is None
    assert select_platform(INDEX, "linux/arm/v6") is None
    assert available_platforms(INDEX) == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]


def test_bad_platform_text_is_an_error() -> None:
    with pytest.raises(RegistryError, match="os/arch"):
        parse_platform("amd64")


# ----------------------------------------------------------------------------------------------
# Small parsers


def test_next_link_relative_and_absolute() -> None:
    base = "http://127.0.0.1:5000/v2/a/tags/list?n=2"
    rel = '</v2/a/tags/list?last=b&n=2>; rel="next"'
    assert parse_next_link(rel, base) == "http://127.0.0.1:5000/v2/a/tags/list?last=b&n=2"
    absolute = "<https://other.example/v2/a/tags/list?last=b>; rel=next"
    assert parse_next_link(absolute, base) == "https://other.example/v2/a/tags/list?last=b"
    assert parse_next_link('</x>; rel="prev"', base) is None
    assert parse_next_link(None, base) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.5:5000", False),
        ("registry.gitlab.com", False),
        ("127.0.0.1.example.com:443", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def _manifest(**overrides: Any) -> bytes:
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_DOCKER_MANIFEST,
        "config": {"digest": "sha256:" + "1" * 64, "size": 10},
        "layers": [{"digest": "sha256:" + "2" * 64, "size": 20, "mediaType": "x"}],
    }
    data.update(overrides)
    return json.dumps(data).encode()


def test_manifest_parsing_accepts_good_and_refuses_hostile_input() -> None:
    config_digest, size, layers = parse_image_manifest(_manifest(), MEDIA_DOCKER_MANIFEST, "", "x")
    assert (config_digest, size, [layer.size for layer in layers]) == (
        "sha256:" + "1" * 64,
        10,
        [20],
    )
    bad_digest = _manifest(layers=[{"digest": "sha256:../../etc/passwd", "size": 1}])
    negative = _manifest(config={"digest": "sha256:" + "1" * 64, "size": -5})
    for body in (bad_digest, negative, b"[]", b"not json"):
        with pytest.raises(RegistryError):
            parse_image_manifest(body, MEDIA_DOCKER_MANIFEST, "", "x")
    with pytest.raises(RegistryError, match="schema 1"):
        parse_image_manifest(b'{"schemaVersion": 1}', "", "", "x")


# ----------------------------------------------------------------------------------------------
# ~/.docker/config.json


def _write_config(directory: Path, data: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(data))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auths_base64_entries_match_any_spelling_of_the_host(tmp_path: Path) -> None:
    _write_config(
        tmp_path,
        {
            "auths": {
                "https://registry.local:5000/v1/": {"auth": _b64("alice:pa:ss")},
                "https://index.docker.io/v1/": {"auth": _b64("hubuser:hubpass")},
                "plain.example": {"username": "bob", "password": "pw"},
                "broken.example": {"auth": "!!!"},
            }
        },
    )
    found = credentials_for("registry.local:5000", directory=tmp_path)
    assert found == Credentials("alice", "pa:ss")  # only the first ':' separates
    assert credentials_for("registry-1.docker.io", directory=tmp_path) == Credentials(
        "hubuser", "hubpass"
    )
    assert credentials_for("plain.example", directory=tmp_path) == Credentials("bob", "pw")
    assert credentials_for("broken.example", directory=tmp_path) is None
    assert credentials_for("registry.local:5001", directory=tmp_path) is None


def test_missing_or_invalid_config_means_anonymous(tmp_path: Path) -> None:
    assert credentials_for("x.example", directory=tmp_path) is None
    (tmp_path / "config.json").write_text("{not json")
    assert credentials_for("x.example", directory=tmp_path) is None


def test_docker_config_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config(tmp_path / "cfg", {"auths": {"r.example": {"auth": _b64("u:p")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    assert credentials_for("r.example") == Credentials("u", "p")


def test_normalize_host() -> None:
    assert normalize_host("https://Registry.Local:5000/v2/") == "registry.local:5000"
    assert normalize_host("index.docker.io") == "docker.io"


@pytest.fixture
def fake_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`docker-credential-fake` on PATH: answers for two servers, logs what it was asked."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    script = bindir / "docker-credential-fake"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(log)!r}, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
        "known = {'helped.example:5000': ('carol', 's3cret'),\n"
        "         'https://index.docker.io/v1/': ('hubby', 'tok'),\n"
        "         'oauth.example': ('<token>', 'refresh')}\n"
        "if server not in known:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "user, secret = known[server]\n"
        "print(json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return log


def test_cred_helpers_per_registry_and_store(tmp_path: Path, fake_helper: Path) -> None:
    cfg = tmp_path / "cfg"
    _write_config(cfg, {"credHelpers": {"helped.example:5000": "fake"}})
    assert credentials_for("helped.example:5000", directory=cfg) == Credentials("carol", "s3cret")
    assert credentials_for("other.example", directory=cfg) is None  # no helper for it

    _write_config(
        cfg,
        {"credsStore": "fake", "auths": {"fallback.example": {"auth": _b64("dave:pw")}}},
    )
    assert credentials_for("docker.io", directory=cfg) == Credentials("hubby", "tok")
    # The store has nothing for it: the auths entry still counts.
    assert credentials_for("fallback.example", directory=cfg) == Credentials("dave", "pw")
    # Identity tokens need an OAuth flow; treated as no credentials rather than sent as a password.
    assert credentials_for("oauth.example", directory=cfg) is None
    asked = fake_helper.read_text().splitlines()
    assert asked[:2] == ["get helped.example:5000", "get https://index.docker.io/v1/"]


def test_missing_helper_is_anonymous(tmp_path: Path) -> None:
    _write_config(tmp_path, {"credsStore": "does-not-exist-anywhere"})
    assert credentials_for("x.example", directory=tmp_path) is None


# ----------------------------------------------------------------------------------------------
# Protocol behaviour against in-process servers

Handler = Callable[[BaseHTTPRequestHandler], None]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-body is what the Range tests provoke: not an error."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@contextmanager
def serve(handle: Handler) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback HTTP server calling `handle` for every request; yields (host, request log)."""
    seen: list[dict[str, str]] = []

    class _H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def _any(self) -> None:
            seen.append({"method": self.command, "path": self.path, **dict(self.headers)})
            handle(self)

        do_GET = do_HEAD = do_POST = _any  # noqa: N815

    server = _QuietServer(("127.0.0.1", 0), _H)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def reply(
    h: BaseHTTPRequestHandler, code: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    h.send_response(code)
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


BLOB = bytes(range(256)) * 4096  # 1 MiB
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def _client(host: str, **kwargs: Any) -> RegistryClient:
    kwargs.setdefault("scheme", "http")
    kwargs.setdefault("backoff", 0)
    kwargs.setdefault("credential_lookup", None)
    kwargs.setdefault("certs_dir", None)
    return RegistryClient(host, **kwargs)


def test_blob_stream_checks_the_digest_and_names_what_came() -> None:
    wrong = bytearray(BLOB)
    wrong[1234] ^= 1
    with serve(lambda h: reply(h, 200, bytes(wrong))) as (host, _seen):
        with pytest.raises(RegistryError) as err:
            b"".join(_client(host).blob_stream("a/b", BLOB_DIGEST, len(BLOB)))
    got = "sha256:" + hashlib.sha256(bytes(wrong)).hexdigest()
    assert f"Blob {BLOB_DIGEST} of {host}/a/b" in str(err.value) and f"(got {got})" in str(
        err.value
    )


def test_blob_stream_refuses_more_bytes_than_the_manifest_gives() -> None:
    with serve(lambda h: reply(h, 200, BLOB + b"extra")) as (host, _seen):
        with pytest.raises(RegistryError, match="more than the 1048576 bytes"):
            b"".join(_client(host).blob_stream("a/b", BLOB_DIGEST, len(BLOB)))


def test_blob_stream_resumes_with_a_range_and_copes_with_a_server_that_ignores_it() -> None:
    def honours(h: BaseHTTPRequestHandler) -> None:
        start = int(h.headers["Range"].removeprefix("bytes=").removesuffix("-"))
        reply(h, 206, BLOB[start:], {"Content-Range": f"bytes {start}-{len(BLOB) - 1}/*"})

    for handler, status in ((honours, 206), (lambda h: reply(h, 200, BLOB), 200)):
        with serve(handler) as (host, seen):
            prefix = hashlib.sha256(BLOB[:5000])
            rest = _client(host).blob_stream(
                "a/b", BLOB_DIGEST, len(BLOB), start=5000, hasher=prefix
            )
            assert b"".join(rest) == BLOB[5000:], status  # the first 5000 bytes dropped on 200
        assert [r.get("Range") for r in seen] == ["bytes=5000-"]


def test_blob_stream_resumes_after_a_dropped_connection_then_gives_up() -> None:
    state = {"n": 0}

    def drops(h: BaseHTTPRequestHandler) -> None:
        state["n"] += 1
        start = int((h.headers.get("Range") or "bytes=0-").removeprefix("bytes=").removesuffix("-"))
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/*")
        h.send_header("Content-Length", str(len(BLOB) - start))
        h.end_headers()
        h.wfile.write(BLOB[start : start + 300_000])  # then hangs up
        h.close_connection = True

    with serve(drops) as (host, seen):
        assert b"".join(_client(host, retries=5).blob_stream("a/b", BLOB_DIGEST, len(BLOB))) == BLOB
        ranges = [r.get("Range") for r in seen]
        assert ranges[0] is None and all(r and r.startswith("bytes=") for r in ranges[1:])
        seen.clear()
        with pytest.raises(RegistryError, match="the connection broke 2 times"):
            b"".join(_client(host, retries=1).blob_stream("a/b", BLOB_DIGEST, len(BLOB)))
        assert len(seen) == 2


def test_5xx_is_retried_a_bounded_number_of_times() -> None:
    state = {"n": 0}

    def flaky(h: BaseHTTPRequestHandler) -> None:
        state["n"] += 1
        reply(h, 503 if state["n"] <= 2 else 200, b"{}")

    with serve(flaky) as (host, seen):
        _client(host, retries=3).ping()
    assert len(seen) == 3

    with serve(lambda h: reply(h, 502)) as (host, seen):
        with pytest.raises(RegistryError, match="HTTP 502"):
            _client(host, retries=2).ping()
    assert len(seen) == 3  # one try + two retries, then a clear error


def test_connection_refused_names_the_host() -> None:
    with serve(lambda h: reply(h, 200)) as (host, _seen):
        pass  # the port is free again once the server is gone
    with pytest.raises(RegistryError) as info:
        _client(host, retries=1).ping()
    assert host in info.value.sentence()
    assert "refused" in info.value.sentence()


def test_a_404_for_a_tag_the_registry_lists_is_asked_once_more() -> None:
    """A busy registry or proxy that loses a manifest once is not a missing tag; a tag that
    really is missing is said with the tags that exist, after one look at the list."""
    body = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST}).encode()
    state = {"manifest_gets": 0}

    def once_lost(h: BaseHTTPRequestHandler) -> None:
        if "/tags/list" in h.path:
            reply(h, 200, json.dumps({"name": "a/b", "tags": ["6"]}).encode())
        elif "/manifests/6" in h.path:
            state["manifest_gets"] += 1
            if state["manifest_gets"] == 1:
                reply(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            else:
                reply(h, 200, body, {"Content-Type": MEDIA_OCI_MANIFEST})
        else:
            reply(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')

    with serve(once_lost) as (host, _seen):
        client = _client(host)
        raw = client.raw_manifest("a/b", "6")
        assert raw.data == body and state["manifest_gets"] == 2
        with pytest.raises(NotFoundError, match="no such tag; tags that exist: 6") as err:
            client.raw_manifest("a/b", "7")
        assert err.value.available == ["6"]
