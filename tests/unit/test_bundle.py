"""bundle: part splitting, atomic writes, resume, verification, hostile manifests, streaming."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.manifest import (
    BundleBlob,
    BundleImage,
    BundleManifest,
    BundlePart,
    format_fingerprint,
    write_manifest,
)
from airgap_tui.bundle.parts import check_parts, files_not_listed, parse_size
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.bundle.verify import VerifyReport
from airgap_tui.bundle.verify import verify_bundle as verify_whole_bundle
from airgap_tui.bundle.writer import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    MAX_PART_SIZE,
    PartWriter,
    finish_bundle,
)
from airgap_tui.errors import BundleError, Cancelled, MediaError, UsageError
from airgap_tui.events import CancelToken, Progress
from tests.harness.data import chunked, payload

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20
KEY = "semgrep:6 secrets:7 linux/amd64"

BLOB = "sha256:" + "3" * 64
IMAGE = BundleImage(
    name="semgrep",
    tag="6",
    analyzer="semgrep",
    source_ref="registry.gitlab.com/security-products/semgrep:6",
    digest=BLOB,
    media_type="application/vnd.oci.image.manifest.v1+json",
    platform="linux/amd64",
)


def verify_bundle(bundle_dir: Any, *args: Any, **kwargs: Any) -> VerifyReport:
    """These bundles' parts are synthetic bytes, no tar: verify checks the parts alone."""
    return verify_whole_bundle(bundle_dir, *args, records=False, **kwargs)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_for(parts: list[BundlePart], **changes: Any) -> BundleManifest:
    """A format 2 manifest over `parts` (one image, one blob just after the first header)."""
    fields: dict[str, Any] = {
        "source_prefix": "registry.gitlab.com/security-products",
        "gitlab_major": 18,
        "platforms": ["linux/amd64"],
        "images": [IMAGE],
        "blobs": [BundleBlob(BLOB, 1, "application/vnd.oci.image.manifest.v1+json", 512)],
        "parts": parts,
    }
    fields.update(changes)
    return BundleManifest(**fields)


def write_parts(
    directory: Path,
    data: bytes,
    part_size: int,
    *,
    key: str = KEY,
    chunk: int = 4096,
    resume: bool = True,
) -> tuple[PartWriter, ExportJournal]:
    journal = ExportJournal.begin(directory, key, part_size, resume=resume)
    writer = PartWriter(directory, part_size=part_size, journal=journal)
    writer.write(chunked(data, chunk))
    return writer, journal


def read_all(directory: Path, parts: list[BundlePart]) -> bytes:
    """The parts concatenated, through the reader the import uses."""
    with PartsReader(directory, parts) as reader:
        return b"".join(reader.read_range(0, reader.total))


def build_bundle(directory: Path, data: bytes, part_size: int = MiB) -> BundleManifest:
    writer, journal = write_parts(directory, data, part_size)
    manifest = manifest_for(writer.parts)
    finish_bundle(directory, manifest, journal)
    return manifest


def load_journal(directory: Path) -> ExportJournal:
    journal = ExportJournal.load(directory)
    assert journal is not None
    return journal


def identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB filesystem: the kernel's own ENOSPC and read-only behaviour."""
    mount_point = tmp_path / "stick"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


# --------------------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    ("size", "part_size", "chunk", "expected_sizes"),
    [
        (25, 10, 25, [10, 10, 5]),
        (25, 10, 1, [10, 10, 5]),
        (25, 10, 3, [10, 10, 5]),
        (20, 10, 7, [10, 10]),  # an exact multiple: no empty trailing part
        (20, 10, 20, [10, 10]),
        (7, 10, 2, [7]),  # smaller than one part
        (10, 10, 100, [10]),
        (3 * MiB + 17, MiB, 256 * 1024, [MiB, MiB, MiB, 17]),
        (5 * MiB, 2 * MiB, 3 * MiB, [2 * MiB, 2 * MiB, MiB]),  # chunks bigger than parts
    ],
)
def test_parts_split_at_exact_boundaries(
    tmp_path: Path, size: int, part_size: int, chunk: int, expected_sizes: list[int]
) -> None:
    data = payload(size)
    writer = PartWriter(tmp_path, part_size=part_size)
    parts = writer.write(chunked(data, chunk))
    assert [p.size for p in parts] == expected_sizes
    assert [p.file for p in parts] == [f"images.tar.{i:03d}" for i in range(len(parts))]
    offset = 0
    for part in parts:
        expected = data[offset : offset + part.size]
        assert (tmp_path / part.file).read_bytes() == expected
        assert part.sha256 == sha(expected)
        offset += part.size
    assert names(tmp_path) == [p.file for p in parts]  # no .part left behind
    assert writer.written == [p.file for p in parts] and writer.kept == []
    assert writer.bytes_done == size


