"""airgap-tui's registry-native transport against skopeo and the machine's own tools, in one run.

    .venv/bin/python benchmarks/run.py --size both     # as root, after scripts/test.sh

Builds a synthetic analyzer set (tests/harness/synthetic.py: 7 images sharing base layers,
layers gzip-compressed by Python, about 2:1) and pushes it STRAIGHT to a loopback "upstream"
registry through the API (no engine touches it). Then, for each size, times each contender
against its baseline in the same run, alternating which goes first, with `sync` and the page
cache dropped (as root) before every timed run:

- export: `airgap-tui export` (installed with `pip install .` into a new virtualenv, as an
  operator does) vs `skopeo copy docker://… dir:…` per image; bytes on media against the
  registry's distinct bytes; peak RSS.
- verify: `airgap-tui verify` vs `sha256sum` over the parts.
- import: `airgap-tui import` (straight to the registry) vs `skopeo copy --preserve-digests
  dir:… docker://…` per image, into an emptied offline registry each time; every pushed tag's
  digest is read back from the registry and compared with the upstream one, for both.
- the estimate against the bytes written, and peak RSS small vs large.
- the carried tool (airgap-tui.pyz): its size, the wizard's first screen, verify through it.
- delta (issue 10): full export → import (receipt) → two images get a new top layer upstream →
  `export --delta-from <receipt>`: the delta's bytes against the new blobs', its import against
  pushing the new blobs alone (RegistryClient.push_blob). `--only delta` runs just these and
  rewrites only RESULTS.md's Delta section.

Files skopeo writes are fsync'd (`sync FILE…`) inside its timing, as airgap-tui fsyncs its parts
(airgap-tui also reads every part back, inside its timing; skopeo does not). Peak RSS is the
kernel's ru_maxrss of each process (for skopeo, the largest of its per-image processes).
Prints the table and writes benchmarks/RESULTS.md with the machine, the load average and every
sample.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.harness.cleanpy import clean_env, clean_python  # noqa: E402
from tests.harness.engine import EngineHandle, start_engine  # noqa: E402
from tests.harness.native import (  # noqa: E402  # noqa: E402
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Blob,
    canonical,
    sha256_digest,
)
from tests.harness.pty import run_until_text  # noqa: E402
from tests.harness.registry import RegistryHandle, start_registry  # noqa: E402
from tests.harness.synthetic import (  # noqa: E402
    _RATIO,
    SyntheticImage,
    _layer,
    analyzer_set,
    distinct_bytes,
    per_image_bytes,
    push_set,
    specs,
)

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


def _env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    config = workdir / "docker-config"
    config.mkdir(parents=True, exist_ok=True)
    env["DOCKER_CONFIG"] = str(config)  # no credentials from this machine's config.json
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


def _note_rss(result: SizeResult, command: str, r: Run) -> None:
    result.rss_kb[command] = max(result.rss_kb.get(command, 0), r.max_rss_kb)


def _alternate(rep: int, first: Callable[[], None], second: Callable[[], None]) -> None:
    """Even repetitions run the baseline first, odd ones ours: order effects cancel out."""
    for step in (first, second) if rep % 2 == 0 else (second, first):
        step()


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in _files(path))


def _rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / MB


def run_size(
    bench: Bench,
    size: str,
    images: Sequence[SyntheticImage],
    repeats: int,
    log: Callable[[str], None],
) -> SizeResult:
    started = time.perf_counter()
    names = specs(images)
    prefix = f"{bench.upstream.host}/{source_path(size)}"
    result = SizeResult(
        size=size,
        images=len(images),
        distinct=distinct_bytes(images),
        per_image=per_image_bytes(images),
    )
    result.load.append(load_average())
    root = bench.workdir / size
    root.mkdir(parents=True, exist_ok=True)
    ours_dir, sk_dir = root / "ours-bundle", root / "skopeo-dirs"
    s = result.samples

    # --- estimate (registry queries only)
    est = bench.airgap("estimate", *names, "--source-prefix", prefix, "--json")
    _note_rss(result, "estimate", est)
    estimated = int(est.json["bundle_bytes"])

    # --- export
    ours_media = sk_media = ours_parts = 0

    def skopeo_export() -> None:
        nonlocal sk_media
        _rm(sk_dir)
        sk_dir.mkdir(parents=True)
        settle(bench.drop_caches)
        took = 0.0
        for image in images:
            r = bench.skopeo_copy(
                "--src-tls-verify=false",
                f"docker://{bench.upstream.host}/{image.path}:{image.tag}",
                f"dir:{sk_dir / image.name}",
            )
            result.skopeo_rss_kb = max(result.skopeo_rss_kb, r.max_rss_kb)
            took += r.seconds
        took += run(["sync", *map(str, _files(sk_dir))], bench.env).seconds
        s.setdefault("export_skopeo", []).append(took)
        sk_media = _tree_bytes(sk_dir)

    def ours_export() -> None:
        nonlocal ours_media, ours_parts
        _rm(ours_dir)
        settle(bench.drop_caches)
        r = bench.airgap("export", *names, "--to", ours_dir, "--source-prefix", prefix, "--json")
        if not (r.json["ok"] and r.json["readback_ok"]) or r.json["parts_kept"]:
            raise BenchError(f"export failed or resumed: {r.out}")
        s.setdefault("export_ours", []).append(r.seconds)
        _note_rss(result, "export", r)
        ours_media = _tree_bytes(ours_dir)
        ours_parts = sum(p.stat().st_size for p in ours_dir.glob("images.tar.*"))
        if int(r.json["bundle_bytes"]) != ours_parts:
            raise BenchError(
                f"export says bundle_bytes {r.json['bundle_bytes']}, the parts hold {ours_parts}"
            )

    for rep in range(repeats):
        log(f"  export {rep + 1}/{repeats}")
        _alternate(rep, skopeo_export, ours_export)

    # --- verify, cold cache for both
    parts = sorted(str(p) for p in ours_dir.glob("images.tar.*"))

    def sha256sum() -> None:
        settle(bench.drop_caches)
        r = run(["sha256sum", *parts], bench.env)
        s.setdefault("verify_sha256sum", []).append(r.seconds)

    def ours_verify() -> None:
        settle(bench.drop_caches)
        r = bench.airgap("verify", ours_dir, "--json")
        if not r.json["ok"]:
            raise BenchError(f"verify failed: {r.out}")
        s.setdefault("verify_ours", []).append(r.seconds)
        _note_rss(result, "verify", r)

    for rep in range(repeats):
        log(f"  verify {rep + 1}/{repeats}")
        _alternate(rep, sha256sum, ours_verify)

    # --- import: offline registry emptied, a new path, page cache dropped
    kept: dict[str, list[int]] = {"ours": [], "skopeo": []}  # images kept, per run

    def fresh_target() -> str:
        bench.offline.wipe()
        settle(bench.drop_caches)
        return f"bench-{uuid.uuid4().hex[:8]}"

    def count_kept(who: str, target: str) -> None:
        """Read every tag's digest back from the offline registry; compare with upstream."""
        kept[who].append(
            sum(
                registry_digest(bench.offline, f"{target}/{i.name}", i.tag) == i.digest
                for i in images
            )
        )

    def skopeo_import() -> None:
        target = fresh_target()
        took = 0.0
        for image in images:
            r = bench.skopeo_copy(
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"dir:{sk_dir / image.name}",
                f"docker://{bench.offline.host}/{target}/{image.name}:{image.tag}",
            )
            result.skopeo_rss_kb = max(result.skopeo_rss_kb, r.max_rss_kb)
            took += r.seconds
        s.setdefault("import_skopeo", []).append(took)
        count_kept("skopeo", target)

    def ours_import() -> None:
        target = fresh_target()
        r = bench.airgap(
            "import",
            ours_dir,
            "--registry",
            f"{bench.offline.host}/{target}",
            "--receipt-dir",
            root / "receipts",
            "--json",
        )
        if not r.json["ok"] or {i["status"] for i in r.json["images"]} != {"pushed"}:
            raise BenchError(f"import failed: {r.out}")
        s.setdefault("import_ours", []).append(r.seconds)
        _note_rss(result, "import", r)
        count_kept("ours", target)

    for rep in range(repeats):
        log(f"  import {rep + 1}/{repeats}")
        _alternate(rep, skopeo_import, ours_import)
    bench.offline.wipe()
    result.load.append(load_average())

    # --- rows
    med = {k: statistics.median(v) for k, v in s.items()}
    rows = result.rows
    ratio = med["export_ours"] / med["export_skopeo"]
    rows.append(
        Row(
            "export wall time (s)",
            f"{med['export_skopeo']:.2f}",
            f"{med['export_ours']:.2f}",
            ratio,
            "≤ 1.00× skopeo",
            ratio <= 1.0,
            "baseline: skopeo copy docker://… dir:… per image (+ fsync); ours also reads "
            "every part back",
        )
    )
    limit = 1.05 * result.distinct + 64 * KIB
    rows.append(
        Row(
            "bytes on media (MB)",
            f"{result.distinct / MB:.1f}",
            f"{ours_media / MB:.1f}",
            ours_media / result.distinct,
            "≤ 1.05× + 64 KiB",
            ours_media <= limit,
            f"baseline: the registry's distinct bytes (blobs + manifests); skopeo's dirs "
            f"hold {sk_media / MB:.1f} MB ({sk_media / result.distinct:.2f}×)",
        )
    )
    base_tp = _mbps(ours_parts, med["verify_sha256sum"])
    ours_tp = _mbps(ours_parts, med["verify_ours"])
    ratio = ours_tp / base_tp
    rows.append(
        Row(
            "verify throughput (MB/s)",
            f"{base_tp:.1f}",
            f"{ours_tp:.1f}",
            ratio,
            "≥ 0.90× sha256sum",
            ratio >= 0.90,
            "baseline: sha256sum over the parts; "
            + ("page cache dropped before each run" if bench.drop_caches else "warm cache"),
        )
    )
    ratio = med["import_ours"] / med["import_skopeo"]
    rows.append(
        Row(
            "import wall time (s)",
            f"{med['import_skopeo']:.2f}",
            f"{med['import_ours']:.2f}",
            ratio,
            "≤ 1.00× skopeo",
            ratio <= 1.0,
            "baseline: skopeo copy --preserve-digests dir:… docker://… per image; ours "
            "verifies every part first",
        )
    )
    n = len(images)
    rows.append(
        Row(
            "digests kept after import (images)",
            f"{min(kept['skopeo'])}/{n}",
            f"{min(kept['ours'])}/{n}",
            None,
            "all",
            min(kept["ours"]) == n,
            "read back from the offline registry (HEAD, Docker-Content-Digest) after every run",
        )
    )
    peak = result.peak_rss_kb / 1024
    worst = max(result.rss_kb, key=lambda k: result.rss_kb[k])
    rows.append(
        Row(
            "peak RSS (MiB)",
            f"{result.skopeo_rss_kb / 1024:.1f}",
            f"{peak:.1f}",
            peak * 1024 / result.skopeo_rss_kb if result.skopeo_rss_kb else None,
            "≤ 150 MiB",
            peak <= 150,
            f"baseline: skopeo's largest process; ours: highest of every command ({worst})",
        )
    )
    written = ours_parts
    rows.append(
        Row(
            "estimate error (bytes)",
            f"{written}",
            f"{estimated}",
            estimated / written,
            "0",
            estimated == written,
            f"error {estimated - written:+d} B; baseline column: the parts' bytes written "
            f"(bundle.yaml adds {ours_media - ours_parts} B)",
        )
    )
    if bench.engine is not None:
        run_engine_route(bench, result, images, ours_dir, repeats, log)
    run_carried_tool(bench, result, ours_dir, ours_parts, repeats, log)
    result.seconds = time.perf_counter() - started
    return result


