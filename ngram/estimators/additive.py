"""Maximum likelihood and add-k (Lidstone; Laplace is k = 1).

Add-k gives every symbol k pseudo-counts in every context, so a context never seen in training
gets the uniform distribution (the blog series' model). In back-off form: the stored n-grams are
the counted ones; an unseen symbol after a seen context h gets k / (c(h) + kV), written as
bow(h) * 1/V over a uniform lower level. Lower orders therefore hold 1/V everywhere, except
n-grams that begin with the start symbol, whose shorter contexts are the full context near the
start of a name and so carry their own add-k estimate.

Maximum likelihood gives 0 to what was not seen after a seen context, and for a context never
seen uses the estimate of its longest seen suffix, so every context still has a distribution.
"""

from __future__ import annotations

import math

import numpy as np

from ngram.core.counting import Counts
from ngram.core.errors import NgramError
from ngram.lm.backoff.model import Level
from ngram.core.vocabulary import Vocabulary
from .base import Estimator, context_sums, lookup, starts_with_boundary


class AddK(Estimator):
    """p(w | h) = (c(hw) + k) / (c(h) + kV), uniform for unseen h."""

    name = "add-k"

    def __init__(self, k: float = 0.1):
        try:
            k = float(k)
        except (TypeError, ValueError):
            raise NgramError(f"k must be a number, got {k!r}") from None
        if not (k > 0 and math.isfinite(k)):
            raise NgramError(f"k must be a positive finite number, got {k}")
        self.k = k

    def get_params(self) -> dict:
        return {"k": self.k}

    def _levels(self, counts: Counts, vocabulary: Vocabulary):
        V, N, k = vocabulary.size, counts.order, self.k
        log_uniform = -math.log(V)
        if N == 1:
            c = np.zeros(V)
            keys, cnt = counts.of(1)
            c[keys] = cnt
            logp = np.log((c + k) / (c.sum() + k * V))
            return [Level(np.arange(V, dtype=np.int64), logp, np.zeros(V))], {}
        levels = []
        for n in range(1, N + 1):
            keys, cnt = counts.of(n)
            if n == 1:  # every symbol is stored at order 1
                keys = np.arange(V, dtype=np.int64)
            logp = np.full(len(keys), log_uniform)
            bow = np.zeros(len(keys))
            if n >= 2:
                # The target is predicted from its full context here: at the highest order, or
                # near the start of a name where the context is shorter than N-1.
                full = starts_with_boundary(keys, n, V) | (n == N)
                contexts, totals, owner = context_sums(keys, cnt.astype(np.float64), V)
                logp[full] = np.log((cnt[full] + k) / (totals[owner[full]] + k * V))
                # Back-off weight of the context, in the level below: unseen targets get
                # k / (c(h) + kV) = bow(h) * (1/V).
                below = levels[n - 2]
                index, stored = lookup(below.keys, contexts)
                ctx_full = starts_with_boundary(contexts, n - 1, V) | (n == N)
                take = stored & ctx_full
                below.bow[index[take]] = np.log(k / (totals[take] + k * V)) - log_uniform
            levels.append(Level(keys, logp, bow))
        return levels, {}


class MLE(Estimator):
    """p(w | h) = c(hw) / c(h) for the longest suffix h of the context seen in training."""

    name = "mle"

    def _levels(self, counts: Counts, vocabulary: Vocabulary):
        V, N = vocabulary.size, counts.order
        levels = []
        for n in range(1, N + 1):
            keys, cnt = counts.of(n)
            cnt = cnt.astype(np.float64)
            if n == 1:
                full = np.zeros(V)
                full[keys] = cnt
                keys, cnt = np.arange(V, dtype=np.int64), full
            contexts, totals, owner = context_sums(keys, cnt, V)
            with np.errstate(divide="ignore"):
                logp = np.log(cnt / totals[owner])
            levels.append(Level(keys, logp, np.zeros(len(keys))))
            if n >= 2:
                # A seen context keeps no mass for unseen symbols.
                index, stored = lookup(levels[n - 2].keys, contexts)
                levels[n - 2].bow[index[stored]] = -np.inf
        return levels, {}
