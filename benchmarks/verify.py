"""Verify against `sha256sum` over the parts of the --no-tool bundle: the image bytes only (the
carried tool's share of verify is carried_tool.py's row)."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.common import (
    Bench,
    BenchError,
    Row,
    SizeResult,
    alternate,
    mbps,
    medians,
    note_rss,
    run,
    settle,
)
from benchmarks.transport import Exported


def measure_verify(
    bench: Bench,
    result: SizeResult,
    exported: Exported,
    repeats: int,
    log: Callable[[str], None],
) -> None:
    s = result.samples
    parts = sorted(str(p) for p in exported.bundle.glob("images.tar.*"))

    def sha256sum() -> None:
        settle(bench.drop_caches)
        r = run(["sha256sum", *parts], bench.env)
        s.setdefault("verify_sha256sum", []).append(r.seconds)

    def ours_verify() -> None:
        settle(bench.drop_caches)
        r = bench.airgap("verify", exported.bundle, "--json")
        if not r.json["ok"]:
            raise BenchError(f"verify failed: {r.out}")
        if r.json["tool"] is not None:
            raise BenchError(f"the transport bundle lists a carried tool: {r.out}")
        s.setdefault("verify_ours", []).append(r.seconds)
        note_rss(result, "verify", r)

    for rep in range(repeats):
        log(f"  verify {rep + 1}/{repeats}")
        alternate(rep, sha256sum, ours_verify)

    med = medians(s)
    base_tp = mbps(exported.parts_bytes, med["verify_sha256sum"])
    ours_tp = mbps(exported.parts_bytes, med["verify_ours"])
    ratio = ours_tp / base_tp
    result.rows.append(
        Row(
            "verify throughput, the parts (MB/s)",
            f"{base_tp:.1f}",
            f"{ours_tp:.1f}",
            ratio,
            "≥ 0.90× sha256sum",
            ratio >= 0.90,
            "baseline: sha256sum over the parts; ours: verify of the --no-tool bundle; "
            + ("page cache dropped before each run" if bench.drop_caches else "warm cache"),
        )
    )
