"""Arrays in memory of their own, outside the C allocator's heap.

An array in a private anonymous map of its own touches no page until one is written (reading an
untouched page maps the system's shared zero page): a model's top-order back-off weights, all 0,
cost nothing (``formats.native``). It is given back whole when it goes, and leaves the
allocator's sizes alone: freed by the C allocator, a big array raises the size from which it maps
memory to its own, and the heap then keeps more of the smaller arrays freed after it
(``lm.backoff.scoring``'s level-sized temporary). (The keys a loaded model gives up are left to
the allocator on purpose: the threshold they raise keeps the whole-table sampler's MB-sized
temporaries in the heap, where they cost no page faults: 0.6 MB of an evaluation's peak against
a fifth of the sampler's build time.)
"""

from __future__ import annotations

import mmap

import numpy as np


def untouched_zeros(n: int, dtype=np.float64) -> np.ndarray:
    """n zeros, writable, in a private anonymous map: a page costs memory once written."""
    dtype = np.dtype(dtype)
    if n == 0:
        return np.zeros(0, dtype)
    if hasattr(mmap, "MAP_ANONYMOUS"):
        return np.frombuffer(mmap.mmap(-1, dtype.itemsize * n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS), dtype)
    return np.frombuffer(mmap.mmap(-1, dtype.itemsize * n), dtype)  # (Windows: anonymous memory, zeros, as well)
