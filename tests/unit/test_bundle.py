"""bundle: part splitting, atomic writes, resume, verification, hostile manifests, streaming."""

from __future__ import annotations

import copy
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
import yaml

from airgap_tui import bundle
from airgap_tui.bundle import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    MAX_PART_SIZE,
    BundleImage,
    BundleManifest,
    BundlePart,
    ExportJournal,
    PartWriter,
    check_parts,
    finish_bundle,
    format_fingerprint,
    iter_bundle_stream,
    parse_size,
    read_manifest,
    verify_bundle,
    write_manifest,
)
from airgap_tui.errors import BundleError, Cancelled, MediaError, UsageError
from airgap_tui.events import CancelToken, Progress
from tests.harness.data import chunked, payload

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20
KEY = "semgrep:6 secrets:7 linux/amd64"

IMAGE = BundleImage(
    name="semgrep",
    tag="6",
    source_ref="registry.gitlab.com/security-products/semgrep:6",
    image_id="sha256:" + "1" * 64,
    digest="sha256:" + "2" * 64,
    diff_ids=["sha256:" + "3" * 64, "sha256:" + "4" * 64],
    size=123456,
    analyzer="semgrep",
)
CUSTOM = BundleImage(
    name="tools/scanner",
    tag="1.2.3",
    source_ref="localhost:5000/tools/scanner:1.2.3",
    image_id="sha256:" + "5" * 64,
    size=42,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_for(parts: list[BundlePart], **changes: Any) -> BundleManifest:
    fields: dict[str, Any] = {
        "source_prefix": "registry.gitlab.com/security-products",
        "gitlab_major": 18,
        "platform": "linux/amd64",
        "images": [IMAGE, CUSTOM],
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


def build_bundle(directory: Path, data: bytes, part_size: int = 64 * 1024) -> BundleManifest:
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
        from airgap_tui.bundle import ExportJournal, PartWriter
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
    report = verify_bundle(tmp_path)
    assert report.ok and report.warnings == []


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
    assert b"".join(iter_bundle_stream(bundle_dir, read_manifest(bundle_dir))) == data


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
    report = verify_bundle(tmp_path)
    assert report.ok and report.warnings == []


def test_resume_with_another_part_size_rewrites_everything(tmp_path: Path) -> None:
    data = payload(25)
    write_parts(tmp_path, data, 10)
    writer, journal = write_parts(tmp_path, data, 7)
    assert writer.kept == []
    assert [p.size for p in writer.parts] == [7, 7, 7, 4]
    finish_bundle(tmp_path, manifest_for(writer.parts), journal)
    assert b"".join(iter_bundle_stream(tmp_path, read_manifest(tmp_path))) == data


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
    first = build_bundle(tmp_path, data)
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
    first = build_bundle(tmp_path, data)
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


def test_oci_archive_format_round_trips(tmp_path: Path) -> None:
    manifest = manifest_for([], archive_format="oci")
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path).archive_format == "oci"
    assert manifest.fingerprint != manifest_for([]).fingerprint


def test_manifest_round_trip_and_stable_fingerprint(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(150 * 1024))
    first, second = read_manifest(tmp_path), read_manifest(tmp_path)
    assert first == manifest == second
    assert first.fingerprint == second.fingerprint == manifest.fingerprint
    assert len(manifest.fingerprint) == 64
    raw = yaml.safe_load((tmp_path / MANIFEST_NAME).read_text())
    assert raw["fingerprint"] == manifest.fingerprint
    assert raw["total_bytes"] == 150 * 1024
    assert raw["images"][0]["tag"] == "6"  # a string, though it looks like a number


def test_fingerprint_covers_content_but_not_creation_time() -> None:
    parts = [BundlePart("images.tar.000", 10, "a" * 64)]
    base = manifest_for(parts, created="2025-01-01T00:00:00Z")
    assert manifest_for(parts, created="2030-06-01T12:00:00Z").fingerprint == base.fingerprint
    assert manifest_for(parts, tool_version="9.9").fingerprint == base.fingerprint
    changed_part = [BundlePart("images.tar.000", 10, "b" * 64)]
    assert manifest_for(changed_part).fingerprint != base.fingerprint
    assert manifest_for(parts, images=[IMAGE]).fingerprint != base.fingerprint
    assert manifest_for(parts, gitlab_major=17).fingerprint != base.fingerprint


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
    write_manifest(bundle_dir, manifest_for([]))
    assert outside.read_text() == "precious"
    assert names(bundle_dir) == [MANIFEST_NAME]
    assert read_manifest(bundle_dir).parts == []


def valid_manifest_dict(tmp_path: Path) -> dict[str, Any]:
    build_bundle(tmp_path, payload(100 * 1024))
    data: dict[str, Any] = yaml.safe_load((tmp_path / MANIFEST_NAME).read_text())
    return data


def rewrite(tmp_path: Path, data: object) -> None:
    (tmp_path / MANIFEST_NAME).write_text(yaml.safe_dump(data, sort_keys=False))


def test_missing_manifest_says_the_export_did_not_finish(tmp_path: Path) -> None:
    with pytest.raises(BundleError) as raised:
        read_manifest(tmp_path)
    message = str(raised.value)
    assert f"bundle.yaml not found in {tmp_path}" in message
    assert "interrupted" in message and "Re-run the export" in message


def test_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        verify_bundle(tmp_path / "not-mounted")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("format_version: [1\n", "not valid YAML"),
        (b"\xff\xfe\x00garbage", "not valid YAML"),
        ("- just\n- a list\n", "not a bundle manifest"),
        ("", "not a bundle manifest"),
        ("a: &x [1, 2]\nb: *x\n", "aliases"),
    ],
)
def test_manifest_that_is_not_yaml_or_not_a_mapping(
    tmp_path: Path, text: str | bytes, expected: str
) -> None:
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(BundleError, match=expected):
        read_manifest(tmp_path)


