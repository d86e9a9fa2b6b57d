"""The snippet's raw material: GitLab's variable and template names per analyzer and major, the
images chosen, and the snippet under construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from airgap_tui.catalog.catalog import Analyzer, split_fips

# Templates that run without per-project settings are real includes; DAST and API security need
# a target, so including them blind would fail the pipeline: they are written as comments.
_TEMPLATES: dict[str, str] = {
    "sast": "Jobs/SAST.gitlab-ci.yml",
    "secret-detection": "Jobs/Secret-Detection.gitlab-ci.yml",
    "dependency-scanning": "Jobs/Dependency-Scanning.gitlab-ci.yml",
    "container-scanning": "Jobs/Container-Scanning.gitlab-ci.yml",
    "iac": "Jobs/SAST-IaC.gitlab-ci.yml",
}


_DS_V2_IMAGE = "dependency-scanning"


_DS_V2_TEMPLATE = "Jobs/Dependency-Scanning.v2.gitlab-ci.yml"


_LICENSE_TEMPLATE = "Jobs/License-Scanning.gitlab-ci.yml"  # removed in 16.3 (#537016)


_GEMNASIUM = ("gemnasium", "gemnasium-maven", "gemnasium-python")


_CS_IMAGES = ("container-scanning", "container-scanning/trivy", "container-scanning/grype")


_TRIVY_JAVA_DB = "trivy-java-db"


# Images no template job runs from the prefix: used elsewhere, or only through inputs.
_NO_TEMPLATE_JOB = {"dast-runner-validation", _TRIVY_JAVA_DB}


# The v2 template's resolution jobs: (catalog name, job kind, include input for its image).
_RESOLUTION = (
    ("ds-resolution-maven", "maven", "maven_resolution_image"),
    ("ds-resolution-python", "python", "python_resolution_image"),
    ("ds-resolution-gradle", "gradle", "gradle_resolution_image"),
)


_RESOLUTION_NAMES = {name for name, _, _ in _RESOLUTION}


_DISABLED_RESOLUTION = "DS_DISABLED_RESOLUTION_JOBS"


# Variables read by an analyzer process rather than by a template (the job passes every global
# variable on). Evidence as in analyzers.yaml.
ANALYZER_VARIABLES: dict[str, str] = {
    "CS_TRIVY_JAVA_DB": (
        "the container-scanning analyzer, not the template (container-scanning MR 2930; CS docs "
        "17.x and 18.x, offline: Trivy Java DB mirror)"
    ),
}


# On a FIPS instance (CI_GITLAB_FIPS_MODE "true") these templates append -fips by rules of their
# own: container scanning (fixtures 15/ and 17/Jobs-Container-Scanning.yml), gemnasium (fixtures
# 16/ and 17/Jobs-Dependency-Scanning.yml), DAST from 16.0 (MR 117929; fixture 17/Security-DAST.yml)
# and API security (fixtures 15/ and 17/Security-DAST-API.yml, 17/Security-API-Security.yml).
FIPS_INSTANCE_WARNING = (
    'On a FIPS instance (CI_GITLAB_FIPS_MODE "true") GitLab\'s container scanning and '
    "dependency scanning templates add -fips to their images by themselves, so plain tags are "
    "never pulled there and those jobs fail: carry the -fips variants (snippet --fips)."
)


_FIPS_BY_RULE = {
    "container-scanning",
    "gemnasium",
    "gemnasium-maven",
    "gemnasium-python",
    "dast",
    "api-security",
}


# Whole-template version variables (reference section 3). The API security template and its
# APISEC_ variables replaced DAST-API / DAST_API_ in 17.1; the old names worked until 18.0
# (GitLab API security testing docs). API fuzzing reads FUZZAPI_VERSION throughout.
_SECRETS_PIN = "SECRETS_ANALYZER_VERSION"


_DAST_PIN = "DAST_VERSION"


_DS_PIN = "DS_MAJOR_VERSION"


_SAST_SUFFIX = "SAST_IMAGE_SUFFIX"


def _api_pins(major: int) -> list[str]:
    pins = ["APISEC_VERSION"] if major >= 17 else []
    if major <= 17:
        pins.append("DAST_API_VERSION")
    return [*pins, "FUZZAPI_VERSION"]


def fips_suffix_variables(name: str, major: int) -> tuple[str, ...]:
    """The template variables that append `-fips` to `name`'s image (empty: none does).

    SAST_IMAGE_SUFFIX reaches only semgrep, gitlab-advanced-sast and kics (the other SAST jobs
    build their image without it); container scanning uses CS_ANALYZER_IMAGE instead.
    """
    if name in ("semgrep", "gitlab-advanced-sast", "kics"):
        return (_SAST_SUFFIX,)
    if name == "secrets":
        return ("SECRET_DETECTION_IMAGE_SUFFIX",)
    if name in _GEMNASIUM:
        return ("DS_IMAGE_SUFFIX",)
    if name == "dast":  # the 15.x DAST template has no suffix (MR 117929 added it in 16.0)
        return ("DAST_IMAGE_SUFFIX",) if major >= 16 else ()
    if name == "api-security":
        found = ["APISEC_IMAGE_SUFFIX"] if major >= 17 else []
        if major <= 17:
            found.append("DAST_API_IMAGE_SUFFIX")
        return (*found, "FUZZAPI_IMAGE_SUFFIX")
    return ()


def _api_templates(major: int) -> list[str]:
    if major >= 18:
        security = "API-Security.gitlab-ci.yml  (needs the API to test)"
    elif major == 17:
        security = (
            "API-Security.gitlab-ci.yml  (17.1+, DAST-API.gitlab-ci.yml on 17.0; needs the API)"
        )
    else:
        security = "DAST-API.gitlab-ci.yml  (needs the API to test)"
    return [security, "Security/API-Fuzzing.gitlab-ci.yml  (API fuzzing, same image)"]


@dataclass
class _Chosen:
    """One pushed image and what GitLab `major` makes of it."""

    name: str
    tags: list[str]
    catalog_name: str | None  # None: a custom image
    category: str | None
    analyzer: Analyzer | None  # None: custom, or no catalog fact for this major
    inactive: str = ""  # why the templates of this major will not pull it

    @property
    def expected(self) -> str | None:
        """The tag GitLab `major`'s template requests, when the catalog knows it."""
        return self.analyzer.tag if self.analyzer and not self.inactive else None

    @property
    def wanted(self) -> tuple[str, ...]:
        """Every tag some template of this major requests (`expected` first)."""
        return self.analyzer.tags if self.analyzer and not self.inactive else ()

    @property
    def pushed(self) -> str:
        """The tag the snippet points at: one some template requests, if pushed."""
        for want in self.wanted:
            for tag in self.tags:
                if split_fips(tag)[0] == want:
                    return tag
        return self.tags[0]

    @property
    def other_template(self) -> str | None:
        """The template that requests `pushed` when that is not the main template's tag."""
        if self.analyzer is None or self.inactive or self.base == self.expected:
            return None
        return self.analyzer.template_for(self.base)

    @property
    def base(self) -> str:
        """`pushed` without `-fips`: what a version variable may hold."""
        return split_fips(self.pushed)[0]

    @property
    def fips(self) -> bool:
        return split_fips(self.pushed)[1]

    @property
    def matches(self) -> bool:
        return self.expected is not None and self.base == self.expected


