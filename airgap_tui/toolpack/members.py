"""What goes into airgap-tui.pyz: the files of airgap-tui and every runtime dependency.

The offline host has no package index, so they are taken from the installed distributions (no
network), pure Python only. Compiled extensions are left out and the pure-Python fallbacks their
packages ship are used; a compiled module without one stops the build here, not on the far side.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airgap_tui.errors import AirgapError

if TYPE_CHECKING:  # loaded where used: the low-priority build child never needs it
    from importlib import metadata
from airgap_tui.toolpack.pep508 import (
    MarkerError,
    default_environment,
    marker_holds,
    normalize_name,
    parse_requirement,
)

ROOT_DISTRIBUTION = "airgap-tui"
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll", *importlib.machinery.EXTENSION_SUFFIXES)
# Compiled modules whose package imports them inside try/except and carries on without them.
OPTIONAL_COMPILED = {"yaml._yaml"}  # PyYAML: `from .cyaml import *` fails -> pure-Python parser
METADATA_FILES = {"METADATA", "entry_points.txt", "top_level.txt"}
LICENCE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")


class ToolError(AirgapError):
    """The carried tool cannot be built from what is installed here."""


@dataclass(frozen=True)
class Member:
    """One file of an installed distribution, as it goes into the archive: read from `path`,
    or `data` when it is made here (metadata of a distribution installed without RECORD)."""

    arcname: str
    distribution: str
    path: Path | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size


def resolve_distributions(root: str = ROOT_DISTRIBUTION) -> list[metadata.Distribution]:
    """`root` and its runtime requirements, recursively, with extras and markers evaluated
    for this interpreter; sorted by name."""
    return [dist for dist, _ in _resolve(root)]


def _resolve(root: str) -> list[tuple[metadata.Distribution, str]]:
    """resolve_distributions, each with its name as METADATA spells it (METADATA parsed once
    per distribution: parsing it is most of the time spent here)."""
    environment = default_environment()
    found: dict[str, tuple[metadata.Distribution, str, list[str]]] = {}
    done: set[tuple[str, str]] = set()
    queue: list[tuple[str, str, str]] = [(normalize_name(root), "", "")]
    while queue:
        name, extra, needed_by = queue.pop()
        if (name, extra) in done:
            continue
        done.add((name, extra))
        if name not in found:
            dist = _installed(name, needed_by)
            meta = dist.metadata
            requires = meta.get_all("Requires-Dist") or dist.requires or []  # else egg-info's
            found[name] = (dist, str(meta["Name"]), requires)
        dist, dist_name, requires = found[name]
        for text in requires:
            try:
                requirement = parse_requirement(text)
                wanted = requirement.marker is None or marker_holds(
                    requirement.marker, environment, extra
                )
            except MarkerError as exc:
                raise ToolError(
                    f"The requirement {text!r} of {dist_name}",
                    f"it cannot be read ({exc})",
                    "Export with --no-tool and install airgap-tui on the offline host by hand",
                ) from exc
            if not wanted:
                continue
            queue.append((requirement.name, "", name))
            queue.extend((requirement.name, e, name) for e in requirement.extras)
    return [(found[name][0], found[name][1]) for name in sorted(found)]


def _installed(name: str, needed_by: str) -> metadata.Distribution:
    from importlib import metadata

    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        by = f" (needed by {needed_by})" if needed_by else ""
        raise ToolError(
            f"Python package {name}{by}",
            "it is not installed here, so the carried tool cannot include it",
            "Reinstall airgap-tui with its dependencies (pip install airgap-tui), "
            "or export with --no-tool",
        ) from None


def collect_members(root: str = ROOT_DISTRIBUTION) -> list[Member]:
    """Every file the archive holds (besides `__main__.py` and bytecode), sorted by name."""
    members: dict[str, Member] = {}
    for dist, dist_name in _resolve(root):
        files, compiled = _distribution_files(dist, dist_name)
        for member in files:
            members.setdefault(member.arcname, member)
        names = {member.arcname for member in files}
        for arcname in compiled:
            _check_fallback(arcname, names, dist_name)
    members.pop("__main__.py", None)
    return [members[name] for name in sorted(members)]


def _distribution_files(
    dist: metadata.Distribution, dist_name: str
) -> tuple[list[Member], list[str]]:
    """The files to carry, and the compiled modules left out. A wheel install lists its files
    in RECORD; an editable one or a source tree's egg-info does not (their SOURCES.txt is the
    project's, not what Python imports): their packages are taken from where Python finds them."""
    record = dist.read_text("RECORD")
    if record is None:
        files, compiled = _walk_packages(dist, dist_name)
        return files + _made_metadata(dist, dist_name), compiled
    files = []
    compiled = []
    base = Path(str(dist.locate_file("")))  # where RECORD's names are relative to
    for arcname, parts in _record_names(record):
        if not parts or ".." in parts or parts[0].endswith(".data"):
            continue  # scripts, headers: installed outside site-packages, not importable
        if parts[0].endswith(".dist-info"):
            if _wanted_metadata(parts):
                files.append(Member(arcname, dist_name, path=base / arcname))
        elif _skipped(parts):
            continue
        elif arcname.endswith(COMPILED_SUFFIXES):
            compiled.append(arcname)
        else:
            files.append(Member(arcname, dist_name, path=base / arcname))
    if _editable(dist):
        walked, walked_compiled = _walk_packages(dist, dist_name)
        files.extend(walked)
        compiled.extend(walked_compiled)
    for member in files:
        if member.path is not None and not member.path.is_file():
            raise ToolError(
                f"{member.path} (of the installed {dist_name})",
                "the package lists it but it is missing",
                f"Reinstall it (pip install --force-reinstall {dist_name}), "
                "or export with --no-tool",
            )
    return files, compiled


