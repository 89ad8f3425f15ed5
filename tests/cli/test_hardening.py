"""Hardening, round two (issue 15): inputs read once and checked as they stream in, bounded memory
before any error, numeric extremes, long lines, large vocabularies, diagnoses instead of internal
errors, degenerate held-out data.

Where memory is the point, each command runs under a wrapper process that reports its child's
peak resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss``); the child also gets a 3 GB
address-space limit so that a regression fails fast instead of filling the machine.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY
from support import ENV, measured
from ngram import AddK, read_names, train
from ngram.core.errors import NgramError
from ngram.core.files import remove_stale_temporaries
from ngram.formats.native import load, save
from ngram.lm.backoff.model import Model
from ngram.formats.validate import check_follower_bins, check_heldout
from ngram.core.vocabulary import Vocabulary

pytestmark = pytest.mark.slow  # subprocesses, megabyte inputs and memory bounds

def one_error_line(result: dict, *fragments: str) -> str:
    assert result["rc"] == 1, result
    lines = result["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result["stderr"]
    assert "internal error" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hardening")
    save(train(TINY, 3, AddK(0.1)), folder / "model.ngram")
    # 400 MB of one line in 400 gzip members of 1 MiB each: a 0.5 MB file.
    member = gzip.compress(b"a" * (1 << 20), compresslevel=9)
    (folder / "bomb.txt.gz").write_bytes(member * 400)
    (folder / "bomb.arpa.gz").write_bytes(member * 400)
    return folder


# ----- 2. bounded memory before any error --------------------------------------------------------
MEMORY_CASES = {
    "train /dev/zero": (["train", "/dev/zero", "-o", "out.ngram"], ["/dev/zero, line 1", "NUL byte"]),
    "evaluate /dev/zero": (["evaluate", "model.ngram", "/dev/zero"], ["/dev/zero, line 1", "NUL byte"]),
    "info /dev/zero": (["info", "/dev/zero"], ["/dev/zero", "not a regular file"]),
    "import /dev/zero": (["import", "/dev/zero", "-o", "out.ngram"], ["/dev/zero, line 1", "NUL byte", "not an ARPA file"]),
    "train gzip bomb": (["train", "bomb.txt.gz", "-o", "out.ngram"], ["bomb.txt.gz, line 1", "--max-name-length 1000"]),
    "evaluate gzip bomb": (["evaluate", "model.ngram", "bomb.txt.gz"], ["bomb.txt.gz, line 1", "--max-name-length 1000"]),
    "train gzip bomb --memory": (["train", "bomb.txt.gz", "--memory", "64M", "-o", "out.ngram"], ["bomb.txt.gz, line 1"]),
    "import gzip bomb": (["import", "bomb.arpa.gz", "-o", "out.ngram"], ["bomb.arpa.gz, line 1", "not an ARPA file"]),
    "classify --eval /dev/zero": (["classify", "model.ngram", "model.ngram", "--labels", "a,b", "--eval", "/dev/zero"],
                                  ["/dev/zero, line 1", "NUL byte", "not a labelled file"]),
    "classify --eval gzip bomb": (["classify", "model.ngram", "model.ngram", "--labels", "a,b", "--eval", "bomb.txt.gz"],
                                  ["bomb.txt.gz, line 1", "line of more than 2001 characters", "not a labelled file"]),
}


@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_unbounded_inputs_are_refused_within_bounded_memory(work, case):
    args, fragments = MEMORY_CASES[case]
    result = measured(*args, cwd=work)
    one_error_line(result, *fragments)
    assert result["peak_mb"] < 300, result
    assert not (work / "out.ngram").exists()


def test_a_long_line_in_a_later_block_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / "names.txt"
    names = [f"name{i}" for i in range(300_000)]  # past the first 1 MiB block
    names[250_000] = "x" * 5000
    path.write_text("\n".join(names) + "\n")
    with pytest.raises(NgramError, match=r"line 250001: name of 5000 characters is longer than --max-name-length 1000"):
        read_names(path)
    assert len(read_names(path, max_name_length=5000).names) == 300_000
    # An unfinished line is refused as soon as it passes the limit, before it ends.
    path.write_bytes(b"anna\n" + b"b" * (3 << 20))
    with pytest.raises(NgramError, match=r"line 2: name of more than 1000 characters"):
        read_names(path)


def test_bad_bytes_after_the_first_block_are_found_with_their_line(tmp_path):
    path = tmp_path / "names.txt"
    path.write_bytes(b"anna\n" * 300_000 + b"caf\xe9\n")
    with pytest.raises(NgramError, match=r"line 300001: not valid UTF-8 \(byte 0xe9\)"):
        read_names(path)
    assert read_names(path, encoding="latin-1").names[-1] == "café"
    path.write_bytes(b"anna\n" * 300_000 + b"b\x00b\n")
    with pytest.raises(NgramError, match=r"line 300001: contains a NUL byte"):
        read_names(path)


def test_a_multibyte_character_split_between_blocks_is_read_whole(tmp_path):
    path = tmp_path / "names.txt"
    # 'é' = c3 a9 at bytes 2**20 - 1 and 2**20: the first block ends inside it
    path.write_bytes(b"x\n" * ((1 << 19) - 1) + b"a\xc3\xa9cd\n")
    names = read_names(path).names
    assert names[-1] == "aécd" and len(names) == (1 << 19)


# ----- 1. one open file; reading while a model is replaced ------------------------------------------
WRITER = textwrap.dedent(
    """
    import sys, time
    from ngram import AddK, train
    from ngram.formats.native import save
    names = ["anna", "anne", "bob", "ann", "nan", "a b"]
    models = [train(names, 3, AddK(0.1)), train(names, 4, AddK(0.5))]
    for i in range(30):
        save(models[i % 2], sys.argv[1])
        time.sleep(0.01)
    """
)


def test_reading_while_the_model_is_replaced_never_fails(tmp_path):
    live = tmp_path / "live.ngram"
    save(train(TINY, 4, AddK(0.5)), live)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(live)], env=ENV)
    reads, orders = 0, set()
    try:
        while writer.poll() is None or reads < 30:
            model = load(live)  # would raise "array keys4 is missing" when checks and arrays came from two files
            orders.add(model.order)
            reads += 1
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0 and reads >= 30 and orders <= {3, 4}
    assert [p.name for p in tmp_path.iterdir()] == ["live.ngram"]


def test_a_member_declaring_more_bytes_than_the_file_holds_is_refused_before_reading(tmp_path):
    path = tmp_path / "model.ngram"
    save(train(TINY, 2, AddK(0.1)), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the central directory is gone: not a zip at all
    with pytest.raises(NgramError, match="not an ngram model file"):
        load(path)


# ----- 1. leftovers: stale temporary files of ours, and only those, are removed ------------------------
def test_the_next_save_removes_only_stale_temporaries_of_ours(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    now = time.time()
    files = {
        f".model.ngram.{dead_pid}.abcd1234.tmp": 120,  # writer gone, untouched for 2 minutes: removed
        f".model.ngram.{dead_pid}.efgh5678.tmp": 5,  # writer gone but touched just now: kept
        f".model.ngram.{os.getpid()}.ijkl9012.tmp": 120,  # writer alive: kept
        f".model.ngram.{os.getpid()}.mnop3456.tmp": 7200,  # untouched for 2 hours: removed whatever the pid
        ".notes.txt.tmp": 7200,  # not our pattern: kept
        "model.ngram.12.abcd1234.tmp": 7200,  # not hidden: not ours
    }
    for name, age in files.items():
        (tmp_path / name).write_bytes(b"partial")
        os.utime(tmp_path / name, (now - age, now - age))
    save(train(TINY, 2, AddK(0.1)), tmp_path / "model.ngram")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted({"model.ngram", f".model.ngram.{dead_pid}.efgh5678.tmp", f".model.ngram.{os.getpid()}.ijkl9012.tmp",
                           ".notes.txt.tmp", "model.ngram.12.abcd1234.tmp"})
    # An hour later, every temporary of ours is stale; the rest stays.
    removed = remove_stale_temporaries(tmp_path, now=now + 3 * 3600)
    assert sorted(p.name for p in removed) == sorted([f".model.ngram.{dead_pid}.efgh5678.tmp", f".model.ngram.{os.getpid()}.ijkl9012.tmp"])


def test_stale_temporaries_without_a_pid_from_older_versions_are_removed_after_an_hour(tmp_path):
    now = time.time()
    (tmp_path / "other.ngram").write_bytes(b"x")
    files = {
        ".model.ngram.abcd1234.tmp": 7200,  # the file being saved, 2 hours old: removed
        ".other.ngram.k_9z0a1b.tmp": 7200,  # an output of ours in the folder: removed
        ".model.ngram.efgh5678.tmp": 600,  # 10 minutes old: a save may still be writing it, kept
        ".notes.txt.abcd1234.tmp": 7200,  # no file of that name here: someone else's, kept
        ".model.ngram.ABCD1234.tmp": 7200,  # not mkstemp's characters: kept
        ".model.ngram.abcd123.tmp": 7200,  # 7 characters: kept
    }
    for name, age in files.items():
        (tmp_path / name).write_bytes(b"partial")
        os.utime(tmp_path / name, (now - age, now - age))
    save(train(TINY, 2, AddK(0.1)), tmp_path / "model.ngram")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted({"model.ngram", "other.ngram", ".model.ngram.efgh5678.tmp", ".notes.txt.abcd1234.tmp",
                           ".model.ngram.ABCD1234.tmp", ".model.ngram.abcd123.tmp"})


# ----- 3. counts and weights ------------------------------------------------------------------------
def test_a_model_failing_its_own_load_check_is_never_saved(tmp_path):
    path = tmp_path / "model.ngram"
    good = train(TINY, 2, AddK(0.1))
    save(good, path)
    before = path.read_bytes()
    bad = train(TINY, 2, AddK(0.1))
    bad.levels[1].logp[:] = -50.0  # the rows after each context no longer sum to 1
    with pytest.raises(NgramError, match=r"not saved, because it would not load back: .*sum to .* not 1.*previous file there is unchanged"):
        save(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.ngram"]


def test_counts_of_1e308_are_refused_in_one_line_by_every_engine(tmp_path):
    (tmp_path / "w.txt").write_text("anna\t1e308\nbob\t1e308\nann\t2\n")
    for extra in ([], ["--memory", "64M"]):  # the dask engine parses its blocks with the same parse_names
        result = measured("train", "--weighted", "w.txt", "-o", "out.ngram", *extra, cwd=tmp_path)
        one_error_line(result, "w.txt, line 1", "2**53")
        assert not (tmp_path / "out.ngram").exists()
    (tmp_path / "t.txt").write_text("anna\t1\nbob\t1\n")
    assert measured("train", "t.txt", "--weighted", "-o", "m.ngram", "-q", cwd=tmp_path)["rc"] == 0
    result = measured("evaluate", "--weighted", "m.ngram", "w.txt", "--json", cwd=tmp_path)
    one_error_line(result, "2**53")
    assert "NaN" not in result["stdout"]


def test_huge_weight_totals_are_scaled_exactly_and_evaluate_stays_finite(tmp_path):
    names = ["anna", "bob", "ann", "nan"] * 50
    (tmp_path / "big.txt").write_text("".join(f"{n}\t{2.0**52:.0f}\n" for n in names))
    (tmp_path / "one.txt").write_text("".join(f"{n}\t3\n" for n in names))
    corpus = read_names(tmp_path / "big.txt", weighted=True)
    assert corpus.weight_scale < 1 and corpus.weight_scale == 2.0 ** round(np.log2(corpus.weight_scale))
    assert len(set(corpus.weights)) == 1 and sum(w * (len(n) + 1) for w, n in zip(corpus.weights, corpus.names)) <= 2.0**53
    assert measured("train", "one.txt", "--weighted", "-o", "m.ngram", "-q", cwd=tmp_path)["rc"] == 0
    big = json.loads(measured("evaluate", "--weighted", "m.ngram", "big.txt", "--json", cwd=tmp_path)["stdout"])
    one = json.loads(measured("evaluate", "--weighted", "m.ngram", "one.txt", "--json", cwd=tmp_path)["stdout"])
    # equal weights: the same weighted average whatever their size
    assert big["nll_nats_per_symbol"] == pytest.approx(one["nll_nats_per_symbol"], rel=1e-12)


def _weighted_models(path, engines=("streaming", "dask")):
    """The in-memory model of a weighted file and the other engines' (blocks of about 100 bytes)."""
    from ngram.training.dask_engine import train_dask
    from ngram.core.budget import Budget
    from ngram.training.streaming import train_streaming

    corpus = read_names(path, weighted=True)
    expected = train(corpus, 3, AddK(0.1), weights=corpus.weights, source=corpus.source)
    models = {}
    if "streaming" in engines:
        models["streaming"] = train_streaming(path, 3, AddK(0.1), weighted=True,
                                              memory_bytes=Budget(1 << 30, block=100, run=1000, window_elements=50))[0]
    if "dask" in engines:
        pytest.importorskip("distributed")
        models["dask"] = train_dask(path, 3, AddK(0.1), weighted=True, memory_bytes=16 << 20)[0]
    return corpus, expected, models


