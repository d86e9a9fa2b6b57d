"""The Docker route's checks around `docker load`: before it, that the engine can read the
layers' compression; during it, that every part and blob streamed into the engine matches its
digest, the last block held back until all have passed, so a damaged bundle loads nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from airgap_tui.bundle.manifest import BundleManifest
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.errors import BundleError, EngineError
from airgap_tui.events import STAGE_LOAD, CancelToken, Progress, ProgressCallback
from airgap_tui.importer.docker_plan import DockerImage
from airgap_tui.importer.engine import Engine

ZSTD_ENGINE = (23, 0)  # the first Docker Engine that loads zstd-compressed layers


def check_engine_reads_layers(
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


def parts_stream(
    bundle_dir: Path, manifest: BundleManifest, *, progress: ProgressCallback, cancel: CancelToken
) -> Iterator[bytes]:
    """The parts concatenated (the docker-archive), each part and each blob hashed on the way.

    A part or a blob whose bytes do not match raises at its end, and the last block is held
    back until every check has passed: the engine never gets a whole archive, so it never
    loads a blob that fails its digest (even from a bundle.yaml re-sealed around it)."""
    blobs = _BlobCheck(manifest, bundle_dir)
    held: bytes | None = None
    with PartsReader(bundle_dir, manifest.parts, cancel=cancel) as reader:
        offset = 0
        for part in manifest.parts:
            hasher = hashlib.sha256()
            done = 0
            for block in reader.read_range(offset, part.size):
                hasher.update(block)
                blobs.feed(offset + done, block, part.file)
                done += len(block)
                progress(Progress(STAGE_LOAD, part.file, done, part.size, "reading"))
                if held is not None:
                    yield held
                held = block
            if hasher.hexdigest() != part.sha256:
                raise BundleError(
                    f"Part {part.file} in {bundle_dir}",
                    "sha256 mismatch: the file is damaged",
                    "Copy the bundle again from the connected side",
                )
            offset += part.size
    blobs.finish()
    if held is not None:
        yield held


class _BlobCheck:
    """Hashes each blob's byte range as the parts stream past (blobs are in tar order)."""

    def __init__(self, manifest: BundleManifest, bundle_dir: Path) -> None:
        self.manifest = manifest
        self.bundle_dir = bundle_dir
        self.blobs = sorted(manifest.blobs, key=lambda b: b.offset)
        self.index = 0
        self.hasher = hashlib.sha256()

    def feed(self, position: int, block: bytes, part: str) -> None:
        end = position + len(block)
        while self.index < len(self.blobs):
            blob = self.blobs[self.index]
            start, stop = max(position, blob.offset), min(end, blob.offset + blob.size)
            if start >= end:
                return  # the blob starts after this block
            if start < stop:
                self.hasher.update(block[start - position : stop - position])
            if blob.offset + blob.size > end:
                return  # the blob goes on in the next block
            self._check(blob.digest, part)
            self.index += 1
            self.hasher = hashlib.sha256()

    def finish(self) -> None:
        if self.index < len(self.blobs):
            self._check(self.blobs[self.index].digest, self.manifest.parts[-1].file)

    def _check(self, digest: str, part: str) -> None:
        got = "sha256:" + self.hasher.hexdigest()
        if got == digest:
            return
        images = [
            img.label
            for img in self.manifest.images
            if digest in (img.digest, *img.manifests, *img.blobs)
        ]
        raise BundleError(
            f"Blob {digest} of {', '.join(images) or 'no image'} (in part {part} in "
            f"{self.bundle_dir})",
            f"its bytes hash to {got}, not to its digest: the archive was not handed to the "
            "engine whole, so nothing was loaded",
            "Run verify, then copy the bundle again from the connected side",
        )
