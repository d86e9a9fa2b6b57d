"""The connected host's commands: catalog, tags, estimate, export, tool."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from airgap_tui.cli.from_templates import request_lines, request_major, request_selection
from airgap_tui.cli.guesses import rows_for_unknown_major, upstream_guesses
from airgap_tui.cli.options import _client_factory, _platforms
from airgap_tui.cli.render import (
    EXIT_FAILED,
    EXIT_OK,
    _built_text,
    _count,
    _delta_lines,
    _estimate_tool_json,
    _image_ages,
    _print_carry_hint,
    _print_estimate_tool,
    _print_export_tool,
    _print_json,
)
from airgap_tui.cli.running import _cancel_on_sigint, _progress
from airgap_tui.errors import UsageError

if TYPE_CHECKING:
    from airgap_tui.catalog.catalog import Analyzer, Catalog, Limit
    from airgap_tui.catalog.guess import TagGuess
    from airgap_tui.delta.bundle import DeltaLayout
    from airgap_tui.delta.delta import Presence
    from airgap_tui.export.estimate import Estimate, ImageEstimate
    from airgap_tui.export.run import ExportRequest, ExportResult
    from airgap_tui.models import ImageSpec


def cmd_catalog(args: argparse.Namespace) -> int:
    from airgap_tui.catalog.load import load_catalog

    catalog = load_catalog()
    unknown = rows_for_unknown_major(catalog, args.gitlab) if args.guess else None
    if args.gitlab not in catalog.majors and unknown is None:
        raise UsageError(
            f"GitLab major {args.gitlab}",
            "the catalog has no data for it",
            f"Use one of {', '.join(map(str, catalog.majors))}, or add --guess for the newest "
            "tags upstream (a guess)",
        )
    if unknown is not None:
        rows = unknown
    else:
        rows = [a for a in catalog.analyzers(args.gitlab) if args.all or not a.removed]
    guesses = upstream_guesses(args, rows) if args.guess else {}
    limits = catalog.limits()
    if args.json:
        _print_json(_catalog_json(catalog, args.gitlab, rows, unknown, guesses, limits))
    else:
        _print_catalog(catalog, args.gitlab, rows, unknown, guesses, limits)
    return EXIT_OK


def _catalog_json(
    catalog: Catalog,
    major: int,
    rows: list[Analyzer],
    unknown: list[Analyzer] | None,
    guesses: dict[str, TagGuess],
    limits: list[Limit],
) -> dict[str, Any]:
    """`catalog --json`; `unknown`: the rows of a major newer than the catalog's, else None."""
    return {
        "gitlab": major,
        "complete": unknown is None and catalog.is_complete(major),
        "note": rows[0].note if unknown else catalog.major_note(major),
        "analyzers": [_analyzer_json(a, guesses) for a in rows],
        "limits": [
            {"id": x.id, "applies_to": list(x.applies_to) or "all", "text": x.text} for x in limits
        ],
    }


def _analyzer_json(a: Analyzer, guesses: dict[str, TagGuess]) -> dict[str, Any]:
    """One analyzer of `catalog --json`, with its upstream guess when --guess made one."""
    return {
        "name": a.name,
        "category": a.category,
        "path": a.path,
        "tag": a.tag,
        "why_no_tag": a.why_no_tag or None,
        "tag_source": a.tag_source or None,
        "fips_tag": a.fips_tag,
        "kind": a.kind,
        "source_ref": a.source_ref,
        "prefix_based": a.prefix_based,
        "enable": dict(a.enable),
        "also": [{"tag": o.tag, "template": o.template, "source": o.source} for o in a.also],
        "status": a.status,
        "deprecated": a.deprecated,
        "removed": a.removed,
        "default": a.default,
        "note": a.note,
        **(
            {"guess": guesses[a.name].tag, "guess_why": guesses[a.name].why}
            if a.name in guesses
            else {}
        ),
    }


