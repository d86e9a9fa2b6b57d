"""Where a bundle can go: mounted drives, free space, writability and filesystem limits.

Read from /proc/self/mountinfo rather than guessed from paths, so a FAT32 stick is known to
be FAT32 (4 GiB − 1 per file) before a 3 GB part fails half-way through.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from airgap_tui.errors import MediaError

MOUNTINFO = Path("/proc/self/mountinfo")

# The largest file FAT32 can hold; also the largest part a bundle ever has, so any stick works.
FAT32_MAX_FILE_SIZE = 4 * 1024**3 - 1
FAT_FILESYSTEMS = frozenset({"vfat", "msdos", "fat", "umsdos"})

# Filesystems a removable drive plausibly carries (fuseblk: ntfs-3g or exfat-fuse).
REMOVABLE_FILESYSTEMS = frozenset(
    {
        "vfat",
        "msdos",
        "exfat",
        "ntfs",
        "ntfs3",
        "fuseblk",
        "ext2",
        "ext3",
        "ext4",
        "btrfs",
        "xfs",
        "f2fs",
        "udf",
        "iso9660",
        "hfsplus",
    }
)
REMOVABLE_ROOTS = ("/media", "/run/media", "/mnt")

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def human_size(n: int) -> str:
    """Decimal units, as drive vendors and file managers print them."""
    import humanize  # here, not at the top: every command's start-up pays for its import

    return str(humanize.naturalsize(n))


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo."""

    mount_point: str
    filesystem: str
    device: str
    read_only: bool


@dataclass(frozen=True)
class Drive:
    """A mounted drive an operator may pick; free/total are None when it cannot be queried."""

    mount_point: str
    filesystem: str
    device: str
    free: int | None
    total: int | None
    read_only: bool = False


@dataclass(frozen=True)
class DestinationInfo:
    """What the destination can take; `existing` is the nearest directory that exists."""

    path: Path
    existing: Path
    mount_point: str
    filesystem: str
    free: int
    needed: int
    fits: bool
    writable: bool
    max_part_size: int
    problem: str = ""  # why it is not writable, when it is not

    def space_sentence(self) -> str:
        return (
            f"needs {human_size(self.needed)}, {human_size(self.free)} free on "
            f"{self.mount_point} ({self.filesystem})"
        )


