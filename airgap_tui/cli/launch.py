"""The console script's entry: a small bundle's files start hashing before the CLI loads.

`verify` and `import` of a small bundle are bound by start-up, not by the drive: loading the
parser and the bundle code takes as long as hashing 50 MB. So the bundle directory is read off
the command line by a plain look (the only existing directory among the command's words) and
bundle/prehash.py starts on it with nothing else loaded; the command adopts that thread when its
parsed bundle is the same directory, and any thread not adopted is stopped when main returns.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from airgap_tui.bundle.prehash import PartHashes

HASHING_COMMANDS = ("verify", "import")
_early: PartHashes | None = None  # started before the parser; the command adopts it


def main(argv: Sequence[str] | None = None) -> int:
    global _early
    args = list(sys.argv[1:] if argv is None else argv)
    _early = _start_early(args)
    try:
        from airgap_tui.cli.commands import main as run_command

        return run_command(args)
    finally:
        if _early is not None:
            _early.close()
        _early = None


def _start_early(args: list[str]) -> PartHashes | None:
    if not args or args[0] not in HASHING_COMMANDS or "--no-verify" in args:
        return None
    found = [a for a in args[1:] if not a.startswith("-") and os.path.isdir(a)]
    return PartHashes(found[0]).start() if len(found) == 1 else None


def adopt_early(bundle: str | os.PathLike[str]) -> PartHashes | None:
    """The thread started on `bundle` before the parser ran, if any: it is the caller's now."""
    global _early
    hashes = _early
    if hashes is None:
        return None
    try:
        same = os.path.samefile(hashes.directory, bundle)
    except OSError:
        same = False
    if not same:
        return None
    _early = None
    return hashes
