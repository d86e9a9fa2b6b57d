"""`catalog --guess`: for a major the built-in catalog has no tag for, the newest major tag that
exists upstream, found the way `tags` finds them, and marked as a guess (issue 16, part 7)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from airgap_tui.catalog.guess import TagGuess, guess_tags


def rows_for_unknown_major(catalog: Any, major: int) -> list[Any] | None:
    """A major newer than the catalog's newest: its analyzers, every tag to be guessed."""
    newest = max(catalog.majors)
    if major <= newest:
        return None
    note = (
        f"No GitLab {major} data in the catalog; GitLab {newest} runs it. "
        "Its tag here is a guess from upstream"
    )
    return [
        dataclasses.replace(a, tag=None, note=note, major=major, tag_source="")
        for a in catalog.analyzers(newest, include_removed=False)
    ]


def upstream_guesses(args: argparse.Namespace, rows: list[Any]) -> dict[str, TagGuess]:
    """A guess for every image row without a tag; nothing is asked for rows that have one."""
    from airgap_tui.export.plan import validate_source_prefix
    from airgap_tui.registry.client import RegistryClient
    from airgap_tui.registry.reference import split_prefix

    wanted = [
        (a.name, a.path) for a in rows if a.tag is None and not a.removed and a.source_ref is None
    ]
    if not wanted:
        return {}
    host, base = split_prefix(validate_source_prefix(args.source_prefix))
    with RegistryClient(host, ca_file=args.ca_file) as client:

        def list_tags(path: str) -> list[str]:
            return client.tags(f"{base}/{path}" if base else path)

        return {g.name: g for g in guess_tags(wanted, args.gitlab, list_tags)}
