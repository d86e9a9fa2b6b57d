"""The domain knows nothing of Textual, and the CLI does not pay for importing it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airgap_tui"
DOMAIN = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if p.name != "__main__.py" and "tui" not in p.relative_to(PACKAGE).parts
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_module_does_not_import_textual_or_the_tui(path: Path) -> None:
    imported = _imports(path)
    offending = {
        name
        for name in imported
        if name == "textual" or name.startswith(("textual.", "airgap_tui.tui"))
    }
    if path.relative_to(PACKAGE) == Path("cli", "commands.py"):  # lazily, in main(), on a TTY
        offending.discard("airgap_tui.tui.app")
    assert not offending, f"{path} imports {sorted(offending)}"


@pytest.mark.parametrize(
    "argv",
    [["catalog", "--json"], ["snippet", "--registry", "r.local:5000/a", "semgrep"], ["--help"]],
)
def test_cli_subcommands_never_load_textual(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from airgap_tui.cli.launch import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


SCREENS = sorted((PACKAGE / "tui" / "screens").glob("*.py"))
SHARED_SCREEN_MODULES = {"base", "long_work", "dialogs", "__init__"}


@pytest.mark.parametrize("path", SCREENS, ids=lambda p: p.name)
def test_a_screen_never_imports_another_step(path: Path) -> None:
    """Routing lives in tui/routes.py alone: no screen imports the next (no import circle)."""
    steps = {
        f"airgap_tui.tui.screens.{p.stem}" for p in SCREENS if p.stem not in SHARED_SCREEN_MODULES
    }
    imported = _imports(path)  # deferred imports too
    assert not (imported & steps) - {f"airgap_tui.tui.screens.{path.stem}"}
    assert "airgap_tui.tui.routes" not in imported
    if "airgap_tui.tui.app" in imported:
        assert _only_for_types(path, "airgap_tui.tui.app")


def _only_for_types(path: Path, module: str) -> bool:
    """`module` is imported only under `if TYPE_CHECKING:` in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    typing_only: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    typing_only.add(inner.module)
    return module in typing_only


def test_every_step_of_every_path_is_in_the_routing_table() -> None:
    from airgap_tui.tui import routes
    from airgap_tui.tui.state import PATH_EXPORT, PATH_IMPORT, PATH_SNIPPET

    assert routes.ROUTES[PATH_EXPORT].keys() == [
        "analyzers", "estimate", "destination", "write", "done"
    ]  # fmt: skip
    assert routes.ROUTES[PATH_IMPORT].keys() == [
        "import-bundle", "verify", "registry", "push", "snippet"
    ]  # fmt: skip
    assert routes.ROUTES[PATH_SNIPPET].keys() == ["analyzers", "registry", "snippet"]
    assert routes.next_step(PATH_SNIPPET, "analyzers") == routes.Step(
        routes.ROUTES[PATH_SNIPPET].steps[1].screen
    )
    assert routes.next_step(PATH_EXPORT, "done") is None
    assert routes.position(PATH_IMPORT, "registry") == ("Import a bundle", 3, 5)
