"""The carried tool's bytecode, compiled in a fresh interpreter.

Bytecode for the exporting interpreter rides along in airgap-tui.pyz (hash-based, unchecked: the
archive never changes), so the wizard opens fast; another Python version ignores it and compiles
the sources. It is compiled in a fresh interpreter because marshal's output depends on what the
compiling process has loaded: same installation, same bytes.

Compiling a few thousand files takes seconds, so the code is taken from the .pyc the installer
(pip) wrote beside each source when that .pyc is this interpreter's and fresh for the source (the
import system's own check), with its file name made the archive's; only the rest is compiled.
The name is changed in the marshalled bytes (`patched`: the one place marshal wrote it), which
takes a third of the time of unmarshalling and marshalling the code again (`renamed`, kept for
a .pyc where that place cannot be found).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from typing import IO

from airgap_tui.toolpack.early import end
from airgap_tui.toolpack.members import Member, ToolError


class _Compiler:
    """Compiles the sources in a fresh interpreter (same order in, same bytes out) and hands
    back each file's PEP 552 unchecked-hash .pyc; b"" when a file does not compile."""

    SCRIPT = r"""
import importlib.util, marshal, os, struct, sys, warnings
warnings.simplefilter("ignore")
magic = importlib.util.MAGIC_NUMBER
head = magic + struct.pack("<I", 0b01)
SHORT = (ord("z"), ord("Z"))  # marshal's short ASCII strings (length in one byte), interned or not
LONG = (ord("a"), ord("A"), ord("u"), ord("t"))  # ASCII and unicode ones (length in four)

def installed(path, source, source_hash):
    # The marshalled code in the .pyc the installer wrote beside the source, if it is this
    # interpreter's and is for exactly these bytes (checked as the import system checks it).
    try:
        with open(importlib.util.cache_from_source(path), "rb") as f:
            data = f.read()
        flags = struct.unpack("<I", data[4:8])[0]
        if data[:4] != magic or flags & ~0b11:
            return None
        if flags & 0b01:
            fresh = data[8:16] == source_hash
        else:
            st = os.stat(path)
            fresh = data[8:16] == struct.pack(
                "<II", int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF
            ) and st.st_size == len(source)
        return data[16:] if fresh else None
    except (OSError, ValueError, TypeError, struct.error):
        return None

def patched(data, path, name):
    # `data` with its code objects' co_filename `path` made `name`, in place. marshal writes
    # that one string once and refers back to it after, so replacing its one serialization
    # renames every code object; None when `path` is not serialized exactly once (then the
    # code is unmarshalled and renamed).
    old = path.encode("utf-8", "surrogatepass")
    for lengths, size in ((SHORT, bytes([len(old)]) if len(old) < 256 else None),
                          (LONG, struct.pack("<I", len(old)))):
        if size is None:
            continue
        at = data.find(size + old)
        if at < 1 or data[at - 1] & 0x7F not in lengths or data.find(size + old, at + 1) != -1:
            continue
        flag = data[at - 1] & 0x80  # referred to later: the new string keeps the ref's place
        new = name.encode("utf-8", "surrogatepass")
        if not name.isascii():
            string = bytes([ord("u") | flag]) + struct.pack("<I", len(new)) + new
        elif len(new) < 256:
            string = bytes([ord("z") | flag, len(new)]) + new
        else:
            string = bytes([ord("a") | flag]) + struct.pack("<I", len(new)) + new
        return data[:at - 1] + string + data[at + len(size) + len(old):]
    return None

def renamed(code, name):
    consts = tuple(renamed(c, name) if hasattr(c, "co_code") else c for c in code.co_consts)
    return code.replace(co_filename=name, co_consts=consts)

def pyc(arcname, path):
    try:
        with open(path, "rb") as f:
            source = f.read()
        source_hash = importlib.util.source_hash(source)
        data = installed(path, source, source_hash)
        if data is None:
            code = marshal.dumps(compile(source, arcname, "exec", dont_inherit=True))
        else:  # the archive's name, not this host's path
            code = patched(data, path, arcname) or marshal.dumps(
                renamed(marshal.loads(data), arcname)
            )
        return head + source_hash + code
    except (SyntaxError, ValueError, EOFError, TypeError, OSError):
        return b""

if __name__ == "__main__":
    fields = sys.stdin.buffer.read().split(b"\0")
    out = sys.stdout.buffer
    for i in range(0, len(fields) - 1, 2):
        blob = pyc(fields[i].decode("utf-8"), os.fsdecode(fields[i + 1]))
        out.write(struct.pack("<Q", len(blob)) + blob)
    out.flush()
"""

    def __init__(self, sources: list[Member]) -> None:
        self._order = [m.arcname for m in sources]
        self._request = b"".join(
            m.arcname.encode("utf-8") + b"\0" + os.fsencode(m.path or "") + b"\0" for m in sources
        )
        self._index = 0
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Compiler:
        if not sys.executable:
            raise ToolError(
                "Compiling the carried tool",
                "this Python does not know its own executable",
                "Run airgap-tui from an installed command, or export with --no-tool",
            )
        # -S -s -P and a bare environment: no site hooks, no user site, no cwd on sys.path;
        # PYTHONHASHSEED fixed so nothing hash-ordered can change the bytes.
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-s", "-P", "-c", self.SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PYTHONHASHSEED": "0"},
        )
        assert self._process.stdin is not None
        try:
            with self._process.stdin as stdin:
                stdin.write(self._request)
        except BrokenPipeError:
            pass  # it died at once: the first read says why
        return self

    def next(self, arcname: str) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        if self._index >= len(self._order) or self._order[self._index] != arcname:
            raise AssertionError(f"bytecode asked for {arcname} out of order")
        self._index += 1
        size = struct.unpack("<Q", self._read(self._process.stdout, 8))[0]
        return self._read(self._process.stdout, size)

    def _read(self, stream: IO[bytes], size: int) -> bytes:
        data = stream.read(size)
        if len(data) != size:
            assert self._process is not None and self._process.stderr is not None
            last = self._process.stderr.read().decode("utf-8", "replace").strip() or "?"
            self._process.wait()
            raise ToolError(
                "Compiling the carried tool",
                f"the compiler process stopped early ({last.splitlines()[-1]})",
                "Run the export again; if it keeps failing, export with --no-tool",
            )
        return data

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            end(self._process)
