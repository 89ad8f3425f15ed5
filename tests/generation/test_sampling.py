import numpy as np
import pytest

from conftest import TINY
from support import chi_square, passes
from ngram import MLE, AddK, NgramError, train
from ngram.generation.sampling import adjust_rows, build_automaton, novelty, sample, sample_walk


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


def masked(row: np.ndarray, model) -> np.ndarray:
    """A next-symbol row as sampling draws from it: <unk> left out, renormalised."""
    row = row.copy()
    if model.vocabulary.unk:
        row[model.vocabulary.unk_id] = 0.0
    return row / row.sum()


def name_probability(model, name: str, prefix: str = "") -> float:
    """p(name | starts with prefix) under the draw: <unk> left out at every step."""
    p = 1.0
    for i in range(len(prefix), len(name) + 1):
        row = masked(model.probs(name[:i]), model)
        p *= row[0] if i == len(name) else row[model.vocabulary.encode_context(name[i])[0]]
    return p


KN_CORPUS = ["anna", "annie", "bob", "bobby", "ann", "abba", "nab", "banana", "ab", "b", "nina", "yann"]


@pytest.mark.parametrize("order", [2, pytest.param(4, marks=pytest.mark.slow), pytest.param(6, marks=pytest.mark.slow)])
def test_whole_names_are_drawn_with_the_models_probabilities(order):
    from collections import Counter

    from ngram import make_estimator

    model = train(KN_CORPUS, order, make_estimator("modified-kneser-ney"), unk=True)
    assert model.probs("")[model.vocabulary.unk_id] > 0  # so leaving <unk> out is tested too
    n = 60000
    names = sample_walk(model, n, seed=order)  # the plain walk: <unk> left out step by step
    counts = Counter(names)
    short = [name for name in counts if len(name) <= 4] + ["", "a", "b", "nn", "yyy"]
    expected = {name: name_probability(model, name) for name in set(short)}
    stat, df = chi_square(counts, expected, n)
    assert df >= 15 and passes(stat, df), (stat, df)


@pytest.mark.parametrize("prefix", ["an", "bob", "yb", "aaay", "nnnn"])
def test_next_symbols_follow_the_model_after_seen_and_unseen_contexts(prefix):
    # "an" and "bob" are stored contexts; "yb", "aaay" and "nnnn" never occur, so every draw
    # after them backs off through several orders, leaving out what the longer contexts store.
    from collections import Counter

    from ngram import make_estimator

    model = train(KN_CORPUS, 5, make_estimator("modified-kneser-ney"), unk=True)
    n = 30000
    names = sample_walk(model, n, seed=11, prefix=prefix)
    row = masked(model.probs(prefix), model)
    chars = ["\n"] + list(model.vocabulary.characters)
    following = Counter(name[len(prefix)] if len(name) > len(prefix) else "\n" for name in names)
    stat, df = chi_square(following, {c: row[i] for i, c in enumerate(chars)}, n)
    assert passes(stat, df), (stat, df)
    # and whole continuations of up to two symbols
    endings = Counter(names)
    expected = {prefix + "".join(rest): name_probability(model, prefix + "".join(rest), prefix)
                for rest in [()] + [(a,) for a in chars[1:]] + [(a, b) for a in chars[1:] for b in chars[1:]]}
    stat, df = chi_square(endings, expected, n)
    assert df >= 5 and passes(stat, df), (stat, df)


@pytest.mark.parametrize("order", [2, 3, 5])
def test_sparse_automaton_has_the_dense_rows_totals_and_transitions(order):
    from ngram import make_estimator
    from ngram.generation.sampling import SparseAutomaton
    from ngram.lm.backoff.automaton import View

    model = train(KN_CORPUS, order, make_estimator("modified-kneser-ney"), unk=True)
    sparse, dense = SparseAutomaton(model), View(model)
    states = np.arange(sparse.n_states)
    rows = dense.rows_of(states)
    rows[:, model.vocabulary.unk_id] = 0.0
    np.testing.assert_allclose(sparse.total, rows.sum(axis=1), rtol=1e-12)
    for symbol in range(model.V):
        w = np.full(len(states), symbol)
        assert np.array_equal(sparse.next_of(states, w), dense.next_states(states, w))


def test_plain_draws_are_reproducible_and_end_at_max_len():
    model = train(TINY * 3, 6, AddK(0.5), unk=True)
    names = sample(model, 3000, seed=5, max_len=3)
    assert names == sample(model, 3000, seed=5, max_len=3)
    assert max(map(len, names)) == 3