@dataclass
class _Snippet:
    major: int
    reads: dict[str, str]
    defaults: dict[str, str] = field(default_factory=dict)  # what the templates set themselves
    includes: list[str] = field(default_factory=list)
    include_inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # template -> inputs
    commented_includes: list[str] = field(default_factory=list)
    variables: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value, why)
    unchecked: dict[str, tuple[str, str]] = field(default_factory=dict)  # not known to be read
    conflicts: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    def set(self, variable: str, value: str, why: str = "") -> None:
        """Set `variable` if GitLab `major` is known to read it; otherwise leave it a comment.

        Two different values for one variable (say SAST_IMAGE_SUFFIX for a FIPS semgrep and a
        plain kics) cannot both hold: neither is set and a note says why.
        """
        if variable in self.conflicts:
            return
        target = (
            self.variables
            if variable in self.reads or variable in ANALYZER_VARIABLES
            else self.unchecked
        )
        old = self.variables.get(variable) or self.unchecked.get(variable)
        if old is not None and old[0] != value:
            self.variables.pop(variable, None)
            self.unchecked.pop(variable, None)
            self.conflicts.add(variable)
            self.notes.append(
                f"{variable} would need both {old[0]!r} and {value!r} for the images pushed, "
                "so it is not set: push the images it applies to alike (all FIPS variants or "
                "none, one tag)."
            )
            return
        if old is None:
            target[variable] = (value, why)


def _active(chosen: list[_Chosen], category: str) -> list[_Chosen]:
    return [c for c in chosen if not c.inactive and c.category == category]


def _by_name(chosen: list[_Chosen]) -> dict[str, _Chosen]:
    return {c.catalog_name: c for c in chosen if c.catalog_name and not c.inactive}


def _quote(value: str) -> str:
    return json.dumps(value)
