"""A python3 with none of airgap-tui's dependencies, as on an offline host, to run airgap-tui.pyz.

The system's /usr/bin/python3 in isolated mode (-I: no user site, no PYTHON* variables, no script
directory) when it is new enough; else this venv's base interpreter with -I -S, so no
site-packages at all are seen. The environment is built from nothing: PYTHONPATH empty, HOME
and TMPDIR where the test says.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

SYSTEM_PYTHON = Path("/usr/bin/python3")
REQUIRED = (3, 11)


@cache
def clean_python() -> tuple[str, ...]:
    if SYSTEM_PYTHON.exists():
        probe = subprocess.run(
            [str(SYSTEM_PYTHON), "-I", "-c", f"import sys; print(sys.version_info >= {REQUIRED})"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return (str(SYSTEM_PYTHON), "-I")
    base = getattr(sys, "_base_executable", None) or sys.executable
    return (base, "-I", "-S")


def clean_env(home: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """HOME and TMPDIR as given; DOCKER_CONFIG kept (the session's empty one), nothing else."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PYTHONPATH": "",
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }
    if "DOCKER_CONFIG" in os.environ:
        env["DOCKER_CONFIG"] = os.environ["DOCKER_CONFIG"]
    env.update(extra)
    return env
