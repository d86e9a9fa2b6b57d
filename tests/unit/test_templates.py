"""The template evaluator against GitLab's real templates (vendored whole, per major)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airgap_tui.catalog.template_model import TemplateError
from airgap_tui.catalog.templates import (
    evaluate_templates,
    images_from_templates,
    is_security_template,
    read_templates_dir,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates"


def _refs(major: str, *, fips: bool = False) -> set[tuple[str, str, str | None]]:
    images = images_from_templates(read_templates_dir(FIXTURES / major), fips=fips)
    return {(i.job, i.reference, i.opt_in) for i in images}


# What each major's templates request, read off the vendored files' SOURCES notes
# (the release's bump of each analyzer). Stubs of removed analyzers are absent.
EXPECTED = {
    "15": {
        ("container_scanning", "container-scanning:5", None),
        ("brakeman-sast", "brakeman:3", None),
        ("flawfinder-sast", "flawfinder:3", None),
        ("kubesec-sast", "kubesec:3", "SCAN_KUBERNETES_MANIFESTS"),
        ("mobsf-android-sast", "mobsf:3", "SAST_EXPERIMENTAL_FEATURES"),
        ("mobsf-ios-sast", "mobsf:3", "SAST_EXPERIMENTAL_FEATURES"),
        ("nodejs-scan-sast", "nodejs-scan:3", None),
        ("phpcs-security-audit-sast", "phpcs-security-audit:3", None),
        ("pmd-apex-sast", "pmd-apex:3", None),
        ("security-code-scan-sast", "security-code-scan:3", None),
        ("semgrep-sast", "semgrep:3", None),
        ("sobelow-sast", "sobelow:3", None),
        ("spotbugs-sast", "spotbugs:3", None),
        ("secret_detection", "secrets:4", None),
        ("dast", "dast:3", None),
        ("dast_api", "api-security:2", None),
        ("license_scanning", "license-finder:4", None),
    },
    "16": {
        ("gemnasium-dependency_scanning", "gemnasium:4", None),
        ("gemnasium-maven-dependency_scanning", "gemnasium-maven:4", None),
        ("gemnasium-python-dependency_scanning", "gemnasium-python:4", None),
    },
    "17": {
        ("container_scanning", "container-scanning:7", None),
        ("gemnasium-dependency_scanning", "gemnasium:5", None),
        ("gemnasium-maven-dependency_scanning", "gemnasium-maven:5", None),
        ("gemnasium-python-dependency_scanning", "gemnasium-python:5", None),
        ("kics-iac-sast", "kics:5", None),
        ("gitlab-advanced-sast", "gitlab-advanced-sast:1", "GITLAB_ADVANCED_SAST_ENABLED"),
        ("kubesec-sast", "kubesec:5", "SCAN_KUBERNETES_MANIFESTS"),
        ("pmd-apex-sast", "pmd-apex:5", None),
        ("semgrep-sast", "semgrep:5", None),
        ("sobelow-sast", "sobelow:5", None),
        ("spotbugs-sast", "spotbugs:5", None),
        ("api_security", "api-security:5", None),
        ("dast", "dast:5", None),
    },
    "18": {
        ("dependency-scanning", "dependency-scanning:1", None),
        ("kics-iac-sast", "kics:6", None),
        ("gitlab-advanced-sast", "gitlab-advanced-sast:2", "GITLAB_ADVANCED_SAST_ENABLED"),
        ("kubesec-sast", "kubesec:6", "SCAN_KUBERNETES_MANIFESTS"),
        ("pmd-apex-sast", "pmd-apex:6", None),
        ("semgrep-sast", "semgrep:6", None),
        ("sobelow-sast", "sobelow:6", None),
        ("spotbugs-sast", "spotbugs:5", None),
        ("api_security", "api-security:5", None),
    },
}


@pytest.mark.parametrize("major", sorted(EXPECTED))
def test_real_templates_give_the_images_each_major_requests(major: str) -> None:
    assert _refs(major) == EXPECTED[major]


def test_every_vendored_template_names_its_source() -> None:
    for sources in FIXTURES.glob("*/SOURCES"):
        listed = {
            line.split(" | ")[0]
            for line in sources.read_text().splitlines()
            if line and not line.startswith("#")
        }
        on_disk = {p.relative_to(sources.parent).as_posix() for p in sources.parent.rglob("*.yml")}
        assert listed == on_disk, sources
        for line in sources.read_text().splitlines():
            if line and not line.startswith("#"):
                _file, repo, path, commit, why = line.split(" | ")
                assert "/" in repo and path.startswith("lib/gitlab/ci/templates/")
                assert len(commit) == 40 and int(commit, 16) >= 0 and why


def test_fips_gives_the_suffix_each_job_adds_on_a_fips_instance() -> None:
    plain = {i.job: i for i in images_from_templates(read_templates_dir(FIXTURES / "17"))}
    fips = {i.job: i for i in images_from_templates(read_templates_dir(FIXTURES / "17"), fips=True)}
    # A *_IMAGE_SUFFIX set under a rule on $CI_GITLAB_FIPS_MODE, or container scanning's -fips.
    for job in (
        "container_scanning",
        "gemnasium-dependency_scanning",
        "gemnasium-maven-dependency_scanning",
        "gemnasium-python-dependency_scanning",
        "api_security",
        "dast",
    ):
        assert fips[job].tag == plain[job].tag + "-fips" and fips[job].fips, job
        assert not plain[job].fips
    # Jobs without a FIPS rule pull the same image on a FIPS instance, and say so.
    for job in ("kics-iac-sast", "semgrep-sast", "spotbugs-sast"):
        assert fips[job].tag == plain[job].tag and not fips[job].fips, job


def test_container_scanning_adds_no_second_fips_suffix() -> None:
    """17.x Jobs/Container-Scanning: the FIPS rule also says `$CS_ANALYZER_IMAGE !~
    /-(fips|ubi)\\z/`, so an image pinned as -fips (or -ubi) is pulled as it is."""
    sources = read_templates_dir(FIXTURES / "17")
    name = "Jobs/Container-Scanning.gitlab-ci.yml"
    for pinned in ("container-scanning:7-fips", "container-scanning:7-ubi"):
        line = 'CS_ANALYZER_IMAGE: "$CI_TEMPLATE_REGISTRY_HOST/security-products/'
        pinned_text = sources[name].replace(f'{line}container-scanning:7"', f'{line}{pinned}"')
        assert pinned_text != sources[name], "the fixture's CS_ANALYZER_IMAGE line moved"
        images = images_from_templates({**sources, name: pinned_text}, fips=True)
        (scan,) = [i for i in images if i.job == "container_scanning"]
        assert scan.reference == pinned and not scan.fips


def test_analyzer_prefix_and_template_host_are_the_same_prefix() -> None:
    images = images_from_templates(read_templates_dir(FIXTURES / "15"))
    by_job = {i.job: i for i in images}
    # SECURE_ANALYZERS_PREFIX defaults to a literal registry in 15's secrets template, to
    # $CI_TEMPLATE_REGISTRY_HOST/security-products elsewhere; CS_ANALYZER_IMAGE writes the
    # host path out. All three are the analyzer prefix.
    for job in ("secret_detection", "semgrep-sast", "container_scanning", "dast"):
        assert by_job[job].under_prefix and by_job[job].note is None, job
        assert "/" not in by_job[job].name and "registry" not in by_job[job].name


def test_an_image_outside_the_prefix_is_reported_with_what_to_do() -> None:
    (image,) = images_from_templates(read_templates_dir(FIXTURES / "outside-prefix"))
    assert not image.under_prefix
    assert image.name == "registry.gitlab.com/security-products/dast-runner-validation"
    assert image.tag == "1" and image.job == "validation"
    assert image.note is not None
    assert "SECURE_ANALYZERS_PREFIX does not move it" in image.note
    assert "override the job's image" in image.note


def test_included_template_jobs_belong_to_the_file_that_defines_them() -> None:
    evaluation = evaluate_templates(read_templates_dir(FIXTURES / "15"))
    assert "Security/Secret-Detection.gitlab-ci.yml" in evaluation.templates
    secrets = [i for i in evaluation.images if i.job == "secret_detection"]
    assert [i.template for i in secrets] == ["Jobs/Secret-Detection.gitlab-ci.yml"]


def test_a_missing_include_names_both_files() -> None:
    sources = read_templates_dir(FIXTURES / "15")
    del sources["Jobs/Secret-Detection.gitlab-ci.yml"]
    with pytest.raises(TemplateError) as caught:
        images_from_templates(sources)
    text = str(caught.value)
    assert "Security/Secret-Detection.gitlab-ci.yml" in text
    assert "Jobs/Secret-Detection.gitlab-ci.yml" in text
    assert "whole" in text


def test_security_templates_are_chosen_from_a_whole_templates_tree() -> None:
    assert is_security_template("Jobs/SAST.gitlab-ci.yml")
    assert is_security_template("Jobs/Dependency-Scanning.v2.gitlab-ci.yml")
    assert is_security_template("Security/DAST.gitlab-ci.yml")
    assert is_security_template("DAST.gitlab-ci.yml")
    assert not is_security_template("Jobs/SAST.latest.gitlab-ci.yml")
    assert not is_security_template("Jobs/Build.gitlab-ci.yml")
    assert not is_security_template("Security/Secure-Binaries.gitlab-ci.yml")
    assert not is_security_template("Python.gitlab-ci.yml")
    sources = read_templates_dir(FIXTURES / "17")
    sources["Python.gitlab-ci.yml"] = "image: python:latest\ntest:\n  script: [pytest]\n"
    sources["Jobs/Build.gitlab-ci.yml"] = "build:\n  image: docker:20\n  script: [x]\n"
    assert {(i.job, i.reference, i.opt_in) for i in images_from_templates(sources)} == (
        EXPECTED["17"]
    )


# ---------------------------------------------------------------------------------------------
# New tags: templates newer than any release this tool knows


def test_tags_no_release_has_come_from_the_templates(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    for src in (FIXTURES / "18").rglob("*.yml"):
        dest = root / src.relative_to(FIXTURES / "18")
        dest.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text()
        text = text.replace("SAST_ANALYZER_IMAGE_TAG: 6", "SAST_ANALYZER_IMAGE_TAG: 42")
        text = text.replace("SAST_ANALYZER_IMAGE_TAG: '2'", "SAST_ANALYZER_IMAGE_TAG: '31'")
        text = text.replace('APISEC_VERSION: "5"', 'APISEC_VERSION: "77"')
        text = text.replace(
            'default: "1"\n      description: "The version',
            'default: "19.3"\n      description: "The version',
        )
        dest.write_text(text)
    refs = {(i.job, i.reference) for i in images_from_templates(read_templates_dir(root))}
    assert ("semgrep-sast", "semgrep:42") in refs
    assert ("kics-iac-sast", "kics:42") in refs
    assert ("gitlab-advanced-sast", "gitlab-advanced-sast:31") in refs
    assert ("api_security", "api-security:77") in refs
    assert ("dependency-scanning", "dependency-scanning:19.3") in refs
    assert ("spotbugs-sast", "spotbugs:5") in refs  # untouched lines keep their tag


# ---------------------------------------------------------------------------------------------
# GitLab CI semantics the templates rely on


def _one(text: str, *, fips: bool = False, name: str = "Jobs/SAST.gitlab-ci.yml") -> dict:
    images = images_from_templates({name: text}, fips=fips)
    return {i.job: i for i in images}


def test_extends_merges_several_parents_in_gitlabs_order() -> None:
    text = """
