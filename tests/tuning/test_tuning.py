"""Tuning: the fast held-out NLL is the estimators' NLL, the search never sees the test file,
EM keeps weights on the simplex and never raises held-out NLL, and tuned models (mixtures
included) are proper distributions."""

from __future__ import annotations

import builtins
import io
import math
import os
import pathlib

import numpy as np
import pytest

from conftest import TUNING_HELD, TUNING_TRAIN

import ngram
from ngram import NgramError, Vocabulary, make_estimator
from ngram.formats import native as model_io
from ngram.cli import main
from ngram.core.counting import Counts, count_ngrams
from ngram.lm.mixtures.linear import em_weights
from ngram.core.vocabulary import reverse_encoded
from ngram.lm.mixtures.models import ContextMixture, NameMixture
from ngram.tuning import FAMILIES, addk_logprobs, fold_stats, make_splits, position_logprobs, tune

TRAIN, HELD = TUNING_TRAIN, TUNING_HELD


def random_settings(family, order, rng):
    return np.concatenate([[rng.uniform(lo + 0.05, hi - 0.05) for lo, hi in family.bounds(n)]
                           for n in range(1, order + 1)]) if family.per_order else np.zeros(0)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fast_heldout_nll_is_the_fitted_estimators_nll(name):
    # Tuning scores settings without fitting a model; it must agree with the model it would fit.
    vocabulary = Vocabulary.from_names(TRAIN + HELD)
    counts = count_ngrams(vocabulary.encode(TRAIN), 5, vocabulary.size)
    family = FAMILIES[name]
    stats = fold_stats(TRAIN, HELD, vocabulary, 5, counts, buckets=family.buckets)
    rng = np.random.default_rng(1)
    for order in range(1, 6):
        x = random_settings(family, order, rng)
        fast = position_logprobs(family, x, order, stats)[0]
        sub = Counts(order, vocabulary.size, counts.keys[:order], counts.counts[:order])
        model = make_estimator(getattr(family, "estimator", name), **family.settings(x, order)).fit(sub, vocabulary)
        np.testing.assert_allclose(fast, model.logprob_encoded(vocabulary.encode(HELD)), rtol=0, atol=1e-12)
        # The same numbers with positions sorted deepest-first (how tuning stores them).
        np.testing.assert_allclose(np.sort(fast), np.sort(position_logprobs(family, x, order, stats.by_depth())[0]), atol=1e-12)


def test_fast_addk_is_the_fitted_addk():
    vocabulary = Vocabulary.from_names(TRAIN + HELD)
    counts = count_ngrams(vocabulary.encode(TRAIN), 4, vocabulary.size)
    stats = fold_stats(TRAIN, HELD, vocabulary, 4, counts)
    for order in range(1, 5):
        sub = Counts(order, vocabulary.size, counts.keys[:order], counts.counts[:order])
        model = make_estimator("add-k", k=0.37).fit(sub, vocabulary)
        np.testing.assert_allclose(addk_logprobs(0.37, order, stats)[0], model.logprob_encoded(vocabulary.encode(HELD)), atol=1e-12)


@pytest.mark.parametrize("name", ["modified-kneser-ney", "kneser-ney", "jelinek-mercer", "modified-kneser-ney+strength",
                                  "modified-kneser-ney-4", "modified-kneser-ney-5"])
def test_gradient_is_exact(name):
    vocabulary = Vocabulary.from_names(TRAIN + HELD)
    family = FAMILIES[name]
    stats = fold_stats(TRAIN, HELD, vocabulary, 4, buckets=family.buckets)
    x = random_settings(family, 4, np.random.default_rng(2))
    _, grad = position_logprobs(family, x, 4, stats, gradient=True)
    h = 1e-6
    numeric = [(position_logprobs(family, x + e, 4, stats)[0].sum() - position_logprobs(family, x - e, 4, stats)[0].sum()) / (2 * h)
               for e in np.eye(len(x)) * h]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_folds_partition_the_names_and_are_seeded():
    names = [f"n{i}" for i in range(23)]
    splits, what = make_splits(names, folds=4, seed=3)
    assert "4-fold" in what
    held = [n for s in splits for n in s.heldout]
    assert sorted(held) == sorted(names)
    for s in splits:
        assert sorted(s.train + s.heldout) == sorted(names)
    again, _ = make_splits(names, folds=4, seed=3)
    assert [s.heldout for s in again] == [s.heldout for s in splits]
    (one,), _ = make_splits(names, val_fraction=0.2, seed=0)
    assert len(one.heldout) == 5 and not set(one.heldout) & set(one.train)
    with pytest.raises(NgramError):
        make_splits(names, val_names=["a"], folds=3)


