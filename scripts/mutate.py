"""Mutation check: break one safety check at a time and see whether the tests notice.

Each named mutation below turns off one thing the brief promises (the read-back, verify, the
digest check on push, the delta pre-check, the part-name check). For each, a copy of the
package is made with that one edit, the tests that guard it run against the copy, and the
mutation is *caught* when they fail. A mutation that *survives* is a hole in the tests.

    .venv/bin/python scripts/mutate.py            # all, a few minutes (real registries)
    .venv/bin/python scripts/mutate.py --list     # names, files, tests
    .venv/bin/python scripts/mutate.py verify-always-ok part-name-check-off

Needs what the integration tests need (root, docker-registry; see scripts/install-test-deps.sh).
First the chosen mutations' tests run once on an unmutated copy: they must pass there, or a
failure would prove nothing. Exit status: 0 when every mutation is caught, 1 when one survives,
2 when a mutation no longer applies (the code it edits moved: update it here).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "airgap_tui"


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str  # the check it turns off, in words
    file: str  # under airgap_tui/
    edits: tuple[tuple[str, str], ...]  # (exact text, replacement); each text occurs once
    tests: tuple[str, ...]  # pytest node ids or paths, fastest first


READBACK = "tests/integration/test_faults_readback.py"
MUTATIONS = (
    Mutation(
        "readback-off",
        "the export ignores what the read-back found (bad parts kept, bundle.yaml written)",
        "export/run.py",
        (("        if written.problems:\n", "        if False and written.problems:\n"),),
        (f"{READBACK}::test_the_domain_result_says_readback_failed", READBACK),
    ),
    Mutation(
        "readback-compare-off",
        "the read-back re-reads the media but never compares",
        "bundle/readback.py",
        (("                if block != expected:", "                if False:"),),
        ("tests/unit/test_readback.py", READBACK),
    ),
    Mutation(
        "verify-always-ok",
        "verify reads every part and reports no problem",
        "bundle/verify.py",
        (
            ("        ok=not problems,", "        ok=True,"),
            ("        problems=problems,", "        problems=[],"),
        ),
        (
            "tests/unit/test_bundle.py::test_verify_names_every_bad_file",
            "tests/integration/test_faults_bundle.py::test_damaged_part_fails_verify_naming_the_file",
            "tests/integration/test_import_native.py::test_a_corrupted_part_pushes_nothing",
        ),
    ),
    Mutation(
        "push-digest-check-off",
        "the push streams a blob from the media without checking its sha256",
        "importer/push.py",
        (
            (
                "self.reader.blob(blob, chunk_size=CHUNK_SIZE)",
                "self.reader.blob(blob, check=False, chunk_size=CHUNK_SIZE)",
            ),
        ),
        (
            "tests/integration/test_import_native.py"
            "::test_a_corrupted_blob_without_verify_never_reaches_the_registry",
        ),
    ),
    Mutation(
        "delta-precheck-off",
        "a delta import pushes without checking the target holds the blobs it leaves out",
        "delta/check.py",
        (
            (
                "    if not check.ok:\n        raise check.error(",
                "    if False:\n        raise check.error(",
            ),
        ),
        (
            "tests/integration/test_delta_native.py::test_a_delta_against_a_stale_receipt_is_refused",
            "tests/integration/test_delta_native.py"
            "::test_a_delta_into_a_bare_registry_is_refused_with_nothing_pushed",
        ),
    ),
    Mutation(
        "part-name-check-off",
        "bundle.yaml may name any file as a part (../, /etc/passwd, bundle.yaml)",
        "bundle/schema_fields.py",
        (("    if not is_safe_part_name(file):", "    if False:"),),
        (
            "tests/unit/test_bundle.py::test_hostile_part_names_are_refused_before_opening_anything",
            "tests/unit/test_bundle_manifest.py",
            "tests/integration/test_faults_bundle.py"
            "::test_hostile_manifest_is_refused_before_anything_outside_is_opened",
        ),
    ),
)


class NoLongerApplies(Exception):
    """The text a mutation edits is not in the file (once): the code moved."""


def make_copy(where: Path) -> Path:
    """The package, the tests and pyproject.toml; the engines' cache is shared, not copied."""
    copy = where / "tree"
    copy.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT / PACKAGE, copy / PACKAGE, ignore=ignore)
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    if (ROOT / ".cache").exists():
        (copy / ".cache").symlink_to((ROOT / ".cache").resolve())
    return copy


