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

import textwrap
from collections.abc import Sequence
from pathlib import Path

from airgap_tui.bundle.atomic import atomic_write_bytes
from airgap_tui.catalog.catalog import Catalog
from airgap_tui.catalog.load import load_catalog
from airgap_tui.catalog.snippet_model import _Chosen, _quote, _Snippet
from airgap_tui.catalog.snippet_sections import (
    _add_container_scanning,
    _add_dependency_scanning_v2,
    _add_fips,
    _add_fips_instance_warning,
    _add_notes,
    _add_opt_ins,
    _add_pins,
    _add_templates,
)
from airgap_tui.errors import MediaError, UsageError
from airgap_tui.models import DEFAULT_GITLAB_MAJOR
from airgap_tui.registry.reference import (
    looks_like_host,
    split_prefix,
    validate_repository_path,
    validate_tag,
)


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


_WIDTH = 99


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
    lines.extend(_include_lines(snippet))
    lines.extend(_variable_lines(snippet))
    lines.extend(_comment_lines(snippet, major))
    return "\n".join(lines) + "\n"


def _include_lines(snippet: _Snippet) -> list[str]:
    lines: list[str] = []
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
    return lines


def _variable_lines(snippet: _Snippet) -> list[str]:
    lines: list[str] = []
    if snippet.variables:
        lines.append("variables:")
        for variable, (value, why) in snippet.variables.items():
            if why:
                lines.extend(_comment(why, indent="  "))
            lines.append(f"  {variable}: {_quote(value)}")
    elif not snippet.includes:
        lines.append("variables: {}")
    return lines


def _comment_lines(snippet: _Snippet, major: int) -> list[str]:
    """What is not set, and why; the notes; what no prefix can fix."""
    lines: list[str] = []
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
    return lines


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
