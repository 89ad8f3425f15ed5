"""Linear mixtures: EM weights on held-out names, and the mixture compiled into one exact Model."""

import json

import numpy as np
import pytest

from ngram import AddK, NgramError, Vocabulary, make_estimator, read_names, train
from ngram.cli import main
from ngram.core.corpus import default_corpus_path
from ngram.formats.native import load, save
from ngram.lm.mixtures.linear import compile_mixture, component_logprobs, em_weights, fit_weights, mixture_logprobs
from ngram.generation.sampling import build_automaton, sample


@pytest.fixture(scope="module")
def split():
    names = read_names(default_corpus_path()).names
    order = np.random.default_rng(0).permutation(len(names))
    return [names[i] for i in order[400:]], [names[i] for i in order[:400]]


@pytest.fixture(scope="module")
def components(split):
    fit, _ = split
    vocabulary = Vocabulary.from_names(fit)
    return [
        train(fit, order=4, estimator=make_estimator("kneser-ney"), vocabulary=vocabulary),
        train(fit, order=2, estimator=make_estimator("witten-bell"), vocabulary=vocabulary),
        train(fit, order=3, estimator=make_estimator("add-k", k=0.5), vocabulary=vocabulary),
    ]


def held_out(split, components):
    _, val = split
    chars = set(components[0].vocabulary.characters)
    return [n for n in val if set(n) <= chars]


def test_em_weights_sum_to_one_and_never_raise_the_held_out_nll(split, components):
    result = fit_weights(components, held_out(split, components))
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12) and (result.weights >= 0).all()
    assert result.iterations >= 5
    assert all(b <= a + 1e-12 for a, b in zip(result.nll, result.nll[1:]))
    # The fitted mixture is at least as good on its held-out set as every component alone.
    assert result.nll[-1] <= min(result.component_nll) + 1e-9


def test_em_finds_the_component_that_generated_the_data():
    rng = np.random.default_rng(1)
    good = rng.uniform(0.2, 1.0, 5000)  # per-symbol probabilities of a "good" model
    logp = np.log(np.stack([good, np.full(5000, 0.01)], axis=1))
    assert em_weights(logp).weights[0] > 0.99


def test_em_rejects_a_symbol_no_model_can_score():
    with pytest.raises(NgramError, match="probability 0 under every model"):
        em_weights(np.array([[np.log(0.5), np.log(0.5)], [-np.inf, -np.inf]]))


def test_compiled_mixture_scores_exactly_the_weighted_sum(split, components):
    weights = np.array([0.6, 0.15, 0.25])
    mixed = compile_mixture(components, weights)
    assert mixed.order == 4  # the highest component order
    rng = np.random.default_rng(2)
    chars = components[0].vocabulary.characters
    # Real held-out names plus random strings, whose long contexts no component has seen.
    names = held_out(split, components) + ["".join(rng.choice(chars, rng.integers(0, 12))) for _ in range(300)]
    encoded = mixed.vocabulary.encode(names)
    expected = np.log(np.exp(component_logprobs(components, encoded)) @ weights)
    assert np.abs(mixed.logprob_encoded(encoded) - expected).max() < 1e-12


def test_every_row_of_the_compiled_mixture_sums_to_one(components):
    mixed = compile_mixture(components, [0.5, 0.3, 0.2])
    # The sampling automaton holds the full next-symbol row of every stored context.
    rows = build_automaton(mixed).rows
    assert np.abs(rows.sum(axis=1) - 1).max() < 1e-12
    for context in ["", "a", "mar", "giuseppinaaaa", "zzq"]:
        assert mixed.probs(context).sum() == pytest.approx(1.0, abs=1e-12)


def test_a_weight_of_one_gives_that_component_back(components):
    mixed = compile_mixture(components, [0.0, 1.0, 0.0])
    for context in ["", "a", "mar", "anna"]:
        assert np.allclose(mixed.probs(context), components[1].probs(context), rtol=0, atol=1e-12)


