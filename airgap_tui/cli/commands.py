"""Plain command-line front: one subcommand = one domain call.

No Textual import here: the wizard is imported only when no subcommand is given and both
stdin and stdout are terminals. Exit codes: 0 done, 1 the operation failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from airgap_tui.cli.check import cmd_check
from airgap_tui.cli.connected import cmd_catalog, cmd_estimate, cmd_export, cmd_tags, cmd_tool
from airgap_tui.cli.from_templates import cmd_request
from airgap_tui.cli.offline import cmd_import, cmd_inventory, cmd_snippet, cmd_verify
from airgap_tui.cli.parser import build_parser
from airgap_tui.cli.render import EXIT_USAGE, _fail
from airgap_tui.errors import AirgapError, UsageError


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    try:
        if args.command is None:
            return _open_wizard(args)
        _refuse_wizard_options(args)
        handler: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
        return handler(args)
    except AirgapError as exc:
        _fail(args, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("airgap-tui: stopped. Run the same command again to resume.", file=sys.stderr)
        return 130


WIZARD_OPTIONS = (
    ("wizard_source_prefix", "--source-prefix"),
    ("wizard_gitlab", "--gitlab"),
    ("wizard_platform", "--platform"),
)


def _open_wizard(args: argparse.Namespace) -> int:
    """The wizard on the source the options name; they are checked before it opens."""
    from airgap_tui.export.plan import validate_platform, validate_source_prefix

    options: dict[str, Any] = {}
    if args.wizard_source_prefix is not None:
        options["source_prefix"] = validate_source_prefix(args.wizard_source_prefix)
    if args.wizard_gitlab is not None:
        options["gitlab_major"] = args.wizard_gitlab
    if args.wizard_platform is not None:
        options["platform"] = validate_platform(args.wizard_platform)
    if not _has_terminal():
        build_parser().print_usage(sys.stderr)
        print(
            "airgap-tui: no command given and no terminal to open the wizard in. "
            "See `airgap-tui --help`.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from airgap_tui.tui.app import run_wizard

    return int(run_wizard(**options))


def _has_terminal() -> bool:
    """The wizard needs a terminal on both ends; in CI or a pipe there is none."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _refuse_wizard_options(args: argparse.Namespace) -> None:
    for dest, flag in WIZARD_OPTIONS:
        if getattr(args, dest) is not None:
            raise UsageError(
                f"{flag} before the command",
                "options before a command set up the wizard",
                f"Put it after the command: airgap-tui {args.command} {flag} …",
            )


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "catalog": cmd_catalog,
    "tags": cmd_tags,
    "estimate": cmd_estimate,
    "export": cmd_export,
    "verify": cmd_verify,
    "import": cmd_import,
    "inventory": cmd_inventory,
    "snippet": cmd_snippet,
    "tool": cmd_tool,
    "request": cmd_request,
    "check": cmd_check,
}
