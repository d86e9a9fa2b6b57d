"""Offline host: verify, then get every image into the target registry, and write the receipt.

Two routes: straight to the registry (the default; push.py: blobs and the original manifest
bytes, every upstream digest kept, no engine), or through the Docker engine (via_docker.py:
load, tag, push; for hosts that also want the images in the engine). Nothing is pushed or
loaded from a bundle that failed verification. One image failing does not stop the others, and
a re-run skips what the registry already holds, so running it again after a fault pushes only
what is missing.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airgap_tui.bundle.manifest import BundleImage, BundleManifest
from airgap_tui.bundle.parts import files_not_listed
from airgap_tui.bundle.prehash import PartHashes
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.bundle.schema import read_manifest_and_bytes
from airgap_tui.bundle.signature import SIGNATURE_NAME
from airgap_tui.bundle.trust import Trust, TrustReport, check_trust, unchecked_signature
from airgap_tui.bundle.verify import verify_bundle
from airgap_tui.catalog.age import DEFAULT_MAX_AGE_DAYS, age_days, age_warnings
from airgap_tui.delta.check import DeltaCheck, require_expected_blobs
from airgap_tui.delta.delta import BlobRef
from airgap_tui.errors import BundleError, Cancelled, UsageError
from airgap_tui.events import CancelToken, ProgressCallback
from airgap_tui.events import ignore_progress as _ignore
from airgap_tui.importer.outcome import (
    STATUS_FAILED,
    STATUS_NOT_LOADED,
    ImageResult,
)
from airgap_tui.importer.push import push_images
from airgap_tui.importer.receipt import write_receipt
from airgap_tui.models import Credentials
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.reference import split_prefix, validate_repository_path

if TYPE_CHECKING:
    from airgap_tui.importer.engine import Engine
    from airgap_tui.importer.via_docker import Retry

PUSH_ATTEMPTS = 4
PUSH_BACKOFF = 1.0  # seconds, doubled after each failed attempt

ROUTE_REGISTRY = "registry"  # blobs and original manifests straight to the registry
ROUTE_DOCKER = "docker"  # docker load, tag, push


@dataclass(frozen=True)
class ImportRequest:
    bundle_dir: Path
    registry: str  # host[:port][/path]
    verify: bool = True
    credentials: Credentials | None = None
    ca_file: Path | None = None
    receipt_dir: Path | None = None  # None = current directory
    # The fingerprint of a full verification the caller has just run (the wizard's Verify
    # step): the import then does not read every byte twice, yet the receipt says it passed.
    # Ignored when the bundle on the media no longer has that fingerprint.
    verified_fingerprint: str | None = None
    # Bounded retries of a push that fails for a reason that may pass (registry restarting,
    # network blip); None = PUSH_ATTEMPTS / PUSH_BACKOFF. Tests shorten the backoff.
    push_attempts: int | None = None
    push_backoff: float | None = None
    # Load into the engine, tag and push with it, instead of pushing straight to the registry.
    via_docker: bool = False
    # Plain HTTP for the registry: None = loopback only (straight route), or as the engine's
    # insecure-registries say (Docker route).
    insecure: bool | None = None
    # The fingerprint carried apart from the stick and/or the allowed_signers file: checked
    # before anything is pushed; a mismatch raises BundleError (issue 20).
    trust: Trust | None = None
    max_age: int = DEFAULT_MAX_AGE_DAYS  # warn about images built longer ago (days; 0: off)
    # Digests of the bundle's files a thread took while the CLI started (bundle/prehash.py);
    # the verify uses them only for the very files it opens.
    hashes: PartHashes | None = field(default=None, compare=False)


@dataclass
class ImportResult:
    ok: bool
    fingerprint: str
    images: list[ImageResult] = field(default_factory=list)
    verified: bool = False
    receipt_path: Path | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. files the bundle does not list
    age_warnings: list[str] = field(default_factory=list)  # images older than --max-age
    route: str = ROUTE_REGISTRY
    # What --expect-fingerprint / --trust found; without them, who the signature names
    trust: TrustReport | None = None


def import_bundle(
    request: ImportRequest,
    engine: Engine | None = None,
    *,
    progress: ProgressCallback = _ignore,
    cancel: CancelToken | None = None,
) -> ImportResult:
    """Verify, push (or load, tag, push), write the receipt. `engine` only for via_docker."""
    cancel = cancel or CancelToken()
    if request.via_docker and engine is None:
        raise UsageError(
            "import --via-docker", "it needs a Docker engine", "Start Docker, or drop --via-docker"
        )
    started = datetime.now(UTC)
    host, path = split_prefix(request.registry)
    prefix = f"{host}/{path}" if path else host
    manifest, raw = read_manifest_and_bytes(request.bundle_dir)
    trusted: TrustReport | None
    if request.trust is not None and request.trust.asked:  # before anything is pushed
        trusted = check_trust(request.bundle_dir, manifest.fingerprint, raw, request.trust)
    else:
        trusted = unchecked_signature(request.bundle_dir)
    if request.via_docker:
        refuse_delta_via_docker(manifest, request.bundle_dir)
    result = ImportResult(
        ok=False,
        fingerprint=manifest.fingerprint,
        route=ROUTE_DOCKER if request.via_docker else ROUTE_REGISTRY,
        trust=trusted,
    )
    try:
        _run(request, engine, manifest, result, prefix, progress, cancel)
    except Cancelled as exc:
        raise _cancelled(exc, len(manifest.images)) from None
    if _verified_before(request, manifest):
        verification = "passed (full check run just before the import)"
    elif not request.verify and request.verified_fingerprint is None:
        verification = "skipped (--no-verify): every blob was hash-checked while it was read"
    else:
        verification = "passed" if result.verified else "failed"
    _add_ages(result, manifest, started, request.max_age)
    result.ok = not result.problems and all(i.settled for i in result.images)
    result.receipt_path = write_receipt(
        request.receipt_dir or Path.cwd(),
        bundle_dir=request.bundle_dir,
        manifest=manifest,
        registry=prefix,
        verification=verification,
        problems=result.problems,
        warnings=[*result.warnings, *result.age_warnings],
        images=result.images,
        route=result.route,
        engine=engine.docker_host if engine is not None and request.via_docker else None,
        started=started,
        trust=result.trust,
    )
    return result


def _verified_before(request: ImportRequest, manifest: BundleManifest) -> bool:
    return request.verified_fingerprint is not None and (
        request.verified_fingerprint == manifest.fingerprint
    )


def _run(
    request: ImportRequest,
    engine: Engine | None,
    manifest: BundleManifest,
    result: ImportResult,
    prefix: str,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> None:
    """Verify, then push into `result` (nothing is pushed or loaded when verify fails)."""
    host, path = split_prefix(request.registry)
    for img in manifest.images:  # the distribution spec's bound, before a request is sent
        validate_repository_path(
            f"{path}/{img.name}" if path else img.name, what="Target repository"
        )
    result.warnings = files_not_listed(request.bundle_dir, _listed(manifest))
    if not _verify(request, manifest, result, prefix, progress, cancel):
        return
    attempts = PUSH_ATTEMPTS if request.push_attempts is None else max(1, request.push_attempts)
    backoff = PUSH_BACKOFF if request.push_backoff is None else max(0.0, request.push_backoff)
    client = _registry_client(request, engine, host, attempts, backoff, cancel)
    client.ping()  # a wrong address, TLS or credentials fail here, before anything is sent

    def repository(img: BundleImage) -> str:
        return f"{path}/{img.name}" if path else img.name

    if request.via_docker:
        assert engine is not None
        from airgap_tui.importer.via_docker import Retry

        _via_docker(
            request, engine, client, manifest, result, prefix, repository,
            Retry(attempts, backoff), progress, cancel,
        )  # fmt: skip
        return
    found = _check_delta(client, manifest, prefix, repository, progress, cancel)
    with PartsReader(request.bundle_dir, manifest.parts, cancel=cancel) as reader:
        outcomes = push_images(
            client, reader, manifest, repository, progress=progress, cancel=cancel, found=found
        )
    result.images.extend(outcomes)


def _verify(
    request: ImportRequest,
    manifest: BundleManifest,
    result: ImportResult,
    prefix: str,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> bool:
    """Verify the bundle unless asked not to or just done; False (every image marked not
    pushed, the problems in `result`) when it failed: then nothing may be pushed."""
    if _verified_before(request, manifest):
        result.verified = True
    elif request.verify or request.verified_fingerprint is not None:
        report = verify_bundle(
            request.bundle_dir, progress=progress, cancel=cancel, hashes=request.hashes
        )
        result.verified = report.ok and report.fingerprint == manifest.fingerprint
        if not report.ok:
            result.problems = [str(problem) for problem in report.problems]
            status = STATUS_NOT_LOADED if request.via_docker else STATUS_FAILED
            result.images = _not_pushed(manifest, prefix, status, "bundle failed verification")
            return False
    return True


def _registry_client(
    request: ImportRequest,
    engine: Engine | None,
    host: str,
    attempts: int,
    backoff: float,
    cancel: CancelToken,
) -> RegistryClient:
    """The client for the target, plain HTTP or not as the request, the engine (Docker
    route) or the host's daemon.json says."""
    insecure = request.insecure
    if insecure is None and request.via_docker and engine is not None:
        insecure = engine.insecure_registry(host)  # reach it the way the engine's push does
    elif insecure is None:
        insecure = insecure_in_daemon_json(host)
    return RegistryClient(
        host,
        credentials=request.credentials,
        ca_file=request.ca_file,
        insecure=insecure,
        retries=attempts - 1,
        backoff=backoff,
        cancel=cancel,
    )


