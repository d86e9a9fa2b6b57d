"""Helpers for end-to-end tests: run the real CLI in-process against a session engine, through
the console script's entry (cli/launch.py: what it starts before the parser is exercised too)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from airgap_tui.cli.launch import main
from tests.harness.engine import EngineHandle
from tests.integration.faults_support import (  # noqa: F401  (shared fixtures)
    bundle,
    cli_processes,
    exported,
    relay,
)


@dataclass
class CliRun:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(
    engine: EngineHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliRun]:
    """`cli("export", …)` runs airgap-tui's main() with DOCKER_HOST at the session engine."""
    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)

    def run(*argv: str) -> CliRun:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_no_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path_factory: Any
) -> Callable[..., CliRun]:
    """`cli_no_engine("export", …)`: airgap-tui's main() with DOCKER_HOST at a socket nobody
    listens on, so a command that needed an engine would fail."""
    nowhere = tmp_path_factory.mktemp("no-engine") / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{nowhere}")

    def run(*argv: str) -> CliRun:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def clean_engine(engine: EngineHandle) -> Iterator[EngineHandle]:
    """The session engine with no images, before and after the test."""

    def wipe() -> None:
        client = engine.client()
        try:
            for image in client.images.list(all=True):
                client.images.remove(image.id, force=True)
        finally:
            client.close()

    wipe()
    yield engine
    wipe()


def registry_manifest(host: str, repository: str, tag: str) -> dict[str, Any] | None:
    """The manifest a plain-HTTP loopback registry serves for repository:tag, or None."""
    accept = ", ".join(
        [
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
        ]
    )
    response = requests.get(
        f"http://{host}/v2/{repository}/manifests/{tag}", headers={"Accept": accept}, timeout=30
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def registry_tags(host: str, repository: str) -> list[str]:
    response = requests.get(f"http://{host}/v2/{repository}/tags/list", timeout=30)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return list(response.json().get("tags") or [])
