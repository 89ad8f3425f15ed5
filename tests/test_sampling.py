import numpy as np
import pytest

from conftest import TINY
from ngram import MLE, AddK, NgramError, train
from ngram.sampling import adjust_rows, build_automaton, novelty, sample


@pytest.mark.parametrize("order", [1, 2, 3, 5])
@pytest.mark.parametrize("estimator", [AddK(0.1), MLE()], ids=["add-k", "mle"])
def test_automaton_rows_are_the_models_probability_vectors(order, estimator):
    model = train(TINY, order, estimator)
    auto = build_automaton(model)
    for name in TINY + ["bnab", "a b a"]:
        state = auto.start
        for i, ch in enumerate(name):
            np.testing.assert_allclose(auto.rows[state], model.probs(name[:i]), atol=1e-12)
            state = auto.next_state[state, model.vocabulary.encode_context(ch)[0]]
        np.testing.assert_allclose(auto.rows[state], model.probs(name), atol=1e-12)


def test_same_seed_same_names_and_only_vocabulary_characters():
    model = train(TINY, 3, AddK(0.1))
    first = sample(model, 200, seed=7)
    assert first == sample(model, 200, seed=7)
    assert first != sample(model, 200, seed=8)
    assert set("".join(first)) <= set(model.vocabulary.characters)


def test_sample_frequencies_follow_the_model():
    model = train(["ab", "b", "b"], 2, MLE())
    names = sample(model, 30000, seed=0)
    # p("ab") = 1/3, p("b") = 2/3 exactly under this MLE model
    assert names.count("b") / len(names) == pytest.approx(2 / 3, abs=0.01)
    assert set(names) == {"ab", "b"}


def test_prefix_and_length_bounds():
    model = train(TINY, 3, AddK(0.1))
    names = sample(model, 300, seed=1, prefix="an", min_len=4, max_len=6)
    assert all(n.startswith("an") and 4 <= len(n) <= 6 for n in names)
    with pytest.raises(NgramError, match="prefix"):
        sample(model, 1, prefix="xq")


def test_low_temperature_and_top_k_one_are_greedy():
    model = train(["anna", "anna", "anne", "bo"], 3, AddK(0.1))  # no ties on the likeliest path
    greedy = sample(model, 20, seed=3, top_k=1)
    assert set(greedy) == {"anna"}
    cold = sample(model, 20, seed=3, temperature=1e-3)
    assert cold == greedy


def test_adjust_rows_top_p_keeps_the_smallest_set_reaching_p():
    rows = np.array([[0.5, 0.3, 0.2]])
    assert adjust_rows(rows, top_p=0.6)[0].tolist() == pytest.approx([0.5 / 0.8, 0.3 / 0.8, 0.0])
    assert adjust_rows(rows, top_p=0.5)[0].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert adjust_rows(rows, temperature=0.5)[0].tolist() == pytest.approx(np.array([25, 9, 4]) / 38)


@pytest.mark.parametrize(
    "settings",
    [dict(n=-1), dict(temperature=0), dict(temperature=float("nan")), dict(top_p=0), dict(top_p=1.5),
     dict(top_k=0), dict(min_len=5, max_len=3)],
)
def test_bad_settings_are_refused(settings):
    model = train(TINY, 2, AddK(0.1))
    with pytest.raises(NgramError):
        sample(model, **{"n": 1, **settings})


def test_novelty_counts_training_names():
    model = train(TINY, 5, MLE())
    names = sample(model, 500, seed=0)
    report, new = novelty(model, names)
    assert report.in_training + report.new == 500
    assert all((n not in TINY) == flag for n, flag in zip(names, new))
    assert report.in_training > 0


def test_many_samples_at_once():
    model = train(TINY, 4, AddK(0.1))
    assert len(sample(model, 20000, seed=0)) == 20000
