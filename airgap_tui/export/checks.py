"""Refusals an export makes before it writes: images that cannot be carried, and a bundle
directory another export is writing to."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airgap_tui.errors import MediaError, NotFoundError
from airgap_tui.export.estimate import Estimate


def refuse_missing(sizes: Estimate) -> None:
    """A login, TLS or network problem is raised as it is; missing images or tags are
    refused together, each with the tags that do exist."""
    missing = [image for image in sizes.images if image.error]
    for image in missing:
        if image.failure is not None and not isinstance(image.failure, NotFoundError):
            raise image.failure  # a login, TLS or network problem, not a missing image or tag
    if not missing:
        return
    lines = []
    for image in missing:
        tags = ", ".join(image.available_tags[:12]) or "none"
        lines.append(f"{image.spec.source}: {image.error} (tags that exist: {tags})")
    raise NotFoundError(
        "Export",
        "; ".join(lines),
        "Fix the names or tags (airgap-tui tags NAME lists them); nothing was written",
        available=missing[0].available_tags,
    )


@contextmanager
def exclusive(dest: Path) -> Iterator[None]:
    """One writer per bundle directory (a second export, or a stale worker, is refused)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise MediaError(
            f"Destination {dest}",
            f"it cannot be created or opened ({exc.strerror or exc})",
            "Check the path and that the drive is mounted writable",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise MediaError(
                    f"Destination {dest}",
                    "another export is writing to it right now",
                    "Wait for it to finish or stop it, then run this again",
                ) from None
            raise
        yield
    finally:
        os.close(fd)
