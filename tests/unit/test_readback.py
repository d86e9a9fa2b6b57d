"""Read-back behind the writer: every written byte re-read from the media and compared."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from airgap_tui.bundle import readback
from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.parts import Problem
from airgap_tui.bundle.readback import AHEAD, Readback, _Segment
from airgap_tui.bundle.writer import PartWriter
from airgap_tui.events import Progress
from tests.harness.data import chunked, payload

SEGMENT = 1000
READBACK_THREAD = "airgap-tui-readback"


@pytest.fixture(autouse=True)
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readback, "SEGMENT", SEGMENT)


def fd_name(fd: int) -> str:
    return os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).removesuffix(".part")


class MediaSpy:
    """Records what the read-back thread asks of the kernel; can make the media lie."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads: dict[str, list[tuple[int, int]]] = {}
        self.dropped: dict[str, list[tuple[int, int]]] = {}
        self.synced: list[str] = []
        self.unchecked_reads: list[tuple[str, int]] = []  # read before being dropped
        self.lie_at: tuple[str, int] | None = None  # flip this byte of this part
        self.lose_after: tuple[str, int] | None = None  # the part ends here when read
        real_pread, real_fadvise, real_write_out = os.pread, os.posix_fadvise, readback.write_out

        def pread(fd: int, n: int, offset: int) -> bytes:
            data = real_pread(fd, n, offset)
            if threading.current_thread().name != READBACK_THREAD:
                return data
            name = fd_name(fd)
            self.reads.setdefault(name, []).append((offset, len(data)))
            if not any(a <= offset and offset + n <= b for a, b in self.dropped.get(name, [])):
                self.unchecked_reads.append((name, offset))
            if self.lie_at and self.lie_at[0] == name and offset <= self.lie_at[1] < offset + n:
                flipped = bytearray(data)
                flipped[self.lie_at[1] - offset] ^= 0x01
                return bytes(flipped)
            if self.lose_after and self.lose_after[0] == name:
                return data[: max(0, self.lose_after[1] - offset)]
            return data

        def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
            if advice == os.POSIX_FADV_DONTNEED:
                self.dropped.setdefault(fd_name(fd), []).append((offset, offset + length))
            real_fadvise(fd, offset, length, advice)

        def write_out(fd: int, offset: int, length: int) -> None:
            self.synced.append(fd_name(fd))
            real_write_out(fd, offset, length)

        monkeypatch.setattr(os, "pread", pread)
        monkeypatch.setattr(os, "posix_fadvise", fadvise)
        monkeypatch.setattr(readback, "write_out", write_out)

    def covered(self, name: str) -> list[tuple[int, int]]:
        """The byte ranges read back, merged."""
        merged: list[tuple[int, int]] = []
        for offset, length in sorted(self.reads.get(name, [])):
            if merged and merged[-1][1] == offset:
                merged[-1] = (merged[-1][0], offset + length)
            else:
                merged.append((offset, offset + length))
        return merged


