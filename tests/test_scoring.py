"""The fast paths give the general paths' numbers exactly: counting from packed windows, scoring
with the back-off automaton, sampling rows made on demand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY
from test_counting import reference_counts, unpack
from ngram import Level, Model, Vocabulary, make_estimator, train
from ngram.counting import count_ngrams
from ngram.sampling import build_automaton
from ngram.scoring import LazyRows, build, score

ESTIMATORS = [("add-k", {}), ("mle", {}), ("witten-bell", {}), ("kneser-ney", {}), ("modified-kneser-ney", {}),
              ("modified-kneser-ney", {"backoff": True}), ("jelinek-mercer", {}), ("absolute", {})]
corpora = st.lists(st.text(alphabet="abc d", max_size=7), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(names=corpora, order=st.integers(1, 8), unk=st.booleans())
def test_counting_in_one_sort_matches_a_dictionary(names, order, unk):
    vocab = Vocabulary.from_names(names, unk=unk)
    counts = count_ngrams(vocab.encode(names), order, vocab.size)
    for n, expected in enumerate(reference_counts(names, order, vocab), start=1):
        keys, cnt = counts.of(n)
        assert keys.dtype == np.int64 and cnt.dtype == np.int64
        assert {unpack(k, n, vocab.size): c for k, c in zip(keys.tolist(), cnt.tolist())} == dict(expected)
        assert np.all(np.diff(keys) > 0)


def general_path(model: Model, encoded) -> np.ndarray:
    keys, history = model.window_keys(encoded)
    return model.logprob_keys(keys, history)


@settings(max_examples=120, deadline=None)
@given(names=corpora, held_out=corpora, order=st.integers(1, 6), which=st.integers(0, len(ESTIMATORS) - 1), unk=st.booleans())
def test_automaton_scores_are_the_same_floats(names, held_out, order, which, unk):
    name, settings_ = ESTIMATORS[which]
    model = train(names, order, make_estimator(name, **settings_), unk=unk)
    encoded = model.vocabulary.encode(held_out, unknown="unk" if unk else "skip")
    scorer = build(model)
    assert scorer is not None
    assert np.array_equal(score(scorer, encoded), general_path(model, encoded))


def test_big_inputs_take_the_automaton_and_small_ones_the_general_path():
    model = train(TINY * 10, 4, make_estimator("modified-kneser-ney"))
    names = ["".join(np.random.default_rng(i).choice(list("anb "), size=6)) for i in range(5000)]
    encoded = model.vocabulary.encode(names)
    assert encoded.n_targets >= 20_000  # Model.logprob_encoded uses the automaton from here
    assert np.array_equal(model.logprob_encoded(encoded), general_path(model, encoded))


def test_a_model_that_is_not_closed_is_scored_by_the_general_path():
    model = train(TINY, 3, make_estimator("kneser-ney"))
    V, bigrams, trigrams = model.V, model.levels[1], model.levels[2]
    # Drop a bigram that is the context of stored trigrams: the set is no longer prefix-closed.
    drop = int(np.flatnonzero(np.isin(bigrams.keys, trigrams.keys // V))[0])
    keep = np.arange(len(bigrams)) != drop
    model.levels[1] = Level(bigrams.keys[keep], bigrams.logp[keep], bigrams.bow[keep])
    assert build(model) is None
    encoded = model.vocabulary.encode(TINY * 5000)
    assert np.array_equal(model.logprob_encoded(encoded), general_path(model, encoded))


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("name, settings_", ESTIMATORS[:5])
def test_rows_made_on_demand_are_the_automatons_rows(order, name, settings_):
    model = train(TINY, order, make_estimator(name, **settings_), unk=True)
    full = build_automaton(model)
    lazy = LazyRows(build(model))
    full_states, lazy_states = np.array([full.start]), np.array([lazy.start])
    for symbol in [1, 2, 3, 1, 0]:  # walk a path through both automata together
        assert np.array_equal(lazy.rows_of(lazy_states), full.rows_of(full_states))
        assert np.array_equal(lazy.cdf_of(lazy_states), np.cumsum(full.rows_of(full_states), axis=1))
        full_states = full.next_of(full_states, np.array([symbol]))
        lazy_states = lazy.next_of(lazy_states, np.array([symbol]))
