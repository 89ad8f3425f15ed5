"""Completion bounds: per context state, an upper bound of ln p of the best way to finish a name,
stored in an order mixture's model file and taken by the best-first search as its heuristic.
They must bound every completion (else ``top`` could give names out of order), and the search
with them must give exactly the names it gives without them."""

import json
import math

import numpy as np
import pytest

from ngram import NgramError, make_estimator, train
from ngram.core.vocabulary import BOUNDARY
from ngram.formats import native
from ngram.generation.constraints import Constraints
from ngram.generation.sampling import Sampler
from ngram.lm.backoff.automaton import AT_LEAST, View, completion_bounds, length_bounds
from ngram.lm.mixtures.models import ContextMixture, NameMixture

from test_constrained import CASES, IDS, all_names, meets, probabilities

CORPUS = ["ab", "ban", "nab", "anna", "b", "bab", "naan", "abba", "nan", "bb", "nanna", "abab"]


def kn(names, order, vocabulary=None):
    return train(names, order, make_estimator("modified-kneser-ney"), vocabulary=vocabulary)


def order_mixture(names, vocabulary=None):
    low, high = kn(names, 2, vocabulary), kn(names, 4, vocabulary)
    return ContextMixture([low, high], np.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9]]))


def name_mixture():
    forward = order_mixture(CORPUS)
    backward = order_mixture([x[::-1] for x in CORPUS], forward.vocabulary)
    return NameMixture([forward, backward], [False, True], [0.4, 0.6])


def with_bounds(model):
    for part in (model.components if isinstance(model, NameMixture) else [model]):
        assert completion_bounds(part, make=True) is not None
    return model


def test_bounds_bound_every_completion_and_are_tight_at_the_start():
    # Row k bounds every completion of at least k characters: checked against the best completion
    # of k to 7 characters from every state, worked out along the view's rows. The bounds are
    # consistent (row k at s >= ln p(c | s) + row k-1 at the next state, within float16's
    # rounding); at the start row 0 is the most probable name's ln p (found by enumerating every
    # name up to 8 characters), and row k the most probable of at least k characters'.
    model = order_mixture(CORPUS)
    H = completion_bounds(model, make=True).astype(np.float64)
    assert H.shape[0] == AT_LEAST + 1
    view = View(model)
    n = view.scorer.n_states
    slots = view.slots_of(np.arange(n))
    rows, follow = view.logrows[slots], view.follow[slots]
    for k in range(AT_LEAST + 1):
        assert np.all(H[k] >= _best_of_lengths(rows, follow, k, 7))
        if k:
            assert np.all(H[k][:, None] >= rows[:, 1:] + H[k - 1][follow[:, 1:]] - 0.01 * (1 + abs(H[k][:, None])))
    assert np.all(H[0] >= rows[:, BOUNDARY])
    logp = model.score(names := all_names(model, 8))[0]
    for k in range(AT_LEAST + 1):
        longer = max(lp for x, lp in zip(names, logp) if len(x) >= k)
        assert H[k, view.start_state] == pytest.approx(longer, abs=0.02)


def _best_of_lengths(rows, follow, low, high):
    """Per state, the most probable completion of ``low`` to ``high`` characters then the end."""
    exact = {0: rows[:, BOUNDARY]}  # of exactly j characters
    for j in range(1, high + 1):
        exact[j] = (rows[:, 1:] + exact[j - 1][follow[:, 1:]]).max(axis=1)
    return np.max([exact[j] for j in range(low, high + 1)], axis=0)