def test_weight_totals_past_2_53_are_scaled_alike_by_every_engine(tmp_path):
    from support import assert_same_model

    names = ["anna", "bob", "ann", "nan", "ab"] * 40
    path = tmp_path / "w.txt"
    # 200 names of weight 2**47 to 3 x 2**47 and 3.8 symbols on average: a total of about 2**57.6, past 2**53 only
    # once several blocks are added up
    path.write_text("".join(f"{n}\t{2.0**47 * (1 + i % 3):.0f}\n" for i, n in enumerate(names)))
    corpus, expected, models = _weighted_models(path)
    assert corpus.weight_scale == 2.0**-5
    for engine, model in models.items():
        assert_same_model(model, expected)  # the same scaled counts: the same model to the last bit
        assert model.corpus["total_weight"] == pytest.approx(sum(corpus.weights), rel=1e-15), engine
    # just past 2**53: scaled by one half
    path.write_text(f"ab\t{2.0**51:.0f}\nba\t{2.0**51:.0f}\nb\t{2.0**50:.0f}\n")
    corpus, expected, models = _weighted_models(path, ("streaming",))
    assert corpus.weight_scale == 0.5
    assert_same_model(models["streaming"], expected)


def test_weights_beyond_scaling_are_refused_with_one_message_by_every_engine(tmp_path):
    path = tmp_path / "w.txt"
    messages = set()
    for text, fragment in ((f"anna\t{2.0**53:.0f}\n" * 40 + "bob\t5e-324\n", "w.txt, line 41: counts range too widely"),
                           ("anna\t3\nbob\t1e300\n", "w.txt, line 2: count 1e300 is above the largest count read")):
        path.write_text(text)
        for engine in ("memory", "streaming", "dask"):
            with pytest.raises(NgramError, match=fragment) as caught:
                _weighted_models(path, (engine,)) if engine != "memory" else read_names(path, weighted=True)
            messages.add(str(caught.value))
    assert len(messages) == 2  # one message per case, whatever the engine


