"""The console script's entry (cli/launch.py): a bundle's files start hashing before the CLI
loads; the command adopts that thread, and no thread outlives main()."""

from __future__ import annotations

from pathlib import Path

import pytest

from airgap_tui.bundle import prehash
from airgap_tui.cli import launch


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[prehash.PartHashes]:
    """Every PartHashes made, wherever the code makes it."""
    made: list[prehash.PartHashes] = []

    class Recorded(prehash.PartHashes):
        def start(self) -> prehash.PartHashes:
            made.append(self)
            return super().start()

    monkeypatch.setattr(launch, "PartHashes", Recorded)
    monkeypatch.setattr(prehash, "PartHashes", Recorded)
    return made


def test_verify_adopts_the_thread_started_before_the_parser(
    tmp_path: Path, started: list[prehash.PartHashes], capsys: pytest.CaptureFixture[str]
) -> None:
    code = launch.main(["verify", str(tmp_path), "--json"])
    assert code == 1 and "bundle.yaml not found" in capsys.readouterr().err  # an empty dir
    assert [h.directory for h in started] == [str(tmp_path)]  # one thread, not a second
    assert not started[0]._thread.is_alive() and launch._early is None


def test_a_thread_the_command_never_adopts_is_stopped_when_main_ends(
    tmp_path: Path, started: list[prehash.PartHashes]
) -> None:
    with pytest.raises(SystemExit):  # argparse refuses the option before verify runs
        launch.main(["verify", str(tmp_path), "--no-such-option"])
    assert len(started) == 1 and not started[0]._thread.is_alive()
    assert launch._early is None


@pytest.mark.parametrize(
    "words",
    [
        ["import", "{d}", "--registry", "r.local:5000", "--no-verify"],  # nothing to hash
        ["import", "{d}", "--receipt-dir", "{d}/r", "--registry", "r.local:5000"],  # two dirs
        ["snippet", "--registry", "r.local:5000", "--bundle", "{d}"],  # not a hashing command
        ["verify", "{d}/missing"],  # no such directory
    ],
)
def test_no_early_thread_when_the_words_do_not_name_one_bundle(
    tmp_path: Path, started: list[prehash.PartHashes], words: list[str]
) -> None:
    (tmp_path / "r").mkdir()
    assert launch._start_early([w.format(d=tmp_path) for w in words]) is None
    assert started == []


def test_adopt_takes_the_same_directory_by_another_spelling(
    tmp_path: Path, started: list[prehash.PartHashes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setattr(launch, "_early", launch._start_early(["verify", tmp_path.name]))
    try:
        assert launch.adopt_early(tmp_path / "..") is None
        adopted = launch.adopt_early(tmp_path.resolve())
        assert adopted is started[0] and launch._early is None
    finally:
        for hashes in started:
            hashes.close()
