"""The neural next-symbol model and its mixtures with count models: every row a distribution, the
chain rule, the file form (numpy only, validated), exact sampling and best-first search.

Models here have seeded random weights made in numpy, so nothing but training needs PyTorch;
the training tests skip without it."""

import itertools
import json
import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from conftest import TINY
from ngram import NgramError, Vocabulary, make_estimator, train
from ngram.formats import native
from ngram.generation import rejection
from ngram.generation.sampling import generate, top
from ngram.lm.mixtures.loglinear import LinearSymbolMixture, LogLinearMixture, fit_loglinear
from ngram.lm.mixtures.wholename import SequentialNameMixture
from support import chi_square, gru, passes

VOCAB = Vocabulary.from_names(TINY)  # ' ', a, b, e, n


def count_model(reverse=False, order=3):
    names = [n[::-1] for n in TINY] if reverse else TINY
    return train(names, order, make_estimator("modified-kneser-ney"))


def models():
    """The neural model alone and in each mixture kind."""
    net = gru()
    return {
        "gru": net,
        "loglinear": LogLinearMixture([net, count_model()], [0.7, 0.9]),
        "symbol-linear": LinearSymbolMixture([net, count_model()], [0.4, 0.6]),
        "two-step": SequentialNameMixture([LogLinearMixture([net, count_model()], [0.7, 0.9]), count_model(reverse=True)],
                                          [False, True], [0.6, 0.4]),
    }


def prefixes(vocabulary, longest=3):
    chars = vocabulary.characters
    return ["".join(p) for n in range(longest + 1) for p in itertools.product(chars, repeat=n)]


@pytest.mark.parametrize("kind", ["gru", "loglinear", "symbol-linear", "two-step"])
def test_every_next_symbol_vector_sums_to_one(kind):
    model = models()[kind]
    for prefix in prefixes(model.vocabulary):
        row = model.probs(prefix)
        assert row.shape == (model.V,) and (row >= 0).all()
        assert abs(row.sum() - 1.0) < 1e-9, (prefix, row.sum())


@pytest.mark.parametrize("kind", ["gru", "loglinear", "symbol-linear", "two-step"])
def test_chain_rule_over_probs_equals_the_batched_scores(kind):
    model = models()[kind]
    names = TINY + ["", "nnn", "ba ba", "eeeeeeeeeee"]
    batched, symbols = model.score(names)
    encoded = model.vocabulary.encode(names)
    rows = model.row_logprobs(encoded)
    per_symbol = model.logprob_encoded(encoded)
    assert np.allclose(np.add.reduceat(per_symbol, encoded.starts), batched, atol=1e-9)
    target = 0
    for name, total, n in zip(names, batched, symbols):
        chain = 0.0
        for i in range(len(name) + 1):
            row = model.logprobs(name[:i])
            assert np.allclose(rows[target], row, atol=1e-9)  # the batched row after the same prefix
            chain += row[0] if i == len(name) else row[model.vocabulary.encode_context(name[i])[0]]
            target += 1
        assert n == len(name) + 1
        assert abs(chain - total) < 1e-9, (name, chain, total)


def test_one_layer_and_two_layer_networks_score_names_the_same_one_by_one_and_in_batches():
    for layers in (1, 3):
        model = gru(layers=layers, hidden=5, embedding=3, seed=layers)
        names = ["a", "bann", "", "eb en", "nnnnnnnnnnnnn"] * 3
        one_by_one = [model.score([n])[0][0] for n in names]
        assert np.allclose(model.score(names)[0], one_by_one, atol=1e-12)


