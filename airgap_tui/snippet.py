"""The `.gitlab-ci.yml` lines that make GitLab's scan templates pull the images we pushed.

The images land at `<registry>/<name>:<tag>`, which is exactly what
`SECURE_ANALYZERS_PREFIX=<registry>` makes the templates pull (nothing is appended: Secure-Binaries
pushes to `$CI_REGISTRY_IMAGE/<name>` too). Container scanning ignores that prefix and needs
`CS_ANALYZER_IMAGE`; tags that differ from what the templates of the chosen GitLab major request
need a pin, or the offline pipeline asks for an image that was never carried over.

The text is written by hand so it can carry comments; every value is a JSON-quoted string (valid
YAML), and every name in it was validated first, so nothing read from a bundle can inject lines.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from airgap_tui.catalog import Analyzer, Catalog, load_catalog
from airgap_tui.errors import UsageError
from airgap_tui.models import DEFAULT_GITLAB_MAJOR
from airgap_tui.reference import (
    looks_like_host,
    split_prefix,
    validate_repository_path,
    validate_tag,
)

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
_GEMNASIUM = ("gemnasium", "gemnasium-maven", "gemnasium-python")
_NO_TEMPLATE_JOB = {"dast-runner-validation"}  # mirrored for DAST site validation, no scan job
_CS_PREFERENCE = ("container-scanning", "container-scanning/trivy", "container-scanning/grype")

# Whole-template version variables (reference section 3). The API security template and its
# APISEC_ variables replaced DAST-API / DAST_API_ in 17.1; the old names worked until 18.0
# (GitLab API security testing docs). API fuzzing reads FUZZAPI_VERSION throughout.
_SECRETS_PIN = "SECRETS_ANALYZER_VERSION"
_DAST_PIN = "DAST_VERSION"
_DS_PIN = "DS_MAJOR_VERSION"


def _api_pins(major: int) -> list[str]:
    pins = ["APISEC_VERSION"] if major >= 17 else []
    if major <= 17:
        pins.append("DAST_API_VERSION")
    return [*pins, "FUZZAPI_VERSION"]


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
    def matches(self) -> bool:
        return self.expected is not None and self.expected in self.tags

    @property
    def pushed(self) -> str:
        """The tag the snippet points at: the one the template wants if it was pushed."""
        return self.expected if self.matches and self.expected else self.tags[0]


@dataclass
class _Snippet:
    includes: list[str] = field(default_factory=list)
    commented_includes: list[str] = field(default_factory=list)
    variables: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value, why)
    notes: list[str] = field(default_factory=list)


def render_snippet(
    registry_prefix: str,
    images: Sequence[tuple[str, str]],
    major: int = DEFAULT_GITLAB_MAJOR,
    catalog: Catalog | None = None,
) -> str:
    """`.gitlab-ci.yml` text for exactly `images` (name, tag) pushed under `registry_prefix`."""
    catalog = catalog or load_catalog()
    catalog.is_complete(major)  # raises CatalogError for a major the catalog does not know
    prefix = _normalise_registry(registry_prefix)
    chosen = _classify(_validated(images), major, catalog)
    snippet = _Snippet()
    snippet.variables["SECURE_ANALYZERS_PREFIX"] = (prefix, "")
    _add_templates(snippet, chosen, major)
    _add_container_scanning(snippet, chosen, prefix)
    _add_pins(snippet, chosen, major)
    _add_notes(snippet, chosen, prefix)
    return _write(snippet, chosen, major, prefix)


# ------------------------------------------------------------------------------ input
def _normalise_registry(registry_prefix: str) -> str:
    host, path = split_prefix(registry_prefix)
    if not looks_like_host(host):
        raise UsageError(
            f"Registry {registry_prefix!r}",
            f"{host!r} is not a registry host (it needs a '.', a ':port' or 'localhost'), "
            "so GitLab would look for the images on Docker Hub",
            "Give host[:port][/path], e.g. registry.local:5000/analyzers",
        )
    return f"{host}/{path}" if path else host


def _validated(images: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Tags per image name, first-seen order; every name and tag checked (bundles are hostile)."""
    tags: dict[str, list[str]] = {}
    for name, tag in images:
        validate_repository_path(name, what="Image name")
        validate_tag(tag, ref=f"{name}:{tag}")
        if tag not in tags.setdefault(name, []):
            tags[name].append(tag)
    if not tags:
        raise UsageError(
            "CI snippet", "no images were given", "Choose analyzers or point at a bundle"
        )
    return tags


