"""The cross-entropy loss is the negative log-likelihood in disguise."""

import numpy as np
import pytest

from conftest import TINY
from ngram import AddK, train
from ngram.evaluation.metrics import cross_entropy, entropy_and_kl, evaluate, explain


def test_cross_entropy_accepts_labels_one_hot_and_soft_rows():
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(5), size=20)
    y = rng.integers(0, 5, size=20)
    one_hot = np.eye(5)[y]
    mean_nll = float(np.mean(-np.log(q[np.arange(20), y])))
    assert cross_entropy(y, q) == pytest.approx(mean_nll, abs=1e-12)
    assert cross_entropy(one_hot, q) == pytest.approx(mean_nll, abs=1e-12)
    soft = rng.dirichlet(np.ones(5), size=20)
    h, kl = entropy_and_kl(soft, q)
    assert cross_entropy(soft, q) == pytest.approx(float(np.mean(h + kl)), abs=1e-12)


def test_nll_equals_one_hot_cross_equals_grouped_soft_labels_equals_h_plus_kl():
    model = train(TINY, 3, AddK(0.3))
    test = ["anna", "nan", "bob", "anne", "ann", "b", "ab"]
    result = evaluate(model, test)
    # one-hot labels against the model's full probability vector at every position
    encoded = model.vocabulary.encode(test)
    rows, labels = [], []
    for name in test:
        for i, target in enumerate(name + "."):
            rows.append(model.probs(name[:i]))
            labels.append(0 if target == "." else model.vocabulary.characters.index(target) + 1)
    rows, labels = np.array(rows), np.array(labels)
    assert cross_entropy(labels, rows) == pytest.approx(result.nll, abs=1e-12)
    assert cross_entropy(np.eye(model.V)[labels], rows) == pytest.approx(result.nll, abs=1e-12)
    grouped = explain(model, encoded)
    assert grouped.cross_entropy == pytest.approx(result.nll, abs=1e-12)
    assert grouped.entropy + grouped.kl == pytest.approx(result.nll, abs=1e-12)
    assert grouped.kl > 0 and grouped.entropy > 0


def test_units():
    model = train(TINY, 2, AddK(0.1))
    result = evaluate(model, ["anna"])
    assert result.symbols == 5
    assert result.bits == pytest.approx(result.nll / np.log(2))
    assert result.perplexity == pytest.approx(np.exp(result.nll))
    assert result.total_nll == pytest.approx(-model.logprob("anna"))
