"""The offline host's commands: verify, import, inventory, snippet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airgap_tui.cli.options import _read_credentials
from airgap_tui.cli.progress import _cancel_on_sigint, _progress
from airgap_tui.cli.render import (
    EXIT_FAILED,
    EXIT_OK,
    _count,
    _print_json,
    _print_verify_tool,
    _verify_tool_json,
)
from airgap_tui.errors import UsageError
from airgap_tui.models import (
    DEFAULT_GITLAB_MAJOR,
    DEFAULT_SOURCE_PREFIX,
)


def cmd_verify(args: argparse.Namespace) -> int:
    from airgap_tui.bundle.verify import verify_bundle
    from airgap_tui.bundle.writer import format_fingerprint

    with _cancel_on_sigint() as cancel, _progress(args) as progress:
        report = verify_bundle(args.bundle, progress=progress, cancel=cancel)
    if args.json:
        _print_json(
            {
                "ok": report.ok,
                "fingerprint": report.fingerprint,
                "tool": _verify_tool_json(report),
                "problems": [{"file": p.file, "message": p.message} for p in report.problems],
                "warnings": report.warnings,
                **({"delta": report.manifest.delta.to_dict()} if report.manifest.delta else {}),
            }
        )
    else:
        for w in report.warnings:
            print(f"warning: {w}", file=sys.stderr)
        for p in report.problems:
            print(f"airgap-tui: {p.file}: {p.message}", file=sys.stderr)
        verdict = "OK: every part is present and matches" if report.ok else "FAILED"
        print(f"{verdict} ({args.bundle})")
        if report.manifest.delta is not None:
            delta = report.manifest.delta
            print(
                f"Delta bundle against {delta.kind} {delta.against[:12]}: it expects "
                f"{_count(len(delta.expected), 'layer')} already in the target registry"
            )
        if report.fingerprint:
            print(f"Fingerprint: {format_fingerprint(report.fingerprint)}")
            print(f"  full: {report.fingerprint}")
        _print_verify_tool(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_import(args: argparse.Namespace) -> int:
    from airgap_tui.bundle.writer import format_fingerprint
    from airgap_tui.events import STAGE_BLOB, Progress
    from airgap_tui.importer.run import ImportRequest, import_bundle
    from airgap_tui.registry.reference import split_prefix

    split_prefix(args.registry)
    credentials = _read_credentials(args)
    engine = None
    if args.via_docker:  # the straight route never loads the docker SDK
        from airgap_tui.bundle.schema import read_manifest
        from airgap_tui.importer.engine import Engine
        from airgap_tui.importer.run import refuse_delta_via_docker

        refuse_delta_via_docker(read_manifest(args.bundle), args.bundle)  # before any engine

        engine = Engine.connect()
    request = ImportRequest(
        bundle_dir=args.bundle,
        registry=args.registry,
        verify=not args.no_verify,
        credentials=credentials,
        ca_file=args.ca_file,
        receipt_dir=args.receipt_dir,
        via_docker=args.via_docker,
    )
    with _cancel_on_sigint() as cancel, _progress(args) as progress:

        def per_image(event: Progress) -> None:
            """One bar per image; its blobs (a bar each would be dozens) only when retried."""
            if event.stage != STAGE_BLOB:
                progress(event)
            elif event.message.startswith("retry") and not args.json:
                print(f"airgap-tui: {event.item}: {event.message}", file=sys.stderr)

        result = import_bundle(request, engine, progress=per_image, cancel=cancel)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in result.problems:
        print(f"airgap-tui: {problem}", file=sys.stderr)
    if result.problems:
        print(
            "airgap-tui: the bundle failed verification; nothing was pushed. "
            "Copy the named parts again from the connected host.",
            file=sys.stderr,
        )
    for image in result.images:
        if not image.ok and image.error and not result.problems:
            print(f"airgap-tui: {image.target}: {image.error}", file=sys.stderr)
    if args.json:
        _print_json(
            {
                "ok": result.ok,
                "fingerprint": result.fingerprint,
                "verified": result.verified,
                "problems": result.problems,
                "warnings": result.warnings,
                "receipt": str(result.receipt_path) if result.receipt_path else None,
                "route": result.route,
                "images": [i.to_dict() for i in result.images],
            }
        )
    else:
        print(
            f"Fingerprint: {format_fingerprint(result.fingerprint)} "
            f"({'verified' if result.verified else 'NOT verified'})"
        )
        for i in result.images:
            mark = "ok  " if i.ok else ("skip" if i.settled else "FAIL")
            detail = i.error or i.note or i.pushed_digest
            if i.ok and not i.digest_kept:
                detail += f" (upstream {i.source_digest})"
            print(f"  {mark} {i.target:<50} {i.status} {detail}")
        if result.receipt_path:
            print(f"Receipt: {result.receipt_path}")
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_inventory(args: argparse.Namespace) -> int:
    from airgap_tui.delta.inventory import default_inventory_path, take_inventory, write_inventory
    from airgap_tui.events import Progress
    from airgap_tui.registry.client import RegistryClient
    from airgap_tui.registry.reference import split_prefix

    host, path = split_prefix(args.registry)
    credentials = _read_credentials(args)
    out: Path = args.out or default_inventory_path(host)
    show = not args.json and sys.stderr.isatty()

    def progress(event: Progress) -> None:
        if show and event.message:
            print(f"inventory: {event.done + 1}/{event.total} {event.message}", file=sys.stderr)

    with (
        _cancel_on_sigint() as cancel,
        RegistryClient(
            host,
            credentials=credentials,
            ca_file=args.ca_file,
            insecure=True if args.insecure else None,
            cancel=cancel,
        ) as client,
    ):
        client.ping()  # a wrong address, TLS or credentials fail here, with their own words
        inventory = take_inventory(
            client, path, registry=args.registry, progress=progress, cancel=cancel
        )
    sha = write_inventory(inventory, out)
    for warning in inventory.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        _print_json(
            {
                "ok": True,
                "inventory": str(out),
                "sha256": sha,
                "registry": inventory.registry,
                "repositories": len(inventory.repositories),
                "tags": inventory.tag_count,
                "blobs": len(inventory.blobs),
                "blob_bytes": inventory.blob_bytes,
                "warnings": inventory.warnings,
            }
        )
    else:
        import humanize

        print(
            f"Inventory of {inventory.registry}: {len(inventory.repositories)} repositories, "
            f"{inventory.tag_count} tags, {len(inventory.blobs)} blobs "
            f"({humanize.naturalsize(inventory.blob_bytes)})"
        )
        print(f"Written: {out}")
        print(f"  sha256: {sha}")
        print(
            "On the connected host: airgap-tui export … --delta-from "
            f"{out.name} — the bundle then carries only the layers this registry lacks."
        )
    return EXIT_OK


def cmd_snippet(args: argparse.Namespace) -> int:
    from airgap_tui.catalog.load import load_catalog
    from airgap_tui.catalog.snippet import render_snippet, save_snippet
    from airgap_tui.registry.reference import split_prefix

    split_prefix(args.registry)
    if args.bundle and args.analyzers:
        raise UsageError(
            "snippet", "give either --bundle or analyzer names, not both", "Drop one of them"
        )
    major = args.gitlab or DEFAULT_GITLAB_MAJOR
    if args.bundle:
        from airgap_tui.bundle.schema import read_manifest

        manifest = read_manifest(args.bundle)
        images = [(i.name, i.tag) for i in manifest.images]
        major = args.gitlab or manifest.gitlab_major or DEFAULT_GITLAB_MAJOR
    elif args.analyzers:
        catalog = load_catalog()
        specs = [
            catalog.resolve(s, major, DEFAULT_SOURCE_PREFIX, fips=args.fips) for s in args.analyzers
        ]
        images = [(s.name, s.tag) for s in specs]
    else:
        raise UsageError("snippet", "no analyzers given", "Name analyzers or pass --bundle DIR")
    text = render_snippet(args.registry, images, major)
    if args.out is not None and not save_snippet(args.out, text, overwrite=args.force):
        raise UsageError(
            f"Snippet file {args.out}", "it exists already", "Pass --force to replace it"
        )
    if args.json:
        _print_json({"ok": True, "snippet": text, "images": [f"{n}:{t}" for n, t in images]})
    else:
        sys.stdout.write(text)
    return EXIT_OK
