"""Constraint automata with a size bound (issue 25, class 1): every automaton is exact for names up
to --max-len (checked against Python's re and substring tests by enumerating every string),
counted repeats are cut to the length bound, substring automata are built in linear time, and an
automaton past the state budget is refused in one line, quickly and in bounded memory, forwards
and read right to left."""

from __future__ import annotations

import itertools
import re
import time
import tracemalloc

import numpy as np
import pytest

from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from ngram.generation.constraints import MAX_STATES, Constraints, contains_dfa, minimize, regex_dfa, state_limit

ABN = Vocabulary("abn")
ITALIAN = Vocabulary("abcdefghilmnopqrstuvz")  # 21 letters, like the Italian corpus's alphabet


def strings(chars: str, max_len: int):
    return ["".join(t) for n in range(max_len + 1) for t in itertools.product(chars, repeat=n)]


def accepted(dfa, vocabulary, words, reverse=False):
    ids = {ch: i + 1 for i, ch in enumerate(vocabulary.characters)}
    return {w for w in words if dfa.accept[dfa.run(ids[c] for c in (w[::-1] if reverse else w))]}


def bounded(call, seconds=1.0, megabytes=100):
    """Run ``call`` twice: once timed (less than ``seconds`` of CPU time, so a loaded machine does not fail it), once traced (less than ``megabytes``
    allocated at the peak, Python and numpy allocations, by tracemalloc, which slows it down)."""
    def run(measure):
        start = time.process_time()
        try:
            return call()
        finally:
            measure(time.process_time() - start)

    def timed(elapsed):
        assert elapsed < seconds, f"{elapsed:.2f} s"

    def traced(_):
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < megabytes * 2**20, f"{peak / 2**20:.0f} MB"

    try:
        run(timed)
    finally:
        tracemalloc.start()
        result = run(traced)
    return result


REGEXES = ["(ba|n)+a?", "[^b]{2,4}", "a{2}b?", "(a|n)*a(a|n){2}", "(a|b){,2}n", "a*?b+?", "(?:ab|n)*",
           "(?P<x>a|b)n", "((a?){3}){2}b", "(a?b?){2}", "a{0}", "a{1,}b{2,}", "(){3}a", "a{x}", "[a-]n",
           ".{2}a.", "a|b|", "(a|n){3}a(a|n)*", "b{4,6}", "(ab){999999999}", "((ab|n?){2}a){1,2}"]


@pytest.mark.parametrize("pattern", REGEXES)
@pytest.mark.parametrize("max_len", [0, 3, 6])
def test_regex_automata_match_python_re_forwards_and_backwards(pattern, max_len):
    literal_braces = "{x}" in pattern or "-" in pattern  # these read '{', '}', 'x', '-' as characters
    vocabulary = Vocabulary("abn{x}-") if literal_braces else ABN
    words = strings("".join(vocabulary.characters), min(max_len, 4) if literal_braces else max_len)
    expected = {w for w in words if re.fullmatch(pattern, w)}
    assert accepted(regex_dfa(pattern, vocabulary, max_len), vocabulary, words) == expected
    smallest = minimize(regex_dfa(pattern, vocabulary, max_len))
    assert accepted(smallest, vocabulary, words) == expected
    assert smallest.n_states <= regex_dfa(pattern, vocabulary, max_len).n_states
    assert accepted(regex_dfa(pattern, vocabulary, max_len, reverse=True), vocabulary, words, reverse=True) == expected


@pytest.mark.parametrize("settings", [
    dict(prefix="ab", suffix="na", max_len=6),
    dict(contains=("ab", "ba", "n"), exclude=("nn",), max_len=6),
    dict(suffix="aba", contains=("bab",), max_len=7),
    dict(prefix="a", regex="(a|b)*n(a|b)*", exclude=("bb",), max_len=6),
    dict(contains=("aba",), exclude=("abab",), min_len=2, max_len=7),
])
def test_products_and_their_reversals_are_exact(settings):
    c = Constraints(**settings)
    words = [w for w in strings("abn", c.max_len) if c.min_len <= len(w)]

    def meets(w):
        return (w.startswith(c.prefix) and w.endswith(c.suffix) and all(x in w for x in c.contains)
                and not any(x in w for x in c.exclude) and (c.regex is None or re.fullmatch(c.regex, w)))

    expected = {w for w in words if meets(w)}
    assert accepted(c.dfa(ABN), ABN, words) == expected
    assert accepted(c.reversed_dfa(ABN), ABN, words, reverse=True) == expected
    assert accepted(c.dfa(ABN).reversed(), ABN, words, reverse=True) == expected


