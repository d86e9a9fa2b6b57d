"""Delta (issue 10): full export → import (receipt) → two images get a new top layer upstream →
`export --delta-from <receipt>` with the default settings: the delta's bytes against the new
blobs', its import against pushing the new blobs alone (RegistryClient.push_blob)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import (
    KIB,
    MB,
    Bench,
    BenchError,
    Row,
    Run,
    alternate,
    load_average,
    medians,
    registry_digest,
    run,
    settle,
    source_path,
    tree_bytes,
)
from benchmarks.report import Stamp, table_lines
from tests.harness.native import OCI_MANIFEST, Blob, canonical, sha256_digest
from tests.harness.synthetic import _RATIO, SyntheticImage, _layer, push_set, specs


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
try:  # the package layout (issue 18), else the flat modules before it
    from airgap_tui.bundle.schema import read_manifest
    from airgap_tui.bundle.reader import PartsReader
    from airgap_tui.registry.client import RegistryClient
except ImportError:
    from airgap_tui.blob_reader import PartsReader
    from airgap_tui.bundle.schema import read_manifest
    from airgap_tui.registry import RegistryClient
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
    tool_bytes: int = 0  # the carried tool in the delta (0: left out)
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
    result.full_bytes = tree_bytes(full_dir)
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
    result.delta_bytes = tree_bytes(delta_dir)
    result.expected = int(r.json["delta"]["expected_blobs"])
    tool = r.json.get("tool")
    result.tool_bytes = int(tool["size"]) if isinstance(tool, dict) else 0

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
        r = run([python, "-I", "-c", _PUSH_BLOBS, delta_dir, bench.offline.host, *pairs], bench.env)
        if int(r.out.strip()) != len(pairs):
            raise BenchError(f"the baseline pushed {r.out.strip()} blobs, not {len(pairs)}")
        s.setdefault("delta_push_new_blobs", []).append(r.seconds)

    for rep in range(repeats):
        log(f"  delta import {rep + 1}/{repeats}")
        alternate(rep, baseline, ours)
    bench.offline.wipe()
    # the upstream set as it was, for whatever runs after
    push_set(bench.upstream, [by_name[n] for n in DELTA_CHANGED])
    result.load.append(load_average())

    med = medians(s)
    new_mb = result.new_bytes / MB
    limit = 1.1 * result.new_bytes + 64 * KIB
    result.rows.append(
        Row(
            "delta bundle bytes on media, default settings (MB)",
            f"{new_mb:.3f}",
            f"{result.delta_bytes / MB:.3f}",
            result.delta_bytes / result.new_bytes,
            "≤ 1.1× the new blobs + 64 KiB",
            result.delta_bytes <= limit,
            f"{', '.join(DELTA_CHANGED)} got a new top layer; baseline: the "
            f"{result.new_blobs} new blobs (configs + layers not in the registry); ours: the "
            f"delta bundle's directory (parts + bundle.yaml, {result.expected} blobs left "
            f"out); the full bundle is {result.full_bytes / MB:.1f} MB; the carried tool: "
            + (
                f"carried, {result.tool_bytes / MB:.1f} MB"
                if result.tool_bytes
                else "left out (the receipt names the tool the offline host holds)"
            ),
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


def delta_section(
    results: list[DeltaResult], repeats: dict[str, int], command: str, stamp: Stamp
) -> list[str]:
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
        stamp.line(),
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
        "counted); the delta bundle also carries every manifest and config and bundle.yaml. "
        "The delta is exported with the default settings: it carries airgap-tui.pyz only when "
        "the receipt does not name the same tool (the one that did the import).",
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