# ----- 4. linear time in line length ----------------------------------------------------------------
def test_long_names_are_scored_along_their_length_not_a_step_per_symbol(monkeypatch):
    from ngram.lm.backoff import scoring

    model = train(["abcabd", "bcda", "dabca", "ab"], 4, AddK(0.1))
    rng = np.random.default_rng(1)
    long = "".join(rng.choice(list("abcd"), 200_000))
    encoded = model.vocabulary.encode(["ab", long, "cab"])
    scorer = scoring.build(model)
    steps = []
    real_walk = scoring._walk

    def counted(*args):
        for step in real_walk(*args):
            steps.append(step[1])
            yield step

    monkeypatch.setattr(scoring, "_walk", counted)
    totals = scoring.name_totals(scorer, encoded)
    assert len(steps) <= scoring.LONG_NAME  # the long name is not walked
    general = model.logprob_keys(*model.window_keys(encoded))
    assert np.allclose(totals, np.add.reduceat(general, encoded.starts), rtol=1e-12)
    assert np.array_equal(scoring.score(scorer, encoded), general)


@pytest.mark.parametrize("sparse", [False, True])
def test_scoring_along_names_and_sparse_children_give_the_walks_floats(italian_split, monkeypatch, sparse):
    from ngram import make_estimator
    from ngram.lm.backoff import scoring

    train_names, test_names = italian_split
    for order, estimator in ((1, "add-k"), (3, "kneser-ney"), (5, "witten-bell")):
        model = train(train_names, order, make_estimator(estimator))
        known = [n for n in test_names if set(n) <= set(model.vocabulary.characters)]
        encoded = model.vocabulary.encode(known + ["".join(known[:40])])
        reference = scoring.build(model)
        expected_steps, expected_totals = scoring.score(reference, encoded), scoring.name_totals(reference, encoded)
        monkeypatch.setattr(scoring, "LONG_NAME", 3)
        monkeypatch.setattr(scoring, "BLOCK", 7)
        if sparse:
            monkeypatch.setattr(scoring, "DENSE_CELLS", 0)
        scorer = scoring.build(model)
        assert (scorer.rank is None) == sparse
        assert np.array_equal(scoring.score(scorer, encoded), expected_steps)
        assert np.array_equal(scoring.name_totals(scorer, encoded), expected_totals)
        monkeypatch.undo()


