"""Image references: `host[:port]/path/name:tag`, split and validated.

One parser for the catalog, the registry client and the engine, so a name means the same
thing everywhere (Docker Hub defaults included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airgap_tui.errors import UsageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class ImageRef:
    """A fully qualified image reference."""

    registry: str  # host[:port], "docker.io" for Docker Hub
    repository: str  # path inside the registry, e.g. "security-products/semgrep"
    tag: str = "latest"
    digest: str | None = None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}:{self.tag}"
        return f"{text}@{self.digest}" if self.digest else text

    @property
    def name(self) -> str:
        """Repository without the registry host, as `docker images` shows it for Hub images."""
        return self.repository

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, tag)


def looks_like_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


MAX_REPOSITORY_NAME = 255  # the distribution spec's bound on a repository name


def validate_repository_path(path: str, *, what: str = "Image path") -> str:
    if len(path) > MAX_REPOSITORY_NAME:
        raise UsageError(
            f"{what} {path[:60]!r}…",
            f"it is {len(path)} characters long; a registry accepts at most "
            f"{MAX_REPOSITORY_NAME} (the distribution spec's bound)",
            "Use a shorter registry path or image name",
        )
    parts = path.split("/")
    for part in parts:
        if not _COMPONENT.fullmatch(part):
            raise UsageError(
                f"{what} {path!r}",
                f"{part!r} is not a valid repository name component "
                "(lowercase letters, digits and . _ - separators)",
                "Check the spelling",
            )
    return path


def validate_tag(tag: str, *, ref: str = "") -> str:
    if not _TAG.fullmatch(tag):
        raise UsageError(
            f"Image tag {tag!r}" + (f" in {ref!r}" if ref else ""),
            "a tag is 1-128 letters, digits, '_', '.' or '-' and cannot start with '.' or '-'",
            "Check the spelling",
        )
    return tag


def split_prefix(prefix: str) -> tuple[str, str]:
    """Split `host[:port][/path]` into (host, path); path may be empty."""
    text = prefix.strip().rstrip("/")
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    if not text:
        raise UsageError(
            "Registry", "it is empty", "Give host[:port][/path], e.g. registry.local:5000/analyzers"
        )
    host, _, path = text.partition("/")
    if not _HOST.fullmatch(host):
        raise UsageError(
            f"Registry {prefix!r}",
            f"{host!r} is not a host name or host:port",
            "Give host[:port][/path], e.g. registry.local:5000/analyzers",
        )
    if ":" in host and not host.startswith("["):
        port = int(host.rsplit(":", 1)[1])
        if not 0 < port < 65536:
            raise UsageError(
                f"Registry {prefix!r}", f"port {port} is out of range", "Use a port 1-65535"
            )
    if path:
        validate_repository_path(path, what=f"Registry path in {prefix!r}")
    return host, path


def parse_reference(text: str) -> ImageRef:
    """Parse a Docker-style reference; names without a host are Docker Hub images."""
    ref = text.strip()
    if not ref or any(c.isspace() for c in ref):
        raise UsageError(
            f"Image reference {text!r}",
            "it is empty or contains spaces",
            "Give registry/path/name:tag",
        )
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise UsageError(
                f"Image reference {text!r}", "the digest is not sha256:<64 hex>", "Check the digest"
            )
    first, _, rest = ref.partition("/")
    if rest and looks_like_host(first):
        registry, remainder = first, rest
        split_prefix(registry)
    else:
        registry, remainder = DOCKER_HUB, ref
    tag = "latest"
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
    validate_tag(tag, ref=text)
    if registry == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    validate_repository_path(remainder, what=f"Image reference {text!r}")
    return ImageRef(registry, remainder, tag, digest)
