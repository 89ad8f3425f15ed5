"""Whole-name mixtures' next-symbol answers, batched over every prefix: exact against enumeration."""

import itertools
import math

import numpy as np
import pytest

from ngram import make_estimator, train
from ngram.core.vocabulary import Encoded
from ngram.lm.mixtures.models import ContextMixture, NameMixture

CORPUS = ["ab", "ban", "nab", "anna", "b", "bab", "naan", "abba", "nan", "bb"]
SHORT = ["ab", "ba", "a", "bab", "abba", "b", "nab", "an"]  # at most 4 characters


def kn(names, order, vocabulary=None):
    return train(names, order, make_estimator("modified-kneser-ney"), vocabulary=vocabulary)


def backwards(names, order, vocabulary, estimator="modified-kneser-ney"):
    return train([x[::-1] for x in names], order, make_estimator(estimator), vocabulary=vocabulary)


@pytest.fixture(scope="module")
def name_mixture():
    forward = kn(CORPUS, 3)
    return NameMixture([forward, backwards(CORPUS, 3, forward.vocabulary)], [False, True], [0.35, 0.65])


@pytest.fixture(scope="module")
def finite_mixture():
    """MLE components of names of at most 4 characters: every name they can make is enumerable,
    so prefix masses and conditionals are exact sums over a finite list."""
    forward = train(SHORT, 6, make_estimator("mle"))
    vocab = forward.vocabulary
    backward = backwards(SHORT, 7, vocab, "mle")
    low, high = backwards(SHORT, 6, vocab, "mle"), backwards(SHORT, 7, vocab, "mle")
    ordered = ContextMixture([low, high], np.linspace(0.1, 0.9, 7)[:, None] * [1, -1] + [0, 1])
    return NameMixture([forward, backward, ordered], [False, True, True], [0.2, 0.5, 0.3])


def enumerate_names(model, max_len):
    chars = model.vocabulary.characters
    names = ["".join(t) for n in range(max_len + 1) for t in itertools.product(chars, repeat=n)]
    return dict(zip(names, np.exp(model.score(names, unknown="skip")[0])))


def brute_force_row(p: dict, prefix: str, characters: str) -> np.ndarray:
    total = sum(q for x, q in p.items() if x.startswith(prefix))
    row = [p.get(prefix, 0.0)] + [sum(q for x, q in p.items() if x.startswith(prefix + c)) for c in characters]
    return np.array(row) / total


def test_rows_equal_enumeration_with_right_to_left_and_order_mixture_components(finite_mixture):
    vocab = finite_mixture.vocabulary
    p = enumerate_names(finite_mixture, 4)
    assert sum(p.values()) == pytest.approx(1.0, abs=1e-12)  # the enumeration is complete
    for prefix in ["", "a", "b", "ab", "ba", "bab", "an"]:
        expected = brute_force_row(p, prefix, vocab.characters)
        np.testing.assert_allclose(finite_mixture.probs(prefix), expected, rtol=1e-9, atol=1e-12)


def test_batched_rows_equal_one_prefix_at_a_time(finite_mixture):
    vocab = finite_mixture.vocabulary
    names = ["abba", "b", "nab", "ba"]
    encoded = vocab.encode(names)
    rows = finite_mixture.row_logprobs(encoded)
    at = 0
    for name in names:
        for j in range(len(name) + 1):
            np.testing.assert_allclose(np.exp(rows[at]), finite_mixture.probs(name[:j]), atol=1e-12)
            at += 1


def test_mixture_vectors_sum_to_one_and_chain_to_the_name_probability(name_mixture):
    vocab = name_mixture.vocabulary
    for prefix in ["", "a", "n", "ba", "nab", "bbbb", "anna", "nnnnnnnnnnb"]:
        assert name_mixture.probs(prefix).sum() == pytest.approx(1.0, abs=1e-9)
    names = ["anna", "b", "nab", "bbanab", "aaaa", "nnnnnnnnnnb"]
    encoded = vocab.encode(names)
    per_symbol = name_mixture.logprob_encoded(encoded)
    totals = np.add.reduceat(per_symbol, encoded.starts)
    np.testing.assert_allclose(totals, name_mixture.score(names)[0], rtol=0, atol=1e-9)
    rows = name_mixture.row_logprobs(encoded)
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(rows[np.arange(len(per_symbol)), encoded.ids[1:]], per_symbol, atol=1e-9)


