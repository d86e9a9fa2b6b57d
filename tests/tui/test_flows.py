"""The wizard end to end on the real engines (20.10 and 26.1) and real loopback registries.

Pilot drives the screens with keys as an operator would; the assertions are about what ends
up on disk and in the registry, compared with what the domain itself says (read_manifest,
verify_bundle, estimate) — the widgets are only checked where they show those same numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from textual.widgets import Button, DataTable, Static

from airgap_tui.bundle.manifest import format_fingerprint
from airgap_tui.bundle.media import Drive
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.bundle.verify import verify_bundle
from airgap_tui.catalog.load import load_catalog
from airgap_tui.cli.commands import main as cli_main
from airgap_tui.export.estimate import Estimate, estimate
from airgap_tui.importer.engine import Engine
from airgap_tui.tui import formatting
from airgap_tui.tui.app import AirgapApp
from airgap_tui.tui.screens.analyzers import AnalyzersScreen
from airgap_tui.tui.screens.dialogs import CredentialsDialog
from airgap_tui.tui.screens.done import DoneScreen
from airgap_tui.tui.screens.estimate import EstimateScreen
from airgap_tui.tui.screens.import_bundle import ImportBundleScreen
from airgap_tui.tui.screens.push import PushScreen
from airgap_tui.tui.screens.registry import RegistryScreen
from airgap_tui.tui.screens.snippet import SnippetScreen
from airgap_tui.tui.screens.start import StartScreen
from airgap_tui.tui.screens.verify import VerifyScreen
from airgap_tui.tui.screens.write import WriteScreen
from airgap_tui.tui.services import Domain, Services
from airgap_tui.tui.widgets.fingerprint import Fingerprint
from tests.harness.engine import EngineHandle
from tests.harness.images import SeededUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import (  # noqa: F401  (clean_engine is a fixture)
    clean_engine,
    registry_manifest,
    registry_tags,
)
from tests.integration.import_support import served_digest
from tests.tui.conftest import SIZE
from tests.tui.helpers import settle, settle_until, to_checked_destination, type_text

IMPORTED = (("semgrep", "6"), ("secrets", "7"), ("gemnasium", "6"))  # what the CLI bundle holds
_BUNDLES: dict[tuple[str, str], Path] = {}  # (engine, upstream) -> pristine CLI bundle


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def connect(engine: EngineHandle) -> Iterator[Callable[[], Engine]]:
    """Connects the wizard to the session engine; every engine it opened is closed."""
    opened: list[Engine] = []

    def factory() -> Engine:
        connected = Engine.connect(engine.docker_host)
        opened.append(connected)
        return connected

    yield factory
    for connected in opened:
        connected.close()


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    """The operator's home, where receipts go, and a stand-in for the USB stick."""
    found = {name: tmp_path / name for name in ("home", "receipts", "usb")}
    for path in found.values():
        path.mkdir()
    return found


@pytest.fixture
def make_app(
    connect: Callable[[], Engine], dirs: dict[str, Path], seeded_upstream: SeededUpstream
) -> Callable[[], AirgapApp]:
    class SessionDomain(Domain):
        """The real domain on the session engine, with no removable drives plugged in."""

        def connect_engine(self) -> Engine:
            return connect()

        def removable_drives(self) -> list[Drive]:
            return []

    def make() -> AirgapApp:
        services = Services(domain=SessionDomain(), home=dirs["home"], receipt_dir=dirs["receipts"])
        return AirgapApp(services, source_prefix=seeded_upstream.prefix, gitlab_major=18)

    return make


