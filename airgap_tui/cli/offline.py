"""The offline host's commands: verify, import, inventory, snippet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgap_tui.cli.insecure import insecure_choice
from airgap_tui.cli.options import _read_credentials, _trust
from airgap_tui.cli.render import (
    EXIT_FAILED,
    EXIT_OK,
    _built_text,
    _count,
    _image_ages,
    _print_json,
    _print_trust,
    _print_verify_tool,
    _pushed_detail,
    _trust_json,
    _verify_tool_json,
)
from airgap_tui.cli.running import _cancel_on_sigint, _progress
from airgap_tui.errors import UsageError
from airgap_tui.models import (
    DEFAULT_GITLAB_MAJOR,
    DEFAULT_SOURCE_PREFIX,
)

if TYPE_CHECKING:
    from airgap_tui.bundle.prehash import PartHashes
    from airgap_tui.delta.inventory import Inventory
    from airgap_tui.events import ProgressCallback
    from airgap_tui.importer.engine import Engine
    from airgap_tui.importer.run import ImportRequest, ImportResult
    from airgap_tui.models import Credentials


def cmd_verify(args: argparse.Namespace) -> int:
    hashes = _start_hashing(args.bundle)  # before the imports below: they take longer
    from airgap_tui.bundle.manifest import format_fingerprint
    from airgap_tui.bundle.verify import verify_bundle

    try:
        trust = _trust(args)
        with _cancel_on_sigint() as cancel, _progress(args) as progress:
            report = verify_bundle(
                args.bundle, progress=progress, cancel=cancel, trust=trust, hashes=hashes
            )
    finally:
        hashes.close()
    images = report.manifest.images
    ages, old = _image_ages([(i.label, i.built, i.analyzer) for i in images], args.max_age)
    warnings = [*report.warnings, *old]
    if args.json:
        _print_json(
            {
                "ok": report.ok,
                "fingerprint": report.fingerprint,
                "tool": _verify_tool_json(report),
                "images": [{"name": i.name, "tag": i.tag, **ages[i.label]} for i in images],
                "problems": [{"file": p.file, "message": p.message} for p in report.problems],
                "warnings": warnings,
                "trust": _trust_json(report.trust),
                **({"delta": report.manifest.delta.to_dict()} if report.manifest.delta else {}),
            }
        )
    else:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        for p in report.problems:
            print(f"airgap-tui: {p.file}: {p.message}", file=sys.stderr)
        verdict = "OK: every part is present and matches" if report.ok else "FAILED"
        print(f"{verdict} ({args.bundle})")
        for image in images:
            print(f"  {image.label:<40} {_built_text(image.built)}")
        if report.manifest.delta is not None:
            delta = report.manifest.delta
            print(
                f"Delta bundle against {delta.kind} {delta.against[:12]}: it expects "
                f"{_count(len(delta.expected), 'layer')} already in the target registry"
            )
        if report.fingerprint:
            print(f"Fingerprint: {format_fingerprint(report.fingerprint)}")
            print(f"  full: {report.fingerprint}")
        _print_trust(report.trust)
        _print_verify_tool(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def _start_hashing(bundle: Path) -> PartHashes:
    """A small bundle's files hashed on a thread while the command loads its code: the one the
    console script started (cli/launch.py), or a new one."""
    from airgap_tui.bundle.prehash import PartHashes
    from airgap_tui.cli.launch import adopt_early

    return adopt_early(bundle) or PartHashes(bundle).start()


def cmd_import(args: argparse.Namespace) -> int:
    hashes = None if args.no_verify else _start_hashing(args.bundle)
    from airgap_tui.importer.run import import_bundle

    try:
        request, engine = _import_request(args, hashes)
        with _cancel_on_sigint() as cancel, _progress(args) as progress:
            result = import_bundle(
                request, engine, progress=_per_image(args, progress), cancel=cancel
            )
    finally:
        if hashes is not None:
            hashes.close()
    _report_import_problems(result)
    if args.json:
        _print_json(_import_json(result))
    else:
        _print_import(result)
    return EXIT_OK if result.ok else EXIT_FAILED


def _import_request(
    args: argparse.Namespace, hashes: PartHashes | None = None
) -> tuple[ImportRequest, Engine | None]:
    """The import the options ask for, and the Docker engine with --via-docker: every option
    (and a delta bundle --via-docker cannot take) refused before anything is pushed."""
    from airgap_tui.catalog.age import check_max_age
    from airgap_tui.importer.run import ImportRequest
    from airgap_tui.registry.reference import split_prefix

    host, _path = split_prefix(args.registry)
    insecure = insecure_choice(args, host)  # before the password is read, and asked for
    credentials = _read_credentials(args)
    # the straight route never loads the docker SDK
    engine = _connect_engine(args.bundle) if args.via_docker else None
    request = ImportRequest(
        bundle_dir=args.bundle,
        registry=args.registry,
        verify=not args.no_verify,
        credentials=credentials,
        ca_file=args.ca_file,
        receipt_dir=args.receipt_dir,
        via_docker=args.via_docker,
        trust=_trust(args),
        insecure=insecure,
        max_age=check_max_age(args.max_age),
        hashes=hashes,
    )
    return request, engine


def _connect_engine(bundle: Path) -> Engine:
    """--via-docker: the Docker engine, once the bundle is known not to be a delta."""
    from airgap_tui.bundle.schema import read_manifest
    from airgap_tui.importer.engine import Engine
    from airgap_tui.importer.run import refuse_delta_via_docker

    refuse_delta_via_docker(read_manifest(bundle), bundle)  # before any engine

    return Engine.connect()


def _per_image(args: argparse.Namespace, progress: ProgressCallback) -> ProgressCallback:
    """One bar per image; its blobs (a bar each would be dozens) only when retried."""
    from airgap_tui.events import STAGE_BLOB, Progress

    def per_image(event: Progress) -> None:
        if event.stage != STAGE_BLOB:
            progress(event)
        elif event.message.startswith("retry") and not args.json:
            print(f"airgap-tui: {event.item}: {event.message}", file=sys.stderr)

    return per_image


def _report_import_problems(result: ImportResult) -> None:
    """On stderr, in text and --json alike: warnings, the bundle's problems, then each image
    that failed (when the bundle itself did not)."""
    for warning in [*result.warnings, *result.age_warnings]:
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


def _import_json(result: ImportResult) -> dict[str, Any]:
    """`import --json`."""
    return {
        "ok": result.ok,
        "fingerprint": result.fingerprint,
        "verified": result.verified,
        "problems": result.problems,
        "warnings": [*result.warnings, *result.age_warnings],
        "receipt": str(result.receipt_path) if result.receipt_path else None,
        "route": result.route,
        "trust": _trust_json(result.trust),
        "images": [i.to_dict() for i in result.images],
    }


def _print_import(result: ImportResult) -> None:
    """`import` as text: the fingerprint, the trust, a line pair per image, the receipt."""
    from airgap_tui.bundle.manifest import format_fingerprint

    print(
        f"Fingerprint: {format_fingerprint(result.fingerprint)} "
        f"({'verified' if result.verified else 'NOT verified'})"
    )
    _print_trust(result.trust)
    for i in result.images:
        mark = "ok  " if i.ok else ("skip" if i.settled else "FAIL")
        print(f"  {mark} {i.target:<50} {i.status} {_pushed_detail(i)}")
        print(f"       {_built_text(i.built)}")
    if result.receipt_path:
        print(f"Receipt: {result.receipt_path}")


def cmd_inventory(args: argparse.Namespace) -> int:
    from airgap_tui.delta.inventory import default_inventory_path, write_inventory
    from airgap_tui.registry.reference import split_prefix

    host, path = split_prefix(args.registry)
    insecure = insecure_choice(args, host)
    credentials = _read_credentials(args)
    out: Path = args.out or default_inventory_path(host)
    inventory = _take_inventory(args, host, path, credentials, insecure)
    sha = write_inventory(inventory, out)
    for warning in inventory.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        _print_json(_inventory_json(inventory, out, sha))
    else:
        _print_inventory(inventory, out, sha)
    return EXIT_OK


def _take_inventory(
    args: argparse.Namespace,
    host: str,
    path: str,
    credentials: Credentials | None,
    insecure: bool | None,
) -> Inventory:
    """List the registry under `path`, a line per repository on a terminal's stderr."""
    from airgap_tui.delta.inventory import take_inventory
    from airgap_tui.events import Progress
    from airgap_tui.registry.client import RegistryClient

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
            insecure=insecure,
            cancel=cancel,
        ) as client,
    ):
        client.ping()  # a wrong address, TLS or credentials fail here, with their own words
        return take_inventory(
            client, path, registry=args.registry, progress=progress, cancel=cancel
        )


