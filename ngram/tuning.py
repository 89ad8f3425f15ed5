"""Tuning on held-out data: orders and every estimator's settings, chosen to minimise held-out NLL.

Held-out data is a ``--val`` file, a seeded slice of the training names, or K folds of them. The
test file is never an input here: tuning sees training names and held-out names only.

Speed comes from counting once per fold. For every held-out position and every order n the fold's
counts give, once, what any interpolated estimator needs at that position: the count of the
n-gram (raw and lmplz-adjusted), its context's total, how many children the context has with
count 1, 2 and 3+, and whether the context was seen at all. Every family here is

    p_n(w | h) = u_n(hw) + g_n(h) p_{n-1}(w | h')   (p_n = p_{n-1} where h is unseen)

with u and g linear in (or simple functions of) the settings of order n, so the held-out NLL and
its exact gradient are a few numpy passes over (orders x positions) arrays, and scipy's L-BFGS-B
with bounds optimises continuous settings (MITLM does the same for modified-KN discounts). The
formulas mirror the estimators in ``ngram.estimators``; ``tests/test_tuning.py`` checks that the
NLL computed here equals that of the fitted estimator with the same settings.

Going further (``mixtures=True``), two additions that each earn their place by held-out NLL:

- an order mixture: modified-KN models of several orders (each with its own tuned discounts),
  mixed with EM weights that depend on the length of the longest context seen in training, split
  by that context's number of distinct followers where the cross-fitted held-out NLL says so
  (``ngram.mixture.ContextMixture``);
- a whole-name mixture of that left-to-right model and the same thing trained on reversed names
  (``ngram.mixture.NameMixture``), one EM weight.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from .counting import Counts, count_ngrams
from .errors import NgramError
from .estimators import make_estimator
from .estimators.discounting import FALLBACK, adjusted_counts, counts_of_counts, estimate_discounts
from .model import Model
from .vocabulary import Vocabulary

UNIT = "nats/symbol"
TUNABLE = ("add-k", "witten-bell", "absolute", "kneser-ney", "modified-kneser-ney", "jelinek-mercer")
DEFAULT_ORDERS = tuple(range(2, 11))
MIXTURE_ORDERS = tuple(range(3, 11))

# Discounts stay inside (0, j) for bucket j, as the estimators require (they clip at j); the small
# margins keep every held-out probability positive, so the NLL stays finite while searching.
_EPS = 1e-4


# ----------------------------------------------------------------------------------------------
# Per-fold statistics: everything the estimators need at the held-out positions, counted once.
# ----------------------------------------------------------------------------------------------
@dataclass
class Variant:
    """Per held-out position, at one order, under one kind of count (raw or lmplz-adjusted)."""

    a: np.ndarray  # count of the n-gram (0 when unseen)
    total: np.ndarray  # sum of counts over the context's children (1 where the context is unseen)
    buckets: np.ndarray  # (3, M): children of the context with count 1, 2, 3+
    bucket: np.ndarray  # the n-gram's own bucket 0..3 (0 = unseen)


@dataclass
class Level:
    active: np.ndarray  # the context is seen in training and lies inside the name
    distinct: np.ndarray  # distinct children of the context
    raw: Variant
    adjusted: Variant
    _compact: dict = field(default_factory=dict, repr=False)

    def compact(self, kind: str) -> dict:
        """Arrays over the active positions only, divided by the context total once, cached:
        every objective evaluation then costs a few small vector operations per order."""
        if kind not in self._compact:
            idx = np.flatnonzero(self.active)
            if len(idx) == 0 or idx[-1] == len(idx) - 1:
                # Positions sorted by depth (FoldStats.by_depth) make the active set a prefix, and
                # a slice is a view where an index array would copy.
                idx = slice(0, len(idx))
            v = self.raw if kind == "raw" else self.adjusted
            inv = 1.0 / v.total[idx]
            bucket = v.bucket[idx]
            self._compact[kind] = {
                "idx": idx,
                "a": v.a[idx] * inv,
                "onehot": np.stack([(bucket == j) * inv for j in (1, 2, 3)]),
                "buckets": np.ascontiguousarray(v.buckets[:, idx] * inv),
                "seen": (bucket >= 1) * inv,
                "children": v.buckets[:, idx].sum(axis=0) * inv,
                "wb_u": v.a[idx] / (v.total[idx] + self.distinct[idx]),
                "wb_g": self.distinct[idx] / (v.total[idx] + self.distinct[idx]),
            }
        return self._compact[kind]


@dataclass
class FoldStats:
    """One (training part, held-out part) pair, reduced to arrays over held-out positions."""

    vocab_size: int
    max_order: int
    levels: list[Level]  # index n-1 for order n
    symbols: int  # scored held-out symbols
    name_of: np.ndarray  # held-out name index of each position
    n_names: int
    history: np.ndarray

    def by_depth(self) -> "FoldStats":
        """The same positions, deepest seen context first (sums over positions are unchanged)."""
        order = np.argsort(-self.longest_context(), kind="stable")

        def variant(v):
            return Variant(v.a[order], v.total[order], v.buckets[:, order], v.bucket[order])

        levels = [Level(l.active[order], l.distinct[order], variant(l.raw), variant(l.adjusted)) for l in self.levels]
        return FoldStats(self.vocab_size, self.max_order, levels, self.symbols, self.name_of[order], self.n_names,
                         self.history[order])

    def mixture_buckets(self, max_order: int, follower_bins: Sequence[int] | None = None) -> np.ndarray:
        """Weight bucket of each position for an order mixture (``ngram.mixture.bucket_of``)."""
        from .mixture import bucket_of

        longest = self.longest_context(max_order)
        followers = np.zeros(self.symbols)
        for length in range(1, max_order):
            at = longest == length
            followers[at] = self.levels[length].distinct[at]
        return bucket_of(longest, followers, follower_bins)

    def longest_context(self, max_order: int | None = None) -> np.ndarray:
        """Length of the longest context seen in training at each position (0..max_order-1)."""
        top = min(max_order or self.max_order, self.max_order)
        longest = np.zeros(self.symbols, np.int64)
        for n in range(2, top + 1):
            longest[self.levels[n - 1].active] = n - 1
        return longest


def concat_folds(folds: Sequence[FoldStats]) -> FoldStats:
    """All folds' held-out positions as one set: the summed NLL over folds is one sum over them."""
    if len(folds) == 1:
        return folds[0]
    cat = np.concatenate

    def variant(vs):
        return Variant(cat([v.a for v in vs]), cat([v.total for v in vs]), np.concatenate([v.buckets for v in vs], axis=1),
                       cat([v.bucket for v in vs]))

    levels = []
    for n in range(folds[0].max_order):
        ls = [f.levels[n] for f in folds]
        levels.append(Level(cat([l.active for l in ls]), cat([l.distinct for l in ls]),
                            variant([l.raw for l in ls]), variant([l.adjusted for l in ls])))
    offsets = np.cumsum([0] + [f.n_names for f in folds])
    return FoldStats(folds[0].vocab_size, folds[0].max_order, levels, sum(f.symbols for f in folds),
                     cat([f.name_of + o for f, o in zip(folds, offsets)]), int(offsets[-1]), cat([f.history for f in folds]))


