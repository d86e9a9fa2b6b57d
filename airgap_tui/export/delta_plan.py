"""What a delta export leaves out: the offline side's presence (its receipts or inventories, and
what a request file carries) and the delta's layout planned from the estimate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from airgap_tui.delta.bundle import DeltaLayout, delta_layout, load_delta_from
from airgap_tui.delta.delta import Presence, merge_presence
from airgap_tui.delta.tool import HeldTool
from airgap_tui.export.estimate import Estimate
from airgap_tui.export.tool_choice import mark_left_out


def offline_presence(delta_from: Sequence[Path], carried: Presence | None) -> Presence | None:
    """The --delta-from files merged with a request file's inventory (`carried`); None for a
    full bundle. A bad file is refused here, before any registry request."""
    presence = load_delta_from(delta_from)
    if carried is not None:
        presence = carried if presence is None else merge_presence([presence, carried])
    return presence


def delta_for(
    sizes: Estimate, presence: Presence | None, held: HeldTool | None
) -> DeltaLayout | None:
    """The delta's layout (layers the presence lists left out, and the tool when `held`), or
    None for a full bundle."""
    if presence is None:
        return None
    return mark_left_out(delta_layout(sizes.resolved, presence, full=sizes.layout), held)