def test_empty_stream_writes_no_part(tmp_path: Path) -> None:
    assert PartWriter(tmp_path / "b", part_size=10).write(iter([b"", b""])) == []
    assert names(tmp_path / "b") == []


def test_progress_reports_each_part(tmp_path: Path) -> None:
    events: list[Progress] = []
    PartWriter(tmp_path, part_size=10, progress=events.append).write(chunked(payload(25), 4))
    finals = [(e.stage, e.item, e.done, e.total, e.message) for e in events if e.final]
    assert finals == [
        ("save", "images.tar.000", 10, 10, "written"),
        ("save", "images.tar.001", 10, 10, "written"),
        ("save", "images.tar.002", 5, 5, "written"),
    ]
    running = [e for e in events if not e.final]
    assert running and all(e.total == 10 and e.done <= 10 for e in running)


@pytest.mark.parametrize("bad", [0, -1, MAX_PART_SIZE + 1])
def test_part_size_out_of_range_is_refused(tmp_path: Path, bad: int) -> None:
    with pytest.raises(UsageError):
        PartWriter(tmp_path, part_size=bad)


def test_hostile_prefix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        PartWriter(tmp_path, part_size=10, prefix="../images.tar")


# --------------------------------------------------------------------------- atomicity


def test_failing_stream_leaves_only_complete_parts(tmp_path: Path) -> None:
    data = payload(35)

    def stream() -> Iterator[bytes]:
        yield data[:25]
        raise RuntimeError("engine went away")

    journal = ExportJournal.begin(tmp_path, KEY, 10)
    with pytest.raises(RuntimeError):
        PartWriter(tmp_path, part_size=10, journal=journal).write(stream())
    assert names(tmp_path) == [JOURNAL_NAME, "images.tar.000", "images.tar.001"]
    assert (tmp_path / "images.tar.001").read_bytes() == data[10:20]
    assert sorted(load_journal(tmp_path).parts) == ["images.tar.000", "images.tar.001"]


