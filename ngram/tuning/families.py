"""Estimator families as functions of their settings: held-out log-probabilities and exact gradients.

Every family here is

    p_n(w | h) = u_n(hw) + g_n(h) p_{n-1}(w | h')   (p_n = p_{n-1} where h is unseen)

with u and g simple functions of the settings of order n, so the held-out NLL and its gradient are
a few numpy passes over (orders x positions) arrays. The formulas mirror the estimators in
``ngram.estimators``; ``tests/tuning/test_tuning.py`` checks that the NLL computed here equals that of the
fitted estimator with the same settings.
"""

from __future__ import annotations

import math

import numpy as np

from ngram.core.counting import Counts
from ..estimators.discounting import (adjusted_counts, bucket_names, closed_form_discounts, counts_of_counts,
                                      needed_counts_of_counts)
from .statistics import FoldStats, Level

# Discounts stay inside (0, j) for bucket j, as the estimators require (they clip at j); the small
# margins keep every held-out probability positive, so the NLL stays finite while searching.
_EPS = 1e-4


# ----------------------------------------------------------------------------------------------
class Family:
    """An interpolated estimator as a function of its settings (``per_order`` numbers per order)."""

    name = ""
    per_order = 0
    buckets = 3  # count buckets its fold statistics must split children into (``fold_stats(buckets=)``)

    def bounds(self, n: int) -> list[tuple[float, float]]:
        return []

    def initial(self, counts: Counts, order: int) -> np.ndarray:
        return np.zeros(0)

    def parts(self, level: Level, n: int, order: int, theta: np.ndarray):
        """u, g (M,) and du, dg (per_order, M) at order n of an order-``order`` model."""
        raise NotImplementedError

    def settings(self, x: np.ndarray, order: int) -> dict:
        return {}

    def vector(self, settings: dict, order: int) -> np.ndarray:
        """The inverse of ``settings``: the numbers the search moves."""
        return np.zeros(0)

    def describe(self, settings: dict) -> str:
        return ""


class DiscountFamily(Family):
    """Absolute discounting, Kneser-Ney, modified Kneser-Ney: discounts per order (and bucket).

    With K > 3 buckets it is modified KN with K discounts per order (D1, ..., D(K-1), DK+, MITLM's
    Kneser-Ney with N discounts): ``estimator`` names the estimator that fits it, with
    ``buckets=K`` among its settings.
    """

    def __init__(self, name: str, adjusted: bool, buckets: int):
        self.name, self.adjusted, self.per_order = name, adjusted, buckets
        self.discounts_per_order = buckets  # (a subclass may search more numbers per order)
        self.buckets = max(buckets, 3)
        if buckets > 3:
            self.estimator = "modified-kneser-ney"  # what fits it (elsewhere the estimator is ``name``)

    def bounds(self, n):
        return [(_EPS, j - _EPS) for j in range(1, self.per_order + 1)]

    def _values(self, counts: Counts) -> list[np.ndarray]:
        return adjusted_counts(counts, counts.vocab_size) if self.adjusted else list(counts.counts)

    def initial(self, counts: Counts, order: int) -> np.ndarray:
        """The closed-form (Chen & Goodman / lmplz) discounts: where the search starts."""
        values = self._values(Counts(order, counts.vocab_size, counts.keys[:order], counts.counts[:order]))
        x = []
        for n, a in enumerate(values, start=1):
            k = self.discounts_per_order
            d, _ = closed_form_discounts(counts_of_counts(a, needed_counts_of_counts(k)), k, np.float64)
            x.extend(min(max(float(v), lo), hi) for v, (lo, hi) in zip(d, self.bounds(n)))
        return np.array(x)

    def parts(self, level, n, order, theta):
        kind = "adjusted" if (self.adjusted and n < order) else "raw"
        if self.per_order > 1:
            c = level.compact(kind, self.per_order)
            return c["idx"], c["a"] - theta @ c["onehot"], theta @ c["buckets"], -c["onehot"], c["buckets"]
        c = level.compact(kind)
        return (c["idx"], c["a"] - theta[0] * c["seen"], theta[0] * c["children"], -c["seen"][None, :],
                c["children"][None, :])

    def settings(self, x, order):
        groups = [[float(v) for v in x[i * self.per_order:(i + 1) * self.per_order]] for i in range(order)]
        if self.per_order == 1:
            return {"discounts": [g[0] for g in groups]}
        return {"discounts": groups, **({"buckets": self.per_order} if self.per_order != 3 else {})}

    def vector(self, settings, order):
        return np.array(settings["discounts"], float).ravel()

    def describe(self, settings):
        d = settings["discounts"]
        if isinstance(d[0], list):
            return (bucket_names(len(d[0])).replace(",", "/") + " by order "
                    + " ".join("/".join(f"{v:.2f}" for v in g) for g in d))
        return "D by order " + " ".join(f"{v:.2f}" for v in d)


