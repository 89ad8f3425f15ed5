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
    with pytest.raises(NgramError, match="too many .context, constraint state. pairs") as error:
        Sampler(model, wide).generate(3, seed=0)
    assert "\n" not in str(error.value) and "--max-len 12" in str(error.value)
    monkeypatch.setattr(plans, "STEP_CELLS", 1 << 23)
    assert len(Sampler(model, wide).generate(3, seed=0).names) == 3  # within the budget: answered


# ----- many --contains: the reversal is built from the parts, never from the product ----------------
TWELVE = tuple("abcdefghilmn")


def test_a_whole_name_mixture_reverses_each_constraint_not_their_product():
    """Twelve one-letter --contains make 2^12 product states; the right-to-left component's
    automaton is the product of the reversed parts (as small as the forward one, built as fast),
    where a subset construction over the product is past its work bound (with fourteen it took
    over a minute)."""
    from ngram import make_estimator, train
    from ngram.generation.sampling import Sampler
    from ngram.lm.mixtures.models import NameMixture

    corpus = ["".join(TWELVE[i:] + TWELVE[:i]) for i in range(len(TWELVE))] + ["abc", "lmn", "nia"]
    forward = train(corpus, 2, make_estimator("witten-bell"))
    backward = train([x[::-1] for x in corpus], 2, make_estimator("witten-bell"), vocabulary=forward.vocabulary)
    mixture = NameMixture([forward, backward], [False, True], [0.5, 0.5])
    c = Constraints(contains=TWELVE, max_len=12)
    sampler = Sampler(mixture, c)
    ahead, behind = bounded(lambda: (sampler.dfa_of(0), sampler.dfa_of(1)), seconds=1.0, megabytes=100)
    assert ahead.n_states == behind.n_states == 2**12 + 1  # (every subset of the letters seen, and the dead state)
    ids = {ch: i + 1 for i, ch in enumerate(forward.vocabulary.characters)}
    name = corpus[3]
    assert behind.accept[behind.run(ids[ch] for ch in name[::-1])]
    assert not behind.accept[behind.run(ids[ch] for ch in name[:-1][::-1])]


@pytest.mark.slow
def test_reversing_a_large_dfa_is_bounded_by_its_work():
    """A subset construction over Q states costs about Q bits per state and symbol class, so a
    large DFA may build fewer reversed states: refused in one line within a second, saying why."""
    product = Constraints(contains=TWELVE, max_len=12).dfa(ITALIAN)
    with pytest.raises(NgramError, match="for a reversal of 4,096 states") as error:
        bounded(lambda: product.reversed(), seconds=1.0, megabytes=100)
    assert "\n" not in str(error.value)


def test_a_regex_past_the_budget_reversed_as_a_tree_is_reversed_as_an_automaton(monkeypatch):
    """Where the reversed tree's automaton is past the budget, the forward automaton reversed
    within --max-len serves (the same language, checked by enumeration)."""
    from ngram.generation import constraints

    real = constraints.regex_dfa

    def refuse_reversed(text, vocabulary, max_len=None, reverse=False):
        if reverse:
            raise constraints.TooManyStates("--regex: past the budget (simulated)")
        return real(text, vocabulary, max_len)

    monkeypatch.setattr(constraints, "regex_dfa", refuse_reversed)
    c = Constraints(regex="(a|b){3}n(a|b|n)*", contains=("ab",), max_len=7)
    words = strings("abn", 7)
    expected = {w for w in words if re.fullmatch(c.regex, w) and "ab" in w}
    assert expected
    assert accepted(c.reversed_dfa(ABN), ABN, words, reverse=True) == expected


