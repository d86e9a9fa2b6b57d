"""Whether an export carries airgap-tui.pyz: not with --no-tool; always with --with-tool; and a
delta leaves it out when its receipts or inventories say the offline host holds the same tool
(issue 22), which bundle.yaml's `delta.tool` then records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from airgap_tui import __version__
from airgap_tui.bundle.manifest import DeltaTool
from airgap_tui.delta.bundle import DeltaLayout
from airgap_tui.delta.delta import Presence
from airgap_tui.delta.tool import HeldTool, decide
from airgap_tui.events import CancelToken
from airgap_tui.toolpack.cache import carried_sha256


def tool_left_out(
    *,
    tool: bool,
    with_tool: bool,
    presence: Presence | None,
    cancel: CancelToken | None = None,
    archive_sha: Callable[[], str] | None = None,
) -> HeldTool | None:
    """The tool the offline host holds that makes carrying ours needless, else None. The
    archive is built (or taken from the user's cache) only when its sha256 decides;
    `archive_sha`: how to have it (an export asks its ToolBuilder, already under way)."""
    if not tool or with_tool or presence is None:
        return None
    sha = archive_sha or (lambda: carried_sha256(cancel=cancel))
    return decide(presence.tools, __version__, sha)


def mark_left_out(delta: DeltaLayout, held: HeldTool | None) -> DeltaLayout:
    """The delta with `delta.tool` set when the tool is left out."""
    if held is None:
        return delta
    return replace(delta, delta=replace(delta.delta, tool=DeltaTool(held.version, held.sha256)))