def test_every_written_byte_is_read_back_once_from_the_media(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = MediaSpy(monkeypatch)
    data = payload(25_000)
    events: list[Progress] = []
    writer = PartWriter(tmp_path, part_size=10_000, read_back=True, progress=events.append)
    parts = writer.write(chunked(data, 777))
    assert writer.readback_problems == []
    assert [p.size for p in parts] == [10_000, 10_000, 5_000]
    for part in parts:
        assert media.covered(part.file) == [(0, part.size)]
        reads = media.reads[part.file]
        assert sum(n for _, n in reads) == part.size  # once: no byte read twice
    assert media.unchecked_reads == []  # each range was dropped from the cache first
    assert set(media.synced) == {p.file for p in parts}
    finals = [e for e in events if e.stage == "readback" and e.final]
    assert [(e.item, e.done, e.ok) for e in finals] == [(p.file, p.size, True) for p in parts]


def test_a_medium_that_returns_other_bytes_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = MediaSpy(monkeypatch)
    media.lie_at = ("images.tar.001", 4321)
    events: list[Progress] = []
    writer = PartWriter(tmp_path, part_size=10_000, read_back=True, progress=events.append)
    writer.write(chunked(payload(25_000), 4096))
    assert writer.readback_problems == [
        Problem("images.tar.001", "byte 4321 read back differs from what was written")
    ]
    finals = {e.item: e.ok for e in events if e.stage == "readback" and e.final}
    assert finals == {"images.tar.000": True, "images.tar.001": False, "images.tar.002": True}


def test_a_medium_that_loses_the_end_of_a_part_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = MediaSpy(monkeypatch)
    media.lose_after = ("images.tar.000", 9_500)
    writer = PartWriter(tmp_path, part_size=10_000, read_back=True)
    writer.write(chunked(payload(12_000), 1000))
    assert [
        (p.file, p.message.startswith("it ends at byte 9500")) for p in writer.readback_problems
    ] == [("images.tar.000", True)]


def test_resumed_parts_are_compared_not_read_back_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(25_000)
    journal = ExportJournal.begin(tmp_path, "k" * 64, 10_000)
    PartWriter(tmp_path, part_size=10_000, journal=journal).write(chunked(data, 1000))
    changed = bytearray(data)
    changed[12_345] ^= 0xFF
    media = MediaSpy(monkeypatch)
    journal = ExportJournal.begin(tmp_path, "k" * 64, 10_000)
    writer = PartWriter(tmp_path, part_size=10_000, journal=journal, read_back=True)
    writer.write(chunked(bytes(changed), 1000))
    assert writer.kept == ["images.tar.000", "images.tar.002"]
    assert writer.written == ["images.tar.001"]
    assert writer.readback_problems == []
    # the rewritten part (its matching prefix copied from the old file, then the new bytes)
    assert set(media.reads) == {"images.tar.001"}
    assert media.covered("images.tar.001") == [(0, 10_000)]
    assert (tmp_path / "images.tar.001").read_bytes() == bytes(changed[10_000:20_000])


def test_the_writer_waits_when_the_check_falls_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays bounded: at most AHEAD segments are held while the media is slow."""
    gate = threading.Event()
    waiting = threading.Event()
    real_pread = os.pread

    def slow_pread(fd: int, n: int, offset: int) -> bytes:
        if threading.current_thread().name == READBACK_THREAD:
            gate.wait()
        return real_pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", slow_pread)
    handed: list[int] = []

    class Watched(Readback):
        def submit(self, segment: _Segment) -> None:
            if self.full:
                handed.append(-1)  # marks the moment the writer had to wait
                waiting.set()
            super().submit(segment)
            handed.append(segment.length)

    check = Watched(segment=100)
    path = tmp_path / "images.tar.000"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    tracked = check.track(path.name, path, 1000)
    data = payload(1000)

    def write() -> None:
        for piece in chunked(data, 100):
            os.write(fd, piece)
            tracked.wrote(piece)
        os.fsync(fd)
        tracked.complete()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert waiting.wait(timeout=30), "the writer never waited for the slow check"
        assert handed[: AHEAD + 1] == [100] * AHEAD + [-1]
    finally:
        gate.set()
        writer.join()
        os.close(fd)
    assert check.finish() == {}
    assert sum(n for n in handed if n > 0) == 1000


def test_write_out_uses_sync_file_range_else_fdatasync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per segment, only the range's pages are written out (no journal commit per segment)."""
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    fd = os.open(tmp_path / "part", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, payload(64 * 1024))
        readback.write_out(fd, 0, 64 * 1024)
        assert synced == []  # Linux: sync_file_range did it
        monkeypatch.setattr(readback, "_sync_file_range", False)  # not Linux, or refused
        readback.write_out(fd, 0, 64 * 1024)
        assert synced == [fd]
    finally:
        os.close(fd)
