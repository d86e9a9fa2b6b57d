"""What an operator gets with the default settings, end to end: export (the carried tool
included, its cache warm as from the second export on), verify, import, against skopeo's
export + sha256sum + import of the same images."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks.carried_tool import ToolRuns
from benchmarks.common import Bench, Row, SizeResult, medians, note_rss
from benchmarks.transport import fresh_target, import_ours
from tests.harness.synthetic import SyntheticImage


def measure_end_to_end(
    bench: Bench,
    result: SizeResult,
    images: Sequence[SyntheticImage],
    runs: ToolRuns,
    repeats: int,
    log: Callable[[str], None],
) -> None:
    s = result.samples
    receipts = bench.workdir / result.size / "receipts-default"
    for rep in range(repeats):
        log(f"  defaults: import {rep + 1}/{repeats}")
        r = import_ours(bench, runs.bundle, fresh_target(bench), receipts)
        s.setdefault("import_default", []).append(r.seconds)
        note_rss(result, "import", r)
    bench.offline.wipe()
    med = medians(s)
    steps = ("export_tool_warm", "verify_default", "import_default")
    ours = sum(med[k] for k in steps)
    base = med["export_skopeo"] + med["verify_sha256sum"] + med["import_skopeo"]
    result.rows.append(
        Row(
            "default settings: export + verify + import (s)",
            f"{base:.2f}",
            f"{ours:.2f}",
            ours / base,
            "≤ 1.00× skopeo + sha256sum",
            ours <= base,
            "ours: export with the defaults (the tool carried, built by an earlier export) "
            f"{med['export_tool_warm']:.2f} s + verify {med['verify_default']:.2f} s + import "
            f"{med['import_default']:.2f} s; baseline: skopeo copy per image + sha256sum over "
            "the parts + skopeo copy --preserve-digests per image, medians of their rows; "
            f"with an empty cache the export takes {med['export_tool_cold']:.2f} s",
        )
    )
