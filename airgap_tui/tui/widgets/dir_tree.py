"""A directory tree that lists directories only (bundles are directories).

The root is labelled `~` when it is the operator's home, so the tree reads the same on every
machine (and in snapshot tests, which point it at a temporary "home").
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual.widgets import DirectoryTree
from textual.widgets._directory_tree import DirEntry
from textual.widgets.tree import TreeNode


class DirsOnlyTree(DirectoryTree):
    def __init__(self, path: Path, *, home: Path | None = None, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self._root_label = str(path)
        if home is not None and (path == home or home in path.parents):
            self._root_label = str(Path("~") / path.relative_to(home)) if path != home else "~"

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        shown = []
        for path in paths:
            try:
                if path.is_dir() and not path.name.startswith("."):
                    shown.append(path)
            except OSError:  # an unreadable entry on a damaged stick: just skip it
                continue
        return shown

    def render_label(self, node: TreeNode[DirEntry], base_style: Style, style: Style) -> Text:
        if node is self.root:
            return Text(f"{self.ICON_NODE_EXPANDED}{self._root_label}", style=base_style + style)
        return super().render_label(node, base_style, style)


class ReceiptTree(DirsOnlyTree):
    """Directories and the JSON files in them: receipts and inventories are picked as files."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        shown = []
        for path in paths:
            try:
                if path.name.startswith("."):
                    continue
                if path.is_dir() or (path.is_file() and path.suffix == ".json"):
                    shown.append(path)
            except OSError:  # an unreadable entry on a damaged stick: just skip it
                continue
        return shown
