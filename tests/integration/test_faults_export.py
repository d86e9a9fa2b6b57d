"""Fault matrix, export rows, on the registry-native export (no engine): the FAT32 part-size
limit, missing images, full media, wrong bytes from the source, a registry dying mid-blob,
SIGKILL and Ctrl-C mid-export then resume, and a registry that wants a login.

A RegistryRelay (tests/harness/relay.py) stands between the exporter and the upstream registry:
it counts what is downloaded and can flip a byte, cut a connection or hold a blob at a chosen
offset, so a subprocess is stopped at a known point by polling, never by sleeping.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.manifest import MANIFEST_NAME, BundleManifest
from airgap_tui.bundle.media import free_bytes
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.errors import MediaError
from airgap_tui.events import STAGE_SAVE, Progress
from airgap_tui.export.estimate import estimate_tool
from airgap_tui.registry.client import STREAM_CHUNK
from airgap_tui.toolpack.cache import build_key, cache_dir, recorded_size
from airgap_tui.toolpack.members import collect_members
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.harness.relay import RegistryRelay
from tests.integration.conftest import CliRun
from tests.integration.faults_support import (
    NATIVE_ANALYZERS,
    CliProcess,
    MiB,
    export_with_domain,
    mounted_tmpfs,
    start_cli,
    wait_for,
)
from tests.integration.faults_support import export_argv as _export_argv


@pytest.fixture(scope="module")
def _relay(native_upstream: NativeUpstream) -> Iterator[RegistryRelay]:
    with RegistryRelay(native_upstream.registry.url) as proxy:
        yield proxy


@pytest.fixture
def relay(_relay: RegistryRelay) -> Iterator[RegistryRelay]:
    """The module's relay (one address: a resumed export must name the same source), reset."""
    _relay.reset()
    yield _relay
    _relay.reset()