def apply(mutation: Mutation, copy: Path) -> None:
    path = copy / PACKAGE / mutation.file
    if not path.is_file():
        raise NoLongerApplies(f"{PACKAGE}/{mutation.file} does not exist")
    text = path.read_text(encoding="utf-8")
    for old, new in mutation.edits:
        count = text.count(old)
        if count != 1:
            raise NoLongerApplies(f"{old.strip()!r} occurs {count} times in {mutation.file}")
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def check_imports_the_copy(copy: Path) -> None:
    """The editable install must not win over the copy (else every mutation 'survives')."""
    found = subprocess.run(
        [sys.executable, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"mutate: the tests would import {found}, not the copy in {copy}")


@dataclass
class Run:
    code: int
    seconds: float
    first_failure: str
    tail: str


def run_tests(copy: Path, tests: tuple[str, ...], extra: list[str]) -> Run:
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *extra, *tests]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=copy, env=environment(copy), capture_output=True, text=True)
    output = done.stdout + done.stderr
    failure = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return Run(
        done.returncode,
        time.monotonic() - start,
        failure.group(1) if failure else "",
        "\n".join(output.strip().splitlines()[-15:]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutations to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--pytest-arg", action="append", default=[], help="passed to pytest")
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MUTATIONS}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        parser.error(f"unknown mutation {', '.join(unknown)}; --list shows them")
    chosen = [by_name[n] for n in args.names] if args.names else list(MUTATIONS)
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.what}\n  {PACKAGE}/{m.file}\n  tests: {' '.join(m.tests)}")
        return 0

    with tempfile.TemporaryDirectory(prefix="airgap-tui-mutate-") as tmp:
        if not args.no_baseline:
            copy = make_copy(Path(tmp) / "baseline")
            check_imports_the_copy(copy)
            tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
            print(f"baseline: {len(tests)} test selections on the unmutated package …", flush=True)
            base = run_tests(copy, tests, args.pytest_arg)
            if base.code != 0:
                print(f"baseline FAILED ({base.first_failure or 'see below'}):\n{base.tail}")
                return 2
            print(f"baseline passed in {base.seconds:.0f} s")
        rows: list[tuple[str, str, float, str]] = []
        for m in chosen:
            where = Path(tmp) / m.name
            where.mkdir()
            copy = make_copy(where)
            try:
                apply(m, copy)
            except NoLongerApplies as exc:
                rows.append((m.name, "NO LONGER APPLIES", 0.0, str(exc)))
                print(f"{m.name}: no longer applies: {exc}", flush=True)
                continue
            result = run_tests(copy, m.tests, args.pytest_arg)
            if result.code == 0:
                verdict, detail = "SURVIVED", "every test passed with the check turned off"
            elif result.code == 1:
                verdict, detail = "caught", result.first_failure
            else:  # collection error, usage error, interrupted: not a verdict
                verdict, detail = f"ERROR (pytest exit {result.code})", result.tail
            rows.append((m.name, verdict, result.seconds, detail))
            print(f"{m.name}: {verdict} in {result.seconds:.0f} s  {detail}", flush=True)
            shutil.rmtree(where, ignore_errors=True)

    print("\nmutation                  result             by")
    for name, verdict, _seconds, detail in rows:
        print(f"{name:<25} {verdict:<18} {detail.splitlines()[0] if detail else ''}")
    survived = [r[0] for r in rows if r[1] == "SURVIVED"]
    broken = [r[0] for r in rows if r[1] not in ("caught", "SURVIVED")]
    if survived:
        print(f"\nSURVIVED: {', '.join(survived)}: add a test that fails without that check.")
    if broken:
        print(f"\nNot run: {', '.join(broken)}: see above.")
        return 2
    if not survived:
        print(f"\nAll {len(rows)} mutations were caught.")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
