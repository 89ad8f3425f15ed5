"""The best-first search for top names: without tables first, then (past its budget) with the
max tables of the reachable product, the same names either way, checked by enumeration."""

import math

import pytest
from test_constrained import CASES, IDS, all_names, backoff, meets, name_mixture, order_mixture, probabilities  # noqa: F401

from ngram.generation.sampling import Sampler


@pytest.mark.parametrize("budget", [0, 7, 10**6], ids=["tables", "both", "no-tables"])
@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
@pytest.mark.parametrize("c", CASES[:4] + CASES[6:], ids=IDS[:4] + IDS[6:])
def test_top_names_are_the_most_probable_with_or_without_tables(kind, c, budget, request, monkeypatch):
    from ngram.generation import plans

    monkeypatch.setattr(plans, "SEARCH_EXPANSIONS", budget)
    is_most_probable(request.getfixturevalue(kind), c)


@pytest.mark.parametrize("first, budget", [(1, 10**6), (3, 7)], ids=["counted-at-once", "counted-then-tables"])
@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
@pytest.mark.parametrize("c", CASES[:4] + CASES[6:], ids=IDS[:4] + IDS[6:])
def test_a_crowded_question_within_the_budget_gives_the_same_names(kind, c, first, budget, request, monkeypatch):
    """Every question taken as crowded: its product counted after ``first`` expansions of the
    table-free search, which then goes on (to the tables past ``budget`` expansions), gives the
    same names."""
    from ngram.generation import plans

    monkeypatch.setattr(plans, "CROWDED", 0)
    monkeypatch.setattr(plans, "SEARCH_FIRST", first)
    monkeypatch.setattr(plans, "SEARCH_EXPANSIONS", budget)
    sampler = is_most_probable(request.getfixturevalue(kind), c)
    if first == 1:
        assert all(plan._counted is not None for plan in sampler._plans.values() if isinstance(plan, plans.LazyPlan))


def is_most_probable(model, c) -> Sampler:
    p = probabilities(model, all_names(model))
    valid = sorted(((q, x) for x, q in p.items() if meets(x, c)), reverse=True)
    sampler = Sampler(model, c)
    got = sampler.top(10)
    assert len(got) == min(10, len(valid))
    assert [lp for _, lp in got] == pytest.approx([math.log(q) for q, _ in valid[: len(got)]], rel=1e-9)
    assert all(meets(x, c) for x, _ in got) and len({x for x, _ in got}) == len(got)
    for x, lp in got:
        assert math.exp(lp) == pytest.approx(p[x], rel=1e-9)
    return sampler
