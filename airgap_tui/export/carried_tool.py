"""The airgap-tui.pyz an export carries: the room it needs on the media, and writing it.

It is built (or taken from the user's cache) and written into the bundle directory on a thread
beside the downloads (toolpack/builder.py); after the parts, only what is left of that is waited
for, before bundle.yaml.
"""

from __future__ import annotations

from pathlib import Path

from airgap_tui.bundle.manifest import BundlePart, ToolFile
from airgap_tui.errors import Cancelled
from airgap_tui.events import CancelToken, Progress, ProgressCallback
from airgap_tui.export.estimate import Estimate, estimate_tool
from airgap_tui.export.resume import cancelled
from airgap_tui.toolpack.builder import ToolBuilder
from airgap_tui.toolpack.toolpack import STAGE_TOOL, TOOL_FILE


def tool_bytes(carried: bool, sizes: Estimate) -> int:
    """Room for airgap-tui.pyz on the media (estimated; 0 when it is not `carried`)."""
    if not carried:
        return 0
    return sizes.tool_bytes or estimate_tool()[0]


def write_carried_tool(
    dest: Path,
    builder: ToolBuilder | None,
    parts: list[BundlePart],
    progress: ProgressCallback,
    cancel: CancelToken,
) -> tuple[ToolFile | None, bool | None]:
    """airgap-tui.pyz as the builder wrote it beside the parts (an identical one is kept), and
    whether it came from the user's cache; only what is left of the build and its writing is
    waited for here, before bundle.yaml."""
    if builder is None:
        return None, None
    try:
        if not builder.done:
            progress(Progress(STAGE_TOOL, TOOL_FILE, 0, None, "packing the carried tool"))
        info = builder.written(cancel)
    except Cancelled as exc:
        raise cancelled(exc, dest, parts) from None
    progress(Progress(STAGE_TOOL, TOOL_FILE, info.size, info.size, builder.outcome, final=True))
    return ToolFile(info.file, info.size, info.sha256), info.cached