def run_engine_route(
    bench: Bench,
    result: SizeResult,
    images: Sequence[SyntheticImage],
    bundle: Path,
    repeats: int,
    log: Callable[[str], None],
) -> None:
    """`import --via-docker` against the seed's loader (`docker load` + `tag` + `push` per
    image, from the tars its packager wrote with `docker pull` + `docker save`, made untimed)."""
    handle = bench.engine
    assert handle is not None
    s = result.samples
    root = bench.workdir / result.size / "engine-route"
    tars = root / "seed-tars"
    tars.mkdir(parents=True, exist_ok=True)
    bench.wipe_engine()
    for image in images:
        ref = f"{bench.upstream.host}/{image.path}:{image.tag}"
        bench.docker_cmd("pull", ref)
        bench.docker_cmd("save", "-o", tars / f"{image.name}.tar", ref)
    kept: dict[str, list[int]] = {"ours": [], "seed": []}

    def fresh_target() -> str:
        bench.wipe_engine()
        bench.offline.wipe()
        settle(bench.drop_caches)
        return f"bench-{uuid.uuid4().hex[:8]}"

    def count_kept(who: str, target: str) -> None:
        kept[who].append(
            sum(
                registry_digest(bench.offline, f"{target}/{i.name}", i.tag) == i.digest
                for i in images
            )
        )

    def seed_import() -> None:
        target = fresh_target()
        took = 0.0
        for image in images:
            ref = f"{bench.upstream.host}/{image.path}:{image.tag}"
            dest = f"{bench.offline.host}/{target}/{image.name}:{image.tag}"
            took += bench.docker_cmd("load", "-i", tars / f"{image.name}.tar").seconds
            took += bench.docker_cmd("tag", ref, dest).seconds
            took += bench.docker_cmd("push", dest).seconds
        s.setdefault("import_via_engine_seed", []).append(took)
        count_kept("seed", target)

    def ours_import() -> None:
        target = fresh_target()
        r = run(
            [
                bench.command,
                "import",
                bundle,
                "--via-docker",
                "--registry",
                f"{bench.offline.host}/{target}",
                "--receipt-dir",
                root / "receipts",
                "--json",
            ],
            {**bench.env, **handle.env},
        )
        if not r.json["ok"]:
            raise BenchError(f"import --via-docker failed: {r.out}")
        s.setdefault("import_via_engine_ours", []).append(r.seconds)
        _note_rss(result, "import --via-docker", r)
        count_kept("ours", target)

    for rep in range(repeats):
        log(f"  engine route: import {rep + 1}/{repeats}")
        _alternate(rep, seed_import, ours_import)
    bench.wipe_engine()
    bench.offline.wipe()
    shutil.rmtree(root, ignore_errors=True)
    seed = statistics.median(s["import_via_engine_seed"])
    ours = statistics.median(s["import_via_engine_ours"])
    engine = f"{handle.kind} Docker Engine {handle.version}"
    result.engine = engine
    result.rows.append(
        Row(
            "import via the engine (s)",
            f"{seed:.2f}",
            f"{ours:.2f}",
            ours / seed,
            "≤ 0.80× the seed",
            ours / seed <= 0.80,
            f"on {engine}; baseline: the seed's docker load + tag + push per image; ours: "
            "import --via-docker (verifies first); engine wiped, registry emptied before each",
        )
    )
    n = len(images)
    result.rows.append(
        Row(
            "  digests kept via the engine (images)",
            f"{min(kept['seed'])}/{n}",
            f"{min(kept['ours'])}/{n}",
            None,
            "— (the engine re-compresses)",
            None,
            "the engine route changes digests by design; the straight route keeps them",
        )
    )


