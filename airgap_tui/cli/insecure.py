"""`--insecure` for every command that reaches a registry the operator names (import,
inventory, check): one option, one rule.

Plain HTTP to loopback or the site's own network is the operator's call. To an address on the
public internet it sends images (and any login) unencrypted across networks nobody here
controls, so it is refused unless the operator confirms: at a terminal by answering the
question, in a script with `--insecure-public`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from airgap_tui.errors import UsageError

if TYPE_CHECKING:
    from airgap_tui.registry.address import Resolver

Ask = Callable[[str], bool]


def add_insecure_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--insecure",
        action="store_true",
        help="plain HTTP when the registry does not speak TLS (for an address on the public "
        "internet it asks first)",
    )
    p.add_argument(
        "--insecure-public",
        action="store_true",
        help="with --insecure: confirm plain HTTP to a registry on the public internet "
        "without being asked",
    )


def insecure_choice(
    args: argparse.Namespace,
    host: str,
    *,
    ask: Ask | None = None,
    resolve: Resolver | None = None,
) -> bool | None:
    """None without --insecure (the command's own default: loopback, daemon.json, the
    engine); True when plain HTTP is allowed. UsageError when it is refused."""
    if not getattr(args, "insecure", False):
        if getattr(args, "insecure_public", False):
            raise UsageError(
                "--insecure-public",
                "it confirms --insecure, which was not given",
                "Add --insecure, or drop --insecure-public",
            )
        return None
    from airgap_tui.registry.address import public_addresses, resolve_addresses

    public = public_addresses(host, resolve or resolve_addresses)
    if not public or getattr(args, "insecure_public", False):
        return True
    shown = ", ".join(public[:3]) + (" …" if len(public) > 3 else "")
    login = " and the password" if getattr(args, "username", None) else ""
    if ask is None and _has_terminal():
        ask = _ask_terminal
    question = (
        f"{host} is on the public internet ({shown}). Send the images{login} to it over plain "
        "HTTP, unencrypted? [y/N] "
    )
    if ask is not None and ask(question):
        return True
    raise UsageError(
        f"--insecure for {host}",
        f"it is on the public internet ({shown}), and plain HTTP would send the images{login} "
        "unencrypted",
        "Reach it over HTTPS (give its CA with --ca-file), or, if this really is meant, "
        "add --insecure-public",
    )


def _has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def _ask_terminal(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")