def test_killed_export_leaves_a_part_file_only_and_resumes(tmp_path: Path) -> None:
    """SIGKILL-like death (os._exit: no cleanup runs) half-way through the second part."""
    script = textwrap.dedent(
        """
        import os, sys
        from airgap_tui.bundle.journal import ExportJournal
        from airgap_tui.bundle.writer import PartWriter
        directory, data = sys.argv[1], bytes(range(256)) * 100
        journal = ExportJournal.begin(directory, "key", 10000)
        def chunks():
            for i in range(0, len(data), 1000):
                if i == 15000:
                    os._exit(9)
                yield data[i : i + 1000]
        PartWriter(directory, part_size=10000, journal=journal).write(chunks())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, check=False)
    assert result.returncode == 9
    assert names(tmp_path) == [JOURNAL_NAME, "images.tar.000", "images.tar.001.part"]
    assert (tmp_path / "images.tar.001.part").stat().st_size == 5000
    kept_before = identity(tmp_path / "images.tar.000")

    data = bytes(range(256)) * 100
    writer, journal = write_parts(tmp_path, data, 10000, key="key", chunk=1000)
    assert writer.kept == ["images.tar.000"]
    assert writer.written == ["images.tar.001", "images.tar.002"]
    assert identity(tmp_path / "images.tar.000") == kept_before
    finish_bundle(tmp_path, manifest_for(writer.parts), journal)
    assert names(tmp_path) == [MANIFEST_NAME, "images.tar.000", "images.tar.001", "images.tar.002"]
    assert check_parts(tmp_path, writer.parts) == []
    assert files_not_listed(tmp_path, [p.file for p in writer.parts]) == []


def test_cancel_stops_at_a_chunk_boundary_and_keeps_finished_parts(tmp_path: Path) -> None:
    token = CancelToken()

    def progress(event: Progress) -> None:
        if event.final:
            token.cancel()

    journal = ExportJournal.begin(tmp_path, KEY, 10)
    writer = PartWriter(tmp_path, part_size=10, progress=progress, cancel=token, journal=journal)
    with pytest.raises(Cancelled):
        writer.write(chunked(payload(40), 4))
    assert names(tmp_path) == [JOURNAL_NAME, "images.tar.000"]
    assert list(journal.parts) == ["images.tar.000"]


def test_full_media_is_a_clear_error_and_resumes_after_space_is_freed(tmpfs: Path) -> None:
    data = payload(24 * MiB)
    bundle_dir = tmpfs / "bundle"
    journal = ExportJournal.begin(bundle_dir, KEY, MiB)
    writer = PartWriter(bundle_dir, part_size=MiB, journal=journal, expected_bytes=len(data))
    with pytest.raises(MediaError) as raised:
        writer.write(chunked(data, 256 * 1024))
    message = str(raised.value)
    assert "the media is full" in message and "more is needed" in message
    assert "run the same export again" in message
    leftovers = names(bundle_dir)
    assert MANIFEST_NAME not in leftovers
    assert not [n for n in leftovers if n.endswith(".part")]
    complete = [n for n in leftovers if n.startswith("images.tar.")]
    assert len(complete) >= 10
    for i, name in enumerate(complete):
        assert (bundle_dir / name).read_bytes() == data[i * MiB : (i + 1) * MiB]
    recorded = sorted(load_journal(bundle_dir).parts)
    assert set(recorded) <= set(complete)
    before = {name: identity(bundle_dir / name) for name in recorded}

    subprocess.run(["mount", "-o", "remount,size=40m", str(tmpfs)], check=True)
    writer, journal = write_parts(bundle_dir, data, MiB, chunk=256 * 1024)
    assert writer.kept == recorded
    assert {name: identity(bundle_dir / name) for name in recorded} == before
    finish_bundle(bundle_dir, manifest_for(writer.parts), journal)
    assert verify_bundle(bundle_dir).ok
    assert read_all(bundle_dir, read_manifest(bundle_dir).parts) == data


# --------------------------------------------------------------------------- resume


def test_resume_keeps_identical_parts_untouched(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10)
    before = {n: identity(tmp_path / n) for n in names(tmp_path) if n.startswith("images")}
    events: list[Progress] = []
    journal = ExportJournal.begin(tmp_path, KEY, 10)
    writer = PartWriter(tmp_path, part_size=10, journal=journal, progress=events.append)
    parts = writer.write(chunked(data, 3))
    assert writer.kept == ["images.tar.000", "images.tar.001", "images.tar.002"]
    assert writer.written == []
    assert {n: identity(tmp_path / n) for n in before} == before
    assert [p.sha256 for p in parts] == [sha(data[0:10]), sha(data[10:20]), sha(data[20:25])]
    assert all(e.message.startswith("kept") for e in events if e.final)


def test_resume_rewrites_only_the_part_that_differs(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10)
    before = {n: identity(tmp_path / n) for n in ("images.tar.000", "images.tar.002")}
    changed = bytearray(data)
    changed[15] ^= 0xFF
    writer, journal = write_parts(tmp_path, bytes(changed), 10, chunk=4)
    assert writer.kept == ["images.tar.000", "images.tar.002"]
    assert writer.written == ["images.tar.001"]
    assert {n: identity(tmp_path / n) for n in before} == before
    assert (tmp_path / "images.tar.001").read_bytes() == bytes(changed[10:20])
    assert journal.parts["images.tar.001"].sha256 == sha(bytes(changed[10:20]))
    assert load_journal(tmp_path).parts == journal.parts


def test_resume_with_a_shorter_stream_drops_stale_parts(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10)
    writer, journal = write_parts(tmp_path, data[:18], 10)
    assert writer.kept == ["images.tar.000"]
    assert writer.written == ["images.tar.001"]  # 8 bytes now: the old 10-byte file is replaced
    assert (tmp_path / "images.tar.001").read_bytes() == data[10:18]
    removed = finish_bundle(tmp_path, manifest_for(writer.parts), journal)
    assert removed == ["images.tar.002"]
    assert check_parts(tmp_path, writer.parts) == []
    assert files_not_listed(tmp_path, [p.file for p in writer.parts]) == []


def test_resume_with_another_part_size_rewrites_everything(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10)
    writer, journal = write_parts(tmp_path, data, 7)
    assert writer.kept == []
    assert [p.size for p in writer.parts] == [7, 7, 7, 4]
    finish_bundle(tmp_path, manifest_for(writer.parts), journal)
    assert read_all(tmp_path, writer.parts) == data


def test_resume_does_not_trust_a_stale_journal_hash(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10)
    raw = json.loads((tmp_path / JOURNAL_NAME).read_text())
    raw["parts"][0]["sha256"] = "0" * 64
    (tmp_path / JOURNAL_NAME).write_text(json.dumps(raw))
    writer, journal = write_parts(tmp_path, data, 10)
    assert writer.written == ["images.tar.000"]
    assert writer.kept == ["images.tar.001", "images.tar.002"]
    assert journal.parts["images.tar.000"].sha256 == sha(data[:10])


def test_another_selection_is_not_resumed(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10, key="one selection")
    writer, _ = write_parts(tmp_path, data, 10, key="another selection")
    assert writer.kept == []
    assert writer.written == ["images.tar.000", "images.tar.001", "images.tar.002"]


def test_resume_false_rewrites_everything(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10)
    writer, _ = write_parts(tmp_path, data, 10, resume=False)
    assert writer.kept == []


def test_rerunning_a_finished_export_keeps_its_parts(tmp_path: Path) -> None:
    data = payload(200 * 1024)
    first = build_bundle(tmp_path, data, part_size=64 * 1024)
    before = {p.file: identity(tmp_path / p.file) for p in first.parts}
    journal = ExportJournal.begin(tmp_path, "any key", 64 * 1024, finished=first.parts)
    assert not (tmp_path / MANIFEST_NAME).exists()  # no complete-looking bundle while rewriting
    assert journal.done_bytes == len(data)
    writer = PartWriter(tmp_path, part_size=64 * 1024, journal=journal)
    writer.write(chunked(data, 10_000))
    assert writer.kept == [p.file for p in first.parts]
    assert {p.file: identity(tmp_path / p.file) for p in first.parts} == before
    second = manifest_for(writer.parts)
    finish_bundle(tmp_path, second, journal)
    assert second.fingerprint == first.fingerprint


def test_writer_continues_after_kept_parts_without_their_bytes(tmp_path: Path) -> None:
    """A resume that does not regenerate the kept parts: the stream starts after them."""
    data = payload(200 * 1024)
    first = build_bundle(tmp_path, data, part_size=64 * 1024)
    kept = first.parts[:2]
    before = {p.file: identity(tmp_path / p.file) for p in kept}
    (tmp_path / first.parts[2].file).unlink()
    journal = ExportJournal.begin(tmp_path, KEY, 64 * 1024, finished=kept)
    writer = PartWriter(tmp_path, part_size=64 * 1024, journal=journal, kept=kept)
    start = sum(p.size for p in kept)
    parts = writer.write(chunked(data[start:], 10_000))
    assert parts == first.parts
    assert writer.kept == [p.file for p in kept] and writer.written == [
        "images.tar.002",
        "images.tar.003",
    ]
    assert {p.file: identity(tmp_path / p.file) for p in kept} == before
    assert writer.bytes_done == len(data)


def test_begin_retires_bundle_yaml_even_without_resume(tmp_path: Path) -> None:
    build_bundle(tmp_path, payload(1000))
    ExportJournal.begin(tmp_path, KEY, 64 * 1024, resume=False)
    assert not (tmp_path / MANIFEST_NAME).exists()
    with pytest.raises(BundleError, match="no complete bundle"):
        verify_bundle(tmp_path)


def journal_json(**changes: Any) -> str:
    data: dict[str, Any] = {"version": 1, "selection_key": KEY, "part_size": 10, "parts": []}
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    "journal_text",
    [
        "not json",
        journal_json(parts=[{"file": "../x", "size": 1, "sha256": "0" * 64}]),
        journal_json(parts=[{"file": "a", "size": -1, "sha256": "0" * 64}]),
        journal_json(parts=[{"file": "a", "size": 1, "sha256": "not hex"}]),
        journal_json(version=2),
        journal_json(selection_key=None),
        json.dumps([1, 2]),
    ],
)
def test_unusable_journal_is_ignored(tmp_path: Path, journal_text: str) -> None:
    (tmp_path / JOURNAL_NAME).write_text(journal_text)
    assert ExportJournal.load(tmp_path) is None


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = ExportJournal.begin(tmp_path, KEY, 10)
    journal.record(BundlePart("images.tar.000", 10, "a" * 64))
    loaded = ExportJournal.load(tmp_path)
    assert loaded is not None and loaded.matches(KEY) and not loaded.matches("other")
    assert loaded.parts == journal.parts and loaded.part_size == 10
    journal.remove()
    assert ExportJournal.load(tmp_path) is None


# --------------------------------------------------------------------------- manifest


def test_format_fingerprint_groups_for_reading_aloud() -> None:
    fp = "3f2a9b1c0d4e5f6a7b8c9d0e" + "f" * 40
    assert format_fingerprint(fp) == "3f2a 9b1c 0d4e 5f6a 7b8c 9d0e"
    assert format_fingerprint("sha256:" + fp.upper()) == "3f2a 9b1c 0d4e 5f6a 7b8c 9d0e"


def test_write_manifest_is_atomic_and_does_not_follow_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("precious")
    bundle_dir = tmp_path / "b"
    bundle_dir.mkdir()
    (bundle_dir / (MANIFEST_NAME + ".part")).symlink_to(outside)
    part = BundlePart("images.tar.000", 1000, "a" * 64)
    write_manifest(bundle_dir, manifest_for([part]))
    assert outside.read_text() == "precious"
    assert names(bundle_dir) == [MANIFEST_NAME]
    assert read_manifest(bundle_dir).parts == [part]


def test_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        verify_bundle(tmp_path / "not-mounted")


HOSTILE_NAMES = [
    "../outside",
    "/etc/passwd",
    "sub/images.tar.000",
    "..",
    ".hidden",
    "a..b",
    "",
    "x" * 300,
    "-rf",
    "name\nwith-newline",
    "images.tar.000.part",
    MANIFEST_NAME,
    JOURNAL_NAME,
    "\x1b[31mred",
]


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
def test_hostile_part_names_are_refused_before_opening_anything(
    tmp_path: Path, hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle_dir = tmp_path / "bundle"
    bundle_dir.mkdir()
    content = b"looks legitimate"
    (tmp_path / "outside").write_bytes(content)  # would even verify, if it were opened
    manifest = manifest_for([BundlePart(hostile, len(content), sha(content))])
    write_manifest(bundle_dir, manifest)  # the writer does not judge; the reader must

    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fsdecode(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    with pytest.raises(BundleError) as raised:
        verify_bundle(bundle_dir)
    assert "parts[0].file" in str(raised.value)
    assert "\x1b" not in str(raised.value) and "\n" not in str(raised.value)
    assert opened == [str(bundle_dir / MANIFEST_NAME)]


# --------------------------------------------------------------------------- verify


def test_verify_a_good_bundle(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(3 * MiB + 1000))
    events: list[Progress] = []
    report = verify_bundle(tmp_path, progress=events.append)
    assert report.ok and report.problems == [] and report.warnings == []
    assert report.fingerprint == manifest.fingerprint
    assert [e.item for e in events if e.final] == [p.file for p in manifest.parts]
    assert all(e.stage == "verify" and e.ok for e in events)


def test_verify_names_every_bad_file(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(4 * MiB + 1000))  # 5 parts
    files = [p.file for p in manifest.parts]
    flipped = bytearray((tmp_path / files[0]).read_bytes())
    flipped[12345] ^= 0x01
    (tmp_path / files[0]).write_bytes(flipped)
    with open(tmp_path / files[1], "r+b") as f:
        f.truncate(1000)
    (tmp_path / files[2]).unlink()
    with open(tmp_path / files[3], "ab") as f:
        f.write(b"!")
    (tmp_path / "notes.txt").write_text("hi")
    report = verify_bundle(tmp_path)
    assert not report.ok
    by_file = {p.file: p.message for p in report.problems}
    assert list(by_file) == files[:4]
    assert "sha256 mismatch" in by_file[files[0]]
    assert "truncated: 1000 bytes" in by_file[files[1]]
    assert by_file[files[2]] == "missing"
    assert "too long" in by_file[files[3]]
    assert report.warnings == ["notes.txt: a file the bundle does not list (ignored)"]


def test_verify_checks_size_before_hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = build_bundle(tmp_path, payload(100 * 1024), part_size=64 * 1024)
    with open(tmp_path / manifest.parts[0].file, "r+b") as f:
        f.truncate(10)
    reads: list[int] = []
    real_read = os.read

    def spy(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", spy)
    problems = check_parts(tmp_path, manifest.parts[:1])
    assert [p.file for p in problems] == [manifest.parts[0].file]
    assert reads == []


def test_extra_files_are_warnings_not_failures(tmp_path: Path) -> None:
    build_bundle(tmp_path, payload(1000))
    (tmp_path / "images.tar.007.part").write_bytes(b"x")
    (tmp_path / "subdir").mkdir()
    (tmp_path / "\x1b[2Jevil").write_text("x")
    (tmp_path / JOURNAL_NAME).write_text("{}")  # known: an export that was being re-run
    report = verify_bundle(tmp_path)
    assert report.ok
    assert report.warnings == [
        "'\\x1b[2Jevil': a file the bundle does not list (ignored)",
        "images.tar.007.part: left over from an interrupted write (safe to delete)",
        "subdir: a directory the bundle does not list (ignored)",
    ]


def test_symlinked_part_is_refused_even_with_the_right_content(tmp_path: Path) -> None:
    bundle_dir = tmp_path / "bundle"
    manifest = build_bundle(bundle_dir, payload(1000))
    part = bundle_dir / manifest.parts[0].file
    outside = tmp_path / "outside"
    outside.write_bytes(part.read_bytes())
    part.unlink()
    part.symlink_to(outside)
    report = verify_bundle(bundle_dir)
    assert [(p.file, "symbolic link" in p.message) for p in report.problems] == [(part.name, True)]
    with pytest.raises(BundleError, match="symbolic link"):
        read_all(bundle_dir, manifest.parts)


def test_fifo_part_is_refused_without_blocking(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(1000))
    part = tmp_path / manifest.parts[0].file
    part.unlink()
    os.mkfifo(part)
    report = verify_bundle(tmp_path)
    assert [p.message for p in report.problems] == ["is not a regular file (refused)"]


def test_verify_on_read_only_media_writes_nothing(tmpfs: Path) -> None:
    data = payload(2 * MiB + 1000)
    manifest = build_bundle(tmpfs, data)
    before = names(tmpfs)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    report = verify_bundle(tmpfs)
    assert report.ok and report.fingerprint == manifest.fingerprint
    assert check_parts(tmpfs, manifest.parts) == []
    assert read_all(tmpfs, read_manifest(tmpfs).parts) == data
    assert names(tmpfs) == before


def test_check_drops_the_page_cache_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = build_bundle(tmp_path, payload(200 * 1024), part_size=64 * 1024)
    advice: list[int] = []

    def spy(fd: int, offset: int, length: int, what: int) -> None:
        advice.append(what)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    assert check_parts(tmp_path, manifest.parts) == []
    assert advice == [os.POSIX_FADV_DONTNEED] * len(manifest.parts)


def test_the_load_stream_keeps_pages_a_verify_just_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verify reads the drive itself; the import that follows may use the page cache (each
    blob's digest guards the bytes), so a USB stick is not read a second time at its speed."""
    data = payload(3 * MiB + 1000)
    manifest = build_bundle(tmp_path, data)
    advice: list[int] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, off, n, what: advice.append(what))
    assert verify_bundle(tmp_path).ok
    assert advice == [os.POSIX_FADV_DONTNEED] * len(manifest.parts)
    advice.clear()
    assert read_all(tmp_path, manifest.parts) == data
    assert advice == []


