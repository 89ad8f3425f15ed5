"""One long line under a memory budget (issue 25): its counting cost comes from what the line
holds (bytes, and distinct n-grams bounded by its characters), so a long line of a small alphabet
trains where a line of as many bytes but ever-new n-grams is refused; both engines that stream
(streaming, Dask) refuse a line past the budget as soon as enough of it is read, before holding it."""

from __future__ import annotations

import time

import numpy as np
import pytest

from support import assert_same_model, measured
from ngram import NgramError, read_names, train
from ngram.core.budget import LINE_BYTES, LINE_NGRAM_BYTES, Budget
from ngram.estimators import make_estimator
from ngram.training.streaming import scan_corpus, train_streaming

BUDGET = 16 << 20  # the smallest --memory: a line may use 14M of it


def small_alphabet_line(n_bytes: int) -> bytes:
    rng = np.random.default_rng(0)
    return np.frombuffer(b"abcde", np.uint8)[rng.integers(0, 5, n_bytes)].tobytes()


def test_the_cost_of_a_line_grows_with_its_distinct_ngrams_not_only_its_length():
    line = Budget(BUDGET).line_budget(order=6)
    few = np.bincount(np.frombuffer(small_alphabet_line(100_000), np.uint8), minlength=256)
    cost, distinct = line.cost(100_000, few)
    assert distinct == 5 and cost == LINE_BYTES * 100_000 + LINE_NGRAM_BYTES * sum(min(100_001, 6**n) for n in range(1, 7))
    wide = np.zeros(256, np.int64)
    wide[0xE4], wide[0x80:0xC0] = 1, 1  # bytes of characters outside ASCII: every n-gram counted as new
    cost, distinct = line.cost(65, wide)
    assert distinct is None and cost == LINE_BYTES * 65 + LINE_NGRAM_BYTES * 6 * (1 + 1)  # one character
    assert line.any_bytes < line.most_bytes and line.allowed == BUDGET - Budget(BUDGET).run_bytes


def test_a_long_line_of_a_small_alphabet_trains_within_the_budget_as_in_memory(tmp_path):
    """700 kB of five letters at order 6 (the old worst-case rule allowed 68,759 bytes at --memory
    16M): about 16 bytes a byte, within the 14M a line may use; the model is the in-memory one."""
    path = tmp_path / "long.txt"
    path.write_bytes(small_alphabet_line(700_000) + b"\nanna\nbob\n")
    assert 700_000 > Budget(BUDGET).line_budget(6).any_bytes  # (the characters decide: the test can fail)
    model, scan = train_streaming(path, order=6, estimator=make_estimator("witten-bell"), memory_bytes=BUDGET,
                                  max_name_length=10**8)
    names = read_names(path, max_name_length=10**8).names
    assert scan.longest_name == 700_000
    assert_same_model(model, train(names, 6, make_estimator("witten-bell"), source=str(path)))


@pytest.mark.parametrize("text, held", [
    ("".join(chr(0x4E00 + i % 3000) for i in range(300_000)), "every n-gram counted as new"),  # 900 kB
    ("ab" * 10_000_000, "2 distinct characters"),  # 20 MB: refused once its length alone is past the budget
])
def test_a_line_past_the_budget_is_refused_as_soon_as_enough_is_read(tmp_path, text, held):
    path = tmp_path / "long.txt"
    path.write_text(text + "\nanna\n", encoding="utf-8")
    start = time.process_time()
    with pytest.raises(NgramError, match="does not fit the memory budget in one piece") as error:
        scan_corpus(path, Budget(BUDGET).block_bytes, max_name_length=10**8,
                    line_budget=Budget(BUDGET).line_budget(6))
    assert time.process_time() - start < 1.0
    message = str(error.value)
    assert "\n" not in message and "line 1" in message and "--memory 16M" in message and held in message


def test_the_dask_engine_refuses_a_line_past_its_budget_before_starting_a_cluster(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'ngram-names[dask]')")
    from ngram.training.dask_engine import train_dask

    path = tmp_path / "long.txt"
    path.write_bytes(b"ab" * 10_000_000 + b"\nanna\n")
    start = time.perf_counter()
    with pytest.raises(NgramError, match="does not fit the memory budget in one piece") as error:
        train_dask(path, order=6, memory_bytes=BUDGET, max_name_length=10**8)
    assert time.perf_counter() - start < 5  # (no cluster started: that alone takes seconds)
    assert "\n" not in str(error.value) and "long.txt, line 1" in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("engine, fits", [("streaming", True), ("streaming", False), ("dask", False)])
def test_cli_a_long_line_trains_or_is_refused_in_one_line_within_the_budget(tmp_path, engine, fits):
    line = small_alphabet_line(700_000) if fits else small_alphabet_line(20_000_000)
    (tmp_path / "long.txt").write_bytes(line + b"\nanna\n")
    start = time.perf_counter()
    result = measured("train", "long.txt", "--engine", engine, "--memory", "16M", "--max-name-length", "100000000",
                      "-o", "m.ngram", "-q", cwd=tmp_path)
    if fits:
        assert result["rc"] == 0 and (tmp_path / "m.ngram").exists(), result
    else:
        lines = result["stderr"].splitlines()
        assert result["rc"] == 1 and len(lines) == 1 and "does not fit the memory budget" in lines[0], result
        assert not (tmp_path / "m.ngram").exists() and time.perf_counter() - start < 20
    assert result["peak_mb"] < 150, result  # the interpreter and 16M, not the 20 MB line counted