variables:
  TAG: "1"
.a:
  image: "$SECURE_ANALYZERS_PREFIX/from-a:$TAG"
  variables:
    TAG: "2"
    ONLY_A: "a"
.b:
  extends: .base
  variables:
    TAG: "3"
.base:
  image: {name: "$SECURE_ANALYZERS_PREFIX/from-base:$TAG-$ONLY_A"}
both:
  extends: [.a, .b]
own:
  extends: [.b, .a]
  variables:
    TAG: "9"
"""
    jobs = _one(text)
    # the last parent wins, and the job itself wins over every parent
    assert jobs["both"].reference == "from-base:3-a"
    assert jobs["own"].reference == "from-a:9"


def test_variable_forms_and_escapes() -> None:
    text = """
variables:
  NAME: {value: "semgrep", description: "the analyzer"}
  MAJOR: 7
  BRACED: "${MAJOR}"
job:
  image: "${SECURE_ANALYZERS_PREFIX}/$NAME:${BRACED}$UNSET"
  script: ["echo $$HOME"]
"""
    assert _one(text)["job"].reference == "semgrep:7"


def test_reference_tags_load_and_resolve() -> None:
    text = """
.shared:
  variables:
    IMAGE_TAG: "4"
  rules:
    - if: $CI_COMMIT_BRANCH
