"""Exact constrained generation, constraint masses, top-k names and exact next-symbol vectors of
whole-name mixtures, each checked against brute-force enumeration on tiny models."""

import itertools
import math
import re
from collections import Counter

import numpy as np
import pytest

from ngram import NgramError, make_estimator, train
from ngram.lm.backoff.automaton import build, prefix_logmass
from ngram.generation.constraints import Constraints
from ngram.lm.mixtures.models import ContextMixture, NameMixture
from ngram.generation.sampling import Sampler, adjust_rows, generate, sample, top
from ngram.generation.walk import walk_lengths

CORPUS = ["ab", "ban", "nab", "anna", "b", "bab", "naan", "abba", "nan", "bb"]
L = 6  # every test constraint has max_len <= L, so enumerating names up to L is exact


def kn(names, order, unk=False):
    return train(names, order, make_estimator("modified-kneser-ney"), unk=unk)


@pytest.fixture(scope="module")
def backoff():
    return kn(CORPUS, 3, unk=True)  # <unk> has mass: it must never be written, and is left out of masses


@pytest.fixture(scope="module")
def name_mixture():
    forward = kn(CORPUS, 3)
    backward = train([x[::-1] for x in CORPUS], 3, make_estimator("modified-kneser-ney"), vocabulary=forward.vocabulary)
    return NameMixture([forward, backward], [False, True], [0.35, 0.65])


@pytest.fixture(scope="module")
def order_mixture():
    low, high = kn(CORPUS, 2), kn(CORPUS, 3)
    return ContextMixture([low, high], np.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.8]]))


def all_names(model, max_len=L):
    chars = model.vocabulary.characters
    return ["".join(t) for n in range(max_len + 1) for t in itertools.product(chars, repeat=n)]


def probabilities(model, names):
    return dict(zip(names, np.exp(model.score(names)[0])))


def meets(name, c: Constraints) -> bool:
    return (c.min_len <= len(name) <= c.max_len and name.startswith(c.prefix) and name.endswith(c.suffix)
            and all(x in name for x in c.contains) and not any(x in name for x in c.exclude)
            and (c.regex is None or re.fullmatch(c.regex, name) is not None))


CASES = [
    Constraints(max_len=5),
    Constraints(min_len=3, max_len=6),
    Constraints(prefix="a", max_len=5),
    Constraints(suffix="an", max_len=6),
    Constraints(contains=("nn",), max_len=6),
    Constraints(exclude=("b",), min_len=2, max_len=6),
    Constraints(regex="(ba|n)+a?", max_len=6),
    Constraints(prefix="b", suffix="b", contains=("a",), exclude=("aa",), min_len=3, max_len=6),
    Constraints(regex="[^b]{2,4}", contains=("an", "na"), max_len=6),
]
IDS = ["max", "length", "prefix", "suffix", "contains", "exclude", "regex", "combined", "regex+contains"]


def chi_square(observed: Counter, expected: dict, n: int) -> tuple[float, int]:
    big = [k for k, p in expected.items() if p * n >= 5]
    stat = sum((observed.get(k, 0) - expected[k] * n) ** 2 / (expected[k] * n) for k in big)
    rest_p, rest_o = 1.0 - sum(expected[k] for k in big), n - sum(observed.get(k, 0) for k in big)
    if rest_p * n >= 5:
        return stat + (rest_o - rest_p * n) ** 2 / (rest_p * n), len(big)
    return stat, len(big) - 1


def passes(stat, df):
    return stat < df + 5 * (2 * df) ** 0.5 + 10  # about 5 standard deviations: fixed seeds, no flakes


