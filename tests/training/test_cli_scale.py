"""The command line of the engines for big corpora and of pruning, run as a user would."""

import gzip
import json

import numpy as np
import pytest

from support import ngram
from support import generated_names
from ngram.formats.native import load

pytestmark = pytest.mark.slow  # the command line in subprocesses, on corpora of thousands of names


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(name for name in generated_names(3000, seed=2) if name.strip()) + "\n", encoding="utf-8")
    return path


def same_levels(a, b):
    return all(np.array_equal(x.keys, y.keys) and np.array_equal(x.logp, y.logp) and np.array_equal(x.bow, y.bow)
               for x, y in zip(a.levels, b.levels))


def test_train_with_a_memory_budget_writes_the_in_memory_model(tmp_path, corpus):
    assert ngram("train", corpus, "-N", "5", "-s", "kneser-ney", "-o", "a.ngram", "-q", cwd=tmp_path).returncode == 0
    result = ngram("train", corpus, "-N", "5", "-s", "kneser-ney", "-o", "b.ngram", "--memory", "64M", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["engine"] == "streaming" and out["names"] == load(tmp_path / "a.ngram").corpus["names"]
    a, b = load(tmp_path / "a.ngram"), load(tmp_path / "b.ngram")
    assert same_levels(a, b) and a.corpus == b.corpus


def test_compressed_corpus_from_the_command_line(tmp_path, corpus):
    packed = tmp_path / "names.txt.gz"
    packed.write_bytes(gzip.compress(corpus.read_bytes()))
    # (A memory budget streams the corpus, so the default there is closed-form modified KN order 6.)
    assert ngram("train", corpus, "-s", "modified-kneser-ney", "-o", "a.ngram", "-q", cwd=tmp_path).returncode == 0
    assert ngram("train", packed, "-o", "b.ngram", "--memory", "32M", "-q", cwd=tmp_path).returncode == 0
    assert same_levels(load(tmp_path / "a.ngram"), load(tmp_path / "b.ngram"))


def test_pruning_options_shrink_the_model(tmp_path, corpus):
    assert ngram("train", corpus, "-N", "4", "-o", "full.ngram", "-q", cwd=tmp_path).returncode == 0
    result = ngram("train", corpus, "-N", "4", "-o", "cut.ngram", "--prune", "0 1 1", "--prune-entropy", "1e-6", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["estimator"]["prune"] == [0, 1, 1, 1]
    assert sum(load(tmp_path / "cut.ngram").n_ngrams()) < sum(load(tmp_path / "full.ngram").n_ngrams())
    result = ngram("prune", "full.ngram", "-o", "small.ngram", "--entropy", "1e-5", "--json", cwd=tmp_path)
    out = json.loads(result.stdout)
    assert out["ngrams_after"] < out["ngrams_before"] and out["bytes_after"] < out["bytes_before"]


@pytest.mark.parametrize("args, message", [
    (["--prune", "0 2 1"], "must not decrease"),
    (["--prune", "1"], "unigrams are never pruned"),
    (["--engine", "spark"], "--engine must be one of"),
    (["--engine", "streaming", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is for --engine dask"),
    (["--memory", "lots"], "not a size"),
])
def test_bad_options_are_one_line_errors(tmp_path, corpus, args, message):
    result = ngram("train", corpus, "-o", "x.ngram", *args, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.ngram").exists()


def test_dask_engine_from_the_command_line(tmp_path, corpus):
    pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'ngram-names[dask]')")
    assert ngram("train", corpus, "-N", "4", "-o", "a.ngram", "-q", cwd=tmp_path).returncode == 0
    result = ngram("train", corpus, "-N", "4", "-o", "b.ngram", "--engine", "dask", "--memory", "16M", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no cluster chatter on a normal run
    assert json.loads(result.stdout)["engine"] == "dask"
    assert same_levels(load(tmp_path / "a.ngram"), load(tmp_path / "b.ngram"))


def test_weighted_corpora_stream_too(tmp_path):
    path = tmp_path / "counts.tsv"
    path.write_text("".join(f"{name}\t{i % 7 + 1}\n" for i, name in enumerate(generated_names(2000, seed=6)) if name.strip()),
                    encoding="utf-8")
    assert ngram("train", path, "--weighted", "-N", "4", "-s", "kneser-ney", "-o", "a.ngram", "-q", cwd=tmp_path).returncode == 0
    result = ngram("train", path, "--weighted", "-N", "4", "-s", "kneser-ney", "-o", "b.ngram", "--memory", "16M", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    a, b = load(tmp_path / "a.ngram"), load(tmp_path / "b.ngram")
    assert same_levels(a, b) and a.corpus == b.corpus
