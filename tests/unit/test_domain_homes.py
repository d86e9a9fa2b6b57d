"""Things both fronts need, kept in the domain: finding bundles, writing the snippet file, the
atomic streaming write the inventory uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from airgap_tui.bundle.atomic import atomic_write_stream
from airgap_tui.bundle.find import find_bundles
from airgap_tui.catalog.snippet import save_snippet
from airgap_tui.cli.commands import main
from airgap_tui.errors import MediaError


def test_find_bundles_on_a_drive(tmp_path: Path) -> None:
    for name in ("b", "a", "c"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "bundle.yaml").write_text("x")
    (tmp_path / "c" / "bundle.yaml").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert find_bundles(tmp_path) == [tmp_path / "a", tmp_path / "c"]
    assert find_bundles(tmp_path, limit=1) == [tmp_path / "a"]
    assert find_bundles(tmp_path / "a") == [tmp_path / "a"]  # pointed at the bundle itself
    assert find_bundles(tmp_path / "missing") == []


def test_save_snippet_never_replaces_without_being_asked(tmp_path: Path) -> None:
    target = tmp_path / "ci" / "vars.yml"
    assert save_snippet(target, "one\n", overwrite=False) is True
    assert save_snippet(target, "two\n", overwrite=False) is False
    assert target.read_text() == "one\n"
    assert save_snippet(target, "two\n", overwrite=True) is True
    assert target.read_text() == "two\n"
    assert not target.with_name("vars.yml.part").exists()


def test_save_snippet_names_the_file_when_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MediaError) as err:
        save_snippet(blocker / "vars.yml", "x", overwrite=False)
    assert str(blocker / "vars.yml") in err.value.what


def test_atomic_stream_leaves_nothing_when_the_source_fails(tmp_path: Path) -> None:
    def chunks() -> object:
        yield b"first"
        raise MediaError("source", "stopped half way")

    target = tmp_path / "out.json"
    with pytest.raises(MediaError):
        atomic_write_stream(target, chunks())  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    digest = atomic_write_stream(target, [b"a", b"b"])
    assert target.read_bytes() == b"ab"
    assert digest == "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603"


def test_cli_snippet_out_writes_the_file_and_refuses_to_replace_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vars.yml"
    argv = ["snippet", "--registry", "r.local:5000/a", "semgrep", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert out.read_text() == printed
    assert "SECURE_ANALYZERS_PREFIX" in printed
    out.write_text("mine\n")
    assert main(argv) == 2
    assert "exists already" in capsys.readouterr().err
    assert out.read_text() == "mine\n"
    assert main([*argv, "--force"]) == 0
    assert out.read_text() == printed