def run_carried_tool(
    bench: Bench,
    result: SizeResult,
    bundle: Path,
    parts_bytes: int,
    repeats: int,
    log: Callable[[str], None],
) -> None:
    """Issue 12, airgap-tui.pyz (written by the installed command's `tool --out`): its size,
    the wizard's first screen on a pty and verify throughput, each against the installed
    command, the archive run by a python3 with nothing installed (tests/harness/cleanpy.py)."""
    s = result.samples
    root = bench.workdir / result.size / "carried-tool"
    home, tmp = root / "no-home", root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    made = bench.airgap("tool", "--out", root, "--json")
    tool = Path(made.json["file"])
    size = tool.stat().st_size
    env = clean_env(home, tmp)
    contenders = {"installed": [str(bench.command)], "zipapp": [*clean_python(), str(tool)]}

    def screen(who: str) -> Callable[[], None]:
        def step() -> None:
            settle(bench.drop_caches)
            shown = run_until_text(contenders[who], "Import a bundle", env=env, cwd=root)
            s.setdefault(f"first_screen_{who}", []).append(shown.seconds)

        return step

    def verify(who: str) -> Callable[[], None]:
        def step() -> None:
            settle(bench.drop_caches)
            r = run([*contenders[who], "verify", bundle, "--json"], env)
            if not r.json["ok"]:
                raise BenchError(f"verify through the {who} command failed: {r.out}")
            s.setdefault(f"verify_{who}", []).append(r.seconds)

        return step

    for rep in range(max(repeats, 3)):
        log(f"  carried tool: first screen {rep + 1}/{max(repeats, 3)}")
        _alternate(rep, screen("installed"), screen("zipapp"))
    for rep in range(repeats):
        log(f"  carried tool: verify {rep + 1}/{repeats}")
        _alternate(rep, verify("installed"), verify("zipapp"))
    med = {k: statistics.median(v) for k, v in s.items()}
    cache = "cache dropped" if bench.drop_caches else "warm cache"
    result.rows.append(
        Row(
            "airgap-tui.pyz size (MB)",
            "—",
            f"{size / MB:.2f}",
            None,
            "≤ 15 MB",
            size <= 15 * MB,
            "built from the installed distribution by `airgap-tui tool`",
        )
    )
    installed, zipapp = med["first_screen_installed"], med["first_screen_zipapp"]
    result.rows.append(
        Row(
            "wizard's first screen via airgap-tui.pyz (s)",
            f"{installed:.2f}",
            f"{zipapp:.2f}",
            zipapp / installed,
            "≤ 1.5 s",
            zipapp <= 1.5,
            f"`{' '.join(clean_python())} airgap-tui.pyz` on a pty, {cache}; "
            "baseline: the installed command",
        )
    )
    installed_tp = _mbps(parts_bytes, med["verify_installed"])
    zipapp_tp = _mbps(parts_bytes, med["verify_zipapp"])
    result.rows.append(
        Row(
            "verify throughput via airgap-tui.pyz (MB/s)",
            f"{installed_tp:.1f}",
            f"{zipapp_tp:.1f}",
            zipapp_tp / installed_tp,
            "≥ 0.90×",
            zipapp_tp / installed_tp >= 0.90,
            f"baseline: the installed command; {cache}",
        )
    )