def _classify(tags: dict[str, list[str]], major: int, catalog: Catalog) -> list[_Chosen]:
    chosen: list[_Chosen] = []
    for name, image_tags in tags.items():
        catalog_name = catalog.by_path(name)
        category = catalog.category_of(catalog_name) if catalog_name else None
        analyzer = catalog.get(catalog_name, major) if catalog_name else None
        item = _Chosen(name, image_tags, catalog_name, category, analyzer)
        history = catalog.history(catalog_name) if catalog_name else {}
        if analyzer is not None and analyzer.removed:
            item.inactive = f"removed in GitLab {major}: {analyzer.note}"
        elif analyzer is None and history and all(m > major for m in history):
            item.inactive = f"not in GitLab {major} yet, first in GitLab {min(history)}"
        chosen.append(item)
    return chosen


def _active(chosen: list[_Chosen], category: str) -> list[_Chosen]:
    return [c for c in chosen if not c.inactive and c.category == category]


# ------------------------------------------------------------------------------ content
def _add_templates(snippet: _Snippet, chosen: list[_Chosen], major: int) -> None:
    for category, template in _TEMPLATES.items():
        members = [c for c in _active(chosen, category) if c.name not in _NO_TEMPLATE_JOB]
        classic = [c for c in members if c.name != _DS_V2_IMAGE]
        if classic:
            snippet.includes.append(template)
        if any(c.name == _DS_V2_IMAGE for c in members):
            if classic:
                snippet.commented_includes.append(
                    f"{_DS_V2_TEMPLATE}  (new analyzer: use it instead of {template}, not with it)"
                )
            else:
                snippet.includes.append(_DS_V2_TEMPLATE)
    if any(c.name not in _NO_TEMPLATE_JOB for c in _active(chosen, "dast")):
        snippet.commented_includes.append("DAST.gitlab-ci.yml  (needs the site to scan)")
    if _active(chosen, "api-security"):
        snippet.commented_includes.extend(_api_templates(major))


def _add_container_scanning(snippet: _Snippet, chosen: list[_Chosen], prefix: str) -> None:
    scanners = _active(chosen, "container-scanning")
    if not scanners:
        return
    order = {name: i for i, name in enumerate(_CS_PREFERENCE)}
    scanners.sort(key=lambda c: order.get(c.name, len(order)))
    first, others = scanners[0], scanners[1:]
    snippet.variables["CS_ANALYZER_IMAGE"] = (
        f"{prefix}/{first.name}:{first.pushed}",
        "container scanning ignores SECURE_ANALYZERS_PREFIX",
    )
    for other in others:
        for tag in other.tags:
            snippet.notes.append(
                f"Also pushed {other.name}:{tag}: set CS_ANALYZER_IMAGE to "
                f"{prefix}/{other.name}:{tag} to scan with it instead."
            )
    if first.expected is not None and first.pushed != first.expected:
        snippet.notes.append(
            f"{first.name} was pushed as {first.pushed}; GitLab's template for this major "
            f"defaults to {first.expected} (CS_ANALYZER_IMAGE above overrides that)."
        )


def _add_pins(snippet: _Snippet, chosen: list[_Chosen], major: int) -> None:
    by_name = {c.name: c for c in chosen if not c.inactive}
    if "secrets" in by_name:
        _pin(snippet, by_name["secrets"], [_SECRETS_PIN], major)
    if "dast" in by_name:
        _pin(snippet, by_name["dast"], [_DAST_PIN], major)
    if "api-security" in by_name:
        _pin(snippet, by_name["api-security"], _api_pins(major), major)
    gemnasium = [by_name[n] for n in _GEMNASIUM if n in by_name]
    if gemnasium:
        _pin_gemnasium(snippet, gemnasium, major)
    for item in chosen:
        if item.inactive or item.category is None:
            continue
        if item.category in ("sast", "iac") and not item.matches:
            setting = (
                f"in the job that runs {item.name}, set variables: SAST_ANALYZER_IMAGE_TAG: "
                f'"{item.pushed}" (the SAST templates set it per job; a global value is ignored)'
            )
            if item.expected is None:
                snippet.notes.append(
                    f"The catalog does not know which {item.name} tag GitLab {major} requests; "
                    f"if it is not {item.pushed}, {setting}."
                )
            else:
                snippet.notes.append(
                    f"{item.name} was pushed as {item.pushed}, but GitLab {major} requests "
                    f"{item.expected}: {setting}."
                )
        elif item.name == _DS_V2_IMAGE and not item.matches:
            snippet.notes.append(
                f"{item.name} was pushed as {item.pushed}; check that the "
                f"Dependency-Scanning.v2 template of GitLab {major} requests that tag "
                "(the catalog does not know it)."
            )
        elif item.category == "license-scanning":
            snippet.notes.append(
                f"{item.name}:{item.pushed} is pulled by GitLab's License-Scanning template "
                "through SECURE_ANALYZERS_PREFIX (End of Support in 16.3)."
            )
        elif item.name in _NO_TEMPLATE_JOB:
            snippet.notes.append(
                f"{item.name}:{item.pushed} is used by DAST site validation, not by a template job."
            )
    for item in chosen:
        if len(item.tags) > 1:
            extra = ", ".join(t for t in item.tags if t != item.pushed)
            snippet.notes.append(
                f"{item.name} was pushed with several tags; the settings above use "
                f"{item.pushed} (also pushed: {extra})."
            )


