"""Offline host: verify -> load (parts streamed, concatenated) -> check IDs -> tag -> push.

Nothing is loaded from a bundle that failed verification. One image failing does not stop the
others, and a re-run skips images the registry already holds with the same image ID, so
running it again after a fault pushes only what is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from airgap_tui.bundle import (
    BundleImage,
    BundleManifest,
    iter_bundle_stream,
    read_manifest,
    unknown_files,
    verify_bundle,
)
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

PUSHES_AT_ONCE = 3  # images sharing no unpushed layer, pushed side by side
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
    # The fingerprint of a full verification the caller has just run (the wizard's Verify
    # step): the import then does not read every byte twice, yet the receipt says it passed.
    # Ignored when the bundle on the media no longer has that fingerprint.
    verified_fingerprint: str | None = None
    # Bounded retries of a push that fails for a reason that may pass (registry restarting,
    # network blip); None = PUSH_ATTEMPTS / PUSH_BACKOFF. Tests shorten the backoff.
    push_attempts: int | None = None
    push_backoff: float | None = None


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
    warnings: list[str] = field(default_factory=list)  # e.g. files the bundle does not list


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
    try:
        _run(request, engine, manifest, result, prefix, progress, cancel)
    except Cancelled as exc:
        raise _cancelled(exc, result, len(manifest.images)) from None
    if _verified_before(request, manifest):
        verification = "passed (full check run just before the import)"
    elif not request.verify and request.verified_fingerprint is None:
        verification = "skipped (--no-verify): parts were hash-checked while loading"
    else:
        verification = "passed" if result.verified else "failed"
    result.ok = not result.problems and all(i.ok for i in result.images)
    result.receipt_path = write_receipt(
        request.receipt_dir or Path.cwd(),
        bundle_dir=request.bundle_dir,
        manifest=manifest,
        registry=prefix,
        verification=verification,
        problems=result.problems,
        warnings=result.warnings,
        images=result.images,
        engine=engine.docker_host,
        started=started,
    )
    return result


def _verified_before(request: ImportRequest, manifest: BundleManifest) -> bool:
    return request.verified_fingerprint is not None and (
        request.verified_fingerprint == manifest.fingerprint
    )


def _run(
    request: ImportRequest,
    engine: Engine,
    manifest: BundleManifest,
    result: ImportResult,
    prefix: str,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> None:
    """Verify, then load, tag and push into `result` (nothing is loaded when verify fails)."""
    host, path = split_prefix(request.registry)
    if _verified_before(request, manifest):
        result.verified = True
        result.warnings = unknown_files(request.bundle_dir, manifest)
    elif request.verify or request.verified_fingerprint is not None:
        report = verify_bundle(request.bundle_dir, progress=progress, cancel=cancel)
        result.verified = report.ok
        result.warnings = list(report.warnings)
        if not report.ok:
            result.problems = [f"{p.file}: {p.message}" for p in report.problems]
            result.images = [
                _result(img, prefix, "not loaded", "bundle failed verification")
                for img in manifest.images
            ]
            return
    else:
        result.warnings = unknown_files(request.bundle_dir, manifest)

    client = RegistryClient(
        host,
        credentials=request.credentials,
        ca_file=request.ca_file,
        insecure=engine.insecure_registry(host),
    )
    client.ping()  # a wrong address, TLS or credentials fail here, before anything is loaded

    def repository(img: BundleImage) -> str:
        return f"{path}/{img.name}" if path else img.name

    with ThreadPoolExecutor(8, thread_name_prefix="airgap-tui-check") as pool:
        in_registry = list(
            pool.map(lambda i: _already_pushed(client, repository(i), i), manifest.images)
        )
    pending: list[BundleImage] = []
    for img, already in zip(manifest.images, in_registry, strict=True):
        repo = repository(img)
        if already:
            res = _result(img, prefix, "already present")
            res.ok, res.pushed_digest = True, _digest_or_blank(client, repo, img.tag)
            result.images.append(res)
        else:
            pending.append(img)
    retry = _Retry(
        PUSH_ATTEMPTS if request.push_attempts is None else max(1, request.push_attempts),
        PUSH_BACKOFF if request.push_backoff is None else max(0.0, request.push_backoff),
    )

    def push(img: BundleImage) -> ImageResult:
        cancel.check("Import")
        return _tag_and_push(
            img, prefix, engine, client, request.credentials, progress, cancel, retry
        )

    if pending and any(engine.inspect(img.image_id) is None for img in pending):
        _load_while_pushing(
            request.bundle_dir, manifest, pending, engine, push, result, progress, cancel
        )
    elif pending:
        state = threading.Condition()
        _push_as_ready(pending, push, state, set(range(len(pending))), [None], result, cancel)
    order = {(i.name, i.tag): n for n, i in enumerate(manifest.images)}
    result.images.sort(key=lambda r: order.get((r.name, r.tag), 0))


@dataclass(frozen=True)
class _Retry:
    attempts: int
    backoff: float  # seconds before the second attempt, doubled after each failure


def _load_while_pushing(
    bundle_dir: Path,
    manifest: BundleManifest,
    pending: list[BundleImage],
    engine: Engine,
    push: Callable[[BundleImage], ImageResult],
    result: ImportResult,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> None:
    """Push each image as soon as the engine has it, while `docker load` registers the rest.

    The load is disk-bound (unpacking layers) and the push CPU-bound (the engine gzips every
    layer), so they overlap well. The engine registers images only once it has the whole
    archive, so a damaged part still stops everything before the first push; a failed load
    raises its error, as before.
    """
    present: set[int] = set()  # indexes into pending the engine has
    state = threading.Condition()
    finished: list[BaseException | None] = []  # the load's outcome, once it has one

    named = _load_names(pending)

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
                iter_bundle_stream(bundle_dir, manifest, progress=progress, cancel=cancel),
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
        _push_as_ready(pending, push, state, present, finished, result, cancel)
    except BaseException:
        cancel.cancel()  # the import is over: stop the load at its next chunk
        raise
    finally:
        loader.join()
    if finished and finished[0] is not None:
        raise finished[0]


def _load_names(images: list[BundleImage]) -> dict[str, list[int]]:
    """What `docker load` may print for each image ("Loaded image: NAME"): the name the
    export saved it under, as given or in Docker Hub's short form, or its ID."""
    names: dict[str, list[int]] = {}
    for index, img in enumerate(images):
        saved = img.source_ref.split("@", 1)[0]
        short = saved.removeprefix("docker.io/").removeprefix("library/")
        for name in {saved, short, img.image_id}:
            names.setdefault(name, []).append(index)
    return names


def push_after(images: list[BundleImage]) -> list[set[int]]:
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
    pending: list[BundleImage],
    push: Callable[[BundleImage], ImageResult],
    state: threading.Condition,
    present: set[int],
    finished: list[BaseException | None],
    result: ImportResult,
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
                result.images.append(outcome)
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


def _cancelled(exc: Cancelled, result: ImportResult, total: int) -> Cancelled:
    """The operator's stop, saying what is already in the registry (and so will be skipped)."""
    done = [i.target for i in result.images if i.ok]
    if done:
        state = f"{len(done)} of {total} images are in the registry ({', '.join(done)})"
    else:
        state = f"none of the {total} images was pushed yet"
    return Cancelled(
        exc.what,
        f"cancelled by the operator; {state}",
        "Run the same import again to resume: it pushes only what is missing",
    )


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
    retry: _Retry,
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
    res.pushed_digest = res.pushed_digest or stored.digest
    res.ok, res.status = True, "pushed"
    return res


def _push_with_retries(
    engine: Engine,
    target: str,
    credentials: Credentials | None,
    progress: ProgressCallback,
    cancel: CancelToken,
    retry: _Retry,
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
