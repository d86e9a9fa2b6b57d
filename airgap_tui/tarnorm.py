"""Make an engine's image archive deterministic by fixing the times in its tar headers.

Docker 25+ `docker save` writes the current time into some tar headers, so two exports of the
same images differ in a few bytes. A resumed export must prove that a regenerated part equals
the one already on the media; with every header time set to one value, it can.

Only the outer archive's headers change, and never a length: file data (the layer tars, whose
bytes define the layer diff IDs) passes through untouched, so image and layer IDs do not change.
Whatever cannot be parsed with certainty (a bad checksum, GNU sparse files, an oversized PAX
header) switches the rest of the stream to pass-through: a faithful copy beats a clever one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)

# Header field offsets (POSIX ustar; GNU keeps atime/ctime where ustar keeps the name prefix).
_SIZE = slice(124, 136)
_MTIME = slice(136, 148)
_CHKSUM = slice(148, 156)
_TYPE = 156
_MAGIC = slice(257, 265)
_GNU_MAGIC = b"ustar  \x00"
_GNU_TIMES = (slice(345, 357), slice(357, 369))

_HEADER_ONLY_TYPES = frozenset(b"123456")  # links, devices, directories, FIFOs: no data
_PAX_TYPES = frozenset(b"xg")
_EXTENSION_TYPES = frozenset(b"xgLK")  # describe the next header rather than a member
_GNU_SPARSE = ord("S")
_PAX_TIME_KEYS = frozenset({b"mtime", b"atime", b"ctime", b"LIBARCHIVE.creationtime"})

# PAX data is buffered to rewrite it; anything bigger passes through (and ends normalising).
PAX_BUFFER_LIMIT = 1 << 20

_HEADER, _DATA, _PAX, _RAW, _JSON = range(5)

# Top-level JSON files whose list order the engine does not keep stable between saves (20.10
# walks a Go map for manifest.json; index.json lists the same images). Sorted, same length.
_ORDERED_JSON = {b"manifest.json": None, b"index.json": b"manifests"}
JSON_BUFFER_LIMIT = 4 << 20
_REGULAR_TYPES = frozenset(b"0\x00")


def _structure(data: bytes, start: int = 0) -> Iterator[tuple[int, int, int]]:
    """(index, byte, depth before it) for every byte outside JSON strings."""
    depth, i, in_string = 0, start, False
    while i < len(data):
        c = data[i]
        if in_string:
            if c == 0x5C:  # backslash: skip the escaped character
                i += 1
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        else:
            yield i, c, depth
            if c in b"[{":
                depth += 1
            elif c in b"]}":
                depth -= 1
        i += 1


def _array_end(data: bytes, start: int) -> int | None:
    """Index just past the JSON array opening at `start`, or None if it is malformed."""
    for i, c, depth in _structure(data, start):
        if c in b"]}" and depth == 1:
            return i + 1
    return None


def _split_elements(body: bytes) -> list[bytes]:
    """Split the inside of a JSON array at its top-level commas (strings and nesting aware)."""
    cuts = [i for i, c, depth in _structure(body) if c == 0x2C and depth == 0]
    bounds = [-1, *cuts, len(body)]
    return [body[a + 1 : b] for a, b in zip(bounds, bounds[1:], strict=False)]


def sort_json_list(data: bytes, key: bytes | None) -> bytes:
    """Sort the elements of the top-level array (or of object member `key`), bytes unchanged
    otherwise; anything unexpected returns `data` as it came."""
    import json

    try:
        parsed = json.loads(data)
        if key is None:
            start = data.index(b"[")
            ok = isinstance(parsed, list)
        else:
            marker = b'"' + key + b'":'
            start = data.index(b"[", data.index(marker) + len(marker))
            ok = isinstance(parsed, dict) and isinstance(parsed.get(key.decode()), list)
    except ValueError:
        return data
    end = _array_end(data, start) if ok else None
    if end is None:
        return data
    elements = _split_elements(data[start + 1 : end - 1])
    stripped = [e.strip() for e in elements]
    if len(elements) < 2 or any(e != s for e, s in zip(elements, stripped, strict=True)):
        return data  # whitespace between elements: leave it as the engine wrote it
    result = data[: start + 1] + b",".join(sorted(elements)) + data[end - 1 :]
    try:
        if json.loads(result) is None or len(result) != len(data):
            return data
    except ValueError:
        return data
    return result


def _parse_number(field: bytes) -> int | None:
    """A numeric header field: octal text, or GNU base-256 when the high bit is set."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative, two's complement over the whole field
            value = int.from_bytes(field, "big") - (1 << (8 * len(field)))
        return value
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        return None