def _pin(snippet: _Snippet, item: _Chosen, variables: list[str], major: int) -> None:
    if item.matches:
        return
    why = (
        f"pushed {item.pushed}; GitLab {major} requests {item.expected}"
        if item.expected
        else f"pushed {item.pushed}; the catalog has no GitLab {major} tag for {item.name}"
    )
    for variable in variables:
        snippet.variables[variable] = (item.pushed, why)


def _pin_gemnasium(snippet: _Snippet, items: list[_Chosen], major: int) -> None:
    if all(item.matches for item in items):
        return
    pushed = {item.pushed for item in items}
    if len(pushed) == 1:
        _pin(snippet, next(i for i in items if not i.matches), [_DS_PIN], major)
        return
    labels = ", ".join(f"{item.name}:{item.pushed}" for item in items)
    snippet.notes.append(
        f"The gemnasium images were pushed with different tags ({labels}), but "
        f"{_DS_PIN} applies to all of them: push them with one tag."
    )


def _add_notes(snippet: _Snippet, chosen: list[_Chosen], prefix: str) -> None:
    if _active(chosen, "container-scanning"):
        snippet.notes.append(
            'If the registry uses a self-signed certificate, set CS_DOCKER_INSECURE: "true" '
            "(or give the CA in ADDITIONAL_CA_CERT_BUNDLE)."
        )
    if any(c.name in _GEMNASIUM for c in chosen if not c.inactive):
        snippet.notes.append(
            "Gemnasium needs its advisory database offline: set GEMNASIUM_DB_REMOTE_URL to your "
            'copy, or GEMNASIUM_DB_LOCAL_PATH plus GEMNASIUM_DB_UPDATE_DISABLED: "true".'
        )
    for item in chosen:
        for tag in item.tags:
            if item.inactive:
                snippet.notes.append(f"{item.name}:{tag} gets no settings: {item.inactive}.")
            elif item.catalog_name is None:
                snippet.notes.append(
                    f"Custom image {prefix}/{item.name}:{tag}: use it in your own jobs."
                )


# ------------------------------------------------------------------------------ text
_WIDTH = 99


def _quote(value: str) -> str:
    return json.dumps(value)


def _comment(text: str, indent: str = "", bullet: str = "") -> list[str]:
    """`text` as wrapped comment lines; whitespace (newlines included) is collapsed first."""
    first = f"{indent}# {bullet}"
    rest = f"{indent}# " + " " * len(bullet)
    return textwrap.wrap(
        " ".join(text.split()),
        width=_WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _write(snippet: _Snippet, chosen: list[_Chosen], major: int, prefix: str) -> str:
    labels = ", ".join(f"{c.name}:{tag}" for c in chosen for tag in c.tags)
    lines = [
        *_comment(f"GitLab {major} CI settings for scanner images mirrored by airgap-tui."),
        *_comment(f"Pushed to {prefix}: {labels}."),
        *_comment("SECURE_ANALYZERS_PREFIX is the path they were pushed under (nothing appended)."),
        *_comment("Merge into .gitlab-ci.yml; if it already has include:, add these lines to it."),
    ]
    if snippet.includes:
        lines.append("include:")
        lines.extend(f"  - template: {_quote(t)}" for t in snippet.includes)
        for template in snippet.commented_includes:
            lines.extend(_comment(f"- template: {template}", indent="  "))
    elif snippet.commented_includes:
        lines.extend(_comment("include:"))
        for template in snippet.commented_includes:
            lines.extend(_comment(f"- template: {template}", indent="  "))
    lines.append("variables:")
    for variable, (value, why) in snippet.variables.items():
        if why:
            lines.extend(_comment(why, indent="  "))
        lines.append(f"  {variable}: {_quote(value)}")
    if snippet.notes:
        lines.extend(_comment("Notes:"))
        for note in snippet.notes:
            lines.extend(_comment(note, bullet="- "))
    return "\n".join(lines) + "\n"
