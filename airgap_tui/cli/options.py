"""Parsed options turned into domain objects: image specs, platforms, clients, credentials."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from airgap_tui.errors import UsageError
from airgap_tui.models import (
    DEFAULT_PLATFORM,
    Credentials,
)

if TYPE_CHECKING:
    from airgap_tui.bundle.trust import Trust


def _specs(args: argparse.Namespace) -> list[Any]:
    from airgap_tui.catalog.load import load_catalog
    from airgap_tui.export.plan import resolve_selection, validate_source_prefix

    prefix = validate_source_prefix(args.source_prefix)
    return resolve_selection(load_catalog(), args.analyzers, args.gitlab, prefix)


def _platforms(args: argparse.Namespace) -> list[str]:
    chosen: list[str] = args.platform or [DEFAULT_PLATFORM]
    return list(dict.fromkeys(chosen))


def _client_factory(args: argparse.Namespace, cancel: Any = None) -> Any:
    """Registry clients for the sources: config.json credentials, --ca-file, proxy env."""
    from airgap_tui.registry.client import RegistryClient

    def make(host: str) -> RegistryClient:
        return RegistryClient(host, ca_file=args.ca_file, cancel=cancel)

    return make


def _read_credentials(args: argparse.Namespace) -> Credentials | None:
    if args.password_stdin and not args.username:
        raise UsageError("--password-stdin", "it needs --username too", "Add --username NAME")
    if not args.username:
        return None
    if not args.password_stdin:
        import getpass

        if not sys.stdin.isatty():
            raise UsageError(
                "--username",
                "no password was given and stdin is not a terminal",
                "Pipe the password in with --password-stdin",
            )
        return Credentials(args.username, getpass.getpass(f"Password for {args.username}: "))
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError(
            "--password-stdin",
            "stdin gave an empty password",
            'Pipe the password in, e.g. `printf %s "$PW" | airgap-tui import …`',
        )
    return Credentials(args.username, password)


def _trust(args: argparse.Namespace) -> Trust:
    """--expect-fingerprint and --trust as the domain's Trust (a bad fingerprint: exit 2)."""
    from airgap_tui.bundle.trust import Trust, parse_expected_fingerprint

    expected = args.expect_fingerprint
    return Trust(
        expect_fingerprint=parse_expected_fingerprint(expected) if expected else None,
        allowed_signers=args.trust,
    )
