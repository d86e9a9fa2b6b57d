"""Fault matrix, export rows: full media, SIGKILL and Ctrl-C mid-export, an unreachable engine,
missing images upstream, and the FAT32 part-size limit — on both real engines.

A killed or interrupted export is driven through the real CLI in a subprocess whose engine
connection goes through an EngineRelay: the export stream is held at a chosen byte offset, so
the process is stopped at a known point by polling the bundle directory, never by sleeping.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.bundle import MANIFEST_NAME, ExportJournal, read_manifest
from airgap_tui.cli import main
from airgap_tui.engine import CHUNK
from airgap_tui.errors import MediaError
from airgap_tui.events import STAGE_SAVE, Progress
from airgap_tui.media import free_bytes
from tests.harness.engine import EngineHandle
from tests.harness.images import SeededUpstream
from tests.integration.conftest import CliRun
from tests.integration.faults_support import (
    CliProcess,
    EngineRelay,
    MiB,
    export_argv,
    export_with_domain,
    mounted_tmpfs,
    start_cli,
    wait_for,
)


def _run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> CliRun:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return CliRun(code, out, err)


def _media_bytes(dest: Path) -> int:
    """Bytes of parts on the media, finished or being written."""
    if not dest.is_dir():
        return 0
    return sum(p.stat().st_size for p in dest.glob("images.tar.*"))


def _inodes(dest: Path, names: list[str]) -> dict[str, int]:
    return {name: (dest / name).stat().st_ino for name in names}


def _check_resumed(
    engine: EngineHandle,
    cli: Callable[..., CliRun],
    upstream: SeededUpstream,
    dest: Path,
    journaled: list[str],
    reference: str | None,
    part_size: str = "1MiB",
) -> dict[str, Any]:
    """Re-run the export: it keeps the journaled parts it regenerates identically, and the
    result verifies. 26.1's normalised export is deterministic, so there every journaled part
    is kept and the bundle has the `reference` fingerprint of an uninterrupted export; 20.10's
    is only identical from its start (see the e2e resume test)."""
    inodes = _inodes(dest, journaled)
    again = cli(*export_argv(upstream, dest, part_size))
    assert again.code == 0, again.err
    resumed: dict[str, Any] = again.json
    assert resumed["ok"] and resumed["readback_ok"]
    kept = resumed["parts_kept"]
    assert set(kept) <= set(journaled), (kept, journaled)  # only the journal vouches for a part
    # every part is kept or written; no .part file, no journal left behind
    assert sorted(os.listdir(dest)) == sorted([MANIFEST_NAME, *kept, *resumed["parts_written"]])
    for name in kept:
        assert (dest / name).stat().st_ino == inodes[name], name  # kept = not rewritten
    if engine.kind == "trixie":
        assert sorted(kept) == sorted(journaled)
        if reference is not None:
            assert resumed["fingerprint"] == reference
    elif "images.tar.000" in journaled:
        assert "images.tar.000" in kept
    verified = cli("verify", str(dest), "--json")
    assert verified.code == 0 and verified.json["ok"] is True, verified.out
    return resumed


def _journaled(dest: Path) -> list[str]:
    journal = ExportJournal.load(dest)
    return sorted(journal.parts) if journal is not None else []


def _assert_incomplete(dest: Path, journaled: list[str]) -> None:
    """After a stop: no bundle.yaml, and every part the journal vouches for is complete."""
    assert not (dest / MANIFEST_NAME).exists()
    journal = ExportJournal.load(dest)
    for name in journaled:
        assert journal is not None
        assert (dest / name).stat().st_size == journal.parts[name].size, name


# --------------------------------------------------------------------------- usage and input


def test_part_size_above_the_fat32_limit_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dest = tmp_path / "stick" / "bundle"
    run = _run_main(capsys, "export", "semgrep", "--to", str(dest), "--part-size", "5GiB")
    assert run.code == 2
    assert "Part size '5GiB'" in run.err and "4 GiB − 1" in run.err and "FAT32" in run.err
    assert "4095MiB or less" in run.err
    assert not (tmp_path / "stick").exists()
    just_under = _run_main(
        capsys, "export", "semgrep", "--to", str(dest), "--part-size", "4GiB", "--json"
    )
    assert just_under.code == 2 and just_under.json["kind"] == "UsageError"


def test_engine_unreachable_is_one_clear_message_and_verify_and_snippet_still_work(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    seeded_upstream: SeededUpstream,
    bundle: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    dest = tmp_path / "new-bundle"
    runs = {
        "export": (
            "export",
            "semgrep",
            "--to",
            str(dest),
            "--source-prefix",
            seeded_upstream.prefix,
        ),
        "import": (
            "import",
            str(bundle),
            "--registry",
            "127.0.0.1:9/x",
            "--receipt-dir",
            str(tmp_path),
        ),
    }
    for command, argv in runs.items():
        run = _run_main(capsys, *argv)
        assert run.code == 1, (command, run)
        lines = [line for line in run.err.splitlines() if line.strip()]
        assert len(lines) == 1, run.err
        assert lines[0].startswith("airgap-tui: Docker engine at unix:///nonexistent: ")
        assert "not reachable" in lines[0] and "DOCKER_HOST" in lines[0]
        assert "`verify` and `snippet` work without one" in lines[0]
        as_json = _run_main(capsys, *argv, "--json")
        assert as_json.code == 1 and as_json.json == {
            "ok": False,
            "error": lines[0].removeprefix("airgap-tui: "),
            "kind": "EngineError",
        }
    assert not dest.exists()
    assert not list(tmp_path.glob("airgap-receipt-*"))

    verified = _run_main(capsys, "verify", str(bundle), "--json")
    assert verified.code == 0 and verified.json["ok"] is True
    snippet = _run_main(
        capsys, "snippet", "--registry", "registry.example:5000/sec", "--bundle", str(bundle)
    )
    assert snippet.code == 0 and "registry.example:5000/sec" in snippet.out


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
    cli: Callable[..., CliRun],
    seeded_upstream: SeededUpstream,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "usb" / "bundle"
    argv = ("export", *analyzers, "--to", str(dest), "--source-prefix", seeded_upstream.prefix)
    run = cli(*argv)
    assert run.code == 1
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert named in lines[0] and tags_that_exist in lines[0], lines[0]
    assert "nothing was written" in lines[0]
    as_json = cli(*argv, "--json")
    assert as_json.code == 1 and as_json.json["ok"] is False
    assert as_json.json["kind"] == "NotFoundError"
    assert not (tmp_path / "usb").exists()


# --------------------------------------------------------------------------- full media


def test_media_too_small_is_refused_up_front_and_nothing_is_written(
    cli: Callable[..., CliRun],
    seeded_upstream: SeededUpstream,
    exported: Path,
    tmp_path: Path,
) -> None:
    needed = read_manifest(exported).total_bytes
    with mounted_tmpfs(tmp_path / "stick", "2m") as stick:
        run = cli(*export_argv(seeded_upstream, stick / "bundle"))
        assert run.code == 1
        assert run.json["kind"] == "MediaError"
        error = run.json["error"]
        assert f"Destination {stick / 'bundle'}" in error and "the bundle needs " in error
        assert "free on" in error and "Free some space or choose a bigger drive" in error
        # the estimate it names is the bundle's real size (within 1%)
        stated = error.split("the bundle needs ", 1)[1].split(" MB", 1)[0]
        assert abs(float(stated) * 1e6 - needed) <= needed * 0.01 + 0.05e6, (stated, needed)
        assert os.listdir(stick) == []


def test_media_filling_up_mid_export_is_a_clear_error_and_resumes_after_freeing_space(
    engine: EngineHandle,
    cli: Callable[..., CliRun],
    seeded_upstream: SeededUpstream,
    exported: Path,
    tmp_path: Path,
) -> None:
    """The up-front check passes; then another writer takes the space (a file copied onto the
    stick meanwhile), leaving room for about two parts."""
    with mounted_tmpfs(tmp_path / "stick", "16m") as stick:
        dest = stick / "bundle"
        filler = stick / "someone-elses-file.bin"

        def fill(event: Progress) -> None:
            if event.stage == STAGE_SAVE and not filler.exists():
                with open(filler, "wb") as handle:
                    handle.write(b"\0" * (free_bytes(stick) - int(2.5 * MiB)))

        with pytest.raises(MediaError) as raised:
            export_with_domain(engine.docker_host, seeded_upstream, dest, progress=fill)
        message = str(raised.value)
        assert message.startswith("Writing images.tar.")
        assert "the media is full (about " in message and " more is needed, " in message
        assert "run the same export again: finished parts are kept" in message
        leftovers = os.listdir(dest)
        assert MANIFEST_NAME not in leftovers
        assert not [n for n in leftovers if n.endswith(".part")], leftovers
        journaled = _journaled(dest)
        assert len(journaled) >= 1, leftovers
        _assert_incomplete(dest, journaled)

        filler.unlink()
        pristine = read_manifest(exported).fingerprint
        resumed = _check_resumed(engine, cli, seeded_upstream, dest, journaled, pristine)
        assert resumed["parts_kept"], "the parts written before the media filled are kept"


# --------------------------------------------------------------------------- SIGKILL


KILL_PART_SIZE = 1536 * 1024  # not a multiple of the CLI's reads: kills can land mid-part
SLACK = 16 * 1024  # HTTP response and chunk headers in the relay's byte count
RANDOM_TRIALS = 2


def test_export_killed_at_random_points_resumes_and_verifies(
    engine: EngineHandle,
    cli: Callable[..., CliRun],
    seeded_upstream: SeededUpstream,
    exported: Path,
    cli_processes: list[CliProcess],
    tmp_path: Path,
) -> None:
    """SIGKILL, then the same command again, which must resume. Trials: before any part is
    complete; in the middle of a part (its .part file half written); and at random byte offsets
    of the export stream. AIRGAP_FAULT_SEED=<seed> replays a failed run's offsets."""
    assert CHUNK == 256 * 1024  # the CLI reads the engine's stream 256 KiB at a time
    seed = os.environ.get("AIRGAP_FAULT_SEED") or secrets.token_hex(4)
    rng = random.Random(f"{seed}-{engine.kind}")
    total = read_manifest(exported).total_bytes
    # (offset where the engine's stream is held, what must be on the media before the kill)
    trials: list[tuple[int, Callable[[Path], bool]]] = [
        (rng.randint(64 * 1024, MiB - SLACK), lambda d: True),
        # two reads (2 MiB) reach the writer: part 000 complete, 001.part holds 512 KiB
        (rng.randint(2 * MiB + SLACK, 3 * MiB), lambda d: _size(d / "images.tar.001.part") > 0),
    ]
    for _ in range(RANDOM_TRIALS):
        offset = rng.randint(2 * MiB, total - 256 * 1024)
        trials.append((offset, _holding_at_least(offset - MiB - SLACK)))
    reference: str | None = None
    for trial, (offset, ready) in enumerate(trials):
        where = f"trial {trial}, offset {offset}, AIRGAP_FAULT_SEED={seed}"
        dest = tmp_path / f"trial-{trial}" / "bundle"
        try:
            _kill_at(engine, seeded_upstream, dest, offset, ready, cli_processes)
            leftovers = os.listdir(dest)
            journaled = _journaled(dest)
            _assert_incomplete(dest, journaled)
            processed = max(offset - MiB - SLACK, 0)  # at least this much reached the writer
            assert len(journaled) >= processed // KILL_PART_SIZE, leftovers
            if trial == 1:
                assert journaled == ["images.tar.000"], leftovers
                assert "images.tar.001.part" in leftovers, leftovers
            resumed = _check_resumed(
                engine, cli, seeded_upstream, dest, journaled, reference, str(KILL_PART_SIZE)
            )
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from exc
        reference = reference or resumed["fingerprint"]


