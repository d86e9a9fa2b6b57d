"""Build `airgap-tui.pyz`, the program that rides on the media next to the bundle.

The offline host has no package index, so the bundle brings the tool that reads it: one zipapp
holding airgap-tui and every runtime dependency, taken from the installed distributions (no
network), pure Python only. Compiled extensions are left out and the pure-Python fallbacks their
packages ship are used; a compiled module without one stops the build here, not on the far side.

Bytecode for the exporting interpreter rides along (hash-based, unchecked: the archive never
changes), so the wizard opens fast; another Python version ignores it and compiles the sources.
Same installation, same bytes: entries sorted, fixed timestamps, and the bytecode compiled in a
fresh interpreter, because marshal's output depends on what the compiling process has loaded.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import io
import json
import os
import re
import struct
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

from airgap_tui.bundle.atomic import fsync_dir, write_all
from airgap_tui.errors import AirgapError, MediaError
from airgap_tui.events import CancelToken, Progress, ProgressCallback, ignore_progress
from airgap_tui.toolpack.pep508 import (
    MarkerError,
    default_environment,
    marker_holds,
    normalize_name,
    parse_requirement,
)

TOOL_FILE = "airgap-tui.pyz"
ROOT_DISTRIBUTION = "airgap-tui"
STAGE_TOOL = "tool"  # progress stage: packing the carried tool

SHEBANG = b"#!/usr/bin/env python3\n"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say; same install -> same bytes
COMPRESS_LEVEL = 9
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll", *importlib.machinery.EXTENSION_SUFFIXES)
# Compiled modules whose package imports them inside try/except and carries on without them.
OPTIONAL_COMPILED = {"yaml._yaml"}  # PyYAML: `from .cyaml import *` fails -> pure-Python parser
METADATA_FILES = {"METADATA", "entry_points.txt", "top_level.txt"}
LICENCE_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")
CHUNK = 1024 * 1024

# Rough deflate ratios (measured on textual/rich/pygments/docker/requests) for tool_size().
_SOURCE_RATIO, _BYTECODE_RATIO, _DATA_RATIO = 0.26, 0.46, 0.37
_ENTRY_OVERHEAD = 76  # local header 30 + central directory 46, plus the name twice


class ToolError(AirgapError):
    """The carried tool cannot be built from what is installed here."""


class ToolInfo(NamedTuple):
    """What bundle.yaml's `tool` entry records."""

    file: str
    size: int
    sha256: str


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


# --- what goes in -----------------------------------------------------------------------
def resolve_distributions(root: str = ROOT_DISTRIBUTION) -> list[metadata.Distribution]:
    """`root` and its runtime requirements, recursively, with extras and markers evaluated
    for this interpreter; sorted by name."""
    environment = default_environment()
    found: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    queue: list[tuple[str, str, str]] = [(normalize_name(root), "", "")]
    while queue:
        name, extra, needed_by = queue.pop()
        if (name, extra) in done:
            continue
        done.add((name, extra))
        dist = found.get(name) or _installed(name, needed_by)
        found[name] = dist
        for text in dist.requires or []:
            try:
                requirement = parse_requirement(text)
                wanted = requirement.marker is None or marker_holds(
                    requirement.marker, environment, extra
                )
            except MarkerError as exc:
                raise ToolError(
                    f"The requirement {text!r} of {dist.metadata['Name']}",
                    f"it cannot be read ({exc})",
                    "Export with --no-tool and install airgap-tui on the offline host by hand",
                ) from exc
            if not wanted:
                continue
            queue.append((requirement.name, "", name))
            queue.extend((requirement.name, e, name) for e in requirement.extras)
    return [found[name] for name in sorted(found)]


