"""One snapshot per screen and state, at 120x40 and at 80x24 (jump hosts, consoles), with fixed
data (see fakes.py); plain `def` tests, since snap_compare runs its own event loop.
Update after a reviewed change: pytest --snapshot-update."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from airgap_tui.errors import EngineError
from airgap_tui.tui.app import AirgapApp
from tests.tui.conftest import SIZE, SMALL
from tests.tui.fakes import USB, CheckingDomain, FixedDomain
from tests.tui.helpers import (
    DEST,
    REGISTRY,
    TO_DESTINATION,
    TO_DONE,
    TO_ESTIMATE,
    TO_HELD_WRITE,
    TO_IMPORT,
    TO_PUSH,
    TO_REGISTRY,
    TO_VERIFY,
    Action,
    still,
    walk,
)

Steps = Callable[[Pilot[Any]], Awaitable[None]]
MakeApp = Callable[..., AirgapApp]


@pytest.fixture(params=[SIZE, SMALL], ids=["120x40", "80x24"])
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    """Every screen is recorded at both sizes: names and tags must stay visible at 80x24."""
    value: tuple[int, int] = request.param
    return value


def steps(*actions: Action, skip: tuple[str, ...] = ()) -> Steps:
    async def run(pilot: Pilot[Any]) -> None:
        await walk(pilot, *actions, skip=skip)
        still(pilot)

    return run


@pytest.fixture
def snap(snap_compare: Any, size: tuple[int, int]) -> Callable[..., bool]:
    def take(app: AirgapApp, *actions: Action, skip: tuple[str, ...] = ()) -> bool:
        return bool(snap_compare(app, terminal_size=size, run_before=steps(*actions, skip=skip)))

    return take


Snap = Callable[..., bool]


def broken_engine() -> Any:
    raise EngineError(
        "Docker engine at unix:///var/run/docker.sock",
        "it is not reachable (connection refused)",
        "Start Docker (systemctl start docker) or point DOCKER_HOST at a running engine",
    )


def test_start(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app())


def test_start_engine_unreachable(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(domain=FixedDomain(engine=broken_engine)))


def test_analyzers_with_preset(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), "e", "1")


def test_analyzers_upstream_tags(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), "e", "1", "t")


def test_analyzers_on_a_mirror_through_a_proxy(snap: Snap, make_app: MakeApp) -> None:
    domain = FixedDomain(proxy=("HTTPS_PROXY", "http://proxy.example.com:3128"))
    app = make_app(domain=domain, source_prefix="harbor.example.com/gitlab/security-products")
    assert snap(app, "e", "3")


def test_analyzers_source_invalid_as_typed(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), "e", "1", ("#source", "security-products"))


def test_estimate(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_ESTIMATE)


def test_estimate_missing_image(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(domain=FixedDomain(missing=frozenset({"secrets:7"}))), *TO_ESTIMATE)


def test_estimate_source_unreachable(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(domain=FixedDomain(unreachable=True)), *TO_ESTIMATE)


def test_destination_fits(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_DESTINATION, DEST)


def test_destination_too_small_with_partial_bundle(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(free=1_500_000_000, journal=True))
    assert snap(app, *TO_DESTINATION, DEST)


def test_write_in_progress(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(domain=FixedDomain(hold=True)), *TO_HELD_WRITE, skip=("export",))


def test_write_cancel_dialog(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(hold=True))
    assert snap(app, *TO_HELD_WRITE, "escape", skip=("export",))


def test_done(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_DONE)


def test_import_choose_bundle(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_IMPORT)


def test_import_drive_without_bundle_here(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), "i", ("#path", USB))


def test_verify_ok(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_VERIFY)


def test_verify_mismatch(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(bad_parts=frozenset({"images.tar.002"})))
    assert snap(app, *TO_VERIFY)


def test_verify_signer_checked(snap: Snap, make_app: MakeApp) -> None:
    """The allowed_signers file typed, then verified again (r): the signer, checked."""
    signers = Path(f"{USB}/allowed_signers")
    app = make_app(domain=CheckingDomain(signers))
    assert snap(app, *TO_VERIFY, ("#allowed-signers", str(signers)), "r")


def test_registry_invalid_as_typed(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_REGISTRY, ("#registry", "bad host:99999"))


def test_registry_checked(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_REGISTRY, ("#registry", REGISTRY), "ctrl+t")


def test_registry_credentials_dialog(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(registry="auth"))
    assert snap(app, *TO_REGISTRY, ("#registry", REGISTRY), "ctrl+t", "o", "p", "s")


def test_registry_tls_fix(snap: Snap, make_app: MakeApp) -> None:
    app = make_app(domain=FixedDomain(registry="tls"))
    assert snap(app, *TO_REGISTRY, ("#registry", REGISTRY), "ctrl+t")


def test_push_results(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_PUSH)


def test_snippet_after_import(snap: Snap, make_app: MakeApp) -> None:
    assert snap(make_app(), *TO_PUSH, "ctrl+n")


def test_snippet_path(snap: Snap, make_app: MakeApp) -> None:
    assert snap(
        make_app(), "s", "2", "ctrl+n", ("#registry", "registry.local:5000/analyzers"), "ctrl+n"
    )
