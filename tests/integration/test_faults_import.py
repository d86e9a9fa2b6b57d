"""Fault matrix, import rows, on the real registries (and both engines for --via-docker): a
registry behind a private CA, a registry that goes away mid-push, Ctrl-C / Cancel during an
import, a bundle on read-only media, and the receipt an import leaves behind.

The straight-to-registry route runs through `cli_no_engine` (DOCKER_HOST at a socket nobody
listens on): it must never need an engine.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.bundle.manifest import BundleManifest
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.errors import Cancelled
from airgap_tui.events import STAGE_BLOB, STAGE_PUSH, CancelToken, Progress
from airgap_tui.importer.run import ImportRequest, ImportResult, import_bundle
from airgap_tui.registry.client import RegistryClient
from tests.harness.engine import EngineHandle
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.harness.tls import CA, ENGINE_TLS_HOSTNAME, make_ca, make_server_cert
from tests.integration.conftest import CliRun
from tests.integration.faults_support import (
    CliProcess,
    EngineRelay,
    MiB,
    engine_images,
    mounted_tmpfs,
    start_cli,
    tags_with_auth,
    tree_state,
    wait_for,
)
from tests.integration.import_support import served_digest, write_bundle

NAMES = ["semgrep", "secrets", "gemnasium"]


@pytest.fixture
def bundle(native_upstream: NativeUpstream, tmp_path: Path) -> Path:
    """Three images sharing a base layer, in 1 MiB parts, for one test to damage."""
    out = tmp_path / "bundle"
    write_bundle(native_upstream, out, names=NAMES)
    return out


def _target(registry: RegistryHandle | str, label: str = "imp") -> tuple[str, str]:
    host = registry if isinstance(registry, str) else registry.host
    path = f"{label}-{uuid.uuid4().hex[:10]}"
    return f"{host}/{path}", path


def _import(bundle_dir: Path, target: str, receipts: Path, **kwargs: Any) -> ImportResult:
    options = {k: kwargs.pop(k) for k in ("progress", "cancel", "engine") if k in kwargs}
    request = ImportRequest(bundle_dir=bundle_dir, registry=target, receipt_dir=receipts, **kwargs)
    return import_bundle(request, **options)


def _statuses(result: ImportResult | dict[str, Any]) -> list[str]:
    if isinstance(result, ImportResult):
        return [image.status for image in result.images]
    return [image["status"] for image in result["images"]]


def _assert_upstream_digests(url: str, path: str, manifest: BundleManifest, **kw: Any) -> None:
    for img in manifest.images:
        assert served_digest(url, f"{path}/{img.name}", img.tag, img.media_type, **kw) == (
            img.digest
        )


# --------------------------------------------------------------------------- TLS, private CA


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    """A CA nobody trusts: neither this host, nor the session engines."""
    return make_ca(tmp_path_factory.mktemp("other-ca"), name="other")


def test_tls_registry_from_a_private_ca_names_the_ca_file_then_works_with_ca_file(
    cli_no_engine: Callable[..., CliRun],
    registry_factory: Callable[..., RegistryHandle],
    bundle: Path,
    other_ca: CA,
    tmp_path: Path,
) -> None:
    tls = make_server_cert(tmp_path / "tls", other_ca)
    registry = registry_factory("tls", tls=tls)
    target, path = _target(registry)
    receipts = tmp_path / "receipts"

    refused = cli_no_engine(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts)
    )
    assert refused.code == 1
    error = [line for line in refused.err.splitlines() if line.strip()]
    assert len(error) == 1, refused.err
    assert f"Registry {registry.host} refused TLS" in error[0]
    assert "Give its CA certificate with --ca-file CA.crt" in error[0]
    assert not receipts.exists()  # refused before anything was pushed
    for name in NAMES:
        assert tags_with_auth(registry.url, f"{path}/{name}", verify=str(other_ca.cert)) == []

    works = cli_no_engine(
        "import",
        str(bundle),
        "--registry",
        target,
        "--ca-file",
        str(other_ca.cert),
        "--receipt-dir",
        str(receipts),
        "--json",
    )
    assert works.code == 0, works.err
    assert _statuses(works.json) == ["pushed"] * 3
    assert all(row["digest_kept"] for row in works.json["images"])
    _assert_upstream_digests(registry.url, path, read_manifest(bundle), verify=other_ca.cert)


@pytest.fixture
def resolve_registry_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve registry.test to ::1 in this process too, as the session engines do."""
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("::1" if host == ENGINE_TLS_HOSTNAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.mark.usefixtures("resolve_registry_test")
def test_engine_push_to_a_registry_it_does_not_trust_names_the_engine_ca_file(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    registry_factory: Callable[..., RegistryHandle],
    bundle: Path,
    other_ca: CA,
    tmp_path: Path,
) -> None:
    """--via-docker: our client is given the CA (--ca-file); the engine is not (it reads only
    /etc/docker/certs.d/<host>/): the push fails at once (TLS is not retried) and says where
    the engine wants the CA. The straight route needs only --ca-file and pushes."""
    untrusted = registry_factory(
        "untrusted", tls=make_server_cert(tmp_path / "untrusted", other_ca), bind="::1"
    )
    host = f"{ENGINE_TLS_HOSTNAME}:{untrusted.port}"
    target, path = _target(host)
    args = ["import", str(bundle), "--registry", target, "--ca-file", str(other_ca.cert)]
    receipts = ["--receipt-dir", str(tmp_path / "receipts"), "--json"]
    run = cli(*args, "--via-docker", *receipts)
    assert run.code == 1
    assert _statuses(run.json) == ["failed"] * 3
    for image in run.json["images"]:
        assert f"Registry {host}: refused TLS while trying to push" in image["error"]
        assert f"/etc/docker/certs.d/{host}/ca.crt" in image["error"]
        assert "failed 4 times" not in image["error"]  # a TLS refusal is not retried
        assert image["error"] in run.err
    for name in NAMES:
        assert tags_with_auth(untrusted.url, f"{path}/{name}", verify=str(other_ca.cert)) == []

    straight = cli(*args, *receipts)
    assert straight.code == 0, straight.err
    assert _statuses(straight.json) == ["pushed"] * 3
    _assert_upstream_digests(untrusted.url, path, read_manifest(bundle), verify=other_ca.cert)


# --------------------------------------------------------------------------- registry goes away


def test_registry_stopping_mid_push_is_retried_with_backoff_until_it_is_back(
    registry_factory: Callable[..., RegistryHandle], bundle: Path, tmp_path: Path
) -> None:
    """The registry stops while the first blob is being uploaded and is started again when
    the first retry is announced. The push thread that reports the event waits while this
    test's own thread stops or starts the registry: the outcome does not depend on timing."""
    registry = registry_factory("flaky")
    target, path = _target(registry)
    events: list[Progress] = []
    asks: queue.Queue[tuple[str, threading.Event]] = queue.Queue()

    def ask(action: str) -> None:
        done = threading.Event()
        asks.put((action, done))
        assert done.wait(120), f"the test thread did not {action} the registry"

    stopped = threading.Event()

    def on_event(event: Progress) -> None:
        events.append(event)
        if event.stage == STAGE_BLOB and event.done > 0 and not stopped.is_set():
            stopped.set()
            ask("stop")
        if event.message.startswith("retry"):
            ask("start")

    outcome: list[ImportResult | BaseException] = []

    def run() -> None:
        try:
            outcome.append(_import(bundle, target, tmp_path, progress=on_event, push_backoff=0.01))
        except BaseException as exc:
            outcome.append(exc)
        finally:
            asks.put(("finished", threading.Event()))

    worker = threading.Thread(target=run)
    worker.start()
    while True:
        action, done = asks.get(timeout=600)
        if action == "finished":
            break
        if action == "stop":
            registry.stop()
        elif not registry.running:
            registry.start()
        done.set()
    worker.join()
    result = outcome[0]
    assert isinstance(result, ImportResult), result
    assert result.ok, [i.error for i in result.images]
    assert _statuses(result) == ["pushed"] * 3
    retries = [e.message for e in events if e.message.startswith("retry")]
    assert retries and all(m.startswith("retry 1 in 0.01s") for m in retries)
    _assert_upstream_digests(registry.url, path, read_manifest(bundle))


def test_registry_that_stays_down_is_retried_a_bounded_number_of_times_then_resumed(
    cli_no_engine: Callable[..., CliRun],
    registry_factory: Callable[..., RegistryHandle],
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import airgap_tui.importer.run as importer_module

    registry = registry_factory("down")
    target, path = _target(registry)
    monkeypatch.setattr(importer_module, "PUSH_BACKOFF", 0.001)
    put_manifest = RegistryClient.put_manifest
    first = f"{path}/{NAMES[0]}"

    def lose_the_registry_after_the_first_image(
        self: RegistryClient, repository: str, *args: Any, **kwargs: Any
    ) -> str:
        digest = put_manifest(self, repository, *args, **kwargs)
        if repository == first:
            registry.stop()
        return digest

    monkeypatch.setattr(RegistryClient, "put_manifest", lose_the_registry_after_the_first_image)
    monkeypatch.setattr(
        "airgap_tui.importer.push.IMAGES_AT_ONCE", 1
    )  # which image met it: no timing
    receipts = tmp_path / "receipts"
    run = cli_no_engine("import", str(bundle), "--registry", target, "--receipt-dir", str(receipts))
    assert run.code == 1
    names = [f"{target}/{n}:{t}" for n, t in zip(NAMES, ["6", "7", "6"], strict=True)]
    lines = run.out.splitlines()
    assert any(line.split()[:2] == ["ok", names[0]] and "pushed" in line for line in lines), run.out
    for failed in names[1:]:
        assert any(line.split()[:3] == ["FAIL", failed, "failed"] for line in lines), run.out
        assert f"airgap-tui: {failed}: " in run.err
    assert f"Can't reach {registry.host}: the connection to {registry.host} was refused" in run.err
    receipt = json.loads(next(receipts.glob("airgap-receipt-*.json")).read_text())
    assert receipt["ok"] is False
    assert [(i["target"], i["status"]) for i in receipt["images"]] == list(
        zip(names, ["pushed", "failed", "failed"], strict=True)
    )

    registry.start()
    monkeypatch.setattr(RegistryClient, "put_manifest", put_manifest)
    again = cli_no_engine(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json"
    )
    assert again.code == 0, again.err
    assert _statuses(again.json) == ["already present", "pushed", "pushed"]
    _assert_upstream_digests(registry.url, path, read_manifest(bundle))


# --------------------------------------------------------------------------- Ctrl-C / Cancel


def test_ctrl_c_during_the_docker_load_stops_cleanly_and_the_import_resumes(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
    bundle: Path,
    relay: EngineRelay,
    cli_processes: list[CliProcess],
    tmp_path: Path,
) -> None:
    target, path = _target(offline_registry)
    receipts = tmp_path / "receipts"
    argv = ["import", str(bundle), "--registry", target, "--receipt-dir", str(receipts)]
    rule = relay.hold(b"/images/load", after=int(0.5 * MiB), direction="request")
    process = start_cli(
        [*argv, "--via-docker", "--json"], tmp_path / "run", docker_host=relay.docker_host
    )
    cli_processes.append(process)
    wait_for(lambda: rule.held.is_set() or process.proc.poll() is not None, "the load held")
    assert process.proc.poll() is None, process.err_text()
    process.proc.send_signal(signal.SIGINT)
    wait_for(lambda: "stopping at the next chunk boundary" in process.err_text(), "the stop note")
    rule.release.set()
    assert process.wait() == 130, process.err_text()
    error = process.err_text()
    assert "cancelled by the operator" in error
    assert "Run the same import again to resume: it pushes only what is missing" in error
    assert json.loads(process.out_text())["kind"] == "Cancelled"
    assert engine_images(clean_engine) == []
    for name in NAMES:
        assert tags_with_auth(offline_registry.url, f"{path}/{name}") == []

    again = cli(*argv, "--via-docker", "--json")
    assert again.code == 0, again.err
    assert _statuses(again.json) == ["pushed"] * 3


def test_cancel_token_mid_push_stops_and_the_import_resumes(
    offline_registry: RegistryHandle, bundle: Path, tmp_path: Path
) -> None:
    """The wizard's Cancel button: the token is set while the first blob is uploading."""
    target, path = _target(offline_registry)
    token = CancelToken()

    def cancel_during_the_first_blob(event: Progress) -> None:
        if event.stage == STAGE_BLOB and event.done > 0 and not event.final:
            token.cancel()

    with pytest.raises(Cancelled) as raised:
        _import(bundle, target, tmp_path, progress=cancel_during_the_first_blob, cancel=token)
    message = str(raised.value)
    assert "cancelled by the operator" in message
    assert "Run the same import again to resume" in message
    for name in NAMES:
        assert tags_with_auth(offline_registry.url, f"{path}/{name}") == []
    assert not list(tmp_path.glob("airgap-receipt-*"))

    events: list[Progress] = []
    result = _import(bundle, target, tmp_path, progress=events.append)
    assert result.ok and _statuses(result) == ["pushed"] * 3
    finals = [e for e in events if e.stage == STAGE_PUSH and e.final]
    assert sorted(e.item for e in finals) == sorted(i.target for i in result.images)
    _assert_upstream_digests(offline_registry.url, path, read_manifest(bundle))


# --------------------------------------------------------------------------- read-only media


def test_bundle_on_read_only_media_verifies_and_imports_without_writing_to_it(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    offline_registry: RegistryHandle,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with mounted_tmpfs(tmp_path / "stick", "32m") as stick:
        dest = stick / "bundle"
        write_bundle(native_upstream, dest, names=NAMES)
        subprocess.run(["mount", "-o", "remount,ro", str(stick)], check=True)
        with pytest.raises(OSError):
            (dest / "probe").write_text("x")
        before = tree_state(stick)

        workdir = tmp_path / "operator"
        workdir.mkdir()
        monkeypatch.chdir(workdir)  # the receipt's default place: the current directory
        target, path = _target(offline_registry, "ro")
        imported = cli_no_engine("import", str(dest), "--registry", target, "--json")
        assert imported.code == 0, imported.err
        assert _statuses(imported.json) == ["pushed"] * 3
        assert Path(imported.json["receipt"]).parent == workdir
        assert tree_state(stick) == before
        _assert_upstream_digests(offline_registry.url, path, read_manifest(dest))


# --------------------------------------------------------------------------- the receipt


def test_receipt_records_fingerprint_digests_blobs_verification_and_times(
    cli_no_engine: Callable[..., CliRun],
    offline_registry: RegistryHandle,
    bundle: Path,
    tmp_path: Path,
) -> None:
    manifest = read_manifest(bundle)
    target, path = _target(offline_registry, "receipt")
    receipts = tmp_path / "receipts"
    before = datetime.now(UTC).replace(microsecond=0)
    run = cli_no_engine(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json",
        "--max-age", "0",  # the harness images are from 2024: no age warning in this record
    )  # fmt: skip
    after = datetime.now(UTC)
    assert run.code == 0, run.err
    files = list(receipts.iterdir())
    assert [f.name for f in files] == [Path(run.json["receipt"]).name]
    assert files[0].name.startswith(f"airgap-receipt-{manifest.fingerprint[:12]}-")
    receipt = json.loads(files[0].read_text())

    assert receipt["kind"] == "airgap-tui import receipt"
    assert receipt["bundle_fingerprint"] == manifest.fingerprint == run.json["fingerprint"]
    assert receipt["bundle"] == str(bundle.resolve())
    assert receipt["registry"] == target
    assert receipt["route"] == "registry" and receipt["engine"] is None
    assert receipt["verification"] == {"result": "passed", "problems": [], "warnings": []}
    assert receipt["ok"] is True
    started = datetime.fromisoformat(receipt["started"])
    finished = datetime.fromisoformat(receipt["finished"])
    assert started.utcoffset() == finished.utcoffset() == timedelta(0)
    assert before <= started <= finished <= after

    rows = receipt["images"]
    assert [r["name"] for r in rows] == NAMES
    assert rows == run.json["images"]  # --json prints what the receipt records
    for row, image in zip(rows, manifest.images, strict=True):
        assert row["ok"] is True and row["status"] == "pushed"
        assert row["target"] == f"{target}/{image.name}:{image.tag}"
        assert row["source_digest"] == row["pushed_digest"] == image.digest
        assert row["digest_kept"] is True
        assert row["blobs"] == [{"digest": d, "size": manifest.blob(d).size} for d in image.blobs]
        served = served_digest(
            offline_registry.url, f"{path}/{image.name}", image.tag, image.media_type
        )
        assert row["pushed_digest"] == served