def _installed(name: str, needed_by: str) -> metadata.Distribution:
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
    for dist in resolve_distributions(root):
        dist_name = str(dist.metadata["Name"])
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
    if dist.read_text("RECORD") is None:
        files, compiled = _walk_packages(dist, dist_name)
        return files + _made_metadata(dist, dist_name), compiled
    files = []
    compiled = []
    for entry in dist.files or []:
        posix = PurePosixPath(str(entry).replace("\\", "/"))
        arcname = posix.as_posix()
        parts = posix.parts
        if not parts or posix.is_absolute() or ".." in parts or parts[0].endswith(".data"):
            continue  # scripts, headers: installed outside site-packages, not importable
        path = Path(str(dist.locate_file(entry)))
        if parts[0].endswith(".dist-info"):
            if _wanted_metadata(parts):
                files.append(Member(arcname, dist_name, path=path))
        elif _skipped(parts):
            continue
        elif arcname.endswith(COMPILED_SUFFIXES):
            compiled.append(arcname)
        else:
            files.append(Member(arcname, dist_name, path=path))
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


# --- the archive ------------------------------------------------------------------------
def main_source(root: str = ROOT_DISTRIBUTION) -> str:
    """The archive's `__main__.py`: refuse a too-old Python in one sentence, then the CLI."""
    requires = " ".join(metadata.metadata(root).get_all("Requires-Python") or [])
    match = re.search(r">=\s*(\d+)\.(\d+)", requires)
    major, minor = (int(match.group(1)), int(match.group(2))) if match else (3, 11)
    return (
        '"""airgap-tui carried on the media: python3 airgap-tui.pyz [COMMAND ...]."""\n'
        "import sys\n"
        "\n"
        f"if sys.version_info < ({major}, {minor}):\n"
        '    sys.stderr.write("airgap-tui.pyz: this is Python %d.%d; it needs '
        f"{major}.{minor} or newer. "
        'Run it with a newer python3, or load the images with: cat images.tar.* | docker load\\n"'
        " % sys.version_info[:2])\n"
        "    sys.exit(2)\n"
        "\n"
        "from airgap_tui.cli.commands import main\n"
        "\n"
        "sys.exit(main())\n"
    )


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so the mode below is read
    info.external_attr = 0o100644 << 16
    return info


def build_tool(
    *,
    root: str = ROOT_DISTRIBUTION,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> bytes:
    """The archive's bytes (a few MB, held once in memory so its sha256 is known before it is
    written). Deterministic for one installation and one interpreter."""
    members = collect_members(root)
    total = sum(m.size() for m in members)
    done = 0
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    sources = [m for m in members if _compiles(m)]
    with (
        zipfile.ZipFile(buffer, "w") as archive,
        _Compiler(sources) as compiled,
    ):
        archive.writestr(_entry("__main__.py"), main_source(root), compresslevel=COMPRESS_LEVEL)
        for member in members:
            if cancel is not None:
                cancel.check(f"Packing {TOOL_FILE}")
            data = member.read()
            archive.writestr(_entry(member.arcname), data, compresslevel=COMPRESS_LEVEL)
            if _compiles(member):
                bytecode = compiled.next(member.arcname)
                if bytecode:
                    archive.writestr(
                        _entry(member.arcname + "c"), bytecode, compresslevel=COMPRESS_LEVEL
                    )
            done += len(data)
            progress(Progress(STAGE_TOOL, TOOL_FILE, done, total, "packing the carried tool"))
    return buffer.getvalue()


def _compiles(member: Member) -> bool:
    return member.arcname.endswith(".py") and member.path is not None


class _Compiler:
    """Compiles the sources in a fresh interpreter (same order in, same bytes out) and hands
    back each file's PEP 552 unchecked-hash .pyc; b"" when a file does not compile."""

    SCRIPT = r"""
import importlib.util, marshal, os, struct, sys, warnings
warnings.simplefilter("ignore")
fields = sys.stdin.buffer.read().split(b"\0")
out = sys.stdout.buffer
head = importlib.util.MAGIC_NUMBER + struct.pack("<I", 0b01)
for i in range(0, len(fields) - 1, 2):
    arcname, path = fields[i].decode("utf-8"), os.fsdecode(fields[i + 1])
    try:
        with open(path, "rb") as f:
            source = f.read()
        code = compile(source, arcname, "exec", dont_inherit=True)
        blob = head + importlib.util.source_hash(source) + marshal.dumps(code)
    except (SyntaxError, ValueError, OSError):
        blob = b""
    out.write(struct.pack("<Q", len(blob)) + blob)
out.flush()
"""

    def __init__(self, sources: list[Member]) -> None:
        self._order = [m.arcname for m in sources]
        self._request = b"".join(
            m.arcname.encode("utf-8") + b"\0" + os.fsencode(m.path or "") + b"\0" for m in sources
        )
        self._index = 0
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Compiler:
        if not sys.executable:
            raise ToolError(
                "Compiling the carried tool",
                "this Python does not know its own executable",
                "Run airgap-tui from an installed command, or export with --no-tool",
            )
        # -S -s -P and a bare environment: no site hooks, no user site, no cwd on sys.path;
        # PYTHONHASHSEED fixed so nothing hash-ordered can change the bytes.
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-s", "-P", "-c", self.SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PYTHONHASHSEED": "0"},
        )
        assert self._process.stdin is not None
        try:
            with self._process.stdin as stdin:
                stdin.write(self._request)
        except BrokenPipeError:
            pass  # it died at once: the first read says why
        return self

    def next(self, arcname: str) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        if self._index >= len(self._order) or self._order[self._index] != arcname:
            raise AssertionError(f"bytecode asked for {arcname} out of order")
        self._index += 1
        size = struct.unpack("<Q", self._read(self._process.stdout, 8))[0]
        return self._read(self._process.stdout, size)

    def _read(self, stream: IO[bytes], size: int) -> bytes:
        data = stream.read(size)
        if len(data) != size:
            assert self._process is not None and self._process.stderr is not None
            last = self._process.stderr.read().decode("utf-8", "replace").strip() or "?"
            self._process.wait()
            raise ToolError(
                "Compiling the carried tool",
                f"the compiler process stopped early ({last.splitlines()[-1]})",
                "Run the export again; if it keeps failing, export with --no-tool",
            )
        return data

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


