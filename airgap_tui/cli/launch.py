"""The console script's entry: work that does not need the CLI starts before it loads.

`verify` and `import` of a small bundle are bound by start-up, not by the drive: loading the
parser and the bundle code takes as long as hashing 50 MB. So the bundle directory is read off
the command line by a plain look (the only existing directory among the command's words) and
bundle/prehash.py starts on it with nothing else loaded; the command adopts that thread when its
parsed bundle is the same directory.

`export` (unless --no-tool) starts the carried tool's build the same way (toolpack.early): its
start-up and collecting then overlap the CLI's loading, and the export's builder adopts it. What
no command adopts is stopped when main returns.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import airgap_tui
from airgap_tui.bundle.prehash import PartHashes
from airgap_tui.toolpack import early

HASHING_COMMANDS = ("verify", "import")
TOOL_COMMANDS = ("export",)
_early: PartHashes | None = None  # started before the parser; the command adopts it
_early_tool: subprocess.Popen[bytes] | None = None  # the same for the tool's build


def main(argv: Sequence[str] | None = None) -> int:
    global _early, _early_tool
    args = list(sys.argv[1:] if argv is None else argv)
    _early = _start_early(args)
    _early_tool = _start_early_tool(args)
    try:
        from airgap_tui.cli.commands import main as run_command

        return run_command(args)
    finally:
        if _early is not None:
            _early.close()
        if _early_tool is not None:
            early.end(_early_tool)
        _early, _early_tool = None, None


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


def _start_early_tool(args: list[str]) -> subprocess.Popen[bytes] | None:
    if not args or args[0] not in TOOL_COMMANDS:
        return None
    if any(a in ("--no-tool", "-h", "--help") for a in args[1:]):
        return None
    if not os.path.isdir(os.path.dirname(airgap_tui.__file__)):
        return None  # run from airgap-tui.pyz, which cannot re-pack itself (export says so)
    return early.spawn()


def adopt_early_tool() -> subprocess.Popen[bytes] | None:
    """The tool's build started before the parser ran, if any: it is the caller's now."""
    global _early_tool
    process, _early_tool = _early_tool, None
    return process
