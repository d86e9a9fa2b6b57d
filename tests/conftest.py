"""Session fixtures: private Docker Engines and loopback registries, stopped at session end.

Everything runs from temporary directories; nothing touches the system's engine, its
/etc/docker, or the developer's ~/.docker.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # plain `pytest` from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.engine import ENGINE_KINDS, EngineHandle, EngineKind, start_engine  # noqa: E402
from tests.harness.images import STANDARD_IMAGES, SeededUpstream, seed_registry  # noqa: E402
from tests.harness.native import NativeUpstream, seed_native  # noqa: E402
from tests.harness.registry import RegistryHandle, start_registry  # noqa: E402
from tests.harness.tls import CA, ENGINE_TLS_HOSTNAME, make_ca  # noqa: E402

# What makes a test an integration test: where it lives, or a fixture it uses.
INTEGRATION_PATHS = ("tests/integration/", "tests/tui/test_flows.py")
INTEGRATION_FIXTURES = frozenset(
    {
        "engine",
        "clean_engine",
        "upstream_registry",
        "offline_registry",
        "seeded_upstream",
        "native_upstream",
        "registry_factory",
        "test_ca",
    }
)
ROOT_FIXTURES = frozenset({"tmpfs"})  # mounts a real filesystem


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark by directory and by fixture, so `-m "not integration"` needs no root or Docker."""
    root = Path(__file__).resolve().parents[1]
    for item in items:
        where = Path(str(item.fspath)).resolve().relative_to(root).as_posix()
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & ROOT_FIXTURES:
            item.add_marker(pytest.mark.root)
            item.add_marker(pytest.mark.integration)
        if where.startswith(INTEGRATION_PATHS) or fixtures & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def _empty_docker_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A developer's ~/.docker/config.json (credential helpers, auths) must never leak in."""
    config = tmp_path_factory.mktemp("docker-config")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_CONFIG", str(config))
        mp.delenv("DOCKER_HOST", raising=False)
        yield config


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The carried tool's cache (XDG_CACHE_HOME) of the session, not the developer's."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        yield cache


@pytest.fixture(autouse=True)
def _fresh_unreachable_memo() -> Iterator[None]:
    """The registry client remembers unreachable hosts for the process; a port one test
    left closed must not fail another test that reuses it."""
    from airgap_tui.registry import diagnose as registry

    registry.forget_unreachable()
    registry._answered.clear()
    yield
    registry.forget_unreachable()


@pytest.fixture(autouse=True)
def _nothing_written_to_the_working_directory() -> Iterator[None]:
    """An import writes its receipt to the current directory unless told otherwise: every
    test passes --receipt-dir (receipt_dir=), or changes directory first, and none leaves a
    file where the suite was started."""
    cwd = Path.cwd()
    before = set(os.listdir(cwd))
    yield
    written = sorted(set(os.listdir(cwd)) - before - {".pytest_cache", "__pycache__"})
    assert not written, f"the test wrote {written} into the working directory {cwd}"


@pytest.fixture(autouse=True)
def _no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots are recorded with colour; NO_COLOR in a developer's shell would change them."""
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    """The CA every session engine trusts; sign registry certs with tls.make_server_cert."""
    return make_ca(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture(scope="session", params=ENGINE_KINDS, ids=list(ENGINE_KINDS))
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, test_ca: CA
) -> Iterator[EngineHandle]:
    """A private engine per kind (20.10 bookworm, 26.1 trixie); tests using it run once each.

    It trusts `test_ca` and resolves ENGINE_TLS_HOSTNAME ("registry.test") to ::1: a TLS
    registry started with bind="::1" and a cert from tls.make_server_cert(dir, test_ca) is then
    verified by both engines as "registry.test:PORT" (127.0.0.1 never is; see harness/engine.py).
    """
    kind: EngineKind = request.param
    handle = start_engine(
        kind,
        tmp_path_factory.mktemp(f"engine-{kind}"),
        trusted_cas=[test_ca.cert],
        extra_hosts={ENGINE_TLS_HOSTNAME: "::1"},
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def upstream_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    """The "internet" side registry (plain HTTP on 127.0.0.1). Do not wipe or restart it."""
    handle = start_registry(tmp_path_factory.mktemp("upstream-registry"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def offline_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryHandle]:
    """The air-gapped side registry (plain HTTP on 127.0.0.1), shared by the session: push
    under a path unique to your test, or use `registry_factory` for one of your own."""
    handle = start_registry(tmp_path_factory.mktemp("offline-registry"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def seeded_upstream(
    upstream_registry: RegistryHandle, tmp_path_factory: pytest.TempPathFactory
) -> SeededUpstream:
    """STANDARD_IMAGES pushed to upstream_registry under security-products/ by a throwaway
    engine, so the session engines start without them and must really pull."""
    seeder = start_engine("bookworm", tmp_path_factory.mktemp("seed-engine"))
    try:
        client = seeder.client()
        try:
            images = seed_registry(client, upstream_registry.host, STANDARD_IMAGES)
        finally:
            client.close()
    finally:
        seeder.stop()
    return SeededUpstream(
        prefix=f"{upstream_registry.host}/security-products",
        images=images,
        registry=upstream_registry,
    )


@pytest.fixture(scope="session")
def native_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeUpstream]:
    """A registry of its own seeded straight through the registry API (tests/harness/native.py):
    Python-gzip, zstd and uncompressed layers, Docker and OCI manifests, a two-platform index and
    a trivy-java-db style artifact. No engine made these blobs. Do not push to or wipe it."""
    handle = start_registry(tmp_path_factory.mktemp("native-upstream"))
    try:
        yield seed_native(handle)
    finally:
        handle.stop()


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[Callable[..., RegistryHandle]]:
    """start_registry(...) for one test (auth, TLS, restart, wipe); all stopped at test end."""
    started: list[RegistryHandle] = []

    def make(name: str = "registry", **kwargs: Any) -> RegistryHandle:
        handle = start_registry(tmp_path / name, **kwargs)
        started.append(handle)
        return handle

    try:
        yield make
    finally:
        for handle in started:
            handle.stop()