def test_a_saved_model_and_its_mixtures_load_and_score_with_numpy_only(tmp_path):
    for kind, model in models().items():
        path = tmp_path / f"{kind}.ngram"
        native.save(model, path)
        loaded = native.load(path)
        assert loaded.kind == model.kind and loaded.describe() == model.describe()
        assert np.array_equal(loaded.score(TINY)[0], model.score(TINY)[0])
    # In a fresh interpreter where importing torch fails: loading, scoring, sampling still work
    # (and the trainer's module, beside the model in its room, imports torch only when training starts).
    code = ("import sys; sys.modules['torch'] = None\n"
            "from ngram.formats import native\nfrom ngram.generation.sampling import sample\n"
            "import ngram.lm.neural.fit\n"
            f"m = native.load({str(tmp_path / 'two-step.ngram')!r})\n"
            "print(len(sample(m, 5, seed=1)), float(m.score(['anna'])[0][0]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "5" and abs(float(out[1]) - models()["two-step"].score(["anna"])[0][0]) < 1e-12


def _damage(path, tmp_path, change):
    arrays = dict(np.load(path, allow_pickle=False))
    header = json.loads(arrays["header"].tobytes())
    change(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    bad = tmp_path / "bad.ngram"
    with open(bad, "wb") as handle:  # not write_arrays: it refuses to write what would not load
        np.savez(handle, **arrays)
    return bad


@pytest.mark.parametrize("change, message", [
    (lambda h, a: h["model"].update(version=2), "neural model version 2 is not supported"),
    (lambda h, a: h["model"].update(cell="lstm"), "neural cell 'lstm' is not supported"),
    (lambda h, a: h["model"].update(hidden=9), "has shape"),
    (lambda h, a: h["model"].update(layers=10**9), "sizes out of range"),
    (lambda h, a: a.update(nn_out_b=np.full_like(a["nn_out_b"], np.nan)), "NaN or infinite"),
    (lambda h, a: a.pop("nn_w_hh1"), "nn_w_hh1 is missing"),
    (lambda h, a: a.update(nn_embedding=a["nn_embedding"].astype(np.float32)), "float64"),
])
def test_a_damaged_neural_file_is_a_one_line_error(tmp_path, change, message):
    path = tmp_path / "m.ngram"
    native.save(gru(), path)
    bad = _damage(path, tmp_path, change)
    with pytest.raises(NgramError, match=message) as error:
        native.load(bad)
    assert "\n" not in str(error.value)


# ----- generation ------------------------------------------------------------------------------
SMALL = Vocabulary(["a", "b"])  # a tiny vocabulary: every name up to a length can be enumerated


def all_names(longest):
    return ["".join(p) for n in range(longest + 1) for p in itertools.product("ab", repeat=n)]


def small_gru(seed=3):
    # Biased towards ending, so names are short and their probabilities can be enumerated.
    model = gru(SMALL, layers=2, hidden=6, embedding=3, seed=seed)
    model.weights.out_b[0] += 1.0
    return model


@pytest.mark.parametrize("kind", ["gru", "two-step"])
def test_sampled_names_follow_the_models_probabilities(kind):
    net = small_gru()
    rtl = train([n[::-1] for n in ["ab", "b", "aab", "ba", "a"]], 2, make_estimator("modified-kneser-ney"),
                vocabulary=SMALL) if kind == "two-step" else None
    model = net if rtl is None else SequentialNameMixture([LogLinearMixture([net, train(
        ["ab", "b", "aab", "ba", "a"], 2, make_estimator("modified-kneser-ney"), vocabulary=SMALL)], [1.0, 0.5]), rtl],
        [False, True], [0.7, 0.3])
    n = 20000
    names = generate(model, n, seed=5, min_len=0, max_len=50).names
    counts = Counter(names)
    expected = {x: math.exp(model.logprob(x)) for x in all_names(5)}
    stat, df = chi_square(counts, expected, n)
    assert df >= 10 and passes(stat, df), (stat, df)


def test_a_prefix_is_read_directly_and_other_constraints_by_rejection():
    model = small_gru()
    n = 20000
    # --prefix: p(name | starts with "ab"), its mass exact (the chain rule, no rejection needed)
    gen = generate(model, n, seed=2, prefix="ab", min_len=0, max_len=50)
    assert all(x.startswith("ab") for x in gen.names)
    mass = math.exp(model.logprobs("")[1] + model.logprobs("a")[2])
    assert abs(gen.mass - mass) < 1e-6 * mass
    expected = {x: math.exp(model.logprob(x)) / mass for x in all_names(6) if x.startswith("ab")}
    stat, df = chi_square(Counter(gen.names), expected, n)
    assert df >= 5 and passes(stat, df), (stat, df)
    # --suffix and a length bound: rejection; the mass is an estimate within a few standard errors
    gen = generate(model, n, seed=3, suffix="b", min_len=1, max_len=4)
    exact = {x: math.exp(model.logprob(x)) for x in all_names(4) if x.endswith("b")}
    total = sum(exact.values())
    assert all(x.endswith("b") and len(x) <= 4 for x in gen.names)
    stat, df = chi_square(Counter(gen.names), {x: p / total for x, p in exact.items()}, n)
    assert df >= 5 and passes(stat, df), (stat, df)
    plan = gen.sampler.plan(0)
    assert plan.mass_error > 0 and abs(plan.mass - total) < 5 * plan.mass_error


def test_a_constraint_too_rare_to_meet_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(rejection, "MAX_DRAWS", 4096)
    with pytest.raises(NgramError, match="too rare") as error:
        generate(small_gru(), 10, seed=0, contains="bbbbbbbbbbbbbb", max_len=20)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("settings", [{"temperature": 0.5}, {"top_k": 1}, {"top_p": 0.6}])
def test_temperature_top_k_and_top_p_shape_each_row(settings):
    from ngram.generation.sampling import adjust_rows

    model = small_gru()
    names = generate(model, 4000, seed=1, min_len=0, **settings).names
    first = Counter(x[0] if x else "" for x in names)
    row = adjust_rows(model.probs("")[None, :], settings.get("temperature", 1.0), settings.get("top_k"),
                      settings.get("top_p"))[0]
    stat, df = chi_square(first, {"": row[0], "a": row[1], "b": row[2]}, len(names))
    assert passes(stat, max(df, 1)), (stat, df, row)


@pytest.mark.slow
def test_top_names_are_the_most_probable_in_order():
    model = small_gru()
    best = top(model, 8, min_len=0)
    brute = sorted(((x, model.logprob(x)) for x in all_names(9)), key=lambda kv: -kv[1])[:8]
    assert [x for x, _ in best] == [x for x, _ in brute]
    assert np.allclose([lp for _, lp in best], [lp for _, lp in brute], atol=1e-9)
    constrained = top(model, 3, suffix="ba", min_len=0)
    assert [x for x, _ in constrained] == [x for x, _ in sorted(
        ((x, model.logprob(x)) for x in all_names(9) if x.endswith("ba")), key=lambda kv: -kv[1])[:3]]


# ----- mixtures --------------------------------------------------------------------------------
def test_loglinear_exponents_fit_no_worse_than_either_component_alone():
    net, counts = gru(), count_model()
    encoded = VOCAB.encode(TINY * 3)
    rows = np.stack([net.row_logprobs(encoded), counts.row_logprobs(encoded)])
    targets = encoded.ids[1:]
    exponents, nll = fit_loglinear(rows, targets)
    alone = [-r[np.arange(len(targets)), targets].mean() for r in rows]
    assert nll <= min(alone) + 1e-9
    model = LogLinearMixture([net, counts], exponents)
    assert abs(-model.logprob_encoded(encoded).mean() - nll) < 1e-9


def test_mixture_settings_are_checked():
    net = gru()
    with pytest.raises(NgramError, match="sum to 1"):
        LinearSymbolMixture([net, count_model()], [0.5, 0.6])
    with pytest.raises(NgramError, match="non-negative"):
        LogLinearMixture([net, count_model()], [-1.0, 1.0])
    with pytest.raises(NgramError, match="right-to-left component must be a count model"):
        SequentialNameMixture([count_model(), net], [False, True], [0.5, 0.5])
    with pytest.raises(NgramError, match="one vocabulary"):
        LogLinearMixture([net, gru(SMALL)], [1.0, 1.0])


# ----- training (PyTorch) ----------------------------------------------------------------------
@pytest.mark.slow  # importing PyTorch alone takes seconds
def test_training_is_seeded_and_its_numpy_model_scores_as_the_network():
    pytest.importorskip("torch")
    from ngram.lm.neural.fit import NeuralSettings, train_neural

    names = ["anna", "anne", "ann", "bob", "abba", "ben", "nab", "ebba", "banana", "nan"] * 3
    held = ["anna", "nabe", "bob", "eba"]
    settings = dict(layers=2, hidden=8, embedding=4, max_epochs=3, batch_size=8, threads=1, seed=7)
    a, log = train_neural(names, held, settings=NeuralSettings(**settings))
    b, _ = train_neural(names, held, settings=NeuralSettings(**settings))
    assert np.array_equal(a.weights.out_w, b.weights.out_w)
    assert log.best_epoch >= 1 and log.best_epoch <= len(log.heldout_nll) <= 3
    totals, symbols = a.score(held)
    assert abs(-totals.sum() / symbols.sum() - log.best_nll) < 1e-5  # float32 network, float64 numpy
    assert a.estimator["best_epoch"] == log.best_epoch and a.corpus["names"] == len(names)


def test_training_settings_are_checked():
    from ngram.lm.neural.fit import NeuralSettings

    with pytest.raises(NgramError, match="dropout"):
        NeuralSettings(dropout=1.5).check()
    with pytest.raises(NgramError, match="time-limit"):
        NeuralSettings(time_limit=0).check()


@pytest.mark.slow
@pytest.mark.parametrize("kind,reason", [
    ("gru", "this model has none"),
    ("loglinear", "this model has none"),
    ("two-step", "--component N"),
])
def test_export_says_why_a_model_has_no_arpa_form(tmp_path, kind, reason):
    """A neural model is not a mixture: export's refusal names what it lacks, in one line."""
    path = tmp_path / f"{kind}.ngram"
    native.save(models()[kind], path)
    run = subprocess.run([sys.executable, "-m", "ngram", "export", str(path), "-o", str(tmp_path / "m.arpa")],
                         capture_output=True, text=True)
    assert run.returncode != 0 and reason in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert ("no exact one exists for a mixture" in run.stderr) == (kind == "two-step")
    assert not (tmp_path / "m.arpa").exists()
