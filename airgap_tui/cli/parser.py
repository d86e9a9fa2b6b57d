"""The argparse front: every subcommand, its options and the help text."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from airgap_tui import __version__
from airgap_tui.catalog.age import DEFAULT_MAX_AGE_DAYS
from airgap_tui.cli.insecure import add_insecure_option
from airgap_tui.cli.render import EXIT_USAGE
from airgap_tui.cli.template_options import (
    add_instance_templates,
    add_opt_ins,
    add_registry_access,
    add_template_source,
)
from airgap_tui.models import (
    DEFAULT_GITLAB_MAJOR,
    DEFAULT_PLATFORM,
    DEFAULT_SOURCE_PREFIX,
)


class _Formatter(argparse.HelpFormatter):
    """argparse's own, measuring the terminal with os instead of importing shutil (which loads
    bz2, lzma and more on every start: argparse builds a formatter for each argument)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24) -> None:
        try:
            width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(2).columns
        except (ValueError, OSError):
            width = 80
        super().__init__(prog, indent_increment, max_help_position, max(width - 2, 20))


class _RawFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the top-level description's and examples' line breaks."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse's default exits 2 too; keep one sentence
        self.print_usage(sys.stderr)
        print(f"airgap-tui: {message}. See `{self.prog} --help`.", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


DESCRIPTION = """\
Move GitLab's security-scanner images (SAST, secret detection, dependency and container
scanning, DAST…) into an air-gapped network on removable media: pick analyzers, see the size,
write a checked bundle to a drive on the connected host; verify it and push it into your
registry on the offline host; print the .gitlab-ci.yml variables that point GitLab at it.

With no command, in a terminal, it opens the wizard (the options below set its source)."""


EPILOG = """\
examples:
  airgap-tui                                    the wizard
  airgap-tui --source-prefix harbor.example.com/gitlab/security-products
                                                the wizard, pulling through a mirror
  airgap-tui estimate semgrep secrets          sizes, nothing downloaded
  airgap-tui export semgrep secrets --to /media/usb/airgap-bundle
  airgap-tui import /media/usb/airgap-bundle --registry registry.local:5000/analyzers
  airgap-tui snippet --registry registry.local:5000/analyzers --bundle /media/usb/airgap-bundle
  airgap-tui request --templates ./templates --out /media/usb/request.json
                                                what the offline GitLab's templates pull
  airgap-tui export --request /media/usb/request.json --to /media/usb/airgap-bundle
  airgap-tui check --registry registry.local:5000/analyzers --templates ./templates

HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured for the source registry.
Exit codes: 0 done, 1 the operation failed, 2 bad input, 130 stopped."""


_Subparsers = argparse._SubParsersAction  # the type of `add_subparsers()`'s result


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="airgap-tui",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_RawFormatter,
    )
    parser.add_argument("--version", action="version", version=f"airgap-tui {__version__}")
    _add_wizard_options(parser)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    # The order below is the order `--help` lists the commands in.
    _add_catalog(sub)
    _add_tags(sub)
    _add_estimate(sub)
    _add_export(sub)
    _add_verify(sub)
    _add_import(sub)
    _add_inventory(sub)
    _add_snippet(sub)
    _add_request(sub)
    _add_check(sub)
    _add_tool(sub)
    return parser


def _add_wizard_options(parser: argparse.ArgumentParser) -> None:
    """The top-level options, which only the wizard (no command) reads."""
    wizard = parser.add_argument_group("wizard options (no command)")
    wizard.add_argument(
        "--source-prefix",
        dest="wizard_source_prefix",
        metavar="P",
        help=f"where to pull analyzers from, e.g. a mirror (default {DEFAULT_SOURCE_PREFIX})",
    )
    wizard.add_argument(
        "--gitlab",
        dest="wizard_gitlab",
        type=int,
        metavar="MAJOR",
        help=f"GitLab major version (default {DEFAULT_GITLAB_MAJOR})",
    )
    wizard.add_argument(
        "--platform",
        dest="wizard_platform",
        metavar="PLATFORM",
        help=f"image platform (default {DEFAULT_PLATFORM})",
    )