def _variant(keys: np.ndarray, values: np.ndarray, V: int, n: int, window: np.ndarray, context: np.ndarray,
             active: np.ndarray) -> Variant:
    values = values.astype(np.float64)
    if n == 1:
        contexts, owner = np.zeros(1, np.int64), np.zeros(len(keys), np.int64)
    else:
        owner_keys = keys // V
        first = np.concatenate(([True], owner_keys[1:] != owner_keys[:-1])) if len(keys) else np.zeros(0, bool)
        contexts, owner = owner_keys[first], np.cumsum(first) - 1
    totals = np.bincount(owner, weights=values, minlength=len(contexts))
    bucket_of = np.clip(np.floor(values), 0, 3).astype(np.int64)
    per_bucket = np.stack([np.bincount(owner[bucket_of == j], minlength=len(contexts)) for j in (1, 2, 3)]).astype(np.float64)
    M = len(window)
    a = np.zeros(M)
    total = np.ones(M)
    buckets = np.zeros((3, M))
    if len(keys):
        index = np.minimum(np.searchsorted(keys, window), len(keys) - 1)
        found = (keys[index] == window) & active
        a[found] = values[index[found]]
        c_index = np.zeros(M, np.int64) if n == 1 else np.minimum(np.searchsorted(contexts, context), len(contexts) - 1)
        total[active] = totals[c_index[active]]
        buckets[:, active] = per_bucket[:, c_index[active]]
    return Variant(a=a, total=total, buckets=buckets, bucket=np.clip(np.floor(a), 0, 3).astype(np.int64))