def _unescape(field: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _read_mountinfo() -> str:
    try:
        return MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return ""


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts in kernel order (a later mount on the same point hides an earlier one)."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        options = fields[5].split(",")
        mounts.append(
            Mount(
                mount_point=_unescape(fields[4]),
                filesystem=fields[sep + 1],
                device=_unescape(fields[sep + 2]),
                read_only="ro" in options,
            )
        )
    return mounts


def _contains(mount_point: str, path: str) -> bool:
    if mount_point == "/":
        return path.startswith("/")
    return path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def mount_of(path: str | os.PathLike[str], mountinfo_text: str | None = None) -> Mount | None:
    """The mount holding `path`: the longest mount point that is a whole-component prefix."""
    if mountinfo_text is None:
        text = _read_mountinfo()
        target = os.path.realpath(path)
    else:
        text = mountinfo_text
        target = os.path.normpath(os.path.abspath(path))
    best: Mount | None = None
    for mount in parse_mountinfo(text):
        if _contains(mount.mount_point, target) and (
            best is None or len(mount.mount_point) >= len(best.mount_point)
        ):
            best = mount
    return best


def filesystem_of(path: str | os.PathLike[str], mountinfo_text: str | None = None) -> str:
    """Filesystem type of the mount holding `path` ("unknown" when mountinfo says nothing)."""
    mount = mount_of(path, mountinfo_text)
    return mount.filesystem if mount else "unknown"


def _under_removable_root(mount_point: str) -> bool:
    return any(_contains(root, mount_point) for root in REMOVABLE_ROOTS)


def _space(path: str) -> tuple[int | None, int | None]:
    try:
        st = os.statvfs(path)
    except OSError:
        return None, None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def removable_drives(mountinfo_text: str | None = None) -> list[Drive]:
    """Drives mounted where desktops and operators mount sticks, by mount point."""
    text = _read_mountinfo() if mountinfo_text is None else mountinfo_text
    latest: dict[str, Mount] = {}
    for mount in parse_mountinfo(text):
        latest[mount.mount_point] = mount  # a later mount on the same point wins
    drives = []
    for mount in latest.values():
        if mount.filesystem not in REMOVABLE_FILESYSTEMS:
            continue
        if not _under_removable_root(mount.mount_point):
            continue
        free, total = _space(mount.mount_point)
        drives.append(
            Drive(
                mount_point=mount.mount_point,
                filesystem=mount.filesystem,
                device=mount.device,
                free=free,
                total=total,
                read_only=mount.read_only,
            )
        )
    return sorted(drives, key=lambda d: d.mount_point)


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes an unprivileged writer can still use on the filesystem holding `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def max_part_size(filesystem: str) -> int:
    """Largest part for `filesystem`.

    FAT32's per-file limit applies to every filesystem on purpose: a bundle written to ext4
    can later be copied onto any stick without re-splitting.
    """
    del filesystem
    return FAT32_MAX_FILE_SIZE


def clamp_part_size(part_size: int, filesystem: str) -> tuple[int, str | None]:
    """Clamp to what the filesystem holds per file; the warning says so when it changed."""
    limit = max_part_size(filesystem)
    if part_size <= limit:
        return part_size, None
    why = (
        "FAT32 holds at most 4 GiB − 1 byte per file"
        if filesystem in FAT_FILESYSTEMS
        else ("bundle parts are at most 4 GiB − 1 byte so any FAT32 stick can carry them")
    )
    return limit, (
        f"Part size {part_size} bytes is too large for {filesystem}: {why}; "
        f"using {limit} bytes per part"
    )


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists():
        if current.parent == current:
            break
        current = current.parent
    return current


def _probe_writable(directory: Path) -> str:
    """Create and remove a file; '' when that works, else the reason."""
    try:
        import tempfile  # loads shutil, bz2, lzma, random: only the write probe needs it

        fd, name = tempfile.mkstemp(prefix=".airgap-tui-write-test-", dir=directory)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def check_destination(
    path: str | os.PathLike[str],
    needed_bytes: int,
    *,
    strict: bool = True,
    mountinfo_text: str | None = None,
) -> DestinationInfo:
    """Free space, filesystem and writability of a bundle directory, which may not exist yet.

    With `strict` (the CLI) an unusable destination raises MediaError; without it (the wizard)
    the returned info says what is wrong so the screen can show it and block "Next".
    """
    target = Path(path).expanduser().absolute()
    existing = _nearest_existing(target)
    if not existing.is_dir():
        raise MediaError(
            f"Destination {target}",
            f"{existing} is a file, not a directory",
            "Choose a directory for the bundle",
        )
    problem = _probe_writable(existing)
    free = free_bytes(existing)
    mount = mount_of(existing, mountinfo_text)
    mount_point = mount.mount_point if mount else str(existing)
    filesystem = mount.filesystem if mount else "unknown"
    info = DestinationInfo(
        path=target,
        existing=existing,
        mount_point=mount_point,
        filesystem=filesystem,
        free=free,
        needed=needed_bytes,
        fits=free >= needed_bytes,
        writable=not problem,
        max_part_size=max_part_size(filesystem),
        problem=problem,
    )
    if strict and not info.writable:
        raise MediaError(
            f"Destination {target}",
            f"cannot write to {existing} ({problem})",
            "Choose a writable directory, or remount the drive read-write",
        )
    if strict and not info.fits:
        raise MediaError(
            f"Destination {target}",
            f"the bundle {info.space_sentence()}",
            "Free some space or choose a bigger drive",
        )
    return info