def _common(
    p: argparse.ArgumentParser,
    *,
    major: bool = True,
    source: bool = False,
    several_platforms: bool = False,
) -> None:
    """The options most commands share, first in each command's help: --json, then --gitlab,
    then (for commands that pull) where from and for which platform."""
    p.add_argument("--json", action="store_true", help="print one machine-readable result")
    if major:
        p.add_argument(
            "--gitlab",
            type=int,
            default=DEFAULT_GITLAB_MAJOR,
            metavar="MAJOR",
            help="GitLab major version the images are for (default 18)",
        )
    if source:
        p.add_argument(
            "--source-prefix",
            default=DEFAULT_SOURCE_PREFIX,
            metavar="P",
            help="where analyzers are pulled from (default %(default)s)",
        )
        if several_platforms:
            p.add_argument(
                "--platform",
                action="append",
                metavar="OS/ARCH",
                help=f"platform to carry (default {DEFAULT_PLATFORM}); repeat it to carry "
                "each image's index with those platforms",
            )
        else:
            p.add_argument("--platform", default=DEFAULT_PLATFORM)
        p.add_argument("--ca-file", type=Path, help="CA certificate for the source registry")


def _add_catalog(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("catalog", help="list the analyzers and their tags per GitLab major")
    _common(p)
    p.add_argument("--all", action="store_true", help="include removed analyzers")
    p.add_argument(
        "--guess",
        action="store_true",
        help="where the catalog has no tag (a newer GitLab), propose the newest major tag "
        "upstream, marked as a guess",
    )
    p.add_argument(
        "--source-prefix",
        default=DEFAULT_SOURCE_PREFIX,
        metavar="P",
        help="where --guess lists tags (default %(default)s)",
    )
    p.add_argument("--ca-file", type=Path, help="CA certificate for the source registry")


def _add_tags(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("tags", help="list the tags that exist upstream for an analyzer")
    _common(p, source=True)
    p.add_argument("analyzer")


def _add_estimate(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("estimate", help="sizes before downloading anything")
    _common(p, source=True, several_platforms=True)
    p.add_argument("analyzers", nargs="*", metavar="ANALYZER")
    _request_option(p)
    _delta_from_option(p)
    _max_age_option(p)
    p.add_argument(
        "--with-tool",
        action="store_true",
        help="count airgap-tui.pyz in a delta even when the offline host holds the same one",
    )


def _add_export(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser(
        "export", help="download the images from their registry and write a bundle to the media"
    )
    _common(p, source=True, several_platforms=True)
    p.add_argument("analyzers", nargs="*", metavar="ANALYZER")
    _request_option(p)
    p.add_argument("--to", required=True, type=Path, metavar="DIR", help="bundle directory")
    p.add_argument("--part-size", default="1GiB", help="largest part file (default 1GiB)")
    _delta_from_option(p)
    _max_age_option(p)
    p.add_argument(
        "--no-tool",
        action="store_true",
        help="leave out airgap-tui.pyz (the program the offline host runs the bundle with)",
    )
    p.add_argument(
        "--sign-key",
        type=Path,
        metavar="KEY",
        help="sign bundle.yaml with this SSH private key (bundle.yaml.sig, OpenSSH format; "
        "a key with a passphrase: load it into ssh-agent and give its .pub)",
    )
    p.add_argument(
        "--with-tool",
        action="store_true",
        help="carry airgap-tui.pyz in a delta even when the receipt or inventory says the "
        "offline host holds the same one",
    )


def _add_verify(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("verify", help="check every byte of a bundle (no Docker needed)")
    _common(p, major=False)
    p.add_argument("bundle", type=Path)
    _trust_options(p)
    _max_age_option(p)


def _add_import(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("import", help="verify a bundle and push it to a registry")
    _common(p, major=False)
    p.add_argument("bundle", type=Path)
    p.add_argument("--registry", required=True, help="host[:port][/path] to push to")
    p.add_argument("--no-verify", action="store_true", help="skip the full check before pushing")
    _trust_options(p)
    p.add_argument(
        "--via-docker",
        action="store_true",
        help="load into Docker, tag and push with it (digests change); default: straight to "
        "the registry, every upstream digest kept, no Docker needed",
    )
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--ca-file", type=Path, help="CA certificate for the target registry")
    p.add_argument("--receipt-dir", type=Path, help="where the receipt goes (default: .)")
    add_insecure_option(p)
    _max_age_option(p)


def _add_inventory(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("inventory", help="list what a registry holds (for export --delta-from)")
    _common(p, major=False)
    p.add_argument("--registry", required=True, help="host[:port][/path] to list")
    p.add_argument("--out", type=Path, metavar="FILE", help="default: ./airgap-inventory-….json")
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--ca-file", type=Path, help="CA certificate for the registry")
    add_insecure_option(p)


def _add_snippet(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("snippet", help="print the .gitlab-ci.yml variables")
    _common(p, major=False)
    p.add_argument(
        "--gitlab",
        type=int,
        default=None,
        metavar="MAJOR",
        help="GitLab major (default: the bundle's, else 18)",
    )
    p.add_argument("--registry", required=True, help="host[:port][/path] the images are in")
    p.add_argument("--bundle", type=Path, help="take the analyzers from this bundle")
    p.add_argument(
        "--fips", action="store_true", help="analyzer names alone take their -fips variant"
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="also write it to FILE (atomically)")
    p.add_argument("--force", action="store_true", help="with --out: replace an existing FILE")
    group = p.add_argument_group(
        "from the instance's own templates (instead of --bundle or analyzer names)"
    )
    add_instance_templates(group)
    add_opt_ins(group)
    p.add_argument("analyzers", nargs="*", metavar="ANALYZER")


def _add_request(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser(
        "request", help="ask the offline GitLab's templates what to carry; write a request file"
    )
    _common(p, major=False)
    add_template_source(p)
    add_registry_access(p, required=False)
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="the request file")


def _add_check(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser(
        "check", help="does the registry hold every image the GitLab templates pull?"
    )
    _common(p, major=False)
    add_template_source(p)
    add_registry_access(p, required=True)
    p.add_argument("--platform", default=DEFAULT_PLATFORM, metavar="OS/ARCH")


def _add_tool(sub: _Subparsers[Any]) -> None:
    p = sub.add_parser("tool", help="write airgap-tui.pyz, this tool for an offline host")
    _common(p, major=False)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to write it")


def _trust_options(p: argparse.ArgumentParser) -> None:
    """Trust that does not come on the stick (issue 20)."""
    p.add_argument(
        "--expect-fingerprint",
        metavar="HEX",
        help="the fingerprint export printed, carried apart from the stick (full, or the short "
        "groups '1a2b 3c4d …'); a mismatch stops before anything is pushed",
    )
    p.add_argument(
        "--trust",
        type=Path,
        metavar="ALLOWED_SIGNERS",
        help="require bundle.yaml.sig by a key this OpenSSH allowed_signers file lists "
        "(needs ssh-keygen)",
    )


def _max_age_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-age",
        type=int,
        default=DEFAULT_MAX_AGE_DAYS,
        metavar="DAYS",
        help="warn about images built more than DAYS days ago (default %(default)s; 0: off). "
        "Container- and dependency-scanning images carry their vulnerability data: their "
        "scans are as old as they are",
    )


def _request_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--request",
        type=Path,
        metavar="FILE",
        help="a request file from `airgap-tui request`: carry exactly the images it names "
        "(and, when it holds an inventory, only the layers that registry lacks)",
    )


def _delta_from_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--delta-from",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="an import receipt or inventory of the offline registry: carry only the layers "
        "it does not list (repeatable)",
    )
