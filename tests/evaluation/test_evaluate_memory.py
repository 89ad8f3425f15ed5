"""What loading a model file and evaluating with it keep in memory: only what scoring reads."""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from ngram import NgramError, train
from ngram.estimators import make_estimator
from ngram.core.pages import untouched_zeros
from ngram.formats.native import load, save
from ngram.lm.backoff import scoring
from support import generated_names

from conftest import REPO


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate-memory")
    names = generated_names(3000, seed=11)
    (folder / "t.txt").write_text("\n".join(names[1::2]) + "\n", encoding="utf-8")
    model = train(names[::2], 4, make_estimator("modified-kneser-ney"))
    save(model, folder / "m.ngram")
    return folder / "m.ngram", folder / "t.txt", model


def child(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          timeout=120).stdout


def test_evaluating_a_file_does_not_load_openssl(files):
    """hashlib brings OpenSSL, 3 MB of a process: only training (the corpus fingerprint) needs it."""
    model, names, _ = files
    out = child(f"import sys; from ngram.formats.native import load; from ngram.evaluation.metrics import evaluate_file; "
                f"evaluate_file(load({str(model)!r}), {str(names)!r}); print('_hashlib' in sys.modules)")
    assert out.split() == ["False"]


def test_the_fingerprints_are_read_from_the_file_as_loaded_when_first_asked_for(files, tmp_path):
    model_path, _, _ = files
    path = tmp_path / "m.ngram"
    path.write_bytes(model_path.read_bytes())
    saved = load(model_path).train_names
    model = load(path)
    assert "_read_names" in vars(model)  # not read yet
    other = train(["zed", "zoe"], 2, make_estimator("modified-kneser-ney"))
    save(other, path)  # renamed over the file the model was loaded from
    assert len(saved) > 1000 and np.array_equal(model.train_names, saved)
    assert "_read_names" not in vars(model) and np.array_equal(load(path).train_names, other.train_names)


def test_damaged_fingerprints_are_refused_when_read(files, tmp_path):
    model_path, _, _ = files
    data = bytearray(model_path.read_bytes())
    with zipfile.ZipFile(model_path) as archive:
        info = archive.getinfo("train_names.npy")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 200] ^= 0xFF  # a byte past the .npy header
    path = tmp_path / "damaged.ngram"
    path.write_bytes(bytes(data))
    model = load(path)
    with pytest.raises(NgramError, match="fingerprints do not match the file's checksum"):
        model.train_names


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_the_top_orders_weights_are_zeros_that_take_no_memory_until_written(files):
    model = load(files[0])
    top = model.levels[-1].bow
    assert len(top) > 1000 and not top.any()
    before = resident_bytes()
    zeros = untouched_zeros(64 << 17)  # 64 MiB
    assert zeros.sum() == 0.0 and resident_bytes() - before < 8 << 20
    zeros[::512] = 1.0  # writable: a page at a time
    assert zeros.sum() == len(zeros) // 512


def test_a_loaded_models_keys_are_given_up_to_its_automaton_and_made_again_when_read(files):
    path, _, trained = files
    model = load(path)
    scorer = scoring.lean(model)
    held = [x for level in model.levels for x in vars(level).values() if isinstance(x, np.ndarray)]
    assert sum(x.nbytes for x in held if x.dtype == np.int64) == 0  # no keys kept after the load check
    for n, (level, expected) in enumerate(zip(model.levels, trained.levels), start=1):
        assert len(level) == len(expected) and np.array_equal(level.keys, expected.keys), f"order {n}"
        assert level.keys.dtype == np.int64
    assert scoring.lean(model) is scorer  # the automaton still serves the levels
    assert np.array_equal(model.score(["anna", "nab"])[0], trained.score(["anna", "nab"])[0])


def test_the_automaton_takes_over_the_numbers_read_from_the_file_without_a_copy(files):
    path, _, trained = files
    model = load(path)
    scorer = scoring.lean(model)
    for n, (level, expected) in enumerate(zip(model.levels, trained.levels), start=1):
        assert np.shares_memory(level.logp, scorer.logp), f"order {n}"
        assert np.array_equal(level.logp, expected.logp) and np.array_equal(level.bow, expected.bow), f"order {n}"
        if n < model.order:
            assert np.shares_memory(level.bow, scorer.bow), f"order {n}"


def test_top_order_weights_that_are_not_all_zero_are_read_as_they_are(files, tmp_path):
    model = load(files[0])
    top = model.levels[-1]
    top.bow = np.zeros(len(top))
    top.bow[-1] = -0.0  # (a sign bit is not 0 to the reader either)
    top.bow[len(top) // 2] = -1.5
    save(model, tmp_path / "odd.ngram")
    again = load(tmp_path / "odd.ngram").levels[-1].bow
    assert again[len(top) // 2] == -1.5 and np.signbit(again[-1]) and np.count_nonzero(again) == 1


@pytest.mark.parametrize("block_bytes", [1 << 8, 1 << 20])  # the streamed walk, and one corpus scored at the end
def test_evaluating_a_file_makes_no_string_a_name_unless_the_names_are_asked_for(files, monkeypatch, block_bytes):
    from ngram.core.corpus import Corpus
    from ngram.evaluation.metrics import evaluate_file

    path, names, _ = files
    model = load(path)
    expected = evaluate_file(model, names, block_bytes=block_bytes)
    seen = []
    assert len(evaluate_file(model, names, block_bytes=block_bytes, each_block=lambda n, s, v: seen.extend(n)).per_name_nll) == len(seen)
    monkeypatch.setattr(Corpus, "names", property(lambda self: pytest.fail("a string a name was made")))
    result = evaluate_file(model, names, block_bytes=block_bytes)
    assert result.total_nll == expected.total_nll and np.array_equal(result.per_name_nll, expected.per_name_nll)


LOADED = """
import sys
from ngram.formats.native import load
from ngram.lm.backoff import scoring
def resident():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1])
before = resident()
model = load(sys.argv[1])
held = sum(a.nbytes for a in vars(scoring.lean(model)).values() if hasattr(a, "nbytes"))
print((resident() - before) * 4096, held)
"""


@pytest.mark.slow
def test_a_loaded_model_holds_its_automaton_and_little_else(tmp_path):
    """After loading, what the process holds more is the lean automaton (which scoring reads)
    and little else: not the file's keys, its fingerprints, its top order's weights or a copy
    of its probabilities (the rest is what the C allocator keeps of the arrays freed on the way)."""
    names = generated_names(200_000, seed=5)
    save(train(names, 6, make_estimator("kneser-ney")), tmp_path / "m.ngram")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", LOADED, str(tmp_path / "m.ngram")], capture_output=True, text=True,
                         env=env, check=True, timeout=300).stdout.split()
    grown, held = int(out[0]), int(out[1])
    # (before: 53 MiB here for an automaton of 28; now 37: the rest is the check's and the heap's)
    assert held > 16 << 20 and grown <= held * 1.4 + (2 << 20), f"grew {grown / 2**20:.1f} MiB, automaton {held / 2**20:.1f} MiB"