@pytest.fixture(scope="module")
def cli_bundle(
    engine: EngineHandle, seeded_upstream: SeededUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A bundle made by the CLI (`airgap-tui export … --part-size 1MiB`), once per engine.
    Tests import copies of it (`bundle`); the wizard must read what the CLI writes."""
    key = (engine.docker_host, seeded_upstream.prefix)
    if key not in _BUNDLES:
        dest = tmp_path_factory.mktemp(f"cli-bundle-{engine.kind}") / "gitlab-scanners"
        argv = ["export", "semgrep", "secrets:7", "gemnasium", "--to", str(dest)]
        argv += ["--part-size", "1MiB", "--source-prefix", seeded_upstream.prefix, "--json"]
        out = io.StringIO()
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
            mp.setenv("DOCKER_HOST", engine.docker_host)
            code = cli_main(argv)
        assert code == 0, out.getvalue()
        assert json.loads(out.getvalue())["ok"]
        assert len(read_manifest(dest).parts) >= 3  # a middle part to damage
        _BUNDLES[key] = dest
    return _BUNDLES[key]


@pytest.fixture
def bundle(cli_bundle: Path, dirs: dict[str, Path], clean_engine: EngineHandle) -> Path:  # noqa: F811
    """A copy of the CLI bundle on the "stick", with the engine wiped: the offline host has
    never seen these images."""
    dest = dirs["usb"] / "gitlab-scanners"
    shutil.copytree(cli_bundle, dest)
    assert engine_images(clean_engine) == []
    return dest


# --------------------------------------------------------------------------- helpers


def engine_images(engine: EngineHandle) -> list[str]:
    client = engine.client()
    try:
        return [image.id for image in client.images.list(all=True)]
    finally:
        client.close()


def registry_catalog(registry: RegistryHandle) -> list[str]:
    response = requests.get(f"{registry.url}/v2/_catalog", timeout=30)
    response.raise_for_status()
    return list(response.json().get("repositories") or [])


def unique_prefix(registry: RegistryHandle) -> str:
    return f"{registry.host}/flows-{uuid.uuid4().hex[:10]}"


def shown(widget: Static) -> str:
    return str(widget.content)


def next_enabled(app: AirgapApp) -> bool:
    return not app.screen.query_one("#next", Button).disabled


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield path


async def open_bundle(pilot: Any, app: AirgapApp, bundle_dir: Path) -> VerifyScreen:
    """Start → Import a bundle → type its path → Verify (running)."""
    await settle(pilot)
    assert isinstance(app.screen, StartScreen)
    await pilot.press("i")
    await settle(pilot)
    choose = app.screen
    assert isinstance(choose, ImportBundleScreen)
    await type_text(pilot, "#path", str(bundle_dir))
    await settle_until(pilot, lambda: choose.manifest is not None, what="the bundle is read")
    assert choose.manifest is not None
    assert (
        choose.query_one("#fingerprint", Fingerprint).full == read_manifest(bundle_dir).fingerprint
    )
    await pilot.press("ctrl+n")
    await settle(pilot)
    verify = app.screen
    assert isinstance(verify, VerifyScreen)
    return verify


async def import_to(pilot: Any, app: AirgapApp, bundle_dir: Path, prefix: str) -> PushScreen:
    """… Verify → Target registry (typed, connection checked) → Load/tag/push (finished)."""
    verify = await open_bundle(pilot, app, bundle_dir)
    await settle_until(pilot, lambda: verify.report is not None, what="verification ends")
    assert verify.report is not None and verify.report.ok, verify.error_text
    await pilot.press("ctrl+n")
    await settle(pilot)
    registry = app.screen
    assert isinstance(registry, RegistryScreen)
    await type_text(pilot, "#registry", prefix)
    await pilot.press("ctrl+t")
    await settle_until(pilot, lambda: registry.checked_for is not None, what="registry answers")
    assert "answers" in shown(registry.query_one("#registry-status", Static))
    await pilot.press("ctrl+n")
    await settle(pilot)
    push = app.screen
    assert isinstance(push, PushScreen)
    await settle_until(pilot, lambda: push.result is not None, what="the import ends")
    return push


def assert_pushed(push: PushScreen, bundle_dir: Path, prefix: str) -> None:
    """Every image of bundle.yaml is in the registry under its upstream digest (pushed straight,
    the default route), and the wizard's result table says so row by row."""
    host, _, path = prefix.partition("/")
    manifest = read_manifest(bundle_dir)
    assert {(i.name, i.tag) for i in manifest.images} == set(IMPORTED)
    assert push.result is not None and push.result.ok, push.result
    table = push.query_one("#results", DataTable)
    for image in manifest.images:
        served = served_digest(
            f"http://{host}", f"{path}/{image.name}", image.tag, image.media_type
        )
        assert served == image.digest, f"{image.name}:{image.tag} lost its upstream digest"
        target = f"{prefix}/{image.name}:{image.tag}"
        assert str(table.get_cell(target, "status")) == "pushed"
        assert str(table.get_cell(target, "digest")) == "digest kept ✓"  # what pipelines pin
    assert len(table.rows) == len(manifest.images)
    assert f"All {len(manifest.images)} images" in shown(push.query_one("#push-summary", Static))


# --------------------------------------------------------------------------- export


async def test_export_flow_writes_a_verified_bundle(
    make_app: Callable[[], AirgapApp],
    clean_engine: EngineHandle,  # noqa: F811
    seeded_upstream: SeededUpstream,
    dirs: dict[str, Path],
) -> None:
    catalog = load_catalog()
    specs = [catalog.resolve(a, 18, seeded_upstream.prefix) for a in ("semgrep", "secrets")]
    expected: Estimate = estimate(specs)
    dest = dirs["usb"] / "airgap-bundle"

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)
        await pilot.press("e")
        await settle(pilot)
        choose = app.screen
        assert isinstance(choose, AnalyzersScreen)
        assert choose.current == "semgrep"
        await pilot.press("3", "space")  # preset 3 (secret detection), then tick semgrep
        await settle(pilot)
        assert choose.chosen_names() == ["semgrep", "secrets"]
        await pilot.press("ctrl+n")
        await settle(pilot)

        screen = app.screen
        assert isinstance(screen, EstimateScreen)
        await settle_until(pilot, lambda: screen.result is not None, what="the estimate")
        shown_estimate = screen.result
        assert shown_estimate is not None and shown_estimate.ok
        assert shown_estimate.download_bytes == expected.download_bytes
        assert shown_estimate.bundle_bytes == expected.bundle_bytes
        totals = shown(screen.query_one("#totals", Static))
        assert "2 images" in totals
        assert f"Download {formatting.size(expected.download_bytes)}" in totals
        assert f"Bundle on the media {formatting.size(expected.bundle_bytes)}" in totals
        table = screen.query_one("#estimate-table", DataTable)
        for image in expected.images:
            label = image.spec.label
            assert table.get_cell(label, "download") == formatting.size(image.download_bytes)
            assert table.get_cell(label, "media") == formatting.size(image.media_bytes)
            assert table.get_cell(label, "layers") == str(len(image.layers))
            assert str(table.get_cell(label, "status")) == "ok"
        assert next_enabled(app)
        destination = await to_checked_destination(pilot, dest)
        assert destination.checked is not None and destination.checked.info.fits
        assert "It fits" in shown(destination.query_one("#dest-info", Static))
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, (WriteScreen, DoneScreen))

        await settle_until(
            pilot, lambda: isinstance(app.screen, DoneScreen), what="the bundle is written"
        )
        done = app.screen
        fingerprint = done.query_one("#fingerprint", Fingerprint)
        summary = shown(done.query_one("#done-summary", Static))

    assert (dest / "bundle.yaml").is_file()
    report = verify_bundle(dest)
    assert report.ok, report.problems
    manifest = read_manifest(dest)
    assert sorted((i.name, i.tag) for i in manifest.images) == [("secrets", "7"), ("semgrep", "6")]
    assert fingerprint.full == manifest.fingerprint == report.fingerprint
    assert fingerprint.grouped == format_fingerprint(manifest.fingerprint)
    assert str(dest) in summary
    assert not list(dest.glob("*.part")) and not (dest / ".airgap-export.json").exists()


