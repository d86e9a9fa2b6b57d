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
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from yaml.events import AliasEvent

from airgap_tui.errors import UsageError

MAX_TEMPLATE_BYTES = 2 * 1024 * 1024  # the biggest real template is ~40 KB; GitLab caps at 1 MB
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # a whole Omnibus templates tree is ~2 MB
MAX_FILES = 5_000  # template files read from a directory
MAX_DIR_ENTRIES = 50_000  # directory entries looked at while finding them
MAX_DIR_DEPTH = 8
MAX_YAML_NODES = 200_000  # per file
MAX_YAML_ALIASES = 1_000  # per file: stops "billion laughs"
MAX_YAML_DEPTH = 64
MAX_TREE_NODES = 500_000  # per evaluated template, after includes and references
MAX_EXTENDS_DEPTH = 11  # GitLab's own limit on extends nesting
MAX_INCLUDES = 150  # GitLab's own limit on includes per pipeline
MAX_INCLUDE_DEPTH = 100
MAX_REFERENCE_DEPTH = 10  # GitLab's own limit on nested !reference
MAX_VARIABLE_DEPTH = 32
MAX_VALUE_CHARS = 64 * 1024

TEMPLATE_SUFFIXES = (".yml", ".yaml")
DEFAULT_TEMPLATE_HOST = "registry.gitlab.com"

# Jobs/ holds every kind of job template; these are the security ones.
SECURITY_JOB_TEMPLATES = frozenset(
    {
        "SAST",
        "SAST-IaC",
        "Secret-Detection",
        "Dependency-Scanning",
        "Dependency-Scanning.v2",
        "Container-Scanning",
        "License-Scanning",
    }
)
# Security/ holds only security templates; this one mirrors images, it runs no scanner.
NOT_SCANNERS = frozenset({"Secure-Binaries"})
# Before 14.0 a few security templates sat at the root; DAST ones still do on some versions.
ROOT_SECURITY_PREFIXES = (
    "DAST",
    "API-",
    "SAST",
    "Secret-Detection",
    "Dependency-Scanning",
    "Container-Scanning",
    "License-Scanning",
)

RESERVED_KEYS = frozenset(
    {
        "variables",
        "include",
        "stages",
        "default",
        "workflow",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
        "types",
        "spec",
    }
)

