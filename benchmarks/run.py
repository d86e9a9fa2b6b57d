"""airgap-tui against the seed's scripts and the machine's own tools, in one run, on one engine.

    .venv/bin/python benchmarks/run.py --size both     # as root, after scripts/test.sh

Builds a synthetic analyzer set (tests/harness/synthetic.py), pushes it to a loopback "upstream"
registry with a throwaway engine, then on a private Docker Engine (trixie's 26.1 by default)
times each contender against its baseline, alternating which goes first:

- export, cold: `docker pull` + `docker save -o` per image (the seed's packager) vs
  `airgap-tui export`; the engine holds no image before each contender, so both really pull.
- export, images present: one `docker save -o` of all images vs `airgap-tui export` (pull is a
  no-op), compared as throughput (bytes written per second) from the export request on (the
  `write` step the command reports), and as a whole command.
- verify: `sha256sum` over the parts vs `airgap-tui verify`, page cache dropped before each.
- import: `docker load` + `docker tag` + `docker push` per image (the seed's loader) vs
  `airgap-tui import`; engine wiped, offline registry emptied and a new path before each.

Files written by a baseline are fsync'd (`sync FILE…`) inside its timing, as airgap-tui fsyncs
its parts: both have their data on the disk when the clock stops. Before every timed run the
dirty pages of the previous one are flushed (`sync`) and, as root, the page cache is dropped.
Peak RSS is the kernel's ru_maxrss of each airgap-tui process. Prints the table and writes
benchmarks/RESULTS.md with the machine's CPU, disk and engine versions.
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
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.harness.cleanpy import clean_env, clean_python  # noqa: E402
from tests.harness.engine import EngineHandle, EngineKind, start_engine  # noqa: E402
from tests.harness.images import FakeImage, seed_registry  # noqa: E402
from tests.harness.pty import run_until_text  # noqa: E402
from tests.harness.registry import RegistryHandle, start_registry  # noqa: E402
from tests.harness.synthetic import (  # noqa: E402
    analyzer_set,
    distinct_bytes,
    per_image_bytes,
    specs,
)

MB = 1_000_000
SIZES = {"small": 48 * MB, "large": 1_200 * MB}
DEFAULT_REPEATS = {"small": 3, "large": 2}
RESULTS = REPO_ROOT / "benchmarks" / "RESULTS.md"
_PROXY_VARS = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}


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


def run(argv: Sequence[str | os.PathLike[str]], env: dict[str, str], *, check: bool = True) -> Run:
    """Run to completion; wall time and the child's own peak RSS (wait4), output in files."""
    args = [os.fspath(a) for a in argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Run(
            args,
            proc.returncode,
            seconds,
            int(usage.ru_maxrss),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    if check and result.code != 0:
        raise BenchError(
            f"{' '.join(args[:4])}… exited {result.code}:\n"
            f"{result.err[-2000:]}\n{result.out[-2000:]}"
        )
    return result


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


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


def docker_cli() -> Path:
    for candidate in (
        Path("/usr/local/bin/docker"),
        REPO_ROOT / ".cache/trixie-docker/root/usr/bin/docker",
        Path(shutil.which("docker") or "/nonexistent"),
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError("no docker CLI found (/usr/local/bin/docker or `docker` on PATH)")


# --------------------------------------------------------------------------- the set-up
@dataclass
class Bench:
    engine: EngineHandle
    upstream: RegistryHandle
    offline: RegistryHandle
    workdir: Path
    docker: Path
    drop_caches: bool
    command: Path  # the installed airgap-tui
    env: dict[str, str] = field(default_factory=dict)

    def airgap(self, *args: str | os.PathLike[str], check: bool = True) -> Run:
        return run([self.command, *args], self.env, check=check)

    def docker_cmd(self, *args: str | os.PathLike[str]) -> Run:
        return run([self.docker, *args], self.env)

    def wipe_engine(self) -> None:
        client = self.engine.client()
        try:
            for image in client.images.list(all=True):
                client.images.remove(image.id, force=True)
            if client.images.list(all=True):
                raise BenchError("the engine still lists images after wiping it")
        finally:
            client.close()

    def engine_has(self, refs: list[str]) -> bool:
        client = self.engine.client()
        try:
            tags = {t for image in client.images.list() for t in image.tags}
        finally:
            client.close()
        return all(ref in tags for ref in refs)


def source_path(size: str) -> str:
    """Each size under its own path: both sets use the same analyzer names and tags."""
    return f"security-products-{size}"


def seed(upstream: RegistryHandle, images: Sequence[FakeImage], workdir: Path, path: str) -> float:
    """Push the set upstream with a throwaway engine (as the test fixture does); seconds."""
    start = time.perf_counter()
    seeder = start_engine("bookworm", workdir / "seed-engine")
    try:
        client = seeder.client(timeout=1800)
        try:
            seed_registry(client, upstream.host, images, workdir=workdir, path=path)
        finally:
            client.close()
    finally:
        seeder.stop()
    return time.perf_counter() - start


def _env(engine: EngineHandle, docker_config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env.update(engine.env)
    env["DOCKER_CONFIG"] = str(docker_config)
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
    engine: str
    images: int
    distinct: int
    per_image: int
    rows: list[Row] = field(default_factory=list)
    rss_kb: dict[str, int] = field(default_factory=dict)  # command -> peak over its runs
    samples: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def peak_rss_kb(self) -> int:
        return max(self.rss_kb.values(), default=0)


def _note_rss(result: SizeResult, command: str, r: Run) -> None:
    result.rss_kb[command] = max(result.rss_kb.get(command, 0), r.max_rss_kb)


def _alternate(rep: int, first: Callable[[], None], second: Callable[[], None]) -> None:
    """Even repetitions run the baseline first, odd ones ours: order effects cancel out."""
    for step in (first, second) if rep % 2 == 0 else (second, first):
        step()


def _dir_bytes(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


def _rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / MB


def run_size(
    bench: Bench, size: str, images: Sequence[FakeImage], repeats: int, log: Callable[[str], None]
) -> SizeResult:
    started = time.perf_counter()
    names = specs(images)
    prefix = f"{bench.upstream.host}/{source_path(size)}"
    refs = [f"{prefix}/{n}" for n in names]
    result = SizeResult(
        size=size,
        engine=f"{bench.engine.kind} {bench.engine.version}",
        images=len(images),
        distinct=distinct_bytes(images),
        per_image=per_image_bytes(images),
    )
    root = bench.workdir / size
    root.mkdir(parents=True, exist_ok=True)
    ours_dir, base_dir = root / "ours-bundle", root / "seed-tars"
    s = result.samples

    # --- estimate (no engine state needed, sizes only)
    est = bench.airgap("estimate", *names, "--source-prefix", prefix, "--json")
    _note_rss(result, "estimate", est)
    estimated = int(est.json["bundle_bytes"])

    # --- export, cold: both really pull
    base_bytes = ours_bytes = 0

    def seed_export() -> None:
        nonlocal base_bytes
        bench.wipe_engine()
        _rm(base_dir)
        base_dir.mkdir()
        settle(bench.drop_caches)
        with stopwatch() as t:
            tars = []
            for ref, name in zip(refs, names, strict=True):
                bench.docker_cmd("pull", ref)
                tar = base_dir / f"{name.replace(':', '_')}.tar"
                bench.docker_cmd("save", ref, "-o", tar)
                tars.append(tar)
            run(["sync", *map(str, tars)], bench.env)
        s.setdefault("export_cold_seed", []).append(t[0])
        base_bytes = _dir_bytes(base_dir, "*.tar")

    def ours_export() -> None:
        nonlocal ours_bytes
        bench.wipe_engine()
        _rm(ours_dir)
        settle(bench.drop_caches)
        r = bench.airgap("export", *names, "--to", ours_dir, "--source-prefix", prefix, "--json")
        if not (r.json["ok"] and r.json["readback_ok"]):
            raise BenchError(f"export failed: {r.out}")
        s.setdefault("export_cold_ours", []).append(r.seconds)
        _note_rss(result, "export (pull)", r)
        ours_bytes = _dir_bytes(ours_dir)
        if int(r.json["bundle_bytes"]) != _dir_bytes(ours_dir, "images.tar.*"):
            raise BenchError("bundle_bytes in the export result differs from the parts on disk")

    for rep in range(repeats):
        log(f"  export (cold) {rep + 1}/{repeats}")
        _alternate(rep, seed_export, ours_export)
    parts_bytes = _dir_bytes(ours_dir, "images.tar.*")

    # --- export with the images present: the engine's own export speed vs ours
    if not bench.engine_has(refs):
        for ref in refs:
            bench.docker_cmd("pull", ref)
    save_tar = root / "docker-save-all.tar"
    warm_dir = root / "ours-warm"
    save_bytes = warm_bytes = 0

    def engine_save() -> None:
        nonlocal save_bytes
        _rm(save_tar)
        settle(bench.drop_caches)
        with stopwatch() as t:
            bench.docker_cmd("save", "-o", save_tar, *refs)
            run(["sync", str(save_tar)], bench.env)
        s.setdefault("save_all_seconds", []).append(t[0])
        save_bytes = save_tar.stat().st_size

    def ours_warm() -> None:
        nonlocal warm_bytes
        _rm(warm_dir)
        settle(bench.drop_caches)
        r = bench.airgap("export", *names, "--to", warm_dir, "--source-prefix", prefix, "--json")
        if not r.json["ok"] or r.json["parts_kept"]:
            raise BenchError(f"warm export failed or resumed: {r.out}")
        s.setdefault("export_warm_ours", []).append(r.seconds)
        s.setdefault("export_warm_ours_write", []).append(float(r.json["seconds"]["write"]))
        _note_rss(result, "export (images present)", r)
        warm_bytes = int(r.json["bundle_bytes"])

    for rep in range(repeats):
        log(f"  export (images present) {rep + 1}/{repeats}")
        _alternate(rep, engine_save, ours_warm)
    _rm(save_tar)
    _rm(warm_dir)

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

    # --- import: engine wiped, registry emptied, a new path, page cache dropped
    def fresh_target() -> str:
        bench.wipe_engine()
        bench.offline.wipe()
        settle(bench.drop_caches)
        return f"{bench.offline.host}/bench-{uuid.uuid4().hex[:8]}"

    def seed_import() -> None:
        target = fresh_target()
        tars = sorted(base_dir.glob("*.tar"))
        with stopwatch() as t:
            for tar in tars:
                loaded = bench.docker_cmd("load", "-i", tar)
                ref = _loaded_ref(loaded.out)
                last = ref.rsplit("/", 1)[-1]
                dest = f"{target}/{last}"
                bench.docker_cmd("tag", ref, dest)
                bench.docker_cmd("push", dest)
        s.setdefault("import_seed", []).append(t[0])

    def ours_import() -> None:
        target = fresh_target()
        r = bench.airgap(
            "import",
            ours_dir,
            "--registry",
            target,
            "--receipt-dir",
            root / "receipts",
            "--json",
        )
        if not r.json["ok"] or {i["status"] for i in r.json["images"]} != {"pushed"}:
            raise BenchError(f"import failed: {r.out}")
        s.setdefault("import_ours", []).append(r.seconds)
        _note_rss(result, "import", r)

    for rep in range(repeats):
        log(f"  import {rep + 1}/{repeats}")
        _alternate(rep, seed_import, ours_import)
    bench.wipe_engine()
    bench.offline.wipe()

    # --- rows
    med = {k: statistics.median(v) for k, v in s.items()}
    rows = result.rows
    ratio = med["export_cold_ours"] / med["export_cold_seed"]
    rows.append(
        Row(
            "export wall time, cold engine (s)",
            f"{med['export_cold_seed']:.2f}",
            f"{med['export_cold_ours']:.2f}",
            ratio,
            "≤ 0.90×",
            ratio <= 0.90,
            "baseline: docker pull + docker save -o per image (+ fsync)",
        )
    )
    share = 1 - result.distinct / result.per_image
    expected = (1 - share) * 1.01
    ratio = ours_bytes / base_bytes
    rows.append(
        Row(
            "bytes on media (MB)",
            f"{base_bytes / MB:.1f}",
            f"{ours_bytes / MB:.1f}",
            ratio,
            f"≤ {expected:.3f}× (shared share {share:.0%})",
            ratio <= expected,
            "baseline: one tar per image; ours: parts + bundle.yaml",
        )
    )
    base_tp = _mbps(save_bytes, med["save_all_seconds"])
    ours_tp = _mbps(warm_bytes, med["export_warm_ours_write"])
    ratio = ours_tp / base_tp
    rows.append(
        Row(
            "export throughput, images present (MB/s)",
            f"{base_tp:.1f}",
            f"{ours_tp:.1f}",
            ratio,
            "≥ 0.90×",
            ratio >= 0.90,
            "baseline: one docker save -o of all images (+ its fsync); ours: from asking the "
            "engine for its export to the last part written, fsynced and read back",
        )
    )
    whole_tp = _mbps(warm_bytes, med["export_warm_ours"])
    rows.append(
        Row(
            "  same, ours as a whole command (MB/s)",
            f"{base_tp:.1f}",
            f"{whole_tp:.1f}",
            whole_tp / base_tp,
            "— (see notes)",
            None,
            "adds start-up, the registry estimate and the pull check "
            f"({med['export_warm_ours'] - med['export_warm_ours_write']:.2f} s)",
        )
    )
    base_tp = _mbps(parts_bytes, med["verify_sha256sum"])
    ours_tp = _mbps(parts_bytes, med["verify_ours"])
    ratio = ours_tp / base_tp
    rows.append(
        Row(
            "verify throughput (MB/s)",
            f"{base_tp:.1f}",
            f"{ours_tp:.1f}",
            ratio,
            "≥ 0.90×",
            ratio >= 0.90,
            "page cache dropped before each run" if bench.drop_caches else "warm cache",
        )
    )
    ratio = med["import_ours"] / med["import_seed"]
    rows.append(
        Row(
            "import wall time (s)",
            f"{med['import_seed']:.2f}",
            f"{med['import_ours']:.2f}",
            ratio,
            "≤ 0.80×",
            ratio <= 0.80,
            "baseline: docker load + tag + push per image",
        )
    )
    peak = result.peak_rss_kb / 1024
    worst = max(result.rss_kb, key=lambda k: result.rss_kb[k])
    rows.append(
        Row(
            "peak RSS of airgap-tui (MiB)",
            "—",
            f"{peak:.1f}",
            None,
            "≤ 150 MiB",
            peak <= 150,
            f"highest: {worst}",
        )
    )
    err = (estimated - parts_bytes) / parts_bytes
    rows.append(
        Row(
            "estimate error (bytes)",
            f"{parts_bytes}",
            f"{estimated}",
            estimated / parts_bytes,
            "|error| ≤ 1 %",
            abs(err) <= 0.01,
            f"error {err:+.3%}; baseline column: bytes written",
        )
    )
    run_carried_tool(bench, result, ours_dir, parts_bytes, repeats, log)
    result.seconds = time.perf_counter() - started
    return result


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
    env = clean_env(home, tmp, DOCKER_HOST=bench.env.get("DOCKER_HOST", ""))
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


def _loaded_ref(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("Loaded image:"):
            return line.split(":", 1)[1].strip()
    raise BenchError(f"docker load printed no 'Loaded image:' line: {output[-500:]}")


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
        "flat: ≤ 1.20× and ≤ 150 MiB",
        ratio <= 1.20 and large <= 150,
        f"the bundle grew {growth:.0f}×; baseline column: small, ours column: large",
    )


# --------------------------------------------------------------------------- reporting
HEADER = ("measure", "baseline", "ours", "ratio", "target", "pass/fail")


def table_lines(rows: list[tuple[str, Row]]) -> list[str]:
    cells = [HEADER] + [
        (
            f"[{label}] {row.measure}",
            row.baseline,
            row.ours,
            "—" if row.ratio is None else f"{row.ratio:.3f}×",
            row.target,
            "—" if row.ok is None else ("PASS" if row.ok else "FAIL"),
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


def machine_info(workdir: Path, engines: list[EngineHandle], docker: Path) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    lines = [
        f"- nproc: {os.cpu_count()} ({_sh(['nproc'])} usable)",
        f"- CPU: {cpu}",
        f"- memory: {mem}",
        f"- kernel: {platform.release()}; Python {platform.python_version()}; "
        "airgap-tui installed with `pip install .` into a new virtualenv",
        "- engines: "
        + "; ".join(
            f"{e.kind} Docker Engine {e.version} (API {e.api_version}, storage driver vfs)"
            for e in engines
        ),
        f"- docker CLI: {_sh([str(docker), '--version'])}",
        f"- registry: {_sh(['docker-registry', '--version'])}",
        f"- work dir {workdir}, `df -h`:",
        "",
        "```",
        _sh(["df", "-h", str(workdir)]),
        "```",
    ]
    return lines


def write_results(
    results: list[SizeResult],
    rows: list[tuple[str, Row]],
    info: list[str],
    drop_caches: bool,
    repeats: dict[str, int],
    total_seconds: float,
    command: str,
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {now} in {total_seconds / 60:.1f} min. Ratios are "
        "ours / baseline (times: lower is better; throughputs: higher is better); each value is "
        "the median of the repetitions, contenders alternating which runs first.",
        "",
        *table_lines(rows),
        "",
        "## What was measured",
        "",
    ]
    for r in results:
        out.append(
            f"- **{r.size}** on {r.engine}: {r.images} analyzer images, "
            f"{r.distinct / MB:.0f} MB of distinct layer content, {r.per_image / MB:.0f} MB "
            f"counted image by image; {repeats[r.size]} repetition(s); "
            f"{r.seconds / 60:.1f} min."
        )
    out += [
        "",
        "- Cache: "
        + (
            "`sync` and `echo 3 > /proc/sys/vm/drop_caches` before every timed run (cold, both)."
            if drop_caches
            else "`sync` before every timed run; page cache NOT dropped (not root: warm, both)."
        ),
        "- Baselines fsync what they wrote (`sync FILE…`) inside their timing, as airgap-tui "
        "fsyncs every part; airgap-tui also reads every part back (cache dropped) inside its.",
        "- airgap-tui runs as the `airgap-tui` command `pip install .` puts in a new virtualenv "
        "(as the README installs it), start-up included in every wall time; export also "
        "queries the registry for the estimate and asks the engine to pull (a no-op when the "
        "images are present) before it writes.",
        "- Export throughput with the images present compares like with like: `docker save -o` "
        "(the engine preparing its export, streaming it, the CLI's fsync) against airgap-tui "
        "from its export request to the last part written, fsynced and read back from the disk "
        "(the `write` step of its `--json` `seconds`). The whole command is the row below it; "
        "start-up, estimate and pull check are fixed costs counted in the cold export row.",
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
        )
    out += ["", "## Machine", "", *info, ""]
    RESULTS.write_text("\n".join(out))


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", choices=("small", "large", "both"), default="both")
    parser.add_argument(
        "--engine",
        choices=("trixie", "bookworm", "both"),
        default="trixie",
        help="trixie = Docker Engine 26.1 (default), bookworm = 20.10",
    )
    parser.add_argument("--repeats", type=int, help="repetitions per measure (small 3, large 1)")
    parser.add_argument("--workdir", type=Path, help="scratch space (default: a new dir in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch space")
    parser.add_argument(
        "--code",
        type=Path,
        default=REPO_ROOT,
        help="directory holding the airgap_tui package to measure (default: this checkout)",
    )
    args = parser.parse_args(argv)
    # SIGTERM unwinds through the finally below: engines stopped, scratch space removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    sizes = ["small", "large"] if args.size == "both" else [args.size]
    kinds: list[EngineKind] = ["trixie", "bookworm"] if args.engine == "both" else [args.engine]
    repeats = {s: args.repeats or DEFAULT_REPEATS[s] for s in sizes}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agt-bench-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    drop = can_drop_caches()
    docker = docker_cli()
    begun = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - begun:7.1f}s] {message}", file=sys.stderr, flush=True)

    results: list[SizeResult] = []
    engines: list[EngineHandle] = []
    upstream = offline = None
    try:
        upstream = start_registry(workdir / "upstream")
        offline = start_registry(workdir / "offline")
        sets = {s: analyzer_set(SIZES[s], label=f"bench-{s}") for s in sizes}
        for size in sizes:
            mb = distinct_bytes(sets[size]) / MB
            log(f"seeding {size}: {len(sets[size])} images, {mb:.0f} MB")
            took = seed(upstream, sets[size], workdir / f"seed-{size}", source_path(size))
            log(f"  seeded in {took:.1f}s")
        log(f"installing {args.code.resolve()} into a virtualenv")
        command = install_airgap(args.code.resolve(), workdir / "venv")
        docker_config = workdir / "docker-config"
        docker_config.mkdir(exist_ok=True)
        for kind in kinds:
            engine = start_engine(kind, workdir / f"engine-{kind}")
            engines.append(engine)
            bench = Bench(
                engine=engine,
                upstream=upstream,
                offline=offline,
                workdir=workdir / kind,
                docker=docker,
                drop_caches=drop,
                command=command,
                env=_env(engine, docker_config),
            )
            for size in sizes:
                log(f"{size} on {kind} {engine.version}")
                results.append(run_size(bench, size, sets[size], repeats[size], log))
                shutil.rmtree(bench.workdir / size, ignore_errors=True)
            engine.stop()
        rows: list[tuple[str, Row]] = []
        for r in results:
            label = r.size if len(kinds) == 1 else f"{r.size}, {r.engine.split()[0]}"
            rows += [(label, row) for row in r.rows]
        for kind in kinds:
            flat = rss_flat_row([r for r in results if r.engine.startswith(kind)])
            if flat is not None:
                rows.append((kind if len(kinds) > 1 else "both", flat))
        info = machine_info(workdir, engines, docker)
        info.insert(0, f"- airgap-tui measured: {code_label(args.code.resolve())}")
        total = time.perf_counter() - begun
        command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_results(results, rows, info, drop, repeats, total, command.strip())
        print("\n".join(table_lines(rows)))
        for label, row in rows:
            if row.note:
                print(f"  [{label}] {row.measure}: {row.note}")
        print(f"\nwritten to {RESULTS.relative_to(REPO_ROOT)} ({total / 60:.1f} min)")
        return 0 if all(row.ok is not False for _, row in rows) else 1
    finally:
        for engine in engines:
            engine.stop()
        for registry in (upstream, offline):
            if registry is not None:
                registry.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
