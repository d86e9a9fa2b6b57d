"""Build `airgap-tui.pyz`, the program that rides on the media next to the bundle.

The offline host has no package index, so the bundle brings the tool that reads it: one zipapp
holding airgap-tui and every runtime dependency, taken from the installed distributions
(members.py says which files), pure Python only, with bytecode for the exporting interpreter
(bytecode.py). Here the archive is built, sized and written.

Same installation, same bytes: entries sorted, fixed timestamps, and the bytecode compiled in a
fresh interpreter, because marshal's output depends on what the compiling process has loaded.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from airgap_tui.bundle.atomic import fsync_dir, write_all
from airgap_tui.bundle.manifest import TOOL_FILE as TOOL_FILE
from airgap_tui.errors import MediaError
from airgap_tui.events import CancelToken, Progress, ProgressCallback, ignore_progress
from airgap_tui.toolpack.bytecode import _Compiler
from airgap_tui.toolpack.members import ROOT_DISTRIBUTION, Member, ToolError, collect_members

STAGE_TOOL = "tool"  # progress stage: packing the carried tool

SHEBANG = b"#!/usr/bin/env python3\n"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say; same install -> same bytes
# Deflate's fastest level: a first build competes with the downloads for the CPU. Level 4 makes
# the archive 8% smaller (0.6 MB) for 40% more deflate time; level 9 3% smaller again for 4x.
COMPRESS_LEVEL = 1
CHUNK = 1024 * 1024

# Rough deflate ratios at COMPRESS_LEVEL (measured on textual, rich, pygments, docker, requests)
# for tool_size(); the bytecode's against its source's size.
_SOURCE_RATIO, _BYTECODE_RATIO, _DATA_RATIO = 0.30, 0.56, 0.38
_ENTRY_OVERHEAD = 76  # local header 30 + central directory 46, plus the name twice


@dataclass(frozen=True)
class ToolBuild:
    """The archive's bytes and how they were had: `cache_hit` when taken from the user's
    cache (toolpack.cache), `key` the cache key ("" when built without the cache)."""

    data: bytes
    sha256: str
    cache_hit: bool
    key: str


class ToolInfo(NamedTuple):
    """What bundle.yaml's `tool` entry records, and whether the archive came from the cache."""

    file: str
    size: int
    sha256: str
    cached: bool = False


# --- the archive ------------------------------------------------------------------------
def main_source(root: str = ROOT_DISTRIBUTION) -> str:
    """The archive's `__main__.py`: refuse a too-old Python in one sentence, then the CLI."""
    from importlib import metadata

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
        "from airgap_tui.cli.launch import main\n"
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
    members: list[Member] | None = None,
    main: str | None = None,
) -> bytes:
    """The archive's bytes (a few MB, held once in memory so its sha256 is known before it is
    written). Deterministic for one installation and one interpreter. `members`: what
    collect_members(root) gave the caller (the cache keys the archive by them); `main`:
    main_source(root), when the caller has it."""
    if members is None:
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
        main_text = main_source(root) if main is None else main
        archive.writestr(_entry("__main__.py"), main_text, compresslevel=COMPRESS_LEVEL)
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


# Modules the tool never imports, carried as source only: pygments' ~270 lexers and styles
# (rich loads one only to colour source code). Imported after all, one compiles from its source.
# A third of the bytecode a build would make, and of its CPU, left out.
SOURCE_ONLY = ("pygments/lexers/", "pygments/styles/")
_SOURCE_ONLY_KEPT = ("/__init__.py", "/_mapping.py")  # what `import pygments.lexers` loads


def _compiles(member: Member) -> bool:
    name = member.arcname
    if not name.endswith(".py") or member.path is None:
        return False
    return not name.startswith(SOURCE_ONLY) or name.endswith(_SOURCE_ONLY_KEPT)


# --- size and writing -------------------------------------------------------------------
def check_buildable(root: str = ROOT_DISTRIBUTION) -> list[Member]:
    """Raise ToolError now if the carried tool cannot be built here, so an export says so
    before it downloads gigabytes rather than after; else what goes into it."""
    check_packable()
    return collect_members(root)


def check_packable() -> None:
    """Raise ToolError when this airgap-tui runs from inside a zip (it cannot re-pack itself);
    a check without reading any file, made before an export starts its tool builder."""
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


def tool_size(root: str = ROOT_DISTRIBUTION, members: list[Member] | None = None) -> int:
    """The archive's size, estimated in milliseconds from the installed files' sizes (within
    a few per cent). The exact size is len(build_tool()), which takes seconds."""
    size = len(SHEBANG) + 22 + 512  # end of central directory, __main__.py
    for member in collect_members(root) if members is None else members:
        raw = member.size()
        name = len(member.arcname.encode("utf-8"))
        size += _ENTRY_OVERHEAD + 2 * name
        if _compiles(member):
            size += int(raw * _SOURCE_RATIO) + int(raw * _BYTECODE_RATIO)
            size += _ENTRY_OVERHEAD + 2 * (name + 1)
        elif member.arcname.endswith(".py"):
            size += int(raw * _SOURCE_RATIO)
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
    built: ToolBuild | None = None,
) -> ToolInfo:
    """Write `<dest_dir>/airgap-tui.pyz` (.part, fsync, read back from the media, rename) and
    return its name, size and sha256 for bundle.yaml. An identical file already there is kept.
    `create` makes `dest_dir` (and its parents) when missing. The archive is `built` (taken
    from the user's cache or built beside an export's downloads: toolpack.cache), else built
    now."""
    directory = Path(dest_dir)
    _check_directory(directory, create=False, missing_ok=create)
    if built is None:
        data = build_tool(root=root, progress=progress, cancel=cancel)
        built = ToolBuild(data, hashlib.sha256(data).hexdigest(), False, "")
    data = built.data
    _check_directory(directory, create=create)
    info = ToolInfo(TOOL_FILE, len(data), built.sha256, built.cache_hit)
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
