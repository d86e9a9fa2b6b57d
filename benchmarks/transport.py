"""Image transport against skopeo: `export --no-tool` vs `skopeo copy docker://… dir:…`, bytes on
media against the registry's distinct bytes, and `import` vs `skopeo copy --preserve-digests`
with every digest read back. The carried tool is left out here (carried_tool.py measures it):
these rows compare moving images, and skopeo moves images only."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    KIB,
    MB,
    Bench,
    BenchError,
    Row,
    Run,
    SizeResult,
    alternate,
    files,
    medians,
    note_rss,
    registry_digest,
    rm,
    run,
    settle,
    source_path,
    tree_bytes,
)
from tests.harness.synthetic import SyntheticImage, specs


@dataclass
class Exported:
    """The --no-tool bundle the other families read (verify, import, engine route)."""

    bundle: Path
    skopeo_dirs: Path
    media_bytes: int = 0  # the bundle's directory
    parts_bytes: int = 0  # images.tar.* only
    skopeo_bytes: int = 0
    kept: dict[str, list[int]] = field(default_factory=dict)


def export_args(bench: Bench, images: Sequence[SyntheticImage], size: str) -> list[str]:
    """`export`'s image names and source prefix for the set (no --to, no --json)."""
    prefix = f"{bench.upstream.host}/{source_path(size)}"
    return [*specs(images), "--source-prefix", prefix]


def export_ours(bench: Bench, dest: Path, args: Sequence[str], *extra: str) -> dict[str, object]:
    """One `airgap-tui export` into an emptied `dest`, cache dropped; its --json and time."""
    rm(dest)
    settle(bench.drop_caches)
    r = bench.airgap("export", *args, "--to", dest, *extra, "--json")
    if not (r.json["ok"] and r.json["readback_ok"]) or r.json["parts_kept"]:
        raise BenchError(f"export failed or resumed: {r.out}")
    return {**r.json, "wall": r.seconds, "max_rss_kb": r.max_rss_kb}


def measure_export(
    bench: Bench,
    result: SizeResult,
    images: Sequence[SyntheticImage],
    repeats: int,
    log: Callable[[str], None],
) -> Exported:
    root = bench.workdir / result.size
    root.mkdir(parents=True, exist_ok=True)
    done = Exported(bundle=root / "ours-bundle", skopeo_dirs=root / "skopeo-dirs")
    args = export_args(bench, images, result.size)
    s = result.samples

    def skopeo_export() -> None:
        sk_dir = done.skopeo_dirs
        rm(sk_dir)
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
        took += run(["sync", *map(str, files(sk_dir))], bench.env).seconds
        s.setdefault("export_skopeo", []).append(took)
        done.skopeo_bytes = tree_bytes(sk_dir)

    def ours_export() -> None:
        out = export_ours(bench, done.bundle, args, "--no-tool")
        s.setdefault("export_ours", []).append(float(str(out["wall"])))
        seconds = out["seconds"]
        assert isinstance(seconds, dict)
        s.setdefault("export_ours_download", []).append(float(seconds.get("write", 0.0)))
        result.rss_kb["export"] = max(result.rss_kb.get("export", 0), int(str(out["max_rss_kb"])))
        done.media_bytes = tree_bytes(done.bundle)
        done.parts_bytes = sum(p.stat().st_size for p in done.bundle.glob("images.tar.*"))
        if int(str(out["bundle_bytes"])) != done.parts_bytes:
            raise BenchError(
                f"export says bundle_bytes {out['bundle_bytes']}, the parts hold {done.parts_bytes}"
            )

    for rep in range(repeats):
        log(f"  export {rep + 1}/{repeats}")
        alternate(rep, skopeo_export, ours_export)

    med = medians(s)
    ratio = med["export_ours"] / med["export_skopeo"]
    result.rows.append(
        Row(
            "export wall time, --no-tool (s)",
            f"{med['export_skopeo']:.2f}",
            f"{med['export_ours']:.2f}",
            ratio,
            "≤ 1.00× skopeo",
            ratio <= 1.0,
            "baseline: skopeo copy docker://… dir:… per image (+ fsync); ours: export "
            "--no-tool, which also reads every part back",
        )
    )
    limit = 1.05 * result.distinct + 64 * KIB
    result.rows.append(
        Row(
            "bytes on media, --no-tool (MB)",
            f"{result.distinct / MB:.1f}",
            f"{done.media_bytes / MB:.1f}",
            done.media_bytes / result.distinct,
            "≤ 1.05× + 64 KiB",
            done.media_bytes <= limit,
            f"baseline: the registry's distinct bytes (blobs + manifests); skopeo's dirs "
            f"hold {done.skopeo_bytes / MB:.1f} MB ({done.skopeo_bytes / result.distinct:.2f}×)",
        )
    )
    return done


def count_kept(bench: Bench, images: Sequence[SyntheticImage], target: str) -> int:
    """Every tag's digest read back from the offline registry, compared with upstream's."""
    return sum(
        registry_digest(bench.offline, f"{target}/{i.name}", i.tag) == i.digest for i in images
    )


def fresh_target(bench: Bench) -> str:
    """The offline registry emptied, a new path, the page cache dropped."""
    bench.offline.wipe()
    settle(bench.drop_caches)
    return f"bench-{uuid.uuid4().hex[:8]}"


def import_ours(bench: Bench, bundle: Path, target: str, receipts: Path) -> Run:
    """`airgap-tui import` of `bundle` straight into `target`, every image pushed."""
    r = bench.airgap(
        "import",
        bundle,
        "--registry",
        f"{bench.offline.host}/{target}",
        "--receipt-dir",
        receipts,
        "--json",
    )
    if not r.json["ok"] or {i["status"] for i in r.json["images"]} != {"pushed"}:
        raise BenchError(f"import failed: {r.out}")
    return r


def measure_import(
    bench: Bench,
    result: SizeResult,
    images: Sequence[SyntheticImage],
    exported: Exported,
    repeats: int,
    log: Callable[[str], None],
) -> None:
    s = result.samples
    kept: dict[str, list[int]] = {"ours": [], "skopeo": []}  # images kept, per run
    receipts = bench.workdir / result.size / "receipts"

    def skopeo_import() -> None:
        target = fresh_target(bench)
        took = 0.0
        for image in images:
            r = bench.skopeo_copy(
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"dir:{exported.skopeo_dirs / image.name}",
                f"docker://{bench.offline.host}/{target}/{image.name}:{image.tag}",
            )
            result.skopeo_rss_kb = max(result.skopeo_rss_kb, r.max_rss_kb)
            took += r.seconds
        s.setdefault("import_skopeo", []).append(took)
        kept["skopeo"].append(count_kept(bench, images, target))

    def ours_import() -> None:
        target = fresh_target(bench)
        r = import_ours(bench, exported.bundle, target, receipts)
        s.setdefault("import_ours", []).append(r.seconds)
        note_rss(result, "import", r)
        kept["ours"].append(count_kept(bench, images, target))

    for rep in range(repeats):
        log(f"  import {rep + 1}/{repeats}")
        alternate(rep, skopeo_import, ours_import)
    bench.offline.wipe()
    exported.kept = kept

    med = medians(s)
    ratio = med["import_ours"] / med["import_skopeo"]
    result.rows.append(
        Row(
            "import wall time, --no-tool bundle (s)",
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
    result.rows.append(
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
