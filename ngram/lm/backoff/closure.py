"""A back-off table closed under prefixes and suffixes, with the same probabilities.

Every automaton view of a back-off model (``ngram.lm.backoff.automaton.View``, scoring's lean
automaton) needs each stored n-gram's prefix (its context) and suffix (where it backs off) stored
too. Counting and pruning always give such sets; an ARPA file or a table built by hand need not.
Adding each missing n-gram with the probability the back-off recursion already gives it (and a
back-off weight of 1) changes no probability, so the one view serves those models too.
"""

from __future__ import annotations

import numpy as np

from ngram.core.vocabulary import Vocabulary
from ngram.lm.backoff.model import Level, Model


def close_levels(levels: list[Level], vocabulary: Vocabulary) -> int:
    """Add every missing prefix and suffix to ``levels`` (in place), with its back-off
    probability; how many were added."""
    V, N = vocabulary.size, len(levels)
    added = 0
    for n in range(N, 1, -1):
        keys = levels[n - 1].keys
        needed = np.union1d(keys // V, keys % V ** (n - 1))
        missing = np.setdiff1d(needed, levels[n - 2].keys)
        if len(missing):
            levels[n - 2] = _insert(levels[n - 2], missing)
            added += len(missing)
    for n in range(2, N + 1):
        level = levels[n - 1]
        fill = np.flatnonzero(np.isnan(level.logp))
        if not len(fill):
            continue
        lower = Model(vocabulary=vocabulary, order=n - 1, levels=levels[: n - 1])
        keys = level.keys[fill]
        context = levels[n - 2]
        index = np.searchsorted(context.keys, keys // V)
        level.logp[fill] = context.bow[index] + lower.logprob_keys(keys % V ** (n - 1), np.full(len(keys), n - 2))
    return added


def closed(model: Model) -> Model:
    """``model`` itself when its n-gram set is closed, else a closed copy (the same probabilities)."""
    levels = list(model.levels)  # (closing replaces the levels it adds to: the model's own stay as they are)
    if not close_levels(levels, model.vocabulary):
        return model
    return Model(vocabulary=model.vocabulary, order=model.order, levels=levels, estimator=model.estimator,
                 corpus=model.corpus)


def _insert(level: Level, keys: np.ndarray) -> Level:
    merged = np.concatenate([level.keys, keys])
    order = np.argsort(merged, kind="stable")
    filler = np.full(len(keys), np.nan)
    return Level(
        merged[order],
        np.concatenate([level.logp, filler])[order],
        np.concatenate([level.bow, np.zeros(len(keys))])[order],
    )
