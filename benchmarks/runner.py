"""The runner: registries up, the synthetic sets pushed, airgap-tui installed, then each measure
family per size (transport, verify, estimate/RSS, engine route, carried tool, default settings,
delta); RESULTS.md and the README's paragraph written from the run."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import templates
from benchmarks.carried_tool import (
    measure_carried_tool,
    measure_export_share,
    measure_verify_share,
)
from benchmarks.common import (
    DEFAULT_REPEATS,
    MB,
    REPO_ROOT,
    RESULTS,
    SIZES,
    Bench,
    Row,
    SizeResult,
    bench_env,
    can_drop_caches,
    docker_cli,
    install_airgap,
    load_average,
    skopeo_cli,
    source_path,
)
from benchmarks.delta import DeltaResult, delta_section, run_delta, splice_delta
from benchmarks.end_to_end import measure_end_to_end
from benchmarks.engine_route import measure_engine_route
from benchmarks.footprint import footprint_rows, measure_estimate, rss_flat_row
from benchmarks.readme import update_readme
from benchmarks.report import Stamp, machine_info, stamp_of, table_lines, write_results
from benchmarks.transport import measure_export, measure_import
from benchmarks.verify import measure_verify
from tests.harness.engine import EngineHandle, start_engine
from tests.harness.registry import start_registry
from tests.harness.synthetic import (
    SyntheticImage,
    analyzer_set,
    distinct_bytes,
    per_image_bytes,
    push_set,
)

Log = Callable[[str], None]


def run_size(
    bench: Bench, size: str, images: Sequence[SyntheticImage], repeats: int, log: Log
) -> SizeResult:
    """Every family but the delta, on one set; rows in the table's order."""
    started = time.perf_counter()
    result = SizeResult(
        size=size,
        images=len(images),
        distinct=distinct_bytes(images),
        per_image=per_image_bytes(images),
    )
    result.load.append(load_average())
    estimated = measure_estimate(bench, result, images)
    exported = measure_export(bench, result, images, repeats, log)
    measure_verify(bench, result, exported, repeats, log)
    measure_import(bench, result, images, exported, repeats, log)
    result.load.append(load_average())
    footprint_rows(result, estimated, exported)
    if bench.engine is not None:
        measure_engine_route(bench, result, images, exported.bundle, repeats, log)
    runs = measure_export_share(bench, result, images, repeats, log)
    measure_verify_share(bench, result, exported, runs, repeats, log)
    measure_carried_tool(bench, result, exported, repeats, log)
    measure_end_to_end(bench, result, images, runs, repeats, log)
    result.seconds = time.perf_counter() - started
    return result


def _shown(argv: list[str] | None) -> str:
    return (
        "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    ).strip()


def _print_rows(rows: Sequence[tuple[str, Row]]) -> None:
    print("\n".join(table_lines(rows)))
    for label, row in rows:
        if row.note:
            print(f"  [{label}] {row.measure}: {row.note}")


def _readme(log: Log) -> None:
    """The README's paragraph from the RESULTS.md just written (a README without the block is
    left as it is, with a line saying so)."""
    try:
        changed = update_readme()
    except ValueError as exc:
        log(f"README.md not rewritten: {exc}")
        return
    log("README.md's Benchmarks paragraph " + ("rewritten" if changed else "already matched"))


def delta_only(
    bench: Bench,
    sizes: list[str],
    sets: dict[str, list[SyntheticImage]],
    repeats: dict[str, int],
    stamp: Stamp,
    log: Log,
    argv: list[str] | None,
) -> int:
    """`--only delta`: the delta rows alone; RESULTS.md keeps everything but its Delta section."""
    deltas: list[DeltaResult] = []
    for size in sizes:
        log(f"{size} delta (load average {load_average()})")
        deltas.append(run_delta(bench, size, sets[size], repeats[size], log))
    section = delta_section(deltas, repeats, _shown(argv), stamp)
    RESULTS.write_text(splice_delta(RESULTS.read_text() if RESULTS.exists() else "", section))
    rows = [(d.size, row) for d in deltas for row in d.rows]
    _print_rows(rows)
    print(f"written to the Delta section of {RESULTS.relative_to(REPO_ROOT)}")
    _readme(log)
    return 0 if all(row.ok is not False for _, row in rows) else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="airgap-tui's registry-native transport against skopeo, its carried tool, "
        "its delta; writes benchmarks/RESULTS.md and the README's Benchmarks paragraph"
    )
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds through the finally below: registries stopped, scratch space removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    sizes = ["small", "large"] if args.size == "both" else [args.size]
    repeats = {s: args.repeats or DEFAULT_REPEATS[s] for s in sizes}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agt-bench-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    drop = can_drop_caches()
    skopeo = skopeo_cli()
    code = args.code.resolve()
    stamp = stamp_of(code)  # before the run: what gets installed is the tree as it is now
    begun = time.perf_counter()
    load = [load_average()]

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - begun:7.1f}s] {message}", file=sys.stderr, flush=True)

    if not stamp.clean:
        log(f"warning: {stamp.line()}; RESULTS.md will say so")
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
        log(f"installing {code} into a virtualenv")
        command = install_airgap(code, workdir / "venv")
        bench = Bench(
            upstream=upstream,
            offline=offline,
            workdir=workdir / "runs",
            drop_caches=drop,
            command=command,
            skopeo=skopeo,
            env=bench_env(workdir),
        )
        if args.only == "delta":
            return delta_only(bench, sizes, sets, repeats, stamp, log, argv)
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
        info = machine_info(workdir, skopeo)
        total = time.perf_counter() - begun
        write_results(results, rows, info, stamp, drop, repeats, total, _shown(argv), load)
        RESULTS.write_text(
            splice_delta(RESULTS.read_text(), delta_section(deltas, repeats, _shown(argv), stamp))
        )
        _print_rows(rows)
        print(f"\nload average: {'; '.join(load)}")
        print(f"written to {RESULTS.relative_to(REPO_ROOT)} ({total / 60:.1f} min)")
        log("the template evaluator (benchmarks/templates.py)")
        templates_ok = templates.main() == 0
        _readme(log)
        return 0 if templates_ok and all(row.ok is not False for _, row in rows) else 1
    finally:
        if engine is not None:
            engine.stop()
        for registry in (upstream, offline):
            if registry is not None:
                registry.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
