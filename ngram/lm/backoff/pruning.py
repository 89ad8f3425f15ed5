"""Pruning: smaller models that still give every context a distribution summing to 1.

Pruning is a model-to-model transform on the one back-off representation, so it works for
every estimator. Removing an n-gram hw leaves p(w | h) to back off: bow(h) * p(w | h'). The
probabilities of the n-grams kept are unchanged and every back-off weight is recomputed,

    bow(h) = (1 - Σ_{w: hw kept} p(w | h))  /  Σ_{w: hw not kept} p_after(w | h'),

lowest order first (the denominator uses the pruned lower orders), so each context's row sums
to 1 again: the one renormalisation of ``ngram.lm.backoff.normalise``, which sums the
denominator directly where 1 - Σ would lose the digits of a nearly full row. The kept set is closed under prefixes and suffixes
(an n-gram that is the context or the suffix of a kept longer n-gram is kept): the back-off
lookup and the sampling automaton need it. Unigrams are never pruned: every symbol keeps a
probability.

Two criteria:
- count cutoffs (``--prune 0 1 1``, lmplz's option): drop n-grams of order n whose raw count is
  at most the n-th threshold. lmplz compares raw counts, not adjusted ones (``actual_counts`` in
  its adjust_counts.cc), requires thresholds that do not decrease with the order, and pads the
  list with its last value; so does this. lmplz keeps the adjusted counts and discounts of the
  unpruned model and moves the pruned mass into its interpolation weight (changing the kept
  probabilities of its modified Kneser-Ney); here the kept probabilities stay as the estimator
  made them and the back-off weights absorb the mass, for every estimator alike.
- relative entropy (Stolcke 1998, as SRILM's ``-prune``): drop hw when removing it alone raises
  the model's perplexity by a relative amount below the threshold, exp(ΔH) - 1 < θ, where
  ΔH = -P(h) [p(w|h) (ln p'(w|h) - ln p(w|h)) + β(h) (ln bow'(h) - ln bow(h))], p' and bow' are
  the model without hw, β(h) is the mass that backs off from h, and P(h) is the probability of
  the context under the model (the chain of its symbols; 1 for the start of a name). Orders are
  pruned highest first, each n-gram judged on its own against the model so far.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ngram.core.checks import number_list
from ngram.core.counting import Counts
from ngram.core.errors import NgramError, indefinite
from ngram.lm.backoff.model import Level, Model, lookup
from ngram.lm.backoff.normalise import renormalise_backoffs
from ngram.lm.protocol import LEVELS, require

ROW_BLOCK = 1 << 20  # probabilities per block when whole next-symbol rows are materialised


def check_thresholds(values: Sequence[int] | None, order: int) -> list[int] | None:
    """lmplz's ``--prune`` list: one count threshold per order from 1, padded with the last."""
    if values is None:
        return None
    numbers = number_list(values, "pruning thresholds", "--prune")
    if not all(x.is_integer() for x in numbers):
        raise NgramError(f"pruning thresholds are whole-number counts, got {values!r}")
    values = [int(v) for v in numbers]
    if not values:
        return None
    if any(v < 0 for v in values):
        raise NgramError(f"pruning thresholds must be 0 or more, got {values}")
    if len(values) > order:
        raise NgramError(f"{len(values)} pruning thresholds for an order-{order} model; give at most one per order")
    if values[0] != 0:
        raise NgramError(f"unigrams are never pruned (every symbol keeps a probability); the first pruning threshold must be 0, got {values[0]}")
    if any(b < a for a, b in zip(values, values[1:])):
        raise NgramError(f"pruning thresholds must not decrease with the order (as in lmplz; otherwise a kept n-gram could lose its context), got {values}")
    return values + [values[-1]] * (order - len(values))


