"""Checking that a model read from outside is a language model: every distribution sums to 1.

An ARPA file (or a model file) can be well formed and still say nonsense: back-off weights of
10^300 give "probabilities" far above 1 and negative NLLs. The back-off form makes the check one
lookup per stored n-gram rather than one per context and symbol: for a context h with stored
children,

    sum_w p(w | h) = sum_{w seen} p*(hw) + bow(h) * (1 - sum_{w seen} p(w | h'))

when every lower-order row sums to 1, so checking the orders bottom-up checks every row.
"""

from __future__ import annotations

import numpy as np

from ngram.core.errors import NgramError
from ngram.lm.backoff.model import Model
from ngram.lm.backoff.normalise import unseen_mass
from ngram.lm.backoff.scoring import child_counts, lean

from ngram.core.vocabulary import Vocabulary

TOLERANCE = 1e-3  # KenLM and SRILM print 6-7 significant digits per entry; this allows 5
CHECK_BLOCK = 1 << 16  # contexts whose rows the lean check sums at a time


def check_distributions(model: Model, label: str, tolerance: float = TOLERANCE) -> None:
    """Raise a one-line NgramError naming the first context whose next-symbol probabilities do
    not sum to 1 (within ``tolerance``). Checked on the model's lean automaton where it has one
    (``check_trie_distributions``), which evaluation and sampling then reuse; the levels' own
    check decides where that cannot, and names the row."""
    check_trie_distributions(model, label, tolerance)


