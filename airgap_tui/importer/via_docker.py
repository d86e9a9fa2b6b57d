"""Offline host, the engine route (`import --via-docker`): load -> check IDs -> tag -> push.

For hosts that also want the images in their Docker engine. The concatenated parts are a
docker-archive too, so they stream into `docker load` with no copy on disk. The engine
re-compresses layers on push, so the pushed digest usually differs from the upstream one; the
result says so. Artifacts (no image config) cannot be loaded into an engine and are skipped
with a note. Images are pushed as soon as the engine has them, side by side, except that an
image waits for the push that first carries a layer it shares (the engine then mounts it).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from airgap_tui.bundle.manifest import KIND_ARTIFACT, BundleImage, BundleManifest
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.errors import (
    AirgapError,
    AuthError,
    BundleError,
    Cancelled,
    EngineError,
    RegistryError,
    TLSError,
)
from airgap_tui.events import (
    STAGE_LOAD,
    STAGE_PUSH,
    STAGE_TAG,
    CancelToken,
    Progress,
    ProgressCallback,
)
from airgap_tui.importer.engine import Engine
from airgap_tui.importer.outcome import (
    STATUS_NOT_LOADED,
    STATUS_PRESENT,
    STATUS_PUSHED,
    STATUS_SKIPPED,
    ImageResult,
)
from airgap_tui.models import Credentials
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.oci import INDEX_TYPES, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES

PUSHES_AT_ONCE = 3  # images sharing no unpushed layer, pushed side by side

ARTIFACT_NOTE = (
    "skipped: an OCI artifact, not an image, cannot be loaded into Docker; "
    "import without --via-docker to push it straight to the registry"
)


@dataclass(frozen=True)
class DockerImage:
    """One bundle image as the engine sees it after `docker load`."""

    name: str
    tag: str
    source_ref: str
    source_digest: str
    image_id: str  # the config digest: the engine's image ID
    diff_ids: list[str]  # from the config: what the engine's layers must be
    layers: list[str]  # compressed layer digests: what pushes may share


@dataclass(frozen=True)
class Retry:
    attempts: int
    backoff: float  # seconds before the second attempt, doubled after each failure


def plan(reader: PartsReader, manifest: BundleManifest, img: BundleImage) -> DockerImage:
    """Read the image's manifest and config from the parts: the image ID and layers to expect.

    For an index, the engine loads the first carried platform (the one manifest.json lists)."""
    top = reader.read_blob(manifest.blob(img.digest), MAX_MANIFEST_BYTES)
    data = _json(top, img.digest)
    if manifest.blob(img.digest).media_type in INDEX_TYPES or "manifests" in data:
        if not img.manifests:
            raise BundleError(f"Image {img.label}", "its index carries no platform manifest")
        data = _json(reader.read_blob(manifest.blob(img.manifests[0]), MAX_MANIFEST_BYTES), "")
    config = data.get("config")
    layers = data.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise BundleError(f"Image {img.label}", "its manifest has no config or layers")
    image_id = str(config.get("digest", ""))
    body = _json(reader.read_blob(manifest.blob(image_id), MAX_CONFIG_BYTES), image_id)
    rootfs = body.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return DockerImage(
        name=img.name,
        tag=img.tag,
        source_ref=img.source_ref,
        source_digest=img.digest,
        image_id=image_id,
        diff_ids=[str(d) for d in diff_ids] if isinstance(diff_ids, list) else [],
        layers=[str(layer.get("digest", "")) for layer in layers if isinstance(layer, dict)],
    )


def _json(body: bytes, what: str) -> dict[str, object]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BundleError(f"Blob {what[:19]}", "it is not a JSON object")
    return data


def is_artifact(img: BundleImage) -> bool:
    return img.kind == KIND_ARTIFACT


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
    _check_engine_reads_layers(engine, manifest, images)
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
        _load_while_pushing(bundle_dir, manifest, pending, engine, push, results, progress, cancel)
    elif pending:
        state = threading.Condition()
        _push_as_ready(pending, push, state, set(range(len(pending))), [None], results, cancel)
    outcomes.extend(results)
    order = {(i.name, i.tag): n for n, i in enumerate(manifest.images)}
    outcomes.sort(key=lambda r: order.get((r.name, r.tag), 0))
    return outcomes


ZSTD_ENGINE = (23, 0)  # the first Docker Engine that loads zstd-compressed layers


def _check_engine_reads_layers(
    engine: Engine, manifest: BundleManifest, images: list[DockerImage]
) -> None:
    """An engine that cannot read a layer's compression fails the whole `docker load` with
    "invalid tar header"; say which image and what to do before anything is loaded."""
    zstd = [
        image
        for image in images
        if any("zstd" in manifest.blob(layer).media_type for layer in image.layers)
    ]
    if not zstd:
        return
    version = engine.info().version
    try:
        major_minor = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        return  # an unknown version string: let the engine answer for itself
    if major_minor < ZSTD_ENGINE:
        names = ", ".join(f"{i.name}:{i.tag}" for i in zstd)
        raise EngineError(
            f"Docker Engine {version}",
            f"it cannot load zstd-compressed layers, which {names} use; nothing was loaded",
            "Import without --via-docker (straight to the registry, no engine needed), "
            "or use Docker Engine 23.0 or newer",
        )


def _as_bundle(manifest: BundleManifest, image: DockerImage) -> BundleImage:
    return next(i for i in manifest.images if (i.name, i.tag) == (image.name, image.tag))


def _load_while_pushing(
    bundle_dir: Path,
    manifest: BundleManifest,
    pending: list[DockerImage],
    engine: Engine,
    push: Callable[[DockerImage], ImageResult],
    results: list[ImageResult],
    progress: ProgressCallback,
    cancel: CancelToken,
) -> None:
    """Push each image as soon as the engine has it, while `docker load` registers the rest.

    The engine registers images only once it has the whole archive, so a damaged part still
    stops everything before the first push; a failed load raises its error.
    """
    present: set[int] = set()  # indexes into pending the engine has
    state = threading.Condition()
    finished: list[BaseException | None] = []  # the load's outcome, once it has one

    named = load_names(pending)

    def note_present(name: str = "") -> None:
        """Which pending images the engine now has: the one just named, else all of them."""
        candidates = named.get(name) or range(len(pending))
        found = {
            index
            for index in candidates
            if index not in present and engine.inspect(pending[index].image_id) is not None
        }
        with state:
            present.update(found)
            state.notify_all()

    def load() -> None:
        outcome: BaseException | None = None
        try:
            note_present()  # images the engine already had need no load
            engine.load(
                parts_stream(bundle_dir, manifest, progress=progress, cancel=cancel),
                total=manifest.total_bytes,
                item=bundle_dir.name or str(bundle_dir),
                progress=progress,
                cancel=cancel,
                on_loaded=note_present,
            )
        except BaseException as exc:  # re-raised in the caller's thread
            outcome = exc
        with state:
            finished.append(outcome)
            state.notify_all()

    loader = threading.Thread(target=load, name="airgap-tui-load", daemon=True)
    loader.start()
    try:
        _push_as_ready(pending, push, state, present, finished, results, cancel)
    except BaseException:
        cancel.cancel()  # the import is over: stop the load at its next chunk
        raise
    finally:
        loader.join()
    if finished and finished[0] is not None:
        raise finished[0]


def parts_stream(
    bundle_dir: Path, manifest: BundleManifest, *, progress: ProgressCallback, cancel: CancelToken
) -> Iterator[bytes]:
    """The parts concatenated (the docker-archive), each part hashed on the way: a mismatch
    raises at that part's end, so the engine never gets a whole archive from a bad bundle."""
    with PartsReader(bundle_dir, manifest.parts, cancel=cancel) as reader:
        offset = 0
        for part in manifest.parts:
            hasher = hashlib.sha256()
            done = 0
            for block in reader.read_range(offset, part.size):
                hasher.update(block)
                done += len(block)
                progress(Progress(STAGE_LOAD, part.file, done, part.size, "reading"))
                yield block
            if hasher.hexdigest() != part.sha256:
                raise BundleError(
                    f"Part {part.file} in {bundle_dir}",
                    "sha256 mismatch: the file is damaged",
                    "Copy the bundle again from the connected side",
                )
            offset += part.size


