"""Jelinek-Mercer: linear interpolation of maximum-likelihood estimates, one weight per order.

    p_n(w | h) = l_n c(hw) / c(h) + (1 - l_n) p_{n-1}(w | h')      p_0 = uniform over V

For a context never seen in training the ML estimate is undefined, and the lower order is used
as it is (back-off weight 1).
"""

from __future__ import annotations

import math

import numpy as np

from ngram.core.counting import Counts
from ngram.core.checks import number_list
from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from .interpolated import Interpolated, OrderParts, split_by_context

DEFAULT_WEIGHT = 0.6


class JelinekMercer(Interpolated):
    """Jelinek-Mercer smoothing.

    ``weights``: the weight l_n of the ML estimate at each order, orders 1, 2, ... in turn; one
    number is used for every order, and a shorter list repeats its last weight for the higher
    orders. Each must satisfy 0 < l < 1. Default 0.6 everywhere. ``backoff=True`` gives the
    back-off form.
    """

    name = "jelinek-mercer"

    def __init__(self, weights=None, backoff: bool = False):
        super().__init__(backoff=backoff)
        weights = [DEFAULT_WEIGHT] if weights is None else number_list(weights, "Jelinek-Mercer weights", "--weights")
        if not weights:
            raise NgramError("weights must hold at least one number")
        for w in weights:
            if not (0 < w < 1 and math.isfinite(w)):
                raise NgramError(f"each Jelinek-Mercer weight must be between 0 and 1 (exclusive), got {w}")
        self.weights = weights

    def get_params(self) -> dict:
        return {"weights": self.weights, **super().get_params()}

    def _parts(self, counts: Counts, vocabulary: Vocabulary):
        parts, used = [], []
        for n in range(1, counts.order + 1):
            keys, c = counts.of(n)
            c = c.astype(np.float64)
            weight = self.weights[min(n, len(self.weights)) - 1]
            used.append(weight)
            contexts, owner, _, totals = split_by_context(keys, c, vocabulary.size, n)
            parts.append(OrderParts(keys, weight * c / totals[owner], contexts, np.full(len(contexts), 1 - weight), owner))
        return parts, {"weights": used}
