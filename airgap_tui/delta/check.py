"""Before a delta import pushes anything: is every blob it leaves out really in the target?

A delta bundle omits the layers the offline registry held when the receipt or inventory was
made; since then someone may have cleaned the registry. Pushing half the images and failing
at a manifest would leave the operator worse off, so this checks first, with HEAD requests
only (nothing is written), and says how many blobs are missing, for which images, and what
to do. A blob in another repository of the same registry counts: the push mounts it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from airgap_tui.delta.delta import FRESH_INVENTORY, BlobRef
from airgap_tui.errors import AuthError, NotFoundError, RegistryError
from airgap_tui.events import CancelToken, Progress, ProgressCallback, ignore_progress
from airgap_tui.registry.client import RegistryClient
from airgap_tui.registry.diagnose import RegistryUnreachable

STAGE_DELTA_CHECK = "check"
PROBES_AT_ONCE = 8
MAX_CANDIDATE_REPOSITORIES = 500  # other repositories searched for a mountable blob
MAX_CATALOG_NAMES = 20_000  # catalog names read to choose those candidates from
MAX_PROBES = 20_000  # HEAD requests spent searching other repositories


@dataclass(frozen=True)
class NeededBlobs:
    """The blobs one image of a delta needs from the target (the bundle does not carry them)."""

    image: str  # name:tag, as the operator knows it
    repository: str  # the target repository it is pushed to
    blobs: tuple[BlobRef, ...]


def needed_blobs(
    images: Iterable[tuple[str, str, Iterable[str]]], expected: Iterable[BlobRef]
) -> list[NeededBlobs]:
    """Per image (label, target repository, its blob digests from bundle.yaml), the expected
    blobs it uses: what `check_delta_target` must find for it. Images needing none are left
    out (everything they use is in the bundle)."""
    by_digest = {ref.digest: ref for ref in expected}
    out: list[NeededBlobs] = []
    for label, repository, digests in images:
        refs = tuple(dict.fromkeys(by_digest[d] for d in digests if d in by_digest))
        if refs:
            out.append(NeededBlobs(label, repository, refs))
    return out


class DeltaMissingError(RegistryError):
    """Blobs a delta bundle expects are not in the target registry: nothing may be pushed."""

    def __init__(
        self, what: str, cause: str, next_step: str, *, missing: dict[str, tuple[BlobRef, ...]]
    ) -> None:
        self.missing = missing
        super().__init__(what, cause, next_step)


@dataclass
class DeltaCheck:
    present: set[tuple[str, str]] = field(default_factory=set)  # (repository, digest)
    mount_from: dict[tuple[str, str], str] = field(default_factory=dict)  # -> source repo
    missing: dict[str, tuple[BlobRef, ...]] = field(default_factory=dict)  # image -> blobs
    probes: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def missing_blobs(self) -> set[str]:
        return {b.digest for blobs in self.missing.values() for b in blobs}

    def error(
        self, registry: str, *, expected: int, kind: str = "", against: str = ""
    ) -> DeltaMissingError:
        """The refusal the importer raises before pushing anything."""
        images = sorted(self.missing)
        shown = ", ".join(images[:8]) + (f" and {len(images) - 8} more" if len(images) > 8 else "")
        made = f"the {kind} " if kind else "the receipt or inventory "
        made += f"({against[:12]}) " if against else ""
        searched = f" ({'; '.join(self.notes)})" if self.notes else ""
        return DeltaMissingError(
            f"Delta bundle into {registry}",
            f"{len(self.missing_blobs)} of the {expected} blobs it expects in the registry are "
            f"not there (nor in any of its repositories searched{searched}), needed by "
            f"{len(images)} image{'s' if len(images) != 1 else ''}: {shown}. The registry has "
            f"changed since {made}the delta was made against. Nothing was pushed",
            "Bring a full bundle (export without --delta-from), or "
            + FRESH_INVENTORY
            + " and export the delta against it",
            missing=dict(self.missing),
        )


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def _holds(client: RegistryClient, repository: str, ref: BlobRef, *, strict: bool) -> bool:
    """HEAD the blob in `repository`; `strict`=False: a repository we may not read is 'no'."""
    try:
        return client.blob_size(repository, ref.digest) == ref.size
    except NotFoundError:
        return False
    except AuthError:
        if strict:
            raise
        return False


def _candidates(
    client: RegistryClient, targets: set[str], check: DeltaCheck, limit: int
) -> list[str]:
    """Repositories to search for a blob no target holds: the targets' neighbours first."""
    try:
        names: list[str] = []
        for name in client.repositories(limit=10 * MAX_CATALOG_NAMES):
            names.append(name)
            if len(names) >= MAX_CATALOG_NAMES:
                check.notes.append(
                    f"the catalog lists more than {MAX_CATALOG_NAMES} repositories; "
                    "only the first were searched"
                )
                break
    except RegistryUnreachable:
        raise
    except RegistryError as exc:  # no catalog (denied, not offered, garbled): targets only
        check.notes.append(
            f"other repositories were not searched: {exc.cause}; only the images' own "
            "repositories were checked"
        )
        return sorted(targets)
    tops = {t.split("/", 1)[0] for t in targets if "/" in t}
    order = sorted(
        set(names) | targets,
        key=lambda n: (n not in targets, n.split("/", 1)[0] not in tops, n),
    )
    if len(order) > limit:
        check.notes.append(f"only {limit} of the registry's repositories were searched")
    return order[:limit]


