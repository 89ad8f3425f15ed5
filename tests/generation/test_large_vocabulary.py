"""Large vocabularies (issue 15): exact generation and top-k names without V-wide rows per state
(``automaton.BackoffRows``, ``sampling.SparsePlan``), checked on tiny models with the sparse path
forced on against brute-force enumeration and the dense path, and every verb on a
200,000-symbol model within 2 GB of peak memory (the child's peak RSS)."""

import json
import math
from collections import Counter

import numpy as np
import pytest

from ngram import NgramError, make_estimator, train
from ngram.lm.backoff import automaton
from ngram.generation.constraints import Constraints
from ngram.formats.native import save
from ngram.generation.sampling import Sampler, SparsePlan, adjust_rows, make_plan
from test_constrained import CASES, IDS, all_names, chi_square, kn, matches_brute_force, meets, passes, probabilities
from support import measured

CORPUS = ["ab", "ban", "nab", "anna", "b", "bab", "naan", "abba", "nan", "bb"]


@pytest.fixture(scope="module")
def backoff():
    return kn(CORPUS, 3, unk=True)


@pytest.fixture
def sparse(monkeypatch):
    """Every back-off model takes the sparse path."""
    monkeypatch.setattr(automaton, "MAX_CELLS", 0)


def test_the_sparse_path_is_taken_only_past_the_dense_limit(backoff, monkeypatch):
    dfa = Constraints(max_len=4).dfa(backoff.vocabulary)
    assert not isinstance(make_plan(backoff, dfa, 1, 4), SparsePlan)
    monkeypatch.setattr(automaton, "MAX_CELLS", 0)
    assert isinstance(make_plan(backoff, dfa, 1, 4), SparsePlan)


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_sparse_masses_samples_and_top_match_brute_force(backoff, sparse, c):
    assert isinstance(matches_brute_force(backoff, c).plan(0), SparsePlan)


@pytest.mark.parametrize("c", CASES[:4], ids=IDS[:4])
def test_same_seed_same_names_on_both_paths(backoff, c, monkeypatch):
    dense = Sampler(backoff, c).generate(3000, seed=11).names
    monkeypatch.setattr(automaton, "MAX_CELLS", 0)
    assert Sampler(backoff, c).generate(3000, seed=11).names == dense


def shaped_distribution(model, c, t=1.0, k=None):
    shaped = {}
    for name in all_names(model, c.max_len):
        if not meets(name, c):
            continue
        q = 1.0
        for i in range(len(name) + 1):
            row = model.probs(name[:i])[None, :].copy()
            if model.vocabulary.unk:
                row[:, model.vocabulary.unk_id] = 0.0
            row = adjust_rows(row, t, k)[0]
            q *= row[0] if i == len(name) else row[model.vocabulary.encode_context(name[i])[0]]
        shaped[name] = q
    z = sum(shaped.values())
    return {x: q / z for x, q in shaped.items()}


@pytest.mark.parametrize("t, k, c, reach", [
    (0.6, None, Constraints(max_len=5), 2048),
    pytest.param(1.7, None, Constraints(suffix="a", max_len=5), 2048, marks=pytest.mark.slow),
    (1.0, 2, Constraints(min_len=2, max_len=5), 2048),
    pytest.param(0.7, 3, Constraints(prefix="b", max_len=5), 2048, marks=pytest.mark.slow),
    pytest.param(0.7, 3, Constraints(suffix="a", max_len=5), 2048, marks=pytest.mark.slow),
    (1.0, 2, Constraints(min_len=2, max_len=5), 0),
    pytest.param(0.7, 3, Constraints(prefix="b", max_len=5), 0, marks=pytest.mark.slow),
    (0.7, 3, Constraints(suffix="a", max_len=5), 0),
], ids=["temperature", "temperature+suffix", "top-k", "top-k+prefix", "temperature+top-k+suffix",
        "top-k by rejection", "top-k+prefix by rejection", "temperature+top-k+suffix by rejection"])
def test_sparse_temperature_and_top_k_are_the_shaped_distribution(backoff, sparse, t, k, c, reach, monkeypatch):
    """Temperature: the back-off recursion; top-k: tables on the states the reshaped rows reach,
    or (reach 0) walks kept when they meet the constraints."""
    from ngram.generation import plans

    monkeypatch.setattr(plans, "REACH_STATES", reach)
    expected = shaped_distribution(backoff, c, t, k)
    n = 20000
    generation = Sampler(backoff, c, temperature=t, top_k=k).generate(n, seed=5)
    assert len(generation.names) == n and all(meets(x, c) for x in generation.names)
    stat, df = chi_square(Counter(generation.names), expected, n)
    assert df >= 2 and passes(stat, df), (stat, df)
    raw = sum(q for x, q in probabilities(backoff, all_names(backoff, 5)).items() if meets(x, c))
    assert generation.mass == pytest.approx(raw, rel=1e-9)  # the model's own mass, before reshaping


