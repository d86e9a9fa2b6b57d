"""Registry credentials the way the docker CLI finds them: `$DOCKER_CONFIG/config.json`.

Operators have already run `docker login` on the connected host; reading the same file (and the
same credential helpers) means the estimate and the import need no second login. Nothing read
here is ever written, logged or put into an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from airgap_tui.models import Credentials
from airgap_tui.registry.reference import DOCKER_HUB, DOCKER_HUB_API

# The key `docker login` uses for Docker Hub in `auths` and with credential helpers.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = {DOCKER_HUB, DOCKER_HUB_API, "index.docker.io", "registry.hub.docker.com"}
HELPER_TIMEOUT = 30.0


def config_dir() -> Path:
    """`$DOCKER_CONFIG`, else `~/.docker`, as the docker CLI resolves it."""
    env = os.environ.get("DOCKER_CONFIG")
    return Path(env) if env else Path.home() / ".docker"


def load_config(directory: Path | None = None) -> dict[str, Any]:
    """The parsed config.json, or {} when it is missing or unreadable (as docker treats it)."""
    path = (directory or config_dir()) / "config.json"
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def normalize_host(key: str) -> str:
    """`https://host:port/v1/` → `host:port`; every Docker Hub spelling → `docker.io`."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    host = text.split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _server_url(host: str) -> str:
    """The name a credential helper stores an entry under (what `docker login HOST` used)."""
    return DOCKER_HUB_AUTH_KEY if normalize_host(host) == DOCKER_HUB else host


def _decode_auth(entry: dict[str, Any]) -> Credentials | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if sep and username:
            return Credentials(username, password)
        return None
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and user and isinstance(secret, str):
        return Credentials(user, secret)
    return None


def run_helper(helper: str, server_url: str) -> Credentials | None:
    """`docker-credential-<helper> get`; None when the helper is missing or has no entry."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        return None
    try:
        result = subprocess.run(
            [program, "get"],
            input=server_url.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    username, secret = data.get("Username"), data.get("Secret")
    # "<token>" marks an identity (OAuth refresh) token, which needs a flow we do not speak.
    if not isinstance(username, str) or not username or username == "<token>":
        return None
    if not isinstance(secret, str):
        return None
    return Credentials(username, secret)


def credentials_for(host: str, *, directory: Path | None = None) -> Credentials | None:
    """Credentials docker would use for `host` (host[:port]), or None for anonymous access.

    Order as in the docker CLI: a per-registry `credHelpers` entry, then the global `credsStore`,
    then the base64 `auths` entry (also tried when a helper has nothing, for hand-written files).
    """
    config = load_config(directory)
    wanted = normalize_host(host)
    helpers = config.get("credHelpers")
    helper: str | None = None
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if isinstance(key, str) and isinstance(name, str) and normalize_host(key) == wanted:
                helper = name
                break
    if helper is None:
        store = config.get("credsStore")
        helper = store if isinstance(store, str) and store else None
    if helper is not None:
        found = run_helper(helper, _server_url(host))
        if found is not None:
            return found
    auths = config.get("auths")
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if isinstance(key, str) and isinstance(entry, dict) and normalize_host(key) == wanted:
                creds = _decode_auth(entry)
                if creds is not None:
                    return creds
    return None