def fold_stats(train_names: Sequence[str], heldout_names: Sequence[str], vocabulary: Vocabulary, max_order: int,
               counts: Counts | None = None) -> FoldStats:
    """Count ``train_names`` once and reduce them to arrays over the held-out positions."""
    V = vocabulary.size
    if counts is None:
        counts = count_ngrams(vocabulary.encode(train_names), max_order, V)
    # Held-out characters outside the training vocabulary cannot be scored by a model of it;
    # the caller builds the vocabulary from all names it tunes on, so this is just a guard.
    encoded = vocabulary.encode(heldout_names, unknown="error", source="held-out names")
    ids = encoded.ids
    targets = np.arange(1, len(ids), dtype=np.int64)
    history = encoded.history()
    # In a max_order model adjusted counts are used below max_order only; a lower-order candidate
    # needs adjusted counts up to its own order, and those differ: the top order of an order-N
    # model is raw, and order n < N is adjusted from order n+1 whatever N is. So one adjusted
    # set (from the max_order counts) serves every candidate order.
    adjusted = adjusted_counts(counts, V)
    levels = []
    window = np.zeros(len(targets), np.int64)
    for n in range(1, max_order + 1):
        window = window + ids[np.maximum(targets - (n - 1), 0)] * V ** (n - 1)
        keys, raw = counts.of(n)
        context = window // V
        inside = history >= n - 1
        if n == 1:
            active = np.ones(len(targets), bool)
            distinct_of = np.array([len(keys)], np.float64)
            c_index = np.zeros(len(targets), np.int64)
        else:
            owner_keys = keys // V
            contexts, distinct = np.unique(owner_keys, return_counts=True)
            c_index = np.minimum(np.searchsorted(contexts, context), max(len(contexts) - 1, 0))
            active = inside & (contexts[c_index] == context) if len(contexts) else np.zeros(len(targets), bool)
            distinct_of = distinct.astype(np.float64)
        dist = np.zeros(len(targets))
        dist[active] = distinct_of[c_index[active]] if len(distinct_of) else 0
        levels.append(Level(
            active=active, distinct=dist,
            raw=_variant(keys, raw, V, n, window, context, active),
            adjusted=_variant(keys, adjusted[n - 1], V, n, window, context, active),
        ))
    name_of = np.repeat(np.arange(encoded.n_names), encoded.symbols_per_name())
    return FoldStats(vocab_size=V, max_order=max_order, levels=levels, symbols=len(targets), name_of=name_of,
                     n_names=encoded.n_names, history=history)


# ----------------------------------------------------------------------------------------------
# Families: u, g and their derivatives per order, mirroring ngram.estimators.
# ----------------------------------------------------------------------------------------------
class Family:
    """An interpolated estimator as a function of its settings (``per_order`` numbers per order)."""

    name = ""
    per_order = 0

    def bounds(self, n: int) -> list[tuple[float, float]]:
        return []

    def initial(self, counts: Counts, order: int) -> np.ndarray:
        return np.zeros(0)

    def parts(self, level: Level, n: int, order: int, theta: np.ndarray):
        """u, g (M,) and du, dg (per_order, M) at order n of an order-``order`` model."""
        raise NotImplementedError

    def settings(self, x: np.ndarray, order: int) -> dict:
        return {}

    def describe(self, settings: dict) -> str:
        return ""


