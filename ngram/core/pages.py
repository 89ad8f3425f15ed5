"""Arrays in memory of their own, outside the C allocator's heap.

A big array freed by the C allocator raises the size from which it maps memory to that array's,
and the heap then keeps up to twice that much freed memory of every smaller array made since: on
a model's load that is several MB of the peak (``formats.native``, ``lm.backoff.scoring``). An
array in a private anonymous map of its own is given back whole when it goes, touches no page
until one is written (reading an untouched page maps the system's shared zero page), and leaves
the allocator's sizes alone.
"""

from __future__ import annotations

import mmap

import numpy as np


def untouched_zeros(n: int, dtype=np.float64) -> np.ndarray:
    """n zeros, writable, in a private anonymous map: a page costs memory once written."""
    dtype = np.dtype(dtype)
    if n == 0:
        return np.zeros(0, dtype)
    return np.frombuffer(mmap.mmap(-1, dtype.itemsize * n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS), dtype)