async def test_the_cli_and_the_wizard_estimate_the_same_selection(
    make_app: Callable[[], AirgapApp],
    engine: EngineHandle,
    seeded_upstream: SeededUpstream,
) -> None:
    """One set of rules for both fronts: the same selection resolves to the same images and
    the same sizes, whether typed on the command line or ticked in the wizard. (The same
    bundle from both: tests/tui/test_export_without_engine.py.)"""
    out = io.StringIO()
    argv = ["estimate", "semgrep", "secrets", "--source-prefix", seeded_upstream.prefix, "--json"]
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("DOCKER_HOST", engine.docker_host)
        assert cli_main(argv) == 0, out.getvalue()
    from_cli = json.loads(out.getvalue())

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("3", "space")  # preset 3 (secret detection), then tick semgrep
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EstimateScreen)
        await settle_until(pilot, lambda: screen.result is not None, what="the estimate")
        from_wizard = screen.result
    assert from_wizard is not None and from_wizard.ok

    def rows(images: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        keys = ("name", "tag", "source", "download_bytes", "media_bytes", "status")
        return [tuple(image[k] for k in keys) for image in images]

    assert rows(from_cli["images"]) == rows([i.to_dict() for i in from_wizard.images])
    assert [i["digest"] for i in from_cli["images"]] == [
        i.manifest_digest for i in from_wizard.images
    ]
    assert [i["layers"] for i in from_cli["images"]] == [len(i.layers) for i in from_wizard.images]
    assert from_cli["download_bytes"] == from_wizard.download_bytes
    assert from_cli["bundle_bytes"] == from_wizard.bundle_bytes


# --------------------------------------------------------------------------- import


async def test_import_flow_pushes_every_image_and_writes_a_receipt(
    make_app: Callable[[], AirgapApp],
    bundle: Path,
    offline_registry: RegistryHandle,
    dirs: dict[str, Path],
) -> None:
    prefix = unique_prefix(offline_registry)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        push = await import_to(pilot, app, bundle, prefix)
        assert_pushed(push, bundle, prefix)
        assert push.result is not None and push.result.verified

    receipts = list(dirs["receipts"].glob("airgap-receipt-*.json"))
    assert len(receipts) == 1
    receipt = json.loads(receipts[0].read_text())
    assert receipt["ok"] is True
    assert receipt["verification"]["result"].startswith("passed")
    assert receipt["trust"] is None  # unsigned, and no fingerprint was typed on Verify
    assert receipt["bundle_fingerprint"] == read_manifest(bundle).fingerprint
    assert receipt["registry"] == prefix
    assert {(i["name"], i["tag"]) for i in receipt["images"]} == set(IMPORTED)


async def test_import_into_a_registry_that_wants_a_login(
    make_app: Callable[[], AirgapApp],
    bundle: Path,
    registry_factory: Callable[..., RegistryHandle],
    dirs: dict[str, Path],
    tmp_path: Path,
) -> None:
    user, password = "ops", f"pw-{uuid.uuid4().hex}"
    registry = registry_factory("auth-registry", htpasswd=(user, password))
    prefix = unique_prefix(registry)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        verify = await open_bundle(pilot, app, bundle)
        await settle_until(pilot, lambda: verify.report is not None, what="verification ends")
        await pilot.press("ctrl+n")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegistryScreen)
        await type_text(pilot, "#registry", prefix)
        await pilot.press("ctrl+n")  # Next checks the connection first: 401
        await settle_until(
            pilot, lambda: isinstance(app.screen, CredentialsDialog), what="the login dialog"
        )
        await pilot.press(*user, "enter", *password)
        assert password not in app.export_screenshot()  # masked while typed
        await pilot.press("enter")
        # signed in and checked, the Next that asked for the check goes on to the push
        await settle_until(
            pilot, lambda: isinstance(app.screen, PushScreen), what="login accepted, push starts"
        )
        assert "Signed in as ops" in shown(screen.query_one("#login-status", Static))
        push = app.screen
        assert isinstance(push, PushScreen)
        await settle_until(pilot, lambda: push.result is not None, what="the import ends")
        assert push.result is not None and push.result.ok, push.result
        assert app.state.credentials is not None and app.state.credentials.username == user

    manifest = read_manifest(bundle)
    path = prefix.partition("/")[2]
    for image in manifest.images:
        response = requests.get(
            f"{registry.url}/v2/{path}/{image.name}/manifests/{image.tag}",
            auth=(user, password),
            headers={"Accept": image.media_type},
            timeout=30,
        )
        response.raise_for_status()
        assert response.headers["Docker-Content-Digest"] == image.digest
    assert list(dirs["receipts"].glob("airgap-receipt-*.json"))
    docker_config = Path(os.environ["DOCKER_CONFIG"])  # the session's, shared by the engines
    secret = password.encode()
    for file in files_under(tmp_path, docker_config):
        if registry.workdir in file.parents:
            continue  # the registry's own htpasswd, storage and log
        assert secret not in file.read_bytes(), f"the password was written to {file}"


