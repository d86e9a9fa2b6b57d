"""The `.gitlab-ci.yml` lines that make GitLab's scan templates pull the images we pushed.

The images land at `<registry>/<name>:<tag>`, which is exactly what
`SECURE_ANALYZERS_PREFIX=<registry>` makes the templates pull (nothing is appended: Secure-Binaries
pushes to `$CI_REGISTRY_IMAGE/<name>` too). Container scanning ignores that prefix and needs
`CS_ANALYZER_IMAGE`; tags that differ from what the templates of the chosen GitLab major request
need a pin, or the offline pipeline asks for an image that was never carried over.

Rules that keep a real pipeline off the internet (issue 11):
- FIPS variants (`6-fips`) keep the major alone in version variables and put `-fips` in the
  template's suffix variable (the templates append the suffix themselves in FIPS mode, so
  `6-fips` in a version variable becomes `6-fips-fips`); container scanning takes a
  `CS_ANALYZER_IMAGE` that ends in `-fips`, which its template leaves alone.
- Version variables are set to the tag pushed whenever the template reads them, even when it is
  the tag the catalog expects: the snippet then holds for whichever minor of the major runs.
- Opt-in switches (`GITLAB_ADVANCED_SAST_ENABLED`, ...) are set when their image was carried.
- A variable equal to the value the template gives it itself (`Catalog.template_default`) is left
  out: it would change nothing.
- A variable is set only if the catalog has evidence that GitLab N's templates read it
  (`Catalog.reads`); anything else is written as a comment to check, never as a live setting.
- What no variable can fix (fixed hosts, settings outside `.gitlab-ci.yml`) is said in comments.

The text is written by hand so it can carry comments; every value is a JSON-quoted string (valid
YAML), and every name in it was validated first, so nothing read from a bundle can inject lines.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airgap_tui.bundle.atomic import atomic_write_bytes
from airgap_tui.catalog.catalog import Analyzer, Catalog, load_catalog, split_fips
from airgap_tui.errors import MediaError, UsageError
from airgap_tui.models import DEFAULT_GITLAB_MAJOR
from airgap_tui.registry.reference import (
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
    reads = catalog.reads(major)
    defaults = {v: d for v in reads if (d := catalog.template_default(major, v)) is not None}
    snippet = _Snippet(major=major, reads=reads, defaults=defaults)
    snippet.set("SECURE_ANALYZERS_PREFIX", prefix)
    _add_templates(snippet, chosen, major)
    _add_container_scanning(snippet, chosen, prefix)
    _add_pins(snippet, chosen, major)
    _add_fips(snippet, chosen, major)
    _add_opt_ins(snippet, chosen)
    _add_dependency_scanning_v2(snippet, chosen, prefix)
    _add_notes(snippet, chosen, prefix)
    _add_fips_instance_warning(snippet, chosen)
    active = [c.catalog_name for c in chosen if c.catalog_name and not c.inactive]
    snippet.limits = [limit.text for limit in catalog.limits(active)]
    return _write(snippet, chosen, major, prefix, catalog)


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


def _by_name(chosen: list[_Chosen]) -> dict[str, _Chosen]:
    return {c.catalog_name: c for c in chosen if c.catalog_name and not c.inactive}


# ------------------------------------------------------------------------------ content
def _add_templates(snippet: _Snippet, chosen: list[_Chosen], major: int) -> None:
    skip = _NO_TEMPLATE_JOB | _RESOLUTION_NAMES
    for category, template in _TEMPLATES.items():
        members = [c for c in _active(chosen, category) if c.catalog_name not in skip]
        classic = [c for c in members if c.catalog_name != _DS_V2_IMAGE]
        scanner = next((c for c in members if c.catalog_name == _DS_V2_IMAGE), None)
        if scanner is not None and scanner.other_template:
            # e.g. dependency-scanning:v0 is what Dependency-Scanning.latest requests; that
            # template runs the gemnasium jobs too, so it replaces the stable one.
            snippet.includes.append(scanner.other_template)
            snippet.notes.append(
                f"{scanner.name}:{scanner.pushed} is the tag {scanner.other_template} requests "
                f"in GitLab {major}, so that template is included (it runs the gemnasium jobs "
                'too; set DS_ENFORCE_NEW_ANALYZER: "true" to scan every language with the new '
                "analyzer)."
            )
            continue
        if classic:
            snippet.includes.append(template)
        if scanner is not None:
            if classic:
                snippet.commented_includes.append(
                    f"{_DS_V2_TEMPLATE}  (new analyzer: use it instead of {template}, not with it)"
                )
            else:
                snippet.includes.append(_DS_V2_TEMPLATE)
    if any(c.catalog_name not in _NO_TEMPLATE_JOB for c in _active(chosen, "dast")):
        snippet.commented_includes.append("DAST.gitlab-ci.yml  (needs the site to scan)")
    if _active(chosen, "api-security"):
        snippet.commented_includes.extend(_api_templates(major))
    if _active(chosen, "license-scanning"):
        if major <= 15:
            snippet.includes.append(_LICENSE_TEMPLATE)
        else:  # removed in 16.3: an include of a missing template fails the whole pipeline
            snippet.commented_includes.append(
                f"{_LICENSE_TEMPLATE}  (16.0 to 16.2 only: removed in 16.3)"
            )


def _add_container_scanning(snippet: _Snippet, chosen: list[_Chosen], prefix: str) -> None:
    scanners = [c for c in _active(chosen, "container-scanning") if c.catalog_name in _CS_IMAGES]
    if not scanners:
        return
    order = {name: i for i, name in enumerate(_CS_IMAGES)}
    scanners.sort(key=lambda c: order.get(c.catalog_name or "", len(order)))
    first, others = scanners[0], scanners[1:]
    why = "container scanning ignores SECURE_ANALYZERS_PREFIX"
    if first.fips:
        why += "; ends in -fips, so the template adds no suffix of its own"
    snippet.set("CS_ANALYZER_IMAGE", f"{prefix}/{first.name}:{first.pushed}", why)
    for other in others:
        for tag in other.tags:
            snippet.notes.append(
                f"Also pushed {other.name}:{tag}: set CS_ANALYZER_IMAGE to "
                f"{prefix}/{other.name}:{tag} to scan with it instead."
            )
    if first.expected is not None and not first.matches:
        snippet.notes.append(
            f"{first.name} was pushed as {first.pushed}; GitLab's template for this major "
            f"defaults to {first.expected} (CS_ANALYZER_IMAGE above overrides that)."
        )


def _add_pins(snippet: _Snippet, chosen: list[_Chosen], major: int) -> None:
    by_name = _by_name(chosen)
    if "secrets" in by_name:
        _pin(snippet, by_name["secrets"], [_SECRETS_PIN], major)
    if "dast" in by_name:
        _pin(snippet, by_name["dast"], [_DAST_PIN], major)
    if "api-security" in by_name:
        _pin(snippet, by_name["api-security"], _api_pins(major), major)
    if "license-finder" in by_name:
        _pin(snippet, by_name["license-finder"], ["LICENSE_MANAGEMENT_VERSION"], major)
    gemnasium = [by_name[n] for n in _GEMNASIUM if n in by_name]
    if gemnasium:
        _pin_gemnasium(snippet, gemnasium, major)
    for item in chosen:
        if item.inactive or item.category is None:
            continue
        if item.catalog_name in _NO_TEMPLATE_JOB | _RESOLUTION_NAMES | {_DS_V2_IMAGE}:
            continue
        if item.category in ("sast", "iac") and not item.matches:
            suffix = " (and the suffix variable below adds -fips)" if item.fips else ""
            setting = (
                f"in the job that runs {item.name}, set variables: SAST_ANALYZER_IMAGE_TAG: "
                f'"{item.base}"{suffix} (the SAST templates set it per job; a global value is '
                "ignored)"
            )
            if item.expected is None:
                snippet.notes.append(
                    f"The catalog does not know which {item.name} tag GitLab {major} requests; "
                    f"if it is not {item.base}, {setting}."
                )
            else:
                snippet.notes.append(
                    f"{item.name} was pushed as {item.pushed}, but GitLab {major} requests "
                    f"{item.expected}: {setting}."
                )
        elif item.category == "license-scanning":
            where = "included above" if major <= 15 else "commented above (removed in 16.3)"
            snippet.notes.append(
                f"{item.name}:{item.pushed} is pulled by GitLab's License-Scanning template "
                f"({where}) through SECURE_ANALYZERS_PREFIX (End of Support in 16.3)."
            )
    for item in chosen:
        if len(item.tags) > 1:
            extra = ", ".join(t for t in item.tags if t != item.pushed)
            snippet.notes.append(
                f"{item.name} was pushed with several tags; the settings above use "
                f"{item.pushed} (also pushed: {extra})."
            )


def _pin(snippet: _Snippet, item: _Chosen, variables: list[str], major: int) -> None:
    """Version variables hold the major alone (`6`, never `6-fips`), set whenever the template
    reads them: every minor of the major then pulls the tag that was pushed."""
    if item.matches:
        why = f"the tag pushed ({item.pushed}), whichever GitLab {major}.x minor runs"
    elif item.expected:
        why = f"pushed {item.pushed}; GitLab {major} requests {item.expected}"
    else:
        why = f"pushed {item.pushed}; the catalog has no GitLab {major} tag for {item.name}"
    for variable in variables:
        snippet.set(variable, item.base, why)


def _pin_gemnasium(snippet: _Snippet, items: list[_Chosen], major: int) -> None:
    bases = {item.base for item in items}
    if len(bases) == 1:
        _pin(snippet, next((i for i in items if not i.matches), items[0]), [_DS_PIN], major)
        return
    labels = ", ".join(f"{item.name}:{item.pushed}" for item in items)
    snippet.notes.append(
        f"The gemnasium images were pushed with different tags ({labels}), but "
        f"{_DS_PIN} applies to all of them: push them with one tag."
    )


def _add_fips(snippet: _Snippet, chosen: list[_Chosen], major: int) -> None:
    """Suffix variables: "-fips" where every image they reach was pushed as its FIPS variant."""
    groups: dict[str, list[_Chosen]] = {}
    for item in _by_name(chosen).values():
        for variable in fips_suffix_variables(item.catalog_name or "", major):
            groups.setdefault(variable, []).append(item)
    for item in _by_name(chosen).values():
        if item.fips and item.analyzer is not None and not item.analyzer.fips:
            snippet.notes.append(
                f"No GitLab {major} template requests {item.name}:{item.pushed}: "
                f"{item.analyzer.fips_note or 'it has no FIPS suffix variable'}. "
                f"Push {item.name}:{item.base} instead."
            )
    for variable, items in groups.items():
        fips = [i for i in items if i.fips]
        if not fips:
            continue
        names = ", ".join(i.name for i in items)
        if len(fips) != len(items):
            plain = ", ".join(f"{i.name}:{i.pushed}" for i in items if not i.fips)
            snippet.conflicts.add(variable)
            snippet.notes.append(
                f"{variable} adds -fips to {names} alike, but {plain} is not a FIPS variant, so "
                "it is not set: push all of them as -fips variants or none."
            )
            continue
        snippet.set(
            variable, "-fips", f"FIPS variants of {names}; version variables keep the major"
        )


def _add_opt_ins(snippet: _Snippet, chosen: list[_Chosen]) -> None:
    for item in _by_name(chosen).values():
        if item.analyzer is None:
            continue
        for variable, value in item.analyzer.enable:
            snippet.set(variable, value, f"without it the template never runs {item.name}")
        if item.catalog_name == "clangsa":
            snippet.notes.append(
                "clangsa (gitlab-advanced-sast-cpp) also needs a compilation database: set "
                "SAST_COMPILATION_DATABASE to your compile_commands.json."
            )
        if dict(item.analyzer.enable).get("SAST_EXPERIMENTAL_FEATURES") == "true":
            snippet.notes.append(
                'SAST_EXPERIMENTAL_FEATURES: "true" (for mobsf) also stops spotbugs-sast on any '
                "project that has an AndroidManifest.xml (GitLab 15's SAST template): set it only "
                "in the projects that want mobsf."
            )


def _add_dependency_scanning_v2(snippet: _Snippet, chosen: list[_Chosen], prefix: str) -> None:
    by_name = _by_name(chosen)
    carried = {name: by_name[name] for name, _, _ in _RESOLUTION if name in by_name}
    scanner = by_name.get(_DS_V2_IMAGE)
    if scanner is None:
        for item in carried.values():
            snippet.notes.append(
                f"{item.name}:{item.pushed} is used only by the resolution jobs of "
                f"{_DS_V2_TEMPLATE}, whose analyzer image was not pushed."
            )
        return
    if not scanner.matches and _DS_V2_TEMPLATE in snippet.includes:
        if scanner.expected is not None:  # that major's v2 template is known to take the input
            snippet.include_inputs.setdefault(_DS_V2_TEMPLATE, {})["analyzer_image_version"] = (
                scanner.pushed
            )
        else:
            snippet.notes.append(
                f"The catalog does not know which {scanner.name} tag GitLab {snippet.major}'s "
                f"{_DS_V2_TEMPLATE} requests: if it is not {scanner.pushed}, give the include "
                f'inputs: {{analyzer_image_version: "{scanner.pushed}"}}.'
            )
    off = "maven, python, gradle"
    if _DS_V2_TEMPLATE not in snippet.includes:
        pass  # only the v2 template reads it; the note of its commented include says the rest
    elif snippet.defaults.get(_DISABLED_RESOLUTION) == off:
        snippet.notes.append(
            f"GitLab {snippet.major}'s {_DS_V2_TEMPLATE} keeps its resolution jobs off itself "
            f'({_DISABLED_RESOLUTION}: "{off}", a rollout setting). If your instance\'s copy '
            f'lacks that line, set {_DISABLED_RESOLUTION}: "{off}": those jobs pull literal '
            "registry.gitlab.com images, whatever the prefix."
        )
    else:
        snippet.set(
            _DISABLED_RESOLUTION,
            off,
            "the v2 template's resolution jobs pull literal registry.gitlab.com images, "
            "whatever the prefix: kept off",
        )
    if carried:
        lines = [
            f"{input_name}: {_quote(f'{prefix}/{carried[name].name}:{carried[name].pushed}')}"
            for name, _, input_name in _RESOLUTION
            if name in carried
        ]
        missing = [kind for name, kind, _ in _RESOLUTION if name not in carried]
        snippet.notes.append(
            "To run the resolution jobs from the mirror, add to the "
            f"{_DS_V2_TEMPLATE} include: inputs: {{{', '.join(lines)}}}, and set "
            f'{_DISABLED_RESOLUTION} to "{", ".join(missing)}". Only templates that have '
            "resolution jobs accept these inputs (GitLab refuses unknown inputs), which is why "
            "they are not set here."
        )
    snippet.notes.append(
        "dependency-scanning matches dependencies against GitLab's package metadata database: "
        "a self-managed instance must sync it (offline: import it), or the scan finds nothing."
    )


def _add_notes(snippet: _Snippet, chosen: list[_Chosen], prefix: str) -> None:
    by_name = _by_name(chosen)
    if _active(chosen, "container-scanning"):
        snippet.notes.append(
            'If the registry uses a self-signed certificate, set CS_DOCKER_INSECURE: "true" '
            "(or give the CA in ADDITIONAL_CA_CERT_BUNDLE)."
        )
    if _TRIVY_JAVA_DB in by_name:
        item = by_name[_TRIVY_JAVA_DB]
        value = f"{prefix}/{item.name}"
        why = (
            "Trivy's Java index (an OCI artifact), read by the container-scanning analyzer, not "
            "by the template"
        )
        if item.pushed != "1":
            value += f":{item.pushed}"
            why += f"; pushed as {item.pushed}, not the default 1"
        snippet.set("CS_TRIVY_JAVA_DB", value, why)
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


def _add_fips_instance_warning(snippet: _Snippet, chosen: list[_Chosen]) -> None:
    """Plain tags of images that a FIPS instance's templates turn into `-fips` by themselves."""
    plain = [
        f"{item.name}:{item.pushed}"
        for item in _by_name(chosen).values()
        if item.catalog_name in _FIPS_BY_RULE
        and item.analyzer is not None
        and item.analyzer.fips
        and not item.fips
    ]
    if plain:
        snippet.notes.append(
            f"{FIPS_INSTANCE_WARNING} Pushed as plain tags here: {', '.join(plain)}."
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


def _write(
    snippet: _Snippet, chosen: list[_Chosen], major: int, prefix: str, catalog: Catalog
) -> str:
    labels = ", ".join(f"{c.name}:{tag}" for c in chosen for tag in c.tags)
    lines = [
        *_comment(f"GitLab {major} CI settings for scanner images mirrored by airgap-tui."),
        *_comment(f"Pushed to {prefix}: {labels}."),
        *_comment("SECURE_ANALYZERS_PREFIX is the path they were pushed under (nothing appended)."),
        *_comment("Merge into .gitlab-ci.yml; if it already has include:, add these lines to it."),
    ]
    if not catalog.is_complete(major):
        lines.extend(_comment(f"GitLab {major}: {catalog.major_note(major)}"))
    if snippet.includes:
        lines.append("include:")
        for template in snippet.includes:
            lines.append(f"  - template: {_quote(template)}")
            inputs = snippet.include_inputs.get(template)
            if inputs:
                lines.append("    inputs:")
                lines.extend(f"      {key}: {_quote(value)}" for key, value in inputs.items())
        for template in snippet.commented_includes:
            lines.extend(_comment(f"- template: {template}", indent="  "))
    elif snippet.commented_includes:
        lines.extend(_comment("include:"))
        for template in snippet.commented_includes:
            lines.extend(_comment(f"- template: {template}", indent="  "))
    if snippet.variables:
        lines.append("variables:")
        for variable, (value, why) in snippet.variables.items():
            if why:
                lines.extend(_comment(why, indent="  "))
            lines.append(f"  {variable}: {_quote(value)}")
    elif not snippet.includes:
        lines.append("variables: {}")
    if snippet.unchecked:
        lines.extend(
            _comment(
                f"Not set: the catalog has no evidence that GitLab {major}'s templates read these "
                "variables. Check your instance's templates before you uncomment them:"
            )
        )
        for variable, (value, why) in snippet.unchecked.items():
            if why:
                lines.extend(_comment(why, indent="  "))
            lines.append(f"  # {variable}: {_quote(value)}")
    if snippet.notes:
        lines.extend(_comment("Notes:"))
        for note in snippet.notes:
            lines.extend(_comment(note, bullet="- "))
    if snippet.limits:
        lines.extend(_comment("What the registry prefix cannot fix:"))
        for text in snippet.limits:
            lines.extend(_comment(text, bullet="- "))
    return "\n".join(lines) + "\n"


def save_snippet(path: Path, text: str, *, overwrite: bool) -> bool:
    """Write the snippet file atomically; False (nothing written) when `path` exists and
    `overwrite` is not given, so both fronts ask before replacing an operator's file."""
    if path.exists() and not overwrite:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise MediaError(
            f"Snippet file {path}",
            f"it could not be written ({exc.strerror or exc})",
            "Choose another path",
        ) from None
    return True
