"""The options `request` and `check` share: where the templates come from, which jobs count,
and how to reach the registry. Light on purpose: the parser imports it for every command."""

from __future__ import annotations

import argparse
from pathlib import Path

from airgap_tui.cli.insecure import add_insecure_option
from airgap_tui.models import DEFAULT_GITLAB_MAJOR

GITLAB_TOKEN_ENV = "GITLAB_TOKEN"


def add_template_source(p: argparse.ArgumentParser) -> None:
    """--templates DIR | --gitlab-url URL, and what selects the images."""
    add_instance_templates(p)
    p.add_argument("--fips", action="store_true", help="the FIPS variants (a FIPS instance)")
    p.add_argument(
        "--gitlab",
        type=int,
        metavar="MAJOR",
        help=f"with neither --templates nor --gitlab-url: the built-in catalog of this GitLab "
        f"major (default {DEFAULT_GITLAB_MAJOR}), said not to come from the instance",
    )
    add_opt_ins(p)


def add_instance_templates(p: argparse._ActionsContainer) -> None:
    """Where the instance's own templates are read: a copied directory or its API."""
    p.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="GitLab's lib/gitlab/ci/templates directory, copied from the GitLab host "
        "(on Omnibus /opt/gitlab/embedded/service/gitlab-rails/lib/gitlab/ci/templates)",
    )
    p.add_argument(
        "--gitlab-url",
        metavar="URL",
        help=f"read the templates from the instance's API (token: --token-stdin or "
        f"{GITLAB_TOKEN_ENV})",
    )
    p.add_argument("--token-stdin", action="store_true", help="read the GitLab token from stdin")
    p.add_argument("--ca-file", type=Path, help="CA certificate for --gitlab-url")


def add_opt_ins(p: argparse._ActionsContainer) -> None:
    """Which jobs that run only when a variable is set are counted in."""
    choice = p.add_mutually_exclusive_group()
    choice.add_argument(
        "--all-opt-in",
        action="store_true",
        help="also the jobs that run only when a variable is set",
    )
    choice.add_argument(
        "--opt-in",
        action="append",
        metavar="NAME,…",
        help="also the jobs that wait for these variables (GITLAB_ADVANCED_SAST_ENABLED, …)",
    )


def add_registry_access(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument(
        "--registry",
        required=required,
        metavar="R",
        help="the offline registry, host[:port][/path]"
        + ("" if required else ": its inventory goes into the request"),
    )
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--registry-ca-file", type=Path, help="CA certificate for --registry")
    add_insecure_option(p)  # refused for a public-internet host unless confirmed
