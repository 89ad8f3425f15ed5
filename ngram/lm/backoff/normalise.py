"""Back-off weights that make every next-symbol row of a back-off model sum to 1.

For a context h with stored children (the symbols w with hw stored),

    sum_w p(w | h) = sum_{w seen} p*(hw) + bow(h) * (1 - sum_{w seen} p(w | h')),

so the weight that renormalises the row is bow(h) = (1 - seen) / unseen, where unseen is the
lower order's mass of the symbols not stored after h. Orders are taken lowest first: a row's
lower order must already sum to 1. One owner for the three users: pruning (weights of the
kept n-grams), the compact file's quantisation (weights of the quantised probabilities) and
the checks and estimators that need ``unseen`` exactly (``unseen_mass``).
"""

from __future__ import annotations

import numpy as np

from ngram.lm.backoff.model import Model

ROW_BLOCK_CELLS = 1 << 22  # (context, symbol) cells summed at a time by unseen_lower_mass
# Below this, 1 - sum(seen) has lost most of its digits: the unseen mass is summed directly.
CLOSE_TO_FULL = 1e-6


def unseen_lower_mass(lower: Model, contexts: np.ndarray, keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """For each context h (of order ``lower.order``), the lower order's probability of the symbols
    not stored after h: sum over unseen w of p(w | h'), summed directly, not as 1 - sum over the seen.

    ``keys`` are the stored n-grams hw and ``owner`` the index of each one's context in ``contexts``.
    This costs a row of V lookups per context, so callers keep it for the contexts where
    1 - sum has no correct digit left.
    """
    V, n = lower.V, lower.order + 1
    suffix = contexts % V ** (n - 2) if n > 2 else np.zeros(len(contexts), np.int64)
    # Rows of V in blocks of about 2**22 cells: with a large vocabulary, all the rows at once
    # would take len(contexts) x V x 8 bytes (1.6 GB for 1,000 contexts of 200,000 symbols).
    per_block = max(1, ROW_BLOCK_CELLS // V)
    sums = np.empty(len(contexts))
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(0, len(contexts) + per_block, per_block))
    for block, lo in enumerate(range(0, len(contexts), per_block)):
        hi = min(lo + per_block, len(contexts))
        windows = (suffix[lo:hi, None] * V + np.arange(V)[None, :]).ravel()
        rows = np.exp(lower.logprob_keys(windows, np.full(len(windows), n - 2))).reshape(hi - lo, V)
        mine = order[bounds[block] : bounds[block + 1]]
        rows[owner[mine] - lo, keys[mine] % V] = 0.0
        sums[lo:hi] = rows.sum(axis=1)
    return sums


def unseen_mass(lower: Model, contexts: np.ndarray, keys: np.ndarray, owner: np.ndarray, p_lower: np.ndarray,
                eligible: np.ndarray | None = None) -> np.ndarray:
    """1 - sum over the stored children of p(w | h') for each context, with the contexts where
    that keeps no correct digit (under ``CLOSE_TO_FULL``; and ``eligible``, when given) summed
    directly by ``unseen_lower_mass``. ``p_lower``: each stored n-gram's lower-order probability."""
    unseen = 1.0 - np.bincount(owner, weights=p_lower, minlength=len(contexts))
    near = unseen < CLOSE_TO_FULL
    close = np.flatnonzero(near if eligible is None else near & eligible)
    if len(close):
        where = np.full(len(contexts), -1)
        where[close] = np.arange(len(close))
        child = where[owner] >= 0
        unseen[close] = unseen_lower_mass(lower, contexts[close], keys[child], where[owner[child]])
    return unseen


def renormalise_backoffs(model: Model, fresh: bool = False) -> None:
    """Set, in place and lowest order first, the back-off weight of every context with stored
    children so that its row sums to 1 with the probabilities as stored.

    ``fresh=False`` (the weights were right and the probabilities moved a little, as by
    quantisation): a row that cannot be renormalised (full, its seen mass already 1 or more, or
    MLE's -inf weight) keeps the weight it had. ``fresh=True`` (weights made anew, as after
    pruning): a row whose seen symbols hold all the mass backs off with weight 0 (ln weight
    -inf), and a full row (nothing unseen) gets ln weight 0, never needed."""
    V = model.V
    for n in range(2, model.order + 1):  # level n's rows: contexts of n-1 symbols, lowest first
        level, below = model.levels[n - 1], model.levels[n - 2]
        if not len(level):
            continue
        lower = Model(vocabulary=model.vocabulary, order=n - 1, levels=model.levels[: n - 1])
        contexts = level.keys // V
        first = np.concatenate(([True], contexts[1:] != contexts[:-1]))
        owner = np.cumsum(first) - 1
        contexts = contexts[first]
        index, stored = below.find(contexts)
        if not stored.all():
            continue  # contexts not stored cannot carry a weight; the check below reports any damage
        p_lower = np.exp(lower.logprob_keys(level.keys, np.full(len(level.keys), n - 2)))
        seen = np.bincount(owner, weights=np.exp(level.logp), minlength=len(contexts))
        unseen = unseen_mass(lower, contexts, level.keys, owner, p_lower)
        old = below.bow[index]
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.log(np.maximum(1.0 - seen, 0.0)) - np.log(unseen)
        bow = below.bow.copy()
        if fresh:
            bow[index] = np.where(unseen > 0, new, 0.0)
        else:
            keep_old = ~np.isfinite(new) | (unseen <= 0) | ~np.isfinite(old)  # full rows, MLE's -inf: unchanged
            bow[index] = np.where(keep_old, old, new)
        below.bow = bow
