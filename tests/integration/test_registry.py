"""The registry client against a real Docker Distribution registry (`docker-registry`) on
127.0.0.1: content pushed over the HTTP API, basic auth (htpasswd), bearer tokens from a token
service, TLS from a private CA, a registry that goes away and comes back."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from airgap_tui.errors import AuthError, NotFoundError, RegistryError, TLSError
from airgap_tui.models import Credentials
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.oci import MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST
from tests.harness.registry import RegistryHandle, token_auth
from tests.harness.tls import make_tls

MakeRegistry = Callable[..., RegistryHandle]
SECRET = "Sup3r-secret-pa55word"

# ----------------------------------------------------------------------------------------------
# Pushing test content straight through the Registry API (no engine needed)


class Pusher:
    """Uploads blobs and manifests with plain requests (monolithic POST+PUT uploads)."""

    def __init__(
        self,
        handle: RegistryHandle,
        session: requests.Session | None = None,
        *,
        ca_file: Path | None = None,
    ) -> None:
        self.url = handle.url
        self.session = session or requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would beat session.verify
        if ca_file is not None:
            self.session.verify = str(ca_file)

    def blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        resp = self.session.post(f"{self.url}/v2/{repo}/blobs/uploads/")
        resp.raise_for_status()
        location = resp.headers["Location"]
        if location.startswith("/"):
            location = self.url + location
        resp = self.session.put(
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        resp.raise_for_status()
        return digest

    def manifest(self, repo: str, ref: str, body: dict[str, Any], media_type: str) -> str:
        data = json.dumps(body).encode()
        resp = self.session.put(
            f"{self.url}/v2/{repo}/manifests/{ref}", data=data, headers={"Content-Type": media_type}
        )
        resp.raise_for_status()
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def image(
        self,
        repo: str,
        tag: str,
        layers: list[bytes],
        *,
        arch: str = "amd64",
        media_type: str = MEDIA_DOCKER_MANIFEST,
    ) -> tuple[str, dict[str, Any]]:
        """Push uncompressed layer tars gzip-compressed; returns (manifest digest, manifest)."""
        diff_ids = ["sha256:" + hashlib.sha256(raw).hexdigest() for raw in layers]
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }
        ).encode()
        oci = media_type == MEDIA_OCI_MANIFEST
        descriptors = []
        for raw in layers:
            gz = gzip.compress(raw, mtime=0)
            descriptors.append(
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                    if oci
                    else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": self.blob(repo, gz),
                    "size": len(gz),
                }
            )
        body = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json"
                if oci
                else "application/vnd.docker.container.image.v1+json",
                "digest": self.blob(repo, config),
                "size": len(config),
            },
            "layers": descriptors,
        }
        return self.manifest(repo, tag, body, media_type), body


def layer_tar(name: str, size: int) -> bytes:
    """An uncompressed layer tar holding `size` bytes of compressible content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = 0
        tf.addfile(info, io.BytesIO((name.encode() * (size // len(name) + 1))[:size]))
    return buf.getvalue()


def _plain(host: str, **kwargs: Any) -> RegistryClient:
    """A client that never consults the developer's config or /etc/docker and never waits."""
    kwargs.setdefault("backoff", 0)
    kwargs.setdefault("credential_lookup", None)
    kwargs.setdefault("certs_dir", None)
    return RegistryClient(host, **kwargs)


@pytest.fixture
def registry(registry_factory: MakeRegistry) -> RegistryHandle:
    return registry_factory("plain")


# ----------------------------------------------------------------------------------------------
# The read API


def test_ping_tags_manifest_config_and_tail(registry: RegistryHandle) -> None:
    push = Pusher(registry)
    raw = layer_tar("app/bin", 300_000)
    digest, body = push.image("sec/semgrep", "6", [raw])
    for tag in ("6.1", "6.2", "latest", "5"):
        push.image("sec/semgrep", tag, [layer_tar(f"x{tag}", 10)])

    client = _plain(registry.host)
    client.ping()
    assert client.scheme == "http"  # loopback: https tried first, plain HTTP used
    assert sorted(client.tags("sec/semgrep", page_size=2)) == ["5", "6", "6.1", "6.2", "latest"]

    manifest = client.manifest("sec/semgrep", "6")
    assert manifest.digest == digest
    assert manifest.index_digest is None
    assert [layer.digest for layer in manifest.layers] == [body["layers"][0]["digest"]]
    assert manifest.config_digest == body["config"]["digest"]
    assert client.manifest("sec/semgrep", digest).digest == digest  # by digest too

    config = json.loads(client.blob_bytes("sec/semgrep", manifest.config_digest))
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]

    layer = manifest.layers[0]
    whole = b"".join(client.blob_stream("sec/semgrep", layer.digest, layer.size))
    assert "sha256:" + hashlib.sha256(whole).hexdigest() == layer.digest
    resumed = hashlib.sha256(whole[:100])  # the first 100 bytes already on the media
    rest = b"".join(
        client.blob_stream("sec/semgrep", layer.digest, layer.size, start=100, hasher=resumed)
    )
    assert rest == whole[100:]  # a Range request (206) for the rest, checked as a whole

    assert client.manifest_exists("sec/semgrep", "6") == digest
    assert client.manifest_exists("sec/semgrep", "7") is None
    assert client.manifest_exists("sec/nothing-here", "7") is None


def test_missing_tag_and_repository(registry: RegistryHandle) -> None:
    push = Pusher(registry)
    for tag in ("5", "6"):
        push.image("sec/secrets", tag, [layer_tar(tag, 100)])
    client = _plain(registry.host)
    with pytest.raises(NotFoundError) as info:
        client.manifest("sec/secrets", "7")
    assert sorted(info.value.available) == ["5", "6"]
    text = info.value.sentence()
    assert f"{registry.host}/sec/secrets:7" in text and "tags that exist" in text

    with pytest.raises(NotFoundError) as repo_info:
        client.manifest("sec/nope", "1")
    assert repo_info.value.available == []
    assert "repository does not exist" in repo_info.value.sentence()
    with pytest.raises(NotFoundError):
        client.tags("sec/nope")


def test_index_resolves_to_the_platform_and_lists_what_exists(registry: RegistryHandle) -> None:
    push = Pusher(registry)
    amd, amd_body = push.image(
        "multi/app", "amd", [layer_tar("amd", 1000)], media_type=MEDIA_OCI_MANIFEST
    )
    arm, arm_body = push.image(
        "multi/app", "arm", [layer_tar("arm", 2000)], arch="arm64", media_type=MEDIA_OCI_MANIFEST
    )
    attest, _ = push.image(
        "multi/app", "att", [layer_tar("att", 10)], media_type=MEDIA_OCI_MANIFEST
    )

    def entry(digest: str, body: dict[str, Any], platform: dict[str, str]) -> dict[str, Any]:
        size = len(json.dumps(body).encode())
        return {
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": digest,
            "size": size,
            "platform": platform,
        }

    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [
            entry(amd, amd_body, {"os": "linux", "architecture": "amd64"}),
            entry(arm, arm_body, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            entry(attest, {}, {"os": "unknown", "architecture": "unknown"}),
        ],
    }
    index["manifests"][2]["size"] = len(
        requests.get(f"{registry.url}/v2/multi/app/manifests/att",
                     headers={"Accept": MEDIA_OCI_MANIFEST}).content
    )  # fmt: skip
    index_digest = push.manifest("multi/app", "1.0", index, MEDIA_OCI_INDEX)

    client = _plain(registry.host)
    amd64 = client.manifest("multi/app", "1.0")
    assert (amd64.digest, amd64.index_digest, amd64.platform) == (amd, index_digest, "linux/amd64")
    assert amd64.layers[0].digest == amd_body["layers"][0]["digest"]
    arm64 = client.manifest("multi/app", "1.0", platform="linux/arm64")
    assert arm64.digest == arm
    with pytest.raises(NotFoundError) as info:
        client.manifest("multi/app", "1.0", platform="linux/s390x")
    text = info.value.sentence()
    assert "no linux/s390x image" in text
    assert "linux/amd64, linux/arm64/v8" in text and "unknown" not in text
    assert client.manifest_exists("multi/app", "1.0") == index_digest


# ----------------------------------------------------------------------------------------------
# Failures an operator meets


def test_connection_refused_and_a_registry_that_comes_back(registry: RegistryHandle) -> None:
    push = Pusher(registry)
    push.image("sec/a", "1", [layer_tar("a", 100)])
    client = _plain(registry.host, retries=1)
    assert client.tags("sec/a") == ["1"]
    registry.stop()
    with pytest.raises(RegistryError) as info:
        client.tags("sec/a")
    assert registry.host in info.value.sentence() and "refused" in info.value.sentence()
    registry.start()
    assert client.tags("sec/a") == ["1"]  # same client, new connections


def test_a_secure_registry_is_never_tried_over_plain_http(registry: RegistryHandle) -> None:
    """Only insecure registries (loopback, or marked so) fall back to HTTP, as with Docker."""
    with pytest.raises(TLSError) as info:
        _plain(registry.host, insecure=False).ping()
    assert "TLS handshake failed" in info.value.sentence()
    assert "insecure" in info.value.sentence()
    assert _plain(registry.host, insecure=True).scheme == "http"


def test_htpasswd_basic_auth(
    registry_factory: MakeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = registry_factory("auth", htpasswd=("airgap", SECRET))
    session = requests.Session()
    session.auth = ("airgap", SECRET)
    Pusher(handle, session).image("sec/gemnasium", "6", [layer_tar("g", 100)])

    with pytest.raises(AuthError) as anonymous:
        _plain(handle.host).tags("sec/gemnasium")
    assert f"docker login {handle.host}" in anonymous.value.sentence()
    assert anonymous.value.registry == handle.host

    wrong = _plain(handle.host, credentials=Credentials("airgap", "not-" + SECRET))
    with pytest.raises(AuthError) as rejected:
        wrong.ping()
    assert "rejected the credentials of user 'airgap'" in rejected.value.sentence()

    right = _plain(handle.host, credentials=Credentials("airgap", SECRET))
    right.ping()
    assert right.tags("sec/gemnasium") == ["6"]

    # Credentials from the lookup (config.json, a helper) are asked for once per client.
    lookups: list[str] = []

    def lookup(host: str) -> Credentials | None:
        lookups.append(host)
        return Credentials("airgap", SECRET)

    looked_up = RegistryClient(handle.host, backoff=0, certs_dir=None, credential_lookup=lookup)
    looked_up.ping()
    assert looked_up.tags("sec/gemnasium") == ["6"]
    assert lookups == [handle.host]

    # The same credentials found through $DOCKER_CONFIG/config.json, as after `docker login`.
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    auth = base64.b64encode(f"airgap:{SECRET}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {handle.host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    from_config = RegistryClient(handle.host, backoff=0, certs_dir=None)
    assert from_config.tags("sec/gemnasium") == ["6"]

    for exc in (anonymous.value, rejected.value):
        for text in (str(exc), repr(exc), exc.sentence(), repr(wrong), repr(right)):
            assert SECRET not in text and auth not in text


def test_private_ca_tls(registry_factory: MakeRegistry, tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    handle = registry_factory("tls", tls=tls.pair)
    Pusher(handle, ca_file=tls.ca_cert).image("sec/a", "1", [layer_tar("a", 100)])

    with pytest.raises(TLSError) as info:
        _plain(handle.host).ping()
    assert info.value.sentence() == (
        f"Registry {handle.host} refused TLS: its certificate is signed by an unknown CA. "
        "Give its CA certificate with --ca-file CA.crt; for the Docker engine add the CA to "
        f"/etc/docker/certs.d/{handle.host}/ca.crt."
    )

    with_ca = _plain(handle.host, ca_file=tls.ca_cert)
    with_ca.ping()
    assert with_ca.scheme == "https"
    assert with_ca.tags("sec/a") == ["1"]

    # The engine's own location works for us too, so one CA install fixes both.
    certs_d = tmp_path / "certs.d"
    (certs_d / handle.host).mkdir(parents=True)
    (certs_d / handle.host / "ca.crt").write_bytes(tls.ca_cert.read_bytes())
    assert _plain(handle.host, certs_dir=certs_d).tags("sec/a") == ["1"]

    # A CA that did not sign the registry's certificate says so.
    other = make_tls(tmp_path / "other")
    with pytest.raises(TLSError, match="did not sign it"):
        _plain(handle.host, ca_file=other.ca_cert).ping()


# ----------------------------------------------------------------------------------------------
# Bearer tokens from a token service (the flow registry.gitlab.com and Docker Hub use)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    """Issues ES256 JWTs that docker-registry's `auth: token` accepts (x5c chain header)."""

    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airgap-tui token signer")])
        now = time.time()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_utc(now - 3600))
            .not_valid_after(_utc(now + 86400))
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = workdir / "token-signer.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.users = users
        self.requests: list[dict[str, Any]] = []
        self.issued: list[str] = []

    def token(self, subject: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": "airgap-tui-test-issuer",
            "sub": subject,
            "aud": "airgap-tui-test-registry",
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        token = f"{signing_input}.{_b64url(signature)}"
        self.issued.append(token)
        return token

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        self.requests.append({"query": query, "auth": h.headers.get("Authorization")})
        subject = ""
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(user) != password:
                _reply(h, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                return
            subject = user
        scopes = query.get("scope", []) if subject else []  # anonymous: no access granted
        body = json.dumps({"token": self.token(subject, scopes), "expires_in": 300})
        _reply(h, 200, body.encode())


def _utc(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def _reply(h: BaseHTTPRequestHandler, code: int, body: bytes) -> None:
    h.send_response(code)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@contextmanager
def serve(handle: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class _H(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            handle(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_bearer_token_auth(registry_factory: MakeRegistry, tmp_path: Path) -> None:
    service = TokenService(tmp_path, {"ci": SECRET})
    with serve(service.handle) as token_url:
        handle = registry_factory(
            "token",
            config_overrides=token_auth(token_url, service.bundle),
        )
        # Seed with a push token.
        session = requests.Session()
        push_token = service.token("ci", ["repository:sec/semgrep:pull,push"])
        session.headers["Authorization"] = f"Bearer {push_token}"
        digest, _ = Pusher(handle, session).image("sec/semgrep", "6", [layer_tar("s", 5000)])

        client = _plain(handle.host, credentials=Credentials("ci", SECRET))
        assert client.manifest("sec/semgrep", "6").digest == digest
        tokens_before = len(service.requests)
        assert client.tags("sec/semgrep") == ["6"]
        assert client.tags("sec/semgrep") == ["6"]
        assert len(service.requests) == tokens_before, "the token is reused, not asked again"
        # a missing tag is named with the tags that exist, read through the same token
        with pytest.raises(NotFoundError) as missing:
            client.manifest("sec/semgrep", "9")
        assert missing.value.available == ["6"]
        assert "tags that exist: 6" in missing.value.sentence()
        asked = [r for r in service.requests if r["auth"]]
        assert any(r["query"].get("scope") == ["repository:sec/semgrep:pull"] for r in asked)
        assert all(r["query"].get("service") == ["airgap-tui-test-registry"] for r in asked)
        assert all(r["query"].get("account") == ["ci"] for r in asked)

        # Anonymous: a token without access, so the registry still says 401 → clear advice.
        with pytest.raises(AuthError) as anonymous:
            _plain(handle.host).tags("sec/semgrep")
        assert f"docker login {handle.host}" in anonymous.value.sentence()

        # A wrong password is refused by the token service itself.
        wrong = _plain(handle.host, credentials=Credentials("ci", "wrong-" + SECRET))
        with pytest.raises(AuthError) as refused:
            wrong.tags("sec/semgrep")
        assert "token service refused" in refused.value.sentence()
        assert "'ci'" in refused.value.sentence() and "docker login" in refused.value.sentence()
        assert SECRET not in repr(wrong) and SECRET not in repr(client)

    for exc in (anonymous.value, refused.value):
        for token in service.issued:
            assert token not in str(exc) and token not in repr(exc)
        assert SECRET not in str(exc)