def _holding_at_least(n: int) -> Callable[[Path], bool]:
    """Ready once `n` bytes are on the media (the CLI holds at most one unprocessed read)."""
    return lambda dest: _media_bytes(dest) >= n


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _kill_at(
    engine: EngineHandle,
    upstream: SeededUpstream,
    dest: Path,
    offset: int,
    ready: Callable[[Path], bool],
    processes: list[CliProcess],
) -> None:
    """Run the export until the engine has sent `offset` bytes of the archive and `ready`
    holds for the bundle directory, then SIGKILL it."""
    proxy = EngineRelay(engine.docker_host.removeprefix("unix://"))
    try:
        rule = proxy.hold(b"/images/get", after=offset)
        argv = export_argv(upstream, dest, str(KILL_PART_SIZE))
        process = start_cli(argv, dest.parent, docker_host=proxy.docker_host)
        processes.append(process)
        wait_for(
            lambda: rule.held.is_set() or process.proc.poll() is not None,
            f"the export stream reaching byte {offset}",
        )
        assert process.proc.poll() is None, process.err_text()
        wait_for(lambda: ready(dest), "the kill point")
        process.proc.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    finally:
        proxy.close()


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_export_stops_at_a_chunk_boundary_and_resumes(
    engine: EngineHandle,
    cli: Callable[..., CliRun],
    seeded_upstream: SeededUpstream,
    exported: Path,
    relay: EngineRelay,
    cli_processes: list[CliProcess],
    tmp_path: Path,
) -> None:
    dest = tmp_path / "bundle"
    rule = relay.hold(b"/images/get", after=int(2.5 * MiB))
    process = start_cli(
        export_argv(seeded_upstream, dest), tmp_path / "run", docker_host=relay.docker_host
    )
    cli_processes.append(process)
    wait_for(lambda: rule.held.is_set() or process.proc.poll() is not None, "the stream held")
    assert process.proc.poll() is None, process.err_text()
    wait_for(lambda: (dest / "images.tar.000").exists(), "the first complete part")
    process.proc.send_signal(signal.SIGINT)
    wait_for(lambda: "stopping at the next chunk boundary" in process.err_text(), "the stop note")
    rule.release.set()  # the next chunk arrives; the export must stop there
    assert process.wait() == 130, process.err_text()

    error = process.err_text()
    assert "cancelled by the operator" in error
    journaled = _journaled(dest)
    count = "1 complete part is" if len(journaled) == 1 else f"{len(journaled)} complete parts are"
    assert f"{count} in {dest}" in error, error
    assert "bundle.yaml is not written yet" in error
    assert "Run the same export again to resume" in error
    assert '"kind": "Cancelled"' in process.out_text()
    assert journaled and not [n for n in os.listdir(dest) if n.endswith(".part")]
    _assert_incomplete(dest, journaled)
    pristine = read_manifest(exported).fingerprint
    _check_resumed(engine, cli, seeded_upstream, dest, journaled, pristine)
