"""The Docker route's push scheduling: each image is pushed as soon as the engine has it,
side by side, except that an image waits for the push that first carries a layer it shares
(the engine then mounts it instead of uploading it again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from airgap_tui.bundle.manifest import BundleManifest
from airgap_tui.events import CancelToken, ProgressCallback
from airgap_tui.importer.docker_plan import DockerImage, load_names
from airgap_tui.importer.engine import Engine
from airgap_tui.importer.load_checks import parts_stream
from airgap_tui.importer.outcome import ImageResult

PUSHES_AT_ONCE = 3  # images sharing no unpushed layer, pushed side by side


def load_while_pushing(
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
            _stream_into_engine(bundle_dir, manifest, engine, note_present, progress, cancel)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome = exc
        with state:
            finished.append(outcome)
            state.notify_all()

    loader = threading.Thread(target=load, name="airgap-tui-load", daemon=True)
    loader.start()
    try:
        push_as_ready(pending, push, state, present, finished, results, cancel)
    except BaseException:
        cancel.cancel()  # the import is over: stop the load at its next chunk
        raise
    finally:
        loader.join()
    if finished and finished[0] is not None:
        raise finished[0]


def _stream_into_engine(
    bundle_dir: Path,
    manifest: BundleManifest,
    engine: Engine,
    on_loaded: Callable[[str], None],
    progress: ProgressCallback,
    cancel: CancelToken,
) -> None:
    """`docker load` of the hashed parts stream; `on_loaded` hears each name it prints."""
    engine.load(
        parts_stream(bundle_dir, manifest, progress=progress, cancel=cancel),
        total=manifest.total_bytes,
        item=bundle_dir.name or str(bundle_dir),
        progress=progress,
        cancel=cancel,
        on_loaded=on_loaded,
    )


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


def push_as_ready(
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
