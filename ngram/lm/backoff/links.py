"""Where sorted context keys sit among the stored (n-1)-gram keys (``context_positions``, which the
interpolated estimators use), and ``share_links``, which an order mixture's loader still calls.

The automaton's structure (each n-gram's context and suffix) is found once per model by the lean
automaton (``ngram.lm.backoff.scoring.build_lean``), which every reader of the structure takes:
scoring, the views, sampling for huge vocabularies and the load-time check.
"""

from __future__ import annotations

import numpy as np


def share_links(models) -> None:
    """Nothing to do: kept for ``ngram.formats.native``'s loader of order mixtures, which calls it.
    The components' links were shared here while a second structure builder made them; the lean
    automaton that replaced it is made per model, when a question needs it."""


def context_positions(below: np.ndarray, heads: np.ndarray, V: int) -> np.ndarray | None:
    """Where each of the sorted context keys ``heads`` sits among the sorted (n-1)-gram keys
    ``below``, None if one is missing.

    In counts of whole names every stored (n-1)-gram that does not end with the end symbol is
    followed by something, so (from order 3 on) the contexts are exactly those keys: one pass
    finds them, and checking that it did is cheaper than a binary search per context.
    """
    guess = np.flatnonzero(below % V != 0)
    if len(guess) == len(heads) and np.array_equal(below[guess], heads):
        return guess
    found = np.searchsorted(below, heads)  # sorted queries: cache-friendly
    if len(found) and (found.max() >= len(below) or not np.array_equal(below[found], heads)):
        return None
    return found
