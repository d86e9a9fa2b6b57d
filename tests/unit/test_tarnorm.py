"""tarnorm: fixed header times, unchanged lengths, untouched data, any chunk boundaries."""

from __future__ import annotations

import io
import json
import random
import tarfile
from collections.abc import Iterator

import pytest

from airgap_tui.tarnorm import normalize_tar_stream

FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}
LONG_DIR = "blobs/" + "d" * 60 + "/" + "e" * 60  # > 100 characters in all
LONG_TARGET = "../" + "t" * 120


def inner_tar(mtime: float) -> bytes:
    """A layer tar: its own headers and times must survive normalisation untouched."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("etc/os-release", b"ID=test\n"), ("bin/tool", b"\x7fELF" * 300)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


LAYER = inner_tar(1234567890.5)


def members(fmt: int) -> list[tuple[str, bytes | None, str | None]]:
    """(name, data or None for a directory, symlink target)."""
    items: list[tuple[str, bytes | None, str | None]] = [
        ("blobs", None, None),
        ("blobs/sha256", None, None),
        ("blobs/sha256/" + "a" * 64, LAYER, None),
        ("manifest.json", b'[{"Config":"x"}]', None),
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', None),
        (LONG_DIR + "/file.json", b"long name payload" * 40, None),
        ("empty", b"", None),
        ("odd-size", bytes(range(256)) * 3 + b"!", None),
    ]
    if fmt != tarfile.USTAR_FORMAT:  # ustar cannot hold a link target over 100 characters
        items.append(("link", None, LONG_TARGET))
        items.append(("x" * 150, b"gnu long name / pax path", None))
    if fmt == tarfile.PAX_FORMAT:
        items.append(("ünïcode-名前.txt", b"utf-8 name", None))
    return items


def make_tar(fmt: int, mtime: float) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data, target in members(fmt):
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.uid, info.gid, info.uname, info.gname = 1000, 1000, "builder", "builder"
            if target is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = target
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def normalize(data: bytes, chunk: int | None = None, mtime: int = 0) -> bytes:
    return b"".join(normalize_tar_stream(split(data, chunk), mtime=mtime))


def split(data: bytes, chunk: int | None) -> Iterator[bytes]:
    if chunk is None:
        yield data
        return
    for i in range(0, len(data), chunk):
        yield data[i : i + chunk]


def contents(data: bytes) -> dict[str, tuple[bytes | None, str, float]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        out: dict[str, tuple[bytes | None, str, float]] = {}
        for info in tar.getmembers():
            f = tar.extractfile(info) if info.isfile() else None
            out[info.name] = (f.read() if f else None, info.linkname, info.mtime)
        return out


def fix_checksum(header: bytearray) -> None:
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)


@pytest.mark.parametrize("fmt_name", sorted(FORMATS))
def test_two_exports_at_different_times_become_identical(fmt_name: str) -> None:
    fmt = FORMATS[fmt_name]
    # Sub-second times of the same printed length (PAX records keep their length).
    first, second = make_tar(fmt, 1700000000.25), make_tar(fmt, 1800000000.75)
    assert first != second
    a, b = normalize(first), normalize(second)
    assert a == b
    assert len(a) == len(first)


@pytest.mark.parametrize("fmt_name", sorted(FORMATS))
def test_normalized_tar_is_valid_with_the_same_members(fmt_name: str) -> None:
    fmt = FORMATS[fmt_name]
    original = make_tar(fmt, 1700000000.25)
    before, after = contents(original), contents(normalize(original))
    assert list(before) == list(after)
    for name, (data, link, _mtime) in before.items():
        assert after[name][0] == data
        assert after[name][1] == link
        assert after[name][2] == 0
    assert before[LONG_DIR + "/file.json"][0] == b"long name payload" * 40


def test_a_chosen_mtime_is_written_everywhere() -> None:
    out = normalize(make_tar(tarfile.PAX_FORMAT, 1700000000.25), mtime=946684800)
    assert {m for _, _, m in contents(out).values()} == {946684800}


def test_layer_tars_inside_are_passed_through_byte_for_byte() -> None:
    out = normalize(make_tar(tarfile.PAX_FORMAT, 1700000000.25))
    layer = contents(out)["blobs/sha256/" + "a" * 64][0]
    assert layer == LAYER
    assert {m for _, _, m in contents(LAYER).values()} == {1234567890.5}


@pytest.mark.parametrize("chunk", [1, 7, 511, 512, 513, 1000, 1024, 4096, 10240, 1 << 20])
def test_any_chunk_boundaries_give_the_same_bytes(chunk: int) -> None:
    original = make_tar(tarfile.PAX_FORMAT, 1700000000.25)
    assert normalize(original, chunk) == normalize(original)


def test_random_chunk_boundaries_give_the_same_bytes() -> None:
    original = make_tar(tarfile.GNU_FORMAT, 1700000000)
    expected = normalize(original)
    rng = random.Random(1234)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(original)), 40))
        pieces = [original[i:j] for i, j in zip([0, *cuts], [*cuts, len(original)], strict=True)]
        assert b"".join(normalize_tar_stream(iter(pieces))) == expected


def test_chunks_of_member_data_pass_through_without_a_copy() -> None:
    """Layers are nearly all of an export: their bytes are handed on as the very chunks the
    engine sent (the part writer and read-back hold them), not copied again."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("blobs/sha256/" + "a" * 64)
        info.size = 64 * 1024
        info.mtime = 1_700_000_000
        tar.addfile(info, io.BytesIO(random.Random(3).randbytes(info.size)))
    data = buffer.getvalue()
    chunks = [data[:512]] + [data[i : i + 4096] for i in range(512, 512 + info.size, 4096)]
    chunks.append(data[512 + info.size :])
    out = list(normalize_tar_stream(iter(chunks), mtime=0))
    assert b"".join(out) == normalize(data)
    assert out[0] is not chunks[0]  # the header was rewritten
    assert all(o is c for o, c in zip(out[1:-1], chunks[1:-1], strict=True))


