"""An order mixture's components with the same n-gram keys are looked up once: the same floats."""

import numpy as np

from ngram import make_estimator, train
from ngram.lm.mixtures.models import ContextMixture
from ngram.lm.mixtures.shared import SharedLevels

NAMES = ["anna", "mario", "marta", "bruno", "nina", "maria", "ada", "bianca", "carla", "dario", "annamaria"]


def test_shared_lookup_gives_each_components_own_floats():
    kn = make_estimator("modified-kneser-ney")
    vocabulary = train(NAMES, 1, kn).vocabulary
    components = [train(NAMES, n, kn, vocabulary=vocabulary) for n in (1, 2, 3, 5)]
    shared = SharedLevels.of(components)
    assert shared is not None
    rng = np.random.default_rng(0)
    V = vocabulary.size
    encoded = vocabulary.encode(NAMES + ["zz" if "z" in vocabulary.characters else "aaaa", "nanananana"])
    keys, history = components[-1].window_keys(encoded)
    noise = rng.integers(0, V ** 5, 2000)  # windows of unseen contexts too, every history length
    window = np.concatenate([keys, noise, (keys // V) * V + rng.integers(0, V, len(keys))])
    history = np.concatenate([history, rng.integers(0, 7, 2000), history])
    expected = np.stack([c.logprob_keys(window, history) for c in components], axis=1)
    np.testing.assert_array_equal(shared.logprobs(window, history), expected)
    mixture = ContextMixture(components, np.full((5, 4), 0.25))
    assert mixture._shared is not None


def test_components_with_other_keys_are_looked_up_one_by_one():
    kn = make_estimator("modified-kneser-ney")
    vocabulary = train(NAMES, 1, kn).vocabulary
    other = train(NAMES[:5], 3, kn, vocabulary=vocabulary)  # trained on fewer names: fewer n-grams
    assert SharedLevels.of([train(NAMES, 3, kn, vocabulary=vocabulary), other]) is None


def test_many_whole_rows_come_from_the_automaton_view_with_the_windows_answers(monkeypatch):
    """Rows at many positions (past VIEW_ROWS_FROM cells) are read off the view, a row per
    context state; they are the rows the windows give, within a few ulps."""
    from ngram.lm.mixtures import models

    kn = make_estimator("modified-kneser-ney")
    vocabulary = train(NAMES, 1, kn).vocabulary
    weights = np.random.default_rng(2).random((5, 3))
    mixture = ContextMixture([train(NAMES, n, kn, vocabulary=vocabulary) for n in (2, 3, 5)],
                             weights / weights.sum(axis=1, keepdims=True))
    encoded = vocabulary.encode(NAMES * 3 + ["nanananana", "bbbbb"])
    monkeypatch.setattr(models, "VIEW_ROWS_FROM", 0)
    viewed = mixture.row_logprobs(encoded)
    monkeypatch.setattr(models, "VIEW_ROWS_FROM", 10**12)
    windows = mixture.row_logprobs(encoded)
    assert viewed.shape == windows.shape == (encoded.n_targets, vocabulary.size)
    np.testing.assert_allclose(viewed, windows, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.exp(viewed).sum(axis=1), 1.0, atol=1e-12)


def test_a_few_columns_of_many_states_are_those_entries_of_their_rows_exactly():
    """``View.logcolumns`` (the end of a name at many states, without their rows) gives the same
    floats as the rows, for a back-off model and an order mixture alike."""
    from ngram.lm.backoff.automaton import View

    kn = make_estimator("modified-kneser-ney")
    vocabulary = train(NAMES, 1, kn).vocabulary
    weights = np.random.default_rng(3).random((5, 3))
    mixture = ContextMixture([train(NAMES, n, kn, vocabulary=vocabulary) for n in (2, 3, 5)],
                             weights / weights.sum(axis=1, keepdims=True))
    for model in (mixture, mixture.components[-1]):
        whole, columns = View(model), View(model)
        made = columns.used
        states = np.random.default_rng(4).integers(0, whole.scorer.n_states, 300)
        for symbols in (np.array([0]), np.array([2, 0, 5])):
            np.testing.assert_array_equal(columns.logcolumns(states, symbols), whole.logrows_of(states)[:, symbols])
        assert columns.used == made  # (no row was made for them)
