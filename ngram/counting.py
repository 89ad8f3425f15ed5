"""Counting: n-gram counts for every order 1..N, as sorted packed keys and counts.

An n-gram of symbols (s_1 .. s_n) is packed into one int64 key, sum s_i * V^(n-i): the last
symbol (the predicted one) is the lowest digit, so ``key // V`` is the key of its context and
``key % V^(n-1)`` the key of its suffix. Contexts, children and suffixes then line up by integer
arithmetic and searchsorted, and every later stage works on plain arrays.

Counting follows KenLM: each name is ``<s> c1 .. cL </s>`` with one start symbol; an n-gram is
counted at a target position only when the name has n-1 symbols of context there, so nothing
crosses into the previous name and a start symbol appears only as the first symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from .errors import NgramError
from .vocabulary import Encoded

MAX_KEY = np.iinfo(np.int64).max


def max_order_for(vocab_size: int) -> int:
    """The highest order whose packed keys fit in int64."""
    if vocab_size <= 1:  # only the boundary symbol: every key is 0, and the loop below never ends
        return 63
    order = 1
    while vocab_size ** (order + 1) <= MAX_KEY:
        order += 1
    return order


def check_order(order: int, vocab_size: int) -> None:
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise NgramError(f"order must be a whole number, got {order!r}")
    if order < 1:
        raise NgramError(f"order must be at least 1, got {order}")
    limit = max_order_for(vocab_size)
    if order > limit:
        raise NgramError(f"order {order} is too high for a vocabulary of {vocab_size} symbols (at most {limit})")


@dataclass
class Counts:
    """Per order n (index n-1): sorted unique n-gram keys and their counts."""

    order: int
    vocab_size: int
    keys: list[np.ndarray] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)  # int64, or float64 for weighted corpora

    def of(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.keys[n - 1], self.counts[n - 1]

    @property
    def integer(self) -> bool:
        return all(c.dtype.kind in "iu" for c in self.counts)

    def total_symbols(self) -> float:
        return float(self.counts[0].sum())


def unique_counts(keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with how often (or how much weight) each occurs."""
    if len(keys) == 0:
        return keys.astype(np.int64), np.zeros(0, np.float64 if weights is not None else np.int64)
    if weights is None:
        # An in-place sort plus diff is several times faster than np.unique on int64 keys.
        keys = np.sort(keys)
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        counts = np.diff(np.append(starts, len(keys)))
        return keys[starts], counts.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, weights = keys[order], weights[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(weights, starts)


def count_ngrams(encoded: Encoded, order: int, vocab_size: int, weights: np.ndarray | None = None,
                 progress: Callable[[Iterable], Iterable] | None = None) -> Counts:
    """Counts of every n-gram of orders 1..order in the encoded corpus, with no per-symbol loop.

    ``weights`` (one per name) makes each occurrence count that much (weighted corpora).
    ``progress`` may wrap the loop over orders (the CLI passes a tqdm bar; the library draws none).
    """
    check_order(order, vocab_size)
    ids = encoded.ids
    history = encoded.history()
    positions = np.arange(1, len(ids), dtype=np.int64)
    keys = ids[1:].copy()
    target_weights = None
    if weights is not None:
        name_of_target = np.repeat(np.arange(encoded.n_names), encoded.symbols_per_name())
        weights = np.asarray(weights, dtype=np.float64)
        if np.all(weights == np.round(weights)) and weights.max(initial=0) < 2.0**53:
            # Whole-number weights keep integer counts: exactly the counts of repeated lines, which
            # the Kneser-Ney family (counts-of-counts) needs.
            weights = weights.astype(np.int64)
        target_weights = weights[name_of_target]
    result = Counts(order=order, vocab_size=vocab_size)
    orders = range(1, order + 1)
    for n in progress(orders) if progress else orders:
        if n > 1:
            # Only targets with n-1 symbols of history in their own name take part from here on.
            keep = history >= n - 1
            positions, keys, history = positions[keep], keys[keep], history[keep]
            if target_weights is not None:
                target_weights = target_weights[keep]
            keys = keys + ids[positions - (n - 1)] * vocab_size ** (n - 1)
        unique, counts = unique_counts(keys, target_weights)
        result.keys.append(unique)
        result.counts.append(counts)
    return result