# --------------------------------------------------------------------------- delta (issue 10)
def changed_image(image: SyntheticImage, label: str) -> SyntheticImage:
    """The same image (same path and tag) with a new top layer of about the same size: its
    config (diff_ids) and manifest change with it; every other layer stays as it was."""
    oci = image.media_type == OCI_MANIFEST
    old_top = image.layers[-1]
    top, diff_id = _layer(f"{label}-{image.name}-top", int(old_top.size * _RATIO), oci)
    config_doc = json.loads(image.config.data)
    config_doc["rootfs"]["diff_ids"][-1] = diff_id
    config_doc["config"]["Labels"]["bench"] = f"{image.spec} ({label})"
    config_bytes = json.dumps(config_doc, sort_keys=True).encode()
    config = Blob(sha256_digest(config_bytes), config_bytes, image.config.media_type)
    layers = (*image.layers[:-1], top)
    manifest_doc = json.loads(image.manifest)
    manifest_doc["config"] = config.descriptor()
    manifest_doc["layers"] = [layer.descriptor() for layer in layers]
    return SyntheticImage(
        image.name,
        image.tag,
        image.path,
        canonical(manifest_doc),
        image.media_type,
        config,
        layers,
    )


# Pushes the given blobs of a bundle with RegistryClient.push_blob, bodies streamed from the
# parts (PartsReader.blob): what a delta import must at least do, without airgap-tui's command.
# Run by the installed virtualenv's python: argv = bundle, registry host, then "repo digest"...
_PUSH_BLOBS = """
import sys
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.registry.client import RegistryClient
bundle, host, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
manifest = read_manifest(bundle)
client = RegistryClient(host, credential_lookup=None)
with PartsReader(bundle, manifest.parts) as reader:
    for pair in pairs:
        repo, digest = pair.split(" ")
        blob = manifest.blob(digest)
        how = client.push_blob(repo, digest, blob.size, lambda b=blob: reader.blob(b))
        if how != "uploaded":
            sys.exit(f"{digest} was {how}, not uploaded: the registry was not emptied")
print(len(pairs))
"""