job:
  image: $SECURE_ANALYZERS_PREFIX/x:$IMAGE_TAG
  variables: !reference [.shared, variables]
  rules:
    - !reference [.shared, rules]
    - if: $NEVER
      exists: !reference [.missing, exists]
"""
    assert _one(text)["job"].reference == "x:4"


def test_a_job_whose_only_rule_is_never_is_left_out_and_opt_ins_are_named() -> None:
    text = """
variables:
  FEATURE_ON: "false"
  DEFAULT_ON: "true"
stub:
  image: $SECURE_ANALYZERS_PREFIX/stub:1
  rules:
    - when: never
opt:
  image: $SECURE_ANALYZERS_PREFIX/opt:1
  rules:
    - if: $DISABLED
      when: never
    - if: $CI_COMMIT_BRANCH && $FEATURE_ON == 'true'
on_by_default:
  image: $SECURE_ANALYZERS_PREFIX/on:1
  rules:
    - if: $CI_COMMIT_BRANCH && $DEFAULT_ON == 'true'
plain:
  image: $SECURE_ANALYZERS_PREFIX/plain:1
  rules:
    - if: $DISABLED
      when: never
    - if: $CI_COMMIT_BRANCH
"""
    jobs = _one(text)
    assert "stub" not in jobs
    assert jobs["opt"].opt_in == "FEATURE_ON"
    assert jobs["on_by_default"].opt_in is None
    assert jobs["plain"].opt_in is None


def test_spec_inputs_from_an_include_override_the_defaults() -> None:
    sources = {
        "Jobs/Dependency-Scanning.v2.gitlab-ci.yml": (
            FIXTURES / "18" / "Jobs" / "Dependency-Scanning.v2.gitlab-ci.yml"
        ).read_text(),
        "Security/Dependency-Scanning.gitlab-ci.yml": (
            "include:\n  - template: Jobs/Dependency-Scanning.v2.gitlab-ci.yml\n"
            "    inputs:\n      job_name: ds-pinned\n      analyzer_image_version: '3'\n"
        ),
    }
    refs = {(i.template, i.job, i.reference) for i in images_from_templates(sources)}
    assert (
        "Jobs/Dependency-Scanning.v2.gitlab-ci.yml",
        "ds-pinned",
        "dependency-scanning:3",
    ) in refs
    assert (
        "Jobs/Dependency-Scanning.v2.gitlab-ci.yml",
        "dependency-scanning",
        "dependency-scanning:1",
    ) in refs


def test_an_image_a_user_variable_must_complete_is_skipped_with_why() -> None:
    text = "job:\n  image: $SECURE_ANALYZERS_PREFIX/$ANALYZER_SET_BY_USER:1\n"
    evaluation = evaluate_templates({"Jobs/SAST.gitlab-ci.yml": text})
    assert evaluation.images == ()
    (why,) = evaluation.skipped
    assert "job job" in why and "not an image reference" in why


# ---------------------------------------------------------------------------------------------
# Hostile input: a clear error naming the file and the job, no traceback, bounded


def _error(sources: dict[str, str]) -> str:
    with pytest.raises(TemplateError) as caught:
        images_from_templates(sources)
    return str(caught.value)


def test_a_file_that_is_not_yaml() -> None:
    text = _error({"Jobs/SAST.gitlab-ci.yml": "job: [unclosed\n  image: x\n"})
    assert "Jobs/SAST.gitlab-ci.yml" in text and "not valid YAML" in text and "line" in text


def test_a_file_that_is_yaml_but_not_a_mapping() -> None:
    text = _error({"Jobs/SAST.gitlab-ci.yml": "- just\n- a list\n"})
    assert "Jobs/SAST.gitlab-ci.yml" in text and "not a mapping" in text


def test_a_variable_that_refers_to_itself() -> None:
    text = _error(
        {
            "Jobs/SAST.gitlab-ci.yml": (
                "variables:\n  A: '$B'\n  B: 'x$A'\n"
                "loop-job:\n  image: $SECURE_ANALYZERS_PREFIX/x:$A\n"
            )
        }
    )
    assert "Jobs/SAST.gitlab-ci.yml" in text and "loop-job" in text
    assert "refers to itself" in text and "A -> B -> A" in text


def test_a_variable_that_doubles_until_it_is_huge() -> None:
    lines = ["variables:", "  V0: '" + "x" * 1000 + "'"]
    lines += [f"  V{i}: '$V{i - 1}$V{i - 1}'" for i in range(1, 31)]
    lines += ["big:", "  image: $SECURE_ANALYZERS_PREFIX/x:$V30"]
    text = _error({"Jobs/SAST.gitlab-ci.yml": "\n".join(lines) + "\n"})
    assert "big" in text and "KiB" in text


def test_variables_that_fan_out_without_growing_are_bounded() -> None:
    fan = "$B" * 1000
    lines = ["variables:", f"  A: '{fan}'", f"  B: '{fan.replace('B', 'C')}'", "  C: ''"]
    lines += ["fan:", "  image: $SECURE_ANALYZERS_PREFIX/x:1$A"]
    text = _error({"Jobs/SAST.gitlab-ci.yml": "\n".join(lines) + "\n"})
    assert "job fan" in text and "variable lookups" in text


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    jobs = tmp_path / "Jobs"
    jobs.mkdir()
    with open(jobs / "SAST.gitlab-ci.yml", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB of size without 50 MB of disk
    with pytest.raises(TemplateError) as caught:
        read_templates_dir(tmp_path)
    assert "Jobs/SAST.gitlab-ci.yml" in str(caught.value) and "50.0 MiB" in str(caught.value)
    text = _error({"Jobs/SAST.gitlab-ci.yml": "#" * (50 * 1024 * 1024)})
    assert "Jobs/SAST.gitlab-ci.yml" in text and "MiB" in text


def test_an_extends_chain_10000_long() -> None:
    lines = ["job-0:", "  extends: .j1", "  image: $SECURE_ANALYZERS_PREFIX/x:1"]
    for i in range(1, 10_000):
        lines += [f".j{i}:", f"  extends: .j{i + 1}"]
    lines += [".j10000:", "  script: [x]"]
    text = _error({"Jobs/SAST.gitlab-ci.yml": "\n".join(lines) + "\n"})
    assert "Jobs/SAST.gitlab-ci.yml" in text and "job job-0" in text and "deeper than 11" in text


def test_an_extends_loop_and_an_unknown_parent() -> None:
    text = _error(
        {"Jobs/SAST.gitlab-ci.yml": "a:\n  extends: .b\n.b:\n  extends: a\n  image: x:1\n"}
    )
    assert "job a" in text and "loops" in text and "a -> .b -> a" in text
    text = _error({"Jobs/SAST.gitlab-ci.yml": "a:\n  extends: .nowhere\n  image: x:1\n"})
    assert "job a" in text and ".nowhere" in text


def test_yaml_alias_bomb_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    lines += ["job:", "  image: x:1", "  variables:", "    BOMB: *a9"]
    text = _error({"Jobs/SAST.gitlab-ci.yml": "\n".join(lines) + "\n"})
    assert "Jobs/SAST.gitlab-ci.yml" in text and "YAML" in text


def test_deep_nesting_is_refused() -> None:
    text = _error({"Jobs/SAST.gitlab-ci.yml": "a: " + "[" * 5000 + "]" * 5000 + "\n"})
    assert "Jobs/SAST.gitlab-ci.yml" in text and "nests deeper" in text


def test_an_unknown_tag_is_refused() -> None:
    text = _error({"Jobs/SAST.gitlab-ci.yml": "a: !!python/object:os.system [ls]\n"})
    assert "Jobs/SAST.gitlab-ci.yml" in text and "not valid YAML" in text


def test_templates_dir_errors_name_the_path(tmp_path: Path) -> None:
    for path, cause in (
        (tmp_path / "nope", "does not exist"),
        (tmp_path, "no *.yml"),
    ):
        with pytest.raises(TemplateError) as caught:
            read_templates_dir(path)
        assert str(path) in str(caught.value) and cause in str(caught.value)
        assert "lib/gitlab/ci/templates" in str(caught.value)
    (tmp_path / "file.yml").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(TemplateError) as caught:
        read_templates_dir(tmp_path)
    assert "file.yml" in str(caught.value) and "UTF-8" in str(caught.value)
    with pytest.raises(TemplateError) as caught:
        read_templates_dir(tmp_path / "file.yml")
    assert "not a directory" in str(caught.value)


def test_templates_dir_skips_links_and_other_files(tmp_path: Path) -> None:
    (tmp_path / "Jobs").mkdir()
    (tmp_path / "Jobs" / "SAST.gitlab-ci.yml").write_text("a:\n  image: x:1\n")
    (tmp_path / "README.md").write_text("not a template")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yml"
    outside.write_text("secret: 1\n")
    (tmp_path / "Jobs" / "Link.gitlab-ci.yml").symlink_to(outside)
    assert read_templates_dir(tmp_path) == {"Jobs/SAST.gitlab-ci.yml": "a:\n  image: x:1\n"}


def test_whole_files_hold_every_line_of_the_excerpts_read_at_the_same_commit() -> None:
    """tests/fixtures/templates/ holds verbatim excerpts read independently: wherever one names
    the same repository, path and commit as a whole file here, its lines are the file's lines."""
    excerpts = FIXTURES.parent / "templates"
    whole: dict[tuple[str, str, str], Path] = {}
    for sources in FIXTURES.glob("*/SOURCES"):
        for line in sources.read_text().splitlines():
            if line and not line.startswith("#"):
                file, repo, path, commit, _why = line.split(" | ")
                whole[(repo, path, commit)] = sources.parent / file
    matched = 0
    for excerpt in sorted(excerpts.glob("*/*.yml")):
        lines = excerpt.read_text().splitlines()
        header = {
            k.strip(): v.strip()
            for k, _, v in (x[1:].partition(":") for x in lines if x.startswith("# "))
            if k.strip() in ("repository", "path", "commit")
        }
        key = (header.get("repository"), header.get("path"), header.get("commit"))
        if key not in whole:
            continue
        matched += 1
        body = [x for x in lines if not x.startswith("#")]
        text = whole[key].read_text().splitlines()
        at = 0
        for line in body:  # in order, each line present
            at = text.index(line, at) + 1
    assert matched >= 15, matched  # 17 when written


def test_a_template_whose_input_has_no_default_is_skipped_with_why() -> None:
    text = (
        "spec:\n  inputs:\n    version:\n      type: string\n---\n"
        "job:\n  image: $SECURE_ANALYZERS_PREFIX/x:$[[ inputs.version ]]\n"
    )
    evaluation = evaluate_templates(
        {"Jobs/SAST.gitlab-ci.yml": text, "Jobs/SAST-IaC.gitlab-ci.yml": "k:\n  image: x:1\n"}
    )
    assert [i.reference for i in evaluation.images] == ["x:1"]
    (why,) = evaluation.skipped
    assert why.startswith("Jobs/SAST.gitlab-ci.yml:") and "'version'" in why


def test_security_templates_that_add_up_to_more_than_gitlab_ships_are_refused() -> None:
    job = "job:\n  image: x:1\n" + "# padding\n" * 90_000  # under the per-file cap
    sources = {f"Security/T{i}.gitlab-ci.yml": job for i in range(6)}
    text = _error(sources)
    assert "6 security templates" in text and "MiB" in text