def test_empty_chunks_and_empty_stream() -> None:
    assert list(normalize_tar_stream(iter([]))) == []
    original = make_tar(tarfile.USTAR_FORMAT, 5)
    pieces = [b"", original[:100], b"", original[100:], b""]
    assert b"".join(normalize_tar_stream(iter(pieces))) == normalize(original)


def test_pax_size_record_overrides_the_header_size() -> None:
    """Members over 8 GiB carry their size in a PAX record; the header field then lies."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mtime in (("big", b"hello world", 17.5), ("after", b"next", 99)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            info.pax_headers = {"size": str(len(data))} if name == "big" else {}
            tar.addfile(info, io.BytesIO(data))
    raw = bytearray(buf.getvalue())
    with tarfile.open(fileobj=io.BytesIO(bytes(raw))) as tar:
        header_at = tar.getmember("big").offset_data - 512
    header = raw[header_at : header_at + 512]
    header[124:136] = b"00000000000\x00"  # the ustar size field now says 0
    fix_checksum(header)
    raw[header_at : header_at + 512] = header
    crafted = bytes(raw)
    assert contents(crafted)["big"][0] == b"hello world"

    out = normalize(crafted, chunk=100)
    assert len(out) == len(crafted)
    result = contents(out)
    assert result["big"][0] == b"hello world"
    assert result["after"] == (b"next", "", 0)


def test_gnu_atime_and_ctime_are_fixed_too() -> None:
    raw = bytearray(make_tar(tarfile.GNU_FORMAT, 1700000000))
    with tarfile.open(fileobj=io.BytesIO(bytes(raw))) as tar:
        at = tar.getmember("manifest.json").offset
    header = raw[at : at + 512]
    assert header[257:265] == b"ustar  \x00"
    header[345:357] = b"%011o\x00" % 1700000001
    header[357:369] = b"%011o\x00" % 1700000002
    fix_checksum(header)
    raw[at : at + 512] = header
    other = bytearray(raw)
    other[at + 345 : at + 357] = b"%011o\x00" % 1600000000
    fix_checksum(other_header := other[at : at + 512])
    other[at : at + 512] = other_header
    out = normalize(bytes(raw))
    assert out[at + 345 : at + 369] == bytes(24)  # cleared, as an unset time
    assert out == normalize(bytes(other))
    assert contents(out)["manifest.json"][0] == b'[{"Config":"x"}]'


def test_base256_size_field_is_understood() -> None:
    raw = bytearray(make_tar(tarfile.GNU_FORMAT, 1700000000))
    with tarfile.open(fileobj=io.BytesIO(bytes(raw))) as tar:
        info = tar.getmember("odd-size")
    header = raw[info.offset : info.offset + 512]
    header[124:136] = bytes([0x80]) + info.size.to_bytes(11, "big")
    fix_checksum(header)
    raw[info.offset : info.offset + 512] = header
    out = normalize(bytes(raw), chunk=333)
    assert out[info.offset + 124 : info.offset + 136] == bytes(header[124:136])
    assert contents(out) == {
        name: (data, link, 0) for name, (data, link, _) in contents(bytes(raw)).items()
    }


def test_not_a_tar_passes_through_unchanged() -> None:
    junk = bytes(random.Random(7).randrange(256) for _ in range(5000))
    assert normalize(junk, chunk=100) == junk


def test_damaged_header_stops_normalising_but_copies_everything() -> None:
    original = make_tar(tarfile.USTAR_FORMAT, 1700000000)
    with tarfile.open(fileobj=io.BytesIO(original)) as tar:
        at = tar.getmember("manifest.json").offset
    damaged = bytearray(original)
    damaged[at + 10] ^= 0xFF  # checksum no longer matches
    out = normalize(bytes(damaged))
    assert len(out) == len(damaged)
    assert out[at:] == bytes(damaged[at:])  # from the bad header on: verbatim
    assert out[:at] == normalize(original)[:at]  # before it: normalised


def test_truncated_stream_keeps_its_length() -> None:
    original = make_tar(tarfile.PAX_FORMAT, 1700000000.25)
    with tarfile.open(fileobj=io.BytesIO(original)) as tar:
        in_layer = tar.getmember("blobs/sha256/" + "a" * 64).offset_data + 1000
    # Cut inside a header: the incomplete block comes out as it went in.
    assert normalize(original[:100], chunk=64) == original[:100]
    # Cut inside file data: everything before is normalised, the data copied.
    out = normalize(original[:in_layer], chunk=64)
    assert out == normalize(original)[:in_layer]
    assert out != original[:in_layer]


def test_stream_without_record_padding() -> None:
    """Go's archive/tar (docker save) ends with two zero blocks and no 10 KiB record padding."""
    original = make_tar(tarfile.USTAR_FORMAT, 1700000000)
    with tarfile.open(fileobj=io.BytesIO(original)) as tar:
        last = tar.getmembers()[-1]
    end = last.offset_data + -(-last.size // 512) * 512 + 1024
    trimmed = original[:end]
    assert trimmed[-1024:] == bytes(1024)
    assert contents(normalize(trimmed))["odd-size"][0] == bytes(range(256)) * 3 + b"!"


def test_negative_mtime_is_refused() -> None:
    with pytest.raises(ValueError):
        list(normalize_tar_stream(iter([b""]), mtime=-1))


def _tar_with(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_engine_json_lists_are_sorted_so_saves_in_any_image_order_match() -> None:
    a = b'{"Config":"b.json","RepoTags":["r/b:1"]}'
    b = b'{"Config":"a.json","RepoTags":["r/a:1"],"Layers":["x/layer.tar"]}'
    idx_a, idx_b = b'{"digest":"sha256:2","size":1}', b'{"digest":"sha256:1","size":9}'
    first = _tar_with(
        [
            ("manifest.json", b"[" + a + b"," + b + b"]"),
            ("index.json", b'{"schemaVersion":2,"manifests":[' + idx_a + b"," + idx_b + b"]}"),
            ("nested/manifest.json", b"[" + a + b"," + b + b"]"),
        ]
    )
    second = _tar_with(
        [
            ("manifest.json", b"[" + b + b"," + a + b"]"),
            ("index.json", b'{"schemaVersion":2,"manifests":[' + idx_b + b"," + idx_a + b"]}"),
            ("nested/manifest.json", b"[" + a + b"," + b + b"]"),
        ]
    )
    one = b"".join(normalize_tar_stream([first]))
    two = b"".join(
        normalize_tar_stream(iter([second[i : i + 700] for i in range(0, len(second), 700)]))
    )
    assert one == two and len(one) == len(first)
    with tarfile.open(fileobj=io.BytesIO(one)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert [m["Config"] for m in manifest] == ["a.json", "b.json"]
        nested = tar.extractfile("nested/manifest.json").read()  # type: ignore[union-attr]
        assert nested == b"[" + a + b"," + b + b"]"  # only the archive's own files


def test_json_that_is_not_a_plain_list_passes_unchanged() -> None:
    from airgap_tui.tarnorm import sort_json_list

    pretty = b'[\n {"b": 1},\n {"a": 2}\n]'
    assert sort_json_list(pretty, None) == pretty
    assert sort_json_list(b"not json", None) == b"not json"
    assert sort_json_list(b'{"manifests": 3}', b"manifests") == b'{"manifests": 3}'
