"""Interpolated Witten-Bell: a context gives the lower order the share of its events that were new.

    u(hw) = c(hw) / (c(h) + T(h))        gamma(h) = T(h) / (c(h) + T(h))

with T(h) the number of distinct symbols seen after h (raw counts at every order; the unigram
level is interpolated with the uniform distribution over the vocabulary).
"""

from __future__ import annotations

import numpy as np

from ngram.core.counting import Counts
from ngram.core.vocabulary import Vocabulary
from .interpolated import Interpolated, OrderParts, split_by_context


class WittenBell(Interpolated):
    """Interpolated Witten-Bell; ``backoff=True`` gives the back-off form."""

    name = "witten-bell"

    def _parts(self, counts: Counts, vocabulary: Vocabulary):
        parts = []
        for n in range(1, counts.order + 1):
            keys, c = counts.of(n)
            c = c.astype(np.float64)
            contexts, owner, distinct, totals = split_by_context(keys, c, vocabulary.size, n)
            mass = totals + distinct
            parts.append(OrderParts(keys, c / mass[owner], contexts, distinct / mass, owner))
        return parts, {}
