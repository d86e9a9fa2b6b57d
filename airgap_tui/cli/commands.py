"""Plain command-line front: one subcommand = one domain call.

No Textual import here: the wizard is imported only when no subcommand is given and both
stdin and stdout are terminals. Exit codes: 0 done, 1 the operation failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

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
        return _handler(args.command)(args)
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


# Each command's module is imported when it runs: `verify` does not pay for the template
# evaluator, nor any command for rich's progress bars unless on a terminal.
COMMANDS: dict[str, str] = {
    "catalog": "connected:cmd_catalog",
    "tags": "connected:cmd_tags",
    "estimate": "connected:cmd_estimate",
    "export": "connected:cmd_export",
    "verify": "offline:cmd_verify",
    "import": "offline:cmd_import",
    "inventory": "offline:cmd_inventory",
    "snippet": "offline:cmd_snippet",
    "tool": "connected:cmd_tool",
    "request": "from_templates:cmd_request",
    "check": "check:cmd_check",
}


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, _, name = COMMANDS[command].partition(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"airgap_tui.cli.{module}"), name
    )
    return handler
