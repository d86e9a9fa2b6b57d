"""The package stays readable: no module over 450 lines, no function over 60 (issue 18).

ruff holds complexity and statement counts (C90, PLR0915 in pyproject.toml); this holds length.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "airgap_tui"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _long_functions(path: Path, root: Path = PACKAGE) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length})")
    return found


def test_no_module_is_over_450_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_function_is_over_60_lines() -> None:
    long = [f for p in sorted(PACKAGE.rglob("*.py")) for f in _long_functions(p)]
    assert not long, long


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    sample = tmp_path / "sample.py"
    sample.write_text(f"def long() -> None:\n{body}\n")
    assert _long_functions(sample, tmp_path) == [f"sample.py:1 long ({MAX_FUNCTION_LINES + 1})"]
