"""Weighted corpora: a line may be name<TAB>count (--weighted), and a count is a repetition."""

import math

import numpy as np
import pytest

from ngram import AddK, NgramError, make_estimator, read_names, train
from ngram.cli import main
from ngram.estimators import ESTIMATORS
from ngram.evaluation.metrics import evaluate

NAMES = ["anna", "anne", "bob", "ann", "nan", "a b", "bobby", "annabel"]
COUNTS = [3, 1, 2, 5, 1, 1, 4, 2]
REPEATED = [name for name, c in zip(NAMES, COUNTS) for _ in range(c)]
TEST = ["anna", "bo", "nab", "ben"]


def assert_same_model(a, b):
    assert a.order == b.order and a.vocabulary == b.vocabulary
    for la, lb in zip(a.levels, b.levels):
        assert np.array_equal(la.keys, lb.keys)
        assert np.array_equal(la.logp, lb.logp)
        assert np.array_equal(la.bow, lb.bow)


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("order", [1, 3])
def test_whole_number_weights_give_exactly_the_model_of_repeated_lines(name, order):
    weighted = train(NAMES, order=order, estimator=make_estimator(name), weights=[float(c) for c in COUNTS])
    repeated = train(REPEATED, order=order, estimator=make_estimator(name))
    assert_same_model(weighted, repeated)


@pytest.mark.parametrize("name", ["add-k", "mle", "witten-bell", "jelinek-mercer"])
def test_fractional_weights_give_proper_distributions(name):
    model = train(NAMES, order=3, estimator=make_estimator(name), weights=[0.3, 1.7, 0.25, 2.5, 1, 1, 0.1, 3.3])
    for context in ["", "a", "an", "bo", "nab"]:
        assert model.probs(context).sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("name", ["add-k", "mle", "jelinek-mercer"])
def test_halving_every_count_is_halving_k(name):
    # These estimators depend on count ratios only (add-k through k/c), so halving every count
    # and k together leaves the model unchanged: the fractional path really uses the weights.
    half = {"add-k": {"k": 0.05}}.get(name, {})
    full = {"add-k": {"k": 0.1}}.get(name, {})
    a = train(NAMES, order=3, estimator=make_estimator(name, **half), weights=[c / 2 for c in COUNTS])
    b = train(NAMES, order=3, estimator=make_estimator(name, **full), weights=COUNTS)
    for context in ["", "a", "an", "bo", "nab"]:
        assert np.allclose(a.probs(context), b.probs(context), rtol=0, atol=1e-12)


def test_fractional_weights_change_the_model():
    a = train(NAMES, order=2, estimator=AddK(0.1), weights=[0.5] * len(NAMES))
    b = train(NAMES, order=2, estimator=AddK(0.1))
    assert not np.allclose(a.probs("a"), b.probs("a"))


@pytest.mark.parametrize("name", ["absolute", "kneser-ney", "modified-kneser-ney"])
def test_counts_of_counts_estimators_refuse_fractional_counts_in_one_line(name):
    with pytest.raises(NgramError) as info:
        train(NAMES, order=3, estimator=make_estimator(name), weights=[1.5] + COUNTS[1:])
    assert "whole-number" in str(info.value) and "\n" not in str(info.value)


def test_one_weight_per_name():
    with pytest.raises(NgramError, match="weights for"):
        train(NAMES, order=2, estimator=AddK(0.1), weights=[1.0, 2.0])


def test_weighted_evaluation_is_evaluation_of_repeated_names():
    model = train(NAMES, order=3, estimator=AddK(0.1))
    w = [3, 1, 2, 7]
    weighted = evaluate(model, TEST, weights=w)
    repeated = evaluate(model, [n for n, c in zip(TEST, w) for _ in range(c)])
    assert weighted.symbols == repeated.symbols
    assert weighted.nll == pytest.approx(repeated.nll, rel=1e-12)


def test_cli_train_and_evaluate_weighted(tmp_path, capsys):
    corpus = tmp_path / "w.tsv"
    corpus.write_text("".join(f"{n}\t{c}\n" for n, c in zip(NAMES, COUNTS)), encoding="utf-8")
    plain = tmp_path / "r.txt"
    plain.write_text("".join(n + "\n" for n in REPEATED), encoding="utf-8")
    for src, out, extra in [(corpus, "w.ngram", ["--weighted"]), (plain, "r.ngram", [])]:
        assert main(["train", str(src), "-N", "3", "-s", "kneser-ney", "-q", "-o", str(tmp_path / out), *extra]) == 0
    from ngram.formats.native import load

    assert_same_model(load(tmp_path / "w.ngram"), load(tmp_path / "r.ngram"))
    assert main(["evaluate", str(tmp_path / "w.ngram"), str(corpus), "--weighted", "--json"]) == 0
    weighted = capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "w.ngram"), str(plain), "--json"]) == 0
    import json

    a, b = json.loads(weighted), json.loads(capsys.readouterr().out)
    assert a["weighted"] is True and a["symbols"] == b["symbols"]
    assert math.isclose(a["nll_nats_per_symbol"], b["nll_nats_per_symbol"], rel_tol=1e-12)


def test_cli_fractional_counts_with_kneser_ney_is_a_one_line_error(tmp_path, capsys):
    corpus = tmp_path / "w.tsv"
    corpus.write_text("anna\t1.5\nbob\t2\n", encoding="utf-8")
    assert main(["train", str(corpus), "--weighted", "-s", "kneser-ney", "-q", "-o", str(tmp_path / "m.ngram")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: kneser-ney needs whole-number counts") and err.count("\n") == 1
    assert main(["train", str(corpus), "--weighted", "-s", "witten-bell", "-q", "-o", str(tmp_path / "m.ngram")]) == 0


def test_cli_weighted_line_without_a_count_names_the_line(tmp_path, capsys):
    corpus = tmp_path / "w.tsv"
    corpus.write_text("anna\t1\nbob\n", encoding="utf-8")
    assert main(["train", str(corpus), "--weighted", "-q", "-o", str(tmp_path / "m.ngram")]) == 1
    assert "line 2" in capsys.readouterr().err