def test_substring_automata_are_linear_a_2000_character_contains_is_instant():
    pattern = ("abn" * 700)[:2000]
    dfa = bounded(lambda: Constraints(contains=(pattern,), max_len=2000).dfa(ABN), seconds=1.0)
    assert dfa.n_states == 2001 + 1 - 0  # dead, then 0..2000 characters matched (the last accepting)
    ids = [ABN.characters.index(c) + 1 for c in pattern]
    assert dfa.accept[dfa.run(ids)] and not dfa.accept[dfa.run(ids[:-1])]
    described = Constraints(contains=(pattern,), max_len=2000).describe()
    assert len(described) < 200 and "2,000 characters" in described  # messages stay one short line
    # the failure links against the definition on a shorter pattern with many self-overlaps
    short = [1, 2, 1, 2, 1, 3, 1, 2, 1, 2, 1, 2]
    dfa = contains_dfa(short, 4)
    for w in strings("abn", 8):
        ids = [ABN.characters.index(c) + 1 for c in w]
        assert dfa.accept[dfa.run(ids)] == ("abababnababab" in w)


# ----- refusals: one line, under a second, bounded memory ---------------------------------------
REFUSED = {
    "regex exponential forwards": (dict(regex="(a|n)*a(a|n){20}", max_len=50), False, "--regex '(a|n)*a(a|n){20}'"),
    "regex exponential forwards, {16}": (dict(regex="(a|n)*a(a|n){16}", max_len=50), False, "--regex"),
    "dot star then thirty": (dict(regex=".*a.{30}", max_len=50), False, "--regex '.*a.{30}'"),
    "regex exponential reversed": (dict(regex="(a|n){16}a(a|n)*", max_len=50), True, "read right to left"),
    "twenty one-letter contains": (dict(contains=tuple("abcdefghilmnopqrstuvz"[:20]), max_len=20), False,
                                   "these constraints together"),
    "twenty one-letter contains, reversed": (dict(contains=tuple("abcdefghilmnopqrstuvz"[:20]), max_len=20), True,
                                             "these constraints together"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_automata_past_the_budget_are_refused_in_one_line_within_a_second(case):
    settings, reverse, named = REFUSED[case]
    c = Constraints(**settings)
    with pytest.raises(NgramError) as error:
        bounded(lambda: c.reversed_dfa(ITALIAN) if reverse else c.dfa(ITALIAN), seconds=1.0, megabytes=150)
    message = str(error.value)
    assert "\n" not in message and named in message and f"{state_limit(ITALIAN.size):,} states" in message


def test_reversing_a_dfa_is_budgeted_too():
    forward = Constraints(regex="(a|n){16}a(a|n)*", max_len=50).dfa(ITALIAN)
    assert forward.n_states < 40  # small read forwards
    with pytest.raises(NgramError, match="right to left"):
        bounded(lambda: forward.reversed(), seconds=1.0, megabytes=150)


@pytest.mark.parametrize("settings", [
    dict(regex="a{99999999999}", max_len=20),
    dict(regex="(a|n)*a(a|n){20}", max_len=20),  # needs 22 characters at least
    dict(regex=".*a.{30}", max_len=20),
    dict(regex="(ab{99999999}){99999999}", max_len=20),
    dict(regex="b(a{7}){3}", max_len=20),
])
def test_repeats_longer_than_the_length_bound_match_nothing_at_once(settings):
    with pytest.raises(NgramError, match="no name meets"):
        bounded(lambda: Constraints(**settings).dfa(ITALIAN), seconds=0.5, megabytes=20)


@pytest.mark.slow
def test_counted_repeats_are_cut_to_the_length_bound():
    # a{1,99999999999} under --max-len 20 is a{1,20}: 20 states past the start, not a billion
    dfa = bounded(lambda: Constraints(regex="a{1,99999999999}", max_len=20).dfa(ITALIAN), seconds=0.5, megabytes=20)
    assert dfa.n_states <= 22
    # nested repeats of what may be empty: linear in the copies, not quadratic (an answer, not a refusal)
    nested = bounded(lambda: Constraints(regex="((a?b?){30}){30}", max_len=50).dfa(ABN), seconds=3.0)
    words = strings("ab", 8)
    assert accepted(nested, ABN, words) == {w for w in words if re.fullmatch("(a?b?)*", w)}


def test_the_budget_scales_with_the_vocabulary():
    assert state_limit(33) == MAX_STATES and state_limit(100_000) < MAX_STATES


@pytest.mark.parametrize("pattern, named", [
    ("(?=a)b", "lookaheads"), ("(?!a)b", "lookaheads"), ("(?<=a)b", "lookbehinds"), ("(?<!a)b", "lookbehinds"),
    ("(a)\\1", "backreferences"), ("(?P<x>a)(?P=x)", "backreferences"), ("(?i)a", "inline flags"),
    ("a*+", "possessive"), ("a**", "multiple repeat"), ("\\d", "escape \\d"), ("a\\b", "anchors"),
    ("^a", "anchors"), ("(?>a)", "atomic groups"), ("*a", "nothing to repeat"), ("a{3,2}", "bad repeat"),
    ("(" * 150 + "a" + ")" * 150, "nested more than"),
])
def test_unsupported_regex_syntax_names_itself(pattern, named):
    with pytest.raises(NgramError, match=re.escape(named)) as error:
        regex_dfa(pattern, ABN, 10)
    assert "\n" not in str(error.value) and str(error.value).startswith("--regex")


def test_the_empty_pattern_matches_only_the_empty_name():
    with pytest.raises(NgramError, match="the empty pattern matches only the empty name"):
        Constraints(regex="").dfa(ABN)
    dfa = Constraints(regex="", min_len=0, max_len=5).dfa(ABN)
    assert accepted(dfa, ABN, strings("abn", 3)) == {""}
    assert not Constraints(regex="").is_length_only()


def test_a_regex_small_forwards_but_exponential_reversed_serves_a_right_to_left_model():
    """(a|n){k}a(a|n)* is small read forwards; reversed it remembers k+1 characters. Within the
    length bound the reversal drops what cannot finish in time, and the whole-name mixture's
    right-to-left component samples it exactly (checked against the forward automaton)."""
    from ngram import make_estimator, train
    from ngram.generation.sampling import Sampler
    from ngram.lm.mixtures.models import NameMixture

    corpus = ["an", "nana", "anna", "na", "annan", "naan", "a", "nan", "bab", "nab"]
    forward = train(corpus, 3, make_estimator("modified-kneser-ney"))
    backward = train([x[::-1] for x in corpus], 3, make_estimator("modified-kneser-ney"),
                     vocabulary=forward.vocabulary)
    mixture = NameMixture([forward, backward], [False, True], [0.4, 0.6])
    c = Constraints(regex="(a|n){5}a(a|n)*", max_len=8)
    words = strings("abn", 8)
    expected = {w for w in words if re.fullmatch(c.regex, w)}
    vocabulary = forward.vocabulary
    assert accepted(c.dfa(vocabulary).reversed(), vocabulary, words, reverse=True) == expected
    names = Sampler(mixture, c).generate(200, seed=1).names
    assert len(names) == 200 and all(re.fullmatch(c.regex, x) for x in names)
    # the same shape at the size: refused in one line read right to left, or built within the bound
    big = Constraints(regex="(a|n){16}a(a|n)*", max_len=20)
    assert bounded(lambda: big.dfa(ITALIAN).reversed(), seconds=1.0).n_states <= state_limit(ITALIAN.size)
    assert bounded(lambda: big.reversed_dfa(ITALIAN), seconds=1.0).n_states <= state_limit(ITALIAN.size)


def test_a_reachable_product_past_its_table_budget_is_refused_before_it_is_built(monkeypatch):
    """Each constraint alone is small, but together with the model's contexts the pairs a name can
    reach grow with every position: the plan refuses in one line before the position that would
    pass its budget is expanded (here a budget small enough for a tiny model to pass it)."""
    from ngram import make_estimator, train
    from ngram.generation import plans
    from ngram.generation.sampler import Sampler

    from ngram.generation import sampler as module

    names = ["".join(w) for w in itertools.product("abn", repeat=4)]
    model = train(names, 3, make_estimator("witten-bell"))
    wide = Constraints(contains=list("abn") + ["ab", "ba", "nb"], max_len=12)
    monkeypatch.setattr(module, "WALK_STATES", 0)  # (the plans, not walks that would meet it first)
    monkeypatch.setattr(plans, "STEP_CELLS", 64)
    monkeypatch.setattr(module.Sampler, "_crowded_first", lambda self: False)  # (nor walks for a crowded plan)
    with pytest.raises(NgramError, match="too many .context, constraint state. pairs") as error:
        Sampler(model, wide).generate(3, seed=0)
    assert "\n" not in str(error.value) and "--max-len 12" in str(error.value)
    monkeypatch.setattr(plans, "STEP_CELLS", 1 << 23)
    assert len(Sampler(model, wide).generate(3, seed=0).names) == 3  # within the budget: answered


def test_a_crowded_question_is_walked_before_its_product_is_counted(monkeypatch):
    """A question whose plan could be far past its budget (``LazyPlan.crowded``) is met by walking
    when walks keep its names, whatever its constraint states: every name meets the constraints
    and its mass is the walks' estimate. Walks that keep none stop after one large round of
    CROWDED_FIRST_WALKS (not ever smaller rounds), and the plans take over: they count the product,
    then draw from it or refuse it."""
    from ngram import make_estimator, train
    from ngram.generation import plans
    from ngram.generation import sampler as module
    from ngram.generation.sampler import Sampler

    names = ["".join(w) for w in itertools.product("abn", repeat=4)]
    model = train(names, 3, make_estimator("witten-bell"))
    wide = Constraints(contains=list("abn") + ["ab", "ba", "nb"], max_len=12)
    monkeypatch.setattr(module, "WALK_STATES", 0)
    monkeypatch.setattr(plans, "STEP_CELLS", 64)
    sampler = Sampler(model, wide)
    drawn = sampler.generate(20, seed=0).names
    assert len(drawn) == 20 and all(set(x) <= set("abn") and all(p in x for p in ("ab", "ba", "nb")) for x in drawn)
    share, error = sampler.walk_estimate()
    assert 0 < share < 1 and error > 0
    assert sampler._walked >= 20

    never = Constraints(contains=["aaaaaaaaaa"], max_len=12)  # (a share no 500 walks meet)
    monkeypatch.setattr(module, "CROWDED_FIRST_WALKS", 500)
    sampler = Sampler(model, never)
    drawn = sampler.generate(3, seed=0).names
    assert all("aaaaaaaaaa" in x for x in drawn)
    assert sampler._walked == 500 and sampler._valid == 0  # one large round, then the plans (here the product fits)
    assert sampler.walk_estimate() is None  # (its mass is the plans' exact one)

    # Packed past the budget (here PACKED lowered to 1): fewer walks first, in proportion, however
    # many at least FEWEST_FIRST_WALKS, then the plans.
    monkeypatch.setattr(module, "PACKED", 1)
    monkeypatch.setattr(module, "FEWEST_FIRST_WALKS", 7)
    sampler = Sampler(model, never)
    crowding = sampler.plan(0).crowding()
    assert crowding > 1
    drawn = sampler.generate(3, seed=0).names
    assert all("aaaaaaaaaa" in x for x in drawn) and sampler._valid == 0
    assert sampler._walked == max(int(500 / crowding), 7)

    # Packed UNWALKED times past it (here 1): counted at once, never walked.
    monkeypatch.setattr(module, "UNWALKED", 1)
    sampler = Sampler(model, never)
    assert all("aaaaaaaaaa" in x for x in sampler.generate(3, seed=0).names) and sampler._walked == 0
