"""One malloc heap for the commands that stream gigabytes (export, import).

glibc gives a thread that allocates while another holds the heap lock a heap of its own (an
arena). The 256 KiB chunks an export streams pass between its download, writer and read-back
threads, so they are freed into heaps other than the one they came from; those heaps grow and
are seldom given back, and peak RSS grew with the bundle (76 MiB for 1.2 GB against 58 MiB for
50 MB, measured on these machines). With one heap a freed chunk is reused by whichever thread
allocates next (60 MiB for 1.2 GB), and the interpreter lock means the threads hardly ever wait
for it. Linux with glibc only; elsewhere, or when the C library has no mallopt, nothing changes.
"""

from __future__ import annotations

import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def single_heap() -> bool:
    """Limit glibc to one heap from now on; True when it took. Call before starting threads:
    heaps already made are kept."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1))