def _print_catalog(
    catalog: Catalog,
    major: int,
    rows: list[Analyzer],
    unknown: list[Analyzer] | None,
    guesses: dict[str, TagGuess],
    limits: list[Limit],
) -> None:
    """`catalog` as text: a header, one line per analyzer, then what the prefix cannot fix."""
    width = max((len(a.name) for a in rows), default=10)
    print(f"Analyzers for GitLab {major} (pulled as <source-prefix>/<path>:<tag>):")
    if unknown is not None:
        print(f"  {rows[0].note}.")
    elif not catalog.is_complete(major):
        print(f"  {catalog.major_note(major)}")
    if guesses:
        print(
            "  Tags marked (guess) are the newest major tag upstream, not read from a GitLab "
            "template: check them, or run `airgap-tui request --templates DIR` offline."
        )
    elif any(a.needs_tag for a in rows):
        print("  ? : `--guess` proposes the newest major tag upstream (a guess).")
    for a in rows:
        print(_catalog_line(a, guesses, width))
    print("Tags marked +fips also exist as <tag>-fips. What the registry prefix cannot fix:")
    for x in limits:
        print(f"  - {x.text}")


def _catalog_line(a: Analyzer, guesses: dict[str, TagGuess], width: int) -> str:
    """One analyzer's line: name, tag (or its guess), category, note and status."""
    flag = " (removed)" if a.removed else " (deprecated)" if a.deprecated else ""
    tag = f"{a.tag}{'+fips' if a.fips_tag else ''}" if a.tag else "?"
    if a.name in guesses:
        tag = guesses[a.name].label
        if guesses[a.name].tag is None:
            flag += f" [{guesses[a.name].why}]"
    return f"  {a.name:<{width}}  {tag:<9} {a.category:<20} {a.note}{flag}".rstrip()


def cmd_tags(args: argparse.Namespace) -> int:
    from airgap_tui.catalog.load import load_catalog
    from airgap_tui.registry.client import RegistryClient

    spec = load_catalog().resolve(args.analyzer, args.gitlab, args.source_prefix)
    client = RegistryClient(spec.source.api_host, ca_file=args.ca_file)
    tags = client.tags(spec.source.repository)
    if args.json:
        _print_json({"image": f"{spec.source.registry}/{spec.source.repository}", "tags": tags})
    else:
        print("\n".join(tags))
    return EXIT_OK


TOTALS = ("download_bytes", "bundle_bytes", "total_bytes")  # null when no image resolved


def cmd_estimate(args: argparse.Namespace) -> int:
    from airgap_tui.delta.bundle import delta_layout
    from airgap_tui.export.estimate import estimate
    from airgap_tui.export.tool_choice import mark_left_out, tool_left_out

    specs, presence = _estimate_selection(args)
    held = tool_left_out(tool=True, with_tool=args.with_tool, presence=presence)
    with _progress(args) as progress:
        result = estimate(
            specs,
            platforms=_platforms(args),
            progress=progress,
            client_factory=_client_factory(args),
            tool=held is None,
        )
    missing = [i for i in result.images if i.error]
    ages, old = _image_ages(
        [(i.spec.label, i.built, i.spec.analyzer) for i in result.images if i.ok], args.max_age
    )
    delta = None
    if presence is not None and result.resolved:
        delta = mark_left_out(delta_layout(result.resolved, presence, full=result.layout), held)
    if args.json:
        _print_json(_estimate_json(result, delta, ages, ok=not missing))
    else:
        _print_estimate(result, delta)
    _warn_estimate_problems(result, missing, old)
    return EXIT_FAILED if missing else EXIT_OK


def _estimate_selection(args: argparse.Namespace) -> tuple[list[ImageSpec], Presence | None]:
    """The images to size and what the offline registry holds (--delta-from files and the
    request's inventory, merged); the request's summary is printed first, as text."""
    from airgap_tui.delta.bundle import load_delta_from
    from airgap_tui.delta.delta import merge_presence

    specs, asked, request = request_selection(args)
    presence = load_delta_from(args.delta_from)  # a bad file is refused before any request
    if asked is not None:
        presence = asked if presence is None else merge_presence([presence, asked])
    if request is not None and not args.json:
        print("\n".join(request_lines(request)))
    return specs, presence