class StrengthFamily(DiscountFamily):
    """Modified KN with a Pitman-Yor-style strength (concentration) theta per order:

        u(hw) = (a(hw) - D) / (c(h) + theta)      g(h) = (sum of D over children + theta) / (c(h) + theta)

    theta = 0 is modified KN; theta > 0 moves mass from every context's own counts to the lower
    order, more for contexts seen few times (the hierarchical Pitman-Yor model's behaviour).
    """

    estimator = "modified-kneser-ney"
    max_strength = 20.0

    def __init__(self):
        super().__init__("modified-kneser-ney+strength", adjusted=True, buckets=3)
        self.per_order = 4

    def bounds(self, n):
        return [(_EPS, j - _EPS) for j in (1, 2, 3)] + [(0.0, self.max_strength)]

    def initial(self, counts, order):
        discounts = super().initial(counts, order).reshape(order, 3)
        return np.concatenate([discounts, np.zeros((order, 1))], axis=1).ravel()

    def parts(self, level, n, order, theta):
        c = level.compact("adjusted" if n < order else "raw")
        d, strength = theta[:3], theta[3]
        f = 1.0 / (1.0 + strength * c["inv"])  # c(h) / (c(h) + theta)
        u0, g0 = c["a"] - d @ c["onehot"], d @ c["buckets"] + strength * c["inv"]
        u, g = f * u0, f * g0
        du = np.vstack([-f * c["onehot"], -u * f * c["inv"]])
        dg = np.vstack([f * c["buckets"], f * c["inv"] * (1.0 - g)])
        return c["idx"], u, g, du, dg

    def settings(self, x, order):
        groups = x.reshape(order, 4)
        return {"discounts": [[float(v) for v in g[:3]] for g in groups], "strengths": [float(g[3]) for g in groups]}

    def vector(self, settings, order):
        return np.concatenate([np.array(settings["discounts"], float), np.array(settings["strengths"], float)[:, None]],
                              axis=1).ravel()

    def describe(self, settings):
        return (super().describe(settings) + "; strength by order " +
                " ".join(f"{v:.2f}" for v in settings["strengths"]))


class JelinekMercerFamily(Family):
    name, per_order = "jelinek-mercer", 1

    def bounds(self, n):
        return [(1e-3, 1 - 1e-3)]

    def initial(self, counts, order):
        return np.full(order, 0.6)

    def parts(self, level, n, order, theta):
        c = level.compact("raw")
        return c["idx"], theta[0] * c["a"], np.full(len(c["a"]), 1 - theta[0]), c["a"][None, :], -np.ones((1, len(c["a"])))

    def settings(self, x, order):
        return {"weights": [float(v) for v in x]}

    def vector(self, settings, order):
        return np.array(settings["weights"], float)

    def describe(self, settings):
        return "weights by order " + " ".join(f"{v:.2f}" for v in settings["weights"])


class WittenBellFamily(Family):
    """No continuous settings: only the order is searched."""

    name = "witten-bell"

    def parts(self, level, n, order, theta):
        c = level.compact("raw")
        empty = np.zeros((0, len(c["wb_u"])))
        return c["idx"], c["wb_u"], c["wb_g"], empty, empty


FAMILIES: dict[str, Family] = {
    "absolute": DiscountFamily("absolute", adjusted=False, buckets=1),
    "kneser-ney": DiscountFamily("kneser-ney", adjusted=True, buckets=1),
    "modified-kneser-ney": DiscountFamily("modified-kneser-ney", adjusted=True, buckets=3),
    "modified-kneser-ney+strength": StrengthFamily(),
    # Modified KN with four and five discounts per order (searched only when asked for).
    "modified-kneser-ney-4": DiscountFamily("modified-kneser-ney-4", adjusted=True, buckets=4),
    "modified-kneser-ney-5": DiscountFamily("modified-kneser-ney-5", adjusted=True, buckets=5),
    "jelinek-mercer": JelinekMercerFamily(),
    "witten-bell": WittenBellFamily(),
}


def position_logprobs(family: Family, x: np.ndarray, order: int, stats: FoldStats, gradient: bool = False):
    """ln p of every held-out position under ``family`` with settings ``x``; optionally d(sum ln p)/dx.

    Only positions whose context is seen at order n change there (elsewhere p_n = p_{n-1}).
    """
    V = stats.vocab_size
    P = family.per_order
    p = np.full(stats.symbols, 1.0 / V)
    saved = []
    for n in range(1, order + 1):
        idx, u, g, du, dg = family.parts(stats.levels[n - 1], n, order, x[(n - 1) * P:n * P])
        below = p[idx].copy()
        p[idx] = u + g * below
        saved.append((idx, below, g, du, dg))
    logp = np.log(p)
    if not gradient:
        return logp, None
    grad = np.zeros(len(x))
    after = 1.0 / p  # d ln p_N / d p_n = (product of g above n) / p_N
    for n in range(order, 0, -1):
        idx, below, g, du, dg = saved[n - 1]
        if P:
            grad[(n - 1) * P:n * P] = (du + dg * below) @ after[idx]
        after[idx] *= g
    return logp, grad


def addk_logprobs(k: float, order: int, stats: FoldStats, gradient: bool = False):
    """Add-k: (c + k) / (c(h) + kV) where the full context was seen, uniform elsewhere."""
    V = stats.vocab_size
    top = np.minimum(stats.history + 1, order)
    logp = np.full(stats.symbols, -math.log(V))
    grad = 0.0
    for n in range(1, order + 1):
        level = stats.levels[n - 1]
        at = (top == n) & level.active
        c, total = level.raw.a[at], level.raw.total[at]
        logp[at] = np.log(c + k) - np.log(total + k * V)
        if gradient:
            grad += float((1 / (c + k) - V / (total + k * V)).sum())
    return logp, grad