class DiscountFamily(Family):
    """Absolute discounting, Kneser-Ney, modified Kneser-Ney: discounts per order (and bucket)."""

    def __init__(self, name: str, adjusted: bool, buckets: int):
        self.name, self.adjusted, self.per_order = name, adjusted, buckets

    def bounds(self, n):
        return [(_EPS, j - _EPS) for j in range(1, self.per_order + 1)]

    def _values(self, counts: Counts) -> list[np.ndarray]:
        return adjusted_counts(counts, counts.vocab_size) if self.adjusted else list(counts.counts)

    def initial(self, counts: Counts, order: int) -> np.ndarray:
        """The closed-form (Chen & Goodman / lmplz) discounts: where the search starts."""
        values = self._values(Counts(order, counts.vocab_size, counts.keys[:order], counts.counts[:order]))
        x = []
        for n, a in enumerate(values, start=1):
            d = estimate_discounts(counts_of_counts(a), self.per_order, np.float64) or list(FALLBACK[: self.per_order])
            x.extend(min(max(float(v), lo), hi) for v, (lo, hi) in zip(d, self.bounds(n)))
        return np.array(x)

    def parts(self, level, n, order, theta):
        c = level.compact("adjusted" if (self.adjusted and n < order) else "raw")
        if self.per_order == 3:
            return c["idx"], c["a"] - theta @ c["onehot"], theta @ c["buckets"], -c["onehot"], c["buckets"]
        return (c["idx"], c["a"] - theta[0] * c["seen"], theta[0] * c["children"], -c["seen"][None, :],
                c["children"][None, :])

    def settings(self, x, order):
        groups = [[float(v) for v in x[i * self.per_order:(i + 1) * self.per_order]] for i in range(order)]
        return {"discounts": groups if self.per_order == 3 else [g[0] for g in groups]}

    def describe(self, settings):
        d = settings["discounts"]
        if self.per_order == 3:
            return "D1/D2/D3+ by order " + " ".join("/".join(f"{v:.2f}" for v in g) for g in d)
        return "D by order " + " ".join(f"{v:.2f}" for v in d)


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


# ----------------------------------------------------------------------------------------------
# Searching
# ----------------------------------------------------------------------------------------------
@dataclass
class Fit:
    estimator: str
    order: int
    settings: dict
    heldout_nll: float
    evaluations: int = 0
    start_nll: float | None = None  # closed-form / default settings, before the search


def _total_symbols(folds: Sequence[FoldStats]) -> int:
    return sum(f.symbols for f in folds)


def fit_family(name: str, order: int, folds: Sequence[FoldStats], counts: Counts) -> Fit:
    """Minimise the held-out NLL (summed over folds) of one estimator at one order."""
    from scipy.optimize import minimize

    total = _total_symbols(folds)
    if name == "add-k":
        def objective(z):
            k = math.exp(z[0])
            values = [addk_logprobs(k, order, f, gradient=True) for f in folds]
            return -sum(v[0].sum() for v in values) / total, np.array([-sum(v[1] for v in values) * k / total])

        start = objective(np.array([math.log(0.1)]))[0]
        res = minimize(objective, np.array([math.log(0.1)]), jac=True, method="L-BFGS-B", bounds=[(math.log(1e-6), math.log(100.0))])
        return Fit(name, order, {"k": float(math.exp(res.x[0]))}, float(res.fun), int(res.nfev), float(start))
    family = FAMILIES[name]
    x0 = family.initial(counts, order)

    def objective(x):
        logp_sum, grad = 0.0, np.zeros(len(x))
        for f in folds:
            logp, g = position_logprobs(family, x, order, f, gradient=True)
            logp_sum += logp.sum()
            grad += g
        return -logp_sum / total, -grad / total

    start = objective(x0)[0]
    if family.per_order == 0:
        return Fit(name, order, {}, float(start), 1, float(start))
    bounds = [b for n in range(1, order + 1) for b in family.bounds(n)]
    res = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    return Fit(name, order, family.settings(res.x, order), float(res.fun), int(res.nfev), float(start))


def fit_logprobs(fit: Fit, fold: FoldStats) -> np.ndarray:
    """ln p at every held-out position of ``fold`` under a fitted candidate."""
    if fit.estimator == "add-k":
        return addk_logprobs(fit.settings["k"], fit.order, fold)[0]
    family = FAMILIES[fit.estimator]
    x = _settings_vector(fit.settings, fit.estimator, fit.order)
    return position_logprobs(family, x, fit.order, fold)[0]


def _settings_vector(settings: dict, name: str, order: int) -> np.ndarray:
    if name in ("absolute", "kneser-ney"):
        return np.array(settings["discounts"], float)
    if name == "modified-kneser-ney":
        return np.array(settings["discounts"], float).ravel()
    if name == "jelinek-mercer":
        return np.array(settings["weights"], float)
    return np.zeros(0)


# ----------------------------------------------------------------------------------------------
# Held-out data
# ----------------------------------------------------------------------------------------------
@dataclass
class Split:
    train: list[str]
    heldout: list[str]


