"""The reachable product's budget (issue 25, class 1): a position's distinct (context, constraint
state) pairs are counted before their places and children are made, so a question past the budget
is refused in one line at the first position that passes it, with the true count, whichever way the
pairs are found (marking, a packed sort, np.unique); a question at the budget is answered exactly
(against enumerating every name); a whole-name mixture refused on its left-to-right side never
builds the reversed automaton."""

from __future__ import annotations

import re

import numpy as np
import pytest

from test_constrained import backoff, matches_brute_force, name_mixture, order_mixture  # noqa: F401

from ngram import NgramError
from ngram.core.arrays import distinct
from ngram.generation import plans
from ngram.generation import sampler as sampler_module
from ngram.generation.constraints import Constraints
from ngram.generation.sampling import Sampler

# a constraint whose product grows with the positions on the tiny models (names of a, b, n)
WIDE = Constraints(contains=("a", "b", "n", "ab"), max_len=6)
PATHS = {  # how a position's distinct pairs are found
    "marking": {},
    "sorting": {"MARK_CELLS": 0, "MARK_RATIO": 0},
    "unique": {"MARK_CELLS": 0, "MARK_RATIO": 0, "SORT_KEYS": 0},
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("limit", [None, 0, 5, 10**9])
def test_distinct_pairs_agree_with_np_unique_and_count_before_refusing(path, limit, monkeypatch):
    for name, value in PATHS[path].items():
        monkeypatch.setattr(plans, name, value)
    rng = np.random.default_rng(7)
    n_s, n_q = 50, 30
    s, q = rng.integers(0, n_s, 5000), rng.integers(0, n_q, 5000)
    key = (s * n_q + q).astype(np.int32)
    unique, inverse = np.unique(key, return_inverse=True)
    if limit is not None and len(unique) > limit:
        with pytest.raises(plans._PastBudget) as past:
            plans._distinct_pairs(key, n_s, n_q, limit)
        if len(past.value.args) > 1:  # counted among a sample of the keys: a lower bound past the limit
            assert limit < past.value.args[0] <= len(unique)
        else:
            assert past.value.args[0] == len(unique)
        return
    got_s, got_q, got_inverse = plans._distinct_pairs(key, n_s, n_q, limit)
    assert np.array_equal(got_s * n_q + got_q, unique) and np.array_equal(got_inverse, inverse)


@pytest.mark.parametrize("window", [1 << 26, 1000, 333])
def test_distinct_keys_counted_by_marking_windows_are_np_unique_counts(window, monkeypatch):
    """The count that refuses a crowded position, marked a window of values at a time: the same as
    np.unique's, in one window or several (the last one partial); None past MARK_WINDOWS passes."""
    monkeypatch.setattr(plans, "MARK_WINDOW", window)
    rng = np.random.default_rng(11)
    key = np.concatenate([rng.integers(0, 3000, 20_000), [0, 2999]]).astype(np.int32)
    if -(-3000 // window) > plans.MARK_WINDOWS:
        assert plans._count_marked(key, 3000) is None
    else:
        assert plans._count_marked(key, 3000) == len(np.unique(key))
    monkeypatch.setattr(plans, "MARK_WINDOWS", 1)
    assert (plans._count_marked(key, 3000) is None) == (window < 3000)


def test_a_crowded_position_is_refused_from_a_sample_of_its_keys():
    """Keys many times the limit: the distinct keys of an evenly spaced sample (a subset: never
    more than the whole has) are enough to refuse, before all of them are sorted; keys the sample
    cannot refuse are counted exactly."""
    rng = np.random.default_rng(3)
    key = rng.integers(0, 10**7, 400_000).astype(np.int32)  # (100,000 x 100 pairs: too many to mark)
    whole = len(np.unique(key))
    with pytest.raises(plans._PastBudget) as past:
        plans._distinct_pairs(key, 100_000, 100, limit=20_000)
    assert len(past.value.args) == 2 and 20_000 < past.value.args[0] <= whole
    assert plans._lower_bound_past(key, 150_000) is None  # (too few keys for a sample of 2x the limit)
    with pytest.raises(plans._PastBudget) as past:
        plans._distinct_pairs(key, 100_000, 100, limit=whole - 1)
    assert past.value.args == (whole,)  # (too few keys to sample: counted exactly)


@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
@pytest.mark.parametrize("c", [WIDE, Constraints(prefix="ab", max_len=7), Constraints(contains=("ban",), suffix="a", max_len=9)],
                         ids=["wide", "prefix", "contains+suffix"])
def test_positions_of_few_pairs_are_counted_as_the_general_way_counts_them(kind, c, request, monkeypatch):
    """A position's next pairs found directly (a handful of pairs) or through the renumbering that
    pays off on many: the same pairs in the same order, the same children."""
    model = request.getfixturevalue(kind)
    counted = []
    for few in (0, 10**9):
        monkeypatch.setattr(plans, "FEW_PAIRS", few)
        counted.append(Sampler(model, c).plan(0)._count())
    (general, general_children), (direct, direct_children) = counted
    assert [len(s) for s, _ in general] == [len(s) for s, _ in direct] and max(len(s) for s, _ in general) > 1
    for (s1, q1), (s2, q2) in zip(general, direct):
        assert np.array_equal(s1, s2) and np.array_equal(q1, q2)
    for a, b in zip(general_children, direct_children):
        assert np.array_equal(a, b)


def _pairs_per_position(model, c):
    plan = Sampler(model, c).plan(0)
    plan._explore()
    return [len(states) for states, _ in plan._levels]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
def test_at_the_step_budget_answered_exactly_one_cell_under_it_refused_with_the_true_count(kind, path, request,
                                                                                             monkeypatch):
    for name, value in PATHS[path].items():
        monkeypatch.setattr(plans, name, value)
    model = request.getfixturevalue(kind)
    V = model.V
    pairs = _pairs_per_position(model, WIDE)[: WIDE.max_len]  # (the last position expands nothing)
    widest = max(pairs)
    assert widest > 1
    monkeypatch.setattr(plans, "STEP_CELLS", widest * V)
    matches_brute_force(model, WIDE)
    monkeypatch.setattr(plans, "STEP_CELLS", widest * V - 1)
    with pytest.raises(NgramError) as error:
        Sampler(model, WIDE).mass
    message = str(error.value)
    assert "\n" not in message and f"({widest:,} pairs at position {pairs.index(widest)}," in message


@pytest.mark.parametrize("kind", ["backoff", "order_mixture"])
def test_at_the_total_budget_answered_exactly_one_cell_under_it_refused(kind, request, monkeypatch):
    model = request.getfixturevalue(kind)
    V = model.V
    pairs = _pairs_per_position(model, WIDE)[: WIDE.max_len]
    total = sum(pairs) * V
    monkeypatch.setattr(plans, "LAZY_TABLE_CELLS", total)
    matches_brute_force(model, WIDE)
    monkeypatch.setattr(plans, "LAZY_TABLE_CELLS", total - 1)
    with pytest.raises(NgramError, match=re.escape(f"({pairs[-1]:,} pairs at position {len(pairs) - 1},")):
        Sampler(model, WIDE).mass


def test_a_refusal_on_the_left_to_right_side_never_reverses_the_constraints(name_mixture, monkeypatch):
    from ngram.generation.constraints import Constraints as C

    def no_reversal(*args, **kwargs):
        raise AssertionError("the reversed automaton was built")

    monkeypatch.setattr(C, "reversed_dfa", no_reversal)
    monkeypatch.setattr(plans, "STEP_CELLS", 2 * name_mixture.V)
    monkeypatch.setattr(sampler_module, "WALK_STATES", 0)  # (the plans, not walks that would meet it first)
    monkeypatch.setattr(sampler_module.Sampler, "_crowded_first", lambda self: False)
    with pytest.raises(NgramError, match="too many .context, constraint state. pairs"):
        Sampler(name_mixture, WIDE).generate(3, seed=0)


@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
def test_a_constraint_past_the_plans_budget_is_met_by_walking_where_walks_meet_it(kind, request, monkeypatch):
    # A constraint of a few states is met by walking and rejecting first (exact), so a product
    # the plans would refuse is never built when walks meet it.
    model = request.getfixturevalue(kind)
    monkeypatch.setattr(plans, "STEP_CELLS", 2 * model.V)
    sampler = Sampler(model, WIDE)
    names = sampler.generate(50, seed=0).names
    assert len(names) == 50 and all(all(x in name for x in WIDE.contains) for name in names)
    assert sampler._walked >= 50 and not sampler._plans  # (no plan made: nothing counted, nothing refused)


@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
@pytest.mark.parametrize("crowded", [True, False])
def test_top_past_the_budget_is_refused_after_a_short_try_when_crowded(kind, crowded, request, monkeypatch):
    """top on a product past its budget: a crowded question (many constraint states for the
    contexts) has its product counted after SEARCH_FIRST expansions of the table-free search and
    is refused then, in one line; any other after the whole table-free search, as before."""
    model = request.getfixturevalue(kind)
    monkeypatch.setattr(plans, "STEP_CELLS", 2 * model.V)
    monkeypatch.setattr(plans, "SEARCH_FIRST", 5)
    monkeypatch.setattr(plans, "SEARCH_EXPANSIONS", 60)
    monkeypatch.setattr(plans, "CROWDED", 0 if crowded else 10**9)
    expansions = []
    search = plans.best_first

    def counted(root, bound, expand):
        expansions.append(0)

        def each(node, upcoming):
            expansions[-1] += 1
            return expand(node, upcoming)

        yield from search(root, bound, each)

    monkeypatch.setattr(plans, "best_first", counted)
    with pytest.raises(NgramError) as error:
        Sampler(model, WIDE).top(500)
    message = str(error.value)
    assert "\n" not in message and "too many (context, constraint state) pairs" in message
    if crowded:
        assert expansions == [5]  # (the left-to-right side refused: no other search began)
    else:
        assert max(expansions) > 5


def test_a_crowded_question_is_one_with_many_constraint_states_for_the_contexts(backoff):
    from ngram.generation.constraints import Constraints as C

    few, many = C(contains=("a",), max_len=6), C(contains=("a", "b", "n", "ab", "ba", "nn"), max_len=6)
    assert not Sampler(backoff, few).plan(0).crowded()
    plan = Sampler(backoff, many).plan(0)
    cells = plan.view.scorer.n_states * (plan.dfa.n_states - 1) * backoff.V
    assert plan.crowded() == (cells > plans.CROWDED * plans.STEP_CELLS)


@pytest.mark.parametrize("size", [40, 100_000])
def test_renumbering_by_sorting_few_values_agrees_with_marking_the_range(size):
    """``distinct`` (given the range) and ``_renumbered`` sort values that are few for their range (a long name's
    positions each reach a handful of a large model's states) and mark the range otherwise: the
    same answer either way, -1 (no next state) kept."""
    rng = np.random.default_rng(5)
    table = rng.integers(-1, size, (30, 26))
    values = np.unique(table[table >= 0])
    got_values, renumbered = plans._renumbered(table, size)
    assert np.array_equal(got_values, values) and np.array_equal(distinct(table[table >= 0], size), values)
    assert renumbered.dtype == np.int32
    assert np.array_equal(renumbered, np.where(table >= 0, np.searchsorted(values, table), -1))


@pytest.mark.parametrize("kind", ["backoff", "name_mixture"])
def test_names_walked_for_a_crowded_question_estimate_its_mass_from_the_walks(kind, request, monkeypatch):
    """Names met by walking need no product; for a crowded question its exact mass would count
    one (seconds, maybe to refuse): the walks estimate it instead, a binomial share whose
    standard error is given, consistent with the exact mass; none once the exact tables exist."""
    import math

    model = request.getfixturevalue(kind)
    c = Constraints(contains=("a",), max_len=6)
    exact = Sampler(model, c).mass
    monkeypatch.setattr(plans, "CROWDED", 0)
    sampler = Sampler(model, c)
    assert sampler.crowded() and sampler.walk_estimate() is None  # (nothing walked yet)
    sampler.generate(3000, seed=4)
    share, error = sampler.walk_estimate()
    assert sampler._walked >= 3000 and error == pytest.approx(math.sqrt(share * (1 - share) / sampler._walked))
    assert abs(share - exact) < 5 * error
    sampler.mass  # (the exact tables made: their mass is at hand, no estimate)
    assert sampler.walk_estimate() is None


def test_the_plans_of_one_question_share_the_budget(name_mixture, monkeypatch):
    """A whole-name mixture's two plans hold their tables at once: their cells count against one
    budget, so a question each direction alone would fit but not both together is refused (in the
    one line a plan gives), and one that fits them together is answered exactly."""
    monkeypatch.setattr(sampler_module, "WALK_STATES", 0)  # (the plans, not walks)
    sampler = Sampler(name_mixture, WIDE)
    cells = []
    for i in range(len(sampler.parts)):
        plan = Sampler(name_mixture, WIDE).plan(i)
        plan._count()
        cells.append(plan.budget.used)
    assert len(cells) == 2 and min(cells) > 0
    monkeypatch.setattr(plans, "LAZY_TABLE_CELLS", sum(cells) - 1)
    assert max(cells) <= plans.LAZY_TABLE_CELLS
    with pytest.raises(NgramError, match="too many .context, constraint state. pairs for this model within --max-len 6"):
        Sampler(name_mixture, WIDE).mass
    monkeypatch.setattr(plans, "LAZY_TABLE_CELLS", sum(cells))
    matches_brute_force(name_mixture, WIDE)
