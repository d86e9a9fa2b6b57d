"""Plain command-line front: one subcommand = one domain call.

No Textual import here: the wizard is imported only when no subcommand is given and both
stdin and stdout are terminals. Exit codes: 0 done, 1 the operation failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgap_tui import __version__
from airgap_tui.errors import AirgapError, UsageError
from airgap_tui.events import CancelToken, ProgressCallback, ignore_progress
from airgap_tui.models import (
    DEFAULT_GITLAB_MAJOR,
    DEFAULT_PLATFORM,
    DEFAULT_SOURCE_PREFIX,
    Credentials,
)

if TYPE_CHECKING:
    from airgap_tui.bundle.verify import VerifyReport
    from airgap_tui.export.estimate import Estimate
    from airgap_tui.export.run import ExportResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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

HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured for the source registry.
Exit codes: 0 done, 1 the operation failed, 2 bad input, 130 stopped."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="airgap-tui",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_RawFormatter,
    )
    parser.add_argument("--version", action="version", version=f"airgap-tui {__version__}")
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
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def common(
        p: argparse.ArgumentParser,
        *,
        major: bool = True,
        source: bool = False,
        several_platforms: bool = False,
    ) -> None:
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

    p = sub.add_parser("catalog", help="list the analyzers and their tags per GitLab major")
    common(p)
    p.add_argument("--all", action="store_true", help="include removed analyzers")

    p = sub.add_parser("tags", help="list the tags that exist upstream for an analyzer")
    common(p, source=True)
    p.add_argument("analyzer")

    p = sub.add_parser("estimate", help="sizes before downloading anything")
    common(p, source=True, several_platforms=True)
    p.add_argument("analyzers", nargs="+", metavar="ANALYZER")
    _delta_from_option(p)

    p = sub.add_parser(
        "export", help="download the images from their registry and write a bundle to the media"
    )
    common(p, source=True, several_platforms=True)
    p.add_argument("analyzers", nargs="+", metavar="ANALYZER")
    p.add_argument("--to", required=True, type=Path, metavar="DIR", help="bundle directory")
    p.add_argument("--part-size", default="1GiB", help="largest part file (default 1GiB)")
    _delta_from_option(p)
    p.add_argument(
        "--no-tool",
        action="store_true",
        help="leave out airgap-tui.pyz (the program the offline host runs the bundle with)",
    )

    p = sub.add_parser("verify", help="check every byte of a bundle (no Docker needed)")
    common(p, major=False)
    p.add_argument("bundle", type=Path)

    p = sub.add_parser("import", help="verify a bundle and push it to a registry")
    common(p, major=False)
    p.add_argument("bundle", type=Path)
    p.add_argument("--registry", required=True, help="host[:port][/path] to push to")
    p.add_argument("--no-verify", action="store_true", help="skip the full check before pushing")
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

    p = sub.add_parser("inventory", help="list what a registry holds (for export --delta-from)")
    common(p, major=False)
    p.add_argument("--registry", required=True, help="host[:port][/path] to list")
    p.add_argument("--out", type=Path, metavar="FILE", help="default: ./airgap-inventory-….json")
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--ca-file", type=Path, help="CA certificate for the registry")
    p.add_argument(
        "--insecure", action="store_true", help="plain HTTP when the registry does not speak TLS"
    )

    p = sub.add_parser("snippet", help="print the .gitlab-ci.yml variables")
    common(p, major=False)
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
    p.add_argument("analyzers", nargs="*", metavar="ANALYZER")

    p = sub.add_parser("tool", help="write airgap-tui.pyz, this tool for an offline host")
    common(p, major=False)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to write it")
    return parser


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


def _delta_lines(delta: Any) -> list[str]:
    """Full and delta size side by side, for estimate and export."""
    import humanize

    files = ", ".join(str(p) for p in delta.sources)
    return [
        f"Delta against {delta.delta.kind} {files} ({delta.delta.against[:12]}): "
        f"{_count(len(delta.delta.expected), 'layer')} already offline left out",
        f"  full bundle {humanize.naturalsize(delta.full_bytes):>10} ({delta.full_bytes} bytes)"
        f"   delta {humanize.naturalsize(delta.delta_bytes):>10} ({delta.delta_bytes} bytes)"
        f"   saves {humanize.naturalsize(delta.saved_bytes)}",
    ]


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


def _fail(args: argparse.Namespace, exc: AirgapError) -> None:
    print(f"airgap-tui: {exc.sentence()}", file=sys.stderr)
    if getattr(args, "json", False):
        _print_json({"ok": False, "error": exc.sentence(), "kind": type(exc).__name__})


def _count(n: int, noun: str) -> str:
    """`1 part`, `2 parts`: never "1 parts"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, default=str))


