"""One image's outcome, the same on both routes: the line in the result, the receipt and
`--json` (docs/bundle-format.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUS_PUSHED = "pushed"
STATUS_PRESENT = "already present"
STATUS_FAILED = "failed"
STATUS_NOT_LOADED = "not loaded"
STATUS_SKIPPED = "skipped"


@dataclass
class ImageResult:
    name: str
    tag: str
    target: str
    ok: bool
    status: str  # pushed, already present, failed, not loaded, skipped
    source_digest: str = ""
    pushed_digest: str = ""
    digest_kept: bool = False
    blobs: list[dict[str, object]] = field(default_factory=list)  # [{digest, size}] in target
    kind: str = "image"
    error: str = ""
    note: str = ""
    built: str | None = None  # when the image was built (bundle.yaml); None: unknown
    age_days: int | None = None  # its age on the day of the import

    @classmethod
    def open(
        cls,
        name: str,
        tag: str,
        prefix: str,
        source_digest: str,
        status: str = STATUS_FAILED,
        *,
        kind: str = "image",
        error: str = "",
    ) -> ImageResult:
        """An image not (yet) in the registry `prefix` (host[:port][/path])."""
        return cls(
            name,
            tag,
            f"{prefix}/{name}:{tag}",
            False,
            status,
            source_digest,
            kind=kind,
            error=error,
        )

    @property
    def settled(self) -> bool:
        """In the registry, or knowingly left out (an artifact on the Docker route)."""
        return self.ok or self.status == STATUS_SKIPPED

    def succeed(self, status: str, pushed_digest: str) -> None:
        """In the registry under `pushed_digest`; kept when it is the upstream digest."""
        self.ok = True
        self.status = status
        self.pushed_digest = pushed_digest
        self.digest_kept = pushed_digest == self.source_digest
        self.error = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
