"""media: mountinfo parsing (fixtures: no vfat on this kernel), free space on a real tmpfs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from airgap_tui.bundle import media
from airgap_tui.bundle.media import (
    FAT32_MAX_FILE_SIZE,
    check_destination,
    clamp_part_size,
    filesystem_of,
    free_bytes,
    mount_of,
    parse_mountinfo,
    removable_drives,
)
from airgap_tui.errors import MediaError

FIXTURES = Path(__file__).parent / "fixtures"
DESKTOP = (FIXTURES / "mountinfo_desktop.txt").read_text()
SERVER = (FIXTURES / "mountinfo_server.txt").read_text()
MiB = 1 << 20


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB filesystem, so free space and ENOSPC are the kernel's, not a mock's."""
    mount_point = tmp_path / "stick"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize(
    ("path", "filesystem"),
    [
        ("/run/media/alice/KINGSTON/gitlab-scanners", "vfat"),
        ("/run/media/alice/KINGSTON", "vfat"),
        ("/media/usb stick/bundle", "exfat"),  # \040 in mountinfo
        ("/media/windows/b", "fuseblk"),
        ("/media/data/b", "ntfs3"),
        ("/media/usb2/bundle", "vfat"),
        ("/media/usb2/inner/bundle", "exfat"),  # the longer mount point wins
        ("/media/usb2x/bundle", "ext4"),  # a prefix of the text, not of the path components
        ("/media/shadow/b", "ext4"),  # the later mount on the same point hides the earlier
        ("/boot/efi/EFI", "vfat"),
        ("/home/alice/bundle", "ext4"),
        ("/media/usb2/../data/x", "ntfs3"),  # normalised before matching
    ],
)
def test_filesystem_of_uses_the_longest_whole_component_mount(path: str, filesystem: str) -> None:
    assert filesystem_of(path, DESKTOP) == filesystem


def test_mount_of_reports_device_and_read_only() -> None:
    mount = mount_of("/media/cdrom/x", DESKTOP)
    assert mount is not None
    assert (mount.mount_point, mount.filesystem, mount.device, mount.read_only) == (
        "/media/cdrom",
        "iso9660",
        "/dev/sr0",
        True,
    )
    assert filesystem_of("/anything", "") == "unknown"


def test_malformed_lines_are_skipped() -> None:
    mounts = parse_mountinfo(SERVER)
    assert [m.mount_point for m in mounts] == [
        "/sys",
        "/proc",
        "/",
        "/var/lib/registry",
        "/var/lib/docker/overlay2/f00/merged",
        "/tmp",
    ]


def test_removable_drives_from_a_desktop() -> None:
    drives = removable_drives(DESKTOP)
    assert [(d.mount_point, d.filesystem, d.device) for d in drives] == [
        ("/media/cdrom", "iso9660", "/dev/sr0"),
        ("/media/data", "ntfs3", "/dev/sde1"),
        ("/media/shadow", "ext4", "/dev/sdh2"),
        ("/media/usb stick", "exfat", "/dev/sdc1"),
        ("/media/usb2", "vfat", "/dev/sdg1"),
        ("/media/usb2/inner", "exfat", "/dev/sdg2"),
        ("/media/windows", "fuseblk", "/dev/sdd1"),
        ("/mnt/backup", "ext4", "/dev/sdf1"),
        ("/run/media/alice/KINGSTON", "vfat", "/dev/sdb1"),
    ]
    assert [d.read_only for d in drives if d.mount_point == "/media/cdrom"] == [True]
    # Not mounted on this machine: free space is unknown rather than invented.
    assert all(d.free is None and d.total is None for d in drives)


def test_no_removable_drives_on_a_server() -> None:
    assert removable_drives(SERVER) == []


def test_removable_drives_reads_the_real_mountinfo(
    tmpfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert all(d.mount_point != str(tmpfs) for d in removable_drives())  # tmpfs is no drive
    # Pretend tmpfs under the test's directory is a stick, to see real space figures.
    monkeypatch.setattr(media, "REMOVABLE_ROOTS", (str(tmpfs.parent),))
    monkeypatch.setattr(media, "REMOVABLE_FILESYSTEMS", frozenset({"tmpfs"}))
    drives = removable_drives()
    assert [(d.mount_point, d.filesystem, d.total) for d in drives] == [
        (str(tmpfs), "tmpfs", 16 * MiB)
    ]
    assert drives[0].free is not None and 15 * MiB <= drives[0].free <= 16 * MiB


def test_fat32_part_size_is_clamped_with_a_warning() -> None:
    size, warning = clamp_part_size(5 * 1024**3, "vfat")
    assert size == FAT32_MAX_FILE_SIZE == 4 * 1024**3 - 1
    assert warning is not None and "FAT32" in warning and "vfat" in warning
    assert clamp_part_size(FAT32_MAX_FILE_SIZE, "vfat") == (FAT32_MAX_FILE_SIZE, None)
    assert clamp_part_size(1024**3, "vfat") == (1024**3, None)


def test_other_filesystems_keep_parts_fat32_sized() -> None:
    size, warning = clamp_part_size(8 * 1024**3, "ext4")
    assert size == FAT32_MAX_FILE_SIZE
    assert warning is not None and "FAT32" in warning
    assert clamp_part_size(64 * MiB, "exfat") == (64 * MiB, None)


def test_free_bytes_on_a_real_tmpfs(tmpfs: Path) -> None:
    assert 15 * MiB <= free_bytes(tmpfs) <= 16 * MiB
    (tmpfs / "fill").write_bytes(bytes(4 * MiB))
    assert 11 * MiB <= free_bytes(tmpfs) <= 12 * MiB


def test_destination_that_does_not_exist_yet(tmpfs: Path) -> None:
    info = check_destination(tmpfs / "gitlab-scanners" / "2025", 1 * MiB)
    assert info.existing == tmpfs
    assert info.filesystem == "tmpfs"
    assert info.mount_point == str(tmpfs)
    assert info.fits and info.writable
    assert info.max_part_size == FAT32_MAX_FILE_SIZE
    assert list(tmpfs.iterdir()) == []  # the write probe cleaned up after itself


def test_destination_too_small_names_needed_and_free(tmpfs: Path) -> None:
    with pytest.raises(MediaError) as raised:
        check_destination(tmpfs / "bundle", 32 * MiB)
    message = str(raised.value)
    assert "needs 33.6 MB" in message
    assert f"free on {tmpfs} (tmpfs)" in message
    info = check_destination(tmpfs / "bundle", 32 * MiB, strict=False)
    assert not info.fits and info.writable
    assert info.space_sentence() in message


def test_read_only_destination_is_refused(tmpfs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(MediaError) as raised:
        check_destination(tmpfs / "bundle", 1)
    assert "cannot write" in str(raised.value)
    info = check_destination(tmpfs, 1, strict=False)
    assert not info.writable and info.problem


def test_destination_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(MediaError, match="is a file, not a directory"):
        check_destination(tmp_path / "file" / "bundle", 1)


def test_filesystem_of_a_real_path(tmpfs: Path) -> None:
    assert filesystem_of(tmpfs / "not-yet") == "tmpfs"
