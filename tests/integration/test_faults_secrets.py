"""Fault matrix, credentials rows, on both real engines and a real htpasswd registry:
credentials piped in (--password-stdin) or read from $DOCKER_CONFIG/config.json, wrong or
missing ones, and proof that no password (nor its base64 form) is written or logged anywhere.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.engine import EngineHandle
from tests.harness.images import SeededUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.faults_support import (
    IMAGE_NAMES,
    TAGS,
    engine_images,
    export_argv,
    tags_with_auth,
    tree_state,
    wipe_engine,
)

USER = "scanner-robot"


@dataclass
class AuthRegistry:
    handle: RegistryHandle
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return (USER, self.password)

    @property
    def secrets(self) -> list[str]:
        """The password and what a leaked Authorization header or config.json would hold."""
        token = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
        return [self.password, token]


@pytest.fixture
def auth_registry(registry_factory: Callable[..., RegistryHandle]) -> AuthRegistry:
    password = f"pw-{uuid.uuid4().hex}"  # unique: a match anywhere can only be a leak
    return AuthRegistry(registry_factory("auth", htpasswd=(USER, password)), password)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every library, down to DEBUG (urllib3, docker, ours)."""
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def docker_config_dir() -> Iterator[Path]:
    """The session's $DOCKER_CONFIG: it must not change (no entry is ever added)."""
    directory = Path(os.environ["DOCKER_CONFIG"])
    before = tree_state(directory)
    yield directory
    assert tree_state(directory) == before


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def _config_with(directory: Path, registry: RegistryHandle, password: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    (directory / "config.json").write_text(
        json.dumps({"auths": {registry.host: {"auth": token}}}, indent=1)
    )
    return directory


def _assert_no_secret(secrets: list[str], roots: list[Path], texts: list[str]) -> None:
    """Grep every file under `roots` and every captured text for every form of the secret."""
    needles = [s.encode() for s in secrets]
    checked = 0
    for root in roots:
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                checked += 1
                for needle in needles:
                    assert needle not in data, f"a credential was written to {path}"
    assert checked or not roots, roots
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a credential was printed or logged"


def _outputs(*runs: CliRun) -> list[str]:
    return [text for run in runs for text in (run.out, run.err)]


def _pushed(registry: AuthRegistry, path: str) -> dict[str, list[str]]:
    return {
        name: tags_with_auth(registry.handle.url, f"{path}/{name}", auth=registry.auth)
        for name in IMAGE_NAMES
    }


# --------------------------------------------------------------------------- import


def test_password_from_stdin_pushes_and_is_never_written_or_logged(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    auth_registry: AuthRegistry,
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_config_dir: Path,
    logs: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    path = f"stdin-{uuid.uuid4().hex[:8]}"
    target = f"{auth_registry.handle.host}/{path}"
    receipts = tmp_path / "receipts"
    argv = ("import", str(bundle), "--registry", target, "--receipt-dir", str(receipts))
    _stdin(monkeypatch, auth_registry.password + "\n")
    run = cli(*argv, "--username", USER, "--password-stdin", "--json")
    assert run.code == 0, run.err
    assert [i["status"] for i in run.json["images"]] == ["pushed"] * 3
    assert _pushed(auth_registry, path) == {n: [TAGS[n]] for n in IMAGE_NAMES}
    _stdin(monkeypatch, auth_registry.password + "\n")
    text = cli(*argv, "--username", USER, "--password-stdin")  # the human-readable report too
    assert text.code == 0, text.err
    receipt = Path(run.json["receipt"])
    assert receipt.parent == receipts and USER not in receipt.read_text()
    _assert_no_secret(
        auth_registry.secrets,
        [tmp_path, docker_config_dir, receipt],
        [*_outputs(run, text), logs.text],
    )


def test_credentials_from_docker_config_push_and_the_config_is_left_alone(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    auth_registry: AuthRegistry,
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    config = _config_with(tmp_path / "docker-config", auth_registry.handle, auth_registry.password)
    before = tree_state(config)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    path = f"config-{uuid.uuid4().hex[:8]}"
    target = f"{auth_registry.handle.host}/{path}"
    run = cli("import", str(bundle), "--registry", target, "--receipt-dir", str(tmp_path), "--json")
    assert run.code == 0, run.err
    assert [i["status"] for i in run.json["images"]] == ["pushed"] * 3
    assert _pushed(auth_registry, path) == {n: [TAGS[n]] for n in IMAGE_NAMES}
    assert tree_state(config) == before  # read, never rewritten, nothing added next to it
    _assert_no_secret(
        auth_registry.secrets, [tmp_path / "bundle", Path(run.json["receipt"])], _outputs(run)
    )
    _assert_no_secret(auth_registry.secrets, [], [logs.text])


@pytest.mark.parametrize("source", ["stdin", "docker-config", "none"])
def test_wrong_or_missing_credentials_are_a_clear_error_and_nothing_is_loaded(
    source: str,
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    auth_registry: AuthRegistry,
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_config_dir: Path,
    logs: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    path = f"wrong-{uuid.uuid4().hex[:8]}"
    host = auth_registry.handle.host
    argv = ["import", str(bundle), "--registry", f"{host}/{path}", "--receipt-dir", str(tmp_path)]
    if source == "stdin":
        _stdin(monkeypatch, wrong + "\n")
        argv += ["--username", USER, "--password-stdin"]
    elif source == "docker-config":
        config = _config_with(tmp_path / "docker-config", auth_registry.handle, wrong)
        monkeypatch.setenv("DOCKER_CONFIG", str(config))
    run = cli(*argv)
    assert run.code == 1
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert lines[0].startswith(f"airgap-tui: Registry {host}: ")
    if source == "none":
        assert "it requires a login (HTTP 401) and no credentials were found for it" in lines[0]
    else:
        assert f"it rejected the credentials of user '{USER}' (HTTP 401)" in lines[0]
        assert "Check the user name and password" in lines[0]
    assert f"docker login {host}" in lines[0] and "--password-stdin" in lines[0]
    assert run.out == ""
    assert engine_images(clean_engine) == []  # refused before anything was loaded
    assert _pushed(auth_registry, path) == {n: [] for n in IMAGE_NAMES}
    assert not list(tmp_path.glob("airgap-receipt-*"))
    secrets = [*auth_registry.secrets, wrong, base64.b64encode(f"{USER}:{wrong}".encode()).decode()]
    _assert_no_secret(secrets, [tmp_path / "bundle"], [*_outputs(run), logs.text])


def test_username_without_a_way_to_read_the_password_is_a_usage_error(
    cli: Callable[..., CliRun],
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No terminal to prompt on and no --password-stdin: say how to pass it (never argv)."""
    _stdin(monkeypatch, "")
    run = cli("import", str(bundle), "--registry", "127.0.0.1:9/x", "--username", USER)
    assert run.code == 2
    assert "Pipe the password in with --password-stdin" in run.err


# --------------------------------------------------------------------------- export


def _seed_auth_registry(
    engine: EngineHandle, upstream: SeededUpstream, registry: AuthRegistry
) -> str:
    """Copy the standard images into the auth registry (via the engine, then forget them)."""
    prefix = f"{registry.handle.host}/security-products"
    client = engine.client()
    try:
        for image in upstream.images:
            client.images.pull(image.ref)
            repository = f"{prefix}/{image.name}"
            client.api.tag(image.ref, repository, image.tag)
            for event in client.api.push(
                repository,
                image.tag,
                stream=True,
                decode=True,
                auth_config={"username": USER, "password": registry.password},
            ):
                assert "error" not in event, event
    finally:
        client.close()
    wipe_engine(engine)
    return prefix


def test_export_from_a_registry_that_needs_a_login_uses_docker_config_and_writes_no_secret(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    seeded_upstream: SeededUpstream,
    auth_registry: AuthRegistry,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    prefix = _seed_auth_registry(clean_engine, seeded_upstream, auth_registry)
    upstream = seeded_upstream._replace(prefix=prefix)
    dest = tmp_path / "usb" / "bundle"

    refused = cli(*export_argv(upstream, dest))
    assert refused.code == 1
    assert refused.json["kind"] == "AuthError", refused.out
    assert "requires a login (HTTP 401) and no credentials were found" in refused.json["error"]
    assert not (tmp_path / "usb").exists()

    config = _config_with(tmp_path / "docker-config", auth_registry.handle, auth_registry.password)
    before = tree_state(config)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    exported_run = cli(*export_argv(upstream, dest))
    assert exported_run.code == 0, exported_run.err
    assert exported_run.json["ok"] is True
    assert cli("verify", str(dest), "--json").json["ok"] is True
    assert tree_state(config) == before
    _assert_no_secret(auth_registry.secrets, [dest], [*_outputs(refused, exported_run), logs.text])
