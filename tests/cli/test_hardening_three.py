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
from ngram import MLE, AddK, train
from ngram.core.errors import NgramError
from ngram.formats.native import save
from ngram.generation.constraints import Constraints
from ngram.generation.sampler import Sampler
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


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["sample", "top"])
def test_a_reachable_product_past_its_budget_is_one_line_error(folder, verb):
    """Twelve one-letter --contains, each automaton small, but on a model with many contexts the
    (context, constraint state) pairs names reach grow past the plan's budget: refused in one line
    naming the position and the count, its pairs counted before anything for them is made."""
    import numpy as np

    if not (folder / "wide.ngram").exists():
        rng = np.random.default_rng(0)
        names = ["".join(rng.choice(list(LETTERS), int(rng.integers(4, 10)))) for _ in range(20000)]
        save(train(names, 5, AddK(0.1)), folder / "wide.ngram")
    contains = [x for c in LETTERS[:12] for x in ("--contains", c)]
    start = time.perf_counter()
    result = measured(verb, "wide.ngram", "--max-len", "14", *contains, cwd=folder)
    one_error_line(result, "too many (context, constraint state) pairs", "pairs at position", "--max-len 14")
    assert result["peak_mb"] < 500 and time.perf_counter() - start < 10, result  # (about a second on an idle machine)


@pytest.mark.parametrize("verb", ["sample", "top"])
def test_a_product_past_its_budget_is_refused_at_once_by_either_verb(folder, verb, monkeypatch, capsys):
    """The same refusal from the command line in process, on the small model with the plan's budget
    lowered: top's table-free search is cut short once the product is counted (in under a second,
    where 20,000 expansions came first)."""
    from ngram.cli import main
    from ngram.generation import plans

    monkeypatch.setattr(plans, "STEP_CELLS", 64)
    contains = [x for c in "abci" for x in ("--contains", c)]
    start = time.perf_counter()
    assert main([verb, str(folder / "model.ngram"), "-n", "1000", "--max-len", "8", *contains]) == 1
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: the constraints reach too many (context, constraint state) "
                                               "pairs for this model within --max-len 8"), err
    assert elapsed < 1.0


@pytest.mark.parametrize("verb", ["sample", "top"])
def test_the_empty_pattern_means_the_same_for_sample_and_top(folder, verb):
    """The empty pattern matches only the empty name (as re.fullmatch): with names of at least one
    character, both verbs refuse it in the same line."""
    result = measured(verb, "model.ngram", "--regex", "", cwd=folder)
    line = one_error_line(result, "no name meets", "the empty pattern matches only the empty name")
    assert "matching //" in line


def test_constraints_the_model_gives_no_probability_are_refused_alike(tmp_path):
    """A model that gives some names no probability (maximum likelihood: 'bb' never follows in
    training) and constraints only such names meet: sample and top say so in the same line, and
    top writes no empty table."""
    model = train(["anna", "bob", "anna", "bo"], 3, MLE())
    c = Constraints(contains=("bb",), max_len=4)
    with pytest.raises(NgramError) as drawn:
        Sampler(model, c).generate(5, seed=0)
    with pytest.raises(NgramError) as listed:
        Sampler(model, c).top(5)
    assert str(drawn.value) == str(listed.value) and "no name the model can make meets" in str(listed.value)
    save(model, tmp_path / "mle.ngram")
    result = measured("top", "mle.ngram", "-n", "5", "--contains", "bb", cwd=tmp_path)
    assert one_error_line(result) == f"error: {listed.value}" and result["stdout"] == ""


# ----- 5. one huge line under a memory budget; junk members; bombs stay instant ----------------
@pytest.mark.slow
def test_a_line_too_long_for_the_budget_is_refused_as_soon_as_it_is_read(tmp_path):
    """One 20 MB line under --memory 16M (counting it takes about 16 bytes a byte, 320 MB): refused
    once the part read is past what a line may cost, not after holding the whole line."""
    (tmp_path / "long.txt").write_bytes(b"ab" * 10_000_000 + b"\nanna\n")
    start = time.perf_counter()
    result = measured("train", "long.txt", "--memory", "16M", "--max-name-length", "100000000", "-o", "m.ngram",
                      cwd=tmp_path)
    one_error_line(result, "long.txt, line 1", "does not fit the memory budget", "--memory")
    assert result["peak_mb"] < 120 and time.perf_counter() - start < 20, result
    assert not (tmp_path / "m.ngram").exists()


@pytest.mark.slow
def test_a_line_within_the_budget_trains_within_it(tmp_path):
    line = "abcde" * 10_000  # 50,000 characters of 5 letters: fits --memory 16M at order 6 (up to about 700 kB)
    (tmp_path / "long.txt").write_text(line + "\nanna\n")
    result = measured("train", "long.txt", "--memory", "16M", "--max-name-length", "100000000", "-o", "m.ngram",
                      "-q", cwd=tmp_path)
    assert result["rc"] == 0 and result["peak_mb"] < 120, result


