"""What the CLI prints: counts, JSON, the carried tool and delta lines, errors as one sentence."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airgap_tui.errors import AirgapError

if TYPE_CHECKING:
    from airgap_tui.bundle.manifest import DeltaTool
    from airgap_tui.bundle.trust import TrustReport
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


def _image_ages(
    images: Sequence[tuple[str, str | None, str | None]], max_age: int
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per "name:tag": its build date and age today (for --json), and the --max-age
    warnings; `images` are (label, built, analyzer) triples."""
    from datetime import UTC, datetime

    from airgap_tui.catalog.age import age_warnings, check_max_age, image_age

    now = datetime.now(UTC)
    ages = {label: image_age(built, now).to_dict() for label, built, _analyzer in images}
    return ages, age_warnings(images, now, check_max_age(max_age))


def _built_text(built: str | None) -> str:
    """`built 2026-11-20 (14 days old)` today, or `built: unknown`."""
    from datetime import UTC, datetime

    from airgap_tui.catalog.age import describe

    return f"built {describe(built, datetime.now(UTC))}" if built else "built: unknown"


def _pushed_detail(image: Any) -> str:
    """`digest kept ✓`, or the digest the registry now serves when it differs (the Docker
    route), or why the image is not there."""
    if image.error or not image.ok:
        return str(image.error or image.note)
    if image.digest_kept:
        detail = "digest kept ✓"
    else:
        detail = f"pushed as {image.pushed_digest} (upstream {image.source_digest})"
    return f"{detail} — {image.note}" if image.note else detail


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
    cached = ", from the cache" if result.tool_cache_hit else ""
    print(f"Carried tool: {result.tool.file} ({result.tool.size} bytes{cached})")
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


def _trust_json(trust: TrustReport | None) -> dict[str, Any] | None:
    """--json's view of the fingerprint carried and the signature (None: neither)."""
    return None if trust is None else trust.to_dict()


def _print_trust(trust: TrustReport | None) -> None:
    """The lines verify and import print about the trust that did not come on the stick."""
    if trust is None:
        print(
            "Trust: unsigned, no fingerprint carried: a stick rewritten on the way would pass. "
            "Give --expect-fingerprint HEX (from export's output, carried apart) or --trust "
            "ALLOWED_SIGNERS"
        )
        return
    if trust.fingerprint_matches is not None:
        verdict = "MATCHES" if trust.fingerprint_matches else "DOES NOT MATCH"
        print(f"Fingerprint carried: {verdict}")
    print(f"Signature: {trust.signed_by()}")
    if trust.signer is None and trust.signature is not None:
        from airgap_tui.bundle.signature import HAND_CHECK, ssh_keygen

        if ssh_keygen() is None:
            print(f"  this host has no ssh-keygen; check by hand elsewhere: {HAND_CHECK}")


def _print_carry_hint(fingerprint: str, signed_by: str | None) -> None:
    """How the fingerprint crosses apart from the stick, or that the bundle is signed."""
    from airgap_tui.bundle.manifest import format_fingerprint

    if signed_by is not None:
        print(
            f"Signed: bundle.yaml.sig by key {signed_by}. On the offline host: "
            "airgap-tui import BUNDLE --trust ALLOWED_SIGNERS (or verify with plain "
            "ssh-keygen -Y verify, namespace airgap-tui-bundle)"
        )
        return
    print(
        "Carry the fingerprint apart from the stick (on paper, a phone photo), then on the "
        "offline host: airgap-tui import BUNDLE --expect-fingerprint "
        f"'{format_fingerprint(fingerprint)}'. Or sign the bundle: export again with "
        "--sign-key KEY"
    )
