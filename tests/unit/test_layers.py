"""The domain's packages stay layered the way docs/architecture.md draws them.

Every import counts: top-level, deferred inside functions, and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airgap_tui"
SHARED = {"errors", "events", "models"}
# The image-reference grammar: pure parsing, no HTTP; the shared models name images with it.
PURE_REGISTRY = {"airgap_tui.registry.oci", "airgap_tui.registry.reference"}
NETWORK_LIBRARIES = {"requests", "urllib3", "docker", "socket", "http", "urllib.request", "ssl"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    yield f"{node.module}.{alias.name}"


def _ours(path: Path) -> set[str]:
    return {name for name in _imports(path) if name in MODULES}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations(stage: str, allowed: set[str] | None = None, **forbidden: set[str]) -> list[str]:
    found = []
    for module, path in MODULES.items():
        if _stage(module) != stage:
            continue
        for target in _ours(path):
            if target in (allowed or set()):
                continue
            if _stage(target) in forbidden.get("stages", set()):
                found.append(f"{module} imports {target}")
            if target in forbidden.get("modules", set()):
                found.append(f"{module} imports {target}")
        for name in _imports(path):
            root = name.split(".")[0]
            if name in forbidden.get("libraries", set()) or root in forbidden.get(
                "libraries", set()
            ):
                found.append(f"{module} imports {name}")
    return found


REGISTRY_CLIENT = (
    {m for m in MODULES if _stage(m) == "registry"} - PURE_REGISTRY - {"airgap_tui.registry"}
)
FRONTS = {"cli", "tui"}


def test_registry_knows_no_bundle_and_no_pipeline() -> None:
    assert not _violations(
        "registry", stages={"bundle", "export", "importer", "delta", "catalog", "toolpack"} | FRONTS
    )


def test_bundle_knows_no_registry_client_and_no_pipeline() -> None:
    assert not _violations(
        "bundle",
        modules=REGISTRY_CLIENT,
        stages={"export", "importer", "delta", "catalog"} | FRONTS,
        libraries={"requests", "docker"},
    )


def test_gitlab_api_knows_no_bundle_and_no_pipeline() -> None:
    assert not _violations(
        "gitlab", stages={"bundle", "export", "importer", "delta", "toolpack"} | FRONTS
    )


def test_catalog_has_no_network_code() -> None:
    assert not _violations(
        "catalog",
        modules=REGISTRY_CLIENT,
        stages={"export", "importer", "delta", "toolpack"} | FRONTS,
        libraries=NETWORK_LIBRARIES,
    )


@pytest.mark.parametrize("stage", ["registry", "catalog", "bundle", "export", "importer", "delta",
                                   "toolpack", "gitlab", *sorted(SHARED)])  # fmt: skip
def test_nothing_below_the_fronts_imports_them(stage: str) -> None:
    assert not _violations(stage, stages=FRONTS)


def test_shared_modules_import_only_each_other() -> None:
    for module in SHARED:
        path = MODULES[f"airgap_tui.{module}"]
        outside = {t for t in _ours(path) if _stage(t) not in SHARED} - PURE_REGISTRY
        assert not outside, f"{module} imports {sorted(outside)}"


def test_importing_is_acyclic_even_counting_type_checking_and_deferred_imports() -> None:
    graph = {m: _ours(p) - {m} for m, p in MODULES.items()}
    # A package's __init__ is imported on the way to any of its modules.
    for module in MODULES:
        parent = module.rsplit(".", 1)[0]
        if parent in MODULES and parent != module and module != "airgap_tui":
            graph[module].add(parent) if parent != "airgap_tui" else None
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_layer_check_sees_a_planted_violation(tmp_path: Path) -> None:
    """The checks above can fail: a registry module importing the bundle is caught."""
    planted = PACKAGE / "registry" / "oci.py"
    tree = {**MODULES}
    fake = tmp_path / "oci.py"
    fake.write_text(
        planted.read_text() + "\nfrom airgap_tui.bundle.manifest import BundleManifest\n"
    )
    MODULES["airgap_tui.registry.oci"] = fake
    try:
        assert _violations("registry", stages={"bundle"}) == [
            "airgap_tui.registry.oci imports airgap_tui.bundle.manifest"
        ]
    finally:
        MODULES.clear()
        MODULES.update(tree)
