"""The one lazy automaton view (rows made only for the states asked about) and the walks, per-symbol
ranking and refusals built on it, checked against the models' own rows and brute-force enumeration."""

import math
import time

import numpy as np
import pytest
from test_constrained import all_names, backoff, meets, name_mixture, order_mixture, probabilities  # noqa: F401

from ngram import NgramError
from ngram.generation.constraints import Constraints
from ngram.generation.sampling import Sampler
from ngram.lm.backoff import automaton


def test_view_rows_are_the_dense_automatons_floats(backoff):  # noqa: F811
    dense = automaton.build_automaton(backoff)
    view = automaton.View(backoff)
    states = np.arange(len(dense.rows))[::-1]  # asked in any order: suffixes are made first
    # (the view numbers nodes as the scorer does: node 0 the empty context, then the dense states)
    assert np.array_equal(view.rows_of(states + 1), dense.rows[states])
    for symbol in range(backoff.V):
        after = view.next_states(states + 1, np.full(len(states), symbol))
        assert np.array_equal(after, dense.next_state[states, symbol] + 1)
    assert view.used == len(states) + 1


def test_order_mixture_rows_are_its_own_next_symbol_vectors(order_mixture):  # noqa: F811
    view = automaton.View(order_mixture)
    V = order_mixture.V
    for context in ["", "a", "ab", "nn", "bab", "anna"]:
        state = view.start_state
        for symbol in order_mixture.vocabulary.encode_context(context):
            state = int(view.next_states(np.array([state]), np.array([symbol]))[0])
        row = view.rows_of(np.array([state]))[0]
        assert row.sum() == pytest.approx(1.0, abs=1e-12) and len(row) == V
        np.testing.assert_allclose(row, order_mixture.probs(context), rtol=1e-12)
    few, many = view.used, automaton.View(order_mixture)
    assert few < view.scorer.n_states or view.scorer.n_states < 8  # only the contexts asked about