def test_tuned_settings_beat_the_closed_form_on_heldout(shipped):
    result = tune(shipped, val_fraction=0.2, seed=0, orders=[3, 4], smoothings=["modified-kneser-ney", "add-k", "jelinek-mercer"],
                  mixtures=False, train_nlls=True)
    for c in result.candidates:
        assert math.isfinite(c["train_nll"]) and c["train_nll"] < c["heldout_nll"]
        if c["kind"] == "single":
            assert c["heldout_nll"] <= c["start_nll"] + 1e-9
    # Closed-form modified KN (KenLM's model) is a candidate at every order: the search's start.
    closed = {c["order"]: c for c in result.candidates if c["kind"] == "closed-form"}
    for c in result.candidates:
        if c["kind"] == "single" and c["estimator"] == "modified-kneser-ney":
            assert closed[c["order"]]["heldout_nll"] == c["start_nll"]
    # The choice is by cross-fitted NLL, measured for the best tuned row and every closed-form one.
    judged = [c for c in result.candidates if c.get("cv_nll") is not None]
    assert len(judged) == len(closed) + 1
    assert result.best is min(judged, key=lambda c: c["cv_nll"])
    assert [c["best"] for c in result.candidates].count(True) == 1
    assert "refitted on all" in result.summary()
    # Refitted on every training name, with the chosen settings.
    assert result.model.corpus["names"] == len(shipped)
    assert result.model.order == result.best["order"]
    assert {"estimator", "order", "settings", "train_nll", "heldout_nll"} <= set(result.candidates[0])


def all_contexts(model, extra: int = 50, seed: int = 0):
    """(window keys, histories) for every stored context of the model and random unseen ones."""
    V, N = model.V, model.order
    comps = getattr(model, "components", [model])
    top = max(comps, key=lambda m: m.order)
    contexts, histories = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    for n in range(1, N):
        keys = top.levels[n - 1].keys
        contexts.append(keys)
        histories.append(np.full(len(keys), n))
    rng = np.random.default_rng(seed)
    contexts.append(rng.integers(1, V, size=extra) * V ** (N - 2) + rng.integers(0, V ** (N - 2), size=extra))
    histories.append(np.full(extra, N - 1))
    context, history = np.concatenate(contexts), np.concatenate(histories)
    window = (context[:, None] * V + np.arange(V)[None, :]).ravel()
    return window, np.repeat(history, V), len(context)


@pytest.mark.slow
def test_tuned_models_sum_to_one_for_every_context(shipped):
    names = shipped[::5]
    result = tune(names, val_fraction=0.2, orders=[3, 4], smoothings=["modified-kneser-ney"], mixtures=True,
                  mixture_orders=[2, 3, 4])
    from ngram.tuning import build

    vocabulary = Vocabulary.from_names(names)
    single = build(result.candidates[0], names, vocabulary)
    order_mixture = build(next(c for c in result.candidates if c["kind"] == "order-mixture"), names, vocabulary)
    assert isinstance(order_mixture, ContextMixture)
    # The right-to-left one alone is still a model of names as written (read reversed inside).
    r2l_row = next(c for c in result.candidates if c["kind"] == "order-mixture" and c["settings"]["direction"] == "r2l")
    r2l = build(r2l_row, names, vocabulary)
    assert isinstance(r2l, NameMixture) and r2l.reverse == [True]
    assert abs(r2l.logprob("maria") - r2l.components[0].logprob("airam")) < 1e-12
    # The same components with weights split by followers too (4 bins per context length).
    rng = np.random.default_rng(0)
    split = ContextMixture(order_mixture.components, rng.dirichlet(np.ones(3), size=16), follower_bins=(2, 3, 6))
    for model in (single, order_mixture, split):
        window, history, rows = all_contexts(model)
        p = np.exp(model.logprob_keys(window, history)).reshape(rows, model.V)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
        assert (p > 0).all()