# --- size and writing -------------------------------------------------------------------
def check_buildable(root: str = ROOT_DISTRIBUTION) -> list[Member]:
    """Raise ToolError now if the carried tool cannot be built here, so an export says so
    before it downloads gigabytes rather than after."""
    import airgap_tui

    package_dir = Path(airgap_tui.__file__).parent
    if not package_dir.is_dir():  # imported from a zip: this is airgap-tui.pyz itself
        raise ToolError(
            f"The carried tool ({TOOL_FILE})",
            f"this airgap-tui runs from inside a zip ({package_dir.parent}), and the tool "
            "cannot be re-packed from inside a zip",
            f"Export with --no-tool and copy this {TOOL_FILE} next to the bundle by hand, "
            "or export with an installed airgap-tui (pip install airgap-tui)",
        )
    return collect_members(root)


def tool_size(root: str = ROOT_DISTRIBUTION, members: list[Member] | None = None) -> int:
    """The archive's size, estimated in milliseconds from the installed files' sizes (within
    a few per cent). The exact size is len(build_tool()), which takes seconds."""
    size = len(SHEBANG) + 22 + 512  # end of central directory, __main__.py
    for member in collect_members(root) if members is None else members:
        raw = member.size()
        name = len(member.arcname.encode("utf-8"))
        size += _ENTRY_OVERHEAD + 2 * name
        if member.arcname.endswith(".py"):
            size += int(raw * _SOURCE_RATIO) + int(raw * _BYTECODE_RATIO)
            size += _ENTRY_OVERHEAD + 2 * (name + 1)
        else:
            size += int(raw * _DATA_RATIO)
    return size


