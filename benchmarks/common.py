"""What every measure family shares: running a command for its wall time and peak RSS, the
cache drop, the installed airgap-tui and skopeo, the Bench set-up and the rows it reports."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.harness.engine import EngineHandle  # noqa: E402
from tests.harness.native import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST  # noqa: E402
from tests.harness.registry import RegistryHandle  # noqa: E402

MB = 1_000_000
KIB = 1024
SIZES = {"small": 50 * MB, "large": 1_200 * MB}
DEFAULT_REPEATS = {"small": 3, "large": 2}
RESULTS = REPO_ROOT / "benchmarks" / "RESULTS.md"
_PROXY_VARS = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}
_ACCEPT = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX))


# --------------------------------------------------------------------------- processes
@dataclass(frozen=True)
class Run:
    argv: list[str]
    code: int
    seconds: float
    max_rss_kb: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


class BenchError(RuntimeError):
    pass


# A small interpreter forks and execs the command, then reports the child's wall time and peak
# RSS. Measured from this process instead, ru_maxrss would start at THIS process's size (Linux
# carries the pre-exec hiwater mark of a forked or vforked child), and this one holds the image set.
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as fh:
    fh.write(f"{usage.ru_maxrss} {seconds}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(argv: Sequence[str | os.PathLike[str]], env: dict[str, str], *, check: bool = True) -> Run:
    """Run to completion: the command's own wall time and peak RSS (see _LAUNCHER)."""
    args = [os.fspath(a) for a in argv]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as stats,
    ):
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, stats.name]
        code = subprocess.run(
            [*launcher, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        ).returncode
        rss_kb, seconds = stats.read().split()
        out.seek(0)
        err.seek(0)
        result = Run(
            args,
            code,
            float(seconds),
            int(rss_kb),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if check and result.code != 0:
        raise BenchError(
            f"{' '.join(args[:4])}… exited {result.code}:\n"
            f"{result.err[-2000:]}\n{result.out[-2000:]}"
        )
    return result


def settle(drop_caches: bool) -> None:
    """Flush what the previous run left dirty; drop the page cache when allowed (root)."""
    os.sync()
    if drop_caches:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def can_drop_caches() -> bool:
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("1\n")
        return True
    except OSError:
        return False


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def install_airgap(code: Path, venv: Path) -> Path:
    """Install the checkout as the README does (a virtualenv, `pip install .`); the command.

    The installed console script is what an operator runs: no editable-install finder and no
    site hooks of the interpreter running this script add to its start-up.
    """
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, str(code)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"pip install {code} failed:\n{done.stderr[-2000:]}")
    command = venv / "bin" / "airgap-tui"
    if not command.is_file():
        raise BenchError(f"pip installed no {command}")
    return command


def skopeo_cli() -> Path:
    found = shutil.which("skopeo")
    if not found:
        raise BenchError(
            "no skopeo on PATH: run scripts/install-test-deps.sh (apt-get install skopeo)"
        )
    return Path(found)


def docker_cli() -> Path:
    for candidate in (
        Path("/usr/local/bin/docker"),
        REPO_ROOT / ".cache/trixie-docker/root/usr/bin/docker",
        Path(shutil.which("docker") or "/nonexistent"),
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError("no docker CLI found (/usr/local/bin/docker or `docker` on PATH)")


def registry_digest(registry: RegistryHandle, path: str, tag: str) -> str:
    """The manifest digest the registry holds for `path:tag` (HEAD, Docker-Content-Digest)."""
    request = urllib.request.Request(
        f"{registry.url}/v2/{path}/manifests/{tag}", method="HEAD", headers={"Accept": _ACCEPT}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return str(resp.headers.get("Docker-Content-Digest", ""))


# --------------------------------------------------------------------------- the set-up
@dataclass
class Bench:
    upstream: RegistryHandle
    offline: RegistryHandle
    workdir: Path
    drop_caches: bool
    command: Path  # the installed airgap-tui
    skopeo: Path
    env: dict[str, str] = field(default_factory=dict)
    engine: EngineHandle | None = None  # the engine route's engine (trixie 26.1), if measured
    docker: Path | None = None

    def docker_cmd(self, *args: str | os.PathLike[str]) -> Run:
        assert self.engine is not None and self.docker is not None
        return run([self.docker, *args], {**self.env, **self.engine.env})

    def wipe_engine(self) -> None:
        assert self.engine is not None
        client = self.engine.client()
        try:
            for image in client.images.list(all=True):
                client.images.remove(image.id, force=True)
            if client.images.list(all=True):
                raise BenchError("the engine still lists images after wiping it")
        finally:
            client.close()

    def airgap(self, *args: str | os.PathLike[str], check: bool = True) -> Run:
        return run([self.command, *args], self.env, check=check)

    def skopeo_copy(self, *args: str | os.PathLike[str]) -> Run:
        return run([self.skopeo, "copy", "--quiet", *args], self.env)


def source_path(size: str) -> str:
    """Each size under its own path: both sets use the same analyzer names and tags."""
    return f"security-products-{size}"


def bench_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    config = workdir / "docker-config"
    config.mkdir(parents=True, exist_ok=True)
    env["DOCKER_CONFIG"] = str(config)  # no credentials from this machine's config.json
    # The carried tool's cache (the user's cache dir) lives in the scratch space: a run neither
    # uses nor fills this machine's; the carried-tool rows empty it for their cold runs.
    env["XDG_CACHE_HOME"] = str(workdir / "cache")
    env.pop("DOCKER_HOST", None)  # no engine: nothing measured here may need one
    env.pop("NO_COLOR", None)
    return env


# --------------------------------------------------------------------------- measures
@dataclass
class Row:
    measure: str
    baseline: str
    ours: str
    ratio: float | None
    target: str
    ok: bool | None
    note: str = ""


@dataclass
class SizeResult:
    size: str
    images: int
    distinct: int
    per_image: int
    rows: list[Row] = field(default_factory=list)
    rss_kb: dict[str, int] = field(default_factory=dict)  # airgap-tui command -> peak
    skopeo_rss_kb: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    load: list[str] = field(default_factory=list)
    engine: str = ""  # the engine route's engine, when it was measured

    @property
    def peak_rss_kb(self) -> int:
        return max(self.rss_kb.values(), default=0)


def note_rss(result: SizeResult, command: str, r: Run) -> None:
    result.rss_kb[command] = max(result.rss_kb.get(command, 0), r.max_rss_kb)


def alternate(rep: int, *steps: Callable[[], None]) -> None:
    """Each repetition starts one contender later (two: even repetitions run the baseline
    first, odd ones ours): order effects cancel out."""
    shift = rep % len(steps)
    for step in (*steps[shift:], *steps[:shift]):
        step()


def files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in files(path))


def rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / MB


def medians(samples: dict[str, list[float]]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in samples.items()}
