"""A small bundle's files hashed on a thread while the command starts: check_parts takes a
digest only for the very file it opened, unchanged; anything else is hashed again."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from airgap_tui.bundle import parts as parts_module
from airgap_tui.bundle import prehash
from airgap_tui.bundle.manifest import TOOL_FILE, BundlePart
from airgap_tui.bundle.parts import DEFAULT_PREFIX, check_parts, part_name
from airgap_tui.bundle.prehash import PartHashes, is_bundle_file


def _part(directory: Path, index: int, data: bytes) -> BundlePart:
    name = part_name(DEFAULT_PREFIX, index)
    (directory / name).write_bytes(data)
    return BundlePart(name, len(data), hashlib.sha256(data).hexdigest())


def _no_second_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise AssertionError("the part was hashed a second time")

    monkeypatch.setattr(parts_module, "_hash_part", refuse)


def test_the_pattern_names_exactly_what_a_bundle_holds() -> None:
    for index in (0, 7, 999, 1000):
        assert is_bundle_file(part_name(DEFAULT_PREFIX, index))
    assert is_bundle_file(TOOL_FILE)
    others = ("bundle.yaml", "images.tar.000.part", "images.tar.", "x.pyz", ".journal")
    for other in (*others, "images.tar.0000000", "images.tar.00\u0663", "images.tar.01"):
        assert not is_bundle_file(other)


def test_a_prehashed_part_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _part(tmp_path, 0, b"a" * 300_000)
    bad = _part(tmp_path, 1, b"b" * 1000)
    bad = BundlePart(bad.file, bad.size, "0" * 64)  # bundle.yaml says other bytes
    hashes = PartHashes(tmp_path).start()
    _no_second_read(monkeypatch)
    problems = check_parts(tmp_path, [good, bad], hashes=hashes)
    assert [(p.file, p.message.split(":")[0]) for p in problems] == [(bad.file, "sha256 mismatch")]


def test_a_file_changed_after_it_was_hashed_is_hashed_again(tmp_path: Path) -> None:
    """Same size and mtime restored: the change time still tells, and the new bytes are read."""
    part = _part(tmp_path, 0, b"a" * 4096)
    hashes = PartHashes(tmp_path).start()
    hashes.take(part.file, os.stat(tmp_path / part.file))  # the thread has hashed it
    before = os.stat(tmp_path / part.file)
    (tmp_path / part.file).write_bytes(b"b" * 4096)
    os.utime(tmp_path / part.file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert hashes.take(part.file, os.stat(tmp_path / part.file)) is None
    problems = check_parts(tmp_path, [part], hashes=hashes)
    assert [p.message.split(":")[0] for p in problems] == ["sha256 mismatch"]


def test_a_large_bundle_links_and_fifos_are_left_to_check_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = _part(tmp_path, 0, b"a" * 5000)
    os.symlink(tmp_path / part.file, tmp_path / part_name(DEFAULT_PREFIX, 1))
    os.mkfifo(tmp_path / part_name(DEFAULT_PREFIX, 2))  # opening it would block: never opened
    hashes = PartHashes(tmp_path).start()
    assert hashes.take(part.file, os.stat(tmp_path / part.file)) == part.sha256
    link = os.stat(tmp_path / part_name(DEFAULT_PREFIX, 1), follow_symlinks=False)
    assert hashes.take(part_name(DEFAULT_PREFIX, 1), link) is None
    monkeypatch.setattr(prehash, "PREHASH_LIMIT", 4999)  # over it: nothing is hashed ahead
    small = PartHashes(tmp_path).start()
    assert small.take(part.file, os.stat(tmp_path / part.file)) is None


def test_a_directory_of_many_entries_is_not_walked_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = _part(tmp_path, 0, b"a" * 100)
    for n in range(20):
        (tmp_path / f"other-{n}").write_bytes(b"")
    monkeypatch.setattr(prehash, "MAX_ENTRIES", 10)
    hashes = PartHashes(tmp_path).start()
    assert hashes.take(part.file, os.stat(tmp_path / part.file)) is None
    assert check_parts(tmp_path, [part], hashes=hashes) == []  # hashed by check_parts instead


def test_close_stops_the_thread_and_leaves_nothing_running(tmp_path: Path) -> None:
    """A refused bundle.yaml ends the command: the thread must not read on behind its back."""
    part = _part(tmp_path, 0, b"a" * 4096)
    hashes = PartHashes(tmp_path)
    hashes._stop.set()  # stopped before it starts: it reads nothing
    hashes.start()
    hashes.close()
    assert not hashes._thread.is_alive()
    assert hashes.take(part.file, os.stat(tmp_path / part.file)) is None


def test_threads_switch_quickly_while_hashing_and_as_before_after(tmp_path: Path) -> None:
    """A quick switch interval while any thread hashes (the importing thread would hold the
    GIL 5 ms at a time), the caller's own interval back once the last one ends."""
    part = _part(tmp_path, 0, b"a" * 4096)
    before = sys.getswitchinterval()
    seen: list[float] = []
    real_hash = PartHashes._hash

    def hash_and_look(self: PartHashes, name: str) -> None:
        seen.append(sys.getswitchinterval())
        real_hash(self, name)

    try:
        sys.setswitchinterval(0.004)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(PartHashes, "_hash", hash_and_look)
            first, second = PartHashes(tmp_path).start(), PartHashes(tmp_path).start()
            for hashes in (first, second):  # take() waits for the hash
                assert hashes.take(part.file, os.stat(tmp_path / part.file)) == part.sha256
                hashes.close()
        assert seen == [prehash.SWITCH_INTERVAL, prehash.SWITCH_INTERVAL]
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(before)