_PREFIX = "\x00analyzer-prefix\x00"
_HOST = "\x00template-host\x00"
_FIPS_MODE = re.compile(r"\$\{?CI_GITLAB_FIPS_MODE\}?\s*==\s*(['\"])true\1")
_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")
_INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*(?:\|[^\]]*)?\]\]")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST_PART = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_TRUE_CHECK = re.compile(r"\$\{?(\w+)\}?\s*==\s*(['\"])(?:true|1)\2")
_BARE = re.compile(r"\$\{?(\w+)\}?")
_NOT_TRUE = re.compile(r"\$\{?(\w+)\}?\s*!=\s*(['\"])(?:true|1)\2")


class TemplateError(UsageError):
    """A template file that cannot be evaluated: names the file, the job and what to do."""


@dataclass(frozen=True)
class TemplateImage:
    """One image one job of one template pulls."""

    name: str  # path under the analyzer prefix; outside it, the full reference without tag
    tag: str
    job: str
    template: str  # path relative to the templates root, e.g. "Jobs/SAST.gitlab-ci.yml"
    opt_in: str | None  # the variable that must be set for the job to run, or None
    fips: bool  # the FIPS variant (the job's FIPS rule changed the image)
    under_prefix: bool
    note: str | None  # for images outside the prefix: what to do about it

    @property
    def reference(self) -> str:
        """`name:tag` (or `name@digest`), relative to the prefix when under it."""
        sep = "@" if self.tag.startswith("sha256:") else ":"
        return f"{self.name}{sep}{self.tag}"


@dataclass(frozen=True)
class Evaluation:
    """What a set of templates asks for, and the jobs whose image could not be read."""

    images: tuple[TemplateImage, ...]
    skipped: tuple[str, ...]  # one sentence per job left out, with why
    templates: tuple[str, ...]  # the security templates evaluated


@dataclass(frozen=True)
class _Reference:
    """A `!reference [job, key, ...]` tag, resolved after every include is merged."""

    path: tuple[str, ...]


class _Loader(yaml.SafeLoader):
    """The safe loader plus `!reference`, and caps on nodes, aliases and nesting depth."""

    def __init__(self, stream: str, origin: str) -> None:
        super().__init__(stream)
        self.origin = origin
        self.nodes = 0
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise _LimitHit(f"it has more than {MAX_YAML_NODES:,} YAML nodes")
        if self.check_event(AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise _LimitHit(f"it uses more than {MAX_YAML_ALIASES:,} YAML aliases")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise _LimitHit(f"it nests deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _construct_reference(loader: yaml.SafeLoader, node: yaml.Node) -> _Reference:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!reference takes a list such as [.job, key]", node.start_mark
        )
    items = loader.construct_sequence(node)
    return _Reference(tuple(str(item) for item in items))


_Loader.add_constructor("!reference", _construct_reference)


class _LimitHit(Exception):
    """Internal: a cap was reached; turned into a TemplateError with the file's name."""


# ---------------------------------------------------------------------------------------------
# Reading a templates directory


def read_templates_dir(root: Path) -> dict[str, str]:
    """Every template file under `root`, as relative posix path -> text; bounded, clear errors."""
    what = f"Templates directory {root}"
    hint = (
        "Point --templates at GitLab's lib/gitlab/ci/templates directory (on Omnibus "
        "/opt/gitlab/embedded/service/gitlab-rails/lib/gitlab/ci/templates), copied whole"
    )
    try:
        info = root.stat()
    except FileNotFoundError:
        raise TemplateError(what, "it does not exist", hint) from None
    except OSError as exc:
        raise TemplateError(what, f"it cannot be read ({exc.strerror or exc})", hint) from None
    if not stat.S_ISDIR(info.st_mode):
        raise TemplateError(what, "it is not a directory", hint)
    sources: dict[str, str] = {}
    total = 0
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
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 <= MAX_DIR_DEPTH:
                    stack.append((path, depth + 1))
                continue
            if not entry.name.endswith(TEMPLATE_SUFFIXES) or not entry.is_file():
                continue
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


# ---------------------------------------------------------------------------------------------
# Evaluating


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
    cache = _DocumentCache(sources)
    found: dict[tuple[str, str, str, str, bool], TemplateImage] = {}
    skipped: list[str] = []
    for entry in entries:
        pipeline = _Pipeline(entry, cache)
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


class _DocumentCache:
    """Each file parsed once: its `spec:` inputs (if any) and its body, as a bounded tree."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources
        self.parsed: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def get(self, path: str, included_by: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        if path in self.parsed:
            return self.parsed[path]
        if path not in self.sources:
            raise TemplateError(
                f"Template {included_by}",
                f"it includes {path}, which is not among the templates given",
                "Copy GitLab's whole lib/gitlab/ci/templates directory, not single files",
            )
        result = _parse(path, self.sources[path])
        self.parsed[path] = result
        return result


def _parse(path: str, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    what = f"Template {path}"
    step = "It is not a GitLab CI template or it is damaged; copy the templates again"
    loader = _Loader(text, path)
    documents: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            documents.append(loader.construct_document(node))
            if len(documents) > 2:
                raise _LimitHit("it holds more than two YAML documents (a spec and a body)")
    except _LimitHit as exc:
        raise TemplateError(what, str(exc), step) from None
    except RecursionError:
        raise TemplateError(what, f"it nests deeper than {MAX_YAML_DEPTH} levels", step) from None
    except yaml.YAMLError as exc:
        raise TemplateError(what, f"it is not valid YAML ({_yaml_problem(exc)})", step) from None
    finally:
        loader.dispose()
    spec: dict[str, Any] = {}
    if len(documents) == 2:
        header, body = documents
        if not isinstance(header, dict) or "spec" not in header:
            raise TemplateError(what, "its first YAML document is not a `spec:` header", step)
        spec = header
    elif documents:
        body = documents[0]
    else:
        body = {}
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise TemplateError(what, f"it is a YAML {_kind(body)}, not a mapping of jobs", step)
    budget = _Budget(what)
    return _tree(spec, budget), _tree(body, budget)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return f"{str(problem)[:120]}{where}"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


class _Budget:
    """Counts nodes copied, so aliases and references cannot grow a tree without bound."""

    def __init__(self, what: str, limit: int = MAX_TREE_NODES) -> None:
        self.what = what
        self.limit = limit
        self.used = 0

    def spend(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise TemplateError(
                self.what,
                f"it expands to more than {self.limit:,} YAML nodes (aliases or !reference "
                "repeated over and over)",
                "It is not a GitLab template; copy the templates again",
            )


def _tree(value: Any, budget: _Budget, depth: int = 0) -> Any:
    """A fresh copy with string keys; shared (aliased) nodes are copied, and counted."""
    budget.spend()
    if depth > MAX_YAML_DEPTH * 2:
        raise TemplateError(budget.what, "it nests too deep", "Copy the templates again")
    if isinstance(value, dict):
        return {str(k): _tree(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, budget, depth + 1) for v in value]
    return value


def _merge(base: Any, over: Any, budget: _Budget) -> Any:
    """GitLab's deep merge: mappings merge key by key, anything else is replaced."""
    budget.spend()
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value, budget) if key in base else value
        return out
    return over


@dataclass
class _Job:
    name: str
    body: dict[str, Any]
    template: str


@dataclass
class _Pipeline:
    """One entry template with everything it includes, merged as GitLab merges them."""

    entry: str
    cache: _DocumentCache
    config: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # job -> file that defined it last

    def __post_init__(self) -> None:
        self.budget = _Budget(f"Template {self.entry}")
        self.includes = 0
        self.config = self._load(self.entry, {}, None, 0)
        self.config = self._resolve_references(self.config)

    # -- includes and inputs ------------------------------------------------------------------

    def _load(
        self, path: str, inputs: Mapping[str, Any], parent: str | None, depth: int
    ) -> dict[str, Any]:
        if depth > MAX_INCLUDE_DEPTH:
            raise TemplateError(
                f"Template {parent}",
                f"its includes nest deeper than {MAX_INCLUDE_DEPTH} levels (an include loop?)",
                "Copy the templates again",
            )
        spec, body = self.cache.get(path, parent)
        if spec:
            values = self._input_values(path, spec, inputs)
            body = self._interpolate(path, body, values)
        merged: dict[str, Any] = {}
        for include in self._include_list(path, body.get("include")):
            target, include_inputs = include
            self.includes += 1
            if self.includes > MAX_INCLUDES:
                raise TemplateError(
                    f"Template {self.entry}",
                    f"it includes more than {MAX_INCLUDES} files (GitLab's limit)",
                    "Copy the templates again",
                )
            merged = _merge(
                merged, self._load(target, include_inputs, path, depth + 1), self.budget
            )
        own = {k: v for k, v in body.items() if k != "include"}
        for key, value in own.items():
            if key not in RESERVED_KEYS and isinstance(value, dict):
                self.origin[key] = path
        result: dict[str, Any] = _merge(merged, own, self.budget)
        return result

    def _include_list(self, path: str, raw: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
        if raw is None:
            return
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            if isinstance(item, str):
                if "://" in item:
                    continue  # a remote include: not in this set, so not followed offline
                yield item.lstrip("/"), {}
                continue
            if not isinstance(item, dict):
                raise TemplateError(
                    f"Template {path}",
                    f"an include entry is a {_kind(item)}, not a path or a mapping",
                    "It is not a GitLab template; copy the templates again",
                )
            raw_inputs = item.get("inputs")
            inputs: Mapping[str, Any] = raw_inputs if isinstance(raw_inputs, dict) else {}
            target = item.get("template", item.get("local"))
            if isinstance(target, str):
                yield target.lstrip("/"), inputs
            # remote:, project:, component: live outside the templates; not followed offline

    def _input_values(
        self, path: str, spec: dict[str, Any], given: Mapping[str, Any]
    ) -> dict[str, Any]:
        declared = spec.get("spec", {}) or {}
        raw_inputs = declared.get("inputs", {}) if isinstance(declared, dict) else {}
        values: dict[str, Any] = {}
        if isinstance(raw_inputs, dict):
            for name, decl in raw_inputs.items():
                if isinstance(decl, dict) and "default" in decl:
                    values[name] = decl["default"]
        values.update(given)
        return values

    def _interpolate(self, path: str, value: Any, inputs: Mapping[str, Any]) -> Any:
        self.budget.spend()
        if isinstance(value, dict):
            return {
                self._interpolate_text(path, k, inputs): self._interpolate(path, v, inputs)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._interpolate(path, v, inputs) for v in value]
        if isinstance(value, str):
            whole = _INPUT.fullmatch(value.strip())
            if whole and whole.group(1) in inputs and not isinstance(inputs[whole.group(1)], str):
                return inputs[whole.group(1)]  # `allow_failure: $[[ inputs.x ]]` keeps its type
            return self._interpolate_text(path, value, inputs)
        return value

    def _interpolate_text(self, path: str, text: str, inputs: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in inputs:
                raise TemplateError(
                    f"Template {path}",
                    f"it uses input {name!r}, which its spec declares without a default and "
                    "no include gives",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            value = inputs[name]
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)

        out = _INPUT.sub(one, text)
        if len(out) > MAX_VALUE_CHARS:
            raise TemplateError(
                f"Template {path}", "an input expands to more than 64 KiB", "Copy it again"
            )
        return out

    # -- !reference ---------------------------------------------------------------------------

    def _resolve_references(self, value: Any, depth: int = 0) -> Any:
        self.budget.spend()
        if isinstance(value, _Reference):
            return self._resolve_references(self._lookup(value), depth + 1)
        if depth > MAX_REFERENCE_DEPTH + MAX_YAML_DEPTH * 2:
            raise TemplateError(
                f"Template {self.entry}",
                f"its !reference tags nest deeper than {MAX_REFERENCE_DEPTH} levels",
                "It is not a GitLab template as shipped; copy the templates again",
            )
        if isinstance(value, dict):
            return {k: self._resolve_references(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                was_reference = isinstance(item, _Reference)
                resolved = self._resolve_references(item, depth + 1)
                if was_reference and isinstance(resolved, list):
                    out.extend(resolved)  # GitLab flattens a referenced list into the list
                else:
                    out.append(resolved)
            return out
        return value

    def _lookup(self, reference: _Reference) -> Any:
        node: Any = self.config
        for key in reference.path:
            if isinstance(node, _Reference):
                node = self._lookup(node)
            if not isinstance(node, dict) or key not in node:
                return None  # GitLab refuses the pipeline; here the field is simply empty
            node = node[key]
        return node

    # -- jobs ---------------------------------------------------------------------------------

    def images(self, *, fips: bool, skipped: list[str]) -> Iterator[TemplateImage]:
        global_vars = _variables(self.config.get("variables"))
        for name, body in self.config.items():
            if name in RESERVED_KEYS or name.startswith(".") or not isinstance(body, dict):
                continue
            template = self.origin.get(name, self.entry)
            job = _Job(name, self._extend(name, body, template, [name]), template)
            rules = job.body.get("rules")
            rule_list = rules if isinstance(rules, list) else []
            if isinstance(rules, list) and _never_runs(rule_list):
                continue  # the stub of a removed analyzer: its only rule is `when: never`
            raw_image = job.body.get("image")
            image_text = raw_image.get("name") if isinstance(raw_image, dict) else raw_image
            if image_text is None:
                continue  # no image of its own: it runs on the runner's default image
            if not isinstance(image_text, str | int | float):
                raise TemplateError(
                    f"Template {template}, job {name}",
                    f"its image is a {_kind(image_text)}, not a string or {{name: …}}",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            image = self._image(job, str(image_text), global_vars, rule_list, fips, skipped)
            if image is not None:
                yield image

    def _extend(
        self, name: str, body: dict[str, Any], template: str, chain: list[str]
    ) -> dict[str, Any]:
        parents = body.get("extends")
        if parents is None:
            return body
        if len(chain) > MAX_EXTENDS_DEPTH:
            raise TemplateError(
                f"Template {template}, job {chain[0]}",
                f"its extends chain is deeper than {MAX_EXTENDS_DEPTH} levels "
                f"({' -> '.join(chain[:4])} -> …), GitLab's own limit",
                "It is not a GitLab template as shipped; copy the templates again",
            )
        names = parents if isinstance(parents, list) else [parents]
        merged: dict[str, Any] = {}
        for parent in names:
            if not isinstance(parent, str):
                raise TemplateError(
                    f"Template {template}, job {chain[0]}",
                    f"extends names a {_kind(parent)}, not a job",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            if parent in chain:
                raise TemplateError(
                    f"Template {template}, job {chain[0]}",
                    f"its extends chain loops ({' -> '.join([*chain, parent])})",
                    "It is not a GitLab template as shipped; copy the templates again",
                )
            parent_body = self.config.get(parent)
            if not isinstance(parent_body, dict):
                raise TemplateError(
                    f"Template {template}, job {chain[0]}",
                    f"it extends {parent!r}, which no template in the set defines",
                    "Copy GitLab's whole templates directory",
                )
            resolved = self._extend(parent, parent_body, template, [*chain, parent])
            merged = _merge(merged, resolved, self.budget)
        own = {k: v for k, v in body.items() if k != "extends"}
        result: dict[str, Any] = _merge(merged, own, self.budget)
        return result

    def _image(
        self,
        job: _Job,
        image_text: str,
        global_vars: dict[str, str],
        rules: list[Any],
        fips: bool,
        skipped: list[str],
    ) -> TemplateImage | None:
        where = f"Template {job.template}, job {job.name}"
        job_vars = _variables(job.body.get("variables"))
        scope = {**global_vars, **job_vars}
        plain = _Expander(where, scope).expand(image_text)
        expanded = plain
        fips_rule = _fips_rule_variables(rules) if fips else None
        if fips_rule:
            expanded = _Expander(where, {**scope, **fips_rule}).expand(image_text)
        parsed = _split_reference(expanded, image_text)
        if parsed is None:
            shown = expanded.replace(_PREFIX, "$SECURE_ANALYZERS_PREFIX").replace(
                _HOST, DEFAULT_TEMPLATE_HOST
            )
            skipped.append(
                f"{job.template}, job {job.name}: its image {image_text!r} expands to "
                f"{shown!r}, which is not an image reference (it needs a variable the "
                "templates do not set)"
            )
            return None
        name, tag, under_prefix = parsed
        note = None if under_prefix else _outside_note(job, name, tag, image_text)
        return TemplateImage(
            name=name,
            tag=tag,
            job=job.name,
            template=job.template,
            opt_in=_opt_in(rules, global_vars),
            fips=fips and expanded != plain,
            under_prefix=under_prefix,
            note=note,
        )


def _variables(raw: Any) -> dict[str, str]:
    """A `variables:` mapping as strings; `{value: …, description: …}` entries give value."""
    out: dict[str, str] = {}
    if not isinstance(raw, dict):
        return out
    for key, value in raw.items():
        if isinstance(value, dict):
            value = value.get("value", "")
        if value is None:
            value = ""
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | dict):
            continue  # not a variable GitLab accepts; it cannot be part of an image
        out[str(key)] = str(value)
    return out


class _Expander:
    """`$VAR`, `${VAR}` and `$$` as GitLab expands them, with loops and blow-ups refused."""

    def __init__(self, where: str, scope: Mapping[str, str]) -> None:
        self.where = where
        self.scope = scope

    def expand(self, text: str) -> str:
        return self._expand(text, [])

    def _expand(self, text: str, stack: list[str]) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1) or match.group(2)
            return self._value(name, stack)

        out = _VARIABLE.sub(one, text)
        if len(out) > MAX_VALUE_CHARS:
            raise TemplateError(
                self.where,
                f"its image expands to more than {MAX_VALUE_CHARS // 1024} KiB",
                "A variable repeats another over and over; fix the template or copy it again",
            )
        return out

    def _value(self, name: str, stack: list[str]) -> str:
        if name == "SECURE_ANALYZERS_PREFIX":
            return _PREFIX  # whatever the template defaults it to, it is the analyzer prefix
        if name == "CI_TEMPLATE_REGISTRY_HOST":
            return _HOST
        if name in stack:
            loop = " -> ".join([*stack[stack.index(name) :], name])
            raise TemplateError(
                self.where,
                f"variable {name} refers to itself ({loop})",
                "GitLab cannot expand it either; fix the variable in the template",
            )
        if len(stack) >= MAX_VARIABLE_DEPTH:
            raise TemplateError(
                self.where,
                f"its variables refer to each other more than {MAX_VARIABLE_DEPTH} deep",
                "Fix the variables in the template",
            )
        value = self.scope.get(name)
        if value is None:
            return ""  # GitLab expands an unset variable to nothing
        return self._expand(value, [*stack, name])


def _split_reference(expanded: str, image_text: str) -> tuple[str, str, bool] | None:
    """(name, tag, under_prefix) of an expanded image, or None when it is no reference."""
    text = expanded.strip()
    literal_host = re.match(r"\s*\"?\$\{?CI_TEMPLATE_REGISTRY_HOST\b", image_text) is not None
    under = False
    if text.startswith(_PREFIX + "/"):
        rest, under = text[len(_PREFIX) + 1 :], True
    elif text.startswith(_HOST + "/security-products/") and not literal_host:
        rest, under = text[len(_HOST) + len("/security-products/") :], True
    else:
        rest = text.replace(_HOST, DEFAULT_TEMPLATE_HOST)
    if _PREFIX in rest or _HOST in rest:
        return None
    if "@" in rest:
        name, _, tag = rest.partition("@")
        if not _DIGEST.fullmatch(tag):
            return None
    else:
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            name, tag = rest[:colon], rest[colon + 1 :]
        else:
            name, tag = rest, "latest"
        if not _TAG.fullmatch(tag):
            return None
    if under:
        if not _NAME.fullmatch(name):
            return None
    else:
        first, _, path = name.partition("/")
        is_host = "." in first or ":" in first or first == "localhost"
        if is_host:
            if not (_HOST_PART.fullmatch(first) and _NAME.fullmatch(path)):
                return None
        elif not _NAME.fullmatch(name):
            return None
    return name, tag, under


def _outside_note(job: _Job, name: str, tag: str, image_text: str) -> str:
    if re.match(r"\s*\"?\$\{?CI_TEMPLATE_REGISTRY_HOST\b", image_text):
        how = (
            "its template writes the registry host into the image itself, so "
            "SECURE_ANALYZERS_PREFIX does not move it"
        )
    else:
        how = "it does not go through SECURE_ANALYZERS_PREFIX"
    first = _VARIABLE.match(image_text.strip().strip('"'))
    whole = (first.group(1) or first.group(2)) if first else None
    if whole == "CI_TEMPLATE_REGISTRY_HOST":
        whole = None
    if whole:
        fix = f"mirror {name}:{tag} into your registry and set {whole} to that copy"
    else:
        fix = (
            f"mirror {name}:{tag} into your registry and override the job's image "
            f"({job.name}) in your .gitlab-ci.yml to point at that copy"
        )
    return f"{how}: {fix}"


def _fips_rule_variables(rules: list[Any]) -> dict[str, str] | None:
    """The variables of the first rule that applies on a FIPS instance, if it sets any."""
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("when") == "never":
            continue
        condition = rule.get("if")
        if isinstance(condition, str) and _FIPS_MODE.search(condition):
            values = _variables(rule.get("variables"))
            if values:
                return values
    return None


def _never_runs(rules: list[Any]) -> bool:
    """True when no rule before an unconditional `when: never` can start the job."""
    for rule in rules:
        if not isinstance(rule, dict):
            return False
        conditional = any(key in rule for key in ("if", "exists", "changes"))
        if rule.get("when") == "never":
            if not conditional:
                return True
            continue
        return False
    return True  # no rule matches: GitLab does not add the job


def _excluded_switch(name: str) -> bool:
    return name.startswith("CI_") or name == "GITLAB_FEATURES"


def _conjuncts(condition: str) -> list[str]:
    """Split an `if:` on top-level `&&`; parenthesised groups stay whole."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(condition):
        char = condition[i]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif condition.startswith("&&", i) and depth == 0:
            parts.append(condition[start:i].strip())
            start = i + 2
            i += 1
        i += 1
    parts.append(condition[start:].strip())
    return parts


def _opt_in(rules: list[Any], global_vars: Mapping[str, str]) -> str | None:
    """The variable a job needs set before it runs at all (GITLAB_ADVANCED_SAST_ENABLED, …)."""

    def off_by_default(name: str) -> bool:
        return global_vars.get(name, "").strip().lower() not in ("true", "1")

    for rule in rules:
        if not isinstance(rule, dict) or rule.get("when") != "never":
            continue
        condition = rule.get("if")
        if not isinstance(condition, str):
            break
        parts = _conjuncts(condition)
        names: set[str] = set()
        for part in parts:
            match = _NOT_TRUE.fullmatch(part)
            if match is None:
                names = set()
                break
            names.add(match.group(1))
        if len(names) == 1:
            (name,) = names
            if not _excluded_switch(name) and off_by_default(name):
                return name
    candidates: set[str] | None = None
    for rule in rules:
        if not isinstance(rule, dict) or rule.get("when") == "never":
            continue
        condition = rule.get("if")
        if not isinstance(condition, str):
            return None  # a rule that runs the job with no condition at all
        names = set()
        for part in _conjuncts(condition):
            match = _TRUE_CHECK.fullmatch(part) or _BARE.fullmatch(part)
            if match and not _excluded_switch(match.group(1)):
                names.add(match.group(1))
        candidates = names if candidates is None else candidates & names
    if not candidates:
        return None
    switches = sorted(name for name in candidates if off_by_default(name))
    return switches[0] if switches else None
