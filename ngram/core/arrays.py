"""Array operations numpy does slowly for our sizes.

``np.unique(a)`` of an integer array (numpy 2.3 on) finds the values with a hash set and then
sorts them: on this project's arrays (a million state numbers) that takes about a second where a
sort and a comparison of neighbours take 15 ms. Sorting is also what makes the result's order
plain: ascending, as ``np.unique``'s.
"""

from __future__ import annotations

import numpy as np


FEW_VALUES = 16  # values fewer than 1/16 of their range are found by sorting, not by marking the range


def distinct(a, size: int | None = None) -> np.ndarray:
    """The distinct values of ``a`` (flattened), sorted: ``np.unique(a)`` for integer arrays.
    Given ``size`` (every value below it, none negative), values many for that range are found by
    marking it instead, in linear time; few are still sorted (a long name's positions each reach
    a handful of a large model's states: marking all of them cost seconds over 2,000 positions)."""
    a = np.asarray(a).ravel()
    if size is not None and len(a) * FEW_VALUES >= size:
        mark = np.zeros(size, bool)
        mark[a] = True
        return np.flatnonzero(mark)
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a