# --- progress ---------------------------------------------------------------------------
@contextmanager
def _progress(args: argparse.Namespace) -> Iterator[ProgressCallback]:
    """Rich progress bars on a TTY (when not --json); otherwise nothing."""
    if getattr(args, "json", False) or not sys.stderr.isatty():
        yield ignore_progress
        return
    from airgap_tui.cli.progress import RichProgress

    with RichProgress() as bars:
        yield bars


@contextmanager
def _cancel_on_sigint() -> Iterator[CancelToken]:
    """First Ctrl-C asks the domain to stop at a chunk boundary; a second one aborts."""
    token = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def handler(_sig: int, _frame: Any) -> None:
        if token.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        print("\nairgap-tui: stopping at the next chunk boundary…", file=sys.stderr)
        token.cancel()

    signal.signal(signal.SIGINT, handler)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


# --- commands ---------------------------------------------------------------------------
def cmd_catalog(args: argparse.Namespace) -> int:
    from airgap_tui.catalog.catalog import load_catalog

    catalog = load_catalog()
    if args.gitlab not in catalog.majors:
        raise UsageError(
            f"GitLab major {args.gitlab}",
            "the catalog has no data for it",
            f"Use one of {', '.join(map(str, catalog.majors))}",
        )
    rows = [a for a in catalog.analyzers(args.gitlab) if args.all or not a.removed]
    limits = catalog.limits()
    if args.json:
        _print_json(
            {
                "gitlab": args.gitlab,
                "complete": catalog.is_complete(args.gitlab),
                "note": catalog.major_note(args.gitlab),
                "analyzers": [
                    {
                        "name": a.name,
                        "category": a.category,
                        "path": a.path,
                        "tag": a.tag,
                        "why_no_tag": a.why_no_tag or None,
                        "tag_source": a.tag_source or None,
                        "fips_tag": a.fips_tag,
                        "kind": a.kind,
                        "source_ref": a.source_ref,
                        "prefix_based": a.prefix_based,
                        "enable": dict(a.enable),
                        "status": a.status,
                        "deprecated": a.deprecated,
                        "removed": a.removed,
                        "default": a.default,
                        "note": a.note,
                    }
                    for a in rows
                ],
                "limits": [
                    {"id": x.id, "applies_to": list(x.applies_to) or "all", "text": x.text}
                    for x in limits
                ],
            }
        )
        return EXIT_OK
    width = max((len(a.name) for a in rows), default=10)
    print(f"Analyzers for GitLab {args.gitlab} (pulled as <source-prefix>/<path>:<tag>):")
    if not catalog.is_complete(args.gitlab):
        print(f"  {catalog.major_note(args.gitlab)}")
    for a in rows:
        flag = " (removed)" if a.removed else " (deprecated)" if a.deprecated else ""
        tag = f"{a.tag}{'+fips' if a.fips_tag else ''}" if a.tag else "?"
        print(f"  {a.name:<{width}}  {tag:<7} {a.category:<20} {a.note}{flag}".rstrip())
    print("Tags marked +fips also exist as <tag>-fips. What the registry prefix cannot fix:")
    for x in limits:
        print(f"  - {x.text}")
    return EXIT_OK


def _specs(args: argparse.Namespace) -> list[Any]:
    from airgap_tui.catalog.catalog import load_catalog
    from airgap_tui.export.plan import resolve_selection, validate_source_prefix

    prefix = validate_source_prefix(args.source_prefix)
    return resolve_selection(load_catalog(), args.analyzers, args.gitlab, prefix)


def cmd_tags(args: argparse.Namespace) -> int:
    from airgap_tui.catalog.catalog import load_catalog
    from airgap_tui.registry.client import RegistryClient

    spec = load_catalog().resolve(args.analyzer, args.gitlab, args.source_prefix)
    client = RegistryClient(spec.source.api_host, ca_file=args.ca_file)
    tags = client.tags(spec.source.repository)
    if args.json:
        _print_json({"image": f"{spec.source.registry}/{spec.source.repository}", "tags": tags})
    else:
        print("\n".join(tags))
    return EXIT_OK


def _platforms(args: argparse.Namespace) -> list[str]:
    chosen: list[str] = args.platform or [DEFAULT_PLATFORM]
    return list(dict.fromkeys(chosen))


def _client_factory(args: argparse.Namespace, cancel: Any = None) -> Any:
    """Registry clients for the sources: config.json credentials, --ca-file, proxy env."""
    from airgap_tui.registry.client import RegistryClient

    def make(host: str) -> RegistryClient:
        return RegistryClient(host, ca_file=args.ca_file, cancel=cancel)

    return make


