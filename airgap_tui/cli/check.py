"""`airgap-tui check`: after an import, is every image the templates pull in the registry, for
the platform? Exit 1 names each missing one and the command that fixes it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from airgap_tui.catalog.request import (
    select_images,
)
from airgap_tui.catalog.template_model import TemplateImage
from airgap_tui.cli.from_templates import (
    _opt_ins,
    _outside,
    _read_instance_templates,
    _registry_client,
    _report_templates,
)
from airgap_tui.cli.progress import _cancel_on_sigint
from airgap_tui.cli.render import EXIT_FAILED, EXIT_OK, _count, _print_json
from airgap_tui.errors import AirgapError, UsageError


@dataclass
class _Checked:
    image: TemplateImage
    jobs: list[str]
    present: bool
    digest: str | None
    problem: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.image.name,
            "tag": self.image.tag,
            "jobs": self.jobs,
            "template": self.image.template,
            "opt_in": self.image.opt_in,
            "fips": self.image.fips,
            "under_prefix": self.image.under_prefix,
            "present": self.present,
            "digest": self.digest,
            "problem": self.problem,
        }


def cmd_check(args: argparse.Namespace) -> int:
    templates = _read_instance_templates(args)
    requested, left = select_images(
        list(templates.evaluation.images), all_opt_in=args.all_opt_in, opt_in=_opt_ins(args)
    )
    rows = _check_registry(args, requested)
    missing = [c for c in rows if not c.present]
    fix = _fix_command(args)
    if args.json:
        _print_json(
            {
                "ok": not missing,
                "registry": args.registry,
                "platform": args.platform,
                "gitlab_version": templates.version,
                "source": templates.source,
                "images": [c.as_json() for c in rows],
                "missing": [c.image.reference for c in missing],
                "left_out": [
                    {"name": i.name, "tag": i.tag, "job": i.job, "opt_in": i.opt_in} for i in left
                ],
                "fix": fix if missing else None,
            }
        )
        return EXIT_FAILED if missing else EXIT_OK
    print(f"{args.registry} ({args.platform}) against the {templates.shown}:")
    width = max((len(c.image.reference) for c in rows), default=10)
    for c in rows:
        state = "present" if c.present else "MISSING"
        why = f": {c.problem}" if c.problem else ""
        print(
            f"  {state:<8} {c.image.reference:<{width}}  {', '.join(c.jobs)} "
            f"({c.image.template}){why}"
        )
    _report_templates(templates, left)
    _outside([c.image for c in rows])
    if not missing:
        print(f"All {_count(len(rows), 'image')} the templates pull are in {args.registry}.")
        return EXIT_OK
    names = ", ".join(c.image.reference for c in missing)
    print(
        f"airgap-tui: {_count(len(missing), 'image')} the templates pull "
        f"{'is' if len(missing) == 1 else 'are'} missing from {args.registry}: {names}. "
        f"A pipeline that runs those jobs fails to pull. Fix: {fix}",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _check_registry(args: argparse.Namespace, requested: list[TemplateImage]) -> list[_Checked]:
    """Each distinct image once (its jobs listed): is it in the registry, for the platform?"""
    from airgap_tui.errors import NotFoundError
    from airgap_tui.registry.reference import split_prefix

    host, path = split_prefix(args.registry)
    unique: dict[tuple[str, str, bool], _Checked] = {}
    for image in requested:
        key = (image.name, image.tag, image.under_prefix)
        if key in unique:
            unique[key].jobs.append(image.job)
        else:
            unique[key] = _Checked(image, [image.job], False, None, None)
    with _cancel_on_sigint() as cancel, _registry_client(args, host, cancel) as client:
        client.ping()  # a wrong address, TLS or credentials fail here, in their own words
        for checked in unique.values():
            problem = None
            for repository in _repositories(path, checked.image):
                try:
                    manifest = _held(client, repository, args, checked)
                except NotFoundError as exc:
                    problem = problem or exc.cause
                    continue
                checked.present = True
                checked.digest = manifest.index_digest or manifest.digest
                break
            checked.problem = None if checked.present else problem
    return list(unique.values())


def _require_platform(
    client: Any, repository: str, config_digest: str, args: argparse.Namespace, checked: _Checked
) -> None:
    from airgap_tui.errors import NotFoundError
    from airgap_tui.registry.oci import manifest_json, parse_platform

    what = f"Config of {args.registry}/{checked.image.reference}"
    config = manifest_json(client.blob_bytes(repository, config_digest), what)
    have = f"{config.get('os')}/{config.get('architecture')}"
    variant = config.get("variant")
    if variant:
        have += f"/{variant}"
    try:
        matches = parse_platform(have)[:2] == parse_platform(args.platform)[:2]
    except UsageError:
        matches = False
    if not matches:
        raise NotFoundError(
            f"Image {args.registry}/{checked.image.reference}",
            f"it is a {have} image, not {args.platform}",
        )


def _held(client: Any, repository: str, args: argparse.Namespace, checked: _Checked) -> Any:
    """The image's manifest for the platform, with its config and layers all in the registry."""
    from airgap_tui.errors import NotFoundError

    manifest = client.manifest(repository, checked.image.tag, args.platform)
    if manifest.platform is None:  # a plain manifest: its config says the platform
        _require_platform(client, repository, manifest.config_digest, args, checked)
    for digest in (manifest.config_digest, *(x.digest for x in manifest.layers)):
        if not client.blob_exists(repository, digest):
            raise NotFoundError(
                f"Image {args.registry}/{checked.image.reference}",
                f"its manifest is there but blob {digest[:19]} is not",
            )
    return manifest


def _repositories(path: str, image: TemplateImage) -> list[str]:
    """Where import pushes the image under the registry path (an image outside the prefix goes
    under its catalog path when the catalog knows it, else under its path without the host)."""
    names = [image.name]
    if not image.under_prefix:
        from airgap_tui.catalog.load import load_catalog
        from airgap_tui.models import DEFAULT_SOURCE_PREFIX

        names = [image.name.split("/", 1)[1] if "/" in image.name else image.name]
        try:
            known = load_catalog().resolve(image.reference, 18, DEFAULT_SOURCE_PREFIX).name
        except AirgapError:
            known = names[0]
        if known not in names:
            names.append(known)
    return [f"{path}/{name}" if path else name for name in names]


def _fix_command(args: argparse.Namespace) -> str:
    source = (
        f"--templates {args.templates}" if args.templates else f"--gitlab-url {args.gitlab_url}"
    )
    extra = " --fips" if args.fips else ""
    extra += " --all-opt-in" if args.all_opt_in else ""
    extra += (
        f" --opt-in {','.join(_opt_ins(args))}" if _opt_ins(args) and not args.all_opt_in else ""
    )
    return (
        f"airgap-tui request {source} --registry {args.registry}{extra} --out request.json; "
        "on the connected host airgap-tui export --request request.json --to DIR; "
        f"then here airgap-tui import DIR --registry {args.registry}"
    )