def make_splits(names: Sequence[str], val_names: Sequence[str] | None = None, val_fraction: float | None = None,
                folds: int | None = None, seed: int = 0) -> tuple[list[Split], str]:
    """The (training part, held-out part) pairs tuning uses, and a description of the held-out data."""
    names = list(names)
    chosen = sum(x is not None for x in (val_names, val_fraction, folds))
    if chosen > 1:
        raise NgramError("choose one kind of held-out data: a validation file, a held-out fraction, or folds")
    if val_names is not None:
        if not val_names:
            raise NgramError("the validation file holds no names")
        return [Split(names, list(val_names))], f"the validation names ({len(val_names)})"
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    if folds is not None:
        if not (2 <= folds <= len(names)):
            raise NgramError(f"--folds must be between 2 and the number of names ({len(names)}), got {folds}")
        parts = np.array_split(order, folds)
        splits = []
        for i in range(folds):
            held = set(parts[i].tolist())
            splits.append(Split([names[j] for j in order if j not in held], [names[j] for j in parts[i]]))
        return splits, f"{folds}-fold cross-validation inside the training names (seed {seed})"
    fraction = 0.1 if val_fraction is None else float(val_fraction)
    if not (0 < fraction < 1):
        raise NgramError(f"--val-fraction must be between 0 and 1, got {fraction}")
    n_held = max(1, int(round(fraction * len(names))))
    if n_held >= len(names):
        raise NgramError(f"too few names ({len(names)}) to hold out {fraction:g} of them")
    held = set(order[:n_held].tolist())
    return ([Split([names[j] for j in order if j not in held], [names[j] for j in order[:n_held]])],
            f"a held-out slice of {n_held} training name{'s' if n_held != 1 else ''} ({fraction:g}, seed {seed})")


# ----------------------------------------------------------------------------------------------
# The result
# ----------------------------------------------------------------------------------------------
@dataclass
class TuningResult:
    """Every candidate tried (plain data, for tables and plots) and the chosen one."""

    candidates: list[dict]  # estimator, order, settings, train_nll, heldout_nll, kind, best
    best: dict
    heldout: str  # what the held-out NLL was measured on
    unit: str = UNIT
    model: object = None  # the best candidate refitted on all training names
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        return self.candidates


def _candidate(kind: str, estimator: str, order, settings: dict, heldout: float, train: float | None = None,
               description: str = "", start: float | None = None) -> dict:
    return {"kind": kind, "estimator": estimator, "order": order, "settings": settings, "train_nll": train,
            "heldout_nll": heldout, "description": description, "start_nll": start, "best": False}


def parse_orders(text: str) -> list[int]:
    """``"2-10"``, ``"3,5,7"`` or ``"6"`` -> a sorted list of orders."""
    orders: set[int] = set()
    try:
        for part in str(text).replace(" ", "").split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                orders.update(range(int(lo), int(hi) + 1))
            elif part:
                orders.add(int(part))
    except ValueError:
        raise NgramError(f"--orders takes a range such as 2-10 or a list such as 3,5,7, got {text!r}") from None
    if not orders or min(orders) < 1:
        raise NgramError(f"--orders must name orders of at least 1, got {text!r}")
    return sorted(orders)


def _train_nll(model, names: Sequence[str]) -> float:
    totals, symbols = model.score(names)
    return float(-totals.sum() / symbols.sum())


