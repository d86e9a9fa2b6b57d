"""The CLI's contract with scripts: exit codes, --json keys, one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from airgap_tui.cli.commands import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_catalog_json_lists_tags_for_the_chosen_major(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "--gitlab", "17", "--json")
    assert code == 0
    data = json.loads(out)
    tags = {a["name"]: a["tag"] for a in data["analyzers"]}
    assert data["gitlab"] == 17 and tags["semgrep"] == "5" and tags["secrets"] == "6"


def test_unknown_major_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "catalog", "--gitlab", "3")
    assert code == 2
    assert "GitLab major 3" in err and "Use one of" in err


def test_unknown_analyzer_is_exit_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "snippet", "--registry", "reg.local:5000/x", "semgrp")
    assert code == 2
    assert "semgrp" in err and "semgrep" in err


def test_snippet_for_named_analyzers_parses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "snippet", "--registry", "reg.local:5000/x", "semgrep", "secrets")
    assert code == 0
    assert yaml.safe_load(out)["variables"]["SECURE_ANALYZERS_PREFIX"] == "reg.local:5000/x"


def test_bad_registry_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "snippet", "--registry", "http://bad host/x", "semgrep")
    assert code == 2 and "Registry" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["export", "semgrep"])  # --to is required
    assert exc.value.code == 2
    assert "--to" in capsys.readouterr().err


def test_no_command_without_a_terminal_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "no terminal" in err


def test_verify_of_an_empty_directory_names_the_missing_manifest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "verify", str(tmp_path), "--json")
    assert code == 1
    assert "bundle.yaml" in err
    assert json.loads(out)["ok"] is False


def test_password_stdin_needs_a_username(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "import", str(tmp_path), "--registry", "r.local:5000", "--password-stdin"
    )
    assert code == 2 and "--username" in err


def test_help_says_what_the_tool_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "one subcommand = one domain call" not in out  # the module's comment, not help
    assert out.split("\n\n")[1].startswith("Move GitLab's security-scanner images")
    assert "--source-prefix P" in out and "opens the wizard" in out


@pytest.mark.parametrize(
    ("argv", "see"),
    [(["estimat"], "`airgap-tui --help`"), (["export", "semgrep"], "`airgap-tui export --help`")],
)
def test_a_usage_error_points_at_the_right_help(
    capsys: pytest.CaptureFixture[str], argv: list[str], see: str
) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err
    assert f"See {see}." in err and "airgap-tui airgap-tui" not in err


class OpenedWizard:
    """Stands in for the terminal wizard: records what it was opened with."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def __call__(self, **options: object) -> int:
        self.calls.append(options)
        return 0


@pytest.fixture
def wizard(monkeypatch: pytest.MonkeyPatch) -> OpenedWizard:
    opened = OpenedWizard()
    monkeypatch.setattr("airgap_tui.tui.app.run_wizard", opened)
    monkeypatch.setattr("airgap_tui.cli.commands._has_terminal", lambda: True)
    return opened


def test_source_options_without_a_command_open_the_wizard_on_that_source(
    capsys: pytest.CaptureFixture[str], wizard: OpenedWizard
) -> None:
    mirror = "harbor.example.com/gitlab/security-products"
    code, _, err = run(
        capsys, "--source-prefix", mirror + "/", "--gitlab", "17", "--platform", "linux/arm64"
    )
    assert code == 0, err
    assert wizard.calls == [
        {"source_prefix": mirror, "gitlab_major": 17, "platform": "linux/arm64"}
    ]


def test_a_bad_source_is_refused_before_the_wizard_opens(
    capsys: pytest.CaptureFixture[str], wizard: OpenedWizard
) -> None:
    code, _, err = run(capsys, "--source-prefix", "security-products")
    assert code == 2 and wizard.calls == []
    assert "does not look like a registry host" in err


def test_wizard_options_before_a_command_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--source-prefix", "harbor.example.com/x", "catalog")
    assert code == 2
    assert "Put it after the command: airgap-tui catalog --source-prefix" in err