DELTA_CHANGED = ("semgrep", "kics")  # the images that get a new top layer


@dataclass
class DeltaResult:
    size: str
    changed: list[str]
    new_blobs: int = 0  # count
    new_bytes: int = 0
    full_bytes: int = 0  # the full bundle on media
    delta_bytes: int = 0  # the delta bundle on media
    expected: int = 0  # blobs the delta leaves out (its bundle.yaml `delta.expected`)
    rows: list[Row] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    load: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_delta(
    bench: Bench,
    size: str,
    images: Sequence[SyntheticImage],
    repeats: int,
    log: Callable[[str], None],
) -> DeltaResult:
    """Full export → import (receipt) → change two images upstream → export --delta-from the
    receipt → time that delta's import against pushing its new blobs alone, both starting from
    the registry as the full import left it (re-made before every run)."""
    started = time.perf_counter()
    result = DeltaResult(size=size, changed=list(DELTA_CHANGED))
    result.load.append(load_average())
    s = result.samples
    root = bench.workdir / f"delta-{size}"
    root.mkdir(parents=True, exist_ok=True)
    names = specs(images)
    prefix = f"{bench.upstream.host}/{source_path(size)}"
    target = f"delta-{size}"
    registry = f"{bench.offline.host}/{target}"
    full_dir, delta_dir = root / "full-bundle", root / "delta-bundle"

    def airgap_import(bundle: Path, receipts: Path) -> Run:
        r = bench.airgap(
            "import", bundle, "--registry", registry, "--receipt-dir", receipts, "--json"
        )
        if not r.json["ok"]:
            raise BenchError(f"import of {bundle} failed: {r.out}")
        return r

    def full_state() -> None:
        """The offline registry as the full import leaves it (emptied first; untimed)."""
        bench.offline.wipe()
        airgap_import(full_dir, root / "receipts-full")

    log("  delta: full export and import (untimed)")
    r = bench.airgap("export", *names, "--to", full_dir, "--source-prefix", prefix, "--json")
    if not r.json["ok"]:
        raise BenchError(f"full export failed: {r.out}")
    result.full_bytes = _tree_bytes(full_dir)
    bench.offline.wipe()
    first = airgap_import(full_dir, root / "receipt")
    receipt = Path(first.json["receipt"])

    log(f"  delta: {', '.join(DELTA_CHANGED)} get a new top layer upstream")
    by_name = {i.name: i for i in images}
    changed = [changed_image(by_name[n], f"bench-{size}-v2") for n in DELTA_CHANGED]
    push_set(bench.upstream, changed)
    new_set = [next((c for c in changed if c.name == i.name), i) for i in images]
    old_blobs = {b.digest for i in images for b in i.blobs}
    new_pairs: dict[str, tuple[str, int]] = {}  # digest -> (offline repository, size)
    for image in changed:
        for blob in image.blobs:
            if blob.digest not in old_blobs:
                new_pairs.setdefault(blob.digest, (f"{target}/{image.name}", blob.size))
    result.new_blobs = len(new_pairs)
    result.new_bytes = sum(size for _, size in new_pairs.values())

    log("  delta: export --delta-from the receipt")
    settle(bench.drop_caches)
    r = bench.airgap(
        "export",
        *names,
        "--to",
        delta_dir,
        "--source-prefix",
        prefix,
        "--delta-from",
        receipt,
        "--json",
    )
    if not r.json["ok"] or "delta" not in r.json:
        raise BenchError(f"delta export failed or wrote no delta: {r.out}")
    s.setdefault("delta_export", []).append(r.seconds)
    result.delta_bytes = _tree_bytes(delta_dir)
    result.expected = int(r.json["delta"]["expected_blobs"])

    kept: list[int] = []

    def ours() -> None:
        full_state()
        settle(bench.drop_caches)
        r = airgap_import(delta_dir, root / "receipts-delta")
        s.setdefault("delta_import_ours", []).append(r.seconds)
        kept.append(
            sum(
                registry_digest(bench.offline, f"{target}/{i.name}", i.tag) == i.digest
                for i in new_set
            )
        )

    def baseline() -> None:
        full_state()
        settle(bench.drop_caches)
        python = bench.command.parent / "python"
        pairs = [f"{repo} {digest}" for digest, (repo, _) in new_pairs.items()]
        r = run([python, "-c", _PUSH_BLOBS, delta_dir, bench.offline.host, *pairs], bench.env)
        if int(r.out.strip()) != len(pairs):
            raise BenchError(f"the baseline pushed {r.out.strip()} blobs, not {len(pairs)}")
        s.setdefault("delta_push_new_blobs", []).append(r.seconds)

    for rep in range(repeats):
        log(f"  delta import {rep + 1}/{repeats}")
        _alternate(rep, baseline, ours)
    bench.offline.wipe()
    # the upstream set as it was, for whatever runs after
    push_set(bench.upstream, [by_name[n] for n in DELTA_CHANGED])
    result.load.append(load_average())

    med = {k: statistics.median(v) for k, v in s.items()}
    new_mb = result.new_bytes / MB
    limit = 1.1 * result.new_bytes + 64 * KIB
    result.rows.append(
        Row(
            "delta bundle bytes on media (MB)",
            f"{new_mb:.3f}",
            f"{result.delta_bytes / MB:.3f}",
            result.delta_bytes / result.new_bytes,
            "≤ 1.1× the new blobs + 64 KiB",
            result.delta_bytes <= limit,
            f"{', '.join(DELTA_CHANGED)} got a new top layer; baseline: the "
            f"{result.new_blobs} new blobs (configs + layers not in the registry); ours: the "
            f"delta bundle's directory (parts + bundle.yaml, {result.expected} blobs left "
            f"out); the full bundle is {result.full_bytes / MB:.1f} MB",
        )
    )
    base, ours_s = med["delta_push_new_blobs"], med["delta_import_ours"]
    result.rows.append(
        Row(
            "delta import wall time (s)",
            f"{base:.2f}",
            f"{ours_s:.2f}",
            ours_s / base,
            "≤ the new blobs' push + 1 s",
            ours_s <= base + 1.0,
            "baseline: RegistryClient.push_blob per new blob from the delta's parts, in a "
            "python3 subprocess; ours: `import` of the delta (verifies first); both from the "
            "state the full import leaves, re-made before each run",
        )
    )
    n = len(new_set)
    result.rows.append(
        Row(
            "digests kept after the delta import (images)",
            "—",
            f"{min(kept)}/{n}",
            None,
            "all",
            min(kept) == n,
            "every tag read back after every delta import and compared with the changed set",
        )
    )
    result.seconds = time.perf_counter() - started
    return result