def test_compiled_mixture_saves_loads_and_samples(tmp_path, components):
    mixed = compile_mixture(components, [0.5, 0.3, 0.2])
    save(mixed, tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    assert again.estimator["name"] == "mixture" and again.estimator["weights"] == [0.5, 0.3, 0.2]
    assert again.logprob("maria") == mixed.logprob("maria")
    assert len(sample(again, n=20, seed=0)) == 20


def test_components_must_share_a_vocabulary():
    a = train(["anna", "bob"], order=2, estimator=AddK(0.1))
    b = train(["anna", "carl"], order=2, estimator=AddK(0.1))
    with pytest.raises(NgramError, match="different vocabulary"):
        compile_mixture([a, b], [0.5, 0.5])
    with pytest.raises(NgramError, match="at least two"):
        compile_mixture([a], [1.0])


def test_weights_must_be_on_the_simplex(components):
    with pytest.raises(NgramError, match="summing to 1"):
        compile_mixture(components, [0.5, 0.5, 0.5])


@pytest.mark.slow
def test_cli_mix_prints_em_and_writes_a_model_every_verb_accepts(tmp_path, capsys, split, components):
    paths = []
    for i, m in enumerate(components[:2]):
        paths.append(tmp_path / f"c{i}.ngram")
        save(m, paths[-1])
    val = tmp_path / "val.txt"
    val.write_text("".join(n + "\n" for n in held_out(split, components)), encoding="utf-8")
    out = tmp_path / "mixed.ngram"
    assert main(["mix", *map(str, paths), "--val", str(val), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "weights" in text and "nats/symbol" in text and "EM iterations" in text
    assert main(["mix", *map(str, paths), "--val", str(val), "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(report["weights"]) == pytest.approx(1.0)
    assert report["max_abs_logprob_gap_nats"] < 1e-12
    for argv in (["evaluate", str(out), str(val)], ["sample", str(out), "-n", "3", "--seed", "0"],
                 ["probs", str(out), "ma"], ["info", str(out)], ["export", str(out), "--arpa", str(tmp_path / "m.arpa")]):
        assert main(argv) == 0, argv


def test_cli_mix_different_vocabularies_is_one_line(tmp_path, capsys):
    save(train(["anna", "bob"], order=2, estimator=AddK(0.1)), tmp_path / "a.ngram")
    save(train(["anna", "carl"], order=2, estimator=AddK(0.1)), tmp_path / "b.ngram")
    (tmp_path / "val.txt").write_text("anna\n", encoding="utf-8")
    assert main(["mix", str(tmp_path / "a.ngram"), str(tmp_path / "b.ngram"), "--val", str(tmp_path / "val.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model 2 has a different vocabulary") and err.count("\n") == 1


def test_order_mixtures_from_tuning_compile_exactly_too(split, components):
    from ngram.lm.mixtures.models import ContextMixture

    # Weights that depend on the longest seen context: each row is still a distribution.
    bucketed = ContextMixture(components[:2], np.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9]]))
    mixed = compile_mixture([bucketed, components[2]], [0.6, 0.4])
    rng = np.random.default_rng(3)
    chars = components[0].vocabulary.characters
    names = held_out(split, components) + ["".join(rng.choice(chars, rng.integers(0, 12))) for _ in range(200)]
    encoded = mixed.vocabulary.encode(names)
    expected = np.log(np.exp(component_logprobs([bucketed, components[2]], encoded)) @ np.array([0.6, 0.4]))
    assert np.abs(mixed.logprob_encoded(encoded) - expected).max() < 1e-12


def test_whole_name_mixtures_have_no_rows_to_mix(components):
    from ngram.lm.mixtures.models import NameMixture

    both_ways = NameMixture(components[:2], [False, True], [0.5, 0.5])
    with pytest.raises(NgramError, match="whole-name mixture"):
        compile_mixture([both_ways, components[2]], [0.5, 0.5])


def test_bucketed_em_is_one_plain_em_per_bucket():
    """With buckets, each bucket's weights are those plain EM fits on that bucket's rows alone;
    an empty bucket keeps its starting weights; the NLL is over all rows."""
    rng = np.random.default_rng(3)
    T, K, B = 3000, 3, 4
    logp = np.log(rng.dirichlet(np.ones(20), size=(T, K))[:, :, 0]) + np.array([0.0, -0.5, 0.3])
    buckets = rng.integers(0, B - 1, size=T)  # bucket B-1 gets no rows
    fit = em_weights(logp, buckets, n_buckets=B, max_iterations=40, tolerance=0.0)
    assert fit.weights.shape == (B, K) and fit.iterations == 40
    for b in range(B - 1):
        alone = em_weights(logp[buckets == b], max_iterations=40, tolerance=0.0)
        np.testing.assert_allclose(fit.weights[b], alone.weights, rtol=1e-10)
    np.testing.assert_allclose(fit.weights[B - 1], 1.0 / K)
    assert fit.nll[-1] == pytest.approx(-mixture_logprobs(logp, fit.weights, buckets).mean(), abs=1e-12)
    # per whole name instead of per symbol: the same weights, the NLL divided by the symbols given
    per_name = em_weights(logp, buckets, n_buckets=B, max_iterations=40, tolerance=0.0, symbols=2 * T)
    np.testing.assert_array_equal(per_name.weights, fit.weights)
    assert per_name.nll[-1] == pytest.approx(fit.nll[-1] / 2, rel=1e-12)
