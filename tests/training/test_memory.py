"""Engine choice (``training.train_file``), the one ``finish`` step, and memory budgets."""

import numpy as np
import pytest

from ngram import AddK, NgramError, read_names, train
from ngram.estimators import make_estimator
from ngram.lm.provenance import CorpusInfo, finish
from ngram.training.policy import BASELINE_BYTES, IN_MEMORY_BYTES_PER_BYTE, choose_engine
from ngram.training.trainer import Resources, corpus_fingerprint, train_file
from support import assert_same_model, generated_names

GIB = 1 << 30


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(generated_names(3000, seed=3)) + "\n\n", encoding="utf-8")
    return path


def test_auto_keeps_a_small_file_in_memory(names_file):
    engine, budget, why = choose_engine(names_file, machine=(8 * GIB, 8 * GIB))
    assert (engine, budget) == ("memory", None) and "in memory" in why


def test_auto_streams_a_file_too_big_for_a_quarter_of_the_machine(names_file):
    size = names_file.stat().st_size
    total = (size * IN_MEMORY_BYTES_PER_BYTE + BASELINE_BYTES) * 2  # the in-memory peak is half the machine
    engine, budget, why = choose_engine(names_file, machine=(total, total))
    assert engine == "streaming" and budget == total // 4 and "quarter" in why


def test_auto_budget_is_limited_by_what_is_available(names_file):
    total, available = 64 * GIB, 1 * GIB
    engine, budget, why = choose_engine(names_file, engine="streaming", machine=(total, available))
    assert budget == available // 2 and "available" in why


def test_stdin_and_compressed_files_stream(tmp_path):
    engine, budget, why = choose_engine("-", machine=(8 * GIB, 8 * GIB))
    assert engine == "streaming" and budget == 2 * GIB and "unknown" in why
    assert choose_engine(tmp_path / "names.txt.gz", machine=(8 * GIB, 8 * GIB))[0] == "streaming"


def test_a_budget_means_streaming_and_is_kept(names_file):
    assert choose_engine(names_file, memory=100 << 20)[:2] == ("streaming", 100 << 20)
    assert choose_engine(names_file, engine="dask", memory=64 << 20)[:2] == ("dask", 64 << 20)
    assert choose_engine(names_file, scheduler="tcp://127.0.0.1:1")[0] == "dask"


@pytest.mark.parametrize("engine,memory,scheduler", [("memory", 1 << 30, None), ("fast", None, None), ("streaming", None, "tcp://x:1")])
def test_contradictory_choices_are_refused(names_file, engine, memory, scheduler):
    with pytest.raises(NgramError):
        choose_engine(names_file, engine=engine, memory=memory, scheduler=scheduler)


@pytest.mark.parametrize("engine,memory", [("auto", None), ("memory", None), ("streaming", 16 << 20), ("auto", 32 << 20)])
def test_every_engine_gives_the_in_memory_model(names_file, engine, memory):
    corpus = read_names(names_file)
    expected = train(corpus.names, order=5, estimator=make_estimator("modified-kneser-ney"), source=str(names_file))
    model, summary = train_file(names_file, order=5, estimator=make_estimator("modified-kneser-ney"), resources=Resources(engine, memory))
    assert_same_model(model, expected)
    assert summary.engine == ("streaming" if memory else "memory")
    assert summary.memory_bytes == (None if memory is None else choose_engine(names_file, memory=memory)[1])
    assert (summary.names, summary.symbols, summary.blank_lines) == (len(corpus.names), model.corpus["symbols"], corpus.blank_lines)
    assert summary.reason and summary.as_dict()["engine"] == summary.engine
    assert (summary.corpus is not None) == (summary.engine == "memory")


def test_finish_records_the_corpus_the_same_way_for_every_producer():
    names = ["anna", "bob", "anna", "ßø"]
    model = train(["x"], order=2, estimator=AddK(0.1))
    finish(model, CorpusInfo.of_names(names, source="given", weights=[1, 2, 3, 4]))
    assert model.corpus == {"source": "given", "names": 4, "symbols": sum(len(n) + 1 for n in names),
                            "sha256": corpus_fingerprint(names), "total_weight": 10.0,
                            "longest_name": max(map(len, names))}
    direct = train(names, order=2, estimator=AddK(0.1), weights=[1, 2, 3, 4], source="given")
    assert model.corpus == direct.corpus and np.array_equal(model.train_names, direct.train_names)
    assert len(model.train_names) == 3  # unique names
    assert CorpusInfo.of_names([], "none").as_dict()["symbols"] == 0


# ----- the budget holds for the whole run (counting, estimating, writing) ---------------------

WRAPPER = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-c", sys.argv[1]], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)  # kilobytes on Linux
"""


def child_peak(code: str) -> int:
    """Peak resident bytes of a fresh Python running ``code`` (measured by a wrapper process of
    its own, so no earlier child of the test run counts)."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", WRAPPER, code], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("smoothing,order", [("modified-kneser-ney", 10), ("kneser-ney", 6)])