def test_a_one_megabyte_name_trains_and_evaluates(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "long.txt").write_text("".join(rng.choice(list("abcdefghij"), 1 << 20)) + "\n")
    result = measured("train", "long.txt", "--max-name-length", "100000000", "-o", "m.ngram", "--json", cwd=tmp_path)
    assert result["rc"] == 0, result
    trained = json.loads(result["stdout"])
    result = measured("evaluate", "m.ngram", "long.txt", "--max-name-length", "100000000", "--json", cwd=tmp_path)
    assert result["rc"] == 0, result
    assert json.loads(result["stdout"])["nll_nats_per_symbol"] == pytest.approx(trained["train_nll_nats_per_symbol"], rel=1e-9)


def test_a_five_megabyte_line_trains_in_a_few_times_its_size(tmp_path):
    """Peak memory of training on one 5 MB line, less that of a one-name corpus, stays within 10
    bytes a character (the name's hash made its whole length at once took 40: 200 MB for 5 MB)."""
    rng = np.random.default_rng(3)
    (tmp_path / "tiny.txt").write_text("abcd\n")
    (tmp_path / "long.txt").write_bytes(rng.choice(np.frombuffer(b"abcd", np.uint8), 5_000_000).tobytes() + b"\n")
    base = measured("train", "tiny.txt", "-o", "t.ngram", "-q", cwd=tmp_path)
    result = measured("train", "long.txt", "--max-name-length", "100000000", "-o", "m.ngram", "-q", cwd=tmp_path)
    assert base["rc"] == 0 and result["rc"] == 0, result
    assert result["peak_mb"] - base["peak_mb"] < 10 * 5, (result["peak_mb"], base["peak_mb"])