def cmd_estimate(args: argparse.Namespace) -> int:
    import humanize

    from airgap_tui.delta.bundle import delta_layout, load_delta_from
    from airgap_tui.export.estimate import estimate

    specs = _specs(args)
    presence = load_delta_from(args.delta_from)  # a bad file is refused before any request
    with _progress(args) as progress:
        result = estimate(
            specs,
            platforms=_platforms(args),
            progress=progress,
            client_factory=_client_factory(args),
        )
    missing = [i for i in result.images if i.error]
    delta = None
    if presence is not None and result.resolved:
        delta = delta_layout(result.resolved, presence, full=result.layout)
    if args.json:
        _print_json(
            {
                "ok": not missing,
                "download_bytes": result.download_bytes,
                "bundle_bytes": result.bundle_bytes,
                **({"delta": delta.to_dict()} if delta is not None else {}),
                **_estimate_tool_json(result),
                "platforms": result.platforms,
                "images": [
                    {
                        "name": i.spec.name,
                        "tag": i.spec.tag,
                        "source": str(i.spec.source),
                        "kind": i.kind,
                        "digest": i.manifest_digest,
                        "download_bytes": i.download_bytes,
                        "media_bytes": i.media_bytes,
                        "layers": len(i.layers),
                        "shared_layers": sum(1 for x in i.layers if x.shared),
                        "status": i.status,
                        "error": i.error,
                        "available_tags": i.available_tags,
                    }
                    for i in result.images
                ],
            }
        )
    else:
        for i in result.images:
            if i.status == "missing":
                print(f"  {i.spec.label:<32} MISSING: {i.error}")
            elif i.error:  # no answer, a login, TLS: said once below, not per image
                print(f"  {i.spec.label:<32} {i.status}")
            else:
                print(
                    f"  {i.spec.label:<32} download {humanize.naturalsize(i.download_bytes):>10}"
                    f"   on media {humanize.naturalsize(i.media_bytes):>10}"
                )
        print(
            f"Download: {humanize.naturalsize(result.download_bytes)} "
            f"({result.download_bytes} bytes)"
        )
        print(
            f"Bundle on the media: {humanize.naturalsize(result.bundle_bytes)} "
            f"({result.bundle_bytes} bytes, exact)"
        )
        if delta is not None:
            print("\n".join(_delta_lines(delta)))
        _print_estimate_tool(result)
    errors = [i.error for i in missing if i.error]
    for problem in result.problems:
        if problem not in errors:
            print(f"airgap-tui: warning: {problem}", file=sys.stderr)
    for error in dict.fromkeys(errors):  # an unreachable registry is said once
        print(f"airgap-tui: {error}", file=sys.stderr)
    return EXIT_FAILED if missing else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from airgap_tui.bundle.writer import format_fingerprint, parse_size
    from airgap_tui.export.run import ExportRequest, export_bundle

    part_size = parse_size(args.part_size)
    specs = _specs(args)
    platforms = _platforms(args)
    request = ExportRequest(
        specs=specs,
        dest=args.to,
        part_size=part_size,
        source_prefix=args.source_prefix,
        gitlab_major=args.gitlab,
        platform=platforms[0],
        platforms=tuple(platforms),
        delta_from=tuple(args.delta_from),
        tool=not args.no_tool,
    )
    with _cancel_on_sigint() as cancel, _progress(args) as progress:
        result = export_bundle(
            request,
            progress=progress,
            cancel=cancel,
            client_factory=_client_factory(args, cancel),
        )
    if args.json:
        _print_json(
            {
                "ok": result.ok,
                "fingerprint": result.fingerprint,
                "bundle": str(result.bundle_dir),
                "bundle_bytes": result.bundle_bytes,
                "downloaded_bytes": result.downloaded_bytes,
                "images": result.images,
                "parts_written": result.parts_written,
                "parts_kept": result.parts_kept,
                "readback_ok": result.readback_ok,
                "tool": result.tool.to_dict() if result.tool is not None else None,
                "problems": result.problems,
                "warnings": result.warnings,
                "seconds": result.seconds,
                **({"delta": result.delta.to_dict()} if result.delta is not None else {}),
            }
        )
    else:
        import humanize

        for problem in result.problems:
            print(f"airgap-tui: {problem}", file=sys.stderr)
        for warning in result.warnings:
            print(f"airgap-tui: warning: {warning}", file=sys.stderr)
        print(
            f"Bundle: {result.bundle_dir} ({humanize.naturalsize(result.bundle_bytes)}, "
            f"{_count(len(result.images), 'image')}; "
            f"{_count(len(result.parts_written), 'part')} written, "
            f"{len(result.parts_kept)} kept from an earlier run)"
        )
        print(f"Read-back check: {'passed' if result.readback_ok else 'FAILED'}")
        if result.delta is not None:
            print("\n".join(_delta_lines(result.delta)))
            print(
                "This delta imports only into the registry it was made against "
                "(not with --via-docker, not with docker load)."
            )
        if result.seconds:
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items() if k != "checks")
            print(f"Time: {steps}")
        print(f"Fingerprint: {format_fingerprint(result.fingerprint)}")
        print(f"  full: {result.fingerprint}")
        _print_export_tool(result)
    return EXIT_OK if result.ok else EXIT_FAILED


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