def test_the_product_refusal_names_the_size_it_would_need():
    c = Constraints(contains=tuple("abcdefghilmnopqrstuvz"[:20]), max_len=20)
    with pytest.raises(NgramError, match="up to 1,048,576 as the product of its parts"):
        bounded(lambda: c.dfa(ITALIAN), seconds=1.0, megabytes=150)


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["sample", "top"])
def test_cli_twenty_one_letter_contains_are_refused_in_one_line_at_once(tmp_path, verb):
    import os
    import subprocess
    import sys

    from conftest import REPO
    from ngram import make_estimator, train
    from ngram.formats.native import save
    from ngram.lm.mixtures.models import NameMixture

    letters = "abcdefghilmnopqrstuvz"
    corpus = [letters[i:] + letters[:i] for i in range(len(letters))]
    forward = train(corpus, 3, make_estimator("witten-bell"))
    backward = train([x[::-1] for x in corpus], 3, make_estimator("witten-bell"), vocabulary=forward.vocabulary)
    save(NameMixture([forward, backward], [False, True], [0.5, 0.5]), tmp_path / "m.ngram")
    contains = [arg for ch in letters[:20] for arg in ("--contains", ch)]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ngram", verb, str(tmp_path / "m.ngram"), *contains, "--max-len", "20"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    elapsed = time.perf_counter() - started
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stderr.startswith("error:")
    assert "up to 1,048,576 as the product of its parts" in done.stderr
    assert elapsed < 20  # (a sanity bound for a loaded machine: the process start; scripts/hardening_bench.py times it)


def test_where_the_reversed_parts_are_past_the_budget_the_product_is_reversed(monkeypatch):
    """The constraints together can trim what each alone cannot: a right-to-left component then
    gets the product reversed (within its work bound), the same language read backwards."""
    from ngram import make_estimator, train
    from ngram.generation.sampling import Sampler
    from ngram.lm.mixtures.models import NameMixture

    from ngram.generation import constraints

    def past_the_budget(self, vocabulary):
        raise constraints.TooManyStates("past the budget (simulated)")

    monkeypatch.setattr(Constraints, "reversed_dfa", past_the_budget)
    corpus = ["an", "nana", "anna", "bab", "nab", "abba", "banan"]
    forward = train(corpus, 2, make_estimator("witten-bell"))
    backward = train([x[::-1] for x in corpus], 2, make_estimator("witten-bell"), vocabulary=forward.vocabulary)
    c = Constraints(regex="(a|b)*n(a|n)*", contains=("ab",), max_len=6)
    sampler = Sampler(NameMixture([forward, backward], [False, True], [0.5, 0.5]), c)
    words = strings("abn", 6)
    expected = {w for w in words if re.fullmatch(c.regex, w) and "ab" in w}
    assert expected and accepted(sampler.dfa_of(1), forward.vocabulary, words, reverse=True) == expected


@pytest.mark.parametrize("collide", [False, True])
def test_minimize_classes_rows_exactly_even_when_their_hashes_collide(collide, monkeypatch):
    """``_row_classes`` (minimize's refinement step) puts two rows in one class exactly when they are
    equal; with every hash made equal, the check falls back to sorting the rows."""
    from ngram.generation import constraints

    if collide:
        monkeypatch.setattr(constraints, "_ROW_HASH", np.zeros(1024, np.uint64))
    rows = np.random.default_rng(3).integers(0, 3, (500, 4)).astype(np.int32)
    classes, count = constraints._row_classes(rows)
    _, expected = np.unique(rows, axis=0, return_inverse=True)
    expected = expected.reshape(-1)
    assert count == expected.max() + 1
    same = classes[:, None] == classes[None, :]
    assert np.array_equal(same, expected[:, None] == expected[None, :])


def test_a_length_of_one_character_is_said_in_the_singular():
    assert Constraints(min_len=1, max_len=1).describe() == "names of 1 character"
    assert Constraints(min_len=3, max_len=3).describe() == "names of 3 characters"
    assert Constraints(min_len=1, max_len=4).describe() == "names of 1 to 4 characters"


@pytest.mark.parametrize("seed", range(6))
def test_fewest_symbols_to_acceptance_one_by_one_agree_with_the_array_search(seed, monkeypatch):
    """A narrow frontier on a small automaton is searched a state at a time: the same distances
    as the frontier-at-a-time array search, on random automata (dead state 0, some unreachable)."""
    from ngram.generation import constraints as module
    from ngram.generation.constraints import DFA

    rng = np.random.default_rng(seed)
    Q, V = int(rng.integers(2, 60)), int(rng.integers(2, 6))
    delta = rng.integers(0, Q, size=(Q, V))
    delta[0] = 0
    accept = rng.random(Q) < 0.1
    accept[0] = False
    found = {}
    for frontier in (0, 10**9):
        monkeypatch.setattr(module, "FEW_FRONTIER", frontier)
        found[frontier] = DFA(delta.copy(), accept.copy(), 1).remaining().copy()
    assert np.array_equal(found[0], found[10**9])
    assert found[0][0] == module.UNREACHABLE and (found[0][accept] == 0).all()