@pytest.mark.parametrize("kind", ["backoff", "name_mixture", "order_mixture"])
@pytest.mark.parametrize("path", ["plans", "plans renumbered", "walks", "listed"])
@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_mass_samples_and_top_match_brute_force(kind, path, c, request, monkeypatch):
    # Names are drawn by the exact plans over the product, by walks with the names the
    # constraints leave out rejected (what a constraint of few states gets while the walks it
    # needs are few), or from the list of the names that meet the constraints, each scored (what
    # a constraint only a few names meet gets: here every name up to 6 characters is "few"). The
    # plans count the product one way for a small model and another for a large one.
    from ngram.generation import few_names, sampler as module

    if path != "walks":
        monkeypatch.setattr(module.Sampler, "_fast", lambda self, i: False)
    if path.startswith("plans"):
        monkeypatch.setattr(few_names, "FEW_NAMES", -1)
    if path == "plans renumbered":
        # (a large model's product: the next states renumbered among those reached, the
        # distinct pairs found by sorting; a small one's numbered as they are and marked)
        from ngram.generation import plans

        monkeypatch.setattr(plans, "MARK_CELLS", 0)
        monkeypatch.setattr(plans, "MARK_RATIO", 0)
    elif path == "listed":
        monkeypatch.setattr(few_names, "LONG", 0)
        monkeypatch.setattr(few_names, "FEW_NAMES", 10**6)
        monkeypatch.setattr(few_names, "FEW_PREFIXES", 10**6)
    else:
        monkeypatch.setattr(module, "NARROW_WALK_LIMIT", 10**9)
        monkeypatch.setattr(module, "WALK_LIMIT", 10**9)
    sampler = matches_brute_force(request.getfixturevalue(kind), c)
    assert bool(sampler._walked) == (path == "walks")
    if path != "walks":
        listed = [isinstance(sampler.plan(i), few_names.FewNamesPlan) for i in range(len(sampler.parts))]
        assert all(listed) if path == "listed" else not any(listed)


def matches_brute_force(model, c: Constraints) -> Sampler:
    """The sampler's mass, 20,000 draws and top 8 for ``c`` against enumerating every name."""
    p = probabilities(model, all_names(model))
    valid = {x: q for x, q in p.items() if meets(x, c)}
    mass = sum(valid.values())
    sampler = Sampler(model, c)
    assert sampler.mass == pytest.approx(mass, rel=1e-9)
    # 20,000 constrained draws against the brute-force conditional distribution
    n = 20000
    names = sampler.generate(n, seed=3).names
    assert len(names) == n and all(meets(x, c) for x in names)
    stat, df = chi_square(Counter(names), {x: q / mass for x, q in valid.items()}, n)
    assert df >= 3 and passes(stat, df), (stat, df)
    # the k most probable valid names, exactly
    k = 8
    best = sampler.top(k)
    expected = sorted(valid.items(), key=lambda kv: -kv[1])[:k]
    assert [math.exp(lp) for _, lp in best] == pytest.approx([q for _, q in expected], rel=1e-9)
    assert all(meets(x, c) and math.exp(lp) == pytest.approx(p[x], rel=1e-9) for x, lp in best)
    return sampler


def test_temperature_and_top_k_shape_the_rows_before_conditioning(backoff):
    c = Constraints(suffix="a", max_len=5)
    t, k = 0.7, 3
    shaped = {}
    for name in all_names(backoff, 5):
        if not meets(name, c):
            continue
        q = 1.0
        for i in range(len(name) + 1):
            row = adjust_rows(backoff.probs(name[:i])[None, :], t, k)[0]
            q *= row[0] if i == len(name) else row[backoff.vocabulary.encode_context(name[i])[0]]
        shaped[name] = q
    z = sum(shaped.values())
    n = 20000
    names = sample(backoff, n, seed=5, temperature=t, top_k=k, suffix="a", max_len=5)
    stat, df = chi_square(Counter(names), {x: q / z for x, q in shaped.items()}, n)
    assert df >= 3 and passes(stat, df), (stat, df)
    # the mass reported is the model's, before temperature
    raw = sum(q for x, q in probabilities(backoff, all_names(backoff, 5)).items() if meets(x, c))
    assert generate(backoff, 10, seed=0, temperature=t, top_k=k, suffix="a", max_len=5).mass == pytest.approx(raw)