def test_a_small_budget_bounds_the_peak_of_the_whole_run(tmp_path, smoothing, order):
    from ngram.formats.native import load

    path = tmp_path / "names.txt"
    path.write_text("\n".join(generated_names(200_000, seed=5)) + "\n", encoding="utf-8")
    budget = 16 << 20
    expected = train(read_names(path).names, order=order, estimator=make_estimator(smoothing), source=str(path))
    # The counts alone (keys and counts, 16 bytes an n-gram) exceed the budget, the model more so.
    assert sum(expected.n_ngrams()) * 16 > budget
    # (hashlib: the corpus fingerprint needs it, and only training imports it)
    baseline = child_peak("import numpy, hashlib, ngram.training.trainer, ngram.formats.native, ngram.estimators")
    out = tmp_path / "model.ngram"
    peak = child_peak(f"from ngram.training.trainer import Resources, train_file; from ngram.estimators import make_estimator; "
                      f"train_file({str(path)!r}, {order}, make_estimator({smoothing!r}), resources=Resources(memory={budget}), "
                      f"output={str(out)!r})")
    assert peak <= baseline + budget, f"peak {peak / 2**20:.1f} MiB, baseline {baseline / 2**20:.1f} MiB"
    assert_same_model(load(out), expected)


@pytest.mark.slow
def test_the_model_file_is_written_without_the_model(names_file, tmp_path):
    from ngram.formats.native import load
    from ngram.core.budget import Budget

    # Windows of 300 elements and slices of 2,400: every window and slice boundary is crossed.
    budget = Budget(16 << 20, block=4000, run=10_000, window_elements=300)
    for smoothing in ("modified-kneser-ney", "absolute"):
        expected = train(read_names(names_file).names, order=6, estimator=make_estimator(smoothing), source=str(names_file))
        model, summary = train_file(names_file, 6, make_estimator(smoothing), resources=Resources(memory=budget), output=tmp_path / "m.ngram")
        assert model is None and "whole run" in summary.reason
        assert summary.ngrams_per_order == expected.n_ngrams()
        assert_same_model(load(tmp_path / "m.ngram"), expected)


def test_the_out_of_core_estimate_is_the_in_memory_discounting_strengths_included(names_file, tmp_path):
    """One discounting step for both runs: Pitman-Yor strengths reach the file written on disk too."""
    from ngram.formats.native import load

    estimator = make_estimator("modified-kneser-ney", strengths=[0.0, 0.5, 1.5])
    expected = train(read_names(names_file).names, order=4, estimator=estimator, source=str(names_file))
    model, summary = train_file(names_file, 4, estimator, resources=Resources(memory=16 << 20), output=tmp_path / "m.ngram")
    assert model is None and "on disk" in summary.reason
    assert_same_model(load(tmp_path / "m.ngram"), expected)


@pytest.mark.parametrize("settings", [dict(smoothing="add-k"), dict(smoothing="kneser-ney", prune=[0, 0, 1])])
def test_other_settings_stream_with_the_counts_in_memory_and_say_so(names_file, tmp_path, settings):
    from ngram.formats.native import load

    estimator = make_estimator(settings["smoothing"])
    expected = train(read_names(names_file).names, order=4, estimator=estimator, source=str(names_file),
                     prune=settings.get("prune"))
    model, summary = train_file(names_file, 4, estimator, resources=Resources(memory=16 << 20), output=tmp_path / "m.ngram", prune=settings.get("prune"))
    assert "bounds reading and counting" in summary.reason
    assert_same_model(model, expected)
    assert_same_model(load(tmp_path / "m.ngram"), expected)


# ----- evaluation reads a block at a time ------------------------------------------------------------

@pytest.mark.slow
def test_evaluating_a_file_needs_memory_for_the_model_not_for_the_file(tmp_path):
    """``evaluate_file`` with a compact model: the peak above loading is the lean automaton (a
    few numbers an n-gram) and two numbers a name, not the names, their encoding or a dense table
    (whole-corpus evaluation takes about three times as much here); the figures are evaluate's."""
    from ngram.formats.native import load, save
    from ngram.evaluation.metrics import evaluate, evaluate_file

    names = generated_names(200_000, seed=5)
    (tmp_path / "t.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    model = train(names[::2], 6, make_estimator("kneser-ney"))
    save(model, tmp_path / "m.ngram", compact=True)
    files = f"{str(tmp_path / 'm.ngram')!r}, {str(tmp_path / 't.txt')!r}"
    baseline = child_peak(f"from ngram.formats.native import load; import ngram.evaluation.metrics; load({files.split(',')[0]})")
    peak = child_peak(f"from ngram.formats.native import load; from ngram.evaluation.metrics import evaluate_file; m, t = {files}; evaluate_file(load(m), t)")
    bound = 40 * sum(model.n_ngrams()) + 16 * len(names) + (8 << 20)
    assert peak - baseline <= bound, f"peak {peak / 2**20:.1f} MiB, baseline {baseline / 2**20:.1f} MiB, bound {bound / 2**20:.1f} MiB"
    corpus = read_names(tmp_path / "t.txt")
    assert evaluate_file(load(tmp_path / "m.ngram"), tmp_path / "t.txt").total_nll == evaluate(model, corpus).total_nll