def tune(
    names: Sequence[str],
    val_names: Sequence[str] | None = None,
    val_fraction: float | None = None,
    folds: int | None = None,
    seed: int = 0,
    orders: Iterable[int] = DEFAULT_ORDERS,
    smoothings: Sequence[str] | None = None,
    mixtures: bool = False,
    mixture_orders: Iterable[int] = MIXTURE_ORDERS,
    progress: Callable[[Iterable], Iterable] | None = None,
    refit: bool = True,
    source: str = "<names>",
) -> TuningResult:
    """Choose the estimator, order and settings with the lowest held-out NLL; refit it on ``names``.

    Held-out data: ``val_names`` (a separate file), else ``folds`` folds of ``names``, else a
    seeded ``val_fraction`` of them (0.1 by default). With ``mixtures`` the order mixture and the
    two-direction whole-name mixture are tried too and kept only if they lower the held-out NLL.
    ``progress`` may wrap the list of search steps (the CLI passes a tqdm bar on a terminal).
    """
    from .mixture import tune_mixtures

    started = time.perf_counter()
    names = list(names)
    if not names:
        raise NgramError("no training names to tune on")
    smoothings = list(smoothings or TUNABLE)
    for s in smoothings:
        if s not in TUNABLE:
            raise NgramError(f"cannot tune smoothing {s!r}; choose from {', '.join(TUNABLE)}")
    orders = sorted(set(int(o) for o in orders))
    mixture_orders = sorted(set(int(o) for o in mixture_orders))
    splits, heldout = make_splits(names, val_names, val_fraction, folds, seed)
    # One vocabulary for every fold and the refit: all characters of the names tuning may see,
    # so a held-out character never lacks a symbol (it gets the smoothed share of an unseen one).
    vocabulary = Vocabulary.from_names(names + [n for s in splits for n in s.heldout])
    from .counting import check_order, max_order_for

    # The default mixture orders stop where packed keys would overflow (large alphabets).
    mixture_orders = [o for o in mixture_orders if o <= max_order_for(vocabulary.size)] or mixture_orders
    max_order = max(orders + (mixture_orders if mixtures else []))
    check_order(max_order, vocabulary.size)
    steps = [("count", None, None)] + [("fit", s, o) for s in smoothings for o in orders]
    if mixtures:
        steps.append(("mixtures", None, None))
    iterator = progress(steps) if progress else steps
    fold_counts, folds_stats = [], []
    full_counts = None
    fits: list[Fit] = []
    mixture_rows: list[dict] = []
    mixture_best = None
    for step, smoothing, order in iterator:
        if step == "count":
            for split in splits:
                counts = count_ngrams(vocabulary.encode(split.train), max_order, vocabulary.size)
                fold_counts.append(counts)
                folds_stats.append(fold_stats(split.train, split.heldout, vocabulary, max_order, counts))
            pooled = concat_folds(folds_stats).by_depth()
            full_counts = fold_counts[0] if len(splits) == 1 and len(splits[0].train) == len(names) else \
                count_ngrams(vocabulary.encode(names), max_order, vocabulary.size)
        elif step == "fit":
            fits.append(fit_family(smoothing, order, [pooled], fold_counts[0]))
        else:
            mixture_rows, mixture_best = tune_mixtures(names, splits, vocabulary, folds_stats, fits, mixture_orders, seed=seed)
    candidates = []
    for fit in fits:
        description = FAMILIES[fit.estimator].describe(fit.settings) if fit.estimator in FAMILIES else f"k = {fit.settings['k']:.4g}"
        candidates.append(_candidate("single", fit.estimator, fit.order, fit.settings, fit.heldout_nll,
                                     description=description, start=fit.start_nll))
    candidates.extend(mixture_rows)
    best = min(candidates, key=lambda c: c["heldout_nll"])
    best["best"] = True
    result = TuningResult(candidates=candidates, best=best, heldout=heldout)
    if refit:
        result.model = build(best, names, vocabulary, source=source, counts=full_counts)
        # Train NLL: each single candidate refitted on all training names and scored on them.
        for c in candidates:
            if c["kind"] == "single":
                m = result.model if c is best else build(c, names, vocabulary, source=source, counts=full_counts)
                c["train_nll"] = _train_nll(m, names)
            elif c is best:
                c["train_nll"] = _train_nll(result.model, names)
    result.seconds = time.perf_counter() - started
    return result


def build(candidate: dict, names: Sequence[str], vocabulary: Vocabulary, source: str = "<names>",
          counts: Counts | None = None):
    """Fit a candidate (a row of ``TuningResult.candidates``) on ``names``."""
    from .mixture import build_mixture
    from .training import corpus_fingerprint
    from .model import name_fingerprints

    if candidate["kind"] != "single":
        return build_mixture(candidate, names, vocabulary, source=source)
    order = candidate["order"]
    estimator = make_estimator(candidate["estimator"], **candidate["settings"])
    if counts is None or counts.order < order:
        counts = count_ngrams(vocabulary.encode(names), order, vocabulary.size)
    sub = Counts(order, counts.vocab_size, counts.keys[:order], counts.counts[:order])
    model = estimator.fit(sub, vocabulary)
    model.estimator["tuned"] = True
    model.corpus = {"source": source, "names": len(names), "symbols": int(sub.total_symbols()),
                    "sha256": corpus_fingerprint(names)}
    model.train_names = name_fingerprints(names)
    return model