def test_reshaped_names_of_a_whole_name_mixture_are_walked_and_exact(name_mixture):
    """Temperature and top-k with lengths alone: each component's walk draws from its reshaped
    rows and the names the lengths leave out are rejected, which is the plans' conditional
    exactly (a component by its weight times its reshaped mass, then its reshaped names);
    no plan is made for it."""
    t, k = 0.7, 3
    c = Constraints(min_len=2, max_len=4)
    shaped = {}
    for name in all_names(name_mixture, 4):
        if not meets(name, c):
            continue
        total = 0.0
        for w, component, reverse in zip(name_mixture.weights, name_mixture.components, name_mixture.reverse):
            read = name[::-1] if reverse else name
            q = 1.0
            for i in range(len(read) + 1):
                row = adjust_rows(component.probs(read[:i])[None, :], t, k)[0]
                q *= row[0] if i == len(read) else row[component.vocabulary.encode_context(read[i])[0]]
            total += w * q
        shaped[name] = total
    z = sum(shaped.values())
    n = 20000
    sampler = Sampler(name_mixture, c, temperature=t, top_k=k)
    names = sampler.generate(n, seed=11).names
    assert len(names) == n and all(meets(x, c) for x in names)
    assert sampler._walked >= n and not sampler._plans  # (walked: no plan was made)
    stat, df = chi_square(Counter(names), {x: q / z for x, q in shaped.items()}, n)
    assert df >= 3 and passes(stat, df), (stat, df)


def test_default_has_no_empty_names_and_never_cuts(backoff):
    names = sample(backoff, 5000, seed=1, max_len=3)
    assert all(1 <= len(x) <= 3 for x in names)
    lengths = Counter(map(len, names))
    p = probabilities(backoff, all_names(backoff, 3))
    by_length = {n: sum(q for x, q in p.items() if len(x) == n) for n in (1, 2, 3)}
    z = sum(by_length.values())
    stat, df = chi_square(lengths, {n: q / z for n, q in by_length.items()}, 5000)
    assert passes(stat, df), (lengths, by_length)


def test_fast_length_only_path_is_the_exact_distribution():
    model = kn(CORPUS, 4)  # no <unk>, no shaping, lengths only: the walk with exact rejection
    sampler = Sampler(model, Constraints(min_len=1, max_len=4))
    assert sampler._fast(0)
    p = probabilities(model, all_names(model, 4))
    valid = {x: q for x, q in p.items() if 1 <= len(x) <= 4}
    z = sum(valid.values())
    names = sampler.generate(20000, seed=2).names
    stat, df = chi_square(Counter(names), {x: q / z for x, q in valid.items()}, 20000)
    assert passes(stat, df), (stat, df)


def test_a_model_with_unk_walks_too_rejecting_the_names_that_hold_it():
    """<unk> drawn, names holding it rejected: the model conditioned on names without <unk>,
    exactly, at the walk's speed (no tables over every context and position). (Ten copies of the
    corpus keep <unk>'s mass small enough that the walk is not handed over to the plan.)"""
    backoff = kn(CORPUS * 10, 3, unk=True)
    sampler = Sampler(backoff, Constraints(min_len=1, max_len=L))
    assert backoff.vocabulary.unk_id is not None and sampler._fast(0)
    p = probabilities(backoff, all_names(backoff, L))  # names of characters only: none holds <unk>
    valid = {x: q for x, q in p.items() if 1 <= len(x) <= L}
    z = sum(valid.values())
    unk = backoff.vocabulary.unk_id
    drawn, _ = walk_lengths(backoff, 5000, seed=0, max_len=L + 1, automaton=sampler._walker(0))
    kept, _ = sampler._walk_valid(0, 5000, np.random.default_rng(0))
    assert (drawn == unk).any() and not (kept == unk).any()  # <unk> is drawn, and no kept name holds it
    names = sampler.generate(20000, seed=3).names
    assert not sampler._plans  # walked, never planned
    stat, df = chi_square(Counter(names), {x: q / z for x, q in valid.items()}, 20000)
    assert passes(stat, df), (stat, df)