def test_backoff_rows_are_the_dense_rows_and_sums(backoff):
    dense = automaton.build_automaton(backoff)
    rows = automaton.BackoffRows(backoff)
    # scoring's numbering (node 0 the empty context) is the dense one shifted by one
    for s in range(1, rows.n_states):
        logrow, nxt = rows.row(s)
        assert np.array_equal(np.exp(logrow), dense.rows[s - 1])
        assert np.array_equal(nxt[1:] - 1, dense.next_state[s - 1, 1:])
    g = np.random.default_rng(0).random(rows.n_states)
    values = rows.u * g[rows.after]
    expected = np.array([np.sum(dense.rows[s - 1] * g[dense.next_state[s - 1] + 1]) for s in range(1, rows.n_states)])
    assert np.allclose(rows.backoff_sum(values)[1:], expected, rtol=1e-12, atol=0)
    best = [np.max(dense.rows[s - 1] * g[dense.next_state[s - 1] + 1]) for s in range(1, rows.n_states)]
    with np.errstate(divide="ignore"):
        assert np.all(rows.backoff_max(np.log(values))[1:] >= np.log(best) - 1e-12)  # an upper bound


# ----- every verb on a 200,000-symbol model, within 2 GB ------------------------------------------
@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    folder = tmp_path_factory.mktemp("huge")
    rng = np.random.default_rng(0)
    chars = [chr(0xF0000 + i) for i in range(65_534)] + [chr(0x20000 + i) for i in range(200_000 - 65_534)]
    # every symbol once or twice, and a tail from 50 common ones (so top-k keeps few symbols)
    names = [chars[i] + chars[i + 1] + chars[(7 * i) % 200_000] + "".join(chars[j] for j in rng.integers(0, 50, i % 3))
             for i in range(0, 200_000, 2)]
    model = train(names, 3, make_estimator("modified-kneser-ney"))
    assert model.V == 200_001
    save(model, folder / "m.ngram")
    (folder / "test.txt").write_text("\n".join(names[:: 997]) + "\n", encoding="utf-8")
    return folder, model, names


VERBS = {
    "evaluate": ["evaluate", "m.ngram", "test.txt", "--json"],
    "probs": ["probs", "m.ngram", "PREFIX", "--top", "3", "--json"],
    "sample": ["sample", "m.ngram", "-n", "20", "--seed", "0", "--json"],
    "sample --temperature 0.5": ["sample", "m.ngram", "-n", "20", "--seed", "0", "--temperature", "0.5", "--json"],
    "sample --top-k 3": ["sample", "m.ngram", "-n", "20", "--seed", "0", "--top-k", "3", "--json"],
    "sample --prefix": ["sample", "m.ngram", "-n", "20", "--seed", "0", "--prefix", "PREFIX", "--json"],
    "top": ["top", "m.ngram", "-n", "3", "--json"],
    "info": ["info", "m.ngram", "--json"],
    "export": ["export", "m.ngram", "-o", "m.arpa", "-q"],
}


@pytest.mark.slow
@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_works_on_200000_symbols_within_2_gb(huge, verb):
    folder, model, names = huge
    prefix = names[0][0]
    result = measured(*[prefix if a == "PREFIX" else a for a in VERBS[verb]], cwd=folder)
    assert result["rc"] == 0, result["stderr"]
    assert result["peak_mb"] < 2048, result
    if verb == "export":
        assert (folder / "m.arpa").stat().st_size > 0
        return
    out = json.loads(result["stdout"])
    if verb == "evaluate":  # the same number as the general path's, on 200,000 symbols
        encoded = model.vocabulary.encode((folder / "test.txt").read_text(encoding="utf-8").split())
        nll = -np.sum(model.logprob_keys(*model.window_keys(encoded))) / encoded.n_targets
        assert out["nll_nats_per_symbol"] == pytest.approx(nll, rel=1e-12)
    if verb.startswith("sample"):
        got = out["names"]
        assert len(got) == 20 and all(1 <= len(x) <= max(map(len, names)) for x in got)
        assert all(set(x) <= set(model.vocabulary.characters) for x in got)
        if verb == "sample --prefix":
            assert all(x.startswith(prefix) for x in got)
    if verb == "top":
        best = [(x["name"], x["probability"]) for x in out["names"]]
        assert [p for _, p in best] == sorted((p for _, p in best), reverse=True)
        assert [p for _, p in best] == pytest.approx([math.exp(model.logprob(x)) for x, _ in best], rel=1e-9)


