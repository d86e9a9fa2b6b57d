"""The few exception types both fronts turn into one sentence plus a next step.

Every error an operator can see names the thing, the cause and what to do next, because
a vague failure on the far side of an air gap costs a walk back to the other building.
"""

from __future__ import annotations


class AirgapError(Exception):
    """A failure the operator can act on. Exit code 1 unless a subclass says otherwise."""

    exit_code = 1

    def __init__(self, what: str, cause: str, next_step: str = "") -> None:
        self.what = what
        self.cause = cause
        self.next_step = next_step
        super().__init__(self.sentence())

    def sentence(self) -> str:
        text = f"{self.what}: {self.cause}"
        if not text.endswith("."):
            text += "."
        if self.next_step:
            step = self.next_step if self.next_step.endswith(".") else self.next_step + "."
            text += " " + step
        return text


class UsageError(AirgapError):
    """Bad input from the operator (arguments, names, paths). Exit code 2."""

    exit_code = 2


class CatalogError(UsageError):
    """An analyzer name or tag the catalog does not know."""


class RegistryError(AirgapError):
    """A registry refused, failed or was unreachable."""


class AuthError(RegistryError):
    """A registry wants credentials, or rejected the ones given."""

    def __init__(self, what: str, cause: str, next_step: str = "", *, registry: str = "") -> None:
        self.registry = registry
        super().__init__(what, cause, next_step)


class TLSError(RegistryError):
    """A registry's certificate could not be verified."""


class NotFoundError(RegistryError):
    """An image or tag that does not exist upstream; carries the tags that do."""

    def __init__(
        self, what: str, cause: str, next_step: str = "", *, available: list[str] | None = None
    ) -> None:
        self.available = available or []
        super().__init__(what, cause, next_step)


class EngineError(AirgapError):
    """The Docker engine was unreachable or an engine call failed."""


class BundleError(AirgapError):
    """A bundle on the media is missing, damaged, hostile or of an unknown format."""


class MediaError(AirgapError):
    """The destination cannot take the bundle (space, permissions, filesystem limits)."""


class Cancelled(AirgapError):
    """The operator stopped the work; what was done so far is kept and resumable."""

    exit_code = 130