def _estimate_json(
    result: Estimate,
    delta: DeltaLayout | None,
    ages: dict[str, dict[str, Any]],
    *,
    ok: bool,
) -> dict[str, Any]:
    """`estimate --json`: the totals, the delta when there is one, and every image."""
    no_totals = {} if result.sized else dict.fromkeys(TOTALS)  # nothing to size: null
    return {
        "ok": ok,
        "download_bytes": result.download_bytes,
        "bundle_bytes": result.bundle_bytes,
        **({"delta": delta.to_dict()} if delta is not None else {}),
        **_estimate_tool_json(result),
        **no_totals,
        "left_out": [i.spec.label for i in result.left_out],
        "platforms": result.platforms,
        "images": [_estimate_image_json(i, ages) for i in result.images],
    }


def _estimate_image_json(i: ImageEstimate, ages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": i.spec.name,
        "tag": i.spec.tag,
        "source": str(i.spec.source),
        "kind": i.kind,
        "digest": i.manifest_digest,
        "download_bytes": i.download_bytes,
        "media_bytes": i.media_bytes,
        "layers": len(i.layers),
        "shared_layers": sum(1 for x in i.layers if x.shared),
        "status": i.status,
        "error": i.error,
        "available_tags": i.available_tags,
        **ages.get(i.spec.label, {}),
    }


def _print_estimate(result: Estimate, delta: DeltaLayout | None) -> None:
    """`estimate` as text: a line per image, the totals, the delta and the carried tool."""
    import humanize

    for i in result.images:
        if i.status == "missing":
            print(f"  {i.spec.label:<32} MISSING: {i.error}")
        elif i.error:  # no answer, a login, TLS: said once below, not per image
            print(f"  {i.spec.label:<32} {i.status}")
        else:
            print(
                f"  {i.spec.label:<32} download {humanize.naturalsize(i.download_bytes):>10}"
                f"   on media {humanize.naturalsize(i.media_bytes):>10}"
                f"   {_built_text(i.built)}"
            )
    left_out = result.left_out
    if not result.sized:
        print(f"No totals: none of the {_count(len(left_out), 'image')} could be sized.")
        return
    print(
        f"Download: {humanize.naturalsize(result.download_bytes)} ({result.download_bytes} bytes)"
    )
    print(
        f"Bundle on the media: {humanize.naturalsize(result.bundle_bytes)} "
        f"({result.bundle_bytes} bytes, exact)"
    )
    if delta is not None:
        print("\n".join(_delta_lines(delta)))
    _print_estimate_tool(result, delta)
    if left_out:
        print(
            f"These totals leave out {_count(len(left_out), 'image')} that could not be "
            f"sized: {', '.join(i.spec.label for i in left_out)}"
        )


