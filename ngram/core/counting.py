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

from ngram.core.errors import NgramError
from ngram.core.vocabulary import Encoded

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
    # By-products of in-memory counting that later stages would otherwise search or sort for
    # (index n-1 for order n, None where unknown; empty lists for streamed or merged counts):
    # where each n-gram's suffix (its last n-1 symbols) sits in order n-1, and how many distinct
    # symbols precede each n-gram below the top order (0 for n-grams that begin with <s>).
    suffix_index: list[np.ndarray | None] = field(default_factory=list)
    left: list[np.ndarray | None] = field(default_factory=list)
    # Set by whoever made these counts for one fit and nothing after it (``training.train``):
    # the estimator may then drop each order's raw counts and by-products once it has used
    # them, which lowers the peak memory of training at high orders.
    release_after_use: bool = False
    # Set (to a dict) by whoever fits several estimators on these counts, as an order mixture's
    # components are on loading: arrays that depend on the counts alone (context groups, adjusted
    # counts, per-bucket totals) are then made once for all of them. None: nothing is kept.
    derived: dict | None = None
    # Where each n-gram's context (its first n-1 symbols) sits in order n-1, when a reader found
    # it while checking the counts (index n-1 for order n; empty when unknown).
    context_index: list[np.ndarray | None] = field(default_factory=list)

    def remembered(self, key, make: Callable):
        """``make()``, made once per ``key`` when these counts keep derived arrays."""
        if self.derived is None:
            return make()
        if key not in self.derived:
            self.derived[key] = make()
        return self.derived[key]

    def forget_from(self, n: int) -> None:
        """Drop the derived arrays of orders n and up (keys name their order second)."""
        if self.derived:
            for key in [k for k in self.derived if k[1] >= n]:
                del self.derived[key]

    def release(self, what: str, n: int) -> None:
        """Drop order n's ``counts``, ``suffix_index`` or ``left`` if ``release_after_use``."""
        held = getattr(self, what)
        if self.release_after_use and n - 1 < len(held):
            held[n - 1] = None

    def of(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.keys[n - 1], self.counts[n - 1]

    def suffixes(self, n: int) -> np.ndarray:
        """Index in order n-1 of each order-n n-gram's suffix (n >= 2; the set is suffix-closed)."""
        known = self.suffix_index[n - 1] if n - 1 < len(self.suffix_index) else None
        if known is not None:
            return known
        below = self.keys[n - 2]
        return np.minimum(np.searchsorted(below, self.keys[n - 1] % self.vocab_size ** (n - 1)), max(len(below) - 1, 0))

    def left_neighbours(self, n: int) -> np.ndarray:
        """For order n below the top: how many distinct symbols precede each n-gram."""
        known = self.left[n - 1] if n - 1 < len(self.left) else None
        if known is not None:
            return known
        # Order n+1 keys are unique, so how often a suffix occurs there is its number of
        # distinct left neighbours.
        return np.bincount(self.suffixes(n + 1), minlength=len(self.keys[n - 1])).astype(np.int64)

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


def _count_windows(ids: np.ndarray, order: int, V: int, adjusted: bool = True) -> tuple[list, list, list, list]:
    """Unweighted counts of orders 1..order from one sort of the order-N windows (numpy's sort
    and a diff: argsort, ``return_inverse`` and hashing were several times slower).

    Each target's window is h·V^N + the key of its last N symbols (zeros beyond the start of
    the name, which the start symbol's own 0 makes unambiguous), h = min(history, N-1) its
    history length: sorted, the windows of each history length are one run, and the top
    order is the last run's keys.
    """
    T = len(ids) - 1
    span = V**order
    dtype = np.uint32 if order * span <= 2**32 else np.uint64
    small = np.uint8 if V <= 256 else (np.uint16 if V <= 65536 else np.uint32)
    sym = ids.astype(small, copy=False)  # (read only below)
    # History length h = min(history, N-1) first: target t sees symbol t-i while no start symbol
    # lies in between (the start symbol itself counts).
    history = np.zeros(T, np.uint8)
    alive = np.ones(T, bool)
    for i in range(1, min(order, T + 1)):  # no target has more than T symbols before it
        if i >= 2:
            np.logical_and(alive[i - 1:], sym[1 : T + 2 - i] != 0, out=alive[i - 1:])
        alive[: i - 1] = False
        history += alive
    del alive
    # Then Horner's rule from the history length down to the target, in place: no temporary
    # as big as the windows.
    windows = history.astype(dtype)
    digit = np.empty(T, small)
    for i in range(order - 1, 0, -1):
        digit[: i - 1] = 0
        if i <= T:
            np.multiply(sym[: T + 1 - i], history[i - 1:] >= i, out=digit[i - 1:])
        else:
            digit[:] = 0
        windows *= dtype(V)
        windows += digit
    windows *= dtype(V)
    windows += sym[1:]
    del digit, sym, history
    windows.sort()
    starts = np.flatnonzero(np.concatenate(([True], windows[1:] != windows[:-1])))
    w_counts = np.diff(np.append(starts, len(windows)))
    w = windows[starts]
    del windows, starts
    keys_out, counts_out = [None] * order, [None] * order
    suffix_index, left = [None] * order, [None] * order
    bounds = [int(np.searchsorted(w, dtype(h * span))) for h in range(order)] + [len(w)]
    for n in range(order, 0, -1):
        # Windows with h = n-1 hold an n-gram that starts at the start symbol (at the top
        # order: every n-gram); every other occurrence of an n-gram is the suffix of an
        # (n+1)-gram, already counted.
        lo, hi = bounds[n - 1], bounds[n]
        keys = w[lo:hi].astype(np.int64)
        keys -= (n - 1) * span
        counts = w_counts[lo:hi].astype(np.int64)
        if n < order:
            starting = len(keys)
            keys = np.concatenate((keys, keys_out[n] % V**n))
            counts = np.concatenate((counts, counts_out[n]))
            # Grouping the suffixes also says where each (n+1)-gram's suffix went, and how many
            # (n+1)-grams share it: its distinct left neighbours (Kneser-Ney's adjusted count).
            keys, counts, where = _group_with_index(keys, counts, V**n, adjusted)
            if adjusted:
                suffix_index[n] = where[starting:]
                left[n - 1] = np.bincount(suffix_index[n], minlength=len(keys)).astype(np.min_scalar_type(V))  # at most V
        keys_out[n - 1], counts_out[n - 1] = keys, counts
    return keys_out, counts_out, suffix_index, left


def _group_with_index(keys: np.ndarray, counts: np.ndarray, span: int, with_index: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Sorted unique ``keys`` (each below ``span``), the sum of ``counts`` per key, and where each
    input key went (None unless ``with_index``)."""
    index = np.int32 if len(keys) < 2**31 else np.int64  # positions among the keys (dense spans are small)
    if span <= 1 << 20:
        # Few possible keys: a count per possible key and a running rank, no sort at all.
        dense = np.bincount(keys, weights=counts, minlength=span)
        present = dense != 0
        rank = np.cumsum(present, dtype=index) - 1
        unique = np.flatnonzero(present)
        return unique, dense[unique].astype(np.int64), rank[keys] if with_index else None
    if len(keys) == 0:
        return keys, counts.astype(np.int64), np.zeros(0, index)
    position_bits = max(len(keys) - 1, 1).bit_length()
    if (span - 1).bit_length() + position_bits <= 64:
        # Sorting key·2^b + position carries each key's position along: several times faster
        # than an argsort.
        packed = keys.astype(np.uint64) << np.uint64(position_bits)
        packed |= np.arange(len(keys), dtype=np.uint64)
        packed.sort()
        order = (packed & np.uint64((1 << position_bits) - 1)).astype(np.intp)
        packed >>= np.uint64(position_bits)
        sorted_keys = packed.view(np.int64)
    else:
        order = np.argsort(keys)
        sorted_keys = keys[order]
    first = np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1]))
    where = None
    if with_index:
        where = np.empty(len(keys), index)
        where[order] = np.cumsum(first, dtype=index) - 1
    unique = sorted_keys[first]
    return unique, np.add.reduceat(counts[order], np.flatnonzero(first)), where


def count_ngrams(encoded: Encoded, order: int, vocab_size: int, weights: np.ndarray | None = None,
                 progress: Callable[[Iterable], Iterable] | None = None, adjusted: bool = True) -> Counts:
    """Counts of every n-gram of orders 1..order in the encoded corpus, with no per-symbol loop.

    ``adjusted=False`` leaves out where each n-gram's suffix went and the left-neighbour counts
    (``Counts.suffix_index``, ``Counts.left``), which only estimating needs: counting blocks to
    merge later skips that work.

    ``weights`` (one per name) makes each occurrence count that much (weighted corpora).
    ``progress`` may wrap the loop over orders (the CLI passes a tqdm bar; the library draws none).
    """
    check_order(order, vocab_size)
    if weights is None and order * vocab_size**order <= 2**64:
        result = Counts(order=order, vocab_size=vocab_size)
        for n in progress(range(1, order + 1)) if progress else range(1, order + 1):
            if n == 1:  # one sort does every order; the bar shows it as the first step
                result.keys, result.counts, result.suffix_index, result.left = _count_windows(encoded.symbols, order, vocab_size, adjusted)
        return result
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
