"""Scoring a file a block at a time (``metrics.evaluate_file``) with the lean automaton
(``scoring.build_lean``): the same floats as the whole-corpus paths, in a fraction of the memory."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO, TINY
from ngram import Level, NgramError, make_estimator, read_names, train
from ngram.evaluation import metrics
from ngram.lm.backoff import model as model_module
from ngram.lm.backoff import scoring
from ngram.formats.compact import parse, to_bytes
from ngram.formats.native import load, save
from ngram.evaluation.metrics import evaluate, evaluate_file

ESTIMATORS = [("add-k", {}), ("witten-bell", {}), ("kneser-ney", {}), ("modified-kneser-ney", {}),
              ("modified-kneser-ney", {"backoff": True}), ("absolute", {})]
corpora = st.lists(st.text(alphabet="abc d", max_size=7), min_size=1, max_size=25)


def compact_copy(model):
    return parse(memoryview(to_bytes(model)), "compact copy")


@settings(max_examples=80, deadline=None)
@given(names=corpora, held_out=corpora, order=st.integers(1, 6), which=st.integers(0, len(ESTIMATORS) - 1), unk=st.booleans())
@pytest.mark.slow
def test_the_lean_automaton_walks_to_the_same_floats(names, held_out, order, which, unk):
    name, settings_ = ESTIMATORS[which]
    model = train(names, order, make_estimator(name, **settings_), unk=unk)
    encoded = model.vocabulary.encode(held_out + ["".join(held_out)], unknown="unk" if unk else "skip")
    dense = scoring.build(model)
    for lean in (scoring.build_lean(model), scoring.build_lean(compact_copy(model))):
        assert lean is not None and lean.rank is None and lean.mask is not None
        assert np.array_equal(scoring.score(lean, encoded), scoring.score(dense, encoded))
        assert np.array_equal(scoring.name_totals(lean, encoded), scoring.name_totals(dense, encoded))


@pytest.mark.parametrize("alphabet", ["abc d", "".join(map(chr, range(0x400, 0x450)))])  # V <= 64: bit sets; V > 64: runs
@pytest.mark.parametrize("order", [1, 2, 4, 7])
def test_lean_children_and_suffixes_are_the_dense_ones(alphabet, order, monkeypatch):
    rng = np.random.default_rng(order)
    names = ["".join(rng.choice(list(alphabet), size=rng.integers(0, 9))) for _ in range(400)]
    model = train(names, order, make_estimator("witten-bell"), unk=True)
    dense, lean = scoring.build(model), scoring.build_lean(compact_copy(model))
    assert (lean.mask is not None) == (model.V <= 64) and (lean.count is not None) == (model.V > 64)
    assert np.array_equal(lean.suffix, dense.suffix) and np.array_equal(lean.logp[1:], dense.logp[1:])
    assert np.array_equal(lean.bow, dense.bow) and lean.start == dense.start
    states = np.repeat(np.arange(dense.n_states), model.V)
    symbols = np.tile(np.arange(model.V), dense.n_states)
    assert np.array_equal(lean.child(states, symbols), dense.child(states, symbols))
    # every state's stored children listed from its run, as the dense table holds them
    found = dense.child(states, symbols).reshape(dense.n_states, model.V)
    row, symbol, node = scoring.children(lean, np.arange(dense.n_states))
    assert np.array_equal(np.stack(np.nonzero(found)), np.stack([row, symbol])) and np.array_equal(found[row, symbol], node)
    held_out = [names[i] + names[i + 1] for i in range(0, 200, 2)] + ["".join(names[:60])]
    encoded = model.vocabulary.encode(held_out, unknown="unk")
    monkeypatch.setattr(scoring, "LONG_NAME", 5)  # long names are scored along their length
    monkeypatch.setattr(scoring, "BLOCK", 7)
    assert np.array_equal(scoring.name_totals(lean, encoded), scoring.name_totals(dense, encoded))


def test_a_model_that_is_not_closed_has_no_lean_automaton_either():
    model = train(TINY, 3, make_estimator("kneser-ney"))
    V, bigrams, trigrams = model.V, model.levels[1], model.levels[2]
    suffixes = np.setdiff1d(trigrams.keys % V**2, trigrams.keys // V)  # suffixes of trigrams that are no context
    drop = int(np.flatnonzero(np.isin(bigrams.keys, suffixes))[0])
    keep = np.arange(len(bigrams)) != drop
    model.levels[1] = Level(bigrams.keys[keep], bigrams.logp[keep], bigrams.bow[keep])
    assert scoring.build(model) is None and scoring.build_lean(model) is None


# ----- evaluate_file: evaluate's figures from a file read a block at a time ------------------------

def write_names(path, names, extra=""):
    path.write_text("\n".join(names) + "\n" + extra, encoding="utf-8")
    return path


def assert_same_evaluation(streamed, whole, names_seen, names):
    assert streamed.total_nll == whole.total_nll and streamed.nll == whole.nll
    assert (streamed.names, streamed.symbols, streamed.oov, streamed.data) == (whole.names, whole.symbols, whole.oov, whole.data)
    assert np.array_equal(streamed.per_name_nll, whole.per_name_nll)
    assert np.array_equal(streamed.per_name_symbols, whole.per_name_symbols)
    assert names_seen == names


@pytest.fixture(scope="module")
def italian(request):
    from conftest import shared_file

    train_names = read_names(shared_file("italian-names-train.txt")).names
    return train(train_names, 5, make_estimator("modified-kneser-ney"), unk=True), train_names


@pytest.mark.parametrize("walk", [False, True])  # a small file scored whole; a big one walked block by block
@pytest.mark.parametrize("form", ["ordinary", "compact"])
@pytest.mark.parametrize("policy", ["skip", "unk"])
def test_streamed_figures_are_evaluates_to_the_last_bit(tmp_path, monkeypatch, italian, walk, form, policy):
    model, train_names = italian
    if form == "compact":
        save(model, tmp_path / "m.ngram", compact=True)
        model = load(tmp_path / "m.ngram")
    held_out = [name[::-1] + "ü" for name in train_names[:3000]] + ["x" * 900, "ana", "Ña"]
    path = write_names(tmp_path / "test.txt", held_out[:500] + ["", "  "] + held_out[500:], extra="\n")
    whole_targets = sum(len(n) + 1 for n in held_out)
    assert whole_targets > 2 * (sum(model.n_ngrams()) // 4)
    threshold = whole_targets // 2 if walk else 10 * whole_targets
    for module in (model_module, metrics):  # the whole-corpus path switches to the walk at the same size
        monkeypatch.setattr(module, "FAST_SCORING_TARGETS", threshold)
    monkeypatch.setattr(scoring, "LONG_NAME", 100)  # the long name is scored along its length
    corpus = read_names(path)
    whole = evaluate(model, corpus, unknown=policy, data=corpus.source, line_numbers=corpus.line_numbers)
    walked = []  # (the lean automaton itself may already exist: the load-time check of a file makes it)
    real_totals = scoring.name_totals
    monkeypatch.setattr(scoring, "name_totals", lambda *a: walked.append(1) or real_totals(*a))
    seen, symbols = [], []
    streamed = evaluate_file(model, path, unknown=policy, block_bytes=997,
                             each_block=lambda names, counts, nll: (seen.extend(names), symbols.extend(counts)))
    assert_same_evaluation(streamed, whole, seen, corpus.names)
    assert streamed.blank_lines == corpus.blank_lines == 3 and symbols == list(whole.per_name_symbols)
    assert bool(walked) == walk and streamed.oov == whole.oov > 3000


def test_a_model_the_automaton_cannot_serve_is_scored_whole(tmp_path, monkeypatch):
    model = train(TINY * 3, 3, make_estimator("kneser-ney"))
    V, bigrams, trigrams = model.V, model.levels[1], model.levels[2]
    drop = int(np.flatnonzero(np.isin(bigrams.keys, trigrams.keys // V))[0])
    keep = np.arange(len(bigrams)) != drop
    model.levels[1] = Level(bigrams.keys[keep], bigrams.logp[keep], bigrams.bow[keep])
    names = TINY * 400
    path = write_names(tmp_path / "t.txt", names)
    for module in (model_module, metrics):
        monkeypatch.setattr(module, "FAST_SCORING_TARGETS", 100)
    corpus = read_names(path)
    whole = evaluate(model, corpus, data=corpus.source, line_numbers=corpus.line_numbers)
    seen = []
    streamed = evaluate_file(model, path, block_bytes=500, each_block=lambda n, s, v: seen.extend(n))
    assert_same_evaluation(streamed, whole, seen, names)


def test_lowercase_encodings_and_other_models_read_as_read_names_reads(tmp_path):
    model = train(["anna", "bob", "ñam"], 2, make_estimator("kneser-ney"))
    path = tmp_path / "latin.txt"
    path.write_bytes("ANNA\r\nbob\r\nÑAM\r\n".encode("latin-1"))
    for kwargs in ({"lowercase": True, "encoding": "latin-1"}, {"lowercase": True, "encoding": "utf-16"}):
        if kwargs["encoding"] == "utf-16":
            path.write_bytes("ANNA\nbob\nÑAM\n".encode("utf-16"))
        corpus = read_names(path, **kwargs)
        whole = evaluate(model, corpus, data=corpus.source, line_numbers=corpus.line_numbers)
        seen = []
        streamed = evaluate_file(model, path, block_bytes=4, each_block=lambda n, s, v: seen.extend(n), **kwargs)
        assert_same_evaluation(streamed, whole, seen, ["anna", "bob", "ñam"])


@pytest.mark.parametrize("content,message", [
    ("anna\nbob\n" * 300 + "zorro\n", "line 601: character 'z'"),
    ("", "file is empty"),
    ("\n \n", r"no names to read \(only blank lines\)"),
])
def test_errors_are_read_names_and_evaluates_errors(tmp_path, content, message):
    model = train(["anna", "bob"], 3, make_estimator("kneser-ney"))
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(NgramError, match=message) as streamed:
        evaluate_file(model, path, block_bytes=64)
    with pytest.raises(NgramError) as whole:
        corpus = read_names(path)
        evaluate(model, corpus, data=corpus.source, line_numbers=corpus.line_numbers)
    assert str(streamed.value) == str(whole.value)


@pytest.mark.slow
def test_the_command_line_prints_the_same_with_and_without_blocks(tmp_path):
    """``ngram evaluate`` (streamed) against the library's whole-corpus evaluate, every output form."""
    names = [f"{a}{b}{c}" for a in "abcdefg" for b in "aeiou" for c in "lmnrst"] * 40
    write_names(tmp_path / "train.txt", names[::7])
    write_names(tmp_path / "test.txt", names)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}

    def ngram(*args):
        done = subprocess.run([sys.executable, "-m", "ngram", *map(str, args)], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ngram("train", "train.txt", "-N", 4, "--compact", "-o", "m.ngram", "-q")
    model = load(tmp_path / "m.ngram")
    corpus = read_names(tmp_path / "test.txt")
    whole = evaluate(model, corpus, data="test.txt")
    assert whole.symbols > model_module.FAST_SCORING_TARGETS  # the walk
    out = json.loads(ngram("evaluate", "m.ngram", "test.txt", "--json"))
    assert out["nll_nats_per_symbol"] == whole.nll and out["symbols"] == whole.symbols and out["names"] == len(names)
    lines = ngram("evaluate", "m.ngram", "test.txt", "--per-name").splitlines()
    assert lines[0] == "name\tsymbols\tnll_nats" and len(lines) == len(names) + 1
    assert lines[1:] == [f"{n}\t{s}\t{v:.6f}" for n, s, v in zip(names, whole.per_name_symbols, whole.per_name_nll)]
    rows = json.loads(ngram("evaluate", "m.ngram", "test.txt", "--per-name", "--json"))["per_name"]
    assert [r["nll_nats"] for r in rows] == whole.per_name_nll.tolist() and [r["name"] for r in rows] == names
    assert f"{whole.nll:.4f} nats/symbol" in ngram("evaluate", "m.ngram", "test.txt")


def test_a_loaded_models_lean_automaton_is_made_once_and_holds_its_numbers_once(tmp_path):
    model = train(TINY * 3, 4, make_estimator("modified-kneser-ney"))
    save(model, tmp_path / "m.ngram")
    loaded = load(tmp_path / "m.ngram")
    scorer = scoring.lean(loaded)
    assert scorer is scoring.lean(loaded)  # the load-time check made it; evaluation reuses it
    for n, (level, trained) in enumerate(zip(loaded.levels, model.levels), 1):
        assert np.array_equal(level.logp, trained.logp) and np.array_equal(level.bow, trained.bow)
        assert np.shares_memory(level.logp, scorer.logp)
        assert np.shares_memory(level.bow, scorer.bow) == (n < model.order)
    encoded = model.vocabulary.encode(TINY)
    assert np.array_equal(scoring.name_totals(scorer, encoded), scoring.name_totals(scoring.build_lean(model), encoded))
    # a level given new arrays is a new model to the cache
    loaded.levels[1] = Level(loaded.levels[1].keys.copy(), loaded.levels[1].logp.copy(), loaded.levels[1].bow.copy())
    assert scoring.lean(loaded) is not scorer