@pytest.mark.slow
def test_a_model_file_declaring_too_many_members_is_refused_before_they_are_read(tmp_path):
    """100,000 junk members (a zip64 directory): refused from the end record, before the central
    directory of 100,000 entries is parsed."""
    import zipfile

    save(train(TINY, 2, AddK(0.1)), tmp_path / "model.ngram")
    with zipfile.ZipFile(tmp_path / "model.ngram") as source, \
            zipfile.ZipFile(tmp_path / "junk.ngram", "w", zipfile.ZIP_STORED) as junk:
        for info in source.infolist():
            junk.writestr(info, source.read(info))
        for k in range(100_000):
            junk.writestr(f"junk{k}.npy", b"")
        members = len(junk.infolist())
    start = time.perf_counter()
    result = measured("info", "junk.ngram", cwd=tmp_path)
    one_error_line(result, "junk.ngram", f"{members:,} members", "not an ngram model file")
    assert time.perf_counter() - start < 20 and result["peak_mb"] < 150, result


@pytest.mark.parametrize("verb", ["train", "tune", "evaluate"])
def test_an_encoding_name_holding_a_nul_is_an_unknown_encoding(folder, tmp_path, verb, capsys):
    # (only in process: an argument of a new process cannot hold a NUL; the codec lookup raised ValueError)
    from ngram.cli import main

    names = tmp_path / "names.txt"
    names.write_text("anna\nluca\nmaria\n", encoding="utf-8")
    argv = {"train": ["train", str(names), "-o", str(tmp_path / "m.ngram")],
            "tune": ["tune", str(names), "-o", str(tmp_path / "m.ngram"), "--orders", "2", "-s", "add-k"],
            "evaluate": ["evaluate", str(folder / "model.ngram"), str(names)]}[verb]
    assert main([*argv, "--encoding", "utf\x008"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown encoding"), err
    assert not (tmp_path / "m.ngram").exists()


@pytest.mark.parametrize("verb", ["sample", "top"])
def test_names_found_without_the_exact_tables_are_kept_when_their_mass_is_past_the_budget(folder, verb, monkeypatch,
                                                                                       capsys):
    """A constraint of few states is met by walking (or searching) without the product's tables;
    its exact mass needs them. Where they are past the budget (a vocabulary of thousands of
    characters), the names stand (exit 0) and the mass line says why it is missing; --json holds
    null and the reason."""
    import json

    from ngram.cli import main
    from ngram.generation import plans

    monkeypatch.setattr(plans, "STEP_CELLS", 64)
    monkeypatch.setattr(plans, "CROWDED", 10**9)  # (a crowded question's walks estimate it: below)
    model = str(folder / "model.ngram")
    assert main([verb, model, "-n", "3", "--contains", "a", "--seed", "1"][: 6 if verb == "top" else 8]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == (4 if verb == "top" else 3)
    assert "the model's mass of these names is not computed (the constraints reach too many" in captured.err
    assert main([verb, model, "-n", "3", "--contains", "a", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["probability"] is None and shown["probability_not_computed_because"].startswith("the constraints reach")
    if verb == "sample":  # crowded, the names walked: their share of the walks, with its standard error
        monkeypatch.setattr(plans, "CROWDED", 0)
        assert main([verb, model, "-n", "3", "--contains", "a", "--seed", "1"]) == 0
        assert "% (estimate, standard error) of the model's mass" in capsys.readouterr().err


def test_ranking_by_symbol_over_too_many_lengths_is_refused_at_once(folder, capsys):
    """--rank per-symbol runs one exact search per length: a --max-len of 100,000 (or a default
    taken from a corpus holding one very long line) is refused in one line, not searched for
    minutes; a range of at most 64 lengths is answered."""
    from ngram.cli import main

    model = str(folder / "model.ngram")
    start = time.perf_counter()
    assert main(["top", model, "-n", "3", "--rank", "per-symbol", "--max-len", "100000"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "at most 64" in err and "1 to 100,000" in err
    assert time.perf_counter() - start < 5
    assert main(["top", model, "-n", "3", "--rank", "per-symbol", "--min-len", "37", "--max-len", "100", "-q"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4


def test_a_fifo_given_as_a_model_file_is_refused_without_waiting_for_a_writer(tmp_path):
    """Opening a FIFO for reading waits for a writer (forever if none comes): a model file is
    opened without blocking, then refused as not a regular file, at once."""
    import os
    import subprocess
    import sys

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    os.mkfifo(tmp_path / "model.ngram")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ngram", "info", str(tmp_path / "model.ngram")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and time.perf_counter() - start < 30
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'model.ngram'}: not a regular file (a device or "
                                                  "pipe); a model file is a regular file"]
