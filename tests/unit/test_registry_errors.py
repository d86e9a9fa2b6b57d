"""One mapping from a registry's error status to the operator's sentence, for pulls and pushes,
and mounts of a delta's blobs retried on a 5xx like every other push request (small in-process
HTTP servers that answer what each test needs)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from airgap_tui.errors import AuthError, NotFoundError, RegistryError
from tests.unit.test_registry_unit import BLOB_DIGEST, _client, reply, serve

ERROR_BODY = json.dumps({"errors": [{"code": "DENIED", "message": "quota exceeded"}]}).encode()


def answer(code: int):  # type: ignore[no-untyped-def]
    def handle(h: BaseHTTPRequestHandler) -> None:
        reply(h, code, ERROR_BODY, {"Content-Type": "application/json"})

    return handle


def pull_error(code: int) -> RegistryError:
    with serve(answer(code)) as (host, _seen):
        with pytest.raises(RegistryError) as raised:
            _client(host, retries=0).blob_bytes("a/b", BLOB_DIGEST)
    return raised.value


def push_error(code: int) -> RegistryError:
    with serve(answer(code)) as (host, _seen):
        with pytest.raises(RegistryError) as raised:
            _client(host, retries=0).mount_blob("a/b", BLOB_DIGEST, "c/d")
    return raised.value


def test_the_cases_pulls_and_pushes_share_say_the_same() -> None:
    for error in (pull_error(429), push_error(429)):
        assert "rate-limiting requests (HTTP 429)" in error.sentence()
        assert "log in" in error.sentence()
    for error in (pull_error(503), push_error(503)):
        assert "the registry answered HTTP 503: DENIED quota exceeded" in error.sentence()
    pull, push = pull_error(403), push_error(403)
    assert isinstance(pull, AuthError) and isinstance(push, AuthError)
    assert pull.sentence().endswith("may pull this repository.")
    assert push.sentence().endswith("may push to a/b.")


def test_what_differs_a_missing_pull_and_a_refused_push() -> None:
    missing = pull_error(404)
    assert isinstance(missing, NotFoundError)
    refused = push_error(404)
    assert not isinstance(refused, NotFoundError)
    assert "refused it (HTTP 404: DENIED quota exceeded)" in refused.sentence()
    assert "the registry answered HTTP 418: DENIED quota exceeded" in pull_error(418).sentence()


def test_a_mount_is_retried_on_a_5xx_like_every_other_push_request() -> None:
    answers = iter([503, 502, 201])
    retries: list[int] = []

    def flaky(h: BaseHTTPRequestHandler) -> None:
        reply(h, next(answers), b"", {"Location": "/v2/a/b/blobs/" + BLOB_DIGEST})

    with serve(flaky) as (host, seen):
        client = _client(host, retries=3)
        mounted = client.mount_blob_retried(
            "a/b", BLOB_DIGEST, "c/d", on_retry=lambda n, _delay, _e: retries.append(n)
        )
    assert mounted is True
    assert [r["method"] for r in seen] == ["POST"] * 3
    assert all(f"mount={BLOB_DIGEST.replace(':', '%3A')}" in r["path"] for r in seen)
    assert retries == [1, 2]


def test_a_mount_that_keeps_failing_gives_up_with_the_registrys_words() -> None:
    with serve(answer(500)) as (host, seen):
        with pytest.raises(RegistryError, match="HTTP 500: DENIED quota exceeded"):
            _client(host, retries=2).mount_blob_retried("a/b", BLOB_DIGEST, "c/d")
    assert len(seen) == 3  # one try and two retries
    with serve(answer(400)) as (host, seen):
        with pytest.raises(RegistryError, match="refused it"):
            _client(host, retries=2).mount_blob_retried("a/b", BLOB_DIGEST, "c/d")
    assert len(seen) == 1  # a 4xx is not retried
