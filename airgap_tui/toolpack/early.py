"""The carried tool's build started before the CLI loads (cli/launch.py), for `export`.

An export waits for the tool's size before its first download (a tool that cannot be built is
refused there), and on a first export the build's CPU competes with the downloads. Started with
nothing but this module loaded, the child (toolpack.child) starts its interpreter and collects
the members while the export loads the CLI and resolves; it says their cache key, whether the
user's cache holds their archive and its size first (stopping there when the cache holds it),
then builds. The export's builder adopts the process (child.ChildBuild) and takes that head and
that archive instead of collecting the members itself.
"""

from __future__ import annotations

import subprocess
import sys

EARLY = "--early"  # toolpack.child's argument: collect the members, say their key, then build
CHILD_MODULE = "airgap_tui.toolpack.child"


def spawn() -> subprocess.Popen[bytes]:
    """The child building the default tool (airgap-tui and its requirements) on its own."""
    return subprocess.Popen(
        [sys.executable, "-m", CHILD_MODULE, EARLY],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def end(process: subprocess.Popen[bytes], *, keep_stderr: bool = False) -> None:
    """A child process killed if it still runs and reaped, its pipes closed (stderr left open
    when asked: the caller reads there why it stopped)."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout, None if keep_stderr else process.stderr):
        if stream is not None:
            stream.close()