def test_check_reports_damage(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(200 * 1024), part_size=64 * 1024)
    events: list[Progress] = []
    path = tmp_path / manifest.parts[1].file
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 0x80
    path.write_bytes(damaged)
    problems = check_parts(tmp_path, manifest.parts, progress=events.append)
    assert [p.file for p in problems] == [manifest.parts[1].file]
    assert {e.stage for e in events} == {"verify"}
    assert [e.ok for e in events if e.final] == [True, False, True, True]


def test_verify_can_be_cancelled(tmp_path: Path) -> None:
    build_bundle(tmp_path, payload(2 * MiB))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        verify_bundle(tmp_path, cancel=token)


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1GiB", 1 << 30),
        ("500MB", 500_000_000),
        ("64MiB", 64 << 20),
        ("1048576", 1 << 20),
        ("1.5GiB", 3 << 29),
        (" 2 gib ", 2 << 30),
        ("1G", 1 << 30),
        ("4095MiB", 4095 << 20),
        ("4294967295", MAX_PART_SIZE),
        ("1024KiB", 1 << 20),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4GiB", "4095MiB or less"),
        ("4294967296", "4095MiB or less"),
        ("1TB", "4095MiB or less"),
        ("512KiB", "1MiB or more"),
        ("0", "1MiB or more"),
        ("-1MiB", "not a size"),
        ("abc", "not a size"),
        ("1 XB", "not a size"),
        ("", "not a size"),
        ("1.2.3MB", "not a size"),
    ],
)
def test_parse_size_rejects(text: str, expected: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_size(text)
    assert expected in str(raised.value)
    assert raised.value.exit_code == 2
