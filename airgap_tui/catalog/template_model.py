"""What the template evaluator reports, its error, and the bounds it keeps on hostile input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from airgap_tui.errors import UsageError

MAX_TEMPLATE_BYTES = (
    1024 * 1024
)  # GitLab refuses CI YAML over 1 MB by default; real ones are ~10 KB


MAX_TOTAL_BYTES = 64 * 1024 * 1024  # a whole Omnibus templates tree is ~2 MB


MAX_SECURITY_BYTES = 2 * 1024 * 1024  # the security templates evaluated: ~200 KB in GitLab 18


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


MAX_VARIABLE_LOOKUPS = 10_000  # per image; real templates need a dozen


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


class _InputWithoutDefault(TemplateError):
    """An entry template whose spec wants an input only an including pipeline can give."""


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


@dataclass
class _Job:
    name: str
    body: dict[str, Any]
    template: str
