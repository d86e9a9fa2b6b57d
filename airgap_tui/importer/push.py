"""Offline host, registry-native: blobs and original manifests from the parts into a registry.

No engine is involved, so nothing is re-compressed: the manifest bytes pushed are the bytes the
source registry served, and the pushed digest equals the upstream one. Blobs stream from the
parts straight into the upload (no re-assembled copy, memory flat). Each distinct blob is
uploaded once per run: an image that needs a blob another image of this run is pushing waits
for it and then mounts it from that repository. A re-run finds everything with HEAD and
uploads nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from airgap_tui.bundle.manifest import BundleImage, BundleManifest, show
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.delta.check import DeltaCheck
from airgap_tui.errors import AirgapError, BundleError, Cancelled, RegistryError
from airgap_tui.events import STAGE_BLOB, STAGE_PUSH, CancelToken, Progress, ProgressCallback
from airgap_tui.importer.outcome import STATUS_FAILED, STATUS_PRESENT, STATUS_PUSHED, ImageResult
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.oci import MAX_MANIFEST_BYTES
from airgap_tui.registry.upload import BLOB_MOUNTED, BLOB_PRESENT, BLOB_UPLOADED, RetryCallback

IMAGES_AT_ONCE = 3
BLOBS_AT_ONCE = 4
CHUNK_SIZE = 1 << 20  # one chunk per upload in flight: memory stays flat


@dataclass
class _Counts:
    """How one image's blobs got there: only whether any was sent matters to its status."""

    uploaded: int = 0  # sent byte by byte in this run
    mounted: int = 0  # mounted from another repository of this run
    present: int = 0  # the repository already held it (HEAD)


@dataclass
class _Ledger:
    """Which repository got each blob in this run (the owner pushes, the others mount)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pushes: dict[str, Future[str | None]] = field(default_factory=dict)

    def claim(self, digest: str) -> tuple[Future[str | None], bool]:
        """The blob's future and whether the caller owns (must push) it."""
        with self.lock:
            found = self.pushes.get(digest)
            if found is not None:
                return found, False
            future: Future[str | None] = Future()
            self.pushes[digest] = future
            return future, True


def push_images(
    client: RegistryClient,
    reader: PartsReader,
    manifest: BundleManifest,
    repository: Callable[[BundleImage], str],
    *,
    progress: ProgressCallback,
    cancel: CancelToken,
    found: DeltaCheck | None = None,
) -> list[ImageResult]:
    """Push every image of `manifest` side by side; one image failing does not stop the rest.

    `found`: a delta's pre-check (which expected blobs each repository holds, where to mount
    the others from). Returns outcomes in the manifest's order. Cancel (and only cancel) raises.
    """
    ledger = _Ledger()
    images = manifest.images
    with (
        ThreadPoolExecutor(BLOBS_AT_ONCE, thread_name_prefix="airgap-tui-blob") as blob_pool,
        ThreadPoolExecutor(IMAGES_AT_ONCE, thread_name_prefix="airgap-tui-image") as image_pool,
    ):
        pusher = _ImagePusher(
            client, reader, manifest, ledger, blob_pool, progress, cancel, found=found
        )
        futures = [image_pool.submit(pusher.push, img, repository(img)) for img in images]
        try:
            outcomes = [f.result() for f in futures]
        except BaseException:
            cancel.cancel()  # the other images stop at their next chunk
            raise
    return outcomes


