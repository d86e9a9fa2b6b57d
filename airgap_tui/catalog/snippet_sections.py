"""What each part of the snippet says: templates, pins, FIPS suffixes, opt-in switches,
dependency scanning v2, and the notes on what no prefix can fix.
"""

from __future__ import annotations

from airgap_tui.catalog.snippet_model import (
    _CS_IMAGES,
    _DAST_PIN,
    _DISABLED_RESOLUTION,
    _DS_PIN,
    _DS_V2_IMAGE,
    _DS_V2_TEMPLATE,
    _FIPS_BY_RULE,
    _GEMNASIUM,
    _LICENSE_TEMPLATE,
    _NO_TEMPLATE_JOB,
    _RESOLUTION,
    _RESOLUTION_NAMES,
    _SECRETS_PIN,
    _TEMPLATES,
    _TRIVY_JAVA_DB,
    FIPS_INSTANCE_WARNING,
    _active,
    _api_pins,
    _api_templates,
    _by_name,
    _Chosen,
    _quote,
    _Snippet,
    fips_suffix_variables,
)


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