def _format_number(value: int, width: int) -> bytes:
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\x00" % (width - 1, value)
    return bytes([0x80]) + value.to_bytes(width - 1, "big")


def _checksum_ok(block: bytes) -> bool:
    stored = _parse_number(block[_CHKSUM])
    if stored is None:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 32
    return stored == signed


def _with_checksum(header: bytearray) -> bytes:
    header[_CHKSUM] = b" " * 8
    header[_CHKSUM] = b"%06o\x00 " % sum(header)
    return bytes(header)


def _pax_time(value: bytes, mtime: int) -> bytes:
    """`mtime` as a decimal of exactly len(value) characters (0 when it cannot fit)."""
    if not value:
        return value  # an empty value deletes a keyword; keep that meaning
    text = str(mtime).encode()
    if len(text) > len(value):
        text = b"0"
    return text.rjust(len(value), b"0")


def _rewrite_pax(data: bytes, mtime: int) -> tuple[bytes, int | None] | None:
    """PAX records with their times fixed in place, and the `size` record; None if malformed."""
    out = bytearray()
    size: int | None = None
    pos = 0
    while pos < len(data):
        if not any(data[pos:]):
            out += data[pos:]  # some writers pad the records with NULs
            break
        space = data.find(b" ", pos, pos + 24)
        digits = data[pos:space] if space > pos else b""
        if not digits.isdigit():
            return None
        length = int(digits)
        end = pos + length
        if length <= len(digits) + 1 or end > len(data) or data[end - 1 : end] != b"\n":
            return None
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            return None
        if key in _PAX_TIME_KEYS:
            value = _pax_time(value, mtime)
        elif key == b"size":
            if not value.isdigit():
                return None
            size = int(value)
        out += data[pos : space + 1] + key + b"=" + value + b"\n"
        pos = end
    return bytes(out), size


