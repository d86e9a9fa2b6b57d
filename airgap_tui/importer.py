"""Offline host: verify -> load (parts streamed, concatenated) -> check IDs -> tag -> push.

Nothing is loaded from a bundle that failed verification. One image failing does not stop the
others, and a re-run skips images the registry already holds with the same image ID, so
running it again after a fault pushes only what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from airgap_tui.bundle import BundleImage, iter_bundle_stream, read_manifest, verify_bundle
from airgap_tui.engine import Engine
from airgap_tui.errors import (
    AirgapError,
    AuthError,
    Cancelled,
    NotFoundError,
    RegistryError,
    TLSError,
)
from airgap_tui.events import STAGE_PUSH, STAGE_TAG, CancelToken, Progress, ProgressCallback
from airgap_tui.events import ignore_progress as _ignore
from airgap_tui.models import Credentials
from airgap_tui.receipt import write_receipt
from airgap_tui.reference import split_prefix
from airgap_tui.registry import RegistryClient

PUSH_ATTEMPTS = 4
PUSH_BACKOFF = 1.0  # seconds, doubled after each failed attempt


@dataclass(frozen=True)
class ImportRequest:
    bundle_dir: Path
    registry: str  # host[:port][/path]
    verify: bool = True
    credentials: Credentials | None = None
    ca_file: Path | None = None
    receipt_dir: Path | None = None  # None = current directory


@dataclass
class ImageResult:
    name: str
    tag: str
    target: str
    ok: bool
    status: str  # "pushed", "already present", "failed", "not loaded"
    source_digest: str = ""
    image_id: str = ""
    pushed_digest: str = ""
    error: str = ""


@dataclass
class ImportResult:
    ok: bool
    fingerprint: str
    images: list[ImageResult] = field(default_factory=list)
    verified: bool = False
    receipt_path: Path | None = None
    problems: list[str] = field(default_factory=list)


def import_bundle(
    request: ImportRequest,
    engine: Engine,
    *,
    progress: ProgressCallback = _ignore,
    cancel: CancelToken | None = None,
) -> ImportResult:
    cancel = cancel or CancelToken()
    started = datetime.now(UTC)
    host, path = split_prefix(request.registry)
    prefix = f"{host}/{path}" if path else host
    manifest = read_manifest(request.bundle_dir)
    result = ImportResult(ok=False, fingerprint=manifest.fingerprint)

    def finish() -> ImportResult:
        result.ok = not result.problems and all(i.ok for i in result.images)
        result.receipt_path = write_receipt(
            request.receipt_dir or Path.cwd(),
            bundle_dir=request.bundle_dir,
            manifest=manifest,
            registry=prefix,
            verification=verification,
            problems=result.problems,
            images=result.images,
            engine=engine.docker_host,
            started=started,
        )
        return result

    verification = "skipped (--no-verify): parts were hash-checked while loading"
    if request.verify:
        report = verify_bundle(request.bundle_dir, progress=progress, cancel=cancel)
        result.verified = report.ok
        verification = "passed" if report.ok else "failed"
        if not report.ok:
            result.problems = [f"{p.file}: {p.message}" for p in report.problems]
            result.images = [
                _result(img, prefix, "not loaded", "bundle failed verification")
                for img in manifest.images
            ]
            return finish()

    client = RegistryClient(host, credentials=request.credentials, ca_file=request.ca_file)
    client.ping()  # a wrong address, TLS or credentials fail here, before anything is loaded

    pending: list[BundleImage] = []
    for img in manifest.images:
        repo = f"{path}/{img.name}" if path else img.name
        if _already_pushed(client, repo, img):
            res = _result(img, prefix, "already present")
            res.ok, res.pushed_digest = True, _digest_or_blank(client, repo, img.tag)
            result.images.append(res)
        else:
            pending.append(img)
    if pending and any(engine.inspect(img.image_id) is None for img in pending):
        engine.load(
            iter_bundle_stream(request.bundle_dir, manifest, progress=progress, cancel=cancel),
            total=manifest.total_bytes,
            item=request.bundle_dir.name or str(request.bundle_dir),
            progress=progress,
            cancel=cancel,
        )

    for img in pending:
        cancel.check("Import")
        result.images.append(
            _tag_and_push(img, prefix, engine, client, request.credentials, progress, cancel)
        )
    order = {(i.name, i.tag): n for n, i in enumerate(manifest.images)}
    result.images.sort(key=lambda r: order.get((r.name, r.tag), 0))
    return finish()


def _result(img: BundleImage, prefix: str, status: str, error: str = "") -> ImageResult:
    return ImageResult(
        name=img.name,
        tag=img.tag,
        target=f"{prefix}/{img.name}:{img.tag}",
        ok=False,
        status=status,
        source_digest=img.digest,
        image_id=img.image_id,
        error=error,
    )


def _already_pushed(client: RegistryClient, repo: str, img: BundleImage) -> bool:
    """The registry's manifest for the tag points at this image's config (= its image ID)."""
    try:
        found = client.manifest(repo, img.tag)
    except NotFoundError:
        return False
    return found.config_digest == img.image_id


def _digest_or_blank(client: RegistryClient, repo: str, tag: str) -> str:
    try:
        return client.manifest(repo, tag).digest
    except RegistryError:
        return ""


def _tag_and_push(
    img: BundleImage,
    prefix: str,
    engine: Engine,
    client: RegistryClient,
    credentials: Credentials | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> ImageResult:
    res = _result(img, prefix, "failed")
    details = engine.inspect(img.image_id)
    if details is None:
        res.status = "not loaded"
        res.error = f"the engine has no image {img.image_id[:19]} after loading the bundle"
        progress(Progress(STAGE_PUSH, res.target, message=res.error, final=True, ok=False))
        return res
    if details.diff_ids != img.diff_ids:
        res.status = "not loaded"
        res.error = "the loaded image's layers differ from the bundle manifest"
        progress(Progress(STAGE_PUSH, res.target, message=res.error, final=True, ok=False))
        return res
    try:
        engine.tag(img.image_id, res.target)
        progress(Progress(STAGE_TAG, res.target, 1, 1, "tagged", final=True))
        res.pushed_digest = _push_with_retries(engine, res.target, credentials, progress, cancel)
    except Cancelled:
        raise
    except (AuthError, TLSError) as exc:
        res.error = exc.sentence()
        return res
    except AirgapError as exc:
        res.error = exc.sentence()
        progress(Progress(STAGE_PUSH, res.target, message=res.error, final=True, ok=False))
        return res
    repo = res.target.split("/", 1)[1].rsplit(":", 1)[0]
    try:
        stored = client.manifest(repo, img.tag)
    except RegistryError as exc:
        res.error = f"pushed, but the registry does not serve it back: {exc.sentence()}"
        return res
    if stored.config_digest != img.image_id:
        res.error = "the registry serves a different image under this tag after the push"
        return res
    res.pushed_digest = res.pushed_digest or stored.digest
    res.ok, res.status = True, "pushed"
    return res


def _push_with_retries(
    engine: Engine,
    target: str,
    credentials: Credentials | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> str:
    delay = PUSH_BACKOFF
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        try:
            return engine.push(target, credentials=credentials, progress=progress, cancel=cancel)
        except (AuthError, TLSError, Cancelled):
            raise
        except AirgapError as exc:
            if attempt == PUSH_ATTEMPTS:
                raise RegistryError(
                    f"Push of {target}",
                    f"failed {PUSH_ATTEMPTS} times; last error: {exc.cause}",
                    "Check the registry, then run the import again: it pushes only what is missing",
                ) from None
            progress(Progress(STAGE_PUSH, target, message=f"retry {attempt} in {delay:.0f}s"))
            if cancel.wait(delay):
                cancel.check(f"Pushing {target}")
            delay *= 2
    raise AssertionError("unreachable")
