"""GitLab's own templates decide what is carried: `request`, `check`, and `--request` for
`export` and `estimate`.

`request` and `check` run on the offline host: they read the templates from a copied directory
(`--templates DIR`, no network, no token) or from the instance's API (`--gitlab-url`).
`export --request` and `estimate --request` run on the connected host and carry exactly the
images the request names, only the layers its inventory lacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

from airgap_tui.catalog.request import (
    SOURCE_CATALOG,
    SOURCE_GITLAB_API,
    SOURCE_TEMPLATES,
    Request,
    build_request,
    public_source,
    select_images,
    write_request,
)
from airgap_tui.catalog.request_read import read_request
from airgap_tui.catalog.template_model import Evaluation, TemplateImage
from airgap_tui.cli.insecure import insecure_choice
from airgap_tui.cli.options import _read_credentials
from airgap_tui.cli.render import EXIT_OK, _count, _print_json
from airgap_tui.cli.running import _cancel_on_sigint
from airgap_tui.cli.template_options import GITLAB_TOKEN_ENV
from airgap_tui.errors import UsageError
from airgap_tui.models import DEFAULT_GITLAB_MAJOR, ImageSpec


@dataclass(frozen=True)
class _Templates:
    evaluation: Evaluation
    version: str | None
    source: str  # what the request records (no credentials)
    shown: str  # what the operator is told
    sources: dict[str, str]  # the template texts by path ({} for the built-in catalog)


def _opt_ins(args: argparse.Namespace) -> list[str]:
    names: list[str] = []
    for value in args.opt_in or []:
        names += [n.strip() for n in value.split(",") if n.strip()]
    return names


def _gitlab_token(args: argparse.Namespace) -> str | None:
    """--token-stdin, else GITLAB_TOKEN; never written anywhere."""
    if args.token_stdin:
        if getattr(args, "password_stdin", False):
            raise UsageError(
                "--token-stdin with --password-stdin",
                "both would read stdin",
                "Give the GitLab token in GITLAB_TOKEN instead",
            )
        from airgap_tui.gitlab.client import read_token

        return read_token(sys.stdin)
    token = os.environ.get(GITLAB_TOKEN_ENV, "").strip()
    return token or None


def _read_instance_templates(args: argparse.Namespace) -> _Templates:
    from airgap_tui.catalog.templates import evaluate_templates, read_templates_dir

    if args.templates is not None and args.gitlab_url:
        raise UsageError(
            "--templates with --gitlab-url",
            "they are two sources for the same templates",
            "Give one of them",
        )
    if args.templates is not None:
        sources = read_templates_dir(args.templates)
        evaluation = evaluate_templates(sources, fips=args.fips)
        shown = f"templates in {args.templates}"
        return _Templates(evaluation, None, SOURCE_TEMPLATES, shown, dict(sources))
    if args.gitlab_url:
        from airgap_tui.gitlab.api import fetch_templates

        instance = fetch_templates(args.gitlab_url, token=_gitlab_token(args), ca_file=args.ca_file)
        evaluation = evaluate_templates(instance.sources, fips=args.fips)
        source = public_source(SOURCE_GITLAB_API, args.gitlab_url)
        shown = f"GitLab {instance.version or '(version unknown)'} at {source.split(' ', 1)[1]}"
        return _Templates(evaluation, instance.version, source, shown, dict(instance.sources))
    return _catalog_templates(args)


def _catalog_templates(args: argparse.Namespace) -> _Templates:
    """Neither source: the built-in catalog, and every answer says it is not the instance's."""
    from airgap_tui.catalog.from_catalog import images_from_catalog
    from airgap_tui.catalog.load import load_catalog

    major = args.gitlab or DEFAULT_GITLAB_MAJOR
    evaluation = images_from_catalog(load_catalog(), major, fips=args.fips)
    source = f"{SOURCE_CATALOG} (GitLab {major})"
    shown = (
        f"built-in catalog for GitLab {major} (not read from the instance: give --templates DIR "
        "or --gitlab-url URL for what its pipelines really pull)"
    )
    return _Templates(evaluation, None, source, shown, {})


def _image_rows(images: list[TemplateImage]) -> list[str]:
    width = max((len(i.reference) for i in images), default=10)
    rows = []
    for i in images:
        extra = f"  runs only with {i.opt_in} set" if i.opt_in else ""
        rows.append(f"  {i.reference:<{width}}  {i.job} ({i.template}){extra}")
    return rows


def _report_templates(templates: _Templates, left: list[TemplateImage]) -> None:
    for why in templates.evaluation.skipped:
        print(f"airgap-tui: warning: skipped {why}", file=sys.stderr)
    if left:
        names = sorted({i.opt_in for i in left if i.opt_in})
        print(
            f"Left out ({_count(len(left), 'job')} that run only when a variable is set; "
            f"--opt-in {','.join(names)} or --all-opt-in to carry them):"
        )
        print("\n".join(_image_rows(left)))


def _outside(images: list[TemplateImage]) -> None:
    for image in images:
        if not image.under_prefix:
            print(f"Outside the analyzer prefix: {image.reference} ({image.job}): {image.note}")


