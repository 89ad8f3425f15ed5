
import numpy as np
import pytest

from conftest import TINY
from support import reference_counts, unpack
from ngram import NgramError, Vocabulary, make_estimator, train
from ngram.core.counting import count_ngrams, max_order_for


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_counts_match_a_dictionary_reference(order):
    vocab = Vocabulary.from_names(TINY)
    counts = count_ngrams(vocab.encode(TINY), order, vocab.size)
    expected = reference_counts(TINY, order, vocab)
    for n in range(1, order + 1):
        keys, cnt = counts.of(n)
        assert np.all(np.diff(keys) > 0)
        got = {unpack(k, n, vocab.size): int(c) for k, c in zip(keys, cnt)}
        assert got == dict(expected[n - 1])


def test_weights_multiply_occurrences():
    vocab = Vocabulary.from_names(["ab", "b"])
    counts = count_ngrams(vocab.encode(["ab", "b"]), 2, vocab.size, weights=np.array([2.0, 0.5]))
    keys, cnt = counts.of(1)
    assert dict(zip(keys.tolist(), cnt.tolist())) == {0: 2.5, 1: 2.0, 2: 2.5}


def test_order_limits_are_clear():
    vocab = Vocabulary.from_names(TINY)
    with pytest.raises(NgramError, match="at least 1"):
        count_ngrams(vocab.encode(TINY), 0, vocab.size)
    with pytest.raises(NgramError, match="too high"):
        count_ngrams(vocab.encode(TINY), 100, vocab.size)
    assert max_order_for(33) == 12


def test_storage_grows_with_distinct_ngrams_not_v_to_the_n(english_split):
    train, _ = english_split
    vocab = Vocabulary.from_names(train)
    counts = count_ngrams(vocab.encode(train), 10, vocab.size)
    stored = sum(len(k) for k in counts.keys)
    assert stored < 2_000_000 < vocab.size**10


@pytest.mark.parametrize("order, alphabet", [(3, "ab"), pytest.param(6, "abcdefghij", marks=pytest.mark.slow),
                                             pytest.param(8, "".join(map(chr, range(0x400, 0x47F))), marks=pytest.mark.slow)])
def test_suffix_positions_and_left_neighbours_from_counting_match_their_definitions(order, alphabet):
    # Counting hands the estimators where each n-gram's suffix sits one order down and how many
    # distinct symbols precede each n-gram; both must equal a direct search over the keys. With
    # 128 symbols, order-7 keys (49 bits) and the positions of tens of thousands of them no longer fit
    # in 64 bits together, which takes the argsort branch; small spans take the dense branch.
    rng = np.random.default_rng(order)
    names = ["".join(rng.choice(list(alphabet), size=rng.integers(1, 16))) for _ in range(12000)]
    vocab = Vocabulary.from_names(names)
    counts = count_ngrams(vocab.encode(names), order, vocab.size)
    V = vocab.size
    assert counts.suffix_index[0] is None and counts.left[order - 1] is None
    for n in range(2, order + 1):
        keys, below = counts.keys[n - 1], counts.keys[n - 2]
        assert np.array_equal(below[counts.suffix_index[n - 1]], keys % V ** (n - 1))
    for n in range(1, order):
        suffixes, times = np.unique(counts.keys[n] % V**n, return_counts=True)
        expected = np.zeros(len(counts.keys[n - 1]), np.int64)
        expected[np.searchsorted(counts.keys[n - 1], suffixes)] = times
        assert np.array_equal(counts.left[n - 1], expected)
        # ...and the fallbacks used for counts that arrive without them agree too.
        bare = type(counts)(counts.order, V, counts.keys, counts.counts)
        assert np.array_equal(bare.left_neighbours(n), expected)
        assert np.array_equal(bare.suffixes(n + 1), counts.suffix_index[n])


@pytest.mark.parametrize("estimator", ["add-k", "witten-bell", "kneser-ney", "modified-kneser-ney", "jelinek-mercer"])
def test_counts_released_during_training_give_the_model_that_kept_counts_give(estimator):
    # train() lets the estimator drop each order's counts and by-products once used (lower peak
    # memory); fitting counts that are kept, and then fitting them again, must give the same model.
    names = TINY * 3 + ["annabella", "bob", "marianna"]
    model = train(names, order=5, estimator=make_estimator(estimator))
    vocab = Vocabulary.from_names(names)
    kept = count_ngrams(vocab.encode(names), 5, vocab.size)
    for _ in range(2):
        again = make_estimator(estimator).fit(kept, vocab)
        for a, b in zip(model.levels, again.levels):
            assert np.array_equal(a.keys, b.keys) and np.array_equal(a.logp, b.logp) and np.array_equal(a.bow, b.bow)
    assert all(c is not None for c in kept.counts) and all(s is not None for s in kept.suffix_index[1:])
