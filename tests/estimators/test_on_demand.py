"""Discounted components made where read: the fit's floats to the bit, whole or in part.

An order mixture read from a file keeps its counts once and makes each discounted component's
ln p and back-off weights only where they are asked (``ngram.estimators.on_demand``). Whatever is
asked, in whatever pieces, the numbers are those the component's own fit makes.
"""

import numpy as np
import pytest

from ngram import NgramError, make_estimator, train
from ngram.core.counting import Counts, count_ngrams
from ngram.estimators import on_demand
from ngram.formats.native import load, save
from ngram.lm.mixtures.models import ContextMixture

NAMES = ["anna", "mario", "marta", "bruno", "nina", "maria", "ada", "bianca", "carla", "dario", "annamaria",
         "mariano", "bruna", "ninetta", "carlo", "dora", "adamo"]

SETTINGS = [
    ("modified-kneser-ney", {}),
    ("modified-kneser-ney", {"discounts": [[0.5, 0.9, 1.2]] * 2}),
    ("modified-kneser-ney", {"buckets": 4}),
    ("modified-kneser-ney", {"strengths": [0.0, 0.5, 1.5, 2.0, 0.25]}),
    ("kneser-ney", {}),
    ("absolute", {}),
]


def _mixture(name, settings, orders=(2, 3, 4, 5)):
    vocabulary = train(NAMES, 1, make_estimator("modified-kneser-ney")).vocabulary
    top = max(orders)
    counts = count_ngrams(vocabulary.encode(NAMES), top, vocabulary.size)
    models = [make_estimator(name, **settings).fit(Counts(k, counts.vocab_size, counts.keys[:k], counts.counts[:k]),
                                                   vocabulary) for k in orders]
    return ContextMixture(models, np.full((top, len(orders)), 1 / len(orders)), counts=counts)


@pytest.mark.parametrize("name,settings", SETTINGS)
def test_loaded_components_are_made_where_read_with_the_fits_floats(tmp_path, name, settings):
    mixture = _mixture(name, settings)
    save(mixture, tmp_path / "m.ngram")
    rng = np.random.default_rng(0)
    for piecewise in (True, False):
        again = load(tmp_path / "m.ngram")
        for fitted, made in zip(mixture.components, again.components):
            assert on_demand.made_here(made)
            for n, (a, b) in enumerate(zip(fitted.levels, made.levels), start=1):
                np.testing.assert_array_equal(a.keys, b.keys)
                if piecewise:  # small pieces first: each made from the counts, nothing kept whole
                    for _ in range(3):
                        index = rng.integers(0, len(a.keys), 3)
                        np.testing.assert_array_equal(b.logp_at(index), a.logp[index])
                        np.testing.assert_array_equal(b.bow_at(index), a.bow[index])
                np.testing.assert_array_equal(b.logp, a.logp)
                np.testing.assert_array_equal(b.bow, a.bow)


def test_components_asked_together_give_each_ones_own_floats(tmp_path, monkeypatch):
    """An order's answers for several components at once (their discounting in one pass: other
    discounts, strengths, counts raw at one component's top order and adjusted below another's)
    are each component's own, to the bit; and the rows a mixture makes with every component at
    once are those made one component at a time."""
    from ngram.lm.backoff.automaton import View
    from ngram.lm.mixtures import shared as shared_levels

    vocabulary = train(NAMES, 1, make_estimator("modified-kneser-ney")).vocabulary
    counts = count_ngrams(vocabulary.encode(NAMES), 5, vocabulary.size)
    made = [("modified-kneser-ney", {}, 5), ("modified-kneser-ney", {"strengths": [0.3, 1.0, 2.0]}, 3),
            ("modified-kneser-ney", {"discounts": [[0.4, 0.8, 1.1]] * 4}, 4), ("modified-kneser-ney", {}, 2)]
    models = [make_estimator(name, **settings).fit(Counts(k, counts.vocab_size, counts.keys[:k], counts.counts[:k]),
                                                   vocabulary) for name, settings, k in made]
    save(ContextMixture(models, np.full((5, 4), 0.25), counts=counts), tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    rng = np.random.default_rng(5)
    for n in range(1, 6):
        fitted = [m for m in models if m.order >= n]
        levels = [m.levels[n - 1] for m in again.components if m.order >= n]
        index = rng.integers(0, len(levels[0].keys), 40)
        np.testing.assert_array_equal(levels[0].bow_at_many(levels, index), np.stack([m.levels[n - 1].bow[index] for m in fitted]))
        p = np.stack([np.exp(m.levels[n - 1].logp[index]) for m in fitted])
        lower = None
        if n > 1:  # p of each n-gram's suffix, under each component
            suffix = np.searchsorted(counts.keys[n - 2], counts.keys[n - 1][index] % vocabulary.size ** (n - 1))
            lower = np.stack([level.p_at(suffix) for level in (m.levels[n - 2] for m in again.components if m.order >= n)])
        together = levels[0].p_above_many(levels, index, lower)
        np.testing.assert_array_equal(together, np.stack([level.p_at(index) for level in levels]))
        np.testing.assert_allclose(together, p, rtol=1e-13)
    view = View(again)
    states = np.arange(view.scorer.n_states)
    rows = view._rows_of_contexts(states)
    monkeypatch.setattr(shared_levels, "TOGETHER_CELLS", 0)
    np.testing.assert_array_equal(View(load(tmp_path / "m.ngram"))._rows_of_contexts(states), rows)
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-12)