def _moore_states(delta: np.ndarray, accept: np.ndarray) -> int:
    """The number of classes of states with the same language, by plain partition refinement from
    accepting / not accepting (the reference for ``minimize``)."""
    block = [int(a) for a in accept]
    while True:
        signature = [(block[q], *(block[int(t)] for t in delta[q])) for q in range(len(accept))]
        names = {s: i for i, s in enumerate(sorted(set(signature)))}
        refined = [names[s] for s in signature]
        if len(names) == len(set(block)):
            return len(names)
        block = refined


@pytest.mark.parametrize("seed", range(8))
def test_minimize_finds_as_few_states_as_plain_refinement_and_keeps_the_language(seed):
    """``minimize`` starts from states split by acceptance and by the fewest symbols to accept (a
    property of the language): as few states as refining from acceptance alone, the same words."""
    from ngram.generation.constraints import DFA, trim

    rng = np.random.default_rng(seed)
    k, V = int(rng.integers(3, 20)), 4  # (symbol 0 the boundary: no transition)
    small = rng.integers(0, k, size=(k, V))
    small_accept = rng.random(k) < 0.3
    small_accept[1] = True
    # Each state of a small automaton in two copies, every edge going to either copy of its
    # target: the copies are equivalent, so at most k states are needed.
    Q = 2 * k
    delta = (2 * small[np.arange(Q) // 2] + rng.integers(0, 2, size=(Q, V))).astype(np.int32)
    delta[delta == 1] = 0  # (both copies of state 0 are the dead state 0)
    delta[:2], delta[:, 0] = 0, 0
    accept = small_accept[np.arange(Q) // 2].copy()
    accept[:2] = False
    delta, accept = delta[np.r_[0, 2:Q]], accept[np.r_[0, 2:Q]]  # (one dead state)
    delta = np.where(delta > 0, delta - 1, 0).astype(np.int32)
    dfa = trim(DFA(delta, accept, 1))
    smallest = minimize(dfa)
    assert smallest.n_states == _moore_states(dfa.delta, dfa.accept) < dfa.n_states
    words = strings("abn", 6)
    assert accepted(smallest, ABN, words) == accepted(dfa, ABN, words)


@pytest.mark.parametrize("settings", [dict(contains=tuple("abn")), dict(regex="(a|n)*a(a|n){3}"),
                                      dict(prefix="ab", suffix="na", contains=("bn",)), dict(exclude=("b",), contains=("n",))])
def test_a_built_automatons_distances_from_the_start_are_its_breadth_first_ones(settings, monkeypatch):
    """The construction hands trim each state's distance from the start (its breadth-first level),
    which trim would otherwise search for again: the same distances."""
    from ngram.generation import constraints as module

    handed = []
    trim = module.trim

    def checked(dfa, max_len=None, depth=None):
        if depth is not None:
            handed.append(np.array_equal(depth, dfa.depths()))
        return trim(dfa, max_len, depth)

    monkeypatch.setattr(module, "trim", checked)
    Constraints(max_len=7, **settings).dfa(ABN)
    assert handed and all(handed)


@pytest.mark.parametrize("reverse", [False, True])
def test_an_automaton_accepts_rows_of_names_as_it_runs_each(reverse):
    """``DFA.accepts`` reads every name of an (names x symbols) array at once, each up to its
    length (from its last symbol where ``reverse``): the answer ``run`` gives name by name."""
    dfa = Constraints(prefix="a", contains=("bn",), max_len=7).dfa(ABN)
    words = strings("abn", 7)
    ids = np.zeros((len(words), 8), np.int64)
    for row, w in enumerate(words):
        ids[row, : len(w)] = ABN.encode_context(w[::-1] if reverse else w)
    length = np.array([len(w) for w in words])
    expected = [bool(dfa.accept[dfa.run(ABN.encode_context(w))]) for w in words]
    assert dfa.accepts(ids, length, reverse).tolist() == expected and any(expected)