def delta_section(results: list[DeltaResult], repeats: dict[str, int], command: str) -> list[str]:
    """RESULTS.md's "Delta" section: its own date and load average (it may be run alone)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [(r.size, row) for r in results for row in r.rows]
    missed = [f"[{label}] {row.measure}" for label, row in rows if row.ok is False]
    out = [
        DELTA_HEADING,
        "",
        f"Generated by `{command}` on {now}. Load average (1, 5, 15 min): "
        + "; ".join(load for r in results for load in r.load)
        + " (before and after each size).",
        "",
        *table_lines(rows),
        "",
        "Missed: " + (", ".join(missed) if missed else "nothing") + ".",
        "",
        "How it is measured, per size: the synthetic set is exported and imported into an "
        "emptied offline registry, keeping the receipt. Then "
        + " and ".join(DELTA_CHANGED)
        + " get a new top layer upstream (same tags, re-pushed: new layer, config and "
        "manifest), the set is exported again with `--delta-from <receipt>`, and that delta is "
        "imported. Before every timed run the offline registry is emptied, the full bundle "
        "imported again (untimed: the state the delta import starts from), then `sync` and "
        "the page cache dropped. Baseline of the time: pushing the new blobs alone, "
        "`RegistryClient.push_blob(repo, digest, size, body)` per new blob, the body streamed "
        "by `PartsReader(delta, manifest.parts).blob(blob)`, in a subprocess of the installed "
        "virtualenv's python (its start-up and imports inside the time, as the command's are). "
        "The delta import also verifies its parts, checks the left-out blobs are in the "
        "registry, mounts them and PUTs every manifest. Baseline of the bytes: the sizes of "
        "the new blobs (configs and layers the registry does not hold; the manifests are not "
        "counted); the delta bundle also carries every manifest and config and bundle.yaml.",
        "",
    ]
    for r in results:
        out.append(
            f"- {r.size}: {r.new_blobs} new blobs, {r.new_bytes} B; delta bundle "
            f"{r.delta_bytes} B; full bundle {r.full_bytes} B; {repeats[r.size]} "
            f"repetition(s), {r.seconds / 60:.1f} min. Samples (s): "
            + "; ".join(f"{k} " + ", ".join(f"{v:.2f}" for v in vs) for k, vs in r.samples.items())
        )
    out.append("")
    return out


DELTA_HEADING = "## Delta (issue 10)"


def splice_delta(text: str, section: list[str]) -> str:
    """Replace RESULTS.md's Delta section (up to the next `## `), or add it at the end."""
    lines = text.rstrip("\n").split("\n")
    if DELTA_HEADING in lines:
        start = lines.index(DELTA_HEADING)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = section
    else:
        lines += ["", *section]
    return "\n".join(lines).rstrip("\n") + "\n"


def rss_flat_row(results: list[SizeResult]) -> Row | None:
    by_size = {r.size: r for r in results}
    if "small" not in by_size or "large" not in by_size:
        return None
    small, large = by_size["small"].peak_rss_kb / 1024, by_size["large"].peak_rss_kb / 1024
    ratio = large / small
    growth = by_size["large"].distinct / by_size["small"].distinct
    return Row(
        "peak RSS, large vs small (MiB)",
        f"{small:.1f}",
        f"{large:.1f}",
        ratio,
        "flat: ≤ 1.25×",
        ratio <= 1.25,
        f"the bundle grew {growth:.0f}×; baseline column: small, ours column: large",
    )