def _check_levels(model: Model, label: str, tolerance: float = TOLERANCE) -> None:
    V = model.V
    p_below = np.exp(model.levels[0].logp)  # each level's probabilities, made once
    total = float(p_below.sum())
    if not abs(total - 1.0) <= tolerance:
        raise NgramError(f"{label}: the unigram probabilities sum to {total:.6g}, not 1; this is not a language model")
    scorer = lean(model)  # (None: the n-gram set is not closed under prefixes and suffixes)
    for n in range(2, model.order + 1):
        level, below = model.levels[n - 1], model.levels[n - 2]
        if not len(level):
            p_below = np.zeros(0)
            continue
        lower = Model(vocabulary=model.vocabulary, order=n - 1, levels=model.levels[: n - 1])
        # p(w | h') for each stored hw: where h'w is stored (always, in a suffix-closed model) that
        # is its own probability, the same float logprob_keys returns; only the rest go through
        # the general lookup.
        if scorer is not None:
            base, lo, hi = (int(x) for x in scorer.order_offsets[n - 1 : n + 2])
            held = child_counts(scorer, base, lo)
            runs = np.flatnonzero(held)  # the contexts with children, as places in the level below
            owner = np.repeat(np.arange(len(runs)), held[runs])
            contexts = below.keys[runs]
            p_lower = p_below[scorer.suffix[lo:hi] - base]
            bow = below.bow[runs]
        else:
            contexts = level.keys // V
            first = np.concatenate(([True], contexts[1:] != contexts[:-1]))
            owner = np.cumsum(first) - 1
            contexts = contexts[first]
            suffixes = level.keys % V ** (n - 1)
            index, stored = below.find(suffixes)
            logp_lower = below.logp[index]
            if not stored.all():
                missing = np.flatnonzero(~stored)
                logp_lower[missing] = lower.logprob_keys(suffixes[missing], np.full(len(missing), n - 2))
            index, stored = below.find(contexts)
            bow = np.where(stored, below.bow[index], 0.0)
            p_lower = np.exp(logp_lower)
        p_level = np.exp(level.logp)
        seen = np.bincount(owner, weights=p_level, minlength=len(contexts))
        unseen = unseen_mass(lower, contexts, level.keys, owner, p_lower, eligible=bow > -np.inf)  # -inf (MLE): nothing to spread
        with np.errstate(over="ignore", invalid="ignore"):
            sums = seen + np.where(unseen > 0, np.exp(bow) * np.maximum(unseen, 0.0), 0.0)
        bad = np.flatnonzero(~(np.abs(sums - 1.0) <= tolerance))
        if len(bad):
            context = int(contexts[bad[0]])
            ids = [(context // V**i) % V for i in range(n - 2, -1, -1)]
            shown = "".join("<s>" if i == 0 else model.vocabulary.symbols[i] for i in ids)
            raise NgramError(f"{label}: the probabilities after {shown!r} sum to {sums[bad[0]]:.6g}, not 1 "
                             f"({len(bad)} such contexts of length {n - 1}); this is not a language model")
        p_below = p_level


def check_trie_distributions(model: Model, label: str, tolerance: float = TOLERANCE) -> None:
    """``check_distributions`` on the model's lean automaton (``build_lean``: a few numbers an
    n-gram; a compact file's keys are never made), so that checking at load costs about what the
    model's first evaluation costs, which then reuses it. Each context
    with stored children sums p*(hw) over them plus bow(h) times the lower order's mass left
    for the others, p(w | h') being the probability stored at hw's suffix link. Where that
    cannot be trusted (a model not closed under prefixes and suffixes, 1 - sum too close to 0
    for its weight) or a row fails, the general check decides and names the context."""
    scorer = lean(model)
    if scorer is None:
        _check_levels(model, label, tolerance)
        return
    offsets, first = scorer.order_offsets, scorer.first
    total = float(np.exp(scorer.logp[offsets[1] : offsets[2]]).sum())
    # A block of contexts at a time (the check's temporaries stay a few MB whatever the model);
    # the contexts of order n-1 own consecutive runs of children, in order.
    blocks = [(a, min(a + CHECK_BLOCK, int(offsets[n])), int(offsets[n + 1]) if a + CHECK_BLOCK >= offsets[n] else None)
              for n in range(2, model.order + 1) for a in range(int(offsets[n - 1]), int(offsets[n]), CHECK_BLOCK)]
    for a, b, end in blocks:
        if not abs(total - 1.0) <= tolerance:
            break
        children = np.diff(first[a:b], append=first.dtype.type(first[b] if end is None else end))
        if children.any() and not _rows_sum_to_one(scorer, model.V, a, b, children, tolerance):
            total = np.nan
    if not abs(total - 1.0) <= tolerance:
        _check_levels(model, label, tolerance)  # names the row, from the decoded levels


def _rows_sum_to_one(scorer, V: int, a: int, b: int, children: np.ndarray, tolerance: float) -> bool:
    """Whether the rows of the contexts a..b-1 (with ``children`` stored children each) sum to 1,
    and can be trusted to."""
    start = int(scorer.first[a])
    span = slice(start, start + int(children.sum()))
    owner = np.repeat(np.arange(b - a, dtype=scorer.first.dtype), children)
    p = np.exp(scorer.logp[span])  # (one buffer for both sums)
    seen = np.bincount(owner, weights=p, minlength=b - a)
    np.exp(np.take(scorer.logp, scorer.suffix[span], out=p), out=p)
    unseen = 1.0 - np.bincount(owner, weights=p, minlength=b - a)
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.exp(scorer.bow[a:b])
        sums = seen + np.where(unseen > 0, spread * np.maximum(unseen, 0.0), 0.0)
        # 1 - sum loses about 1e-16 per symbol summed: too coarse where the weight is huge
        doubtful = (unseen < 1e-6) & (spread * V * 1e-15 > tolerance / 10)
    return not ((children > 0) & (~(np.abs(sums - 1.0) <= tolerance) | doubtful)).any()


# ----- header entries a loader reads (one-line diagnoses instead of errors at first use) -------------
MAX_FOLLOWER_BIN = 2**31  # a context's number of distinct followers is at most V


def check_follower_bins(bins, label: str) -> list[int]:
    """A context mixture's ``follower_bins`` from a file header, as the list of ints it must be:
    whole numbers of distinct followers, strictly increasing, from 1 to 2**31 (``[3, 2, 6]`` or
    ``[1e300]`` would otherwise fail at the first evaluation, inside numpy)."""
    if bins is None:
        return []
    if not isinstance(bins, (list, tuple)) or len(bins) > 64:
        raise NgramError(f"{label}: mixture follower_bins is not a short list of numbers; the file is damaged")
    for b in bins:
        if type(b) is not int or not 1 <= b <= MAX_FOLLOWER_BIN:
            raise NgramError(f"{label}: mixture follower_bins holds {b!r}, not a whole number of followers from 1 to "
                             f"{MAX_FOLLOWER_BIN}; the file is damaged")
    if any(a >= b for a, b in zip(bins, bins[1:])):
        raise NgramError(f"{label}: mixture follower_bins {list(bins)} are not strictly increasing; the file is damaged")
    return list(bins)


def check_heldout(vocabulary: Vocabulary, names, label: str = "held-out names") -> int:
    """Held-out names (for tuning or mixing) checked against a model's vocabulary: a one-line
    error when there are none, or when they share no character with it (every score would come
    from the unknown class or be skipped: tuning on them would choose nothing meaningful), or when
    every name has a character outside it and there is no ``<unk>`` class. Otherwise the number
    of names with a character outside the vocabulary, for the caller to warn with (0: none)."""
    names = list(names)
    if not names:
        raise NgramError(f"{label}: no names to score")
    characters = set().union(*map(set, names))
    known = set(vocabulary.characters)
    unknown = characters - known
    if not unknown:
        return 0
    if not characters & known:
        shown = "".join(sorted(unknown)[:20])
        raise NgramError(f"{label}: the {len(names)} names share no character with the model's vocabulary "
                         f"({len(known)} characters; theirs include {shown!r}); they cannot measure this model")
    count = sum(1 for name in names if not unknown.isdisjoint(name))
    if count == len(names) and not vocabulary.unk:
        raise NgramError(f"{label}: every one of the {len(names)} names has a character outside the model's vocabulary "
                         f"({len(unknown)} such characters) and the model has no <unk> class")
    return count