def _inventory_json(inventory: Inventory, out: Path, sha: str) -> dict[str, Any]:
    """`inventory --json`: where it was written and what it counts."""
    return {
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


def _print_inventory(inventory: Inventory, out: Path, sha: str) -> None:
    """`inventory` as text: what it counts, where it was written, and what it is for."""
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


def cmd_snippet(args: argparse.Namespace) -> int:
    from airgap_tui.catalog.load import load_catalog
    from airgap_tui.catalog.snippet import render_snippet, save_snippet
    from airgap_tui.registry.reference import split_prefix

    split_prefix(args.registry)
    given = [n for n, v in (("--bundle", args.bundle), ("analyzer names", args.analyzers),
             ("--templates", args.templates), ("--gitlab-url", args.gitlab_url)) if v]  # fmt: skip
    if len(given) > 1:
        raise UsageError(
            "snippet", f"give one of {' and '.join(given)}, not both", "Drop all but one of them"
        )
    major = args.gitlab or DEFAULT_GITLAB_MAJOR
    if args.templates is not None or args.gitlab_url:
        from airgap_tui.cli.from_templates import snippet_from_templates

        text, images = snippet_from_templates(args)
    elif args.bundle:
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
        raise UsageError(
            "snippet",
            "no analyzers given",
            "Name analyzers, or pass --bundle DIR, or the instance's --templates DIR",
        )
    if args.templates is None and not args.gitlab_url:
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