def test_em_weights_sum_to_one_and_never_raise_heldout_nll():
    rng = np.random.default_rng(0)
    T, K, B = 4000, 4, 5
    p = rng.dirichlet(np.ones(30), size=(T, K))[:, :, 0]  # any positive numbers play the part
    logp = np.log(p) + np.array([0.0, -0.3, 0.2, -1.0])
    buckets = rng.integers(0, B - 1, size=T)  # the last bucket gets no rows
    fit = em_weights(logp, buckets, n_buckets=B, max_iterations=60, tolerance=0.0)
    np.testing.assert_allclose(fit.weights.sum(axis=1), 1.0, atol=1e-12)
    assert (fit.weights >= 0).all()
    steps = np.diff(fit.nll)
    assert (steps <= 1e-12).all(), steps.max()
    assert fit.nll[-1] < fit.nll[0] - 1e-3  # it does learn something
    np.testing.assert_allclose(fit.weights[B - 1], 1.0 / K)
    # The reported NLL is that of the returned weights.
    mixed = np.log((np.exp(logp) * fit.weights[buckets]).sum(axis=1))
    assert abs(-mixed.mean() - fit.nll[-1]) < 1e-9


@pytest.mark.slow
def test_tuning_never_reads_the_test_file(tmp_path, monkeypatch, shipped):
    train, val, test = tmp_path / "train.txt", tmp_path / "val.txt", tmp_path / "test.txt"
    train.write_text("\n".join(shipped[:600]) + "\n", encoding="utf-8")
    val.write_text("\n".join(shipped[600:700]) + "\n", encoding="utf-8")
    test.write_text("\n".join(shipped[700:800]) + "\n", encoding="utf-8")
    forbidden = os.path.realpath(test)

    def guard(opener):
        def guarded(file, *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)) and os.path.realpath(os.fsdecode(file)) == forbidden:
                raise AssertionError("tuning opened the test file")
            return opener(file, *args, **kwargs)
        return guarded

    monkeypatch.setattr(builtins, "open", guard(builtins.open))
    monkeypatch.setattr(io, "open", guard(io.open))
    monkeypatch.setattr(os, "open", guard(os.open))
    original_path_open = pathlib.Path.open
    monkeypatch.setattr(pathlib.Path, "open", lambda self, *a, **k: guard(lambda f, *a, **k: original_path_open(self, *a, **k))(self, *a, **k))
    with pytest.raises(AssertionError):  # the guard works
        test.read_text()
    out = tmp_path / "best.ngram"
    for held in (["--val", str(val)], ["--folds", "3"], ["--val-fraction", "0.2"]):
        assert main(["tune", str(train), *held, "--orders", "2-3", "-s", "modified-kneser-ney,witten-bell", "-o", str(out), "-q"]) == 0
        assert out.is_file()
    monkeypatch.undo()
    assert test.read_text(encoding="utf-8").startswith(shipped[700])