def test_long_names_hash_in_pieces_to_the_same_fingerprints(monkeypatch):
    from ngram.lm.backoff import model as model_module
    from ngram.core.vocabulary import code_points

    rng = np.random.default_rng(1)
    names = ["".join(rng.choice(list("abcé"), int(n))) for n in rng.integers(0, 60, 3000)] + ["x" * 500, "", "ab"]
    codes = code_points(names)
    whole = model_module.hash_code_points(codes)
    monkeypatch.setattr(model_module, "_HASH_CHARS", 7)  # blocks of a few names, long names in pieces
    assert np.array_equal(model_module.hash_code_points(codes), whole)
    assert len(np.unique(whole)) == len(set(names))


# ----- 5. large vocabularies ----------------------------------------------------------------------
# (every verb on a 200,000-symbol model: tests/generation/test_large_vocabulary.py)


def test_the_load_check_sums_rows_in_blocks_with_the_same_result(italian_split, monkeypatch):
    from ngram.lm.backoff import normalise

    model = train(italian_split[0], 3, AddK(0.1))
    V, level = model.V, model.levels[2]
    contexts = level.keys // V
    owner = np.cumsum(np.concatenate(([True], contexts[1:] != contexts[:-1]))) - 1
    contexts = np.unique(contexts)
    lower = Model(vocabulary=model.vocabulary, order=2, levels=model.levels[:2])
    whole = normalise.unseen_lower_mass(lower, contexts, level.keys, owner)
    monkeypatch.setattr(normalise, "ROW_BLOCK_CELLS", 5 * V)  # 5 rows a block, like 200,000 symbols x 20
    assert np.array_equal(normalise.unseen_lower_mass(lower, contexts, level.keys, owner), whole)
    assert np.all((whole > 0) & (whole < 1))


# ----- 6. diagnoses, never the internal-error line -------------------------------------------------------
def _rewrite_header(source: Path, target: Path, change) -> None:
    with np.load(source) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["header"].tobytes())
    change(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode("ascii"), np.uint8)
    with open(target, "wb") as handle:
        np.savez(handle, **arrays)


def test_a_header_with_order_true_is_a_damaged_file(work, tmp_path):
    _rewrite_header(work / "model.ngram", tmp_path / "bad.ngram", lambda h: h.update(order=True))
    one_error_line(measured("info", "bad.ngram", cwd=tmp_path), "bad vocabulary or order", "damaged")