def _rows(model: Model, contexts: np.ndarray, length: int) -> np.ndarray:
    """ln p(w | h) for every symbol w (columns) after each context h of ``length`` symbols."""
    V = model.V
    window = (contexts[:, None] * V + np.arange(V, dtype=np.int64)[None, :]).ravel()
    return model.logprob_keys(window, np.full(len(window), length)).reshape(len(contexts), V)


def _blocks(count: int, V: int):
    step = max(1, ROW_BLOCK // V)
    for lo in range(0, count, step):
        yield lo, min(count, lo + step)


def _children_mask(contexts: np.ndarray, children: np.ndarray, V: int) -> np.ndarray:
    """Boolean (contexts × V): which h·w are stored among ``children`` (sorted keys)."""
    mask = np.zeros((len(contexts), V), bool)
    if len(contexts) == 0 or len(children) == 0:
        return mask
    owners = children // V
    lo, hi = np.searchsorted(owners, contexts[0]), np.searchsorted(owners, contexts[-1], side="right")
    owners, targets = owners[lo:hi], children[lo:hi] % V
    index = np.searchsorted(contexts, owners)
    ok = (index < len(contexts)) & (contexts[np.minimum(index, len(contexts) - 1)] == owners)
    mask[index[ok], targets[ok]] = True
    return mask


def _closed(levels_keys: list[np.ndarray], keep: list[np.ndarray], V: int) -> list[np.ndarray]:
    """Add to each order's kept set the prefixes and suffixes of the kept longer n-grams."""
    keep = [k.copy() for k in keep]
    for n in range(len(levels_keys), 1, -1):  # n-grams of order n protect order n-1
        kept = levels_keys[n - 1][keep[n - 1]]
        lower = levels_keys[n - 2]
        for needed in (kept // V, kept % V ** (n - 1)):
            index = np.minimum(np.searchsorted(lower, needed), len(lower) - 1)
            found = lower[index] == needed
            keep[n - 2][index[found]] = True
    return keep


def recompute_backoffs(before: Model, keep: list[np.ndarray]) -> Model:
    """The model restricted to the kept n-grams (closed under prefixes and suffixes), with
    back-off weights that renormalise it (``ngram.lm.backoff.normalise``, the one renormalisation)."""
    V, N = before.V, before.order
    keep = _closed([level.keys for level in before.levels], keep, V)
    # Weights start at 0: a context left without children is a pure back-off (ratio 1).
    levels = [Level(level.keys[k].copy(), level.logp[k].copy(), np.zeros(int(k.sum()))) for level, k in zip(before.levels, keep)]
    after = Model(vocabulary=before.vocabulary, order=N, levels=levels, estimator=dict(before.estimator),
                  corpus=dict(before.corpus), train_names=before.train_names)
    renormalise_backoffs(after, fresh=True)
    return after


def prune_by_counts(model: Model, counts: Counts, thresholds: Sequence[int]) -> Model:
    """Drop n-grams of order n >= 2 whose raw count is at most ``thresholds[n-1]`` (lmplz --prune)."""
    thresholds = check_thresholds(thresholds, model.order)
    if thresholds is None or not any(thresholds):
        return model
    if counts.order < model.order or counts.vocab_size != model.V:
        raise NgramError("the counts given for pruning do not belong to this model")
    keep = []
    for n, level in enumerate(model.levels, start=1):
        if n == 1 or thresholds[n - 1] == 0:
            keep.append(np.ones(len(level), bool))
            continue
        keys, cnt = counts.of(n)
        index, found = lookup(keys, level.keys)
        count = np.where(found, cnt[index] if len(keys) else 0, 0)
        keep.append(count > thresholds[n - 1])
    pruned = recompute_backoffs(model, keep)
    pruned.estimator["prune"] = thresholds
    return pruned


def context_logprobs(model: Model, m: int) -> np.ndarray:
    """ln P(h) for every stored m-gram h used as a context: its symbols' chain probability under
    the model, the start symbol counting as certain (SRILM's context probability)."""
    V = model.V
    unigram = model.levels[0]
    logp = np.where(unigram.keys == 0, 0.0, unigram.logp)  # id 0 as a context is the start
    for n in range(2, m + 1):
        keys = model.levels[n - 1].keys
        prefix_index, _ = model.levels[n - 2].find(keys // V)
        logp = logp[prefix_index] + model.logprob_keys(keys, np.full(len(keys), n - 1))
    return logp


def entropy_deltas(model: Model, n: int) -> np.ndarray:
    """ΔH (nats) for removing each stored n-gram of order n >= 2 on its own: the relative entropy
    between the model and the model without it, Σ_h P(h) KL(p(.|h) || p'(.|h))."""
    V = model.V
    level, contexts = model.levels[n - 1], model.levels[n - 2]
    owner, _ = contexts.find(level.keys // V)
    log_context = context_logprobs(model, n - 1)
    lower = model.logprob_keys(level.keys % V ** (n - 1), np.full(len(level), n - 2))
    numerator = np.empty(len(contexts))  # mass that backs off from each context
    denominator = np.empty(len(contexts))  # the same symbols' mass one order down
    for lo, hi in _blocks(len(contexts), V):
        block = contexts.keys[lo:hi]
        backs_off = ~_children_mask(block, level.keys, V)
        numerator[lo:hi] = np.where(backs_off, np.exp(_rows(model, block, n - 1)), 0.0).sum(axis=1)
        if n == 2:
            below = np.broadcast_to(np.exp(model.levels[0].logp), backs_off.shape)
        else:
            below = np.exp(_rows(model, block % V ** (n - 2), n - 2))
        denominator[lo:hi] = np.where(backs_off, below, 0.0).sum(axis=1)
    p = np.exp(level.logp)
    num, den = numerator[owner], denominator[owner]
    with np.errstate(divide="ignore", invalid="ignore"):
        new_log_bow = np.log(num + p) - np.log(den + np.exp(lower))
        old_log_bow = np.log(num) - np.log(den)
        backed_off_change = np.where(num > 0, num * (new_log_bow - old_log_bow), 0.0)
        return -np.exp(log_context[owner]) * (p * (lower + new_log_bow - level.logp) + backed_off_change)


def prune_by_entropy(model: Model, threshold: float) -> Model:
    """Stolcke's relative-entropy pruning: drop n-grams whose removal raises perplexity by less
    than ``threshold`` (relative), highest order first; back-off weights recomputed."""
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise NgramError(f"entropy pruning threshold must be a number, got {threshold!r}") from None
    if not (threshold >= 0 and math.isfinite(threshold)):
        raise NgramError(f"entropy pruning threshold must be a finite number >= 0, got {threshold}")
    require(model, LEVELS, "prune", f"{indefinite(model.describe())} is not one back-off table; prune a component model "
            "before mixing, or train a single model")
    V, N = model.V, model.order
    if threshold == 0 or N == 1:
        return model
    keep = [np.ones(len(level), bool) for level in model.levels]
    for n in range(N, 1, -1):
        level = model.levels[n - 1]
        protected = np.zeros(len(level), bool)
        if n < N:
            protected = _closed([level.keys, model.levels[n].keys], [protected, keep[n]], V)[0]
        delta = entropy_deltas(model, n)
        keep[n - 1] = ~((np.expm1(delta) < threshold) & ~protected & np.isfinite(delta))
    pruned = recompute_backoffs(model, keep)
    pruned.estimator["prune_entropy"] = threshold
    return pruned


def prune_model(model: Model, counts: Counts | None = None, prune: Sequence[int] | None = None,
                prune_entropy: float | None = None) -> Model:
    """Count cutoffs (needs the counts), then entropy pruning; the model unchanged when neither is asked."""
    if prune is not None:
        if counts is None:
            raise NgramError("count cutoffs need the training counts; prune a saved model by entropy instead")
        model = prune_by_counts(model, counts, prune)
    if prune_entropy is not None:
        model = prune_by_entropy(model, prune_entropy)
    return model
