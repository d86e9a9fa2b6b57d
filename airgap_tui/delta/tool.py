"""Whether a delta needs the carried tool: the receipts and inventories say which airgap-tui the
offline host ran (its version, and the sha256 of the airgap-tui.pyz it ran from, if any).

Same tool, left out: the archive the export would write has that sha256, or the offline host
runs an installed airgap-tui of this version (no archive to compare). Anything else, or nothing
recorded (a file older than this field), carries the tool: when in doubt the stick brings it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOL_VERSION_KEY = "tool_version"
TOOL_SHA256_KEY = "tool_sha256"
MAX_VERSION_LENGTH = 64


@dataclass(frozen=True)
class HeldTool:
    """The airgap-tui a receipt or inventory names (`source`: that file)."""

    version: str
    sha256: str | None
    source: Path

    def to_dict(self) -> dict[str, Any]:
        """bundle.yaml's `delta.tool`: the tool this delta counts on (it is not carried)."""
        return {"version": self.version, "sha256": self.sha256}


def valid_version(value: str) -> bool:
    """What a receipt's `tool_version` may be: short and printable (it is only compared)."""
    return 0 < len(value) <= MAX_VERSION_LENGTH and value.isprintable()


def is_sha256(value: object) -> bool:
    """64 lowercase hex digits, as airgap-tui writes a `tool_sha256`."""
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def read_held_tool(
    data: Mapping[str, Any], source: Path, fail: Callable[[str, str], Exception]
) -> HeldTool | None:
    """A receipt's or inventory's `tool_version` and `tool_sha256` (`fail(field, problem)`
    makes the error that names the file); a file older than these fields names no tool."""
    if TOOL_VERSION_KEY not in data:
        return None
    version = data[TOOL_VERSION_KEY]
    if not isinstance(version, str) or not valid_version(version):
        raise fail(TOOL_VERSION_KEY, f"{str(version)[:80]!r} is not a version")
    sha = data.get(TOOL_SHA256_KEY)
    if sha is not None and not is_sha256(sha):
        raise fail(TOOL_SHA256_KEY, "it is neither null nor a sha256 (64 lowercase hex digits)")
    return HeldTool(version, sha, source)


def needs_archive_sha(held: Iterable[HeldTool], version: str) -> bool:
    """True when only the sha256 of the archive the export builds can decide (an offline
    archive of this version); False when the version alone decides, either way."""
    tools = list(held)
    if matching_tool(tools, version, None) is not None:
        return False
    return any(t.sha256 is not None and t.version == version for t in tools)


def matching_tool(
    held: Sequence[HeldTool], version: str, archive_sha: str | None
) -> HeldTool | None:
    """The held tool that makes carrying ours needless, or None (carry it).

    `archive_sha`: the sha256 of the airgap-tui.pyz this export would write (None when not
    known yet). A held archive matches by its sha256; a held installed airgap-tui by version."""
    for tool in held:
        if tool.sha256 is None and tool.version == version:
            return tool
    if archive_sha is not None:
        for tool in held:
            if tool.sha256 == archive_sha:
                return tool
    return None


def decide(
    held: Sequence[HeldTool], version: str, archive_sha: Callable[[], str]
) -> HeldTool | None:
    """matching_tool, asking for the archive's sha256 (a build, or the cache) only if needed."""
    found = matching_tool(held, version, None)
    if found is None and needs_archive_sha(held, version):
        found = matching_tool(held, version, archive_sha())
    return found
