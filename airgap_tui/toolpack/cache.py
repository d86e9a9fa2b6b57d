"""The carried tool kept between exports in the user's cache directory, and built beside them.

Building airgap-tui.pyz takes about a second of CPU (deflate, bytecode), and what goes into it
rarely changes. So the archive is kept under `$XDG_CACHE_HOME/airgap-tui/tool/` (else
`~/.cache/airgap-tui/tool/`), named by a key over what the build reads: every member's name and
the identity of its file (inode, size, modification and change times: a file rewritten in any way
changes its change time, which no one can set back), the bytes of a member made here,
`__main__.py`, and what shapes the output (the Python version and bytecode magic, zlib). The key
is had from a stat per file, not by reading a few thousand files. Same key, same bytes: the build
is deterministic, so a kept archive is the one a fresh build would make.

A kept archive is used only after its sha256 matches the one recorded beside it (a damaged
cache is rebuilt, never carried). Writes are atomic (.part, fsync, rename; the record last).
The cache is a convenience: one that cannot be read or written (a read-only home) costs the
rebuild and nothing else; it never fails an export.

`ToolBuilder` runs the same on a thread, so an export builds the tool while it resolves and
downloads, and writes it into the bundle directory beside the parts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from airgap_tui.bundle.prehash import identity
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress
from airgap_tui.toolpack.members import ROOT_DISTRIBUTION, Member, collect_members
from airgap_tui.toolpack.toolpack import (
    COMPRESS_LEVEL,
    SHEBANG,
    ZIP_TIME,
    ToolBuild,
    ToolInfo,
    build_tool,
    main_source,
    write_tool,
)

CACHE_FORMAT = 1
KEEP = 4  # archives kept side by side (other Pythons, other installs); older ones go
_KEY_DOMAIN = b"airgap-tui carried tool cache v2\n"
_SUFFIX = ".pyz"
_RECORD = ".json"
_MAX_RECORD_BYTES = 4096


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/airgap-tui/tool`, else `~/.cache/airgap-tui/tool`."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "airgap-tui" / "tool"


def build_key(members: list[Member], root: str = ROOT_DISTRIBUTION) -> str:
    """sha256 hex over everything the archive is made of, and what shapes its bytes."""
    digest = hashlib.sha256(_KEY_DOMAIN)
    shape = {
        "format": CACHE_FORMAT,
        "root": root,
        "python": sys.version,
        "implementation": sys.implementation.cache_tag,
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "level": COMPRESS_LEVEL,
        "time": list(ZIP_TIME),
        "shebang": SHEBANG.decode("ascii"),
        "main": main_source(root),
    }
    digest.update(json.dumps(shape, sort_keys=True).encode("utf-8"))
    for member in members:
        name = member.arcname.encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(_identity(member))
    return digest.hexdigest()


def _identity(member: Member) -> bytes:
    """What says a member changed: its file's identity (device, inode, size, mtime and ctime: a
    stat, no read; bundle/prehash.py tells a part unchanged the same way), or the sha256 of
    bytes made here."""
    if member.path is None:
        data = member.read()
        return b"data" + len(data).to_bytes(8, "big") + hashlib.sha256(data).digest()
    fields = identity(os.stat(member.path))
    return b"file" + b"".join(f.to_bytes(16, "big", signed=True) for f in fields)


def cached_tool(
    root: str = ROOT_DISTRIBUTION,
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    directory: Path | None = None,
) -> ToolBuild:
    """The archive for what is installed now: from the cache when a checked copy is there,
    else built (and kept for next time)."""
    members = collect_members(root)
    where = cache_dir() if directory is None else directory
    return load_or_build(members, build_key(members, root), where, root, progress, cancel)


def load_or_build(
    members: list[Member],
    key: str,
    where: Path,
    root: str = ROOT_DISTRIBUTION,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    build: Build | None = None,
) -> ToolBuild:
    """The archive kept under `key` in `where` once its sha256 checks, else built from
    `members` (by `build`, else here) and kept."""
    kept = load_kept(where, key)
    if kept is not None:
        return kept
    if build is None:
        data = build_tool(root=root, progress=progress, cancel=cancel, members=members)
    else:
        data = build(members=members, root=root, cancel=cancel)
    return keep(where, key, data)


def load_kept(where: Path, key: str) -> ToolBuild | None:
    """The archive kept under `key`, once its sha256 checks; None when there is none."""
    kept = _load(where, key)
    return None if kept is None else ToolBuild(kept, hashlib.sha256(kept).hexdigest(), True, key)


def keep(where: Path, key: str, data: bytes) -> ToolBuild:
    """The archive just built for `key`, kept in `where` when the cache can be written."""
    sha = hashlib.sha256(data).hexdigest()
    _store(where, key, data, sha)
    return ToolBuild(data, sha, False, key)


class Build(Protocol):
    """How the archive is made from its members (toolpack.child: in a low-priority child)."""

    def __call__(
        self, *, members: list[Member], root: str, cancel: CancelToken | None
    ) -> bytes: ...


def any_kept(directory: Path) -> bool:
    """Whether the cache holds any archive's record (none: this build is surely a first)."""
    try:
        return any(directory.glob(f"*{_RECORD}"))
    except OSError:
        return False


