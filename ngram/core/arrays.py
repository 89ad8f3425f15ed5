"""Array operations numpy does slowly for our sizes.

``np.unique(a)`` of an integer array (numpy 2.3 on) finds the values with a hash set and then
sorts them: on this project's arrays (a million state numbers) that takes about a second where a
sort and a comparison of neighbours take 15 ms. Sorting is also what makes the result's order
plain: ascending, as ``np.unique``'s.
"""

from __future__ import annotations

import numpy as np


def distinct(a) -> np.ndarray:
    """The distinct values of ``a`` (flattened), sorted: ``np.unique(a)`` for integer arrays."""
    a = np.sort(np.asarray(a).ravel())
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a
