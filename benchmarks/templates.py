"""The template evaluator's time and memory, on GitLab's real templates and on hostile ones.

    .venv/bin/python benchmarks/templates.py          # writes RESULTS.md's "Templates" section

Issue 16 asks that a file that is not YAML, a variable that refers to itself, a 50 MB file and
an extends chain 10,000 long each end in a clear error with time and memory bounded. Each case
runs in a fresh Python process (so its peak RSS is its own): the wall time of the evaluation and
the process's peak RSS (ru_maxrss) are recorded, with the outcome (images found, or the error's
first words). Targets: every case under 20 s and 300 MiB on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "RESULTS.md"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "gitlab-templates"
TIME_TARGET_S = 20.0
RSS_TARGET_MIB = 300.0

# One case = (label, a function that writes the templates directory).
Writer = Callable[[Path], None]


def _real(major: str) -> Writer:
    def write(root: Path) -> None:
        for src in (FIXTURES / major).rglob("*.yml"):
            dest = root / src.relative_to(FIXTURES / major)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())

    return write


def _one(text: str) -> Writer:
    def write(root: Path) -> None:
        (root / "Jobs").mkdir(parents=True, exist_ok=True)
        (root / "Jobs" / "SAST.gitlab-ci.yml").write_text(text)

    return write


def _sparse(size: int) -> Writer:
    def write(root: Path) -> None:
        (root / "Jobs").mkdir(parents=True, exist_ok=True)
        with open(root / "Jobs" / "SAST.gitlab-ci.yml", "wb") as handle:
            handle.truncate(size)

    return write


def _chain(length: int) -> str:
    lines = ["job-0:", "  extends: .j1", "  image: $SECURE_ANALYZERS_PREFIX/x:1"]
    for i in range(1, length):
        lines += [f".j{i}:", f"  extends: .j{i + 1}"]
    lines += [f".j{length}:", "  script: [x]"]
    return "\n".join(lines) + "\n"


def _alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join([*lines, "job:", "  image: x:1", "  variables:", "    B: *a9"]) + "\n"


def _doubling() -> str:
    lines = ["variables:", "  V0: 'x'"] + [f"  V{i}: '$V{i - 1}$V{i - 1}'" for i in range(1, 41)]
    return "\n".join([*lines, "big:", "  image: $SECURE_ANALYZERS_PREFIX/x:$V40"]) + "\n"


def _many_jobs(size: int = 1_000_000) -> str:
    """Just under the 1 MiB per-file cap: thousands of real-looking jobs."""
    out: list[str] = []
    i = 0
    while sum(len(x) for x in out) < size:
        out.append(
            f"job-{i}:\n  image: $SECURE_ANALYZERS_PREFIX/a{i % 50}:$T\n  variables:\n"
            f"    T: '{i % 7}'\n  rules:\n    - if: $CI_COMMIT_BRANCH\n"
        )
        i += 1
    return "".join(out)


def _many_files(count: int, size: int) -> Writer:
    def write(root: Path) -> None:
        (root / "Security").mkdir(parents=True, exist_ok=True)
        body = "job:\n  image: x:1\n" + "#" * (size - 40) + "\n"
        for i in range(count):
            (root / "Security" / f"T{i}.gitlab-ci.yml").write_text(body)

    return write


def _two_job_files(root: Path) -> None:
    (root / "Jobs").mkdir(parents=True, exist_ok=True)
    for name in ("SAST", "SAST-IaC"):
        (root / "Jobs" / f"{name}.gitlab-ci.yml").write_text(_many_jobs(1_040_000))


CASES = [
    ("GitLab 15 templates", _real("15")),
    ("GitLab 17 templates", _real("17")),
    ("GitLab 18 templates", _real("18")),
    ("not YAML", _one("job: [unclosed\n  image: x\n" * 1000)),
    ("variable that refers to itself", _one("variables:\n  A: $A\nj:\n  image: x:$A\n")),
    ("50 MB file", _sparse(50 * 1024 * 1024)),
    ("extends chain 10,000 long", _one(_chain(10_000))),
    ("YAML alias bomb (10^10 nodes)", _one(_alias_bomb())),
    ("variable doubling 40 times", _one(_doubling())),
    ("1 MB file of jobs (the size cap)", _one(_many_jobs())),
    ("2 files of jobs, 2 MB (the set cap)", _two_job_files),
    ("60 security templates of 1 MB", _many_files(60, 1_000_000)),
]

CHILD = """
import json, resource, sys, time
from collections.abc import Callable
from pathlib import Path
from airgap_tui.catalog.template_model import TemplateError
from airgap_tui.catalog.templates import evaluate_templates, read_templates_dir
start = time.perf_counter()
try:
    images = evaluate_templates(read_templates_dir(Path(sys.argv[1]))).images
    outcome = f"{len(images)} images"
except TemplateError as exc:
    outcome = "error: " + exc.cause[:60]
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mib": rss, "outcome": outcome}))
"""


def run_case(label: str, write: object) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "templates"
        root.mkdir()
        write(root)  # type: ignore[operator]
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(root)],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
        )
    row: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    row["label"] = label
    return row


def section(rows: list[dict[str, object]]) -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    out = [
        "## Templates",
        "",
        f"`benchmarks/templates.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores, load average {load}. One fresh process "
        "per case: evaluation wall time and the process's peak RSS (Python and PyYAML "
        f"included). Targets: under {TIME_TARGET_S:.0f} s and {RSS_TARGET_MIB:.0f} MiB each.",
        "",
        "| case | time | peak RSS | outcome | within target |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        ok = row["seconds"] < TIME_TARGET_S and row["rss_mib"] < RSS_TARGET_MIB  # type: ignore[operator]
        out.append(
            f"| {row['label']} | {row['seconds']:.2f} s | {row['rss_mib']:.0f} MiB | "
            f"{row['outcome']} | {'yes' if ok else 'NO'} |"
        )
    return [*out, ""]


def splice(text: str, lines: list[str]) -> str:
    """Replace RESULTS.md's Templates section (up to the next `## `), or add it at the end."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = line.strip() == "## Templates"
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, "", *lines])


def main() -> int:
    rows = [run_case(label, write) for label, write in CASES]
    lines = section(rows)
    print("\n".join(lines))
    RESULTS.write_text(splice(RESULTS.read_text() if RESULTS.exists() else "", lines))
    print(f"written to the Templates section of {RESULTS.relative_to(REPO_ROOT)}")
    return 0 if all("| yes |" in x for x in lines if x.startswith("| ") and "case" not in x) else 1


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