def test_quality_script_tunes_before_it_opens_the_test_file(tmp_path, monkeypatch, shipped):
    import importlib.util

    spec = importlib.util.spec_from_file_location("quality_table", pathlib.Path(__file__).resolve().parents[2] / "scripts" / "quality_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("\n".join(shipped[:500]) + "\n", encoding="utf-8")
    test.write_text("\n".join(shipped[500:600]) + "\n", encoding="utf-8")
    events = []
    real_tune, real_read = script.tune, script.read_names

    def tune_spy(*args, **kwargs):
        events.append("tune")
        result = real_tune(*args, **kwargs)
        events.append("tuned")
        return result

    def read_spy(path, *args, **kwargs):
        if os.path.realpath(path) == os.path.realpath(test):
            assert events and events[-1] == "tuned", "the test file was read before tuning finished"
            events.append("test")
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(script, "tune", tune_spy)
    monkeypatch.setattr(script, "read_names", read_spy)
    row = script.measure("tiny", train, test, folds=3, orders=[2, 3], mixture_orders=[2, 3], smoothings=["modified-kneser-ney"])
    assert events == ["tune", "tuned", "test"]
    assert math.isfinite(row["test_nll"])


def test_name_mixture_scores_are_the_weighted_sum_of_its_components(tmp_path, shipped):
    names = shipped[:800]
    vocabulary = Vocabulary.from_names(names)
    l2r = ngram.train(names, 4, make_estimator("modified-kneser-ney"), vocabulary=vocabulary)
    r2l = ngram.train([n[::-1] for n in names], 3, make_estimator("witten-bell"), vocabulary=vocabulary)
    mixture = NameMixture([l2r, r2l], [False, True], [0.3, 0.7])
    probe = ["maria", "giovanni", "zzz", "a", "ottavio"]
    expected = [math.log(0.3 * math.exp(l2r.logprob(n)) + 0.7 * math.exp(r2l.logprob(n[::-1]))) for n in probe]
    np.testing.assert_allclose([mixture.logprob(n) for n in probe], expected, rtol=1e-12)
    totals, symbols = mixture.score(probe)
    np.testing.assert_allclose(totals, expected, rtol=1e-12)
    assert list(symbols) == [len(n) + 1 for n in probe]
    result = ngram.evaluation.metrics.evaluate(mixture, probe)
    assert abs(result.nll - (-sum(expected) / sum(len(n) + 1 for n in probe))) < 1e-12
    # One file; loads back as the same distribution.
    path = tmp_path / "mix.ngram"
    model_io.save(mixture, path)
    again = model_io.load(path)
    np.testing.assert_allclose(again.score(probe)[0], totals, rtol=1e-12)
    from ngram.generation.sampling import sample  # (not imported by ngram itself)

    assert all(isinstance(s, str) for s in sample(again, n=20, seed=0))
    row = again.probs("ma")  # exact next-symbol vector (prefix masses), a distribution
    assert abs(row.sum() - 1.0) < 1e-9


def test_name_mixture_sums_to_one_over_names():
    # Over every name up to length L of a 2-letter alphabet the mass approaches 1 from below.
    names = ["ab", "ba", "a", "abb", "b", "aab"]
    vocabulary = Vocabulary.from_names(names)
    l2r = ngram.train(names, 3, make_estimator("kneser-ney"), vocabulary=vocabulary)
    r2l = ngram.train([n[::-1] for n in names], 2, make_estimator("witten-bell"), vocabulary=vocabulary)
    mixture = NameMixture([l2r, r2l], [False, True], [0.6, 0.4])
    import itertools

    every = ["".join(t) for L in range(0, 15) for t in itertools.product("ab", repeat=L)]
    mass = np.exp(mixture.score(every)[0]).sum()
    single = np.exp(l2r.score(every)[0]).sum()
    assert 0.99 < mass <= 1.0 + 1e-12
    assert abs((mass - 0.6 * single) / 0.4 - np.exp(r2l.score([n[::-1] for n in every])[0]).sum()) < 1e-9


def test_context_mixture_is_the_bucketed_sum_of_its_components(shipped):
    names = shipped[::4]
    vocabulary = Vocabulary.from_names(names)
    models = [ngram.train(names, k, make_estimator("modified-kneser-ney"), vocabulary=vocabulary) for k in (2, 3, 4)]
    weights = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.5, 0.25, 0.25], [0.05, 0.05, 0.9]])
    mixture = ContextMixture(models, weights)
    probe = ["marta", "qzzb", "ugo", "xw", "annamaria"]
    encoded = vocabulary.encode(probe)
    keys, history = mixture.window_keys(encoded)
    buckets = mixture.buckets(keys, history)
    expected = np.log(sum(weights[buckets, k] * np.exp(m.logprob_encoded(encoded)) for k, m in enumerate(models)))
    np.testing.assert_allclose(mixture.logprob_encoded(encoded), expected, rtol=1e-12)
    # The bucket is the length of the longest context (at most 3 symbols, "^" = start) that was
    # followed by something in training: checked here with plain strings.
    seen = {("^" + n)[max(0, j - L):j] for n in names for j in range(1, len(n) + 2) for L in range(1, 4) if L <= j}
    slow = []
    for n in probe:
        padded = "^" + n
        for j in range(1, len(n) + 2):
            slow.append(max([L for L in range(1, min(j, 3) + 1) if padded[j - L:j] in seen] or [0]))
    assert buckets.tolist() == slow
    assert len(set(slow)) >= 3
    # Split by the longest context's number of distinct followers in training: 1, 2, 3-5, 6+.
    followers: dict[str, set] = {}
    for n in names:
        padded = "^" + n + "$"
        for j in range(1, len(n) + 2):
            for L in range(1, min(j, 3) + 1):
                followers.setdefault(padded[j - L:j], set()).add(padded[j])
    split = ContextMixture(models, np.full((16, 3), 1 / 3), follower_bins=(2, 3, 6))
    got = split.buckets(keys, history)
    contexts = [("^" + n)[max(0, j - L):j] for n in probe for j in range(1, len(n) + 2) for L in [slow.pop(0)]]
    want = [len(c) * 4 + (int(np.digitize(len(followers[c]), [2, 3, 6])) if c else 0) for c in contexts]
    assert got.tolist() == want


