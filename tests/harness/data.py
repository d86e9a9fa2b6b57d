"""Reproducible bytes for stream tests: random payloads and the chunks a stream delivers."""

from __future__ import annotations

import random
from collections.abc import Iterator


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
