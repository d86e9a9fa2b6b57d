"""One snapshot per screen at 120x40 with fixed data (see fakes.py); plain `def` tests, since
snap_compare runs its own event loop. Update after a reviewed change: pytest --snapshot-update."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from airgap_tui.tui.app import AirgapApp
from tests.tui.conftest import SIZE
from tests.tui.fakes import BUNDLE, USB, FixedDomain
from tests.tui.helpers import settle

Steps = Callable[[Pilot[Any]], Awaitable[None]]


def steps(*actions: str | tuple[str, str], skip: tuple[str, ...] = ()) -> Steps:
    """Keys to press, or (selector, value) pairs to type into an Input, settling in between."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for action in actions:
            if isinstance(action, tuple):
                selector, value = action
                pilot.app.screen.query_one(selector, Input).value = value
            else:
                await pilot.press(action)
            await settle(pilot, skip=skip)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    return run


TO_ESTIMATE = ("e", "1", "ctrl+n")
TO_DESTINATION = (*TO_ESTIMATE, "ctrl+n")
TO_IMPORT = ("i", ("#path", BUNDLE))
TO_REGISTRY = (*TO_IMPORT, "ctrl+n", "ctrl+n")


def snap(
    snap_compare: Any,
    app: AirgapApp,
    *actions: str | tuple[str, str],
    skip: tuple[str, ...] = (),
) -> bool:
    return bool(snap_compare(app, terminal_size=SIZE, run_before=steps(*actions, skip=skip)))


def held_write(snap_compare: Any, app: AirgapApp, *extra: str) -> bool:
    """The Write screen while the (fixed) export holds on its last image until cancelled."""
    path = ("#path", f"{USB}/airgap-bundle")
    return snap(
        snap_compare, app, "e", "2", "ctrl+n", "ctrl+n", path, "ctrl+n", *extra, skip=("export",)
    )


def test_start(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app())


def test_start_engine_unreachable(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    from airgap_tui.errors import EngineError

    def broken() -> Any:
        raise EngineError(
            "Docker engine at unix:///var/run/docker.sock",
            "it is not reachable (connection refused)",
            "Start Docker (systemctl start docker) or point DOCKER_HOST at a running engine",
        )

    assert snap(snap_compare, make_app(domain=FixedDomain(engine=broken)))


def test_analyzers_with_preset(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app(), "e", "1")


def test_analyzers_upstream_tags(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app(), "e", "1", "t")


def test_estimate(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app(), *TO_ESTIMATE)


def test_estimate_missing_image(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    app = make_app(domain=FixedDomain(missing=frozenset({"secrets:7"})))
    assert snap(snap_compare, app, *TO_ESTIMATE)


def test_destination_fits(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app(), *TO_DESTINATION, ("#path", f"{USB}/airgap-bundle"))


def test_destination_too_small_with_partial_bundle(
    snap_compare: Any, make_app: Callable[..., AirgapApp]
) -> None:
    app = make_app(domain=FixedDomain(free=2_000_000_000, journal=True))
    assert snap(snap_compare, app, *TO_DESTINATION, ("#path", f"{USB}/airgap-bundle"))


def test_write_in_progress(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert held_write(snap_compare, make_app(domain=FixedDomain(hold=True)))


def test_write_cancel_dialog(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert held_write(snap_compare, make_app(domain=FixedDomain(hold=True)), "escape")


def test_done(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    path = ("#path", f"{USB}/airgap-bundle")
    assert snap(snap_compare, make_app(), *TO_DESTINATION, path, "ctrl+n")


def test_import_choose_bundle(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app(), *TO_IMPORT)


def test_import_drive_without_bundle_here(
    snap_compare: Any, make_app: Callable[..., AirgapApp]
) -> None:
    assert snap(snap_compare, make_app(), "i", ("#path", USB))


def test_verify_ok(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app(), *TO_IMPORT, "ctrl+n")


def test_verify_mismatch(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    app = make_app(domain=FixedDomain(bad_parts=frozenset({"images.tar.002"})))
    assert snap(snap_compare, app, *TO_IMPORT, "ctrl+n")


def test_registry_invalid_as_typed(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    assert snap(snap_compare, make_app(), *TO_REGISTRY, ("#registry", "bad host:99999"))


def test_registry_checked(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    app = make_app()
    reg = ("#registry", "registry.example.com:5000/security-products")
    assert snap(snap_compare, app, *TO_REGISTRY, reg, "ctrl+t")


def test_registry_credentials_dialog(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    app = make_app(domain=FixedDomain(registry="auth"))
    reg = ("#registry", "registry.example.com:5000/security-products")
    assert snap(snap_compare, app, *TO_REGISTRY, reg, "ctrl+t", "o", "p", "s")


def test_registry_tls_fix(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    app = make_app(domain=FixedDomain(registry="tls"))
    reg = ("#registry", "registry.example.com:5000/security-products")
    assert snap(snap_compare, app, *TO_REGISTRY, reg, "ctrl+t")


def test_push_results(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    reg = ("#registry", "registry.example.com:5000/security-products")
    assert snap(snap_compare, make_app(), *TO_REGISTRY, reg, "ctrl+n")


def test_snippet_after_import(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    reg = ("#registry", "registry.example.com:5000/security-products")
    assert snap(snap_compare, make_app(), *TO_REGISTRY, reg, "ctrl+n", "ctrl+n")


def test_snippet_path(snap_compare: Any, make_app: Callable[..., AirgapApp]) -> None:
    reg = ("#registry", "registry.local:5000/analyzers")
    assert snap(snap_compare, make_app(), "s", "2", "ctrl+n", reg, "ctrl+n")