def _selected(
    templates: _Templates, args: argparse.Namespace, doing: str
) -> tuple[list[TemplateImage], list[TemplateImage]]:
    """(the jobs counted in, the opt-in jobs left out) as --all-opt-in / --opt-in say; none
    counted in is a UsageError."""
    requested, left = select_images(
        list(templates.evaluation.images), all_opt_in=args.all_opt_in, opt_in=_opt_ins(args)
    )
    if not requested:
        raise UsageError(
            doing,
            f"the {templates.shown} start no security job without an opt-in variable",
            "Add --all-opt-in, or --opt-in NAME for the jobs you enable",
        )
    return requested, left


def cmd_request(args: argparse.Namespace) -> int:
    templates = _read_instance_templates(args)
    requested, left = _selected(templates, args, "Request")
    inventory = _inventory_of(args) if args.registry else None
    data = build_request(
        requested,
        left,
        gitlab_version=templates.version,
        fips=args.fips,
        source=templates.source,
        inventory=inventory,
    )
    sha = write_request(data, args.out)
    if args.json:
        _print_json(
            {
                "ok": True,
                "request": str(args.out),
                "sha256": sha,
                "gitlab_version": templates.version,
                "images": data["images"],
                "left_out": data["left_out"],
                "skipped": list(templates.evaluation.skipped),
                "inventory": inventory is not None,
            }
        )
        return EXIT_OK
    print(f"What the {templates.shown} pull ({_count(len(requested), 'job')}):")
    print("\n".join(_image_rows(requested)))
    _report_templates(templates, left)
    _outside(requested)
    if inventory is not None:
        print(
            f"Inventory of {inventory.get('registry')} included: the connected host carries "
            "only the layers it lacks."
        )
    print(f"Written: {args.out}")
    print(f"  sha256: {sha}")
    print(
        f"On the connected host: airgap-tui export --request {args.out.name} --to DIR "
        "(estimate --request first for the size)."
    )
    return EXIT_OK


def snippet_from_templates(args: argparse.Namespace) -> tuple[str, list[tuple[str, str]]]:
    """`snippet --templates DIR` (or --gitlab-url): the lines that point the instance's own
    templates at the registry, for the jobs they run (opt-ins as --opt-in says), and the
    images they pull from it."""
    from airgap_tui.catalog.template_snippet import render_template_snippet

    templates = _read_instance_templates(args)
    requested, _left = _selected(templates, args, "Snippet")
    text = render_template_snippet(
        args.registry, templates.sources, requested, gitlab_version=templates.version
    )
    return text, [(i.name, i.tag) for i in requested if i.under_prefix]


def _inventory_of(args: argparse.Namespace) -> dict[str, Any]:
    """The registry's inventory, as `airgap-tui inventory` writes it, as a JSON object."""
    import json

    from airgap_tui.delta.inventory import inventory_lines, take_inventory
    from airgap_tui.registry.reference import split_prefix

    host, path = split_prefix(args.registry)
    with _cancel_on_sigint() as cancel, _registry_client(args, host, cancel) as client:
        client.ping()  # a wrong address, TLS or credentials fail here, in their own words
        inventory = take_inventory(client, path, registry=args.registry, cancel=cancel)
    for warning in inventory.warnings:
        print(f"airgap-tui: warning: {warning}", file=sys.stderr)
    data: dict[str, Any] = json.loads(b"".join(inventory_lines(inventory)))
    return data


def request_selection(
    args: argparse.Namespace,
) -> tuple[list[ImageSpec], Any, Request | None]:
    """(specs, presence of the embedded inventory or None, the request) for export/estimate."""
    from airgap_tui.cli.options import _specs

    if args.request is None:
        if not args.analyzers:
            raise UsageError(
                "Selection",
                "no images were chosen",
                "Name at least one analyzer, or give --request FILE",
            )
        return _specs(args), None, None
    if args.analyzers:
        raise UsageError(
            "--request with analyzer names",
            "the request already names every image",
            "Give either the request file or the names",
        )
    from airgap_tui.catalog.load import load_catalog
    from airgap_tui.export.plan import request_specs

    request = read_request(args.request)
    specs = request_specs(load_catalog(), request, args.gitlab, args.source_prefix)
    presence = None
    if request.inventory is not None and request.inventory_sha256 is not None:
        from airgap_tui.delta.delta import presence_from_inventory

        presence = presence_from_inventory(
            request.inventory, request.path, request.inventory_sha256
        )
    return specs, presence, request


def request_major(request: Request | None, default: int) -> int:
    """The GitLab major the request's instance runs, when it said so."""
    if request is None or not request.gitlab_version:
        return default
    head = request.gitlab_version.split(".", 1)[0]
    return int(head) if head.isdigit() else default


def request_lines(request: Request) -> list[str]:
    version = f"GitLab {request.gitlab_version}" if request.gitlab_version else "GitLab"
    lines = [
        f"Request {request.path}: {_count(len(request.references()), 'image')} the {version} "
        f"templates pull ({request.source}{', FIPS' if request.fips else ''})"
    ]
    if request.inventory is not None:
        lines.append(f"  only layers {request.inventory.get('registry')} lacks are carried")
    return lines


def _registry_client(args: argparse.Namespace, host: str, cancel: Any) -> Any:
    from airgap_tui.registry.client import RegistryClient

    insecure = insecure_choice(args, host)  # asked before the password is read
    return RegistryClient(
        host,
        credentials=_read_credentials(args),
        ca_file=args.registry_ca_file,
        insecure=insecure,
        cancel=cancel,
    )
