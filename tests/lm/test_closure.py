"""A back-off table whose n-gram set is not closed under prefixes and suffixes (built by hand, or
read from an ARPA file) is served by the same automaton view as any other: through a closed copy
whose every probability is the table's own."""

import itertools

import numpy as np
import pytest

from conftest import TINY
from ngram import Level, make_estimator, train
from ngram.generation.sampling import build_automaton, sample_walk
from ngram.lm.backoff import scoring
from ngram.lm.backoff.automaton import View, states_model
from ngram.lm.backoff.closure import closed


def _unclosed(order: int = 3):
    """A model with one bigram removed that is the context of stored trigrams."""
    model = train(TINY, order, make_estimator("kneser-ney"))
    V, bigrams, trigrams = model.V, model.levels[1], model.levels[2]
    drop = int(np.flatnonzero(np.isin(bigrams.keys, trigrams.keys // V))[0])
    keep = np.arange(len(bigrams)) != drop
    model.levels[1] = Level(bigrams.keys[keep], bigrams.logp[keep], bigrams.bow[keep])
    assert scoring.lean(model) is None
    return model


def _histories(model, longest: int):
    symbols = range(1, model.V)
    for n in range(longest + 1):
        yield from itertools.product(symbols, repeat=n)


def test_the_closed_copy_gives_every_probability_of_the_table():
    model = _unclosed()
    copy = closed(model)
    assert copy is not model and scoring.lean(copy) is not None
    assert sum(len(level) for level in copy.levels) > sum(len(level) for level in model.levels)
    V = model.V
    for history in _histories(model, model.order - 1):
        key = 0
        for s in history:
            key = key * V + s
        windows = key * V + np.arange(V)
        lengths = np.full(V, len(history))
        assert np.allclose(copy.logprob_keys(windows, lengths), model.logprob_keys(windows, lengths), rtol=0, atol=1e-12)


def test_a_closed_table_is_its_own_closure():
    model = train(TINY, 3, make_estimator("kneser-ney"))
    assert closed(model) is model and states_model(model) is model


def test_the_view_and_the_whole_automaton_of_an_unclosed_table():
    model = _unclosed()
    base = states_model(model)
    V, view, whole = model.V, View(model), build_automaton(model)
    # dense state i is the closed copy's context i (order 1's, then order 2's), the view's node i + 1
    keys = np.concatenate([level.keys for level in base.levels[:-1]])
    lengths = np.concatenate([np.full(len(level), n) for n, level in enumerate(base.levels[:-1], start=1)])
    table = model.logprob_keys((keys[:, None] * V + np.arange(V)).ravel(), np.repeat(lengths, V)).reshape(-1, V)
    assert np.allclose(np.log(whole.rows), table, rtol=0, atol=1e-12)
    assert np.array_equal(view.rows_of(np.arange(1, len(keys) + 1)), whole.rows)


@pytest.mark.parametrize("order", [1, 3])
def test_an_unclosed_table_walks(order):
    model = _unclosed() if order > 1 else train(TINY, 1, make_estimator("kneser-ney"))
    names = sample_walk(model, 200, seed=0, max_len=12)
    assert len(names) == 200 and all(set(n) <= set("anbeo ") for n in names)
