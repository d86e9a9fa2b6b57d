"""Read GitLab's own CI templates and list the images their security jobs pull.

The offline GitLab's templates are the one source that is right for its version, including
versions released after this tool. This is a small evaluator of the parts of GitLab CI that decide
an image: `include:` of templates in the same set, `spec: inputs:` defaults, `extends:` in GitLab's
merge order, global, job and FIPS-rule `variables:`, `$VAR`/`${VAR}` expansion and `!reference`.
Pure Python on PyYAML's safe loader; no network. Template text is hostile input: every limit
below turns into a TemplateError naming the file and the job, never a traceback.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

from airgap_tui.catalog.template_model import (
    MAX_DIR_DEPTH,
    MAX_DIR_ENTRIES,
    MAX_FILES,
    MAX_SECURITY_BYTES,
    MAX_TEMPLATE_BYTES,
    MAX_TOTAL_BYTES,
    NOT_SCANNERS,
    ROOT_SECURITY_PREFIXES,
    SECURITY_JOB_TEMPLATES,
    TEMPLATE_SUFFIXES,
    Evaluation,
    TemplateError,
    TemplateImage,
    _InputWithoutDefault,
)
from airgap_tui.catalog.template_pipeline import _Pipeline
from airgap_tui.catalog.template_yaml import _DocumentCache


def read_templates_dir(root: Path) -> dict[str, str]:
    """Every template file under `root`, as relative posix path -> text; bounded, clear errors."""
    what = f"Templates directory {root}"
    hint = (
        "Point --templates at GitLab's lib/gitlab/ci/templates directory (on Omnibus "
        "/opt/gitlab/embedded/service/gitlab-rails/lib/gitlab/ci/templates), copied whole"
    )
    _check_root(root, what, hint)
    sources: dict[str, str] = {}
    total = 0
    for path in _template_files(root, what, hint):
        relative = path.relative_to(root).as_posix()
        if len(sources) >= MAX_FILES:
            raise TemplateError(what, f"it holds more than {MAX_FILES:,} template files", hint)
        text = _read_template(path, relative)
        total += len(text)
        if total > MAX_TOTAL_BYTES:
            raise TemplateError(
                what,
                f"its template files add up to more than {MAX_TOTAL_BYTES // (1024 * 1024)} "
                "MiB, far more than GitLab ships",
                hint,
            )
        sources[relative] = text
    if not sources:
        raise TemplateError(what, "it holds no *.yml template files", hint)
    return sources


def _check_root(root: Path, what: str, hint: str) -> None:
    try:
        info = root.stat()
    except FileNotFoundError:
        raise TemplateError(what, "it does not exist", hint) from None
    except OSError as exc:
        raise TemplateError(what, f"it cannot be read ({exc.strerror or exc})", hint) from None
    if not stat.S_ISDIR(info.st_mode):
        raise TemplateError(what, "it is not a directory", hint)


def _template_files(root: Path, what: str, hint: str) -> Iterator[Path]:
    """*.yml files under `root`, in a stable order; links are not followed, depth is capped."""
    seen = 0
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise TemplateError(
                f"Templates directory {directory}",
                f"it cannot be listed ({exc.strerror or exc})",
                hint,
            ) from None
        for entry in entries:
            seen += 1
            if seen > MAX_DIR_ENTRIES:
                raise TemplateError(
                    what,
                    f"it holds more than {MAX_DIR_ENTRIES:,} entries, far more than GitLab's "
                    "templates",
                    hint,
                )
            if entry.is_symlink():
                continue  # a copy of the templates has none; a link could leave the tree
            if entry.is_dir(follow_symlinks=False):
                if depth < MAX_DIR_DEPTH:
                    stack.append((Path(entry.path), depth + 1))
            elif entry.name.endswith(TEMPLATE_SUFFIXES) and entry.is_file():
                yield Path(entry.path)


def _read_template(path: Path, relative: str) -> str:
    what = f"Template {relative}"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_TEMPLATE_BYTES:
                raise _too_big(relative, size)
            raw = handle.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateError(
            what, f"it cannot be read ({exc.strerror or exc})", "Copy the templates again"
        ) from None
    if len(raw) > MAX_TEMPLATE_BYTES:
        raise _too_big(relative, len(raw))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateError(
            what, "it is not UTF-8 text, so not a CI template", "Copy the templates again"
        ) from None


def _too_big(relative: str, size: int) -> TemplateError:
    return TemplateError(
        f"Template {relative}",
        f"it is {size / (1024 * 1024):.1f} MiB, over the {MAX_TEMPLATE_BYTES // (1024 * 1024)} "
        "MiB a CI template can be (GitLab's are a few KB)",
        "It is not a GitLab template or it is damaged; copy the templates again",
    )


def is_security_template(path: str) -> bool:
    """The templates a security feature includes: Jobs/<scanner>, Security/*, root DAST/API."""
    pure = PurePosixPath(path)
    name = pure.name
    if ".latest." in name or not name.endswith(TEMPLATE_SUFFIXES):
        return False
    stem = name.split(".gitlab-ci.")[0] if ".gitlab-ci." in name else pure.stem
    parts = pure.parts
    if len(parts) == 2 and parts[0] == "Jobs":
        return stem in SECURITY_JOB_TEMPLATES
    if len(parts) == 2 and parts[0] == "Security":
        return stem not in NOT_SCANNERS
    if len(parts) == 1:
        return stem.startswith(ROOT_SECURITY_PREFIXES)
    return False


def images_from_templates(sources: Mapping[str, str], *, fips: bool = False) -> list[TemplateImage]:
    """The images the security jobs of these templates pull (FIPS variants with `fips`)."""
    return list(evaluate_templates(sources, fips=fips).images)


def evaluate_templates(sources: Mapping[str, str], *, fips: bool = False) -> Evaluation:
    """Evaluate every security template in `sources` as its own pipeline."""
    _check_sources(sources)
    entries = sorted(path for path in sources if is_security_template(path))
    if not entries:
        raise TemplateError(
            f"The {len(sources)} template file(s) given",
            "none is a security template (Jobs/SAST.gitlab-ci.yml, Security/DAST.gitlab-ci.yml, …)",
            "Give GitLab's whole lib/gitlab/ci/templates directory",
        )
    security_bytes = sum(len(sources[path]) for path in entries)
    if security_bytes > MAX_SECURITY_BYTES:
        raise TemplateError(
            f"The {len(entries)} security templates given",
            f"they add up to {security_bytes / (1024 * 1024):.1f} MiB, over the "
            f"{MAX_SECURITY_BYTES // (1024 * 1024)} MiB evaluated at most (GitLab's are about "
            "200 KB)",
            "Give GitLab's own templates directory, copied unchanged",
        )
    cache = _DocumentCache(sources)
    found: dict[tuple[str, str, str, str, bool], TemplateImage] = {}
    skipped: list[str] = []
    for entry in entries:
        try:
            pipeline = _Pipeline(entry, cache)
        except _InputWithoutDefault as exc:
            skipped.append(f"{entry}: {exc.cause}; its images depend on the pipeline including it")
            continue
        for image in pipeline.images(fips=fips, skipped=skipped):
            key = (image.template, image.job, image.name, image.tag, image.fips)
            found.setdefault(key, image)
    images = sorted(found.values(), key=lambda i: (i.template, i.job, i.name, i.tag))
    return Evaluation(tuple(images), tuple(dict.fromkeys(skipped)), tuple(entries))


def _check_sources(sources: Mapping[str, str]) -> None:
    if len(sources) > MAX_FILES:
        raise TemplateError(
            "The templates given", f"they are more than {MAX_FILES:,} files", "Give fewer"
        )
    total = 0
    for path, text in sources.items():
        if len(text) > MAX_TEMPLATE_BYTES:
            raise _too_big(path, len(text.encode("utf-8", "replace")))
        total += len(text)
    if total > MAX_TOTAL_BYTES:
        raise TemplateError(
            "The templates given",
            f"they add up to more than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB",
            "Give GitLab's templates directory only",
        )
