"""RESULTS.md: the table, what was measured, every sample, the machine, and the commit measured
(with whether its tree was clean), so a claim can be traced to the code it describes."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.carried_tool import SHARE_REPEATS
from benchmarks.common import MB, RESULTS, Row, SizeResult
from benchmarks.readme import STAMP_RE

HEADER = ("measure", "baseline", "ours", "ratio", "target", "pass/miss")
# What `pip install .` puts in the measured virtualenv: changes here make a tree unclean.
MEASURED_PATHS = ("airgap_tui", "pyproject.toml")
STAMP_PREFIX = "Commit measured: "
TREE_CLEAN = "clean"


def table_lines(rows: Sequence[tuple[str, Row]]) -> list[str]:
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


@dataclass(frozen=True)
class Stamp:
    """The commit the measured code came from, and whether the checkout differed from it."""

    commit: str  # 40 hex digits, or "" outside a git checkout
    tree: str  # "clean", or what differed

    @property
    def clean(self) -> bool:
        return self.tree == TREE_CLEAN

    def line(self) -> str:
        if not self.commit:
            return f"{STAMP_PREFIX}none (not a git checkout); tree: {self.tree}"
        return f"{STAMP_PREFIX}`{self.commit}`; tree: {self.tree}"


def stamp_of(code: Path) -> Stamp:
    """HEAD of the checkout holding the measured package, and its uncommitted changes to what
    gets installed (MEASURED_PATHS; untracked files count: `pip install .` takes them)."""
    git = ["git", "-C", str(code)]
    head = _sh([*git, "rev-parse", "HEAD"])
    if not re.fullmatch(r"[0-9a-f]{40}", head):
        return Stamp("", "unknown")
    status = [*git, "status", "--porcelain", "--untracked-files=all", "--", *MEASURED_PATHS]
    changed = subprocess.run(status, capture_output=True, text=True, check=False).stdout
    files = [line[3:] for line in changed.splitlines() if line.strip()]
    if not files:
        return Stamp(head, TREE_CLEAN)
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    return Stamp(head, f"UNCOMMITTED CHANGES to the measured code ({shown})")


def read_stamps(text: str) -> list[tuple[str, str]]:
    """Every (commit, tree) RESULTS.md records: the whole run's, and the Delta section's."""
    return STAMP_RE.findall(text)


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
        f"- work dir {workdir.name} in {workdir.parent}, `df -h`:",
        "",
        "```",
        _sh(["df", "-h", str(workdir)]),
        "```",
    ]


MEASURED = [
    "- Cache: {cache}",
    "- Image transport (the rows without a prefix): airgap-tui exports with `--no-tool`, so "
    "these rows compare moving images with skopeo, which moves images only; verify hashes the "
    "parts of that bundle, against `sha256sum` over the same parts; import reads that bundle.",
    "- Verify on the small set is start-up bound: the installed command's Python start-up and "
    "imports (about 0.1–0.2 s on this machine) against `sha256sum`, a C binary, over 50 MB; on "
    "the large set the hashing decides.",
    "- skopeo fsyncs what it wrote (`sync FILE…`) inside its timing, as airgap-tui fsyncs "
    "every part; airgap-tui also reads every part back (cache dropped) inside its export, "
    "and verifies every part before its import (the default).",
    "- No engine anywhere: export reads the source registry, import writes the offline "
    "registry (emptied and restarted before each run, a new path each time).",
    "- airgap-tui runs as the `airgap-tui` command `pip install .` puts in a new virtualenv "
    "(as the README installs it), start-up included in every wall time.",
    "- Digests kept: after every import, each tag's manifest digest is read back from the "
    "offline registry and compared with the upstream one; the row shows the worst run.",
    "- The carried tool (rows `carried tool: …`): `export` with the defaults against `export "
    "--no-tool` in the same runs, with the tool built by an earlier export (warm cache) and "
    "with an empty user cache (first build; its target: what a warm export may add, 0.3 s, "
    "plus the part of `airgap-tui tool --out` alone that outlasts export's download step), "
    f"{SHARE_REPEATS} runs or more each; verify of the default bundle against the --no-tool "
    "one; the archive's size, the wizard's first screen and verify run from it.",
    "- Default settings: export (the tool carried, cache warm) + verify + import of that "
    "bundle, against skopeo's export + `sha256sum` + import medians of the same run.",
    "- The engine route (when measured): `import --via-docker` against the seed's loader "
    "(`docker load` + `tag` + `push` per image, from tars its packager wrote with `docker "
    "pull` + `docker save`, made untimed), engine wiped and registry emptied before each; "
    "digests change on that route by design.",
]


def write_results(
    results: Sequence[SizeResult],
    rows: Sequence[tuple[str, Row]],
    info: list[str],
    stamp: Stamp,
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
        stamp.line(),
        "",
        "Load average (1, 5, 15 min) on this shared machine: "
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
    cache = (
        "`sync` and `echo 3 > /proc/sys/vm/drop_caches` before every timed run (cold, both)."
        if drop_caches
        else "`sync` before every timed run; page cache NOT dropped (not root: warm, both)."
    )
    out += ["", *(line.format(cache=cache) for line in MEASURED), "", "## Every sample (seconds)"]
    out.append("")
    for r in results:
        for key, values in r.samples.items():
            out.append(f"- {r.size} {key}: " + ", ".join(f"{v:.2f}" for v in values))
        out.append(
            f"- {r.size} peak RSS per command (MiB): "
            + ", ".join(f"{k} {v / 1024:.1f}" for k, v in r.rss_kb.items())
            + f"; skopeo {r.skopeo_rss_kb / 1024:.1f}"
        )
    out += ["", "## Machine", "", *info, ""]
    old = RESULTS.read_text() if RESULTS.exists() else ""
    RESULTS.write_text("\n".join([*out, *other_sections(old)]))


# The sections write_results writes (and hand notes on the run it replaces); every other `## `
# section of RESULTS.md belongs to another family (the Delta section, templates.py's) and is
# kept as it is: `--only delta` and benchmarks/templates.py rewrite only their own.
OWN_SECTIONS = ("## What was measured", "## Every sample", "## Machine", "## Notes on this run")


def other_sections(text: str) -> list[str]:
    """The lines of RESULTS.md's sections that write_results does not write."""
    kept: list[str] = []
    keeping = False
    for line in text.splitlines():
        if line.startswith("## "):
            keeping = not line.startswith(OWN_SECTIONS)
        if keeping:
            kept.append(line)
    return kept