@pytest.fixture(scope="module")
def pristine(
    _relay: RegistryRelay, native_upstream: NativeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> BundleManifest:
    """An uninterrupted export through the relay: what every resumed export must equal."""
    dest = tmp_path_factory.mktemp("pristine-via-relay") / "bundle"
    result = export_with_domain(native_upstream, dest, host=_relay.host)
    assert result.ok and len(result.parts_written) >= 4
    return read_manifest(dest)


def export_argv(upstream: NativeUpstream, dest: Path, host: str | None = None) -> list[str]:
    return _export_argv(upstream, dest, host=host, analyzers=NATIVE_ANALYZERS)


def _journaled(dest: Path) -> list[str]:
    journal = ExportJournal.load(dest)
    return sorted(journal.parts) if journal is not None else []


def _assert_incomplete(dest: Path) -> list[str]:
    """After a stop: no bundle.yaml, no .part file, every journaled part complete."""
    assert not (dest / MANIFEST_NAME).exists()
    assert not [n for n in os.listdir(dest) if n.endswith(".part")], os.listdir(dest)
    journal = ExportJournal.load(dest)
    journaled = _journaled(dest)
    for name in journaled:
        assert journal is not None
        assert (dest / name).stat().st_size == journal.parts[name].size, name
    return journaled


def _layers(manifest: BundleManifest) -> list[Any]:
    """Blobs the exporter streams from the registry (manifests and configs come earlier)."""
    small = {i.digest for i in manifest.images} | {d for i in manifest.images for d in i.manifests}
    configs = {
        b.digest
        for b in manifest.blobs
        if b.media_type.endswith(("config.v1+json", "image.v1+json"))
    }
    return [b for b in manifest.blobs if b.digest not in small | configs]


def _straddling(manifest: BundleManifest, part_size: int) -> tuple[Any, int, int]:
    """A layer that crosses a part boundary, that boundary, and a hold point in the blob past
    it: the end of the client's read (STREAM_CHUNK) that holds the boundary."""
    for blob in _layers(manifest):
        boundary = (blob.offset // part_size + 1) * part_size
        hold = ((boundary - blob.offset) // STREAM_CHUNK + 1) * STREAM_CHUNK
        if blob.offset < boundary and hold < blob.size:
            return blob, boundary, hold
    raise AssertionError("no layer crosses a part boundary far enough from its end")


def _repository(manifest: BundleManifest, digest: str) -> str:
    """The repository a blob is downloaded from: the first image that uses it."""
    image = next(i for i in manifest.images if digest in i.blobs)
    return image.source_ref.split("/", 1)[1].rsplit(":", 1)[0]


def _resume_downloads_only_what_is_missing(
    cli: Callable[..., CliRun],
    upstream: NativeUpstream,
    relay: RegistryRelay,
    dest: Path,
    pristine: BundleManifest,
) -> dict[str, Any]:
    """Run the same export again: it keeps the journaled parts (not rewritten), downloads no
    layer wholly inside them, resumes the one cut at the boundary with a Range request, and
    ends with the bundle an uninterrupted export writes."""
    relay.reset()
    journaled = _journaled(dest)
    inodes = {name: (dest / name).stat().st_ino for name in journaled}
    kept_bytes = sum((dest / name).stat().st_size for name in journaled)
    again = cli(*export_argv(upstream, dest, host=relay.host))
    assert again.code == 0, again.err
    fetches = list(relay.fetches)
    resumed: dict[str, Any] = again.json
    assert resumed["ok"] and resumed["readback_ok"]
    assert sorted(resumed["parts_kept"]) == journaled
    for name in journaled:
        assert (dest / name).stat().st_ino == inodes[name], name  # kept = not rewritten
    assert resumed["fingerprint"] == pristine.fingerprint
    layers = {b.digest: b for b in _layers(pristine)}
    wanted = {d: b for d, b in layers.items() if b.offset + b.size > kept_bytes}
    fetched = {f.digest: f for f in fetches if f.digest in layers}
    assert len(fetched) == len([f for f in fetches if f.digest in layers])  # each once
    assert set(fetched) == set(wanted), "only layers not wholly on the media are downloaded"
    for digest, fetch in fetched.items():
        blob = wanted[digest]
        if blob.offset < kept_bytes:  # cut by the interruption: the rest, by Range
            assert fetch.range == f"bytes={kept_bytes - blob.offset}-", fetch
            assert fetch.status == 206 and fetch.sent == blob.offset + blob.size - kept_bytes
        else:
            assert fetch.range is None and fetch.sent == blob.size
    assert resumed["downloaded_bytes"] == sum(f.sent for f in fetched.values())
    verified = cli("verify", str(dest), "--json")
    assert verified.code == 0 and verified.json["ok"] is True, verified.out
    return resumed


# --------------------------------------------------------------------------- usage and input


def test_part_size_above_the_fat32_limit_is_refused(
    cli_no_engine: Callable[..., CliRun], tmp_path: Path
) -> None:
    dest = tmp_path / "stick" / "bundle"
    run = cli_no_engine("export", "semgrep", "--to", str(dest), "--part-size", "5GiB")
    assert run.code == 2
    assert "Part size '5GiB'" in run.err and "4 GiB − 1" in run.err and "FAT32" in run.err
    assert "4095MiB or less" in run.err
    assert not (tmp_path / "stick").exists()
    just_under = cli_no_engine(
        "export", "semgrep", "--to", str(dest), "--part-size", "4GiB", "--json"
    )
    assert just_under.code == 2 and just_under.json["kind"] == "UsageError"


@pytest.mark.parametrize(
    ("analyzers", "named", "tags_that_exist"),
    [
        (("semgrep:99",), "security-products/semgrep:99", "tags that exist: 6"),
        (("secrets:7", "kubesec"), "security-products/kubesec:6", "tags that exist: none"),
    ],
    ids=["tag-missing", "image-missing"],
)
def test_missing_image_or_tag_is_named_before_anything_is_written(
    analyzers: tuple[str, ...],
    named: str,
    tags_that_exist: str,
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "usb" / "bundle"
    argv = ("export", *analyzers, "--to", str(dest), "--source-prefix", native_upstream.prefix)
    run = cli_no_engine(*argv)
    assert run.code == 1
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert named in lines[0] and tags_that_exist in lines[0], lines[0]
    assert "nothing was written" in lines[0]
    as_json = cli_no_engine(*argv, "--json")
    assert as_json.code == 1 and as_json.json["ok"] is False
    assert as_json.json["kind"] == "NotFoundError"
    assert not (tmp_path / "usb").exists()


def test_a_registry_that_wants_a_login_is_named_and_config_json_credentials_work(
    cli_no_engine: Callable[..., CliRun],
    registry_factory: Callable[..., RegistryHandle],
    _empty_docker_config: Path,
    tmp_path: Path,
) -> None:
    import base64
    import json

    from tests.harness.native import NATIVE_IMAGES, seed_native

    secured = registry_factory("secured", htpasswd=("ci", "s3cret-pw"))
    seed_native(secured, NATIVE_IMAGES[:2])
    prefix = f"{secured.host}/security-products"
    dest = tmp_path / "bundle"
    denied = cli_no_engine("export", "semgrep", "--source-prefix", prefix, "--to", str(dest))
    assert denied.code == 1
    assert f"Registry {secured.host}" in denied.err and "requires a login" in denied.err
    assert not dest.exists()
    config = _empty_docker_config / "config.json"
    auth = base64.b64encode(b"ci:s3cret-pw").decode()
    config.write_text(json.dumps({"auths": {secured.host: {"auth": auth}}}))
    try:
        run = cli_no_engine(
            "export", "semgrep", "--source-prefix", prefix, "--to", str(dest), "--json"
        )
    finally:
        config.unlink()
    assert run.code == 0, run.err
    written = b"".join(p.read_bytes() for p in sorted(dest.iterdir()))
    assert b"s3cret-pw" not in written and auth.encode() not in written


# --------------------------------------------------------------------------- full media


def test_media_too_small_is_refused_up_front_and_nothing_is_written(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    pristine: BundleManifest,
    relay: RegistryRelay,
    tmp_path: Path,
) -> None:
    # the parts exactly; the tool as the export knows it before building (exact when the
    # user's cache holds it, else estimated from the installed files)
    members = collect_members()
    tool = recorded_size(cache_dir(), build_key(members)) or estimate_tool()[0]
    needed = pristine.total_bytes + tool
    with mounted_tmpfs(tmp_path / "stick", "2m") as stick:
        run = cli_no_engine(*export_argv(native_upstream, stick / "bundle", host=relay.host))
        assert run.code == 1
        assert run.json["kind"] == "MediaError"
        error = run.json["error"]
        assert f"Destination {stick / 'bundle'}" in error and "the bundle needs " in error
        assert "Free some space or choose a bigger drive" in error
        stated = error.split("the bundle needs ", 1)[1].split(" MB", 1)[0]
        assert abs(float(stated) * 1e6 - needed) <= 0.05e6, (stated, needed)  # exact, rounded
        assert os.listdir(stick) == []


def test_media_filling_up_mid_export_is_a_clear_error_and_resumes_after_freeing_space(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    pristine: BundleManifest,
    relay: RegistryRelay,
    tmp_path: Path,
) -> None:
    """The up-front check passes; then another writer takes the space (a file copied onto the
    stick meanwhile), leaving room for about two parts. The first run leaves the tool out: it
    is written beside the parts, whenever its build is done, so the room left would otherwise
    depend on that timing; the resumed run carries it."""
    with mounted_tmpfs(tmp_path / "stick", "16m") as stick:
        dest = stick / "bundle"
        filler = stick / "someone-elses-file.bin"

        def fill(event: Progress) -> None:
            if event.stage == STAGE_SAVE and not filler.exists():
                with open(filler, "wb") as handle:
                    handle.write(b"\0" * (free_bytes(stick) - int(2.5 * MiB)))

        with pytest.raises(MediaError) as raised:
            export_with_domain(native_upstream, dest, host=relay.host, progress=fill, tool=False)
        message = str(raised.value)
        assert message.startswith("Writing images.tar.")
        assert "the media is full (about " in message and " more is needed, " in message
        assert "run the same export again: finished parts are kept" in message
        journaled = _assert_incomplete(dest)
        assert len(journaled) >= 1
        filler.unlink()
        _resume_downloads_only_what_is_missing(
            cli_no_engine, native_upstream, relay, dest, pristine
        )


# --------------------------------------------------------------------------- wrong bytes


def test_wrong_bytes_from_the_source_are_caught_and_named_and_nothing_wrong_is_kept(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    pristine: BundleManifest,
    relay: RegistryRelay,
    tmp_path: Path,
) -> None:
    blob, boundary, _hold = _straddling(pristine, MiB)
    relay.corrupt(blob.digest, at=blob.size - 10)  # after the part boundary: part 000.. done
    dest = tmp_path / "bundle"
    run = cli_no_engine(*export_argv(native_upstream, dest, host=relay.host))
    assert run.code == 1
    error = run.json["error"]
    repository = _repository(pristine, blob.digest)
    assert f"Blob {blob.digest} of {relay.host}/{repository}" in error, error
    assert "do not match the digest (got sha256:" in error
    assert "Nothing of it was kept" in error
    journaled = _assert_incomplete(dest)
    # no part holding a byte of that blob is vouched for
    for name in journaled:
        index = int(name.rsplit(".", 1)[1])
        assert (index + 1) * MiB <= blob.offset, (name, blob.offset)
    assert boundary // MiB >= 1
    # the registry serves the right bytes again: the re-run completes, identical to pristine
    relay.reset()
    again = cli_no_engine(*export_argv(native_upstream, dest, host=relay.host))
    assert again.code == 0, again.err
    assert again.json["fingerprint"] == pristine.fingerprint


def test_a_registry_dropping_the_connection_mid_blob_is_resumed_with_a_range_request(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    pristine: BundleManifest,
    relay: RegistryRelay,
    tmp_path: Path,
) -> None:
    blob = max(_layers(pristine), key=lambda b: b.size)
    relay.cut(blob.digest, after=blob.size // 2)
    run = cli_no_engine(*export_argv(native_upstream, tmp_path / "b", host=relay.host))
    assert run.code == 0, run.err
    assert run.json["fingerprint"] == pristine.fingerprint
    tries = [f for f in relay.fetches if f.digest == blob.digest]
    assert len(tries) == 2 and tries[0].range is None and tries[0].sent == blob.size // 2
    # the second asks for the rest from what arrived (a read cut short may be dropped whole)
    assert tries[1].range is not None and tries[1].status == 206
    arrived = int(tries[1].range.removeprefix("bytes=").removesuffix("-"))
    assert blob.size // 2 - STREAM_CHUNK < arrived <= blob.size // 2
    assert tries[1].sent == blob.size - arrived

    # it keeps dying: bounded retries, then a clear error
    relay.reset()
    relay.cut(blob.digest, after=100, times=10)
    dead = cli_no_engine(*export_argv(native_upstream, tmp_path / "c", host=relay.host))
    assert dead.code == 1
    assert dead.json["kind"] == "RegistryError"
    assert f"Blob {blob.digest} of {relay.host}/" in dead.json["error"]
    assert "the connection broke 4 times" in dead.json["error"]
    assert len([f for f in relay.fetches if f.digest == blob.digest]) == 4
    assert not (tmp_path / "c" / MANIFEST_NAME).exists()


# --------------------------------------------------------------------------- SIGKILL, Ctrl-C


def _stop_mid_blob(
    upstream: NativeUpstream,
    relay: RegistryRelay,
    pristine: BundleManifest,
    dest: Path,
    processes: list[CliProcess],
    sig: int,
) -> CliProcess:
    """Run the CLI export until the layer crossing a part boundary is past that boundary (the
    part before it complete), hold the download there, and send `sig`."""
    blob, boundary, hold = _straddling(pristine, MiB)
    rule = relay.hold(blob.digest, after=hold)
    process = start_cli(
        export_argv(upstream, dest, host=relay.host),
        dest.parent / "run",
        docker_host="unix:///nonexistent",
    )
    processes.append(process)
    wait_for(lambda: rule.held.is_set() or process.proc.poll() is not None, "the blob held")
    assert process.proc.poll() is None, process.err_text()
    last = f"images.tar.{boundary // MiB - 1:03d}"
    wait_for(lambda: last in _journaled(dest), f"{last} complete and journaled")
    writing = dest / f"images.tar.{boundary // MiB:03d}.part"
    wait_for(lambda: writing.exists() and writing.stat().st_size > 0, f"{writing.name} begun")
    process.proc.send_signal(sig)
    if sig == signal.SIGINT:
        wait_for(
            lambda: "stopping at the next chunk boundary" in process.err_text(), "the stop note"
        )
        assert process.wait() == 130, process.err_text()
    else:
        assert process.wait() == -signal.SIGKILL
    relay.reset()
    return process


def test_export_killed_mid_blob_resumes_downloading_only_what_is_missing(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    pristine: BundleManifest,
    relay: RegistryRelay,
    cli_processes: list[CliProcess],
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    _stop_mid_blob(native_upstream, relay, pristine, dest, cli_processes, signal.SIGKILL)
    leftovers = os.listdir(dest)
    assert MANIFEST_NAME not in leftovers
    assert [n for n in leftovers if n.endswith(".part")], leftovers  # the part being written
    _resume_downloads_only_what_is_missing(cli_no_engine, native_upstream, relay, dest, pristine)


def test_ctrl_c_mid_export_stops_says_what_is_kept_and_resumes(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    pristine: BundleManifest,
    relay: RegistryRelay,
    cli_processes: list[CliProcess],
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    process = _stop_mid_blob(native_upstream, relay, pristine, dest, cli_processes, signal.SIGINT)
    error = process.err_text()
    assert "cancelled by the operator" in error
    journaled = _assert_incomplete(dest)
    count = "1 complete part is" if len(journaled) == 1 else f"{len(journaled)} complete parts are"
    assert f"{count} in {dest}" in error, error
    assert "bundle.yaml is not written yet" in error
    assert "Run the same export again to resume" in error
    assert '"kind": "Cancelled"' in process.out_text()
    _resume_downloads_only_what_is_missing(cli_no_engine, native_upstream, relay, dest, pristine)


# --------------------------------------------------------------------------- the destination


def test_a_lost_middle_part_is_rewritten_and_the_parts_around_it_are_kept(
    cli_no_engine: Callable[..., CliRun],
    native_upstream: NativeUpstream,
    pristine: BundleManifest,
    relay: RegistryRelay,
    tmp_path: Path,
) -> None:
    """Parts before the gap are kept without downloading what they hold; the ones after it
    are regenerated and compared byte for byte, so they are kept too (not rewritten)."""
    dest = tmp_path / "bundle"
    first = cli_no_engine(*export_argv(native_upstream, dest, host=relay.host))
    assert first.code == 0, first.err
    names = first.json["parts_written"]
    assert len(names) >= 4
    inodes = {n: (dest / n).stat().st_ino for n in names}
    (dest / names[2]).unlink()
    relay.reset()
    again = cli_no_engine(*export_argv(native_upstream, dest, host=relay.host))
    assert again.code == 0, again.err
    assert again.json["parts_written"] == [names[2]]
    assert again.json["parts_kept"] == [n for n in names if n != names[2]]
    for name in names:
        if name != names[2]:
            assert (dest / name).stat().st_ino == inodes[name], name
    assert again.json["fingerprint"] == first.json["fingerprint"] == pristine.fingerprint
    start = 2 * MiB
    fetched = set(relay.fetched())
    for blob in _layers(pristine):
        assert (blob.digest in fetched) == (blob.offset + blob.size > start), blob


def test_a_bundle_this_version_cannot_read_is_never_overwritten(
    cli_no_engine: Callable[..., CliRun], native_upstream: NativeUpstream, tmp_path: Path
) -> None:
    dest = tmp_path / "old-bundle"
    dest.mkdir()
    old = "format_version: 1\nplatform: linux/amd64\nimages: []\nparts: []\n"
    (dest / MANIFEST_NAME).write_text(old)
    (dest / "images.tar.000").write_bytes(b"an older bundle's only copy")
    run = cli_no_engine(*export_argv(native_upstream, dest))
    assert run.code == 2 and run.json["kind"] == "UsageError"
    assert "it already holds a bundle this airgap-tui cannot read" in run.json["error"]
    assert "made by an older airgap-tui" in run.json["error"]
    assert (dest / MANIFEST_NAME).read_text() == old
    assert (dest / "images.tar.000").read_bytes() == b"an older bundle's only copy"