def _record_names(record: str) -> list[tuple[str, tuple[str, ...]]]:
    """RECORD's relative file names (its first column), each with its parts, as PurePosixPath
    would split them: read here rather than as importlib.metadata's PackagePath objects, a few
    thousand of which take longer to make than the rest of the collection. Absolute ones
    (installed outside site-packages, not importable) are left out."""
    import csv

    names = []
    for row in csv.reader(record.splitlines()):
        name = row[0].replace("\\", "/") if row else ""  # backslashes: written on Windows
        if not name or name.startswith("/"):
            continue
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        names.append(("/".join(parts), parts))
    return names


def _made_metadata(dist: metadata.Distribution, dist_name: str) -> list[Member]:
    """A .dist-info for a distribution without one, so importlib.metadata finds it in the zip."""
    directory = f"{normalize_name(dist_name).replace('-', '_')}-{dist.version}.dist-info"
    made = []
    for name, text in (
        ("METADATA", dist.read_text("METADATA") or dist.read_text("PKG-INFO")),
        ("entry_points.txt", dist.read_text("entry_points.txt")),
        ("top_level.txt", dist.read_text("top_level.txt")),
    ):
        if text:
            made.append(Member(f"{directory}/{name}", dist_name, data=text.encode("utf-8")))
    return made


def _wanted_metadata(parts: tuple[str, ...]) -> bool:
    """METADATA (importlib.metadata.version() reads it), entry points and the licences."""
    if len(parts) == 2 and parts[1] in METADATA_FILES:
        return True
    return "licenses" in parts[1:-1] or parts[-1].upper().startswith(LICENCE_NAMES)


def _skipped(parts: tuple[str, ...]) -> bool:
    name = parts[-1]
    return (
        "__pycache__" in parts
        or name.endswith((".pyc", ".pyo", ".pth"))
        or name.startswith("__editable__")
    )


def _editable(dist: metadata.Distribution) -> bool:
    """`pip install -e`: RECORD lists a path hook, not the sources."""
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    try:
        info = json.loads(text)
    except ValueError:
        return False
    return isinstance(info, dict) and bool((info.get("dir_info") or {}).get("editable"))


def _walk_packages(dist: metadata.Distribution, dist_name: str) -> tuple[list[Member], list[str]]:
    """The distribution's top-level packages, from where Python imports them."""
    top_level = (dist.read_text("top_level.txt") or "").split() or [
        normalize_name(dist_name).replace("-", "_")
    ]
    files: list[Member] = []
    compiled: list[str] = []
    for top in sorted(set(top_level)):
        spec = importlib.util.find_spec(top)
        if spec is None or (spec.origin is None and not spec.submodule_search_locations):
            raise ToolError(
                f"Python package {top} (of {dist_name})",
                "Python cannot find it",
                "Install airgap-tui normally (pip install .), or export with --no-tool",
            )
        if not spec.submodule_search_locations:
            assert spec.origin is not None
            files.append(Member(Path(spec.origin).name, dist_name, path=Path(spec.origin)))
            continue
        for location in spec.submodule_search_locations:
            base = Path(location)
            if not base.is_dir():  # e.g. inside airgap-tui.pyz itself: nothing to walk
                raise ToolError(
                    f"Python package {top} (of {dist_name})",
                    f"it is not installed as files ({location})",
                    "Write the tool from an installed airgap-tui (pip install airgap-tui), "
                    "or export with --no-tool",
                )
            for path in sorted(base.rglob("*")):
                relative = path.relative_to(base).parts
                if not path.is_file() or any(p.startswith(".") for p in relative):
                    continue
                parts = (top, *relative)
                if _skipped(parts):
                    continue
                arcname = "/".join(parts)
                if arcname.endswith(COMPILED_SUFFIXES):
                    compiled.append(arcname)
                else:
                    files.append(Member(arcname, dist_name, path=path))
    return files, compiled


def _check_fallback(arcname: str, carried: set[str], dist_name: str) -> None:
    """A compiled module left out must have a pure-Python twin or be one its package skips."""
    if not arcname.endswith((".so", ".pyd")):
        return  # a plain shared library, not a module
    directory, _, filename = arcname.rpartition("/")
    stem = filename.split(".", 1)[0]
    module = f"{directory}/{stem}" if directory else stem
    dotted = module.replace("/", ".")
    if f"{module}.py" in carried or f"{module}/__init__.py" in carried:
        return
    if dotted in OPTIONAL_COMPILED or stem.endswith("__mypyc"):
        return
    raise ToolError(
        f"Module {dotted} of {dist_name}",
        "it is only installed as a compiled extension, and the carried tool is pure Python",
        f"Install {dist_name}'s pure-Python build (pip install --no-binary :all: "
        f"--force-reinstall {dist_name}), or export with --no-tool",
    )
