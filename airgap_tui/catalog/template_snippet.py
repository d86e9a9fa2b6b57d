"""The `.gitlab-ci.yml` lines that make the instance's own templates pull from the offline registry.

With the templates in hand, no catalog is needed and no tag is pinned: the templates already
ask for exactly the tags the request carried (that is what the request was made from), so
pointing them at the registry is enough. Two kinds of variable do that:

- `SECURE_ANALYZERS_PREFIX`, which every job whose image is `$SECURE_ANALYZERS_PREFIX/...` reads;
- a template's own global image variable whose default is written under the default registry
  (container scanning's `CS_ANALYZER_IMAGE: "$CI_TEMPLATE_REGISTRY_HOST/security-products/
  container-scanning:7"`), which the prefix never reaches: it gets `<registry>/<name>:<tag>`.
  On a FIPS instance the template appends `-fips` itself, so the tag is written without it.

Opt-in jobs the request included get their switch set. Images no variable moves (a literal
registry in a job's `image:`) are listed as comments with what to do. Every value is a
JSON-quoted string (valid YAML) and every name was checked, so nothing from a template
injects a line.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence

import yaml

from airgap_tui.catalog.snippet import _normalise_registry as normalise_registry
from airgap_tui.catalog.template_model import TemplateImage
from airgap_tui.catalog.templates import is_security_template
from airgap_tui.registry.reference import validate_repository_path, validate_tag

PREFIX_VARIABLE = "SECURE_ANALYZERS_PREFIX"
FIPS_SUFFIX = "-fips"
# A global variable whose default is a whole image under GitLab's registry, not the prefix.
_DEFAULT_IMAGE = re.compile(
    r"^(?:\$CI_TEMPLATE_REGISTRY_HOST|\$\{CI_TEMPLATE_REGISTRY_HOST\}|registry\.gitlab\.com)"
    r"/security-products/(?P<name>[a-z0-9][a-z0-9._/-]*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*)$"
)
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Templates that need a target set per project: included blind, the pipeline would fail.
_NEEDS_TARGET = ("Security/DAST", "Security/API-", "Security/DAST-API", "DAST", "API-")


class _Loader(yaml.SafeLoader):
    """The safe loader, reading GitLab's `!reference` tags as nothing (only globals are read)."""


_Loader.add_constructor("!reference", lambda loader, node: None)


def _quote(value: str) -> str:
    return json.dumps(value)


def _comment(text: str, indent: str = "", width: int = 74) -> list[str]:
    wrapped = textwrap.wrap(
        text, width - len(indent) - 2, subsequent_indent="  " * (text[:2] == "  ")
    )
    return [f"{indent}# {line}".rstrip() for line in wrapped or [""]]


def image_variables(sources: Mapping[str, str]) -> dict[str, str]:
    """Image name -> the global variable that holds its whole default reference (such as
    container-scanning -> CS_ANALYZER_IMAGE), over the security templates in `sources`."""
    found: dict[str, str] = {}
    for path in sorted(sources):
        if not is_security_template(path):
            continue
        try:
            document = yaml.load(sources[path], Loader=_Loader)  # noqa: S506 - a SafeLoader
        except yaml.YAMLError:
            continue  # the evaluator already named a broken file; nothing to read here
        variables = document.get("variables") if isinstance(document, dict) else None
        if not isinstance(variables, dict):
            continue
        for name, raw in variables.items():
            value = raw.get("value") if isinstance(raw, dict) else raw
            if not isinstance(name, str) or not isinstance(value, str):
                continue
            match = _DEFAULT_IMAGE.match(value.strip())
            if match and name != PREFIX_VARIABLE and _VARIABLE.match(name):
                found.setdefault(match.group("name"), name)
    return found


def _base_tag(image: TemplateImage) -> str:
    if image.fips and image.tag.endswith(FIPS_SUFFIX):
        return image.tag[: -len(FIPS_SUFFIX)]
    return image.tag


def _includes(images: Iterable[TemplateImage]) -> tuple[list[str], list[str]]:
    """(templates to include, templates to include by hand where a target exists)."""
    live: list[str] = []
    by_hand: list[str] = []
    for template in dict.fromkeys(i.template for i in images):
        (by_hand if template.startswith(_NEEDS_TARGET) else live).append(template)
    return live, by_hand


def render_template_snippet(
    registry_prefix: str,
    sources: Mapping[str, str],
    images: Sequence[TemplateImage],
    *,
    gitlab_version: str | None = None,
) -> str:
    """`.gitlab-ci.yml` text for `images` (what the request carried, opt-ins included) once
    they are in `registry_prefix`, built from the instance's own templates `sources`."""
    prefix = normalise_registry(registry_prefix)
    under = [i for i in images if i.under_prefix]
    outside = [i for i in images if not i.under_prefix]
    for image in under:
        validate_repository_path(image.name)
        validate_tag(image.tag)
    held = image_variables(sources)
    settings: dict[str, tuple[str, str]] = {
        PREFIX_VARIABLE: (prefix, "Where the analyzers were pushed (nothing is appended to it)."),
    }
    for image in under:
        variable = held.get(image.name)
        if variable and variable not in settings:
            why = f"{image.template} builds this image from {variable}, not from the prefix."
            if image.fips:
                why += " The template appends -fips itself on a FIPS instance."
            settings[variable] = (f"{prefix}/{image.name}:{_base_tag(image)}", why)
    for switch in dict.fromkeys(i.opt_in for i in under if i.opt_in):
        if switch and _VARIABLE.match(switch):
            settings[switch] = ("true", "Opt-in: its job runs only when this is set.")
    version = f"GitLab {gitlab_version}" if gitlab_version else "the offline GitLab"
    pulled = ", ".join(sorted({i.reference for i in under})) or "none under the prefix"
    lines = [
        *_comment(
            f"CI settings for {version}, from its own templates: they pull these images from "
            f"{prefix}: {pulled}."
        ),
        *_comment("Merge into .gitlab-ci.yml; if it already has include:, add these lines to it."),
    ]
    live, by_hand = _includes(under)
    if live:
        lines.append("include:")
        lines.extend(f"  - template: {_quote(template)}" for template in live)
    if by_hand:
        lines.extend(_comment("These need a target set per project; include them where one is:"))
        for template in by_hand:
            lines.extend(_comment(f"  - template: {template}"))
    lines.append("variables:")
    for variable, (value, why) in settings.items():
        lines.extend(_comment(why, indent="  "))
        lines.append(f"  {variable}: {_quote(value)}")
    if outside:
        lines.extend(_comment("Images no variable moves to the registry:"))
        for image in outside:
            note = image.note or "its job writes the registry itself"
            lines.extend(_comment(f"  {image.reference} ({image.job}): {note}"))
    return "\n".join(lines) + "\n"
