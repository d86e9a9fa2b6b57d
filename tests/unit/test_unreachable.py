"""A registry that gives no answer at all: said once, in one sentence, without back-off retries.

Real sockets on loopback (a closed port refuses; `.invalid` never resolves, RFC 6761) and a
small in-process HTTP server that comes up on the closed port afterwards.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airgap_tui.catalog.load import load_catalog
from airgap_tui.cli.commands import main as cli_main
from airgap_tui.export.estimate import estimate
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.diagnose import RegistryUnreachable, forget_unreachable

NEXT = "check the network or proxy, or set a mirror."


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class V2(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"name":"sec/a","tags":["1"]}' if "tags" in self.path else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@contextmanager
def serving(port: int) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), V2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class NoBackoff(RegistryClient):
    """Records every back-off the client would wait; a refusal must cause none."""

    def __init__(self, host: str, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 3)
        kwargs.setdefault("backoff", 60.0)  # a retry would make the test hang, not pass
        super().__init__(host, credential_lookup=None, certs_dir=None, **kwargs)
        self.waits: list[int] = []

    def _sleep(self, attempt: int) -> None:
        self.waits.append(attempt)
        raise AssertionError(f"retried with back-off (attempt {attempt})")


def test_connection_refused_is_one_sentence_no_retry_and_remembered() -> None:
    port = closed_port()
    host = f"127.0.0.1:{port}"
    client = NoBackoff(host)
    with pytest.raises(RegistryUnreachable) as first:
        client.tags("sec/a")
    assert first.value.sentence() == (
        f"Can't reach {host}: the connection to {host} was refused "
        f"(is the registry running on that port?); {NEXT}"
    )
    assert client.waits == []
    # The registry comes up now, but within the memo every later call, from any client,
    # fails at once with the same sentence: the estimate of 10 images says it once.
    with serving(port):
        with pytest.raises(RegistryUnreachable) as again:
            NoBackoff(host).tags("sec/a")
        assert again.value.sentence() == first.value.sentence()
        forget_unreachable()  # the operator asks again ("r", or a new run)
        assert NoBackoff(host).tags("sec/a") == ["1"]


def test_a_name_that_does_not_resolve_is_not_retried() -> None:
    client = NoBackoff("registry.gitlab.invalid")
    with pytest.raises(RegistryUnreachable) as info:
        client.tags("security-products/semgrep")
    assert info.value.sentence() == (
        "Can't reach registry.gitlab.invalid: the name registry.gitlab.invalid does not "
        f"resolve; {NEXT}"
    )
    assert client.waits == []
    with pytest.raises(RegistryUnreachable):  # on any port or scheme: the name is the problem
        NoBackoff("registry.gitlab.invalid:5000", scheme="http").ping()


def test_a_registry_that_answered_before_is_not_memoised() -> None:
    """It is restarting, not missing: the next call tries again (a registry comes back)."""
    port = closed_port()
    host = f"127.0.0.1:{port}"
    client = RegistryClient(host, retries=0, credential_lookup=None, certs_dir=None)
    with serving(port):
        assert client.tags("sec/a") == ["1"]
    with pytest.raises(RegistryUnreachable):
        client.tags("sec/a")
    with serving(port):
        assert client.tags("sec/a") == ["1"]


def test_a_proxy_that_refuses_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = closed_port()
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://operator:s3cret@127.0.0.1:{port}")
    client = NoBackoff("registry.example.com")
    with pytest.raises(RegistryUnreachable) as info:
        client.tags("security-products/semgrep")
    sentence = info.value.sentence()
    assert sentence.startswith("Can't reach registry.example.com: the proxy ")
    assert f"http://127.0.0.1:{port}" in sentence and NEXT in sentence
    assert "s3cret" not in sentence and "operator" not in sentence


def test_the_estimate_marks_every_image_unreachable_not_missing() -> None:
    port = closed_port()
    prefix = f"127.0.0.1:{port}/security-products"
    catalog = load_catalog()
    specs = [catalog.resolve(name, 18, prefix) for name in ("semgrep", "secrets", "gemnasium")]
    result = estimate(specs)
    assert [i.status for i in result.images] == ["unreachable"] * 3
    assert {i.error for i in result.images} == {
        f"Can't reach 127.0.0.1:{port}: the connection to 127.0.0.1:{port} was refused "
        f"(is the registry running on that port?); {NEXT}"
    }
    assert all(not i.available_tags for i in result.images)


def test_the_cli_estimate_says_it_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine
    port = closed_port()
    prefix = f"127.0.0.1:{port}/security-products"
    code = cli_main(["estimate", "--source-prefix", prefix, "semgrep", "secrets", "gemnasium"])
    out, err = capsys.readouterr()
    assert code == 1
    rows = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(rows) == 3 and all(line.split()[-1] == "unreachable" for line in rows)
    assert "MISSING" not in out + err and "Tags that exist" not in out + err
    errors = [line for line in err.splitlines() if line.strip()]
    assert errors == [
        f"airgap-tui: Can't reach 127.0.0.1:{port}: the connection to 127.0.0.1:{port} was "
        f"refused (is the registry running on that port?); {NEXT}"
    ]
    # nothing resolved: no totals, not even the carried tool's (issue 19)
    assert "No totals: none of the 3 images could be sized." in out
    assert "Download" not in out and "on the media" not in out.lower()
    assert "airgap-tui.pyz" not in out
    code = cli_main(["estimate", "--source-prefix", prefix, "semgrep", "secrets", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["ok"] is False
    assert data["download_bytes"] is None and data["bundle_bytes"] is None
    assert data["total_bytes"] is None
    assert data["left_out"] == ["semgrep:6", "secrets:7"]
