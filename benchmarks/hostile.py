"""Hostile files from the stick (issue 20): each must end in a clear error within 5 s and
under 200 MB of resident memory. Measured here, not in timed tests.

    .venv/bin/python benchmarks/hostile.py            # writes RESULTS.md's "Hostile files"

Each case is a fresh process: `python -m airgap_tui verify DIR` for a bundle.yaml, and the
presence-file reader `--delta-from` uses (airgap_tui.delta.delta.load_presence) for receipts
and inventories. Wall time and the kernel's peak RSS (ru_maxrss, from wait4) of that process,
interpreter start and imports included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Hostile files (issue 20)"
LIMIT_SECONDS, LIMIT_MB = 5.0, 200.0
MiB = 1 << 20


def _repeat(head: bytes, item: bytes, count: int, tail: bytes) -> Callable[[Path], None]:
    """Write head + item × count + tail in chunks: this process stays small, since a child's
    peak RSS starts from its parent's size at fork."""

    def write(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(head)
            block = item * 65536
            full, rest = divmod(count, 65536)
            for _ in range(full):
                f.write(block)
            f.write(item * rest + tail)

    return write


def _bundle(text: bytes | Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def make(directory: Path) -> list[str]:
        bundle = directory / "bundle"
        bundle.mkdir()
        if callable(text):
            text(bundle / "bundle.yaml")
        else:
            (bundle / "bundle.yaml").write_bytes(text)
        return [sys.executable, "-m", "airgap_tui", "verify", str(bundle)]

    return make


def _presence(make_file: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    def make(directory: Path) -> list[str]:
        path = directory / "receipt.json"
        make_file(path)
        code = (
            "import sys\n"
            "from pathlib import Path\n"
            "from airgap_tui.delta.delta import PresenceError, load_presence\n"
            "try:\n"
            "    load_presence(Path(sys.argv[1]))\n"
            "except PresenceError as exc:\n"
            "    print(exc.sentence(), file=sys.stderr)\n"
            "    sys.exit(1)\n"
        )
        return [sys.executable, "-c", code, str(path)]

    return make


CASES: list[tuple[str, Callable[[Path], list[str]]]] = [
    ("bundle.yaml: 2,000 nested [", _bundle(b"[" * 2000)),
    ("bundle.yaml: 100,000 nested [ (200 KB)", _bundle(b"[" * 100_000 + b"]" * 100_000)),
    ("bundle.yaml: 100,000 nested block mappings", _bundle(b"images:\n" + b"- " * 100_000)),
    ("bundle.yaml: created: 2026-99-99", _bundle(b"format_version: 2\ncreated: 2026-99-99\n")),
    ("bundle.yaml: zz: 2026-02-31", _bundle(b"format_version: 2\nzz: 2026-02-31\n")),
    ("bundle.yaml: a 5,000-digit integer", _bundle(b"gitlab_major: " + b"7" * 5000 + b"\n")),
    ("bundle.yaml: 8 MB zz: [0,0,…]", _bundle(_repeat(b"zz: [", b"0,", 4 * MiB - 8, b"0]\n"))),
    (
        "bundle.yaml: 8 MB images: [0,0,…]",
        _bundle(_repeat(b"images: [", b"0,", 4 * MiB - 8, b"0]\n")),
    ),
    (  # JSON-shaped, as airgap-tui writes bundle.yaml: the JSON decoder, the same bounds
        "bundle.yaml (JSON): 100,000 nested [",
        _bundle(b'{"images": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ),
    (
        "bundle.yaml (JSON): 8 MB images: [0,0,…]",
        _bundle(_repeat(b'{"images": [', b"0,", 4 * MiB - 8, b"0]}\n")),
    ),
    ("bundle.yaml (JSON): 40 nested [", _bundle(b'{"images": ' + b"[" * 40 + b"]" * 40 + b"}")),
    (
        "receipt: 63 MiB of tiny integers",
        _presence(_repeat(b'{"kind":"x","images":[', b"0,", 31 * MiB, b"0]}")),
    ),
    (
        "inventory: 63 MiB of empty objects",
        _presence(_repeat(b'{"blobs":[', b"{},", 21 * MiB, b"{}]}")),
    ),
    ("receipt: 100,000 nested [", _presence(lambda p: p.write_bytes(b"[" * 100_000))),
    ("--delta-from a FIFO", _presence(lambda p: os.mkfifo(p))),
]


def run_case(argv: list[str]) -> tuple[float, float, int, str]:
    """Seconds, peak RSS in MB, exit status and the last line of stderr."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), (lines or [""])[-1]


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="airgap-hostile-") as tmp:
        for i, (name, make) in enumerate(CASES):
            directory = Path(tmp) / f"case{i}"
            directory.mkdir()
            seconds, mb, code, error = run_case(make(directory))
            error = error.replace(str(directory), "<tmp>")
            ok = code in (1, 2) and "Traceback" not in error and seconds <= LIMIT_SECONDS
            ok = ok and mb < LIMIT_MB
            rows.append((name, seconds, mb, code, ok, error))
            print(
                f"{'ok  ' if ok else 'FAIL'} {seconds:6.2f} s {mb:7.1f} MB  {name}: {error[:120]}"
            )
    table = [
        SECTION,
        "",
        "`.venv/bin/python benchmarks/hostile.py`: each case in a fresh process (interpreter and "
        f"imports included); the target is a clear error in at most {LIMIT_SECONDS:g} s and "
        f"under {LIMIT_MB:g} MB RSS.",
        "",
        "| Case | Seconds | Peak RSS (MB) | Exit | Error (start) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, seconds, mb, code, _ok, error in rows:
        short = error.replace("|", "/")[:90]
        table.append(f"| {name} | {seconds:.2f} | {mb:.0f} | {code} | {short}… |")
    text = RESULTS.read_text() if RESULTS.exists() else ""
    head, _sep, rest = text.partition(SECTION)
    tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
    RESULTS.write_text(head.rstrip() + "\n\n" + "\n".join(table) + "\n" + tail)
    return 0 if all(row[4] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