def test_a_level_asked_often_or_for_much_is_made_whole_once(tmp_path):
    save(_mixture("modified-kneser-ney", {}), tmp_path / "m.ngram")
    level = load(tmp_path / "m.ngram").components[-1].levels[3]
    component = level._component
    level.logp_at(np.array([0, 1]))
    assert 4 not in component.whole
    for _ in range(on_demand.WHOLE_CALLS):
        level.logp_at(np.array([0]))
    assert 4 in component.whole
    again = load(tmp_path / "m.ngram").components[-1].levels[3]
    again.logp_at(np.arange(len(again.keys) // on_demand.WHOLE_SHARE + 1))
    assert 4 in again._component.whole


def test_whole_name_mixture_scores_the_same_loaded_as_fitted(tmp_path):
    from ngram.lm.mixtures.models import NameMixture

    forward = _mixture("modified-kneser-ney", {})
    vocabulary = forward.vocabulary
    counts = count_ngrams(vocabulary.encode([x[::-1] for x in NAMES]), 5, vocabulary.size)
    kn = make_estimator("modified-kneser-ney")
    backward = ContextMixture([kn.fit(Counts(k, counts.vocab_size, counts.keys[:k], counts.counts[:k]), vocabulary)
                               for k in (2, 3, 4, 5)], np.full((5, 4), 0.25), counts=counts)
    mixture = NameMixture([forward, backward], [False, True], [0.6, 0.4])
    save(mixture, tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    names = ["anna", "marco", "zz" if "z" in vocabulary.characters else "bd", "a"]
    np.testing.assert_array_equal(again.score(names)[0], mixture.score(names)[0])
    for context in ("", "ma", "nin", "dariox"[: 5]):
        np.testing.assert_allclose(again.probs(context), mixture.probs(context), rtol=0, atol=1e-12)
        assert abs(again.probs(context).sum() - 1.0) < 1e-12


@pytest.mark.parametrize("name,settings", [("witten-bell", {}), ("modified-kneser-ney", {"kenlm_compat": True}),
                                           ("modified-kneser-ney", {"backoff": True})])
def test_other_estimators_are_fitted_on_loading(tmp_path, name, settings):
    mixture = _mixture(name, settings, orders=(2, 3))
    save(mixture, tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    for fitted, loaded in zip(mixture.components, again.components):
        assert not on_demand.made_here(loaded)
        for a, b in zip(fitted.levels, loaded.levels):
            np.testing.assert_array_equal(a.logp, b.logp)


def test_counts_too_large_to_sum_exactly_are_fitted_and_checked():
    counts = Counts(1, 3, [np.arange(3)], [np.array([2.0**52, 2.0**52, 1.0])])
    assert not on_demand.exact_sums(counts)
    assert on_demand.exact_sums(Counts(1, 3, [np.arange(3)], [np.array([3, 1, 1])]))
    assert not on_demand.exact_sums(Counts(1, 3, [np.arange(3)], [np.array([1.5, 1.0, 1.0])]))


def test_an_ngram_without_left_neighbour_is_refused():
    vocabulary = train(NAMES, 1, make_estimator("modified-kneser-ney")).vocabulary
    counts = count_ngrams(vocabulary.encode(NAMES), 3, vocabulary.size)
    V = vocabulary.size
    keys2 = counts.keys[1]
    victim = keys2[keys2 >= V][0]  # a bigram not at the start: its left neighbours are trigrams
    keep = counts.keys[2] % V**2 != victim
    cut = Counts(3, V, [counts.keys[0], keys2, counts.keys[2][keep]], [counts.counts[0], counts.counts[1],
                                                                         counts.counts[2][keep]])
    shared = on_demand.SharedCounts(cut)
    with pytest.raises(NgramError, match="left neighbour"):
        on_demand.fit_on_demand(make_estimator("modified-kneser-ney"), shared, 3, vocabulary)


@pytest.mark.parametrize("name,settings", SETTINGS[:4])
def test_windows_scored_up_the_orders_give_each_components_own_floats(tmp_path, name, settings):
    """Components made where read score a batch of windows going up the orders, each n-gram's p
    one interpolation step from the one below, all components at once: the floats each
    component's own lookup gives, and the fitted components'."""
    from ngram.lm.mixtures.shared import SharedLevels

    mixture = _mixture(name, settings)
    save(mixture, tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    shared = SharedLevels.of(again.components)
    assert shared is not None and all(c.levels[0].steps_up for c in again.components)
    V = again.V
    rng = np.random.default_rng(3)
    encoded = again.vocabulary.encode(NAMES + ["nanananana", "b"])
    keys, history = again.components[-1].window_keys(encoded)
    window = np.concatenate([keys, rng.integers(0, V ** 5, 3000)])
    history = np.concatenate([history, rng.integers(0, 7, 3000)])
    expected = np.stack([c.logprob_keys(window, history) for c in mixture.components], axis=1)
    np.testing.assert_array_equal(shared.logprobs(window, history), expected)
    fresh = load(tmp_path / "m.ngram")  # (nothing made whole yet: every order made in pieces)
    np.testing.assert_array_equal(SharedLevels.of(fresh.components).logprobs(window[:50], history[:50]), expected[:50])
