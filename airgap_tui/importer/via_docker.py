"""Offline host, the engine route (`import --via-docker`): load -> check IDs -> tag -> push.

For hosts that also want the images in their Docker engine. The concatenated parts are a
docker-archive too, so they stream into `docker load` with no copy on disk. The engine
re-compresses layers on push, so the pushed digest usually differs from the upstream one; the
result says so. Artifacts (no image config) cannot be loaded into an engine and are skipped
with a note. Images are pushed as soon as the engine has them, side by side, except that an
image waits for the push that first carries a layer it shares (the engine then mounts it).

The load plan is in docker_plan.py, the checks around `docker load` in load_checks.py, and
the push scheduling in push_schedule.py; this module runs them and tags and pushes each image.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airgap_tui.bundle.manifest import BundleImage, BundleManifest
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.errors import (
    AirgapError,
    AuthError,
    Cancelled,
    RegistryError,
    TLSError,
)
from airgap_tui.events import (
    STAGE_PUSH,
    STAGE_TAG,
    CancelToken,
    Progress,
    ProgressCallback,
)
from airgap_tui.importer.docker_plan import DockerImage, is_artifact, plan
from airgap_tui.importer.engine import Engine
from airgap_tui.importer.load_checks import check_engine_reads_layers
from airgap_tui.importer.outcome import (
    STATUS_NOT_LOADED,
    STATUS_PRESENT,
    STATUS_PUSHED,
    STATUS_SKIPPED,
    ImageResult,
)
from airgap_tui.importer.push_schedule import load_while_pushing, push_as_ready
from airgap_tui.models import Credentials
from airgap_tui.registry.client import RegistryClient

ARTIFACT_NOTE = (
    "skipped: an OCI artifact, not an image, cannot be loaded into Docker; "
    "import without --via-docker to push it straight to the registry"
)


@dataclass(frozen=True)
class Retry:
    attempts: int
    backoff: float  # seconds before the second attempt, doubled after each failure


def import_via_docker(
    bundle_dir: Path,
    manifest: BundleManifest,
    engine: Engine,
    client: RegistryClient,
    prefix: str,
    repository: Callable[[BundleImage], str],
    *,
    credentials: Credentials | None,
    retry: Retry,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> list[ImageResult]:
    """Load what the engine lacks, then tag and push every image; artifacts skipped."""
    outcomes: list[ImageResult] = []
    images: list[DockerImage] = []
    with PartsReader(bundle_dir, manifest.parts, cancel=cancel) as reader:
        for img in manifest.images:
            target = f"{prefix}/{img.name}:{img.tag}"
            if is_artifact(img):
                outcomes.append(
                    ImageResult(
                        img.name, img.tag, target, False, STATUS_SKIPPED, img.digest,
                        kind=img.kind, note=ARTIFACT_NOTE,
                    )
                )  # fmt: skip
                progress(Progress(STAGE_PUSH, target, message=ARTIFACT_NOTE, final=True))
            else:
                images.append(plan(reader, manifest, img))
    check_engine_reads_layers(engine, manifest, images)
    pending: list[DockerImage] = []
    for image in images:
        repo = repository(_as_bundle(manifest, image))
        if _already_pushed(client, repo, image):
            res = ImageResult.open(image.name, image.tag, prefix, image.source_digest)
            _record_registry(client, repo, image.tag, res)
            res.succeed(STATUS_PRESENT, res.pushed_digest)
            outcomes.append(res)
        else:
            pending.append(image)

    def push(image: DockerImage) -> ImageResult:
        cancel.check("Import")
        return _tag_and_push(image, prefix, engine, client, credentials, progress, cancel, retry)

    results: list[ImageResult] = []
    if pending and any(engine.inspect(image.image_id) is None for image in pending):
        load_while_pushing(bundle_dir, manifest, pending, engine, push, results, progress, cancel)
    elif pending:
        state = threading.Condition()
        push_as_ready(pending, push, state, set(range(len(pending))), [None], results, cancel)
    outcomes.extend(results)
    order = {(i.name, i.tag): n for n, i in enumerate(manifest.images)}
    outcomes.sort(key=lambda r: order.get((r.name, r.tag), 0))
    return outcomes


def _as_bundle(manifest: BundleManifest, image: DockerImage) -> BundleImage:
    return next(i for i in manifest.images if (i.name, i.tag) == (image.name, image.tag))


def _already_pushed(client: RegistryClient, repo: str, img: DockerImage) -> bool:
    """The registry's manifest for the tag points at this image's config (= its image ID)."""
    try:
        found = client.manifest(repo, img.tag)
    except RegistryError:
        return False
    return found.config_digest == img.image_id


def _record_registry(client: RegistryClient, repo: str, tag: str, res: ImageResult) -> None:
    """The digest and blobs the registry now holds for the tag (the engine's, not upstream's)."""
    try:
        stored = client.manifest(repo, tag)
    except RegistryError:
        return
    res.pushed_digest = res.pushed_digest or stored.digest
    res.blobs = [{"digest": stored.config_digest, "size": stored.config_size}] + [
        {"digest": layer.digest, "size": layer.size} for layer in stored.layers
    ]


def _tag_and_push(
    img: DockerImage,
    prefix: str,
    engine: Engine,
    client: RegistryClient,
    credentials: Credentials | None,
    progress: ProgressCallback,
    cancel: CancelToken,
    retry: Retry,
) -> ImageResult:
    res = ImageResult.open(img.name, img.tag, prefix, img.source_digest)
    details = engine.inspect(img.image_id)
    if details is None:
        res.status = STATUS_NOT_LOADED
        res.error = f"the engine has no image {img.image_id[:19]} after loading the bundle"
        progress(Progress(STAGE_PUSH, res.target, message=res.error, final=True, ok=False))
        return res
    if details.diff_ids != img.diff_ids:
        res.status = STATUS_NOT_LOADED
        res.error = "the loaded image's layers differ from the image's config in the bundle"
        progress(Progress(STAGE_PUSH, res.target, message=res.error, final=True, ok=False))
        return res
    try:
        engine.tag(img.image_id, res.target)
        progress(Progress(STAGE_TAG, res.target, 1, 1, "tagged", final=True))
        res.pushed_digest = _push_with_retries(
            engine, res.target, credentials, progress, cancel, retry
        )
    except Cancelled:
        raise
    except AirgapError as exc:  # AuthError and TLSError too: not retried, but reported
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
    _record_registry(client, repo, img.tag, res)
    res.succeed(STATUS_PUSHED, res.pushed_digest)
    return res


def _push_with_retries(
    engine: Engine,
    target: str,
    credentials: Credentials | None,
    progress: ProgressCallback,
    cancel: CancelToken,
    retry: Retry,
) -> str:
    delay = retry.backoff
    for attempt in range(1, retry.attempts + 1):
        try:
            return engine.push(target, credentials=credentials, progress=progress, cancel=cancel)
        except (AuthError, TLSError, Cancelled):
            raise
        except AirgapError as exc:
            if attempt == retry.attempts:
                raise RegistryError(
                    f"Push of {target}",
                    f"failed {retry.attempts} times; last error: {exc.cause}",
                    "Check the registry, then run the import again: it pushes only what is missing",
                ) from None
            progress(Progress(STAGE_PUSH, target, message=f"retry {attempt} in {delay:g}s"))
            if cancel.wait(delay):
                cancel.check(f"Pushing {target}")
            delay *= 2
    raise AssertionError("unreachable")