def load_names(images: list[DockerImage]) -> dict[str, list[int]]:
    """What `docker load` may print for each image ("Loaded image: NAME"): the name the
    export saved it under, as given or in Docker Hub's short form, or its ID."""
    names: dict[str, list[int]] = {}
    for index, img in enumerate(images):
        saved = img.source_ref.split("@", 1)[0]
        short = saved.removeprefix("docker.io/").removeprefix("library/")
        for name in {saved, short, img.image_id}:
            names.setdefault(name, []).append(index)
    return names


def push_after(images: list[DockerImage]) -> list[set[int]]:
    """For each image, the earlier images whose pushes it waits for.

    Pushed after the image that first carries a layer, a push finds that layer in the registry
    under another repository and mounts it from there ("Mounted from"); pushed side by side,
    both would compress and upload it (measured 2x slower in benchmarks/). So an image waits
    for the first carrier of each of its layers, and images with nothing in common go side by
    side.
    """
    first: dict[str, int] = {}
    waits: list[set[int]] = []
    for index, img in enumerate(images):
        waits.append({first[layer] for layer in img.diff_ids if layer in first})
        for layer in img.diff_ids:
            first.setdefault(layer, index)
    return waits


def _push_as_ready(
    pending: list[DockerImage],
    push: Callable[[DockerImage], ImageResult],
    state: threading.Condition,
    present: set[int],
    finished: list[BaseException | None],
    results: list[ImageResult],
    cancel: CancelToken,
) -> None:
    """Start each push once its image is in the engine and the pushes it waits for are done.

    `present` and `finished` (the load's outcome) change under `state`; a failed load stops
    the pushes not yet started. A push that fails is reported in its result and the others go
    on; an exception (cancel) stops everything.
    """
    after = push_after(pending)
    started: set[int] = set()
    done: set[int] = set()
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            outcome = push(pending[index])
            with state:
                results.append(outcome)
        except BaseException as exc:  # re-raised in the caller's thread
            with state:
                errors.append(exc)
        with state:
            done.add(index)
            state.notify_all()

    with ThreadPoolExecutor(PUSHES_AT_ONCE, thread_name_prefix="airgap-tui-push") as pool:
        with state:
            while len(done) < len(pending) and not errors:
                failed = finished[0] if finished else None
                if failed is not None:
                    break
                ready = [
                    i
                    for i in range(len(pending))
                    if i not in started and (i in present or finished) and after[i] <= done
                ]
                for index in ready[: PUSHES_AT_ONCE - (len(started) - len(done))]:
                    started.add(index)
                    pool.submit(run, index)
                state.wait()
            stop = bool(errors) or bool(finished and finished[0] is not None)
        if stop:
            cancel.cancel()  # running pushes stop at their next event
    if finished and finished[0] is not None:
        raise finished[0]  # the load's own error says more than the pushes it stopped
    if errors:
        raise errors[0]


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