async def test_a_damaged_part_stops_the_import_at_verify(
    make_app: Callable[[], AirgapApp],
    bundle: Path,
    offline_registry: RegistryHandle,
    clean_engine: EngineHandle,  # noqa: F811
    dirs: dict[str, Path],
) -> None:
    parts = sorted(read_manifest(bundle).parts, key=lambda p: p.file)
    victim = bundle / parts[1].file
    with open(victim, "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    repositories_before = registry_catalog(offline_registry)

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        verify = await open_bundle(pilot, app, bundle)
        await settle_until(pilot, lambda: verify.report is not None, what="verification ends")
        assert verify.report is not None and not verify.report.ok
        assert [p.file for p in verify.report.problems] == [victim.name]
        assert victim.name in verify.error_text and "Nothing was loaded" in verify.error_text
        assert victim.name in shown(verify.query_one("#verify-result", Static))
        assert not next_enabled(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen is verify  # Next is refused

    assert engine_images(clean_engine) == []
    assert registry_catalog(offline_registry) == repositories_before
    assert list(dirs["receipts"].iterdir()) == []  # no receipt: no import happened


async def test_import_ends_with_a_snippet_saved_to_a_file(
    make_app: Callable[[], AirgapApp],
    bundle: Path,
    offline_registry: RegistryHandle,
    dirs: dict[str, Path],
) -> None:
    prefix = unique_prefix(offline_registry)
    target = dirs["home"] / "ci" / "analyzers.gitlab-ci.yml"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        push = await import_to(pilot, app, bundle, prefix)
        assert_pushed(push, bundle, prefix)
        await pilot.press("ctrl+n")
        await settle(pilot)
        snippet = app.screen
        assert isinstance(snippet, SnippetScreen)
        await type_text(pilot, "#save-path", "~/ci/analyzers.gitlab-ci.yml")
        await pilot.press("enter")
        await settle_until(pilot, target.is_file, what="the snippet is saved")
        assert "Saved to ~/ci/analyzers.gitlab-ci.yml" in shown(
            snippet.query_one("#save-status", Static)
        )
        on_screen = snippet.text

    saved = target.read_text()
    assert saved == on_screen
    data = yaml.safe_load(saved)
    assert data["variables"]["SECURE_ANALYZERS_PREFIX"] == prefix
    for name, tag in IMPORTED:
        assert f"{name}:{tag}" in saved
    assert registry_tags(offline_registry.host, f"{prefix.partition('/')[2]}/semgrep") == ["6"]