@pytest.mark.parametrize("kind", ["order", "name"])
@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_top_with_bounds_matches_brute_force(kind, c):
    model = with_bounds(order_mixture(CORPUS) if kind == "order" else name_mixture())
    valid = {x: q for x, q in probabilities(model, all_names(model)).items() if meets(x, c)}
    expected = sorted(valid.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
    best = Sampler(model, c).top(12)
    assert [math.exp(lp) for _, lp in best] == pytest.approx([q for _, q in expected], rel=1e-9)
    assert all(meets(x, c) for x, _ in best)


def test_a_model_file_keeps_its_bounds_and_top_is_unchanged(tmp_path):
    model = name_mixture()
    before = Sampler(model, Constraints(max_len=8)).top(30)  # (no bounds: the search bounds with 0)
    native.save(model, tmp_path / "m.ngram")
    loaded = native.load(tmp_path / "m.ngram")
    for mine, theirs in zip(model.components, loaded.components):
        assert np.array_equal(completion_bounds(mine), completion_bounds(theirs))
    assert Sampler(loaded, Constraints(max_len=8)).top(30) == before


def _damaged(tmp_path, change):
    native.save(name_mixture(), tmp_path / "m.ngram")
    arrays = dict(np.load(tmp_path / "m.ngram", allow_pickle=False))
    header = json.loads(arrays["header"].tobytes())
    change(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    bad = tmp_path / "bad.ngram"
    with open(bad, "wb") as handle:  # (not write_arrays: it refuses to write what would not load)
        np.savez(handle, **arrays)
    return bad


@pytest.mark.parametrize("change, message", [
    (lambda h, a: a.update(c0_bounds=a["c0_bounds"] + 1), "values above 0"),
    (lambda h, a: a.update(c0_bounds=np.full_like(a["c0_bounds"], np.nan)), "NaN"),
    (lambda h, a: a.update(c0_bounds=a["c0_bounds"].astype(np.float64)), "wrong type"),
    (lambda h, a: a.update(c0_bounds=a["c0_bounds"][0]), "wrong type"),
    (lambda h, a: a.pop("c1_bounds"), "c1_bounds is missing"),
])
def test_damaged_bounds_are_refused_on_loading(tmp_path, change, message):
    with pytest.raises(NgramError, match=message):
        native.load(_damaged(tmp_path, change))


@pytest.mark.parametrize("change, message", [
    # bounds below what the model makes would order names wrongly: the search checks each row it reads
    (lambda h, a: a.update(c0_bounds=a["c0_bounds"] - 1), "below a completion the model makes"),
    (lambda h, a: a.update(c0_bounds=a["c0_bounds"][:, :-1]), "automaton has"),
])
def test_bounds_that_do_not_fit_the_model_are_refused_by_the_search(tmp_path, change, message):
    model = native.load(_damaged(tmp_path, change))
    with pytest.raises(NgramError, match=message):
        Sampler(model, Constraints(max_len=8)).top(5)


def test_no_bounds_for_a_model_past_the_budget(monkeypatch):
    from ngram.lm.backoff import automaton

    monkeypatch.setattr(automaton, "BOUND_CELLS", 10)
    model = order_mixture(CORPUS)
    assert completion_bounds(model, make=True) is None
    assert Sampler(model, Constraints(max_len=6)).top(3)  # (the search bounds with 0)


def test_length_bounds_are_the_best_completion_of_each_exact_length():
    model = order_mixture(CORPUS)
    assert length_bounds(model, 6, make=False) is None  # (made only when asked to)
    E = length_bounds(model, 6).astype(np.float64)
    view = View(model)
    slots = view.slots_of(np.arange(view.scorer.n_states))
    rows, follow = view.logrows[slots], view.follow[slots]
    for j in range(7):
        exact = _best_of_lengths(rows, follow, j, j)
        assert np.all(E[j] >= exact) and np.allclose(E[j], exact, rtol=1e-4)  # (float32, raised by a margin)
    assert length_bounds(model, 3, make=False).shape[0] == 4  # (a shorter question reads the same tables)


@pytest.mark.parametrize("c", [Constraints(max_len=6), Constraints(prefix="a", min_len=2, max_len=6),
                               Constraints(suffix="an", max_len=6), Constraints(contains=("nn",), max_len=6)],
                         ids=["lengths", "prefix", "suffix", "contains"])
def test_top_per_symbol_with_every_bound_matches_brute_force(c):
    model = with_bounds(name_mixture())
    p = probabilities(model, all_names(model, 6))
    per_symbol = sorted((-math.log(q) / (len(x) + 1), x) for x, q in p.items() if meets(x, c))
    got = Sampler(model, c).top(12, rank="per-symbol")
    assert [-lp / (len(x) + 1) for x, lp in got] == pytest.approx([s for s, _ in per_symbol[:12]], rel=1e-9)
    assert all(length_bounds(m, 6, make=False) is not None for m in model.components)


def test_saving_tells_its_progress_through_every_order_mixtures_states(tmp_path):
    # (the one long stage of saving a large order mixture: the CLI shows it as a bar)
    model = name_mixture()
    told = []

    def start(total):
        told.append([total, 0])

        def advance(steps):
            told[-1][1] += steps
        return advance

    native.save(model, tmp_path / "m.ngram", progress=start)
    states = [View(c).scorer.n_states for c in model.components]
    assert [total for total, _ in told] == states and all(done == total for total, done in told)


def test_length_bounds_of_a_model_with_zero_probabilities_hold_no_nan():
    # (a maximum-likelihood model has lengths no completion reaches: -inf, which stays -inf)
    from ngram import MLE

    model = train(CORPUS, 3, MLE())
    E = length_bounds(model, 6)
    assert not np.isnan(E).any() and np.isneginf(E).any()
    c = Constraints(prefix="a", max_len=6)
    p = probabilities(model, all_names(model, 6))
    per_symbol = sorted((-math.log(q) / (len(x) + 1), x) for x, q in p.items() if meets(x, c) and q > 0)
    got = Sampler(model, c).top(10, rank="per-symbol")
    assert [-lp / (len(x) + 1) for x, lp in got] == pytest.approx([s for s, _ in per_symbol[:10]], rel=1e-9)


def test_a_crowded_question_is_searched_with_bounds_and_counted_only_if_packed(monkeypatch):
    """Several one-letter --contains make many constraint states. With stored bounds, the search
    answers without the product's tables (exactly: the brute-force list) even where counting the
    product would be past its budget; only a question packed far past it is counted first,
    so its refusal comes at once."""
    from ngram.generation import plans

    model = with_bounds(order_mixture(CORPUS))
    c = Constraints(contains=("a", "b", "n"), max_len=6)
    p = probabilities(model, all_names(model, 6))
    best = sorted(((q, x) for x, q in p.items() if meets(x, c)), reverse=True)[:5]
    monkeypatch.setattr(plans, "STEP_CELLS", 8)  # (every such product past the budget: counting refuses)
    monkeypatch.setattr(plans, "PACKED", 10**6)
    monkeypatch.setattr(plans, "SEARCH_FIRST", 1)  # (where a crowded search used to count its product)
    got = Sampler(model, c).top(5)
    assert [x for x, _ in got] == [x for _, x in best]
    assert [math.exp(lp) for _, lp in got] == pytest.approx([q for q, _ in best], rel=1e-9)
    monkeypatch.setattr(plans, "PACKED", 1)
    with pytest.raises(plans.TooLarge, match="too many"):
        Sampler(model, c).top(5)


@pytest.mark.parametrize("block", [8, 1 << 16])
def test_a_back_off_models_bounds_are_made_in_blocks_whose_suffixes_fit_the_view(block, monkeypatch):
    """A back-off model's row needs its suffix's, so the blocks of states whose rows the bounds are
    made from hold their suffixes too: with blocks far smaller than the model's states (here 8;
    65,536 of the word list's 437,835 asked for 97,477 rows), the same bounds as in one block,
    where whole blocks were refused ("need more whole rows than are kept")."""
    from ngram.lm.backoff import automaton

    model = kn(CORPUS * 3 + ["nabab", "babanna", "annab"], 5)
    assert View(model).scorer.n_states > 8 * 4
    monkeypatch.setattr(automaton, "BOUND_BLOCK", block)
    bounds = automaton._completion_bounds(model)
    lengths = length_bounds(kn(CORPUS * 3 + ["nabab", "babanna", "annab"], 5), 9)
    monkeypatch.setattr(automaton, "BOUND_BLOCK", 1 << 20)
    np.testing.assert_array_equal(bounds, automaton._completion_bounds(model))
    np.testing.assert_array_equal(lengths, length_bounds(kn(CORPUS * 3 + ["nabab", "babanna", "annab"], 5), 9))


@pytest.mark.parametrize("c", [Constraints(min_len=2, max_len=6), Constraints(suffix="an", max_len=6)],
                         ids=["lengths", "suffix"])
def test_top_per_symbol_on_a_back_off_model_searches_each_length_without_dense_tables(c, monkeypatch):
    """Each length's question only searches, with the exact-length bounds: for lengths alone too,
    no dense tables (one set a length took 10 GB on the word-list model), and the same names as
    brute force."""
    from ngram.generation import plans

    model = kn(CORPUS * 2 + ["nabab", "babanna"], 4)

    def no_dense_tables(*args, **kwargs):
        raise AssertionError("a length's question made the dense tables")

    monkeypatch.setattr(plans.Plan, "__init__", no_dense_tables)
    p = probabilities(model, all_names(model, 6))
    per_symbol = sorted((-math.log(q) / (len(x) + 1), x) for x, q in p.items() if meets(x, c))
    stages = []

    class Bar:  # (the CLI's tqdm, recorded)
        def __init__(self, total, desc):
            self.total, self.n = total, 0
            stages.append([desc, total, False])

        def update(self, steps):
            self.n += steps

        def close(self):
            stages[-1][2] = self.n == self.total

    got = Sampler(model, c, progress=Bar).top(10, rank="per-symbol")
    assert [-lp / (len(x) + 1) for x, lp in got] == pytest.approx([s for s, _ in per_symbol[:10]], rel=1e-9)
    assert length_bounds(model, 6, make=False) is not None
    # the bounds' one pass over every state's row is a stage of its own, its bar closed at the end
    assert ["bounding each length's completions", View(model).scorer.n_states, True] in stages