@pytest.fixture(scope="module")
def deep_mixture():
    """An order mixture as the default model's: orders 2-5, each with its own discounts, one vocabulary."""
    from test_constrained import CORPUS

    from ngram import make_estimator, train
    from ngram.lm.mixtures.models import ContextMixture

    vocabulary = train(CORPUS, 1).vocabulary
    components = [train(CORPUS, n, make_estimator("modified-kneser-ney", discounts=[[0.3 + 0.1 * n, 0.9, 1.4]] * n),
                        vocabulary=vocabulary) for n in (2, 3, 4, 5)]
    rng = np.random.default_rng(1)
    weights = rng.random((5, 4))
    return ContextMixture(components, weights / weights.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("kind", ["order_mixture", "deep_mixture"])
def test_rows_mixed_through_the_components_views_are_the_same(kind, request, monkeypatch):
    """Three ways to an order mixture's rows agree: its shared levels' recursion over the states'
    suffix closure, each component's own view, and its windows looked up one by one."""
    mixture = request.getfixturevalue(kind)
    assert mixture.shared_levels() is not None
    states = np.arange(automaton.View(mixture).scorer.n_states)
    shared = automaton.View(mixture).rows_of(states)
    assert shared.sum(axis=1) == pytest.approx(1.0, abs=1e-12)
    # any subset of states, in any order, gets the same rows (the closure is the subset's own)
    some = np.random.default_rng(0).permutation(states)[: max(1, len(states) // 3)]
    np.testing.assert_allclose(automaton.View(mixture).rows_of(some), shared[some], rtol=1e-12)
    monkeypatch.setattr(mixture, "shared_levels", lambda: None)
    monkeypatch.setattr(automaton, "FEW_CONTEXTS", 0)  # every batch through the components' views
    np.testing.assert_allclose(automaton.View(mixture).rows_of(states), shared, rtol=1e-12)
    monkeypatch.setattr(automaton, "FEW_CONTEXTS", len(states) + 1)  # every batch through the windows
    np.testing.assert_allclose(automaton.View(mixture).rows_of(states), shared, rtol=1e-12)


@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
def test_top_per_symbol_is_the_lowest_nll_per_symbol(kind, request):
    model = request.getfixturevalue(kind)
    c = Constraints(min_len=1, max_len=5)
    p = probabilities(model, all_names(model, 5))
    per_symbol = sorted((-math.log(q) / (len(x) + 1), x) for x, q in p.items() if meets(x, c))
    got = Sampler(model, c).top(12, rank="per-symbol")
    assert [-lp / (len(x) + 1) for x, lp in got] == pytest.approx([s for s, _ in per_symbol[:12]], rel=1e-9)
    assert all(math.exp(lp) == pytest.approx(p[x], rel=1e-9) for x, lp in got)


def test_top_streams_and_unknown_ranks_are_refused(backoff):  # noqa: F811
    from ngram.generation.sampler import MAX_TOP

    stream = Sampler(backoff, Constraints(max_len=6)).iter_top(MAX_TOP)
    first = [next(stream) for _ in range(5)]
    assert first == Sampler(backoff, Constraints(max_len=6)).top(5)
    with pytest.raises(NgramError, match="rank must be one of probability, per-symbol"):
        Sampler(backoff).top(3, rank="length")


def test_top_refuses_more_names_than_it_lists_before_any_is_asked_for(backoff):  # noqa: F811
    from ngram.generation.sampler import MAX_TOP

    with pytest.raises(NgramError, match=rf"top lists at most {MAX_TOP:,} names \(asked for 1,000,000,000\)"):
        Sampler(backoff).iter_top(10**9)  # (refused at the call: a caller may print a header next)


def test_the_search_stops_in_one_line_when_its_frontier_passes_its_bound(backoff, monkeypatch):  # noqa: F811
    from ngram.generation import search

    wanted = Sampler(backoff, Constraints(max_len=8)).top(2000)
    monkeypatch.setattr(search, "MAX_FRONTIER", 50)
    stream = Sampler(backoff, Constraints(max_len=8)).iter_top(2000)
    got = []
    with pytest.raises(NgramError, match=r"holds more than 50 partial names after [\d,]+ names"):
        for item in stream:
            got.append(item)
    assert 0 < len(got) < 2000 and got == wanted[: len(got)]  # the names given before are the right ones


@pytest.mark.parametrize("kind", ["backoff", "name_mixture"])
def test_more_distinct_names_than_exist_are_refused_at_once(kind, request):
    model = request.getfixturevalue(kind)
    V = len(model.vocabulary.characters)
    started = time.perf_counter()
    with pytest.raises(NgramError, match=rf"found only {V + V * V:,} distinct names that can meet the constraints"):
        Sampler(model, Constraints(max_len=2, unique=True)).generate(10**6, seed=0)
    assert time.perf_counter() - started < 1.0
    c = Constraints(suffix="an", max_len=4, unique=True)  # -an, -?an, -??an: 1 + V + V^2
    assert Sampler(model, c).names_possible() == 1 + V + V * V
    names = Sampler(model, c).generate(V, seed=1).names
    assert len(set(names)) == V and all(meets(x, c) for x in names)


def skewed_model():
    """Order 3 over 40 characters, most of them rare: many symbols share one guide cell."""
    from ngram import make_estimator, train

    rare = [chr(ord("A") + i) for i in range(37)]
    corpus = ["aab", "abba", "baab", "bb", "a"] * 40 + rare + ["a" + c + "b" for c in rare[:9]]
    return train(corpus, 3, make_estimator("modified-kneser-ney"), unk=True)


def inverse_cdf(view, states, k: int, u):
    """The first symbol whose running sum passes each u (``k`` a state, states in turn), <unk> left
    out where the view leaves it out: the draw every walk must make."""
    rows = view.rows_of(states)
    if view.masked is not None:
        rows[:, view.masked] = 0.0
    cdf = np.cumsum(rows, axis=1)
    cdf /= cdf[:, -1:]
    return (np.repeat(cdf, k, axis=0) <= u[:, None]).sum(axis=1)


@pytest.mark.parametrize("kind", ["backoff", "order_mixture", "skewed"])
@pytest.mark.parametrize("mask_unk", [True, False])
def test_a_step_draws_the_inverse_cdf_symbol_and_its_next_state(kind, mask_unk, request):
    # The guide answers most draws without reading the running sums; whatever it does, a draw u
    # must be the first symbol whose running sum passes u, exactly, and the state after it the
    # automaton's. u at both ends of every guide cell, and at random points.
    model = skewed_model() if kind == "skewed" else request.getfixturevalue(kind)
    view = automaton.View(model, mask_unk=mask_unk)
    states = np.arange(view.scorer.n_states)
    slots = view.slots_of(states)
    G = view.guides
    grid = np.concatenate([np.arange(G) / G, np.nextafter(np.arange(1, G + 1) / G, 0),
                           np.random.default_rng(0).random(300)])
    u = np.tile(grid, len(slots))
    packed = view.step(view.bases(np.repeat(slots, len(grid))), u)
    symbol = packed & (view.width - 1)
    expected = inverse_cdf(view, states, len(grid), u)
    assert np.array_equal(symbol, expected)
    after = view.next_states(np.repeat(states, len(grid)), symbol)
    assert np.array_equal(packed >> view.shift, after)
    assert (view.guide[: view.used * G] < 0).any()  # (some cells hold several symbols: the search is tested)


@pytest.mark.parametrize("kind", ["backoff", "skewed"])
@pytest.mark.parametrize("mask_unk", [True, False])
def test_the_whole_table_draws_the_inverse_cdf_symbol_and_its_next_state(kind, mask_unk, request):
    # Every state's tables made at once (``table_walk``): the same exact draw as the view's step,
    # whose guide entries hold the next state's base instead of its slot.
    from ngram.generation.table_walk import WholeTable

    model = skewed_model() if kind == "skewed" else request.getfixturevalue(kind)
    view = automaton.View(model, mask_unk=mask_unk)
    table = WholeTable(view)
    states = np.arange(view.scorer.n_states)
    G = table.guides
    grid = np.concatenate([np.arange(G) / G, np.nextafter(np.arange(1, G + 1) / G, 0),
                           np.random.default_rng(0).random(300)])
    u = np.tile(grid, len(states))
    expected = inverse_cdf(view, states, len(grid), u)
    assert np.array_equal(table.draw(np.repeat(states, len(grid)) << table.shift, u) & (table.width - 1), expected)
    after = view.next_states(np.repeat(states, len(grid)), expected)
    assert np.array_equal(table.draw(np.repeat(states, len(grid)) << table.shift, u) >> table.shift, after)
    assert (table.guide < 0).any()  # (some cells hold several symbols: the search is tested)


@pytest.mark.parametrize("kind", ["backoff", "skewed"])
def test_the_whole_table_made_in_two_threads_is_the_table_made_in_one(kind, request, monkeypatch):
    # Blocks of a few rows, so that every order has several and the second thread makes some.
    from ngram.generation import table_walk

    model = skewed_model() if kind == "skewed" else request.getfixturevalue(kind)
    monkeypatch.setattr(table_walk, "TABLE_CELLS", 3 * automaton.View(model).width)
    made = {}
    for lanes in (1, 2):
        monkeypatch.setattr(table_walk, "_processors", lambda: lanes)
        table = table_walk.WholeTable(automaton.View(model))
        made[lanes] = (table.cdf, table.follow, table.guide)
    assert all(np.array_equal(a, b) for a, b in zip(made[1], made[2]))


@pytest.mark.parametrize("kind", ["backoff", "skewed"])
def test_the_whole_table_walks_the_same_names_as_the_view_for_a_seed(kind, request, monkeypatch):
    from ngram.generation import table_walk, walk

    model = skewed_model() if kind == "skewed" else request.getfixturevalue(kind)
    monkeypatch.setattr(table_walk, "SHARE", 0)  # never the whole table: the lazy view's walk
    lazy = walk.walk_lengths(model, 3000, seed=7, prefix="a", max_len=9, automaton=automaton.View(model))
    monkeypatch.setattr(table_walk, "SHARE", 10**9)
    view = automaton.View(model)
    whole = walk.walk_lengths(model, 3000, seed=7, prefix="a", max_len=9, automaton=view)
    assert "table" in vars(view)["_automata"]  # (the table walked)
    assert np.array_equal(lazy[0], whole[0]) and np.array_equal(lazy[1], whole[1])


@pytest.mark.parametrize("kind", ["backoff", "skewed"])
def test_names_walked_in_two_lanes_are_the_names_walked_in_one(kind, request, monkeypatch):
    # Lanes of a few names, so that most steps are split and the last ones (few names going) are
    # not: the same names, lengths, text and <unk> marks as one lane, for a seed.
    from ngram.generation import table_walk
    from ngram.generation.walk import _code_points

    model = skewed_model() if kind == "skewed" else request.getfixturevalue(kind)
    table = table_walk.WholeTable(automaton.View(model, mask_unk=False))
    monkeypatch.setattr(table_walk, "LANE_NAMES", 64)
    byte_of, unk = _code_points(model).astype(np.uint8), model.vocabulary.unk_id
    walked = {}
    for lanes in (1, 2):
        monkeypatch.setattr(table_walk, "_processors", lambda: lanes)
        ids, length = table.walk(3001, np.random.default_rng(5), [1], 12)
        text, length2, held = table.walk_bytes(3001, np.random.default_rng(5), [1], 12, byte_of, unk)
        assert np.array_equal(length, length2)
        walked[lanes] = (ids, length, text, held if held is not None else np.zeros(0, bool))
    assert all(np.array_equal(a, b) for a, b in zip(walked[1], walked[2]))
    assert len(set(walked[2][1].tolist())) > 3  # (names of many lengths: lanes emptied at different steps)


def test_a_helpers_error_is_raised_in_the_callers_thread():
    from ngram.core.parallel import Helper

    done = []
    with Helper() as helper:
        helper.both(lambda: done.append("mine"), lambda: done.append("theirs"))
        with pytest.raises(ZeroDivisionError):
            helper.both(lambda: done.append("mine again"), lambda: 1 / 0)
        helper.both(lambda: None, lambda: done.append("after the error"))  # (the helper still serves)
    assert sorted(done) == ["after the error", "mine", "mine again", "theirs"]


def test_a_request_asks_for_the_share_of_walks_it_keeps_and_a_seed_draws_the_same_names(backoff, monkeypatch):  # noqa: F811
    from ngram.generation import sampler as sampling

    monkeypatch.setattr(sampling, "LEARN_SHARE", 500)  # (the share learnt after a few small chunks)
    c = Constraints(min_len=0, max_len=5)  # (names with <unk> and longer ones rejected: about a quarter)
    s = Sampler(backoff, c)
    drawn = [name for part in s.chunks(3000, seed=3, chunk=400) for name in part]
    assert 0 < s._valid < s._walked and all(meets(x, c) for x in drawn) and len(drawn) == 3000
    share = s._valid / s._walked
    assert not s._slow and share < 0.9
    assert s._ask(10_000) == pytest.approx(10_000 / share, rel=0.05)  # not an eighth more
    # the same names however often asked, one list at a time or as text (each request learns anew)
    assert drawn == [name for part in s.chunks(3000, seed=3, chunk=400) for name in part]
    text = "".join(t for t, _ in Sampler(backoff, c).text_chunks(3000, seed=3, chunk=400))
    assert text == "".join(x + "\n" for x in drawn)


@pytest.mark.parametrize("steps", [0, 3, 12])
def test_the_whole_tables_text_is_its_walks_decoded(backoff, steps):  # noqa: F811
    # Written straight as text, the walks are the same names (the same draws), names cut at
    # ``steps`` end with a newline too, and those holding <unk> are told apart.
    from ngram.generation.table_walk import WholeTable
    from ngram.generation.walk import _code_points, decode_text

    view = automaton.View(backoff, mask_unk=False)
    table = WholeTable(view)
    ids, length = table.walk(2000, np.random.default_rng(4), [], steps)
    text, length2, held = table.walk_bytes(2000, np.random.default_rng(4), [], steps,
                                           _code_points(backoff).astype(np.uint8), backoff.vocabulary.unk_id)
    assert np.array_equal(length, length2)
    unk = backoff.vocabulary.unk_id
    assert np.array_equal(held, (ids == unk).any(axis=1))
    keep = ~held
    assert held.any() or steps == 0
    assert text[np.repeat(keep, length + 1)].tobytes().decode() == decode_text(ids[keep], backoff, length[keep])


@pytest.mark.parametrize("kind", ["backoff", "order_mixture"])
def test_a_length_bound_few_walks_meet_is_drawn_by_walking_while_the_walks_left_are_few(kind, request, monkeypatch):
    """More than a third of the walks rejected: walking goes on while the names still wanted
    need at most WALK_LIMIT walks at the share kept, else the exact plans draw the rest; both
    only ever give names within the bounds."""
    from ngram.generation import sampler as module
    from ngram.generation.constraints import Constraints

    model = request.getfixturevalue(kind)
    c = Constraints(min_len=4, max_len=6)
    planned = []
    plan = module.Sampler.plan
    monkeypatch.setattr(module.Sampler, "plan", lambda self, i: (planned.append(i), plan(self, i))[1])
    for limit, plans_used in ((10**9, False), (0, True)):
        planned.clear()
        monkeypatch.setattr(module, "WALK_LIMIT", limit)
        s = module.Sampler(model, c)
        names = s.generate(300, seed=3).names
        assert len(names) == 300 and all(4 <= len(x) <= 6 for x in names)
        assert s._walked > 300 and s._valid < s._walked * 2 // 3  # (most walks were rejected)
        assert bool(planned) == plans_used


def test_a_view_grown_for_rows_before_it_is_walked_walks_as_a_fresh_one(monkeypatch):
    # Room for the fewest rows at first (64), so that the rows a question makes grow the view's
    # arrays before any walk: its draw tables (not kept until then) are made for every row at the
    # first walk.
    import itertools

    from ngram import make_estimator, train
    from ngram.generation import walk

    backoff = train(["".join(t) for t in itertools.product("abnx", repeat=4)], 4, make_estimator("modified-kneser-ney"))
    monkeypatch.setattr(automaton, "ROW_CELLS", 1)
    fresh = walk.walk_lengths(backoff, 2000, seed=5, max_len=7, automaton=automaton.View(backoff))
    view = automaton.View(backoff)
    before = view.capacity
    view.slots_of(np.arange(view.scorer.n_states))
    assert view.capacity > before and view.drawn == 0
    grown = walk.walk_lengths(backoff, 2000, seed=5, max_len=7, automaton=view)
    assert np.array_equal(fresh[0], grown[0]) and np.array_equal(fresh[1], grown[1])


def test_rows_made_after_a_walk_get_draw_tables_only_when_a_walk_steps_again(monkeypatch):
    # A request that walks and then takes the plans makes many rows after its walks: they hold no
    # draw tables (half a kilobyte a row) unless a walk steps again, which then makes them.
    import itertools

    from ngram import make_estimator, train
    from ngram.generation import table_walk, walk

    monkeypatch.setattr(table_walk, "SHARE", 0)  # (the lazy view walks, never the whole table)

    backoff = train(["".join(t) for t in itertools.product("abnx", repeat=4)], 4, make_estimator("modified-kneser-ney"))
    view = automaton.View(backoff)
    walk.walk_lengths(backoff, 50, seed=1, max_len=3, automaton=view)
    walked = view.drawn
    assert walked > 0
    view.slots_of(np.arange(view.scorer.n_states))
    assert view.drawn == walked < view.used
    again = walk.walk_lengths(backoff, 2000, seed=5, max_len=7, automaton=view)
    fresh = walk.walk_lengths(backoff, 2000, seed=5, max_len=7, automaton=automaton.View(backoff))
    assert view.drawn == view.used
    assert np.array_equal(again[0], fresh[0]) and np.array_equal(again[1], fresh[1])


def test_a_large_request_walks_the_whole_table_from_its_first_block(monkeypatch):
    """A request drawn in growing blocks (the first small, so a reader that stops early ends the
    run) walks the whole draw table from its first block when the whole request is large enough
    for it, not the lazy view until one block alone is: the same names, block after block."""
    from ngram import make_estimator, train
    from ngram.generation import sampler as module
    from ngram.generation import table_walk

    rng = np.random.default_rng(0)
    names = ["".join(rng.choice(list("abnelorist"), int(rng.integers(3, 9)))) for _ in range(3000)]
    model = train(names, 4, make_estimator("modified-kneser-ney"))
    states = automaton.view(model).scorer.n_states
    assert states > 1000  # (the first block's walks, about 20, are far from enough for the table alone)
    monkeypatch.setattr(module, "FIRST_CHUNK", 4)
    n = states * table_walk.SHARE  # (enough names for the whole table; its first block of 4 alone is not)
    sampler = Sampler(model)
    blocks = sampler.chunks(n, seed=2, chunk=4096)
    first = next(blocks)
    assert len(first) == 4 and "table" in vars(automaton.view(model)).get("_automata", {})
    walked = first + [x for block in blocks for x in block]
    assert len(walked) == n
    fresh = train(names, 4, make_estimator("modified-kneser-ney"))  # (a model with no table made yet)
    monkeypatch.setattr(table_walk, "SHARE", 10**9)  # (the table for every block)
    assert [x for block in Sampler(fresh).chunks(n, seed=2, chunk=4096) for x in block] == walked
