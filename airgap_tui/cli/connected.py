"""The connected host's commands: catalog, tags, estimate, export, tool."""

from __future__ import annotations

import argparse
import sys

from airgap_tui.cli.from_templates import request_lines, request_major, request_selection
from airgap_tui.cli.guesses import rows_for_unknown_major, upstream_guesses
from airgap_tui.cli.options import _client_factory, _platforms
from airgap_tui.cli.progress import _cancel_on_sigint, _progress
from airgap_tui.cli.render import (
    EXIT_FAILED,
    EXIT_OK,
    _count,
    _delta_lines,
    _estimate_tool_json,
    _print_estimate_tool,
    _print_export_tool,
    _print_json,
)
from airgap_tui.errors import UsageError


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
        _print_json(
            {
                "gitlab": args.gitlab,
                "complete": unknown is None and catalog.is_complete(args.gitlab),
                "note": rows[0].note if unknown else catalog.major_note(args.gitlab),
                "analyzers": [
                    {
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
                        "also": [
                            {"tag": o.tag, "template": o.template, "source": o.source}
                            for o in a.also
                        ],
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
                    for a in rows
                ],
                "limits": [
                    {"id": x.id, "applies_to": list(x.applies_to) or "all", "text": x.text}
                    for x in limits
                ],
            }
        )
        return EXIT_OK
    width = max((len(a.name) for a in rows), default=10)
    print(f"Analyzers for GitLab {args.gitlab} (pulled as <source-prefix>/<path>:<tag>):")
    if unknown is not None:
        print(f"  {rows[0].note}.")
    elif not catalog.is_complete(args.gitlab):
        print(f"  {catalog.major_note(args.gitlab)}")
    if guesses:
        print(
            "  Tags marked (guess) are the newest major tag upstream, not read from a GitLab "
            "template: check them, or run `airgap-tui request --templates DIR` offline."
        )
    elif any(a.needs_tag for a in rows):
        print("  ? : `--guess` proposes the newest major tag upstream (a guess).")
    for a in rows:
        flag = " (removed)" if a.removed else " (deprecated)" if a.deprecated else ""
        tag = f"{a.tag}{'+fips' if a.fips_tag else ''}" if a.tag else "?"
        if a.name in guesses:
            tag = guesses[a.name].label
            if guesses[a.name].tag is None:
                flag += f" [{guesses[a.name].why}]"
        print(f"  {a.name:<{width}}  {tag:<9} {a.category:<20} {a.note}{flag}".rstrip())
    print("Tags marked +fips also exist as <tag>-fips. What the registry prefix cannot fix:")
    for x in limits:
        print(f"  - {x.text}")
    return EXIT_OK


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
    import humanize

    from airgap_tui.delta.bundle import delta_layout, load_delta_from
    from airgap_tui.delta.delta import merge_presence
    from airgap_tui.export.estimate import estimate
    from airgap_tui.export.tool_choice import mark_left_out, tool_left_out

    specs, asked, request = request_selection(args)
    presence = load_delta_from(args.delta_from)  # a bad file is refused before any request
    if asked is not None:
        presence = asked if presence is None else merge_presence([presence, asked])
    if request is not None and not args.json:
        print("\n".join(request_lines(request)))
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
    delta = None
    if presence is not None and result.resolved:
        delta = mark_left_out(delta_layout(result.resolved, presence, full=result.layout), held)
    if args.json:
        no_totals = {} if result.sized else dict.fromkeys(TOTALS)  # nothing to size: null
        _print_json(
            {
                "ok": not missing,
                "download_bytes": result.download_bytes,
                "bundle_bytes": result.bundle_bytes,
                **({"delta": delta.to_dict()} if delta is not None else {}),
                **_estimate_tool_json(result),
                **no_totals,
                "left_out": [i.spec.label for i in result.left_out],
                "platforms": result.platforms,
                "images": [
                    {
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
                    }
                    for i in result.images
                ],
            }
        )
    else:
        for i in result.images:
            if i.status == "missing":
                print(f"  {i.spec.label:<32} MISSING: {i.error}")
            elif i.error:  # no answer, a login, TLS: said once below, not per image
                print(f"  {i.spec.label:<32} {i.status}")
            else:
                print(
                    f"  {i.spec.label:<32} download {humanize.naturalsize(i.download_bytes):>10}"
                    f"   on media {humanize.naturalsize(i.media_bytes):>10}"
                )
        if not result.sized:
            print(f"No totals: none of the {_count(len(missing), 'image')} could be sized.")
        else:
            print(
                f"Download: {humanize.naturalsize(result.download_bytes)} "
                f"({result.download_bytes} bytes)"
            )
            print(
                f"Bundle on the media: {humanize.naturalsize(result.bundle_bytes)} "
                f"({result.bundle_bytes} bytes, exact)"
            )
            if delta is not None:
                print("\n".join(_delta_lines(delta)))
            _print_estimate_tool(result, delta)
            if missing:
                print(
                    f"These totals leave out {_count(len(missing), 'image')} that could not "
                    f"be sized: {', '.join(i.spec.label for i in missing)}"
                )
    errors = [i.error for i in missing if i.error]
    for problem in result.problems:
        if problem not in errors:
            print(f"airgap-tui: warning: {problem}", file=sys.stderr)
    for error in dict.fromkeys(errors):  # an unreachable registry is said once
        print(f"airgap-tui: {error}", file=sys.stderr)
    return EXIT_FAILED if missing else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from airgap_tui.bundle.parts import parse_size
    from airgap_tui.bundle.writer import format_fingerprint
    from airgap_tui.export.run import ExportRequest, export_bundle

    if args.no_tool and args.with_tool:
        raise UsageError(
            "Export", "--no-tool and --with-tool ask for opposite things", "Give one of them"
        )
    part_size = parse_size(args.part_size)
    specs, asked, templates_request = request_selection(args)
    platforms = _platforms(args)
    if templates_request is not None and not args.json:
        print("\n".join(request_lines(templates_request)))
    request = ExportRequest(
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
        with_tool=args.with_tool,
    )
    with _cancel_on_sigint() as cancel, _progress(args) as progress:
        result = export_bundle(
            request,
            progress=progress,
            cancel=cancel,
            client_factory=_client_factory(args, cancel),
        )
    if args.json:
        _print_json(
            {
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
                "problems": result.problems,
                "warnings": result.warnings,
                "seconds": result.seconds,
                **({"delta": result.delta.to_dict()} if result.delta is not None else {}),
            }
        )
    else:
        import humanize

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
            return EXIT_FAILED
        print(f"Fingerprint: {format_fingerprint(result.fingerprint)}")
        print(f"  full: {result.fingerprint}")
        _print_export_tool(result)
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_tool(args: argparse.Namespace) -> int:
    from airgap_tui.toolpack.toolpack import write_tool

    with _cancel_on_sigint() as cancel, _progress(args) as progress:
        info = write_tool(args.out, progress=progress, cancel=cancel, create=True)
    path = args.out / info.file
    if args.json:
        _print_json({"ok": True, "file": str(path), "size": info.size, "sha256": info.sha256})
    else:
        print(f"Wrote {path} ({info.size} bytes)")
        print(f"sha256: {info.sha256}")
        print(f"On the offline host, check the sha256 first, then: python3 {path} --help")
    return EXIT_OK
