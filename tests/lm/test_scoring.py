"""The fast paths give the general paths' numbers exactly: counting from packed windows, scoring
with the back-off automaton, sampling rows made on demand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY
from support import reference_counts, unpack
from ngram import Level, Model, Vocabulary, make_estimator, train
from ngram.core.counting import count_ngrams
from ngram.lm.backoff.scoring import build, children, lean, name_totals, parents, score

ESTIMATORS = [("add-k", {}), ("mle", {}), ("witten-bell", {}), ("kneser-ney", {}), ("modified-kneser-ney", {}),
              ("modified-kneser-ney", {"backoff": True}), ("jelinek-mercer", {}), ("absolute", {})]
corpora = st.lists(st.text(alphabet="abc d", max_size=7), min_size=1, max_size=25)


@pytest.mark.slow
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
@pytest.mark.slow
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
def test_rows_made_on_demand_are_the_models_rows(order, name, settings_):
    from ngram.lm.backoff.automaton import View

    model = train(TINY, order, make_estimator(name, **settings_), unk=True)
    view, V = View(model), model.V
    state, history = np.array([view.start_state]), [0]  # (the start symbol's id is 0)
    for symbol in [1, 2, 3, 1, 2, 0]:  # walk a path, each row against the model's own answers
        key = 0
        for s in history[-(order - 1):] if order > 1 else []:
            key = key * V + s
        context = min(len(history), order - 1)
        expected = model.logprob_keys(key * V + np.arange(V), np.full(V, context))
        np.testing.assert_allclose(view.logrows_of(state)[0], expected, rtol=0, atol=1e-12)
        assert np.isclose(view.rows_of(state).sum(), 1.0, rtol=0, atol=1e-12)
        state = view.next_states(state, np.array([symbol]))
        history.append(symbol)


@pytest.mark.parametrize("alphabet", ["abc d", "".join(map(chr, range(0x400, 0x450)))])  # V <= 64 and V > 64
@pytest.mark.parametrize("order", [1, 2, 4, 7])
def test_the_structure_puts_every_ngram_under_its_context_and_over_its_suffix(alphabet, order):
    # Found by rank in a set of sibling symbols (V <= 64) or by search (V > 64): either way the
    # same nodes a binary search over the keys finds; the rank table reads the same children.
    rng = np.random.default_rng(order)
    names = ["".join(rng.choice(list(alphabet), size=rng.integers(0, 9))) for _ in range(400)]
    model = train(names, order, make_estimator("witten-bell"), unk=True)
    sc, ranked = lean(model), build(model)
    V = model.V
    for n in range(2, order + 1):
        level, below = model.levels[n - 1], model.levels[n - 2]
        base, lo, hi = (int(x) for x in sc.order_offsets[n - 1 : n + 2])
        assert np.array_equal(below.keys[sc.suffix[lo:hi] - base], level.keys % V ** (n - 1))
        assert np.array_equal(below.keys[parents(sc, n) - base], level.keys // V)
        _, symbol, node = children(sc, np.arange(base, lo))
        assert np.array_equal(node, np.arange(lo, hi)) and np.array_equal(symbol, level.keys % V)
        assert np.array_equal(ranked.child(parents(sc, n), level.keys % V), np.arange(lo, hi))


def test_the_structure_follows_a_model_whose_levels_are_replaced():
    model = train(TINY, 3, make_estimator("kneser-ney"))
    assert lean(model) is not None
    V, bigrams, trigrams = model.V, model.levels[1], model.levels[2]
    drop = int(np.flatnonzero(np.isin(bigrams.keys, trigrams.keys // V))[0])
    keep = np.arange(len(bigrams)) != drop
    model.levels[1] = Level(bigrams.keys[keep], bigrams.logp[keep], bigrams.bow[keep])
    assert lean(model) is None and build(model) is None  # not closed any more, and not a stale answer from the cache


@pytest.mark.parametrize("name, settings_", ESTIMATORS)
def test_name_totals_are_the_sums_of_the_symbols_scores(name, settings_):
    model = train(TINY * 3, 5, make_estimator(name, **settings_), unk=True)
    rng = np.random.default_rng(0)
    names = ["".join(rng.choice(list("anbio x"), size=rng.integers(0, 12))) for _ in range(4000)]
    encoded = model.vocabulary.encode(names, unknown="unk")
    assert encoded.n_targets >= 20_000  # big enough that the model takes the automaton
    scorer = build(model)
    per_symbol = score(scorer, encoded)
    totals = name_totals(scorer, encoded)
    # Added in the same order, though not necessarily grouped the same way as reduceat groups them.
    assert np.allclose(totals, np.add.reduceat(per_symbol, encoded.starts), rtol=1e-13, atol=1e-12)
    assert np.array_equal(model.name_logprobs(encoded), totals)
