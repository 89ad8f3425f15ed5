"""What every estimator shares: settings in ``__init__``, ``fit(counts, vocabulary) -> Model``.

Estimators never read files, print or draw progress bars; they turn ``Counts`` into the one
back-off ``Model``. The helpers here are the array operations they all need: grouping the
n-grams of one order by their context, and telling which n-grams begin with the start symbol.
"""

from __future__ import annotations

import numpy as np

from ngram.core.counting import Counts
from ngram.lm.backoff.model import Level, Model, lookup  # noqa: F401  (lookup: re-exported for the estimators)
from ngram.core.vocabulary import Vocabulary


class Estimator:
    """Base class. Subclasses set ``name`` and implement ``_levels``."""

    name = "estimator"

    def checks_its_rows(self) -> bool:
        """Whether ``fit`` itself proves every row it makes sums to 1 (refusing one that does not),
        so a model read back from counts needs no check of its tables afterwards."""
        return False

    def get_params(self) -> dict:
        return {}

    def fit(self, counts: Counts, vocabulary: Vocabulary) -> Model:
        levels, report = self._levels(counts, vocabulary)
        return Model(
            vocabulary=vocabulary,
            order=counts.order,
            levels=levels,
            estimator={"name": self.name, **self.get_params(), **({"report": report} if report else {})},
        )

    def _levels(self, counts: Counts, vocabulary: Vocabulary) -> tuple[list[Level], dict]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def starts_with_boundary(keys: np.ndarray, n: int, V: int) -> np.ndarray:
    """n-grams (or contexts) of length n whose first symbol is the boundary: leading digit 0.

    For a context that boundary is the start symbol. (A lone boundary as a unigram *target* is
    the end symbol; callers asking about targets use n >= 2.)
    """
    return keys < V ** (n - 1)


def group_by_context(keys: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique context keys of sorted n-gram keys, and each n-gram's index into them.

    Sorted keys keep the children of one context adjacent, so this is a diff, not a sort.
    """
    contexts = keys // V
    if len(contexts) == 0:
        return contexts, np.zeros(0, np.int64)
    first = np.concatenate(([True], contexts[1:] != contexts[:-1]))
    # int32 while it is safe (owners are multiplied by a small bucket count): half the memory.
    index = np.int32 if len(keys) < 2**28 else np.int64
    return contexts[first], np.cumsum(first, dtype=index) - 1


def context_sums(keys: np.ndarray, values: np.ndarray, V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per context: its key, the sum of ``values`` over its children, and each child's context index."""
    contexts, owner = group_by_context(keys, V)
    return contexts, np.bincount(owner, weights=values, minlength=len(contexts)), owner


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