def test_novel_only_and_unique(backoff):
    names = sample(backoff, 300, seed=4, novel_only=True, min_len=2)
    assert len(names) == 300 and not set(names) & set(CORPUS)
    distinct = sample(backoff, 40, seed=4, unique=True, max_len=4)
    assert len(distinct) == len(set(distinct)) == 40
    with pytest.raises(NgramError, match="found only"):
        sample(backoff, 5, seed=0, unique=True, max_len=1)  # only "a", "b", "n" exist
    best = top(backoff, 5, novel_only=True)
    assert len(best) == 5 and not {x for x, _ in best} & set(CORPUS)
    everything = [x for x, _ in top(backoff, 40)]
    assert [x for x, _ in best] == [x for x in everything if x not in CORPUS][:5]


@pytest.mark.parametrize("settings, conflict", [
    (dict(prefix="abab", max_len=3), "longer than --max-len"),
    (dict(regex="a{5}", max_len=4), "no name"),
    (dict(prefix="a", suffix="b", regex="n+"), "no name"),
    (dict(contains=["z"]), "vocabulary"),
    (dict(exclude=["a"], contains=["ba"]), "conflicts"),
    (dict(regex="(ab"), "regex"),
    (dict(regex="^ab"), "anchors"),
])
def test_impossible_constraints_are_one_line_errors(backoff, settings, conflict):
    with pytest.raises(NgramError, match=conflict) as error:
        sample(backoff, 3, seed=0, **settings)
    assert "\n" not in str(error.value)


def test_sampling_comes_in_bounded_chunks(backoff):
    sampler = Sampler(backoff, Constraints(max_len=1))
    sizes = [len(part) for part in sampler.chunks(10_000, seed=0, chunk=1000)]
    assert sum(sizes) == 10_000 and max(sizes) <= 1000


def test_the_first_chunks_are_small_and_grow_to_the_bound(name_mixture, monkeypatch):
    """A reader that stops after a few names (``head``) ends a long run early: the first block is
    FIRST_CHUNK names, each next one twice as many up to the bound; the same names for a seed."""
    from ngram.generation import sampler as module

    monkeypatch.setattr(module, "FIRST_CHUNK", 16)
    sizes = [len(part) for part in Sampler(name_mixture, Constraints(max_len=6)).chunks(600, seed=3, chunk=100)]
    assert sizes == [16, 32, 64, 100, 100, 100, 100, 88]
    again = [x for part in Sampler(name_mixture, Constraints(max_len=6)).chunks(600, seed=3, chunk=100) for x in part]
    assert again == [x for part in Sampler(name_mixture, Constraints(max_len=6)).chunks(600, seed=3, chunk=100)
                     for x in part]


# ----------------------------------------------------------------------------------------------
# The automaton and exact next-symbol vectors of whole-name mixtures
# ----------------------------------------------------------------------------------------------
def test_order_mixture_automaton_rows_are_its_vectors(order_mixture):
    auto = build(order_mixture)
    for name in ["", "a", "ab", "bana", "nnnb", "abbaab"]:
        ids = order_mixture.vocabulary.encode_context(name)
        np.testing.assert_allclose(np.exp(auto.logrows[auto.walk(ids)]), order_mixture.probs(name), atol=1e-12)


def test_right_to_left_prefix_mass_is_bracketed_by_enumeration(name_mixture):
    backward = name_mixture.components[1]
    names = all_names(backward, 7)
    p = probabilities(backward, [x[::-1] for x in names])  # p of the reversed reading
    longer = 1.0 - sum(p.values())  # mass of names longer than 7: what enumeration misses
    assert 0 < longer < 0.5
    for prefix in ["", "a", "ba", "nn", "bab"]:
        counted = sum(q for x, q in p.items() if x[::-1].startswith(prefix))
        exact = math.exp(prefix_logmass(backward, backward.vocabulary.encode_context(prefix), True))
        assert counted - 1e-12 <= exact <= counted + longer + 1e-12
    assert math.exp(prefix_logmass(backward, [], True)) == pytest.approx(1.0, abs=1e-12)