def test_future_format_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    data = valid_manifest_dict(tmp_path)
    data["format_version"] = 2
    data["something_new"] = {"x": 1}
    rewrite(tmp_path, data)
    with pytest.raises(BundleError) as raised:
        verify_bundle(tmp_path)
    assert "newer airgap-tui" in str(raised.value) and "Upgrade" in str(raised.value)


def _set(data: dict[str, Any], path: str, value: object) -> None:
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is KeyError:
        del target[keys[-1]]
    elif isinstance(target, list):
        target[int(keys[-1])] = value
    else:
        target[keys[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("format_version", "1", "field format_version"),
        ("platform", KeyError, "field platform"),
        ("unexpected", 1, "field unexpected"),
        ("images.0.tag", 6, "field images[0].tag"),
        ("images.0.name", "Semgrep/../x", "field images[0]"),
        ("images.1.image_id", "sha256:short", "field images[1].image_id"),
        ("images.0.diff_ids.1", "md5:abc", "field images[0].diff_ids[1]"),
        ("images.0.size", True, "field images[0].size"),
        ("images.0.digest", "latest", "field images[0].digest"),
        ("images.0.source_ref", "not a ref", "field images[0]"),
        ("images", "semgrep", "field images"),
        ("parts.0.size", -5, "field parts[0].size"),
        ("parts.0.sha256", "A" * 64, "field parts[0].sha256"),
        ("parts.1", "images.tar.001", "field parts[1]"),
        ("archive_format", "oci-zip", "field archive_format"),
        ("created", "yesterday", "field created"),
        ("total_bytes", 1, "field total_bytes"),
        ("parts.0.sha256", "0" * 64, "field fingerprint"),
    ],
)
def test_wrong_schema_names_the_field(tmp_path: Path, path: str, value: object, field: str) -> None:
    data = valid_manifest_dict(tmp_path)
    _set(data, path, value)
    rewrite(tmp_path, data)
    with pytest.raises(BundleError) as raised:
        read_manifest(tmp_path)
    assert field in str(raised.value)


def test_duplicate_images_are_refused(tmp_path: Path) -> None:
    data = valid_manifest_dict(tmp_path)
    data["images"].append(copy.deepcopy(data["images"][0]))
    rewrite(tmp_path, data)
    with pytest.raises(BundleError, match="listed twice"):
        read_manifest(tmp_path)


def test_manifest_that_is_a_symlink_or_huge_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.yaml"
    build_bundle(tmp_path / "b", payload(10))
    (tmp_path / "b" / MANIFEST_NAME).rename(real)
    (tmp_path / "b" / MANIFEST_NAME).symlink_to(real)
    with pytest.raises(BundleError, match="symbolic link"):
        read_manifest(tmp_path / "b")
    (tmp_path / "b" / MANIFEST_NAME).unlink()
    (tmp_path / "b" / MANIFEST_NAME).write_bytes(b"#" * (9 * MiB))
    with pytest.raises(BundleError, match="cannot be read"):
        read_manifest(tmp_path / "b")


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
    manifest = build_bundle(tmp_path, payload(300 * 1024))
    events: list[Progress] = []
    report = verify_bundle(tmp_path, progress=events.append)
    assert report.ok and report.problems == [] and report.warnings == []
    assert report.fingerprint == manifest.fingerprint
    assert [e.item for e in events if e.final] == [p.file for p in manifest.parts]
    assert all(e.stage == "verify" and e.ok for e in events)