def test_a_bounded_view_keeps_a_few_rows_and_gives_the_same_ones():
    from ngram.lm.backoff.automaton import View

    model = kn(CORPUS * 3 + ["abnab", "nnbaa"], 4)
    whole = View(model)
    states = np.arange(whole.scorer.n_states)
    expected = whole.rows_of(states)
    bounded = View(model, keep=12)
    assert bounded.capacity == 12
    rng = np.random.default_rng(0)
    for _ in range(30):  # many small requests: rows made, dropped and made again
        ask = rng.choice(states, 2)
        assert np.array_equal(bounded.rows_of(ask), expected[ask])
        assert bounded.used <= 12
    with pytest.raises(NgramError, match="distinct context states at once"):
        bounded.rows_of(states)


def test_long_runs_step_over_their_holes_at_once_with_the_same_distribution(monkeypatch):
    from ngram.generation import sampling, sparse_draw

    model = kn(CORPUS, 3)
    monkeypatch.setattr(automaton, "WIDTH_LIMIT", 0)  # the walk takes the sparse automaton
    monkeypatch.setattr(sparse_draw, "LONG_RUN", 0)  # every run takes the binary search
    n = 20000
    got = Counter(sampling.sample_walk(model, n, seed=9, min_len=0, max_len=8))
    stat, df = chi_square(got, probabilities(model, all_names(model, 7)), n)  # (names cut at 8: the rest)
    assert df >= 5 and passes(stat, df), (stat, df)


@pytest.mark.parametrize("which", ["order 1", "order 2 with <unk>", pytest.param("order 4", marks=pytest.mark.slow),
                                   pytest.param("witten-bell", marks=pytest.mark.slow), "entropy-pruned"])
def test_the_sparse_path_on_other_orders_estimators_and_pruned_models(sparse, which):
    from ngram.lm.backoff.pruning import prune_by_entropy

    model = {"order 1": lambda: kn(CORPUS, 1), "order 2 with <unk>": lambda: kn(CORPUS, 2, unk=True),
             "order 4": lambda: kn(CORPUS, 4), "witten-bell": lambda: train(CORPUS * 2, 4, make_estimator("witten-bell")),
             "entropy-pruned": lambda: prune_by_entropy(kn(CORPUS * 3 + ["abnab", "nnbaa", "baab"], 4), 1e-3)}[which]()
    for c in (CASES[0], CASES[2], CASES[6]):
        assert isinstance(matches_brute_force(model, c).plan(0), SparsePlan)


def test_sparse_tables_past_their_limit_are_refused_in_one_line(backoff, sparse, monkeypatch):
    from ngram.generation import plans

    monkeypatch.setattr(plans, "SPARSE_TABLE_CELLS", 200)
    with pytest.raises(NgramError, match=r"needs [\d,]+ table cells \(at most 200\); lower --max-len or prune it"):
        Sampler(backoff, Constraints(prefix="a", max_len=6)).mass


def test_top_k_constraints_no_name_meets_are_refused_on_both_paths(backoff, monkeypatch):
    from ngram.generation import plans

    c = Constraints(suffix="bb", max_len=5)  # top-1 rows never end in -bb
    for cells in (automaton.MAX_CELLS, 0):  # dense, then sparse (exact on the states reached)
        monkeypatch.setattr(automaton, "MAX_CELLS", cells)
        with pytest.raises(NgramError, match=r"after temperature / top-k / top-p no name meets the constraints"):
            Sampler(backoff, c, top_k=1).generate(5, seed=0)
    monkeypatch.setattr(plans, "REACH_STATES", 0)  # by rejection
    with pytest.raises(NgramError, match=r"almost no name meets the constraints \(0 of 256 walks met them\)"):
        Sampler(backoff, c, top_k=1).generate(5, seed=0)


@pytest.mark.slow
def test_the_walks_rare_dense_fallback_takes_whole_rows_a_few_at_a_time(monkeypatch):
    from ngram.generation import sampling, sparse_draw

    model = kn(CORPUS * 3 + ["abnab", "nnbaa"], 4)
    monkeypatch.setattr(automaton, "WIDTH_LIMIT", 0)  # the walk takes the sparse automaton
    monkeypatch.setattr(sampling.SparseAutomaton, "MAX_ROUNDS", 0)  # every backed-off draw takes the fallback
    whole = sampling.sample_walk(model, 3000, seed=6, min_len=0, max_len=8)
    monkeypatch.setattr(sparse_draw, "PENDING_CELLS", 1)  # one row at a time
    monkeypatch.setattr(sparse_draw, "KEPT_CELLS", 0)  # and few rows kept (the least: 64)
    assert sampling.sample_walk(model, 3000, seed=6, min_len=0, max_len=8) == whole  # the same draws
    assert len(set(whole)) > 50 and all(set(x) <= set(model.vocabulary.characters) for x in whole)
