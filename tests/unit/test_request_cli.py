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


def test_check_looks_for_an_image_outside_the_prefix_where_import_puts_it() -> None:
    from airgap_tui.catalog.templates import images_from_templates, read_templates_dir
    from airgap_tui.cli.check import _repositories

    (outside,) = images_from_templates(read_templates_dir(FIXTURES / "outside-prefix"))
    assert _repositories("mirror", outside) == [
        "mirror/security-products/dast-runner-validation",  # a custom image: its path
        "mirror/dast-runner-validation",  # the catalog's path, from the default source
    ]
    (under,) = [
        i
        for i in images_from_templates(read_templates_dir(FIXTURES / "17"))
        if i.job == "semgrep-sast"
    ]
    assert _repositories("", under) == ["semgrep"]


@pytest.mark.parametrize("major", ["15", "16", "17", "18"])
def test_request_gives_what_each_majors_real_templates_pull(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, major: str
) -> None:
    from tests.unit.test_templates import EXPECTED

    out_file = tmp_path / "request.json"
    code, _, err = run(
        capsys, "request", "--templates", str(FIXTURES / major), "--all-opt-in",
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    images = json.loads(out_file.read_text())["images"]
    got = {(i["job"], f"{i['name']}:{i['tag']}", i["opt_in"]) for i in images}
    assert got == EXPECTED[major]


def test_neither_source_falls_back_to_the_catalog_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No templates and no URL: the built-in catalog, and the request says where it came from."""
    from airgap_tui.catalog.load import load_catalog

    out_file = tmp_path / "r.json"
    code, out, err = run(capsys, "request", "--gitlab", "17", "--out", str(out_file))
    assert code == 0, err
    assert "not read from the instance" in out
    data = json.loads(out_file.read_text())
    assert data["source"] == "built-in catalog (GitLab 17)"
    catalog = load_catalog()
    defaults = {
        (a.path, a.tag)
        for a in catalog.analyzers(17)
        if a.default and not a.removed and not a.enable and a.tag
    }
    assert {(i["name"], i["tag"]) for i in data["images"]} == defaults
    assert all(i["template"] == "built-in catalog" for i in data["images"])
    opt_ins = {a.enable[0][0] for a in catalog.analyzers(17) if a.enable and not a.removed}
    assert {i["opt_in"] for i in data["left_out"]} <= opt_ins


def test_request_carries_tags_no_release_has(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A GitLab released after this tool: its templates' tags are what the request names."""
    import re

    templates = tmp_path / "templates"
    for source in (FIXTURES / "18").rglob("*.gitlab-ci.yml"):
        target = templates / source.relative_to(FIXTURES / "18")
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        # every pinned major (variables and the v2 template's input) becomes 91: no release has it
        text = re.sub(r"(_VERSION|_IMAGE_TAG): ['\"]?\d+['\"]?", r'\1: "91"', text)
        text = re.sub(r'(analyzer_image_version:\s+type: string\s+default: )"\d+"', r'\1"91"', text)
        target.write_text(text)
    out_file = tmp_path / "r.json"
    code, _, err = run(capsys, "request", "--templates", str(templates), "--out", str(out_file))
    assert code == 0, err
    tags = {i["tag"] for i in json.loads(out_file.read_text())["images"]}
    assert tags == {"91"}, tags


def test_snippet_from_the_instance_s_own_templates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`snippet --templates DIR`: the same lines the wizard's request flow writes, from GitLab
    17's real templates (container scanning reads its own image variable, not the prefix)."""
    from airgap_tui.catalog.request import select_images
    from airgap_tui.catalog.template_snippet import render_template_snippet
    from airgap_tui.catalog.templates import evaluate_templates, read_templates_dir

    registry = "registry.local:5000/analyzers"
    out_file = tmp_path / "ci.yml"
    code, out, err = run(
        capsys, "snippet", "--registry", registry, "--templates", str(FIXTURES / "17"),
        "--opt-in", "GITLAB_ADVANCED_SAST_ENABLED", "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert f'SECURE_ANALYZERS_PREFIX: "{registry}"' in out
    assert f'CS_ANALYZER_IMAGE: "{registry}/container-scanning:' in out
    assert 'GITLAB_ADVANCED_SAST_ENABLED: "true"' in out
    sources = read_templates_dir(FIXTURES / "17")
    requested, _ = select_images(
        list(evaluate_templates(sources).images), opt_in=["GITLAB_ADVANCED_SAST_ENABLED"]
    )
    assert out == render_template_snippet(registry, sources, requested)  # the wizard's text
    assert out_file.read_text() == out

    code, _, err = run(
        capsys, "snippet", "--registry", registry, "--templates", str(FIXTURES / "17"),
        "semgrep",
    )  # fmt: skip
    assert code == 2 and "give one of analyzer names and --templates, not both" in err