def check_delta_target(
    client: RegistryClient,
    needs: Sequence[NeededBlobs],
    *,
    max_repositories: int = MAX_CANDIDATE_REPOSITORIES,
    max_probes: int = MAX_PROBES,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> DeltaCheck:
    """Which expected blobs each image's repository holds, which can be mounted from another
    repository of the registry, and which are nowhere (then `error()` says what to do).

    First each image's own repository (a HEAD per blob, side by side); a blob one target holds
    can be mounted into the others; only blobs still not found are looked for in the rest of
    the catalog, repositories that already gave a hit tried first, within a bounded budget."""
    check = DeltaCheck()
    pairs = sorted({(n.repository, b) for n in needs for b in n.blobs}, key=lambda p: p[0])
    if not pairs:
        return check
    total = len(pairs)
    with ThreadPoolExecutor(PROBES_AT_ONCE, thread_name_prefix="airgap-tui-delta") as pool:
        holders, probed = _probe_own_repositories(pool, client, pairs, check, progress, cancel)
        check.probes = total
        wanted = {ref.digest: ref for _repo, ref in pairs if ref.digest not in holders}
        if wanted:
            targets = {repo for repo, _ref in pairs}
            order = _candidates(client, targets, check, max_repositories)
            _search_other_repositories(
                pool, client, list(wanted.values()), order, probed, holders, check,
                max_probes, cancel,
            )  # fmt: skip
    progress(Progress(STAGE_DELTA_CHECK, "expected blobs", total, total, final=True))
    _sort_needs(needs, holders, check)
    return check


def _probe_own_repositories(
    pool: ThreadPoolExecutor,
    client: RegistryClient,
    pairs: list[tuple[str, BlobRef]],
    check: DeltaCheck,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """HEAD each blob in its image's own repository, side by side: what is present (into
    `check`), the first repository holding each digest, and every (repository, digest) tried."""
    total = len(pairs)
    done = 0
    lock = threading.Lock()

    def own(pair: tuple[str, BlobRef]) -> bool:
        nonlocal done
        if cancel is not None:
            cancel.check("Delta check")
        found = _holds(client, pair[0], pair[1], strict=True)
        with lock:
            done += 1
            progress(Progress(STAGE_DELTA_CHECK, "expected blobs", done, total))
        return found

    holders: dict[str, str] = {}
    probed: set[tuple[str, str]] = set()
    for (repo, ref), found in zip(pairs, pool.map(own, pairs), strict=True):
        probed.add((repo, ref.digest))
        if found:
            check.present.add((repo, ref.digest))
            holders.setdefault(ref.digest, repo)
    return holders, probed


def _search_other_repositories(
    pool: ThreadPoolExecutor,
    client: RegistryClient,
    refs: list[BlobRef],
    order: list[str],
    probed: set[tuple[str, str]],
    holders: dict[str, str],
    check: DeltaCheck,
    max_probes: int,
    cancel: CancelToken | None,
) -> None:
    """Look for each blob no target holds in the `order`ed candidates, within `max_probes`
    HEAD requests; a hit goes into `holders` and its repository to the front of `order`."""
    lock = threading.Lock()
    budget = _Budget(max_probes)
    spent = 0

    def search(ref: BlobRef) -> str | None:
        nonlocal spent
        with lock:
            tries = [r for r in order if (r, ref.digest) not in probed]
        for repo in tries:
            if cancel is not None:
                cancel.check("Delta check")
            if not budget.take():
                return None
            with lock:
                spent += 1
            if _holds(client, repo, ref, strict=False):
                with lock:  # move to front: a repository with one shared layer
                    order.remove(repo)  # often holds the next ones too
                    order.insert(0, repo)
                return repo
        return None

    for ref, holder in zip(refs, pool.map(search, refs), strict=True):
        if holder is not None:
            holders[ref.digest] = holder
    check.probes += spent
    if budget.left <= 0:
        check.notes.append(f"the search of other repositories stopped after {max_probes} requests")


def _sort_needs(needs: Sequence[NeededBlobs], holders: dict[str, str], check: DeltaCheck) -> None:
    """Each image's blobs not in its own repository: mounted from a holder, else missing."""
    for need in needs:
        lacking: list[BlobRef] = []
        for ref in need.blobs:
            if (need.repository, ref.digest) in check.present:
                continue
            source = holders.get(ref.digest)
            if source is None:
                lacking.append(ref)
            else:
                check.mount_from[(need.repository, ref.digest)] = source
        if lacking:
            check.missing[need.image] = tuple(lacking)


def require_expected_blobs(
    client: RegistryClient,
    registry: str,
    images: Iterable[tuple[str, str, Iterable[str]]],
    expected: Sequence[BlobRef],
    *,
    kind: str = "",
    against: str = "",
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> DeltaCheck:
    """The delta import's gate, run before anything is pushed: every expected blob is in its
    image's repository or mountable, else DeltaMissingError. The result tells the push what
    is already there (no second HEAD) and where to mount the rest from."""
    check = check_delta_target(
        client, needed_blobs(images, expected), progress=progress, cancel=cancel
    )
    if not check.ok:
        raise check.error(registry, expected=len(expected), kind=kind, against=against)
    return check