def refuse_delta_via_docker(manifest: BundleManifest, bundle_dir: Path) -> None:
    """An engine cannot load a partial image: a delta goes straight to the registry only."""
    if manifest.delta is None:
        return
    raise UsageError(
        f"import --via-docker of {bundle_dir}",
        f"it is a delta bundle (made against a {manifest.delta.kind}): it leaves out "
        f"{len(manifest.delta.expected)} layers the registry already holds, and an engine "
        "cannot load an image without all its layers",
        "Drop --via-docker (the delta goes straight to the registry), or bring a full bundle",
    )


def _check_delta(
    client: RegistryClient,
    manifest: BundleManifest,
    prefix: str,
    repository: Callable[[BundleImage], str],
    progress: ProgressCallback,
    cancel: CancelToken,
) -> DeltaCheck | None:
    """A delta's gate before anything is pushed: every expected blob is in the target or
    mountable there, else DeltaMissingError (how many, which images, what to do)."""
    delta = manifest.delta
    if delta is None:
        return None
    return require_expected_blobs(
        client,
        prefix,
        [(f"{img.name}:{img.tag}", repository(img), img.blobs) for img in manifest.images],
        [BlobRef(b.digest, b.size) for b in delta.expected],
        kind=delta.kind,
        against=delta.against,
        progress=progress,
        cancel=cancel,
    )


