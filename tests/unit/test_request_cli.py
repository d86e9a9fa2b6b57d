"""`request`, `check` and `--request`: exit 2 with one sentence for bad input, before any
network; the request written from the real templates holds what they pull."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airgap_tui.cli.commands import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_request_from_the_real_18_templates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "request.json"
    code, out, err = run(
        capsys, "request", "--templates", str(FIXTURES / "18"), "--out", str(out_file)
    )
    assert code == 0, err
    assert "semgrep:6" in out and "runs only with GITLAB_ADVANCED_SAST_ENABLED set" in out
    data = json.loads(out_file.read_text())
    assert {(i["name"], i["tag"]) for i in data["images"]} == {
        ("dependency-scanning", "1"),
        ("kics", "6"),
        ("pmd-apex", "6"),
        ("semgrep", "6"),
        ("sobelow", "6"),
        ("spotbugs", "5"),
        ("api-security", "5"),
    }
    assert {i["opt_in"] for i in data["left_out"]} == {
        "GITLAB_ADVANCED_SAST_ENABLED",
        "SCAN_KUBERNETES_MANIFESTS",
    }
    code, _, err = run(
        capsys, "request", "--templates", str(FIXTURES / "18"), "--all-opt-in", "--fips",
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out_file.read_text())
    assert data["fips"] and data["left_out"] == []
    assert ("api-security", "5-fips") in {(i["name"], i["tag"]) for i in data["images"]}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["request", "--out", "r.json"], "neither --templates DIR nor --gitlab-url"),
        (
            ["request", "--templates", "t", "--gitlab-url", "https://g", "--out", "r.json"],
            "two sources",
        ),
        (["request", "--templates", "missing-dir", "--out", "r.json"], "does not exist"),
        (["check", "--registry", "127.0.0.1:1", "--templates", "missing-dir"], "does not exist"),
        (["export", "--to", "b"], "no images were chosen"),
        (["export", "semgrep", "--request", "r.json", "--to", "b"], "already names every image"),
        (["estimate", "--request", "missing.json"], "does not exist"),
    ],
)
def test_bad_input_is_exit_2_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_hostile_templates_name_the_file_and_the_job(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "Jobs").mkdir()
    (tmp_path / "Jobs" / "SAST.gitlab-ci.yml").write_text(
        "variables:\n  A: $A-again\nsemgrep-sast:\n  image: $SECURE_ANALYZERS_PREFIX/x:$A\n"
    )
    code, _, err = run(
        capsys, "request", "--templates", str(tmp_path), "--out", str(tmp_path / "r.json")
    )
    assert code == 2
    assert "Jobs/SAST.gitlab-ci.yml" in err and "semgrep-sast" in err and "refers to itself" in err
    assert not (tmp_path / "r.json").exists()
