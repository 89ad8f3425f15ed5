"""Constraints only a few names meet are answered by listing those names from the constraint
automaton and scoring each: the list must be exactly the names that meet the constraints."""

import math

import numpy as np
import pytest

from ngram.generation.constraints import Constraints
from ngram.generation.few_names import FewNamesPlan, list_names
from ngram.generation.sampling import Sampler

from test_constrained import CASES, IDS, L, all_names, backoff, meets, name_mixture  # noqa: F401


def listed(model, c, **limits):
    names = list_names(c.dfa(model.vocabulary), c.min_len, c.max_len, model.V, model.vocabulary.unk_id, **limits)
    chars = model.vocabulary.characters
    return None if names is None else sorted("".join(chars[i - 1] for i in x) for x in names)


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_the_list_is_every_name_that_meets_the_constraints(backoff, c):  # noqa: F811
    # (the backoff fixture has <unk>, which no listed name may hold)
    expected = sorted(x for x in all_names(backoff, L) if meets(x, c) and "<unk>" not in x)
    assert listed(backoff, c, limit=10**6, prefixes=10**6) == expected
    if len(expected) > 1:
        assert listed(backoff, c, limit=len(expected) - 1, prefixes=10**6) is None  # one too many
    assert listed(backoff, c, limit=len(expected), prefixes=10**6) == expected


def test_too_many_prefixes_at_a_length_gives_up_early(backoff):  # noqa: F811
    c = Constraints(max_len=6, suffix="ab")  # a few hundred names, from 3^5 live prefixes
    assert listed(backoff, c, limit=10**6, prefixes=3**4) is None
    assert len(listed(backoff, c, limit=10**6, prefixes=10**6)) > 100


def test_a_forced_long_name_is_drawn_and_ranked_exactly(name_mixture):  # noqa: F811
    forced = "nab" * 100
    c = Constraints(contains=(forced,), max_len=300)
    sampler = Sampler(name_mixture, c)
    assert all(isinstance(sampler.plan(i), FewNamesPlan) for i in range(len(sampler.parts)))
    (name, logp), = sampler.top(5)
    assert name == forced and logp == pytest.approx(name_mixture.score([forced])[0][0], rel=1e-12)
    assert sampler.mass == pytest.approx(math.exp(logp), rel=1e-9)
    assert sampler.generate(3, seed=0).names == [forced] * 3


def test_a_small_regex_draws_its_names_in_proportion(name_mixture, monkeypatch):  # noqa: F811
    from ngram.generation import few_names

    monkeypatch.setattr(few_names, "LONG", 0)  # (listed under any length bound)
    c = Constraints(regex="(ab|ba)n?", max_len=6)
    assert isinstance(Sampler(name_mixture, c).plan(0), FewNamesPlan)
    names = ["ab", "ba", "abn", "ban"]
    p = np.exp(name_mixture.score(names)[0])
    drawn = Sampler(name_mixture, c).generate(20000, seed=1).names
    observed = np.array([drawn.count(x) for x in names]) / len(drawn)
    assert np.allclose(observed, p / p.sum(), atol=0.015)
    assert [x for x, _ in Sampler(name_mixture, c).top(10)] == [names[i] for i in np.argsort(-p, kind="stable")]