# --------------------------------------------------------------------------- reporting
HEADER = ("measure", "baseline", "ours", "ratio", "target", "pass/miss")


def table_lines(rows: list[tuple[str, Row]]) -> list[str]:
    cells = [HEADER] + [
        (
            f"[{label}] {row.measure}",
            row.baseline,
            row.ours,
            "—" if row.ratio is None else f"{row.ratio:.3f}×",
            row.target,
            "—" if row.ok is None else ("PASS" if row.ok else "MISS"),
        )
        for label, row in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def _sh(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError as exc:
        return f"({exc})"


def code_label(code: Path) -> str:
    """Which airgap_tui was measured: the checkout's commit, and whether it had local edits."""
    head = _sh(["git", "-C", str(code), "rev-parse", "--short", "HEAD"]) or "no git"
    dirty = _sh(["git", "-C", str(code), "status", "--porcelain", "--", "airgap_tui"])
    return f"{code}/airgap_tui at {head}" + (" with uncommitted changes" if dirty else "")


def machine_info(workdir: Path, skopeo: Path) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    return [
        f"- nproc: {os.cpu_count()} ({_sh(['nproc'])} usable)",
        f"- CPU: {cpu}",
        f"- memory: {mem}",
        f"- kernel: {platform.release()}; Python {platform.python_version()}; "
        "airgap-tui installed with `pip install .` into a new virtualenv",
        f"- skopeo: {_sh([str(skopeo), '--version'])}",
        f"- registry: {_sh(['docker-registry', '--version'])}",
        f"- work dir {workdir}, `df -h`:",
        "",
        "```",
        _sh(["df", "-h", str(workdir)]),
        "```",
    ]


def write_results(
    results: list[SizeResult],
    rows: list[tuple[str, Row]],
    info: list[str],
    drop_caches: bool,
    repeats: dict[str, int],
    total_seconds: float,
    command: str,
    load: list[str],
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    missed = [f"[{label}] {row.measure}" for label, row in rows if row.ok is False]
    out = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {now} in {total_seconds / 60:.1f} min. Ratios are "
        "ours / baseline (times: lower is better; throughputs: higher is better); each value is "
        "the median of the repetitions, contenders alternating which runs first.",
        "",
        "Load average (1, 5, 15 min) on this shared 2-core machine: "
        + "; ".join(load)
        + " (at the start, then before and after each size, then at the end).",
        "",
        *table_lines(rows),
        "",
        "Missed: " + (", ".join(missed) if missed else "nothing") + ".",
        "",
        "## What was measured",
        "",
    ]
    for r in results:
        out.append(
            f"- **{r.size}**: {r.images} analyzer images pushed straight to the upstream "
            f"registry, {r.distinct / MB:.1f} MB of distinct registry bytes, "
            f"{r.per_image / MB:.1f} MB counted image by image; {repeats[r.size]} "
            f"repetition(s); {r.seconds / 60:.1f} min"
            + (f"; engine route on {r.engine}." if r.engine else ".")
        )
    out += [
        "",
        "- Cache: "
        + (
            "`sync` and `echo 3 > /proc/sys/vm/drop_caches` before every timed run (cold, both)."
            if drop_caches
            else "`sync` before every timed run; page cache NOT dropped (not root: warm, both)."
        ),
        "- skopeo fsyncs what it wrote (`sync FILE…`) inside its timing, as airgap-tui fsyncs "
        "every part; airgap-tui also reads every part back (cache dropped) inside its export, "
        "and verifies every part before its import (the default).",
        "- No engine anywhere: export reads the source registry, import writes the offline "
        "registry (emptied and restarted before each run, a new path each time).",
        "- airgap-tui runs as the `airgap-tui` command `pip install .` puts in a new virtualenv "
        "(as the README installs it), start-up included in every wall time.",
        "- Digests kept: after every import, each tag's manifest digest is read back from the "
        "offline registry and compared with the upstream one; the row shows the worst run.",
        "- The engine route (when measured): `import --via-docker` against the seed's loader "
        "(`docker load` + `tag` + `push` per image, from tars its packager wrote with `docker "
        "pull` + `docker save`, made untimed), engine wiped and registry emptied before each; "
        "digests change on that route by design.",
        "",
        "## Every sample (seconds)",
        "",
    ]
    for r in results:
        for key, values in r.samples.items():
            out.append(f"- {r.size} {key}: " + ", ".join(f"{v:.2f}" for v in values))
        out.append(
            f"- {r.size} peak RSS per command (MiB): "
            + ", ".join(f"{k} {v / 1024:.1f}" for k, v in r.rss_kb.items())
            + f"; skopeo {r.skopeo_rss_kb / 1024:.1f}"
        )
    out += ["", "## Machine", "", *info, ""]
    RESULTS.write_text("\n".join(out))


def delta_only(
    bench: Bench,
    sizes: list[str],
    sets: dict[str, list[SyntheticImage]],
    repeats: dict[str, int],
    log: Callable[[str], None],
    args: argparse.Namespace,
    argv: list[str] | None,
) -> int:
    """`--only delta`: the delta rows alone; RESULTS.md keeps everything but its Delta section."""
    deltas: list[DeltaResult] = []
    for size in sizes:
        log(f"{size} delta (load average {load_average()})")
        deltas.append(run_delta(bench, size, sets[size], repeats[size], log))
    shown = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section = delta_section(deltas, repeats, shown.strip())
    section.insert(-1, f"- airgap-tui measured: {code_label(args.code.resolve())}")
    RESULTS.write_text(splice_delta(RESULTS.read_text() if RESULTS.exists() else "", section))
    rows = [(d.size, row) for d in deltas for row in d.rows]
    print("\n".join(table_lines(rows)))
    for label, row in rows:
        if row.note:
            print(f"  [{label}] {row.measure}: {row.note}")
    print(f"written to the Delta section of {RESULTS.relative_to(REPO_ROOT)}")
    return 0 if all(row.ok is not False for _, row in rows) else 1


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", choices=("small", "large", "both"), default="both")
    parser.add_argument("--repeats", type=int, help="repetitions per measure (small 3, large 2)")
    parser.add_argument("--workdir", type=Path, help="scratch space (default: a new dir in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch space")
    parser.add_argument(
        "--engine-route",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time import --via-docker against docker load + tag + push (trixie 26.1)",
    )
    parser.add_argument(
        "--only",
        choices=("all", "delta"),
        default="all",
        help="delta: only the delta rows (issue 10), spliced into RESULTS.md's Delta section, "
        "the rest of the file kept",
    )
    parser.add_argument(
        "--code",
        type=Path,
        default=REPO_ROOT,
        help="directory holding the airgap_tui package to measure (default: this checkout)",
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds through the finally below: registries stopped, scratch space removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    sizes = ["small", "large"] if args.size == "both" else [args.size]
    repeats = {s: args.repeats or DEFAULT_REPEATS[s] for s in sizes}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agt-bench-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    drop = can_drop_caches()
    skopeo = skopeo_cli()
    begun = time.perf_counter()
    load = [load_average()]

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - begun:7.1f}s] {message}", file=sys.stderr, flush=True)

    results: list[SizeResult] = []
    deltas: list[DeltaResult] = []
    upstream = offline = None
    engine: EngineHandle | None = None
    try:
        upstream = start_registry(workdir / "upstream")
        offline = start_registry(workdir / "offline")
        sets: dict[str, list[SyntheticImage]] = {}
        for size in sizes:
            log(f"building and pushing {size} straight to {upstream.host}")
            sets[size] = analyzer_set(SIZES[size], path=source_path(size), label=f"bench-{size}")
            push_set(upstream, sets[size])
            log(f"  {len(sets[size])} images, {distinct_bytes(sets[size]) / MB:.1f} MB distinct")
        log(f"installing {args.code.resolve()} into a virtualenv")
        command = install_airgap(args.code.resolve(), workdir / "venv")
        bench = Bench(
            upstream=upstream,
            offline=offline,
            workdir=workdir / "runs",
            drop_caches=drop,
            command=command,
            skopeo=skopeo,
            env=_env(workdir),
        )
        if args.only == "delta":
            return delta_only(bench, sizes, sets, repeats, log, args, argv)
        if args.engine_route:
            log("starting the trixie engine for the engine route")
            engine = start_engine("trixie", workdir / "engine")
            bench.engine, bench.docker = engine, docker_cli()
        for size in sizes:
            log(f"{size} (load average {load_average()})")
            done = run_size(bench, size, sets[size], repeats[size], log)
            results.append(done)
            load += done.load
            log(f"{size} delta (load average {load_average()})")
            deltas.append(run_delta(bench, size, sets[size], repeats[size], log))
            done.rows += deltas[-1].rows
            shutil.rmtree(bench.workdir / size, ignore_errors=True)
            del sets[size]  # the large set's blobs are ~1.2 GB of RAM
        load.append(load_average())
        rows: list[tuple[str, Row]] = [(r.size, row) for r in results for row in r.rows]
        flat = rss_flat_row(results)
        if flat is not None:
            rows.append(("both", flat))
        info = [f"- airgap-tui measured: {code_label(args.code.resolve())}"]
        info += machine_info(workdir, skopeo)
        total = time.perf_counter() - begun
        shown = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_results(results, rows, info, drop, repeats, total, shown.strip(), load)
        RESULTS.write_text(
            splice_delta(RESULTS.read_text(), delta_section(deltas, repeats, shown.strip()))
        )
        print("\n".join(table_lines(rows)))
        for label, row in rows:
            if row.note:
                print(f"  [{label}] {row.measure}: {row.note}")
        print(f"\nload average: {'; '.join(load)}")
        print(f"written to {RESULTS.relative_to(REPO_ROOT)} ({total / 60:.1f} min)")
        return 0 if all(row.ok is not False for _, row in rows) else 1
    finally:
        if engine is not None:
            engine.stop()
        for registry in (upstream, offline):
            if registry is not None:
                registry.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
