"""The carried tool's build started before the CLI loads (cli/launch.py), for `export`.

On a first export the build's second of CPU competes with the downloads on a small machine. The
first few tenths of a second of an export (the interpreter loading the CLI, the catalog, the
registry client, then resolving) keep one core busy and leave the other idle: started there,
the build does much of its work on that idle core. So `export` starts it with nothing but this
module loaded; the child (toolpack.child) collects the members itself, says their cache key
first, and stops there when the user's cache already holds that archive. The export's builder
adopts the process (child.ChildBuild) and takes its archive only for the key it computed itself.
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