def test_right_to_left_kneser_ney_rows_are_bracketed_by_enumeration(name_mixture):
    # KN components give every length some mass: the enumeration up to 7 characters misses the
    # longer names, whose mass bounds the error of every prefix sum from above.
    vocab = name_mixture.vocabulary
    p = enumerate_names(name_mixture, 7)
    longer = 1.0 - sum(p.values())
    assert 0 < longer < 0.5
    for prefix in ["a", "ba", "nn"]:
        total = sum(q for x, q in p.items() if x.startswith(prefix))
        row = name_mixture.probs(prefix)
        for c, got in zip(vocab.characters, row[1:]):
            counted = sum(q for x, q in p.items() if x.startswith(prefix + c))
            assert counted / (total + longer) - 1e-12 <= got <= (counted + longer) / total + 1e-12


@pytest.mark.parametrize("forward_order,backward_order", [(1, 2), (2, 1), (3, 4), (4, 3)])
def test_components_of_any_order(forward_order, backward_order):
    forward = kn(CORPUS, forward_order)
    mix = NameMixture([forward, backwards(CORPUS, backward_order, forward.vocabulary)], [False, True], [0.5, 0.5])
    names = ["anna", "b", "nnnnnnb"]
    encoded = forward.vocabulary.encode(names)
    np.testing.assert_allclose(np.add.reduceat(mix.logprob_encoded(encoded), encoded.starts), mix.score(names)[0], atol=1e-9)
    np.testing.assert_allclose(np.exp(mix.row_logprobs(encoded)).sum(axis=1), 1.0, atol=1e-9)


def test_mixture_vectors_equal_brute_force_conditionals(name_mixture):
    # With two left-to-right components the prefix masses are products of conditionals, so the
    # formula can be written out by hand from each component's own vector.
    vocab = name_mixture.vocabulary
    forward = name_mixture.components[0]
    other = train(CORPUS + ["bbb"], 2, make_estimator("modified-kneser-ney"), vocabulary=vocab)
    mix = NameMixture([forward, other], [False, False], [0.6, 0.4])
    for prefix in ["", "b", "an"]:
        a = 0.6 * math.exp(forward.score([prefix])[0][0] - forward.logprobs(prefix)[0])  # P(s…) = p(s) / p(end | s)
        b = 0.4 * math.exp(other.score([prefix])[0][0] - other.logprobs(prefix)[0])
        expected = (a * forward.probs(prefix) + b * other.probs(prefix)) / (a + b)
        np.testing.assert_allclose(mix.probs(prefix), expected, rtol=1e-12)


def test_empty_batch(name_mixture):
    empty = Encoded(ids=np.zeros(1, np.int64), starts=np.zeros(0, np.int64))
    assert name_mixture.logprob_encoded(empty).shape == (0,)
    assert name_mixture.row_logprobs(empty).shape == (0, name_mixture.V)


@pytest.mark.parametrize("heavy_states,packed_limit", [(0, 2**62), (1, 2**62), (3, 0), (10**9, 2**62), (10**9, 0)])
def test_stored_forward_masses_give_the_whole_tables_answers(name_mixture, finite_mixture, heavy_states, packed_limit,
                                                             monkeypatch):
    # Without stored masses the whole table is made from the automaton; with them (any split
    # between kept rows and per-state sums) the answers are the same, and no table is made.
    from ngram.lm.mixtures import name_rows

    monkeypatch.setattr(name_rows, "HEAVY_STATES", heavy_states)
    monkeypatch.setattr(name_rows, "PACKED_LIMIT", packed_limit)  # 0: the column-by-column sort
    for mixture in (name_mixture, finite_mixture):
        encoded = mixture.vocabulary.encode(["anna", "b", "nab", "bbanab"])
        whole = NameMixture(mixture.components, mixture.reverse, mixture.weights)
        expected = whole.row_logprobs(encoded)
        stored = NameMixture(mixture.components, mixture.reverse, mixture.weights, forward_masses=whole.forward_masses())
        np.testing.assert_allclose(stored.row_logprobs(encoded), expected, atol=1e-12)
        np.testing.assert_allclose(stored.logprob_encoded(encoded), whole.logprob_encoded(encoded), atol=1e-12)
        assert all(t._logT is None for t in stored.suffix_tables().values())
