import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY, shared_file
from ngram import NgramError, Vocabulary, read_names, train
from ngram.core.counting import count_ngrams
from ngram.estimators import make_estimator
from ngram.evaluation.metrics import evaluate
from ngram.lm.backoff.pruning import (_rows, entropy_deltas, check_thresholds, prune_by_counts, prune_by_entropy,
                           recompute_backoffs)
from ngram.generation.sampling import sample

ESTIMATORS = ["add-k", "mle", "witten-bell", "absolute", "kneser-ney", "modified-kneser-ney", "jelinek-mercer"]


def fit(names, order, smoothing):
    vocab = Vocabulary.from_names(names)
    counts = count_ngrams(vocab.encode(names), order, vocab.size)
    return make_estimator(smoothing).fit(counts, vocab), counts


def row_sums(model):
    """Σ_w p(w | h) for every stored context h of every length."""
    return np.concatenate([np.exp(_rows(model, model.levels[m - 1].keys, m)).sum(axis=1) for m in range(1, model.order)] + [
        np.exp(model.levels[0].logp).sum(keepdims=True)])


def assert_closed(model):
    V = model.V
    for n in range(2, model.order + 1):
        keys, lower = model.levels[n - 1].keys, model.levels[n - 2].keys
        assert np.isin(keys // V, lower).all(), f"a kept {n}-gram lost its context"
        assert np.isin(keys % V ** (n - 1), lower).all(), f"a kept {n}-gram lost its suffix"


names_strategy = st.lists(st.text(alphabet="abcn ", min_size=1, max_size=7).filter(lambda s: s.strip()), min_size=2, max_size=25)


@settings(max_examples=60, deadline=None)
@given(names_strategy, st.integers(2, 5), st.sampled_from(ESTIMATORS),
       st.lists(st.integers(0, 3), min_size=1, max_size=4), st.sampled_from([0.0, 1e-4, 1e-2, 0.3]))
@pytest.mark.slow
def test_pruned_models_stay_normalised_and_closed(names, order, smoothing, steps, entropy):
    try:
        model, counts = fit(names, order, smoothing)
    except NgramError:
        return  # e.g. Kneser-Ney discounts undefined on this sample: nothing to prune
    thresholds = list(np.cumsum([0] + steps))[:order]
    pruned = prune_by_entropy(prune_by_counts(model, counts, thresholds), entropy)
    np.testing.assert_allclose(row_sums(pruned), 1.0, atol=1e-9)
    assert_closed(pruned)
    assert pruned.n_ngrams()[0] == model.V  # unigrams are never pruned


@pytest.mark.parametrize("smoothing", ESTIMATORS)
def test_count_cutoffs_drop_exactly_the_rare_ngrams_and_keep_their_probabilities(smoothing):
    names = TINY * 3 + ["annabel", "bobby", "nancy b"]
    model, counts = fit(names, 4, smoothing)
    pruned = prune_by_counts(model, counts, [0, 1, 3])
    thresholds = [0, 1, 3, 3]  # padded with the last value, as lmplz does
    for n in range(2, 5):
        keys, cnt = counts.of(n)
        level = model.levels[n - 1]
        stored = np.isin(level.keys, keys[cnt > thresholds[n - 1]])
        assert np.array_equal(pruned.levels[n - 1].keys, level.keys[stored])
        assert np.array_equal(pruned.levels[n - 1].logp, level.logp[stored])
    assert np.array_equal(pruned.levels[0].keys, model.levels[0].keys)
    np.testing.assert_allclose(row_sums(pruned), 1.0, atol=1e-12)
    assert pruned.estimator["prune"] == thresholds


def test_pruning_nothing_changes_nothing():
    model, counts = fit(TINY, 3, "kneser-ney")
    assert prune_by_counts(model, counts, [0, 0, 0]) is model
    assert prune_by_entropy(model, 0.0) is model
    kept = recompute_backoffs(model, [np.ones(len(level), bool) for level in model.levels])
    for a, b in zip(model.levels, kept.levels):
        np.testing.assert_allclose(a.bow, b.bow, atol=1e-12)


@pytest.mark.parametrize("values, message", [
    ([1, 1], "unigrams are never pruned"),
    ([0, 2, 1], "must not decrease"),
    ([0, 1, 1, 1], "at most one per order"),
    ([0, 1.5], "whole-number"),
    ("0 1 1", "the command line parses --prune"),
    ([0, -1], "0 or more"),
])
def test_bad_thresholds_are_one_line_errors(values, message):
    with pytest.raises(NgramError, match=message):
        check_thresholds(values, 3)


def test_entropy_deltas_are_the_relative_entropy_of_removing_one_ngram():
    """The closed form against brute force: remove one n-gram, renormalise, and sum
    P(h) KL(p(.|h) || p'(.|h)) over the one context whose row changed."""
    model, _ = fit(TINY * 2 + ["anabel", "nab"], 3, "witten-bell")
    V = model.V
    checked = 0
    for n in (2, 3):
        deltas = entropy_deltas(model, n)
        level = model.levels[n - 1]
        # Only n-grams no longer n-gram needs (not a context, not a suffix) can go alone.
        higher = model.levels[n].keys if n < model.order else np.zeros(0, np.int64)
        free = ~np.isin(level.keys, higher // V) & ~np.isin(level.keys, higher % V ** n)
        for i in np.flatnonzero(free)[:6]:
            keep = [np.ones(len(lv), bool) for lv in model.levels]
            keep[n - 1][i] = False
            without = recompute_backoffs(model, keep)
            h = level.keys[i] // V
            p = np.exp(_rows(model, np.array([h]), n - 1))[0]
            q = np.exp(_rows(without, np.array([h]), n - 1))[0]
            log_context = 0.0
            digits = [(h // V ** j) % V for j in range(n - 2, -1, -1)]
            for j in range(len(digits)):
                if j == 0 and digits[0] == 0:
                    continue  # the start of a name is certain
                prefix = sum(d * V ** (j - k) for k, d in enumerate(digits[: j + 1]))
                log_context += model.logprob_keys(np.array([prefix]), np.array([j]))[0]
            brute = math.exp(log_context) * float(np.sum(p * (np.log(p) - np.log(q))))
            assert deltas[i] == pytest.approx(brute, rel=1e-6, abs=1e-12)
            checked += 1
    assert checked >= 6


@pytest.mark.slow
def test_entropy_pruning_shrinks_the_english_model_with_little_loss():
    train_names = read_names(shared_file("english-names-train.txt")).names
    test_names = read_names(shared_file("english-names-test.txt")).names
    model = train(train_names, order=5, estimator=make_estimator("modified-kneser-ney"))
    pruned = train(train_names, order=5, estimator=make_estimator("modified-kneser-ney"), prune_entropy=1e-6)
    assert sum(pruned.n_ngrams()) < 0.9 * sum(model.n_ngrams())
    assert evaluate(pruned, test_names).nll < evaluate(model, test_names).nll + 0.05
    assert len(sample(pruned, n=50, seed=1)) == 50  # the sampling automaton needs the closed set


def test_streaming_and_in_memory_training_prune_the_same(tmp_path):
    from ngram.training.streaming import train_streaming

    path = tmp_path / "names.txt"
    names = TINY * 20 + ["annabel", "bobby", "nancy b"] * 3
    path.write_text("\n".join(names) + "\n")
    a = train(names, order=4, estimator=make_estimator("kneser-ney"), prune=[0, 1, 2], prune_entropy=1e-3, source=str(path))
    b, _ = train_streaming(path, order=4, estimator=make_estimator("kneser-ney"), prune=[0, 1, 2], prune_entropy=1e-3)
    for x, y in zip(a.levels, b.levels):
        assert np.array_equal(x.keys, y.keys) and np.array_equal(x.logp, y.logp) and np.array_equal(x.bow, y.bow)


@pytest.mark.slow
def test_kenlm_reads_a_pruned_model_as_we_score_it(tmp_path):
    """KenLM's own back-off lookup on the exported ARPA gives our NLL: the pruned n-gram set and
    the recomputed back-off weights are a well-formed back-off model."""
    kenlm = pytest.importorskip("kenlm", reason="the kenlm module is not installed (pip install kenlm)")
    from ngram.formats.arpa import write_arpa

    train_names = read_names(shared_file("english-names-train.txt")).names
    test_names = read_names(shared_file("english-names-test.txt")).names
    model = train(train_names, order=5, estimator=make_estimator("modified-kneser-ney"), prune=[0, 1, 1], prune_entropy=1e-7)
    write_arpa(model, tmp_path / "pruned.arpa")
    reference = kenlm.Model(str(tmp_path / "pruned.arpa"))
    log10 = sum(reference.score(" ".join("<sp>" if c == " " else c for c in name), bos=True, eos=True) for name in test_names)
    symbols = sum(len(name) + 1 for name in test_names)
    # ARPA files hold float32 log10 values: agreement to about 1e-7 nats per symbol.
    assert -log10 * math.log(10) / symbols == pytest.approx(evaluate(model, test_names).nll, abs=1e-6)
