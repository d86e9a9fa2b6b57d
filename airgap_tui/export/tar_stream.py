"""The bundle's tar as a stream of bytes, from the resume point on.

Small entries (manifests, configs, metadata) come from memory; blobs are downloaded side by side
and yielded in tar order, each checked against its sha256 as it streams. A blob cut by an
interruption is resumed with a Range request, its hash seeded from the bytes the kept parts hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from airgap_tui.bundle.layout import END_OF_ARCHIVE, Entry, Layout, entry_bytes, padded
from airgap_tui.bundle.manifest import TAR_BLOCK, BundlePart
from airgap_tui.bundle.reader import PartsReader
from airgap_tui.errors import AirgapError
from airgap_tui.events import STAGE_PULL, CancelToken, Progress, ProgressCallback
from airgap_tui.export.blob_fetch import Download, Downloads
from airgap_tui.export.estimate import ClientFactory
from airgap_tui.registry.client import RegistryClient


class TarStream:
    """The tar's bytes from the resume point on: small entries from memory, blobs downloaded.

    Progress: stage "pull", item = the image whose blobs are downloading (the first image
    that uses a blob), done/total = its blob bytes still to download in this run.
    """

    def __init__(
        self,
        dest: Path,
        layout: Layout,
        kept: list[BundlePart],
        factory: ClientFactory,
        clients: dict[str, RegistryClient],
        progress: ProgressCallback,
        cancel: CancelToken,
        streams: int,
    ) -> None:
        self.dest = dest
        self.layout = layout
        self.kept = kept
        self.start = sum(part.size for part in kept)
        self.factory = factory
        self.clients = clients
        self.progress = progress
        self.cancel = cancel
        self.streams = streams
        self.failed: Entry | None = None  # the blob whose download failed
        self.downloaded = 0
        self._downloads: Downloads | None = None
        self._owner: dict[str, str] = {}
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}
        for image in layout.images:
            for digest in image.blobs:
                if digest not in self._owner:
                    self._owner[digest] = image.label

    def _client(self, host: str) -> RegistryClient:
        if host not in self.clients:
            self.clients[host] = self.factory(host)
        return self.clients[host]

    def _prefix_hasher(self, entry: Entry, length: int) -> object:
        """sha256 over a blob's first bytes, read back from the kept parts (a resumed blob)."""
        assert entry.blob is not None
        hasher = hashlib.sha256()
        with PartsReader(self.dest, self.kept, cancel=self.cancel) as reader:
            for block in reader.read_range(entry.data_offset, length):
                hasher.update(block)
        return hasher

    def _jobs(self) -> list[tuple[Entry, Download]]:
        jobs = []
        for entry in self.layout.downloads:
            if entry.data_offset + entry.size <= self.start:
                continue  # wholly inside the kept parts: not downloaded again
            assert entry.source is not None and entry.blob is not None
            host, repository = entry.source
            skip = max(0, self.start - entry.data_offset)
            hasher = self._prefix_hasher(entry, skip) if skip else None
            download = Download(
                self._client(host), repository, entry.blob.digest, entry.size, skip, hasher
            )
            jobs.append((entry, download))
            label = self._owner.get(entry.blob.digest, "")
            self._totals[label] = self._totals.get(label, 0) + entry.size - skip
        return jobs

    def close(self) -> None:
        if self._downloads is not None:
            self._downloads.close()

    def chunks(self) -> Iterator[bytes]:
        jobs = self._jobs()
        self._downloads = Downloads(
            [download for _entry, download in jobs], streams=self.streams, cancel=self.cancel
        )
        next_job = 0
        start = self.start
        for entry in self.layout.entries:
            if entry.end <= start:
                continue
            within = max(0, start - entry.header_offset)
            if entry.data is not None:
                yield from entry_bytes(entry, within)
                continue
            if within < TAR_BLOCK:
                yield entry.header()[within:]
            data_from = max(0, within - TAR_BLOCK)
            if data_from < entry.size:
                job_entry, _download = jobs[next_job]
                assert job_entry is entry
                yield from self._blob(entry, next_job)
                next_job += 1
            pad = padded(entry.size) - entry.size
            pad_from = max(0, within - TAR_BLOCK - entry.size)
            if pad > pad_from:
                yield bytes(pad - pad_from)
        end_from = max(0, start - (self.layout.total - len(END_OF_ARCHIVE)))
        yield END_OF_ARCHIVE[end_from:]

    def _blob(self, entry: Entry, index: int) -> Iterator[bytes]:
        assert self._downloads is not None and entry.blob is not None
        label = self._owner.get(entry.blob.digest, "")
        total = self._totals.get(label, 0)
        try:
            for chunk in self._downloads.blob(index):
                self.downloaded += len(chunk)
                self._done[label] = self._done.get(label, 0) + len(chunk)
                self.progress(Progress(STAGE_PULL, label, self._done[label], total, "downloading"))
                yield chunk
        except AirgapError:
            self.failed = entry
            raise
        if self._done.get(label, 0) >= total:
            self.progress(Progress(STAGE_PULL, label, total, total, "downloaded", final=True))
