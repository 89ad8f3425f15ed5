"""The model: one representation answering the same questions for every estimator."""

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from conftest import TINY
from ngram import MLE, AddK, NgramError, train
from ngram.estimators import ESTIMATORS, make_estimator
from ngram.evaluation.metrics import evaluate


def all_estimators():
    return [make_estimator(name) for name in ESTIMATORS]


def contexts_to_check(model, names):
    seen = sorted({name[:i] for name in names for i in range(len(name) + 1)})
    unseen = ["zz", "q", "bbbbbbbb", "b b", " "]
    return [c for c in seen + unseen if all(ch in model.vocabulary.characters for ch in c)]


@pytest.mark.parametrize("order", range(1, 9))
@pytest.mark.parametrize("estimator", all_estimators(), ids=lambda e: e.name)
def test_every_distribution_sums_to_one(estimator, order):
    names = TINY + ["q", "zz"]
    model = train(names[:-2] + ["q z"], order, estimator)
    for context in contexts_to_check(model, names) + ["", "zzzzzzzz"]:
        p = model.probs(context)
        assert p.shape == (model.V,)
        assert abs(p.sum() - 1) < 1e-9, (context, p.sum())
        assert np.all(p >= 0)


@pytest.mark.parametrize("estimator", all_estimators(), ids=lambda e: e.name)
def test_all_unknown_context_sums_to_one_with_unk(estimator):
    model = train(TINY, 4, estimator, unk=True)
    # a context made of <unk> only: reached through scoring, not through probs()
    V = model.V
    key = (0 * V + model.vocabulary.unk_id) * V + model.vocabulary.unk_id
    windows = key * V + np.arange(V)
    p = np.exp(model.logprob_keys(windows, np.full(V, 3)))
    assert abs(p.sum() - 1) < 1e-9


def blog_add_k_nll(train_names, test_names, order, k):
    """The blog series' add-k model, written independently: N-1 '.' pads, dict counts, no numpy."""
    chars = sorted(set("".join(train_names)))
    V = len(chars) + 1
    counts = defaultdict(Counter)
    for name in train_names:
        seq = "." * (order - 1) + name + "."
        for i in range(order - 1, len(seq)):
            counts[seq[i - order + 1 : i]][seq[i]] += 1
    total, symbols = 0.0, 0
    for name in test_names:
        seq = "." * (order - 1) + name + "."
        for i in range(order - 1, len(seq)):
            row = counts.get(seq[i - order + 1 : i], Counter())
            total -= math.log((row[seq[i]] + k) / (sum(row.values()) + k * V))
            symbols += 1
    return total / symbols


def test_add_k_equals_the_blog_convention_on_a_tiny_corpus():
    for order in (1, 2, 3, 4):
        model = train(TINY, order, AddK(0.5))
        test = ["ann", "nab", "b"]
        assert evaluate(model, test).nll == pytest.approx(blog_add_k_nll(TINY, test, order, 0.5), abs=1e-12)


@pytest.mark.parametrize("order, expected", [(2, 2.1748), (3, 1.9431), (4, 1.8278)])
def test_published_italian_add_k_figures(italian_split, order, expected):
    train_names, test_names = italian_split
    model = train(train_names, order, AddK(0.1))
    assert model.V == 33
    assert evaluate(model, test_names).nll == pytest.approx(expected, abs=5e-5)


def test_italian_add_k_tiny_k(italian_split):
    train_names, test_names = italian_split
    assert evaluate(train(train_names, 4, AddK(1e-8)), test_names).nll == pytest.approx(2.4247, abs=5e-5)


def test_english_add_k_against_pure_python_reference(english_split):
    train_names, test_names = english_split
    nll = evaluate(train(train_names, 4, AddK(0.1)), test_names).nll
    assert nll == pytest.approx(blog_add_k_nll(train_names, test_names, 4, 0.1), abs=1e-10)
    assert nll == pytest.approx(2.0794, abs=5e-5)  # the figure the README states


def test_batch_scoring_equals_one_name_at_a_time():
    model = train(TINY, 3, AddK(0.1))
    names = ["anna", "bob", "nab", "a", "b a"]
    totals, symbols = model.score(names)
    assert totals.tolist() == pytest.approx([model.logprob(n) for n in names], abs=1e-12)
    assert symbols.tolist() == [len(n) + 1 for n in names]


def test_logprob_is_the_sum_of_next_symbol_probabilities():
    model = train(TINY, 3, AddK(0.2))
    name = "anne"
    expected = 0.0
    for i, target in enumerate(name + "."):
        p = model.probs(name[:i])
        index = 0 if target == "." else model.vocabulary.characters.index(target) + 1
        expected += math.log(p[index])
    assert model.logprob(name) == pytest.approx(expected, abs=1e-12)


def test_mle_gives_zero_to_unseen_and_backs_off_for_unseen_contexts():
    model = train(["ab", "ac"], 3, MLE())
    p = model.probs("a")
    assert p[model.vocabulary.characters.index("b") + 1] == pytest.approx(0.5)
    assert p[0] == 0.0
    # "cb" never occurs as a context: the longest seen suffix "b" decides (b is always followed by the end)
    assert model.probs("cb")[0] == pytest.approx(1.0)


def test_add_k_rejects_bad_k():
    for bad in (0, -1, float("nan"), float("inf"), "x"):
        with pytest.raises(NgramError):
            AddK(bad)