def test_verify_names_every_bad_file(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(300 * 1024))  # 5 parts of 64 KiB
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
    manifest = build_bundle(tmp_path, payload(100 * 1024))
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
        list(iter_bundle_stream(bundle_dir, manifest))


def test_fifo_part_is_refused_without_blocking(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(1000))
    part = tmp_path / manifest.parts[0].file
    part.unlink()
    os.mkfifo(part)
    report = verify_bundle(tmp_path)
    assert [p.message for p in report.problems] == ["is not a regular file (refused)"]


def test_verify_on_read_only_media_writes_nothing(tmpfs: Path) -> None:
    data = payload(2 * MiB)
    manifest = build_bundle(tmpfs, data, part_size=MiB // 2)
    before = names(tmpfs)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    report = verify_bundle(tmpfs)
    assert report.ok and report.fingerprint == manifest.fingerprint
    assert check_parts(tmpfs, manifest.parts) == []
    assert b"".join(iter_bundle_stream(tmpfs, read_manifest(tmpfs))) == data
    assert names(tmpfs) == before


def test_check_drops_the_page_cache_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = build_bundle(tmp_path, payload(200 * 1024))
    advice: list[int] = []

    def spy(fd: int, offset: int, length: int, what: int) -> None:
        advice.append(what)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    assert check_parts(tmp_path, manifest.parts) == []
    assert advice == [os.POSIX_FADV_DONTNEED] * len(manifest.parts)


def test_the_load_stream_keeps_pages_a_verify_just_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verify reads the drive itself; the load that follows may use the page cache (its own
    hash guards the bytes), so a USB stick is not read a second time at its speed."""
    data = payload(200 * 1024)
    manifest = build_bundle(tmp_path, data)
    advice: list[int] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, off, n, what: advice.append(what))
    assert verify_bundle(tmp_path).ok
    assert advice == [os.POSIX_FADV_DONTNEED] * len(manifest.parts)
    advice.clear()
    assert b"".join(iter_bundle_stream(tmp_path, manifest)) == data
    assert advice == []


def test_check_reports_damage(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(200 * 1024))
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
    build_bundle(tmp_path, payload(300 * 1024))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        verify_bundle(tmp_path, cancel=token)


# --------------------------------------------------------------------------- streaming for load


def test_stream_concatenates_the_parts(tmp_path: Path) -> None:
    data = payload(300 * 1024)
    build_bundle(tmp_path, data)
    events: list[Progress] = []
    chunks = list(iter_bundle_stream(tmp_path, read_manifest(tmp_path), progress=events.append))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= bundle.CHUNK_SIZE
    assert all(e.stage == "load" for e in events)


def test_stream_fails_at_the_end_of_a_damaged_part(tmp_path: Path) -> None:
    data = payload(200 * 1024)
    manifest = build_bundle(tmp_path, data)
    bad = tmp_path / manifest.parts[1].file
    damaged = bytearray(bad.read_bytes())
    damaged[100] ^= 0xFF
    bad.write_bytes(damaged)
    received = bytearray()
    with pytest.raises(BundleError) as raised:
        for chunk in iter_bundle_stream(tmp_path, manifest):
            received += chunk
    assert manifest.parts[1].file in str(raised.value) and "sha256" in str(raised.value)
    assert len(received) == manifest.parts[0].size + manifest.parts[1].size
    unchecked = b"".join(iter_bundle_stream(tmp_path, manifest, check_hashes=False))
    assert len(unchecked) == len(data) and unchecked != data


def test_stream_refuses_a_truncated_part_before_reading_it(tmp_path: Path) -> None:
    manifest = build_bundle(tmp_path, payload(200 * 1024))
    with open(tmp_path / manifest.parts[0].file, "r+b") as f:
        f.truncate(5)
    with pytest.raises(BundleError, match="truncated"):
        next(iter_bundle_stream(tmp_path, manifest))


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
