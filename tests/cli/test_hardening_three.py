"""Hardening, round three (issue 25): bounded constraint automata and the empty pattern from the
command line, compact files checked like ordinary ones, one huge line under a memory budget.

Each command runs under the round-two wrapper (``test_hardening.measured``): a 3 GB address-space
limit and the child's peak resident memory. Wall-clock limits here are loose (the machine may be
shared); the library-level tests time the refusals themselves."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import TINY
from ngram import AddK, train
from ngram.formats.native import save
from test_hardening import measured, one_error_line

LETTERS = "abcdefghilmnopqrstuvz"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("hardening3")
    names = ["".join(LETTERS[(i * 7 + j * 3) % len(LETTERS)] for j in range(3 + i % 6)) for i in range(300)]
    save(train(names + TINY + [LETTERS], 3, AddK(0.1)), work / "model.ngram")
    return work


CONSTRAINT_CASES = {
    "regex exponential, sample": (["sample", "--regex", "(a|n)*a(a|n){20}", "--max-len", "50"],
                                  ["--regex '(a|n)*a(a|n){20}'", "more than", "states"]),
    "regex exponential, top": (["top", "--regex", ".*a.{30}", "--max-len", "50"], ["--regex '.*a.{30}'", "states"]),
    "huge repeat beyond --max-len": (["sample", "--regex", "a{99999999999}", "--max-len", "20"],
                                     ["no name meets", "a{99999999999}"]),
    "twenty one-letter --contains": (["top", "--max-len", "20", *[x for c in LETTERS[:20] for x in ("--contains", c)]],
                                     ["these constraints together", "states"]),
    "a lookahead": (["sample", "--regex", "(?=a)b"], ["lookaheads", "not supported"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CONSTRAINT_CASES))
def test_constraint_automata_past_the_budget_are_one_line_errors(folder, case):
    args, fragments = CONSTRAINT_CASES[case]
    start = time.perf_counter()
    result = measured(args[0], "model.ngram", *args[1:], cwd=folder)
    one_error_line(result, *fragments)
    assert time.perf_counter() - start < 20 and result["peak_mb"] < 300, result


@pytest.mark.parametrize("verb", ["sample", "top"])
def test_the_empty_pattern_means_the_same_for_sample_and_top(folder, verb):
    """The empty pattern matches only the empty name (as re.fullmatch): with names of at least one
    character, both verbs refuse it in the same line."""
    result = measured(verb, "model.ngram", "--regex", "", cwd=folder)
    line = one_error_line(result, "no name meets", "the empty pattern matches only the empty name")
    assert "matching //" in line