def _via_docker(
    request: ImportRequest,
    engine: Engine,
    client: RegistryClient,
    manifest: BundleManifest,
    result: ImportResult,
    prefix: str,
    repository: Callable[[BundleImage], str],
    retry: Retry,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> None:
    from airgap_tui.importer.via_docker import import_via_docker

    try:
        outcomes = import_via_docker(
            request.bundle_dir,
            manifest,
            engine,
            client,
            prefix,
            repository,
            credentials=request.credentials,
            retry=retry,
            progress=progress,
            cancel=cancel,
        )
    except BundleError as exc:  # a part or blob failed its hash on the way: nothing was loaded
        result.problems.append(exc.sentence())
        result.images = _not_pushed(manifest, prefix, STATUS_NOT_LOADED, exc.sentence())
        return
    result.images.extend(outcomes)


def _cancelled(exc: Cancelled, total: int) -> Cancelled:
    """The operator's stop; what is already in the registry is skipped by the next run."""
    return Cancelled(
        exc.what,
        f"cancelled by the operator before all {total} images were in the registry",
        "Run the same import again to resume: it pushes only what is missing",
    )


def _not_pushed(
    manifest: BundleManifest, prefix: str, status: str, error: str
) -> list[ImageResult]:
    """Every image of the bundle, none pushed, for `error`."""
    return [
        ImageResult.open(img.name, img.tag, prefix, img.digest, status, kind=img.kind, error=error)
        for img in manifest.images
    ]


def _add_ages(result: ImportResult, manifest: BundleManifest, now: datetime, max_age: int) -> None:
    """Each image's build date and its age on the day of the import (receipt, --json, the
    screens), and a warning for each one older than `max_age` days."""
    built = {(i.name, i.tag): i for i in manifest.images}
    for row in result.images:
        image = built.get((row.name, row.tag))
        if image is not None:
            row.built = image.built
            row.age_days = age_days(image.built, now)
    result.age_warnings = age_warnings(
        ((i.label, i.built, i.analyzer) for i in manifest.images), now, max_age
    )


def _listed(manifest: BundleManifest) -> list[str]:
    """The files a bundle lists: its parts and the carried tool (and its signature)."""
    return [*(part.file for part in manifest.parts), SIGNATURE_NAME] + (
        [manifest.tool.file] if manifest.tool is not None else []
    )


DOCKER_DAEMON_JSON = Path("/etc/docker/daemon.json")


def insecure_in_daemon_json(host: str, path: Path = DOCKER_DAEMON_JSON) -> bool | None:
    """True when the host's Docker settings list `host` (or a CIDR holding its address) under
    insecure-registries: an offline host that pushes to a plain-HTTP registry has said so
    there, and the straight route reads it without an engine. None = our default (loopback)."""
    try:
        with path.open("rb") as f:
            data = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return None
    entries = data.get("insecure-registries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    names = {str(e) for e in entries if isinstance(e, str) and "/" not in e}
    if host in names:
        return True
    networks = []
    for entry in entries:
        if isinstance(entry, str) and "/" in entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
    if not networks:
        return None
    name = urlsplit(f"//{host}").hostname or host
    try:
        infos = socket.getaddrinfo(name, None)
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    except (OSError, ValueError):
        return None
    return True if any(a in n for a in addresses for n in networks) else None