def test_reverse_encoded_reverses_each_name():
    vocabulary = Vocabulary.from_names(["abc", "de"])
    encoded = vocabulary.encode(["abc", "", "de"])
    assert vocabulary.encode(["cba", "", "ed"]).ids.tolist() == reverse_encoded(encoded).ids.tolist()


def test_cli_tune_table_names_units_and_heldout(tmp_path, capsys, shipped):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(shipped[:700]) + "\n", encoding="utf-8")
    out = tmp_path / "best.ngram"
    assert main(["tune", str(train), "--val-fraction", "0.2", "--seed", "1", "--orders", "2-3", "-s", "add-k,kneser-ney", "--no-mixtures", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "nats/symbol" in text and "held-out slice of 140 training names" in text
    rows = [line for line in text.splitlines() if line.strip().startswith(("*", "add-k", "kneser-ney"))]
    assert len(rows) == 4 and sum(line.strip().startswith("*") for line in rows) == 1
    assert model_io.load(out).order in (2, 3)
    assert main(["tune", str(train), "--val", str(train), "--folds", "3", "-o", str(out)]) == 1
    assert main(["tune", str(train), "--orders", "x", "-o", str(out)]) == 1
    assert main(["tune", str(train), "-s", "mle", "-o", str(out)]) == 1


@pytest.mark.slow
def test_small_list_tuned_model_is_not_worse_than_closed_form_modified_kn(shipped):
    """A few hundred training names and a validation file of a few dozen: the tuned model (settings
    chosen by cross-validation over train + val, refitted on both) is not worse on held-out names
    than what a KenLM user builds: closed-form modified KN at the order best on the validation
    file, refitted on train + val."""
    rng = np.random.default_rng(3)
    pick = rng.permutation(len(shipped))
    train, val, held = ([shipped[i] for i in pick[a:b]] for a, b in ((0, 300), (300, 330), (330, 830)))
    vocabulary = Vocabulary.from_names(train + val)
    orders = range(2, 8)
    by_val = {o: ngram.evaluation.metrics.evaluate(ngram.train(train, o, make_estimator("modified-kneser-ney"), vocabulary=vocabulary), val).nll
              for o in orders}
    order = min(by_val, key=by_val.get)
    kenlm = ngram.train(train + val, order, make_estimator("modified-kneser-ney"), vocabulary=vocabulary)
    result = tune(train, val_names=val, orders=orders, mixture_orders=range(3, 8))
    assert result.model.corpus["names"] == len(train) + len(val) == result.refit_names
    assert "cross-validation over all 330 names" in result.heldout
    ours = ngram.evaluation.metrics.evaluate(result.model, held, unknown="skip").nll
    theirs = ngram.evaluation.metrics.evaluate(kenlm, held, unknown="skip").nll
    assert ours <= theirs, (ours, theirs, result.summary())


def test_strengths_keep_every_row_a_distribution_and_zero_strength_changes_nothing():
    vocabulary = Vocabulary.from_names(TRAIN + HELD)
    counts = count_ngrams(vocabulary.encode(TRAIN), 4, vocabulary.size)
    plain = make_estimator("modified-kneser-ney").fit(counts, vocabulary)
    zero = make_estimator("modified-kneser-ney", strengths=[0, 0, 0, 0]).fit(counts, vocabulary)
    strong = make_estimator("modified-kneser-ney", strengths=[0.5, 2.0, 3.0, 7.5]).fit(counts, vocabulary)
    encoded = vocabulary.encode(HELD)
    assert np.array_equal(plain.logprob_encoded(encoded), zero.logprob_encoded(encoded))
    assert not np.allclose(plain.logprob_encoded(encoded), strong.logprob_encoded(encoded))
    window, history, rows = all_contexts(strong)
    p = np.exp(strong.logprob_keys(window, history)).reshape(rows, strong.V)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    with pytest.raises(NgramError):
        make_estimator("modified-kneser-ney", strengths=[-1])


def test_progress_names_every_stage_and_fast_skips_the_mixtures(shipped):
    class Bar(list):
        def set_description(self, text):
            seen.append(text)

    seen: list[str] = []
    names = shipped[:400]
    result = tune(names, orders=[2, 3], progress=Bar, fast=True)
    assert seen == list(result.stage_seconds) and len(seen) == 4
    assert seen[0].startswith("counting") and seen[-1].startswith("refitting")
    assert "held-out slice" in result.heldout and result.best["kind"] in ("single", "closed-form")
    seen.clear()
    result = tune(names, val_names=shipped[400:420], orders=[2, 3], progress=Bar)
    assert any("order mixture" in s for s in seen) and any("whole-name" in s for s in seen)
    assert result.refit_names == 420 and "cross-validation over all 420 names" in result.heldout


def test_a_large_alphabet_tunes_the_orders_its_keys_allow_and_says_so():
    # 2,000+ distinct characters: orders above 5 do not fit a 64-bit key, so they are skipped (not an error).
    rng = np.random.default_rng(0)
    names = ["".join(chr(0x4E00 + int(c)) for c in rng.integers(0, 3000, rng.integers(2, 5))) for _ in range(1500)]
    result = tune(names, mixtures=False)
    assert Vocabulary.from_names(names).size > 2000
    assert max(int(str(c["order"]).split("-")[-1]) for c in result.candidates) == 5
    assert any(r.startswith("Orders 6, 7, 8, 9, 10 skipped") for r in result.reasons)
    assert np.isfinite(result.model.score(names[:10])[0]).all()


def test_a_mixture_whose_right_to_left_part_cannot_answer_after_a_prefix_is_set_aside(shipped, monkeypatch):
    """A right-to-left component answers p(next | prefix) from forward masses made from its dense
    automaton; where that is past its size bound (thousands of characters: a CJK list), the
    tuned choice reads left to right only and says why, so every verb can use it."""
    from ngram.lm.backoff import automaton

    names = shipped[:400]
    assert tune(names, val_names=shipped[400:420], orders=[2, 3]).best["kind"] == "name-mixture"
    monkeypatch.setattr(automaton, "MAX_CELLS", 10)
    result = tune(names, val_names=shipped[400:420], orders=[2, 3])
    best = result.best
    assert best["kind"] != "name-mixture" and best.get("settings", {}).get("direction") != "r2l"
    assert [r for r in result.candidates if r.get("best")] == [best]
    assert any(r.startswith("The whole-name mixture was set aside: its right-to-left component has") for r in result.reasons)
    assert best is min((r for r in result.candidates if r["kind"] != "name-mixture" and r.get("cv_nll") is not None
                        and r.get("settings", {}).get("direction") != "r2l"), key=lambda r: r["cv_nll"])
    p = result.model.probs("ma")
    assert abs(p.sum() - 1.0) < 1e-9
