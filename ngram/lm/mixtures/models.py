"""The mixtures that tuning builds, as models: order mixtures and whole-name mixtures.

``ContextMixture``: models of several orders trained on the same names (left to right), mixed with
weights that depend on the length of the longest context of the history that was seen in
training (its "bucket"):

    p(w | h) = Σ_k λ_{b(h), k} p_k(w | h)

The bucket depends on the context only, so every row is still a distribution over the vocabulary
and the mixture is a bounded-context next-symbol model (``probs``, ``score``, ``evaluate
--explain``, sampling, ``ngram mix`` all work). It could be compiled into the one back-off form
(``ngram.lm.mixtures.linear.compile_mixture`` does, with dense rows) but with orders up to 10 that is
millions of stored n-grams (tens of MB per file and gigabytes for the sampling automaton), so it
is kept as components + weights; when the components were fitted on one set of counts (as tuning
fits them) the file stores those counts once and each component's settings.

``NameMixture``: a mixture of whole-name distributions, p(name) = Σ_k w_k p_k(name), where a
component may read names right to left (a model trained on reversed names). Each component is a
proper distribution over names (characters + end), so the mixture is one too: scoring works, and
sampling draws a component by weight, then a name from it. Its next-symbol vectors need the
total probability each component gives to names that start with a prefix (for a right-to-left
component, a sum over its context states, ``ngram.lm.mixtures.name_rows``), batched over every
prefix of a batch of names.

Both implement ``ngram.lm.protocol.LanguageModel`` through ``ngram.lm.base``; ``ngram.formats.native`` stores them
(their components recursively, each like a single model, under a prefix); their weights are
fitted by ``ngram.lm.mixtures.linear.em_weights``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ngram.lm.base import NameModel, NextSymbolModel
from ngram.core.counting import Counts
from ngram.core.errors import NgramError, indefinite
from ngram.lm.mixtures import name_rows
from ngram.lm.mixtures.linear import mixture_logprobs
from ngram.lm.mixtures.shared import SharedLevels
from ngram.lm.protocol import BOUNDED_CONTEXT, LEVELS, MIXED_CONTEXTS, NEXT_SYMBOL, LanguageModel, gives_rows, require
from ngram.core.vocabulary import Encoded, reverse_encoded


# ----------------------------------------------------------------------------------------------
# Buckets of an order mixture
# ----------------------------------------------------------------------------------------------
FOLLOWER_BINS = (2, 3, 6)  # distinct followers of the longest seen context: 1, 2, 3-5, 6+


def bucket_of(longest: np.ndarray, followers: np.ndarray, follower_bins: Sequence[int] | None) -> np.ndarray:
    """Bucket = longest seen context length, split by how many distinct symbols followed that
    context in training (few followers: the long context is sharp or just rare)."""
    if not follower_bins:
        return np.asarray(longest, np.int64)
    width = len(follower_bins) + 1
    bins = np.where(longest > 0, np.digitize(followers, follower_bins), 0)
    return np.asarray(longest, np.int64) * width + bins


def n_buckets(order: int, follower_bins: Sequence[int] | None) -> int:
    return order * (len(follower_bins) + 1 if follower_bins else 1)


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
def _check_weights(weights, shape) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != shape or (weights < 0).any() or not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-9):
        raise NgramError(f"mixture weights must be non-negative, of shape {shape}, and sum to 1, got {weights.tolist()}")
    return weights


# ----------------------------------------------------------------------------------------------
# Both mixtures
# ----------------------------------------------------------------------------------------------
class Components:
    """What both mixtures share: their components (one vocabulary), order, and provenance."""

    def _take(self, components: Sequence[LanguageModel], estimator: dict, corpus: dict | None,
              train_names: np.ndarray | None) -> None:
        self.components = list(components)
        if not self.components:
            raise NgramError("a mixture needs at least one component")
        self.vocabulary = self.components[0].vocabulary
        if any(m.vocabulary != self.vocabulary for m in self.components[1:]):
            raise NgramError("mixture components must share one vocabulary")
        self.order = max(m.order for m in self.components)
        self.estimator = estimator
        self.corpus = corpus or dict(self.components[0].corpus)
        self.train_names = train_names if train_names is not None else self.components[0].train_names

    def _largest(self) -> LanguageModel:
        return max(self.components, key=lambda m: m.order)

    def n_ngrams(self) -> list[int]:
        return self._largest().n_ngrams()


# ----------------------------------------------------------------------------------------------
# Order mixture
# ----------------------------------------------------------------------------------------------
def _followers(top: LanguageModel, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, distinct followers of each) for the contexts of n symbols, a context being seen
    where it has a follower. A back-off component's order-n keys are its contexts' superset
    (stored sets are prefix-closed), so they serve as the keys, with a small count per key (0:
    not a context), and no sorted copy of the contexts is kept: 2.4 -> 0.2 MB for each direction
    of the English default model."""
    if LEVELS in top.capabilities:
        keys = top.levels[n - 1].keys
        at = top.levels[n].context_places(keys, top.V)
        if len(keys) and np.array_equal(keys[at], top.levels[n].keys // top.V):
            small = np.uint8 if top.V < 2**8 else np.uint16 if top.V < 2**16 else np.uint32
            return keys, np.bincount(at, minlength=len(keys)).astype(small)
    return np.unique(np.concatenate(top.stored_keys(n + 1)) // top.V, return_counts=True)


VIEW_ROWS_FROM = 1 << 16  # (position, symbol) cells from which whole rows come from the automaton view


class ContextMixture(Components, NextSymbolModel):
    """Σ_k λ[b(h), k] p_k(w | h), b(h) = length of the longest context of h seen in training,
    optionally split by that context's number of distinct followers (``follower_bins``)."""

    kind = "context"
    capabilities = frozenset({BOUNDED_CONTEXT, MIXED_CONTEXTS})

    def __init__(self, components: Sequence[LanguageModel], weights, estimator: dict | None = None, corpus: dict | None = None,
                 train_names: np.ndarray | None = None, follower_bins: Sequence[int] | None = None,
                 counts: Counts | None = None):
        self._take(components, estimator or {"name": "order-mixture"}, corpus, train_names)
        # The n-gram counts the components were fitted on, if known: a model file then stores
        # them once instead of every component's tables (``ngram.formats.native``).
        self.counts = counts
        for m in self.components:
            require(m, BOUNDED_CONTEXT, "order mixture", f"a component is {indefinite(m.describe())}, which has no bounded-context rows")
        self.follower_bins = [int(b) for b in follower_bins] if follower_bins else []
        self.weights = _check_weights(weights, (n_buckets(self.order, self.follower_bins), len(self.components)))
        # Seen contexts of each length, from the highest-order component (its n-grams are the
        # counted ones, a superset of every other component's).
        top = self._largest()
        self._contexts = [_followers(top, n) for n in range(1, top.order)]
        self._shared = SharedLevels.of(self.components)  # one search per order for every component, when possible

    def row_logprobs(self, encoded: Encoded) -> np.ndarray:
        """Whole rows for many positions from the automaton view (a row per context state, made
        once from the shared levels), not V windows looked up per position."""
        if self._shared is None or encoded.n_targets * self.V < VIEW_ROWS_FROM:
            return super().row_logprobs(encoded)
        from ngram.lm.backoff.automaton import view

        keys, history = self.window_keys(encoded)
        return view(self).logrows_after(keys // self.V, history)

    def shared_levels(self) -> SharedLevels | None:
        """The components' levels read as one, when they store the same keys (as fitted on one
        set of counts); None otherwise."""
        return self._shared

    def stored_keys(self, n: int) -> list[np.ndarray]:
        """The components' stored n-grams: the weight bucket, too, only changes at a stored context."""
        return [k for component in self.components for k in component.stored_keys(n)]

    def buckets(self, window_keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Length of the longest seen context of each row's history (the weight bucket)."""
        context = np.asarray(window_keys, np.int64) // self.V
        history = np.minimum(np.asarray(history, np.int64), self.order - 1)
        longest = np.zeros(len(context), np.int64)
        followers = np.zeros(len(context), np.int64)
        active = np.arange(len(context))
        for length, (seen, children) in enumerate(self._contexts, start=1):
            # Seen contexts are suffix-closed: a row that misses at one length misses at every longer one.
            active = active[history[active] >= length]
            if len(seen) == 0 or len(active) == 0:
                break
            query = context[active] % self.V**length
            index = np.minimum(np.searchsorted(seen, query), len(seen) - 1)
            hit = (seen[index] == query) & (children[index] > 0)
            active, index = active[hit], index[hit]
            longest[active] = length
            followers[active] = children[index]
        return bucket_of(longest, followers, self.follower_bins)

    def logprob_keys(self, window_keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        window_keys = np.asarray(window_keys, np.int64)
        history = np.asarray(history, np.int64)
        if self._shared is not None:
            logp = self._shared.logprobs(window_keys, history)
        else:
            logp = np.stack([m.logprob_keys(window_keys, history) for m in self.components], axis=1)
        return mixture_logprobs(logp, self.weights, self.buckets(window_keys, history))

    def describe(self) -> str:
        orders = ",".join(str(m.order) for m in self.components)
        names = sorted({m.estimator.get("name", "?") for m in self.components})
        split = " x its distinct followers" if self.follower_bins else ""
        return (f"order mixture of {len(self.components)} {'/'.join(names)} models (orders {orders}), weights by "
                f"longest seen context{split}, V = {self.V} symbols")


# ----------------------------------------------------------------------------------------------
# Whole-name mixture
# ----------------------------------------------------------------------------------------------
class NameMixture(Components, NameModel):
    """p(name) = Σ_k w_k p_k(name); a component with ``reverse`` reads names right to left."""

    kind = "name"

    def __init__(self, components: Sequence[LanguageModel], reverse: Sequence[bool], weights, estimator: dict | None = None,
                 corpus: dict | None = None, train_names: np.ndarray | None = None, forward_masses: dict | None = None):
        self._take(components, estimator or {"name": "name-mixture"}, corpus, train_names)
        self.reverse = [bool(r) for r in reverse]
        if len(self.reverse) != len(self.components):
            raise NgramError("give one direction per mixture component")
        self.weights = _check_weights(weights, (len(self.components),))
        # Next-symbol rows need each component's: a right-to-left one's from its context states.
        self.capabilities = frozenset({NEXT_SYMBOL}) if all(
            BOUNDED_CONTEXT in m.capabilities if r else gives_rows(m) for m, r in zip(self.components, self.reverse)) \
            else frozenset()
        self._stored = dict(forward_masses or {})  # component index -> name_rows.ForwardMasses (a model file's)
        self._suffix_tables: dict | None = None

    def suffix_tables(self) -> dict:
        """Per right-to-left component (by index): its ``name_rows.SuffixTable``, made once."""
        if self._suffix_tables is None:
            self._suffix_tables = {i: name_rows.SuffixTable(m, self._stored.get(i))
                                   for i, (m, r) in enumerate(zip(self.components, self.reverse)) if r}
        return self._suffix_tables

    def forward_masses(self) -> dict:
        """Per right-to-left component (by index): its ``name_rows.ForwardMasses``, what a model file
        stores so that next-symbol answers need no automaton."""
        masses = {i: table.forward_masses() for i, table in self.suffix_tables().items()}
        return {i: f for i, f in masses.items() if f is not None}

    def name_components(self) -> list:
        return [(float(w), m, r) for w, m, r in zip(self.weights, self.components, self.reverse)]

    def name_logprobs(self, encoded: Encoded) -> np.ndarray:
        """ln p(name) = ln Σ_k w_k p_k(name) for every name of an encoded (left-to-right) corpus."""
        reversed_ = reverse_encoded(encoded) if any(self.reverse) else None
        per = [m.name_logprobs(reversed_ if rev else encoded) for m, rev in zip(self.components, self.reverse)]
        return mixture_logprobs(np.stack(per, axis=1), self.weights)

    # ----- next-symbol questions: exact, from each component's prefix masses (ngram.lm.mixtures.name_rows) ----
    def logprobs(self, context: str = "", at_start: bool = True) -> np.ndarray:
        return name_rows.context_logprobs(self, context, at_start)

    def row_logprobs(self, encoded: Encoded) -> np.ndarray:
        return name_rows.row_logprobs(self, encoded)

    def logprob_encoded(self, encoded: Encoded) -> np.ndarray:
        return name_rows.logprob_encoded(self, encoded)

    def describe(self) -> str:
        parts = [f"{w:.3f} x {'right-to-left' if r else 'left-to-right'} {m.describe()}"
                 for m, r, w in zip(self.components, self.reverse, self.weights)]
        return "whole-name mixture: " + "; ".join(parts)

