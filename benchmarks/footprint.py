"""The estimate against the bytes written, and peak RSS (per size, and flat from small to large)."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.common import Bench, Row, SizeResult, note_rss
from benchmarks.transport import Exported, export_args
from tests.harness.synthetic import SyntheticImage


def measure_estimate(bench: Bench, result: SizeResult, images: Sequence[SyntheticImage]) -> int:
    """`estimate --json`'s bundle bytes (registry queries only), taken before any export."""
    est = bench.airgap("estimate", *export_args(bench, images, result.size), "--json")
    note_rss(result, "estimate", est)
    return int(est.json["bundle_bytes"])


def footprint_rows(result: SizeResult, estimated: int, exported: Exported) -> None:
    peak = result.peak_rss_kb / 1024
    worst = max(result.rss_kb, key=lambda k: result.rss_kb[k])
    result.rows.append(
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
    written = exported.parts_bytes
    result.rows.append(
        Row(
            "estimate error (bytes)",
            f"{written}",
            f"{estimated}",
            estimated / written,
            "0",
            estimated == written,
            f"error {estimated - written:+d} B; baseline column: the parts' bytes written "
            f"(bundle.yaml adds {exported.media_bytes - exported.parts_bytes} B)",
        )
    )


def rss_flat_row(results: Sequence[SizeResult]) -> Row | None:
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