def write_tool(
    dest_dir: str | os.PathLike[str],
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    root: str = ROOT_DISTRIBUTION,
    create: bool = False,
    reuse: bool = False,
) -> ToolInfo:
    """Write `<dest_dir>/airgap-tui.pyz` (.part, fsync, read back from the media, rename) and
    return its name, size and sha256 for bundle.yaml. An identical file already there is kept.
    `create` makes `dest_dir` (and its parents) when missing; `reuse` takes the archive this
    process last built when no installed file has changed since (see _Memo)."""
    directory = Path(dest_dir)
    _check_directory(directory, create=False, missing_ok=create)
    if reuse:
        data = _MEMO.build(root, progress, cancel)
    else:
        data = build_tool(root=root, progress=progress, cancel=cancel)
    _check_directory(directory, create=create)
    info = ToolInfo(TOOL_FILE, len(data), hashlib.sha256(data).hexdigest())
    target = directory / TOOL_FILE
    if _same_file(target, data):
        progress(Progress(STAGE_TOOL, TOOL_FILE, len(data), len(data), "kept", final=True))
        return info
    part = directory / (TOOL_FILE + ".part")
    try:
        _write_part(part, data, cancel)
        os.replace(part, target)
        fsync_dir(directory)
    except OSError as exc:
        _discard(part)
        raise MediaError(
            str(target),
            f"it could not be written ({exc.strerror or exc})",
            "Check that the media is writable and has a few MB free, then run again",
        ) from exc
    progress(Progress(STAGE_TOOL, TOOL_FILE, len(data), len(data), "written", final=True))
    return info


class _Memo:
    """The last archive built in this process, and the installation it was built from.

    Building takes seconds of CPU; a second export in the same process (the wizard run again,
    a test suite) gets the same bytes back when every member's path, size and mtime and the
    interpreter are unchanged: the archive is a function of exactly those."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._data = b""

    @staticmethod
    def key(root: str) -> tuple[object, ...]:
        signature: list[tuple[object, ...]] = []
        for member in collect_members(root):
            if member.path is None:
                signature.append((member.arcname, member.data))
            else:
                st = member.path.stat()
                signature.append((member.arcname, str(member.path), st.st_size, st.st_mtime_ns))
        return (root, sys.executable, sys.version, main_source(root), tuple(signature))

    def build(self, root: str, progress: ProgressCallback, cancel: CancelToken | None) -> bytes:
        with self._lock:
            key = self.key(root)
            if key != self._key:
                self._data = build_tool(root=root, progress=progress, cancel=cancel)
                self._key = key
            return self._data


_MEMO = _Memo()


def carried_sha256(root: str = ROOT_DISTRIBUTION, *, cancel: CancelToken | None = None) -> str:
    """The sha256 of the airgap-tui.pyz `write_tool(reuse=True)` writes (built once per
    process): a delta compares it with the archive the offline host ran (delta/tool.py)."""
    return hashlib.sha256(_MEMO.build(root, ignore_progress, cancel)).hexdigest()


def _check_directory(directory: Path, *, create: bool, missing_ok: bool = False) -> None:
    if directory.exists() and not directory.is_dir():
        raise MediaError(
            str(directory), "it is a file, not a directory", "Choose a directory for the tool"
        )
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MediaError(
                str(directory),
                f"it could not be created ({exc.strerror or exc})",
                "Choose a directory on writable media",
            ) from exc
    if not directory.is_dir() and not missing_ok:
        raise MediaError(
            str(directory),
            "it does not exist or is not a directory",
            "Create it first or choose another directory",
        )


def _same_file(path: Path, data: bytes) -> bool:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _write_part(part: Path, data: bytes, cancel: CancelToken | None) -> None:
    _discard(part)
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        for chunk in _chunks(data):
            if cancel is not None:
                cancel.check(f"Writing {TOOL_FILE}")
            write_all(fd, chunk)
        os.fsync(fd)
        _read_back(fd, part, data)
    except BaseException:
        os.close(fd)
        _discard(part)
        raise
    os.close(fd)


def _chunks(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    for offset in range(0, len(view), CHUNK):
        yield view[offset : offset + CHUNK]


def _read_back(fd: int, part: Path, data: bytes) -> None:
    """Drop the written pages and read them from the media: a stick that lies is caught here."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    for chunk_start in range(0, len(data), CHUNK):
        expected = data[chunk_start : chunk_start + CHUNK]
        got = os.pread(fd, len(expected), chunk_start)
        if got != expected:
            raise MediaError(
                str(part),
                f"it reads back differently from what was written (from byte {chunk_start} on)",
                "The media may be failing or fake-capacity: use another drive",
            )


def _discard(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
