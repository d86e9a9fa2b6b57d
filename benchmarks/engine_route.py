"""The engine route: `import --via-docker` against the seed's loader (`docker load` + `tag` +
`push` per image), on the trixie engine (Docker 26.1) the test harness starts."""

from __future__ import annotations

import shutil
import statistics
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import (
    Bench,
    BenchError,
    Row,
    SizeResult,
    alternate,
    note_rss,
    run,
    settle,
)
from benchmarks.transport import count_kept
from tests.harness.synthetic import SyntheticImage


def measure_engine_route(
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
        kept["seed"].append(count_kept(bench, images, target))

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
        note_rss(result, "import --via-docker", r)
        kept["ours"].append(count_kept(bench, images, target))

    for rep in range(repeats):
        log(f"  engine route: import {rep + 1}/{repeats}")
        alternate(rep, seed_import, ours_import)
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