class _Normalizer:
    """A push parser over the tar stream: header, data, PAX data or raw pass-through."""

    def __init__(self, mtime: int) -> None:
        if mtime < 0:
            raise ValueError("mtime must not be negative")
        self.mtime = mtime
        self.time_field = _format_number(mtime, 12)
        self.state = _HEADER
        self.buf = bytearray()
        self.remaining = 0  # bytes of data (with padding) still to pass or collect
        self.pax_length = 0  # bytes of PAX records inside the collected data
        self.pax_global = False
        self.next_size: int | None = None  # from a PAX `size` record, for the next member
        self.json_key: bytes | None = None
        self.json_length = 0

    def feed(self, chunk: bytes) -> bytes:
        pieces: list[bytes | memoryview] = []
        view = memoryview(chunk)
        while view:
            if self.state == _RAW:
                pieces.append(view)
                break
            if self.state == _DATA:
                n = min(self.remaining, len(view))
                pieces.append(view[:n])
                view = view[n:]
                self.remaining -= n
                if not self.remaining:
                    self.state = _HEADER
            elif self.state == _HEADER:
                n = BLOCK - len(self.buf)
                self.buf += view[:n]
                view = view[n:]
                if len(self.buf) == BLOCK:
                    pieces.append(self._header(bytes(self.buf)))
                    self.buf.clear()
            else:  # _PAX or _JSON: collect the member, then rewrite it at the same length
                n = self.remaining - len(self.buf)
                self.buf += view[:n]
                view = view[n:]
                if len(self.buf) == self.remaining:
                    data = bytes(self.buf)
                    pieces.append(self._pax(data) if self.state == _PAX else self._json(data))
                    self.buf.clear()
                    self.remaining = 0
        only = pieces[0] if len(pieces) == 1 else None
        if isinstance(only, memoryview) and only.obj is chunk and len(only) == len(chunk):
            return chunk  # all data, passed on as it came: no copy
        return b"".join(pieces)

    def close(self) -> bytes:
        """A truncated stream ends as it came: the partial block passes unchanged."""
        tail = bytes(self.buf)
        self.buf.clear()
        return tail

    def _header(self, block: bytes) -> bytes:
        if block == _ZERO_BLOCK:
            return block  # end-of-archive marker or padding
        size = _parse_number(block[_SIZE])
        if not _checksum_ok(block) or size is None or size < 0:
            self.state = _RAW
            return block
        kind = block[_TYPE]
        if kind not in _EXTENSION_TYPES and self.next_size is not None:
            size, self.next_size = self.next_size, None
        length = 0 if kind in _HEADER_ONLY_TYPES else size
        header = bytearray(block)
        header[_MTIME] = self.time_field
        if block[_MAGIC] == _GNU_MAGIC:
            for field in _GNU_TIMES:
                # Cleared rather than set: an unset GNU atime/ctime is what Go and GNU tar write
                # by default, and readers that ignore the GNU magic take these bytes for a prefix.
                header[field] = bytes(12)
        padded = -(-length // BLOCK) * BLOCK
        if kind == _GNU_SPARSE:
            self.state = _RAW  # extension blocks and sparse maps: copy the rest verbatim
        elif kind in _PAX_TYPES and 0 < length <= PAX_BUFFER_LIMIT:
            self.state = _PAX
            self.remaining = padded
            self.pax_length = length
            self.pax_global = kind == ord("g")
        elif kind in _PAX_TYPES and length:
            self.state = _RAW  # too big to rewrite, and its `size` record would be unknown
        elif self._ordered_json(block, kind, length):
            self.state = _JSON
            self.remaining = padded
            self.json_length = length
        elif padded:
            self.state = _DATA
            self.remaining = padded
        else:
            self.state = _HEADER
        return _with_checksum(header)

    def _ordered_json(self, block: bytes, kind: int, length: int) -> bool:
        name = block[:100].split(b"\x00", 1)[0]
        if kind not in _REGULAR_TYPES or not 0 < length <= JSON_BUFFER_LIMIT:
            return False
        if name not in _ORDERED_JSON or block[345:346] not in (b"", b"\x00"):
            return False  # only the archive's own top-level files (no name prefix)
        self.json_key = _ORDERED_JSON[name]
        return True

    def _json(self, data: bytes) -> bytes:
        body, padding = data[: self.json_length], data[self.json_length :]
        self.state = _HEADER
        return sort_json_list(body, self.json_key) + padding

    def _pax(self, data: bytes) -> bytes:
        records, padding = data[: self.pax_length], data[self.pax_length :]
        rewritten = _rewrite_pax(records, self.mtime)
        if rewritten is None:
            self.state = _RAW
            return data
        new_records, size = rewritten
        if size is not None and not self.pax_global:
            self.next_size = size
        self.state = _HEADER
        return new_records + padding


def normalize_tar_stream(chunks: Iterable[bytes], mtime: int = 0) -> Iterator[bytes]:
    """Yield the tar stream with every header time set to `mtime`; lengths never change.

    Memory stays O(chunk): headers may straddle chunk boundaries, data is never collected.
    """
    normalizer = _Normalizer(mtime)
    for chunk in chunks:
        out = normalizer.feed(chunk)
        if out:
            yield out
    tail = normalizer.close()
    if tail:
        yield tail
