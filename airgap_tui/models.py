"""Plain data shared by the domain modules and both fronts (no behaviour beyond naming)."""

from __future__ import annotations

from dataclasses import dataclass, field

from airgap_tui.registry.reference import ImageRef

DEFAULT_SOURCE_PREFIX = "registry.gitlab.com/security-products"
DEFAULT_PLATFORM = "linux/amd64"
DEFAULT_GITLAB_MAJOR = 18


@dataclass(frozen=True)
class ImageSpec:
    """One image the operator chose: pulled from `source`, pushed as `<registry>/<name>:<tag>`."""

    name: str  # path under the prefix, e.g. "semgrep" (custom images: their repository path)
    tag: str
    source: ImageRef
    analyzer: str | None = None  # catalog name when it came from the catalog

    def target(self, registry_prefix: str) -> str:
        return f"{registry_prefix.rstrip('/')}/{self.name}:{self.tag}"

    @property
    def label(self) -> str:
        return f"{self.name}:{self.tag}"


@dataclass(frozen=True)
class Credentials:
    """Registry credentials held in memory only; never printed, logged or written."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"
