"""What the CLI prints: counts, JSON, the carried tool and delta lines, errors as one sentence."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from airgap_tui.errors import AirgapError

if TYPE_CHECKING:
    from airgap_tui.bundle.manifest import DeltaTool
    from airgap_tui.bundle.verify import VerifyReport
    from airgap_tui.delta.bundle import DeltaLayout
    from airgap_tui.export.estimate import Estimate
    from airgap_tui.export.run import ExportResult


EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _delta_lines(delta: Any) -> list[str]:
    """Full and delta size side by side, for estimate and export."""
    import humanize

    files = ", ".join(str(p) for p in delta.sources)
    return [
        f"Delta against {delta.delta.kind} {files} ({delta.delta.against[:12]}): "
        f"{_count(len(delta.delta.expected), 'layer')} already offline left out",
        f"  full bundle {humanize.naturalsize(delta.full_bytes):>10} ({delta.full_bytes} bytes)"
        f"   delta {humanize.naturalsize(delta.delta_bytes):>10} ({delta.delta_bytes} bytes)"
        f"   saves {humanize.naturalsize(delta.saved_bytes)}",
    ]


def _fail(args: argparse.Namespace, exc: AirgapError) -> None:
    print(f"airgap-tui: {exc.sentence()}", file=sys.stderr)
    if getattr(args, "json", False):
        _print_json({"ok": False, "error": exc.sentence(), "kind": type(exc).__name__})


def _count(n: int, noun: str) -> str:
    """`1 part`, `2 parts`: never "1 parts"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, default=str))


def _estimate_tool_json(result: Estimate) -> dict[str, Any]:
    return {
        "exact": result.exact,  # bundle_bytes: exact; tool_bytes: estimated
        "tool_bytes": result.tool_bytes,
        "tool_exact": False,
        "tool_problem": result.tool_problem,
        "total_bytes": result.total_bytes,
    }


def _print_estimate_tool(result: Estimate, delta: DeltaLayout | None = None) -> None:
    import humanize

    held = delta.delta.tool if delta is not None else None
    if held is not None:
        print(f"Carried tool: left out of the delta: {_held_tool(held)} (--with-tool carries it)")
        return
    if result.tool_problem is not None:
        return  # said on stderr with the other warnings
    print(
        f"Carried tool airgap-tui.pyz: about {humanize.naturalsize(result.tool_bytes)} "
        f"({result.tool_bytes} bytes, estimated)"
    )
    print(
        f"Total on the media: about {humanize.naturalsize(result.total_bytes)} "
        f"({result.total_bytes} bytes)"
    )


def _print_export_tool(result: ExportResult) -> None:
    """The tool's sha256 next to the fingerprint, and the order that keeps it safe."""
    where = result.bundle_dir
    held = result.delta.delta.tool if result.delta is not None else None
    if result.tool is None and held is not None:
        print(f"Carried tool: left out: {_held_tool(held)}")
        print(
            "  Keep that airgap-tui there to import this delta (export with --with-tool to "
            "carry airgap-tui.pyz anyway)."
        )
        print(
            f"On the offline host: airgap-tui import {where} --registry <host[:port]/path> "
            "— and compare the fingerprint."
        )
        return
    if result.tool is None:
        print("Carried tool: none (--no-tool)")
        print(
            f"On the offline host: airgap-tui import {where} --registry <host[:port]/path> "
            "— and compare the fingerprint."
        )
        return
    print(f"Carried tool: {result.tool.file} ({result.tool.size} bytes)")
    print(f"  sha256: {result.tool.sha256}")
    print(
        "On the offline host: compare the fingerprint and the tool's sha256 (sha256sum "
        f"{result.tool.file}) BEFORE running it; then: python3 {where}/{result.tool.file} "
        f"import {where} --registry <host[:port]/path> (or an installed airgap-tui)."
    )


def _held_tool(tool: DeltaTool) -> str:
    """Which airgap-tui the receipt or inventory says the offline host holds."""
    if tool.sha256 is None:
        return f"the offline host runs an installed airgap-tui {tool.version}"
    return f"the offline host holds airgap-tui.pyz {tool.version}, sha256 {tool.sha256}"


def _print_verify_tool(report: VerifyReport) -> None:
    tool = report.tool
    held = report.manifest.delta.tool if report.manifest.delta is not None else None
    if tool is None and held is not None:
        print(f"Carried tool: left out of this delta: {_held_tool(held)}")
        return
    if tool is None:
        print("Carried tool: none listed (exported with --no-tool)")
        return
    print(f"Carried tool: {tool.file} {'matches' if report.tool_ok else 'FAILED: do not run it'}")
    print(f"  sha256: {tool.sha256}")


def _verify_tool_json(report: VerifyReport) -> dict[str, Any] | None:
    if report.tool is None:
        return None
    return {**report.tool.to_dict(), "ok": report.tool_ok}
