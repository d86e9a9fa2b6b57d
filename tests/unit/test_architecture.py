"""The domain knows nothing of Textual, and the CLI does not pay for importing it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airgap_tui"
DOMAIN = sorted(p for p in PACKAGE.glob("*.py") if p.name not in {"__main__.py"})


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: p.name)
def test_domain_module_does_not_import_textual_or_the_tui(path: Path) -> None:
    imported = _imports(path)
    offending = {
        name
        for name in imported
        if name == "textual" or name.startswith(("textual.", "airgap_tui.tui"))
    }
    if path.name == "cli.py":  # the wizard is imported lazily, inside main(), only on a TTY
        offending.discard("airgap_tui.tui.app")
    assert not offending, f"{path.name} imports {sorted(offending)}"


@pytest.mark.parametrize(
    "argv",
    [["catalog", "--json"], ["snippet", "--registry", "r.local:5000/a", "semgrep"], ["--help"]],
)
def test_cli_subcommands_never_load_textual(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from airgap_tui.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