def recorded_size(directory: Path, key: str) -> int | None:
    """The size the cache records for `key` (the archive itself is checked when loaded)."""
    try:
        with _paths(directory, key)[1].open("rb") as f:
            info = json.loads(f.read(_MAX_RECORD_BYTES + 1))
    except (OSError, ValueError):
        return None
    size = info.get("size") if isinstance(info, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def write_cached_tool(
    dest_dir: str | os.PathLike[str],
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    root: str = ROOT_DISTRIBUTION,
    create: bool = False,
    directory: Path | None = None,
) -> ToolInfo:
    """write_tool with the archive from the cache (or built now and kept): `tool --out`."""
    built = cached_tool(root, progress=progress, cancel=cancel, directory=directory)
    return write_tool(
        dest_dir, progress=progress, cancel=cancel, root=root, create=create, built=built
    )


def carried_sha256(root: str = ROOT_DISTRIBUTION, *, cancel: CancelToken | None = None) -> str:
    """The sha256 of the airgap-tui.pyz an export would carry now (from the cache, else built
    and kept): a delta compares it with the archive the offline host ran (delta/tool.py)."""
    return cached_tool(root, cancel=cancel).sha256


def _paths(directory: Path, key: str) -> tuple[Path, Path]:
    return directory / f"{key}{_SUFFIX}", directory / f"{key}{_RECORD}"


def _load(directory: Path, key: str) -> bytes | None:
    """The kept archive when its record is readable and its bytes match the recorded sha256
    and size; else None (and a damaged pair is removed so the rebuild replaces it)."""
    archive, record = _paths(directory, key)
    try:
        with record.open("rb") as f:
            raw = f.read(_MAX_RECORD_BYTES + 1)
        info = json.loads(raw) if len(raw) <= _MAX_RECORD_BYTES else None
        if not isinstance(info, dict) or info.get("format") != CACHE_FORMAT:
            raise ValueError("not a record of this format")
        sha, size = info.get("sha256"), info.get("size")
        if not isinstance(sha, str) or not isinstance(size, int) or isinstance(size, bool):
            raise ValueError("record without sha256 or size")
        with archive.open("rb") as f:
            data = f.read(size + 1)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        _remove(archive, record)
        return None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
        _remove(archive, record)
        return None
    try:
        os.utime(record)  # most recently used: kept longest
    except OSError:
        pass
    return data


def _store(directory: Path, key: str, data: bytes, sha: str) -> bool:
    """Keep the archive, then its record (the record says the archive is complete); False
    when the cache cannot be written (nothing else depends on it)."""
    archive, record = _paths(directory, key)
    info = {"format": CACHE_FORMAT, "sha256": sha, "size": len(data), "python": sys.version}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(archive, data)
        _atomic_write(record, (json.dumps(info, sort_keys=True) + "\n").encode("utf-8"))
    except OSError:
        return False
    _prune(directory, keep=KEEP)
    return True


def _atomic_write(path: Path, data: bytes) -> None:
    """`<path>.<pid>.<thread>.part`, fsync, rename, fsync the directory: two exports writing
    the same key at once each rename a whole file."""
    part = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _remove(part)
        raise
    os.close(fd)
    try:
        os.replace(part, path)
    except BaseException:
        _remove(part)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _prune(directory: Path, *, keep: int) -> None:
    """Remove all but the `keep` most recently used archives (and stray .part files)."""
    try:
        records = sorted(
            directory.glob(f"*{_RECORD}"), key=lambda p: p.stat().st_mtime_ns, reverse=True
        )
        for record in records[keep:]:
            _remove(record, record.with_suffix(_SUFFIX))
        wanted = {r.with_suffix(_SUFFIX).name for r in records[:keep]}
        for archive in directory.glob(f"*{_SUFFIX}"):
            if archive.name not in wanted:
                _remove(archive)
    except OSError:
        pass


def _remove(*paths: Path) -> None:
    for path in paths:
        try:
            path.unlink()
        except OSError:
            pass
