"""Fault matrix, import and registry rows, on both real engines: a registry behind a private
CA, a registry that goes away mid-push, Ctrl-C / Cancel during an import, a bundle on read-only
media, and the receipt an import leaves behind.
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
import requests

import airgap_tui.importer as importer_module
from airgap_tui.bundle import read_manifest
from airgap_tui.engine import Engine
from airgap_tui.errors import Cancelled
from airgap_tui.events import STAGE_PUSH, STAGE_TAG, CancelToken, Progress
from airgap_tui.importer import ImportRequest, ImportResult, import_bundle
from tests.harness.engine import EngineHandle
from tests.harness.images import SeededUpstream
from tests.harness.registry import RegistryHandle
from tests.harness.tls import CA, ENGINE_TLS_HOSTNAME, make_ca, make_server_cert
from tests.integration.conftest import CliRun, registry_tags
from tests.integration.faults_support import (
    IMAGE_NAMES,
    TAGS,
    CliProcess,
    EngineRelay,
    MiB,
    engine_images,
    export_argv,
    mounted_tmpfs,
    start_cli,
    tags_with_auth,
    tree_state,
    wait_for,
    wipe_engine,
)

_ACCEPT = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


def _target(registry: RegistryHandle | str, label: str = "imp") -> tuple[str, str]:
    host = registry if isinstance(registry, str) else registry.host
    path = f"{label}-{uuid.uuid4().hex[:10]}"
    return f"{host}/{path}", path


def _served_digest(url: str, repository: str, tag: str, verify: str | bool = True) -> str:
    response = requests.head(
        f"{url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": _ACCEPT},
        verify=verify,
        timeout=30,
    )
    response.raise_for_status()
    return str(response.headers["Docker-Content-Digest"])


def _import(
    engine: EngineHandle, bundle_dir: Path, target: str, receipts: Path, **kwargs: Any
) -> ImportResult:
    """import_bundle() through the domain API, for the progress callback and cancel token."""
    options = {k: kwargs.pop(k) for k in ("progress", "cancel") if k in kwargs}
    client = Engine.connect(engine.docker_host)
    try:
        request = ImportRequest(
            bundle_dir=bundle_dir, registry=target, receipt_dir=receipts, **kwargs
        )
        return import_bundle(request, client, **options)
    finally:
        client.close()


def _statuses(result: ImportResult | dict[str, Any]) -> list[str]:
    if isinstance(result, ImportResult):
        return [image.status for image in result.images]
    return [image["status"] for image in result["images"]]


# --------------------------------------------------------------------------- TLS, private CA


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    """A CA nobody trusts: neither this host, nor the session engines."""
    return make_ca(tmp_path_factory.mktemp("other-ca"), name="other")


def test_tls_registry_from_a_private_ca_names_the_ca_file_then_works_with_ca_file(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    registry_factory: Callable[..., RegistryHandle],
    bundle: Path,
    other_ca: CA,
    tmp_path: Path,
) -> None:
    tls = make_server_cert(tmp_path / "tls", other_ca)
    registry = registry_factory("tls", tls=tls)
    target, path = _target(registry)
    receipts = tmp_path / "receipts"

    refused = cli("import", str(bundle), "--registry", target, "--receipt-dir", str(receipts))
    assert refused.code == 1
    error = [line for line in refused.err.splitlines() if line.strip()]
    assert len(error) == 1, refused.err
    assert f"Registry {registry.host} refused TLS" in error[0]
    assert "Give its CA certificate with --ca-file CA.crt" in error[0]
    assert f"/etc/docker/certs.d/{registry.host}/ca.crt" in error[0]
    assert engine_images(clean_engine) == []  # refused before anything was loaded
    assert not receipts.exists()

    works = cli(
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
    for name in IMAGE_NAMES:
        assert tags_with_auth(registry.url, f"{path}/{name}", verify=str(other_ca.cert))


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
    test_ca: CA,
    tmp_path: Path,
) -> None:
    """Our client is given the CA (--ca-file); the engine is not (it reads only
    /etc/docker/certs.d/<host>/, and its CAs are fixed when it starts): the push fails at once
    (TLS is not retried) and says where the engine wants the CA. An engine that trusts the CA
    (the session engines trust test_ca) pushes to the same kind of registry."""
    untrusted = registry_factory(
        "untrusted", tls=make_server_cert(tmp_path / "untrusted", other_ca), bind="::1"
    )
    host = f"{ENGINE_TLS_HOSTNAME}:{untrusted.port}"
    target, path = _target(host)
    run = cli(
        "import",
        str(bundle),
        "--registry",
        target,
        "--ca-file",
        str(other_ca.cert),
        "--receipt-dir",
        str(tmp_path / "receipts"),
        "--json",
    )
    assert run.code == 1
    images = run.json["images"]
    assert _statuses(run.json) == ["failed"] * 3
    for image in images:
        assert f"Registry {host}: refused TLS while trying to push" in image["error"]
        assert f"/etc/docker/certs.d/{host}/ca.crt" in image["error"]
        assert "failed 4 times" not in image["error"]  # a TLS refusal is not retried
        assert image["error"] in run.err
    for name in IMAGE_NAMES:
        assert tags_with_auth(untrusted.url, f"{path}/{name}", verify=str(other_ca.cert)) == []

    # what the wizard's push screen shows: one final, failed event per image, no retries
    events: list[Progress] = []
    _import(clean_engine, bundle, target, tmp_path, progress=events.append, ca_file=other_ca.cert)
    pushes = [e for e in events if e.stage == STAGE_PUSH]
    finals = [(e.item, e.ok) for e in pushes if e.final]
    assert sorted(finals) == sorted((i["target"], False) for i in images)  # side by side
    assert all("certs.d" in e.message for e in pushes if e.final)
    assert not [e for e in pushes if e.message.startswith("retry")]

    trusted = registry_factory(
        "trusted", tls=make_server_cert(tmp_path / "trusted", test_ca), bind="::1"
    )
    host = f"{ENGINE_TLS_HOSTNAME}:{trusted.port}"
    target, path = _target(host)
    works = cli(
        "import",
        str(bundle),
        "--registry",
        target,
        "--ca-file",
        str(test_ca.cert),
        "--receipt-dir",
        str(tmp_path / "receipts"),
        "--json",
    )
    assert works.code == 0, works.err
    assert _statuses(works.json) == ["pushed"] * 3
    for name in IMAGE_NAMES:
        served = tags_with_auth(trusted.url, f"{path}/{name}", verify=str(test_ca.cert))
        assert served == [TAGS[name]], name


# --------------------------------------------------------------------------- registry goes away


def test_registry_stopping_mid_push_is_retried_with_backoff_until_it_is_back(
    clean_engine: EngineHandle,
    registry_factory: Callable[..., RegistryHandle],
    bundle: Path,
    tmp_path: Path,
) -> None:
    """The registry stops as the second image is about to be pushed (stopping it while the
    engine uploads a layer would only exercise the engine's own 5 s layer retries) and is
    back by the time the first retry is announced. The push thread that reports the event
    waits while this test's own thread stops or starts the registry: the outcome does not
    depend on timing, and the harness ties a daemon's life to the thread that started it
    (the import's push threads end with the import)."""
    registry = registry_factory("flaky")
    target, path = _target(registry)
    second = f"{target}/secrets:7"
    events: list[Progress] = []
    asks: queue.Queue[tuple[str, threading.Event]] = queue.Queue()

    def ask(action: str) -> None:
        done = threading.Event()
        asks.put((action, done))
        assert done.wait(120), f"the test thread did not {action} the registry"

    def on_event(event: Progress) -> None:
        events.append(event)
        if event.stage == STAGE_TAG and event.item == second:
            ask("stop")
        if event.message.startswith("retry"):
            ask("start")

    outcome: list[ImportResult | BaseException] = []

    def run() -> None:
        try:
            outcome.append(
                _import(
                    clean_engine, bundle, target, tmp_path, progress=on_event, push_backoff=0.01
                )
            )
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
    retries = [
        (e.item, e.message) for e in events if e.stage == STAGE_PUSH and "retry" in e.message
    ]
    # the second image for sure; another image pushed alongside it may have met the gap too
    assert second in {item for item, _ in retries}
    assert sorted(set(retries)) == sorted(retries)  # each at most once: back on the 2nd try
    assert {message for _, message in retries} == {"retry 1 in 0.01s"}
    for name in IMAGE_NAMES:
        assert registry_tags(registry.host, f"{path}/{name}"), name


def test_registry_that_stays_down_is_retried_a_bounded_number_of_times_then_resumed(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    registry_factory: Callable[..., RegistryHandle],
    bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    registry = registry_factory("down")
    target, path = _target(registry)
    names = [f"{target}/{n}:{TAGS[n]}" for n in IMAGE_NAMES]
    real_tag = Engine.tag

    def tag_then_lose_the_registry(self: Engine, image: str, ref: str) -> None:
        real_tag(self, image, ref)
        if ref == names[1]:
            registry.stop()

    monkeypatch.setattr(Engine, "tag", tag_then_lose_the_registry)
    monkeypatch.setattr(importer_module, "PUSH_BACKOFF", 0.001)
    # one push at a time, so which images met the dead registry does not depend on timing
    monkeypatch.setattr(importer_module, "PUSHES_AT_ONCE", 1)
    receipts = tmp_path / "receipts"
    run = cli("import", str(bundle), "--registry", target, "--receipt-dir", str(receipts))
    assert run.code == 1
    lines = run.out.splitlines()
    assert any(line.split()[:2] == ["ok", names[0]] and "pushed" in line for line in lines), run.out
    for failed in names[1:]:
        assert any(line.split()[:3] == ["FAIL", failed, "failed"] for line in lines), run.out
        assert f"airgap-tui: {failed}: Push of {failed}: failed 4 times" in run.err
    assert "Check the registry, then run the import again: it pushes only what is missing" in (
        run.err
    )
    receipt = json.loads(next(receipts.glob("airgap-receipt-*.json")).read_text())
    assert receipt["ok"] is False
    assert [(i["target"], i["status"]) for i in receipt["images"]] == list(
        zip(names, ["pushed", "failed", "failed"], strict=True)
    )

    registry.start()
    monkeypatch.setattr(Engine, "tag", real_tag)
    again = cli(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json"
    )
    assert again.code == 0, again.err
    assert _statuses(again.json) == ["already present", "pushed", "pushed"]
    for name in IMAGE_NAMES:
        assert registry_tags(registry.host, f"{path}/{name}"), name


# --------------------------------------------------------------------------- Ctrl-C / Cancel


def test_ctrl_c_during_the_load_stops_cleanly_and_the_import_resumes(
    engine: EngineHandle,
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
    rule = relay.hold(b"/images/load", after=int(1.5 * MiB), direction="request")
    process = start_cli(
        ["import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json"],
        tmp_path / "run",
        docker_host=relay.docker_host,
    )
    cli_processes.append(process)
    wait_for(lambda: rule.held.is_set() or process.proc.poll() is not None, "the load held")
    assert process.proc.poll() is None, process.err_text()
    process.proc.send_signal(signal.SIGINT)
    wait_for(lambda: "stopping at the next chunk boundary" in process.err_text(), "the stop note")
    rule.release.set()
    assert process.wait() == 130, process.err_text()
    error = process.err_text()
    # where the token was seen first: reading the parts, or handing them to the engine
    assert f"Reading {bundle}: " in error or "Loading the bundle into Docker: " in error
    assert "cancelled by the operator; none of the 3 images was pushed yet" in error
    assert "Run the same import again to resume: it pushes only what is missing" in error
    assert json.loads(process.out_text())["kind"] == "Cancelled"
    assert engine_images(clean_engine) == []
    for name in IMAGE_NAMES:
        assert registry_tags(offline_registry.host, f"{path}/{name}") == []

    again = cli(
        "import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json"
    )
    assert again.code == 0, again.err
    assert _statuses(again.json) == ["pushed"] * 3


def test_cancel_token_mid_push_stops_after_the_current_image_and_the_import_resumes(
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
    bundle: Path,
    tmp_path: Path,
) -> None:
    """The wizard's Cancel button: the token is set while the first image is being pushed."""
    target, path = _target(offline_registry)
    first = f"{target}/semgrep:6"
    token = CancelToken()

    def cancel_during_the_first_push(event: Progress) -> None:
        if event.stage == STAGE_PUSH and event.item == first and not event.final:
            token.cancel()

    with pytest.raises(Cancelled) as raised:
        _import(
            clean_engine,
            bundle,
            target,
            tmp_path,
            progress=cancel_during_the_first_push,
            cancel=token,
        )
    message = str(raised.value)
    assert f"Pushing {first}: cancelled by the operator" in message
    assert "none of the 3 images was pushed yet" in message
    assert "Run the same import again to resume" in message
    assert registry_tags(offline_registry.host, f"{path}/{IMAGE_NAMES[1]}") == []
    assert registry_tags(offline_registry.host, f"{path}/{IMAGE_NAMES[2]}") == []

    second = f"{target}/secrets:7"
    token = CancelToken()

    def cancel_when_the_second_is_tagged(event: Progress) -> None:
        if event.stage == STAGE_TAG and event.item == second:
            token.cancel()

    with pytest.raises(Cancelled) as raised:
        _import(
            clean_engine,
            bundle,
            target,
            tmp_path,
            progress=cancel_when_the_second_is_tagged,
            cancel=token,
        )
    message = str(raised.value)
    assert f"1 of 3 images are in the registry ({first})" in message
    assert registry_tags(offline_registry.host, f"{path}/{IMAGE_NAMES[2]}") == []

    result = _import(clean_engine, bundle, target, tmp_path)
    assert result.ok
    assert _statuses(result)[0] == "already present"
    assert _statuses(result)[2] == "pushed"


# --------------------------------------------------------------------------- read-only media


def test_bundle_on_read_only_media_verifies_and_imports_without_writing_to_it(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    seeded_upstream: SeededUpstream,
    offline_registry: RegistryHandle,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with mounted_tmpfs(tmp_path / "stick", "32m") as stick:
        dest = stick / "bundle"
        exported_run = cli(*export_argv(seeded_upstream, dest))
        assert exported_run.code == 0, exported_run.err
        wipe_engine(clean_engine)  # the import must read every part from the stick
        subprocess.run(["mount", "-o", "remount,ro", str(stick)], check=True)
        with pytest.raises(OSError):
            (dest / "probe").write_text("x")
        before = tree_state(stick)

        verified = cli("verify", str(dest), "--json")
        assert verified.code == 0 and verified.json["ok"] is True, verified.out
        workdir = tmp_path / "operator"
        workdir.mkdir()
        monkeypatch.chdir(workdir)  # the receipt's default place: the current directory
        target, path = _target(offline_registry, "ro")
        imported = cli("import", str(dest), "--registry", target, "--json")
        assert imported.code == 0, imported.err
        assert _statuses(imported.json) == ["pushed"] * 3
        assert Path(imported.json["receipt"]).parent == workdir
        assert tree_state(stick) == before
        for name in IMAGE_NAMES:
            assert registry_tags(offline_registry.host, f"{path}/{name}"), name


# --------------------------------------------------------------------------- the receipt


def test_receipt_records_fingerprint_digests_verification_and_times(
    cli: Callable[..., CliRun],
    clean_engine: EngineHandle,
    seeded_upstream: SeededUpstream,
    offline_registry: RegistryHandle,
    bundle: Path,
    tmp_path: Path,
) -> None:
    manifest = read_manifest(bundle)
    target, path = _target(offline_registry, "receipt")
    receipts = tmp_path / "receipts"
    before = datetime.now(UTC).replace(microsecond=0)
    run = cli("import", str(bundle), "--registry", target, "--receipt-dir", str(receipts), "--json")
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
    assert receipt["verification"] == {"result": "passed", "problems": [], "warnings": []}
    assert receipt["ok"] is True
    started = datetime.fromisoformat(receipt["started"])
    finished = datetime.fromisoformat(receipt["finished"])
    assert started.utcoffset() == finished.utcoffset() == timedelta(0)
    assert before <= started <= finished <= after

    seeded = {image.name: image for image in seeded_upstream.images}
    rows = receipt["images"]
    assert [r["name"] for r in rows] == list(IMAGE_NAMES)
    for row, image in zip(rows, manifest.images, strict=True):
        assert row["ok"] is True and row["status"] == "pushed"
        assert row["target"] == f"{target}/{image.name}:{image.tag}"
        assert row["source_digest"] == seeded[image.name].digest != ""
        assert row["image_id"] == image.image_id == seeded[image.name].image_id
        served = _served_digest(offline_registry.url, f"{path}/{image.name}", image.tag)
        assert row["pushed_digest"] == served
