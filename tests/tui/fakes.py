"""Fixed data for snapshot tests: the wizard's domain calls answered with constants.

Only screens' *display* is tested with these; anything that claims a transfer (pull, write,
verify, load, push) is tested against the real engine and registries in test_flows.py. Every
value is built from the domain's own dataclasses, so a change in their shape breaks here.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airgap_tui.bundle.journal import ExportJournal
from airgap_tui.bundle.manifest import BundleBlob, BundleImage, BundleManifest, BundlePart, ToolFile
from airgap_tui.bundle.media import FAT32_MAX_FILE_SIZE, DestinationInfo, Drive
from airgap_tui.bundle.parts import Problem
from airgap_tui.bundle.signature import Signer
from airgap_tui.bundle.trust import TrustReport
from airgap_tui.bundle.verify import VerifyReport
from airgap_tui.catalog.age import age_warnings
from airgap_tui.errors import AuthError, BundleError, Cancelled, NotFoundError, TLSError
from airgap_tui.events import (
    STAGE_LOAD,
    STAGE_PULL,
    STAGE_PUSH,
    STAGE_READBACK,
    STAGE_SAVE,
    STAGE_TAG,
    STAGE_VERIFY,
    CancelToken,
    Progress,
    ProgressCallback,
    ignore_progress,
)
from airgap_tui.export.estimate import Estimate, ImageEstimate, LayerEstimate
from airgap_tui.export.plan import DestinationPlan
from airgap_tui.export.run import ExportRequest, ExportResult
from airgap_tui.importer.engine import EngineInfo
from airgap_tui.importer.outcome import ImageResult
from airgap_tui.importer.run import ImportRequest, ImportResult
from airgap_tui.models import Credentials, ImageSpec
from airgap_tui.registry.diagnose import UNREACHABLE_NEXT_STEP, RegistryUnreachable
from airgap_tui.toolpack.toolpack import STAGE_TOOL
from airgap_tui.tui.services import Domain

USB = "/media/operator/USB-STICK"
BUNDLE = f"{USB}/airgap-bundle"
DRIVES = [
    Drive(USB, "vfat", "/dev/sdb1", 14_200_000_000, 15_900_000_000),
    Drive("/media/operator/BACKUP", "exfat", "/dev/sdc1", 912_000_000_000, 1_000_000_000_000),
]
ENGINE_INFO = EngineInfo("unix:///var/run/docker.sock", "27.3.1", "1.47", "linux", "amd64")
FINGERPRINT = "3f9a1c0e" * 8
TOOL = ToolFile("airgap-tui.pyz", 9_199_466, "5d1e07a2" * 8)  # the carried program
MB = 1_000_000
# The tags every fake repository has: the upstream-tags list and a missing tag's error agree.
UPSTREAM_TAGS = ["5", "5.1.0", "6", "6.0.1", "6.1.0", "6.10.0", "latest"]
SHARED_LAYER = LayerEstimate("sha256:" + "e" * 64, 30 * MB, shared=True)  # in every image
IMAGE_METADATA = 4_096  # an image's manifest and config, carried beside its layers
BUNDLE_METADATA = 40_960  # manifest.json, index.json, oci-layout, tar headers, end of archive
MANIFEST_PART = 1024**3 // 4  # the part size of the bundle the import screens read
# Images' build times against the wizard's fixed "now" (conftest.fixed_app): most are two
# weeks old; the scanning images with vulnerability data inside are older than --max-age.
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
OLD_IMAGES = {"container-scanning": "2026-10-21T06:00:00Z", "gemnasium": "2026-10-30T06:00:00Z"}


def built(name: str) -> str:
    return OLD_IMAGES.get(name, "2026-11-20T09:30:00Z")


def age(name: str) -> int:
    return (NOW - datetime.fromisoformat(built(name))).days


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class FakeEngine:
    """Answers `info()` only: the Start screen's status line. Nothing is pulled through it."""

    docker_host = ENGINE_INFO.docker_host

    def __init__(self, insecure_hosts: tuple[str, ...] = ()) -> None:
        self.insecure_hosts = insecure_hosts  # registries the engine reaches by plain HTTP

    def info(self) -> EngineInfo:
        return ENGINE_INFO

    def insecure_registry(self, host: str) -> bool:
        return host in self.insecure_hosts

    def close(self) -> None:
        pass


def fake_engine() -> FakeEngine:
    return FakeEngine()