def _estimate_tool_json(result: Estimate) -> dict[str, Any]:
    return {
        "exact": result.exact,  # bundle_bytes: exact; tool_bytes: estimated
        "tool_bytes": result.tool_bytes,
        "tool_exact": False,
        "tool_problem": result.tool_problem,
        "total_bytes": result.total_bytes,
    }


def _print_estimate_tool(result: Estimate) -> None:
    import humanize

    if result.tool_problem is not None:
        return  # said on stderr with the other warnings
    print(
        f"Carried tool airgap-tui.pyz: about {humanize.naturalsize(result.tool_bytes)} "
        f"({result.tool_bytes} bytes, estimated)"
    )
    print(
        f"Total on the media: about {humanize.naturalsize(result.total_bytes)} "
        f"({result.total_bytes} bytes)"
    )


def _print_export_tool(result: ExportResult) -> None:
    """The tool's sha256 next to the fingerprint, and the order that keeps it safe."""
    where = result.bundle_dir
    if result.tool is None:
        print("Carried tool: none (--no-tool)")
        print(
            f"On the offline host: airgap-tui import {where} --registry <host[:port]/path> "
            "— and compare the fingerprint."
        )
        return
    print(f"Carried tool: {result.tool.file} ({result.tool.size} bytes)")
    print(f"  sha256: {result.tool.sha256}")
    print(
        "On the offline host: compare the fingerprint and the tool's sha256 (sha256sum "
        f"{result.tool.file}) BEFORE running it; then: python3 {where}/{result.tool.file} "
        f"import {where} --registry <host[:port]/path> (or an installed airgap-tui)."
    )


def _print_verify_tool(report: VerifyReport) -> None:
    tool = report.tool
    if tool is None:
        print("Carried tool: none listed (exported with --no-tool)")
        return
    print(f"Carried tool: {tool.file} {'matches' if report.tool_ok else 'FAILED: do not run it'}")
    print(f"  sha256: {tool.sha256}")


def _verify_tool_json(report: VerifyReport) -> dict[str, Any] | None:
    if report.tool is None:
        return None
    return {**report.tool.to_dict(), "ok": report.tool_ok}


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


def cmd_import(args: argparse.Namespace) -> int:
    from airgap_tui.bundle.writer import format_fingerprint
    from airgap_tui.events import STAGE_BLOB, Progress
    from airgap_tui.importer.run import ImportRequest, import_bundle
    from airgap_tui.registry.reference import split_prefix

    split_prefix(args.registry)
    credentials = _read_credentials(args)
    engine = None
    if args.via_docker:  # the straight route never loads the docker SDK
        from airgap_tui.bundle.manifest import read_manifest
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
                "images": [vars(i) for i in result.images],
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
    from airgap_tui.catalog.catalog import load_catalog
    from airgap_tui.catalog.snippet import render_snippet
    from airgap_tui.registry.reference import split_prefix

    split_prefix(args.registry)
    if args.bundle and args.analyzers:
        raise UsageError(
            "snippet", "give either --bundle or analyzer names, not both", "Drop one of them"
        )
    major = args.gitlab or DEFAULT_GITLAB_MAJOR
    if args.bundle:
        from airgap_tui.bundle.manifest import read_manifest

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
    if args.json:
        _print_json({"ok": True, "snippet": text, "images": [f"{n}:{t}" for n, t in images]})
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_tool(args: argparse.Namespace) -> int:
    from airgap_tui.toolpack.toolpack import write_tool

    with _cancel_on_sigint() as cancel, _progress(args) as progress:
        info = write_tool(args.out, progress=progress, cancel=cancel, create=True)
    path = args.out / info.file
    if args.json:
        _print_json({"ok": True, "file": str(path), "size": info.size, "sha256": info.sha256})
    else:
        print(f"Wrote {path} ({info.size} bytes)")
        print(f"sha256: {info.sha256}")
        print(f"On the offline host, check the sha256 first, then: python3 {path} --help")
    return EXIT_OK


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
}

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
