"""Print a PATH that has every program of the current one except Docker's and the registry's.

scripts/test.sh runs `pytest -m "not integration"` with it, so a test that needs an engine or a
registry without being marked integration fails in CI instead of passing on a developer's
machine that happens to have Docker. The programs are symlinked into a fresh directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HIDDEN = ("docker", "dockerd", "containerd", "runc", "ctr", "registry", "skopeo")


def hidden(name: str) -> bool:
    return name.startswith(HIDDEN) or name.endswith("-registry")


def main() -> int:
    bare = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="bare-path-"))
    bare.mkdir(parents=True, exist_ok=True)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            target = bare / entry.name
            if hidden(entry.name) or target.exists() or target.is_symlink():
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    print(bare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