class FakeRegistryClient:
    def __init__(self, host: str, behaviour: str, credentials: Credentials | None) -> None:
        self.host, self.behaviour, self.credentials = host, behaviour, credentials
        self.scheme = "https"

    def ping(self) -> None:
        if self.behaviour == "auth" and (
            self.credentials is None or self.credentials.password != "s3cret"
        ):
            raise AuthError(f"Registry {self.host}", "it answered 401 Unauthorized", "Log in")
        if self.behaviour == "tls":
            raise TLSError(
                f"Registry {self.host} refused TLS",
                "certificate signed by unknown CA",
                f"Give its CA certificate with --ca-file CA.crt; for the Docker engine add the CA "
                f"to /etc/docker/certs.d/{self.host}/ca.crt",
            )

    def tags(self, repository: str) -> list[str]:
        return list(UPSTREAM_TAGS)

    def close(self) -> None:
        pass


def manifest() -> BundleManifest:
    """Three images, one layer blob each (their sizes are what the screens show)."""
    sizes = {"semgrep": 412 * MB, "secrets": 98 * MB, "gemnasium": 301 * MB}
    tags = {"semgrep": "6", "secrets": "7", "gemnasium": "6"}
    images: list[BundleImage] = []
    blobs: list[BundleBlob] = []
    offset = 3 * 1024
    for n, (name, size) in enumerate(sizes.items(), start=1):
        top, layer = "sha256:" + f"{n}" * 64, "sha256:" + f"{n + 6}" * 64
        for digest, length, media in ((top, 500, OCI_MANIFEST), (layer, size, OCI_LAYER)):
            blobs.append(BundleBlob(digest, length, media, offset + 512))
            offset += 512 + -(-length // 512) * 512
        images.append(
            BundleImage(
                name=name,
                tag=tags[name],
                source_ref=f"registry.gitlab.com/security-products/{name}:{tags[name]}",
                digest=top,
                media_type=OCI_MANIFEST,
                platform="linux/amd64",
                blobs=[layer],
                analyzer=name,
                built=built(name),
            )
        )
    parts = split_into_parts(offset + 1024, MANIFEST_PART)  # the tar ends with 2 zero blocks
    return BundleManifest(
        created="2026-11-20T09:30:00Z",
        source_prefix="registry.gitlab.com/security-products",
        gitlab_major=18,
        platforms=["linux/amd64"],
        images=images,
        blobs=blobs,
        parts=parts,
    )


def split_into_parts(total: int, part_size: int) -> list[BundlePart]:
    """`total` bytes of tar written as parts of `part_size` (the last one shorter)."""
    sizes = [part_size] * (total // part_size) + ([total % part_size] if total % part_size else [])
    return [BundlePart(f"images.tar.{n:03d}", size, f"{n:x}" * 64) for n, size in enumerate(sizes)]


def own_layer(index: int) -> LayerEstimate:
    """The layer only the `index`-th chosen image has."""
    return LayerEstimate(f"sha256:{index:064x}", (index + 2) * 40 * MB, shared=False)


def image_size(m: BundleManifest, image: BundleImage) -> int:
    return sum(m.blob(digest).size for digest in image.blobs)


class FixedDomain(Domain):
    """The wizard's domain calls with constant answers (see the module docstring)."""

    def __init__(
        self,
        *,
        missing: frozenset[str] = frozenset(),
        registry: str = "ok",
        hold: bool = False,
        bad_parts: frozenset[str] = frozenset(),
        journal: bool = False,
        free: int = 14_200_000_000,
        unreachable: bool = False,
        proxy: tuple[str, str] | None = None,
        engine: Callable[[], FakeEngine] = fake_engine,
        hold_tool: bool = False,
    ) -> None:
        self.missing, self.registry, self.hold = missing, registry, hold
        self.hold_tool = hold_tool  # prepare_tool runs until cancelled, as a long build
        self.tool_builds: list[CancelToken] = []  # prepare_tool's tokens, in order
        self.bad_parts, self.journal, self.free = bad_parts, journal, free
        self.unreachable, self.proxy, self.engine = unreachable, proxy, engine
        self.requests: list[object] = []
        self.released = threading.Event()  # ends a held export even if nobody cancels it
        self._running = 0  # transfers started and not yet returned (worker threads are pooled)
        self._idle = threading.Condition()

    def finish(self, timeout: float = 30.0) -> None:
        """Release held work and wait until every transfer a worker started has returned: a
        test must not end while work it started still runs in a thread."""
        self.released.set()
        with self._idle:
            assert self._idle.wait_for(lambda: self._running == 0, timeout), "work still runs"

    def prepare_tool(self, cancel: CancelToken) -> bool:
        """Records the build ahead (the real one is tests/unit/test_tool_ahead.py's)."""
        self.tool_builds.append(cancel)
        if self.hold_tool:
            while not cancel.wait(30.0):
                pass
            return False
        return True

    def connect_engine(self) -> FakeEngine:  # type: ignore[override]
        return self.engine()

    def removable_drives(self) -> list[Drive]:
        return list(DRIVES)

    def source_proxy(self, host: str) -> tuple[str, str] | None:
        return self.proxy  # fixed: the developer's own proxy variables never show

    def registry_client(  # type: ignore[override]
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        ca_file: Path | None = None,
        insecure: bool | None = None,
    ) -> FakeRegistryClient:
        self.requests.append(("registry_client", host, insecure))
        return FakeRegistryClient(host, self.registry, credentials)

    def estimate(
        self,
        specs: list[ImageSpec],
        *,
        platform: str,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> Estimate:
        images = []
        for index, spec in enumerate(specs):
            if self.unreachable:
                failure = RegistryUnreachable(
                    f"Can't reach {spec.source.registry}",
                    f"the name {spec.source.registry} does not resolve",
                    UNREACHABLE_NEXT_STEP,
                )
                images.append(ImageEstimate(spec, error=failure.sentence(), failure=failure))
                continue
            if spec.label in self.missing:
                # as the registry client words it (RegistryClient._missing)
                missing = NotFoundError(
                    f"Image {spec.source}",
                    f"no such tag; tags that exist: {', '.join(UPSTREAM_TAGS)}",
                    "Choose one of the existing tags",
                    available=list(UPSTREAM_TAGS),
                )
                images.append(
                    ImageEstimate(
                        spec,
                        error=missing.sentence(),
                        available_tags=list(UPSTREAM_TAGS),
                        failure=missing,
                    )
                )
                continue
            layers = [SHARED_LAYER, own_layer(index)]
            download = sum(x.compressed for x in layers)
            images.append(
                ImageEstimate(
                    spec,
                    download_bytes=download,
                    media_bytes=download + IMAGE_METADATA,
                    layers=layers,
                    built=built(spec.name),
                )
            )
        return Estimate(
            images=images,
            download_bytes=self.download_bytes(images),
            bundle_bytes=self.bundle_bytes(images),
            problems=[i.error for i in images if i.error],
            tool_bytes=TOOL.size,  # like the real one: the tool is sized even when nothing is
        )

    @staticmethod
    def download_bytes(images: list[ImageEstimate]) -> int:
        """Distinct layers of the images that resolved: the shared one once; 0 for none."""
        ok = [i for i in images if i.ok]
        return sum(i.download_bytes - SHARED_LAYER.compressed for i in ok) + (
            SHARED_LAYER.compressed if ok else 0
        )

    @staticmethod
    def bundle_bytes(images: list[ImageEstimate]) -> int:
        """The tar of the images that resolved; 0 when none did (no bundle can be made)."""
        ok = [i for i in images if i.ok]
        if not ok:
            return 0
        return FixedDomain.download_bytes(images) + IMAGE_METADATA * len(ok) + BUNDLE_METADATA

    def plan_destination(
        self, path: Path, needed_bytes: int, specs: list[ImageSpec], part_size: int
    ) -> DestinationPlan:
        journal = None
        part_size = min(part_size, FAT32_MAX_FILE_SIZE)
        if self.journal:  # an earlier run of this export wrote its first part
            first = split_into_parts(needed_bytes, part_size)[0]
            journal = ExportJournal(path, "key", part_size, {first.file: first})
        reusable = journal.done_bytes if journal else 0
        needed = max(needed_bytes - reusable, 0)
        info = DestinationInfo(
            path=path,
            existing=Path(USB),
            mount_point=USB,
            filesystem="vfat",
            free=self.free,
            needed=needed,
            fits=self.free >= needed,
            writable=True,
            max_part_size=FAT32_MAX_FILE_SIZE,
        )
        return DestinationPlan(
            path=path,
            info=info,
            part_size=part_size,
            part_size_note=None,
            journal=journal,
            existing=None,
            other_images=False,
            reusable=reusable,
        )

    def export_bundle(
        self,
        request: ExportRequest,
        *,
        progress: ProgressCallback,
        cancel: CancelToken,
        sizes: Estimate | None = None,
    ) -> ExportResult:
        self.requests.append(request)
        with self._idle:
            self._running += 1
        try:
            return self._export(request, progress, cancel)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _export(
        self, request: ExportRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> ExportResult:
        """Progress and result of the export the estimate of `request.specs` describes: each
        image downloads its own layer, the first one also the shared layer."""
        sizes = self.estimate(
            list(request.specs), platform=request.platform, progress=ignore_progress, cancel=cancel
        )
        for index, spec in enumerate(request.specs):
            total = own_layer(index).compressed + (SHARED_LAYER.compressed if index == 0 else 0)
            item = str(spec.source)
            if index == len(request.specs) - 1 and self.hold:
                progress(Progress(STAGE_PULL, item, total // 3, total, "Downloading"))
                progress(Progress(STAGE_SAVE, "images.tar.000", 0, None, "waiting for pulls"))
                while not cancel.wait(0.05) and not self.released.is_set():
                    pass
                raise Cancelled("Writing the bundle", "cancelled by the operator")
            progress(Progress(STAGE_PULL, item, total, total, "Downloading"))
            progress(Progress(STAGE_PULL, item, total, total, "pulled", final=True))
        parts = split_into_parts(sizes.bundle_bytes, request.part_size)
        for part in parts:
            progress(Progress(STAGE_SAVE, part.file, part.size, part.size, "written", final=True))
            progress(Progress(STAGE_READBACK, part.file, part.size, part.size, "ok", final=True))
        if request.tool:
            progress(Progress(STAGE_TOOL, TOOL.file, TOOL.size, TOOL.size, "written", final=True))
        return ExportResult(
            tool=TOOL if request.tool else None,
            ok=True,
            bundle_dir=request.dest,
            fingerprint=FINGERPRINT,
            images=[s.label for s in request.specs],
            bundle_bytes=sizes.bundle_bytes,
            parts_written=[p.file for p in parts],
            estimated_bytes=sizes.bundle_bytes,
            images_built={s.label: built(s.name) for s in request.specs},
        )

    def find_bundles(self, directory: Path, limit: int = 20) -> list[Path]:
        if str(directory) == BUNDLE:
            return [directory]
        if str(directory) == USB:
            return [Path(BUNDLE)]
        return []

    def read_manifest(self, bundle_dir: Path) -> BundleManifest:
        return manifest()

    def verify_bundle(
        self, bundle_dir: Path, *, progress: ProgressCallback, cancel: CancelToken
    ) -> VerifyReport:
        m = manifest()
        problems = []
        for part in m.parts:
            ok = part.file not in self.bad_parts
            message = "ok" if ok else "sha256 mismatch: the file is damaged"
            if not ok:
                problems.append(Problem(part.file, message))
            progress(Progress(STAGE_VERIFY, part.file, part.size, part.size, message, True, ok))
        return VerifyReport(not problems, m.fingerprint, m, problems, [])

    def import_bundle(
        self,
        request: ImportRequest,
        engine: object,
        *,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> ImportResult:
        self.requests.append(request)
        m = manifest()
        total = m.total_bytes
        if request.via_docker:
            progress(Progress(STAGE_LOAD, request.bundle_dir.name, total, total, "loaded", True))
        images = []
        for index, image in enumerate(m.images):
            target = f"{request.registry}/{image.name}:{image.tag}"
            if request.via_docker:
                progress(Progress(STAGE_TAG, target, 1, 1, "tagged", final=True))
            size = image_size(m, image)
            progress(Progress(STAGE_PUSH, target, size, size, "pushed", final=True))
            # straight: the registry keeps the bundle's digest; through Docker it is the
            # digest of the engine's own push
            pushed = "sha256:" + f"{index + 4}" * 64 if request.via_docker else image.digest
            images.append(
                ImageResult(
                    image.name,
                    image.tag,
                    target,
                    True,
                    "pushed",
                    source_digest=image.digest,
                    pushed_digest=pushed,
                    digest_kept=not request.via_docker,
                    built=image.built,
                    age_days=age(image.name),
                )
            )
        ages = age_warnings(
            ((i.label, i.built, i.analyzer) for i in m.images), NOW, request.max_age
        )
        return ImportResult(True, m.fingerprint, images, verified=False, age_warnings=ages)

    def format_fingerprint(self, fingerprint: str) -> str:
        from airgap_tui.bundle.writer import format_fingerprint

        return format_fingerprint(fingerprint)


SIGNER = Signer("exporter@connected", "ED25519", "SHA256:q7Vx2x0ExampleKeyFingerprint")


class SignedDomain(FixedDomain):
    """The fixed bundle, signed: what the real domain reports for a checked signature."""

    def bundle_signer(self, bundle_dir: Path) -> str:
        return f"signed by ssh-ed25519 key {SIGNER.key_fingerprint} (not checked here)"

    def verify_bundle(self, *args: Any, **kwargs: Any) -> VerifyReport:
        report = super().verify_bundle(*args, **kwargs)
        return dataclasses.replace(report, trust=TrustReport(None, SIGNER, None))


class CheckingDomain(SignedDomain):
    """check_signature answers as the real one does for a good file, or refuses the others
    (the real check, with ssh-keygen, is tests/integration/test_trust_signing.py's)."""

    def __init__(self, good: Path) -> None:
        super().__init__()
        self.good = good
        self.checked: list[Path] = []

    def check_signature(self, bundle_dir: Path, fingerprint: str, allowed_signers: Path) -> Any:
        self.checked.append(allowed_signers)
        if allowed_signers != self.good:
            raise BundleError(
                "bundle.yaml.sig",
                f"it was signed by a key {allowed_signers.name} does not list",
                "Do not import this bundle",
            )
        return TrustReport(None, SIGNER, None)