def test_right_to_left_prefix_vectors_equal_the_sum_over_states_even_across_2000_nats(name_mixture):
    # The vector Σ_q v(q) p(c | q) exp g(next(q, c)) is one product with the automaton's inflow;
    # scores spread over 2000 nats underflow that product for some characters, which must then be
    # summed in logs rather than come out as -inf.
    from ngram.lm.backoff.automaton import _flow_vector
    from ngram.lm.base import logsumexp as _logsumexp

    auto = build(name_mixture.components[1])
    mild = -np.random.default_rng(0).uniform(0, 1, auto.n_states)
    steep = np.full(auto.n_states, -2000.0)
    steep[auto.next[auto.start, 1]] = 0.0  # only the state after the first character is not far below
    for g in (mild, steep):
        with np.errstate(divide="ignore"):
            expected = _logsumexp(np.log(auto.visits())[:, None] + auto.logrows[:, 1:] + g[auto.next[:, 1:]], axis=0)
        got = _flow_vector(auto, g)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    with np.errstate(divide="ignore"):
        assert not np.isfinite(np.log(auto.inflow().T @ np.exp(steep))).all()  # the product alone underflows


def test_right_to_left_prefix_mass_equals_a_sum_over_lengths():
    # With names of at most 4 characters (an MLE model of a corpus of short names) enumeration is complete.
    short = ["ab", "ba", "a", "bab", "abba", "b"]
    model = train([x[::-1] for x in short], 6, make_estimator("mle"))  # sees whole names: no longer ones
    names = all_names(model, 4)
    p = probabilities(model, [x[::-1] for x in names])
    assert sum(p.values()) == pytest.approx(1.0, abs=1e-12)
    for prefix in ["a", "b", "ab", "bab"]:
        exact = math.exp(prefix_logmass(model, model.vocabulary.encode_context(prefix), True))
        assert exact == pytest.approx(sum(q for x, q in p.items() if x[::-1].startswith(prefix)), abs=1e-12)


# ----------------------------------------------------------------------------------------------
# The command line: ngram sample / ngram top with constraints
# ----------------------------------------------------------------------------------------------
def _ngram(*args, cwd):
    import subprocess
    import sys

    from conftest import REPO

    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "ngram", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from ngram.formats.native import save

    folder = tmp_path_factory.mktemp("cli")
    save(kn(CORPUS * 2, 3), folder / "m.ngram")
    return folder / "m.ngram"