class _ImagePusher:
    def __init__(
        self,
        client: RegistryClient,
        reader: PartsReader,
        manifest: BundleManifest,
        ledger: _Ledger,
        blob_pool: ThreadPoolExecutor,
        progress: ProgressCallback,
        cancel: CancelToken,
        *,
        found: DeltaCheck | None = None,
    ) -> None:
        self.client = client
        self.reader = reader
        self.manifest = manifest
        self.carried = {blob.digest: blob for blob in manifest.blobs}
        self.ledger = ledger
        self.blob_pool = blob_pool
        self.progress = progress
        self.cancel = cancel
        self.found = found  # a delta's pre-check: where its expected blobs are

    def push(self, img: BundleImage, repo: str) -> ImageResult:
        target = f"{self.client.host}/{repo}:{img.tag}"
        outcome = ImageResult(
            img.name, img.tag, target, False, STATUS_FAILED, img.digest, kind=img.kind
        )
        counts = _Counts()
        sizes = {d: self._size(d) for d in img.blobs}  # the parser checked each is known
        meter = _Meter(target, sum(sizes.values()), self.progress)
        try:
            self._blobs(img, repo, sizes, meter, counts)
            for child in img.manifests:  # an index: its platform manifests first, by digest
                self._manifest(repo, child, child)
            pushed = self._manifest(repo, img.tag, img.digest)
        except Cancelled:
            raise
        except AirgapError as exc:
            outcome.error = exc.sentence()
            meter.finish(ok=False, message=outcome.error)
            return outcome
        if pushed != img.digest:  # put_manifest checks it; this is the contract
            outcome.pushed_digest = pushed
            outcome.error = f"the registry stored {pushed}, not the upstream {img.digest}"
            meter.finish(ok=False, message=outcome.error)
            return outcome
        sent = counts.uploaded or counts.mounted
        outcome.succeed(STATUS_PUSHED if sent else STATUS_PRESENT, pushed)
        outcome.blobs = [{"digest": d, "size": s} for d, s in sizes.items()]
        meter.finish(ok=True, message=outcome.status)
        return outcome

    def _size(self, digest: str) -> int:
        blob = self.carried.get(digest)
        if blob is not None:
            return blob.size
        for expected in self.manifest.delta.expected if self.manifest.delta else []:
            if expected.digest == digest:
                return expected.size
        raise BundleError(f"Blob {digest}", "the bundle neither holds nor expects it")

    def _blobs(
        self,
        img: BundleImage,
        repo: str,
        sizes: dict[str, int],
        meter: _Meter,
        counts: _Counts,
    ) -> None:
        """Own blobs go to the pool at once; blobs another image is pushing are mounted from
        it once it is done (waiting here, never in the pool, so the pool cannot deadlock)."""
        mine: list[Future[str]] = []
        theirs: list[tuple[str, Future[str | None]]] = []
        for digest in img.blobs:
            shared, owner = self.ledger.claim(digest)
            if owner:
                mine.append(self.blob_pool.submit(self._own, repo, digest, sizes, meter, shared))
            else:
                theirs.append((digest, shared))
        errors: list[AirgapError] = []
        for future in mine:
            self._collect(future, counts, errors)
        if errors:
            raise errors[0]  # the image cannot be complete: leave its other blobs to a re-run
        later: list[Future[str]] = []
        for digest, shared in theirs:
            holder = self._wait(shared)
            mount_from = holder if holder is not None and holder != repo else None
            later.append(
                self.blob_pool.submit(self._one, repo, digest, sizes[digest], meter, mount_from)
            )
        for future in later:
            self._collect(future, counts, errors)
        if errors:
            raise errors[0]

    def _collect(self, future: Future[str], counts: _Counts, errors: list[AirgapError]) -> None:
        try:
            how = future.result()
        except Cancelled:
            raise
        except AirgapError as exc:
            errors.append(exc)
            return
        if how == BLOB_UPLOADED:
            counts.uploaded += 1
        elif how == BLOB_MOUNTED:
            counts.mounted += 1
        else:
            counts.present += 1

    def _wait(self, shared: Future[str | None]) -> str | None:
        while True:
            self.cancel.check("Import")
            try:
                return shared.result(timeout=0.5)
            except TimeoutError:
                continue

    def _own(
        self,
        repo: str,
        digest: str,
        sizes: dict[str, int],
        meter: _Meter,
        shared: Future[str | None],
    ) -> str:
        try:
            how = self._one(repo, digest, sizes[digest], meter, None)
        except BaseException:
            shared.set_result(None)  # the waiters push it themselves
            raise
        shared.set_result(repo)
        return how

    def _one(self, repo: str, digest: str, size: int, meter: _Meter, mount_from: str | None) -> str:
        self.cancel.check("Import")
        item = f"{repo}@{digest[:19]}"
        blob = self.carried.get(digest)
        if blob is None:  # a delta bundle: the target must already hold it
            how = self._expected(repo, digest, item)
            meter.add(size)
            return how
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            meter.add(-sent)  # a retry starts again from the first byte
            sent = 0
            for chunk in self.reader.blob(blob, chunk_size=CHUNK_SIZE):
                self.cancel.check("Import")
                sent += len(chunk)
                meter.add(len(chunk))
                self.progress(Progress(STAGE_BLOB, item, sent, size))
                yield chunk

        try:
            how = self.client.push_blob(
                repo, digest, size, body, mount_from=mount_from, on_retry=self._retried(item)
            )
        except BundleError as exc:  # its bytes do not match: nothing was committed
            parts = ", ".join(show(p) for p in self.reader.parts_of(blob))
            cause = exc.cause
            if "cancelled" not in cause:
                cause += "; the upload was cancelled before the registry was asked to commit it"
            raise BundleError(
                f"Blob {digest} of image {repo} (in part {parts})", cause, exc.next_step
            ) from None
        if how != BLOB_UPLOADED:
            meter.add(size - sent)
        self.progress(Progress(STAGE_BLOB, item, size, size, how, final=True))
        return how

    def _expected(self, repo: str, digest: str, item: str) -> str:
        """A blob a delta leaves out: found by the pre-check (no second HEAD), mounted from
        the repository the pre-check found it in, or (no pre-check) HEAD."""
        found = self.found
        if found is not None and (repo, digest) in found.present:
            how = BLOB_PRESENT
        elif found is not None and (repo, digest) in found.mount_from:
            source = found.mount_from[(repo, digest)]
            if self.client.mount_blob_retried(repo, digest, source, on_retry=self._retried(item)):
                how = BLOB_MOUNTED
            elif self.client.blob_exists(repo, digest):  # another image of this run put it there
                how = BLOB_PRESENT
            else:
                raise BundleError(
                    f"Blob {digest[:19]} of {repo}",
                    f"this delta bundle does not carry it and the registry would not mount it "
                    f"from {source}, where it was found a moment ago",
                    "Check that the registry allows cross-repository mounts, or bring a full "
                    "bundle",
                )
        elif self.client.blob_exists(repo, digest):
            how = BLOB_PRESENT
        else:
            raise BundleError(
                f"Blob {digest[:19]} of {repo}",
                "this delta bundle does not carry it and the target registry does not hold it",
                "Export a full bundle (or a delta against this registry's latest receipt)",
            )
        self.progress(Progress(STAGE_BLOB, item, message=how, final=True))
        return how

    def _manifest(self, repo: str, reference: str, digest: str) -> str:
        blob = self.carried.get(digest)
        if blob is None:
            raise BundleError(f"Manifest {digest}", "the bundle does not hold it")
        body = self.reader.read_blob(blob, MAX_MANIFEST_BYTES)
        item = f"{repo}@{digest[:19]}"
        return self.client.put_manifest(
            repo, reference, body, blob.media_type, on_retry=self._retried(item)
        )

    def _retried(self, item: str) -> RetryCallback:
        def say(attempt: int, delay: float, error: RegistryError) -> None:
            self.progress(
                Progress(STAGE_BLOB, item, message=f"retry {attempt} in {delay:g}s: {error.cause}")
            )

        return say


class _Meter:
    """One image's bytes (uploaded, or known to be there) for its STAGE_PUSH progress bar."""

    def __init__(self, target: str, total: int, progress: ProgressCallback) -> None:
        self.target = target
        self.total = total
        self.done = 0
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n
            done = self.done
        self.progress(Progress(STAGE_PUSH, self.target, done, self.total))

    def finish(self, *, ok: bool, message: str) -> None:
        done = self.total if ok else self.done
        self.progress(
            Progress(STAGE_PUSH, self.target, done, self.total, message, final=True, ok=ok)
        )