def test_a_lone_surrogate_in_the_vocabulary_prints_as_an_escape(work, tmp_path):
    def change(header):
        header["vocabulary"]["characters"] = sorted(header["vocabulary"]["characters"] + ["\udc80"])

    _rewrite_header(work / "model.ngram", tmp_path / "odd.ngram", change)
    result = measured("info", "odd.ngram", "--json", cwd=tmp_path)
    if result["rc"] == 1:  # a loader may refuse it instead: then with a diagnosis
        one_error_line(result)
        return
    assert result["rc"] == 0, result
    assert "\\udc80" in json.loads(result["stdout"])["vocabulary"]
    assert measured("info", "odd.ngram", cwd=tmp_path)["rc"] == 0


@pytest.mark.parametrize("bins", [[3, 2, 6], [1e300], [0], [True], "3"])
def test_bad_follower_bins_are_refused_by_the_check(bins):
    with pytest.raises(NgramError, match="follower_bins"):
        check_follower_bins(bins, "m.ngram")
    assert check_follower_bins([2, 3, 6], "m.ngram") == [2, 3, 6] and check_follower_bins(None, "m.ngram") == []


@pytest.mark.parametrize("bins", [[3, 2, 6], [1e300]])
def test_a_mixture_file_with_bad_follower_bins_is_a_damaged_file(tmp_path, bins):
    from ngram.lm.mixtures.models import ContextMixture

    models = [train(TINY, n, AddK(0.1)) for n in (1, 2, 3)]
    save(ContextMixture(models, np.full((12, 3), 1 / 3), follower_bins=(2, 3, 6)), tmp_path / "mix.ngram")

    def change(header):
        header["model"]["follower_bins"] = bins

    _rewrite_header(tmp_path / "mix.ngram", tmp_path / "bad.ngram", change)
    one_error_line(measured("info", "bad.ngram", cwd=tmp_path), "follower_bins", "damaged")


@pytest.mark.parametrize("size", ["99999999999999999999999999T", "9" * 400 + "G"])
def test_an_absurd_memory_budget_is_refused(work, size):
    one_error_line(measured("train", "--memory", size, "/dev/null", "-o", "out.ngram", cwd=work), "memory budget", "1P")


def test_plotting_at_dpi_0_is_refused(tmp_path):
    pytest.importorskip("matplotlib")
    from ngram.evaluation.plots import plot_heatmap

    with pytest.raises(NgramError, match="dpi must be between 10 and 1200, got 0"):
        plot_heatmap(train(TINY, 2, AddK(0.1)), tmp_path / "h.png", dpi=0)
    assert not list(tmp_path.iterdir())


ARPA = "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<s>\t-0.3\n-0.5\t</s>\n-0.5\ta\t-0.2\n-0.5\tb\t-0.2\n\n" \
       "\\2-grams:\n-0.3\t<s> a\n-0.3\ta b\n\n\\end\\\n"


@pytest.mark.parametrize("change, fragments", [
    (("-0.3\ta b\n", "-0.3\ta b a\n"), ["bad.arpa, line 13", "3 words in the \\2-grams: section", "a 2-gram line needs"]),
    (("ngram 2=2", "ngram 99999999999=0"), ["must declare orders 1..99999999999"]),
    (("ngram 1=4\nngram 2=2", "ngram 0=4\nngram 2=2"), ["must declare orders 1..2, got [0, 2]"]),
    (("ngram 1=4", "ngram 1=99999999999"), ["declares 99999999999 1-grams but the file has only"]),
])
def test_arpa_headers_and_lines_get_diagnoses(tmp_path, change, fragments):
    (tmp_path / "bad.arpa").write_text(ARPA.replace(*change))
    result = measured("import", "bad.arpa", "-o", "out.ngram", cwd=tmp_path)
    one_error_line(result, *fragments)
    assert result["peak_mb"] < 300


# ----- 7. degenerate held-out data ---------------------------------------------------------------------
def test_heldout_names_sharing_no_character_are_an_error_and_unknown_ones_are_counted():
    vocabulary = Vocabulary("abn ")
    with pytest.raises(NgramError, match="share no character"):
        check_heldout(vocabulary, ["xyz", "zz"], "val.txt")
    with pytest.raises(NgramError, match="no names"):
        check_heldout(vocabulary, [], "val.txt")
    with pytest.raises(NgramError, match="every one of the 2 names has a character outside"):
        check_heldout(vocabulary, ["anx", "bz"], "val.txt")
    assert check_heldout(Vocabulary("abn ", unk=True), ["anx", "bz"], "val.txt") == 2
    assert check_heldout(vocabulary, ["anna", "bob", "ban"], "val.txt") == 1
    assert check_heldout(vocabulary, ["anna", "ban"], "val.txt") == 0