def _warn_estimate_problems(result: Estimate, missing: list[ImageEstimate], old: list[str]) -> None:
    """On stderr, in text and --json alike: warnings, then each distinct error once."""
    errors = [i.error for i in missing if i.error]
    for problem in [*result.problems, *old]:
        if problem not in errors:
            print(f"airgap-tui: warning: {problem}", file=sys.stderr)
    for error in dict.fromkeys(errors):  # an unreachable registry is said once
        print(f"airgap-tui: {error}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    from airgap_tui.cli.launch import adopt_early_tool
    from airgap_tui.export.run import export_bundle
    from airgap_tui.toolpack.child import ChildBuild

    request = _export_request(args)
    early = adopt_early_tool()
    tool_child = ChildBuild(early) if early is not None else None
    try:
        with _cancel_on_sigint() as cancel, _progress(args) as progress:
            result = export_bundle(
                request,
                progress=progress,
                cancel=cancel,
                client_factory=_client_factory(args, cancel),
                tool_child=tool_child,
            )
    finally:
        if tool_child is not None:
            tool_child.close()
    if args.json:
        _print_json(_export_json(result))
    else:
        _print_export(result)
    return EXIT_OK if result.ok else EXIT_FAILED


def _export_request(args: argparse.Namespace) -> ExportRequest:
    """The export the options ask for, every option checked before anything is downloaded;
    a request file's summary is printed first, as text."""
    from airgap_tui.bundle.parts import parse_size
    from airgap_tui.catalog.age import check_max_age
    from airgap_tui.export.run import ExportRequest

    if args.no_tool and args.with_tool:
        raise UsageError(
            "Export", "--no-tool and --with-tool ask for opposite things", "Give one of them"
        )
    part_size = parse_size(args.part_size)
    specs, asked, templates_request = request_selection(args)
    platforms = _platforms(args)
    if templates_request is not None and not args.json:
        print("\n".join(request_lines(templates_request)))
    return ExportRequest(
        specs=specs,
        dest=args.to,
        part_size=part_size,
        source_prefix=args.source_prefix,
        gitlab_major=request_major(templates_request, args.gitlab),
        presence=asked,
        platform=platforms[0],
        platforms=tuple(platforms),
        delta_from=tuple(args.delta_from),
        tool=not args.no_tool,
        sign_key=args.sign_key,
        max_age=check_max_age(args.max_age),
        with_tool=args.with_tool,
    )


def _export_json(result: ExportResult) -> dict[str, Any]:
    """`export --json`."""
    return {
        "ok": result.ok,
        "fingerprint": result.fingerprint,
        "bundle": str(result.bundle_dir),
        "bundle_bytes": result.bundle_bytes,
        "downloaded_bytes": result.downloaded_bytes,
        "images": result.images,
        "parts_written": result.parts_written,
        "parts_kept": result.parts_kept,
        "readback_ok": result.readback_ok,
        "tool": result.tool.to_dict() if result.tool is not None else None,
        "signed_by": result.signed_by,
        "tool_cached": result.tool_cache_hit,
        "image_ages": _image_ages(
            [(label, built, None) for label, built in result.images_built.items()], 0
        )[0],
        "problems": result.problems,
        "warnings": result.warnings,
        "seconds": result.seconds,
        **({"delta": result.delta.to_dict()} if result.delta is not None else {}),
    }


def _print_export(result: ExportResult) -> None:
    """`export` as text: problems and warnings on stderr, then the bundle, its images, the
    delta, the times, the fingerprint and the carried tool."""
    import humanize

    from airgap_tui.bundle.writer import format_fingerprint

    for problem in result.problems:
        print(f"airgap-tui: {problem}", file=sys.stderr)
    for warning in result.warnings:
        print(f"airgap-tui: warning: {warning}", file=sys.stderr)
    print(
        f"Bundle: {result.bundle_dir} ({humanize.naturalsize(result.bundle_bytes)}, "
        f"{_count(len(result.images), 'image')}; "
        f"{_count(len(result.parts_written), 'part')} written, "
        f"{len(result.parts_kept)} kept from an earlier run)"
    )
    print(f"Read-back check: {'passed' if result.readback_ok else 'FAILED'}")
    for label, built in result.images_built.items():
        print(f"  {label:<40} {_built_text(built)}")
    if result.delta is not None:
        print("\n".join(_delta_lines(result.delta)))
        print(
            "This delta imports only into the registry it was made against "
            "(not with --via-docker, not with docker load)."
        )
    if result.seconds:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items() if k != "checks")
        print(f"Time: {steps}")
    if not result.ok:  # no bundle.yaml: nothing to fingerprint or to carry yet
        print("The bundle is not complete: run the same export again to finish it.")
        return
    print(f"Fingerprint: {format_fingerprint(result.fingerprint)}")
    print(f"  full: {result.fingerprint}")
    _print_export_tool(result)
    _print_carry_hint(result.fingerprint, result.signed_by)


def cmd_tool(args: argparse.Namespace) -> int:
    from airgap_tui.toolpack.cache import write_cached_tool

    with _cancel_on_sigint() as cancel, _progress(args) as progress:
        info = write_cached_tool(args.out, progress=progress, cancel=cancel, create=True)
    path = args.out / info.file
    if args.json:
        _print_json(
            {
                "ok": True,
                "file": str(path),
                "size": info.size,
                "sha256": info.sha256,
                "cached": info.cached,
            }
        )
    else:
        cached = ", built before: taken from the cache" if info.cached else ""
        print(f"Wrote {path} ({info.size} bytes{cached})")
        print(f"sha256: {info.sha256}")
        print(f"On the offline host, check the sha256 first, then: python3 {path} --help")
    return EXIT_OK