@pytest.mark.slow
def test_cli_sample_prints_exactly_n_constrained_names_and_the_mass(model_file):
    import json

    result = _ngram("sample", model_file, "-n", "50", "--seed", "1", "--suffix", "an", "--contains", "b",
                    "--max-len", "6", cwd=model_file.parent)
    names = result.stdout.splitlines()
    assert result.returncode == 0 and len(names) == 50, result.stderr
    assert all(x.endswith("an") and "b" in x and len(x) <= 6 for x in names)
    assert "names ending in -an, containing 'b', of 1 to 6 characters:" in result.stderr
    assert "of the model's mass" in result.stderr
    out = json.loads(_ngram("sample", model_file, "-n", "5", "--seed", "1", "--suffix", "an", "--contains", "b",
                            "--max-len", "6", "--json", cwd=model_file.parent).stdout,
                     parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    model = kn(CORPUS * 2, 3)
    brute = sum(q for x, q in probabilities(model, all_names(model)).items()
                if meets(x, Constraints(suffix="an", contains=("b",), max_len=6)))
    assert out["probability"] == pytest.approx(brute, rel=1e-9) and len(out["names"]) == 5


@pytest.mark.slow
def test_cli_top_and_conflicts(model_file, tmp_path):
    import json

    out = json.loads(_ngram("top", model_file, "-n", "4", "--prefix", "b", "--json", cwd=tmp_path).stdout)
    assert [r["name"][0] for r in out["names"]] == ["b"] * 4
    assert all(r["nll_nats_per_symbol"] == pytest.approx(-math.log(r["probability"]) / (len(r["name"]) + 1))
               for r in out["names"])
    table = _ngram("top", model_file, "-n", "3", "-o", tmp_path / "top.txt", cwd=tmp_path)
    assert table.returncode == 0 and len((tmp_path / "top.txt").read_text().splitlines()) == 4
    bad = _ngram("sample", model_file, "--prefix", "abab", "--max-len", "3", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "longer than --max-len 3" in bad.stderr



@pytest.mark.parametrize("processors", [1, 2])
def test_a_name_mixtures_plans_made_side_by_side_draw_what_one_after_the_other_draws(name_mixture, processors,
                                                                                     monkeypatch):
    """With two processors the right-to-left plan is made in a second thread: the same tables,
    so the same names for a seed and the same mass as made one after the other."""
    import threading

    from ngram.generation import sampler as module

    c = Constraints(max_len=L, suffix="a", contains=("n",))
    monkeypatch.setattr(module, "_processors", lambda: 1)
    alone = Sampler(name_mixture, c)
    expected = alone.generate(40, seed=11).names, alone.mass
    monkeypatch.setattr(module, "_processors", lambda: processors)
    started, start = [], threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (started.append(self.name), start(self))[1])
    side = Sampler(name_mixture, c)
    assert (side.generate(40, seed=11).names, side.mass) == expected
    assert started == (["ngram task 1"] if processors == 2 else [])


def test_a_refusal_of_the_plan_made_beside_the_first_is_raised(name_mixture, monkeypatch):
    from ngram.generation import sampler as module

    monkeypatch.setattr(module, "_processors", lambda: 2)
    monkeypatch.setattr(module, "WALK_STATES", 0)  # (the plans, not walks)
    made, make = [], module.make_plan

    def second_refused(*args, **kwargs):
        plan = make(*args, **kwargs)
        made.append(plan)
        if len(made) == 2:  # (refused once: a second try, had the first refusal been lost, would answer)
            backward, tries = plan._backward, []

            def refused(*a, **k):
                tries.append(1)
                if len(tries) == 1:
                    raise NgramError("the right-to-left side is past its budget")
                return backward(*a, **k)
            plan._backward = refused
        return plan

    monkeypatch.setattr(module, "make_plan", second_refused)
    with pytest.raises(NgramError, match="right-to-left side"):
        Sampler(name_mixture, Constraints(max_len=L, suffix="a")).generate(3, seed=0)
    assert len(made) == 2


@pytest.mark.parametrize("kind", ["backoff", "order_mixture", "name_mixture"])
def test_names_too_improbable_for_float64_are_told_apart_from_no_name(kind, request):
    # One forced name of 800 characters: its probability underflows float64, so its mass is 0,
    # yet the name exists (top lists it, its ln p finite): not "no name".
    model = request.getfixturevalue(kind)
    long = "ab" * 400
    c = Constraints(contains=[long], max_len=len(long))
    sampler = Sampler(model, c)
    assert sampler.mass == 0.0
    with pytest.raises(NgramError, match="too improbable to draw.*ngram top"):
        sampler.generate(2, seed=0)
    (name, logp), = Sampler(model, c).top(1)
    assert name == long and -np.inf < logp < math.log(np.finfo(float).tiny)


def test_a_request_no_name_of_the_model_meets_says_so():
    # (maximum likelihood gives unseen bigrams no mass: no name of the corpus holds 'qq')
    mle = train(CORPUS + ["q"], 2, make_estimator("mle"))
    with pytest.raises(NgramError, match="no name the model can make meets"):
        Sampler(mle, Constraints(contains=["qq"], max_len=6)).generate(2, seed=0)
