"""Fold statistics: one (training part, held-out part) pair reduced to arrays over held-out positions.

For every held-out position and every order n the fold's counts give, once, what any interpolated
estimator needs there: the count of the n-gram (raw and lmplz-adjusted), its context's total, how
many children the context has with count 1, 2 and 3+ (1, ..., K-1 and K+ when ``fold_stats`` is
asked for K > 3 buckets), and whether the context was seen at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ngram.core.counting import Counts, count_ngrams
from ngram.core.errors import NgramError
from ..estimators.discounting import adjusted_counts
from ngram.lm.mixtures.models import bucket_of
from ngram.core.vocabulary import Vocabulary


# ----------------------------------------------------------------------------------------------
@dataclass
class Variant:
    """Per held-out position, at one order, under one kind of count (raw or lmplz-adjusted)."""

    a: np.ndarray  # count of the n-gram (0 when unseen)
    total: np.ndarray  # sum of counts over the context's children (1 where the context is unseen)
    buckets: np.ndarray  # (K, M): children of the context with count 1, 2, ..., K+ (K = 3 unless asked)
    bucket: np.ndarray  # the n-gram's own bucket 0..K (0 = unseen)


@dataclass
class Level:
    active: np.ndarray  # the context is seen in training and lies inside the name
    distinct: np.ndarray  # distinct children of the context
    raw: Variant
    adjusted: Variant
    _compact: dict = field(default_factory=dict, repr=False)

    def compact(self, kind: str, buckets: int = 3) -> dict:
        """Arrays over the active positions only, divided by the context total once, cached:
        every objective evaluation then costs a few small vector operations per order.
        ``buckets``: how many count buckets "onehot" and "buckets" split children into (the last
        one holds every count from ``buckets`` up); at most the K the statistics were counted with."""
        key = kind if buckets == 3 else (kind, buckets)
        if key not in self._compact:
            idx = np.flatnonzero(self.active)
            if len(idx) == 0 or idx[-1] == len(idx) - 1:
                # Positions sorted by depth (FoldStats.by_depth) make the active set a prefix, and
                # a slice is a view where an index array would copy.
                idx = slice(0, len(idx))
            v = self.raw if kind == "raw" else self.adjusted
            counted = len(v.buckets)
            if buckets > counted:
                raise NgramError(f"these statistics split children into {counted} count buckets, not {buckets}")
            inv = 1.0 / v.total[idx]
            bucket = v.bucket[idx]
            per_bucket = v.buckets[:, idx]
            if buckets < counted:  # merge the top buckets (whole numbers: the sums are exact)
                bucket = np.minimum(bucket, buckets)
                per_bucket = np.concatenate([per_bucket[:buckets - 1], per_bucket[buckets - 1:].sum(axis=0, keepdims=True)])
            self._compact[key] = {
                "idx": idx,
                "inv": inv,
                "a": v.a[idx] * inv,
                "onehot": np.stack([(bucket == j) * inv for j in range(1, buckets + 1)]),
                "buckets": np.ascontiguousarray(per_bucket * inv),
                "seen": (bucket >= 1) * inv,
                "children": v.buckets[:, idx].sum(axis=0) * inv,
                "wb_u": v.a[idx] / (v.total[idx] + self.distinct[idx]),
                "wb_g": self.distinct[idx] / (v.total[idx] + self.distinct[idx]),
            }
        return self._compact[key]


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
        return self.take(np.argsort(-self.longest_context(), kind="stable"))

    def take(self, order: np.ndarray) -> "FoldStats":
        """The positions ``order`` selects (indices or a boolean mask), in that order."""
        if order.dtype == bool:
            order = np.flatnonzero(order)

        def variant(v):
            return Variant(v.a[order], v.total[order], v.buckets[:, order], v.bucket[order])

        levels = [Level(l.active[order], l.distinct[order], variant(l.raw), variant(l.adjusted)) for l in self.levels]
        return FoldStats(self.vocab_size, self.max_order, levels, len(order), self.name_of[order], self.n_names,
                         self.history[order])

    def mixture_buckets(self, max_order: int, follower_bins: Sequence[int] | None = None) -> np.ndarray:
        """Weight bucket of each position for an order mixture (``ngram.lm.mixtures.models.bucket_of``)."""
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
             active: np.ndarray, K: int = 3) -> Variant:
    values = values.astype(np.float64)
    if n == 1:
        contexts, owner = np.zeros(1, np.int64), np.zeros(len(keys), np.int64)
    else:
        owner_keys = keys // V
        first = np.concatenate(([True], owner_keys[1:] != owner_keys[:-1])) if len(keys) else np.zeros(0, bool)
        contexts, owner = owner_keys[first], np.cumsum(first) - 1
    totals = np.bincount(owner, weights=values, minlength=len(contexts))
    bucket_of = np.clip(np.floor(values), 0, K).astype(np.int64)
    per_bucket = np.stack([np.bincount(owner[bucket_of == j], minlength=len(contexts)) for j in range(1, K + 1)]).astype(np.float64)
    M = len(window)
    a = np.zeros(M)
    total = np.ones(M)
    buckets = np.zeros((K, M))
    if len(keys):
        index = np.minimum(np.searchsorted(keys, window), len(keys) - 1)
        found = (keys[index] == window) & active
        a[found] = values[index[found]]
        c_index = np.zeros(M, np.int64) if n == 1 else np.minimum(np.searchsorted(contexts, context), len(contexts) - 1)
        total[active] = totals[c_index[active]]
        buckets[:, active] = per_bucket[:, c_index[active]]
    return Variant(a=a, total=total, buckets=buckets, bucket=np.clip(np.floor(a), 0, K).astype(np.int64))


def fold_stats(train_names: Sequence[str], heldout_names: Sequence[str], vocabulary: Vocabulary, max_order: int,
               counts: Counts | None = None, buckets: int = 3) -> FoldStats:
    """Count ``train_names`` once and reduce them to arrays over the held-out positions.

    ``buckets``: the count buckets (1, ..., K+) children are split into; more than three only for
    estimators with more discounts per order (each bucket costs one array per order and kind)."""
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
            raw=_variant(keys, raw, V, n, window, context, active, buckets),
            adjusted=_variant(keys, adjusted[n - 1], V, n, window, context, active, buckets),
        ))
    name_of = np.repeat(np.arange(encoded.n_names), encoded.symbols_per_name())
    return FoldStats(vocab_size=V, max_order=max_order, levels=levels, symbols=len(targets), name_of=name_of,
                     n_names=encoded.n_names, history=history)


def position_groups(folds: Sequence[FoldStats], seed: int = 0, groups: int = 5) -> np.ndarray:
    """A group per held-out position of ``concat_folds(folds)``, for cross-fitting settings: its
    fold, or with one fold a seeded group of whole held-out names (``groups`` of them)."""
    if len(folds) > 1:
        return np.repeat(np.arange(len(folds)), [f.symbols for f in folds])
    fold = folds[0]
    return (np.random.default_rng(seed).permutation(fold.n_names) % groups)[fold.name_of]
