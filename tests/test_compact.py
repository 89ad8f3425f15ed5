"""Compact model files (``ngram.compact``): memory-mapped, keys implied by a trie, optionally quantised."""

import json
import mmap
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TINY
from ngram import NgramError, train
from ngram import compact
from ngram.estimators import ESTIMATORS, make_estimator
from ngram.io import load, save
from ngram.metrics import evaluate

QUANTISED = [(16, 16), (8, 16), (8, 8), (16, None), (None, 8)]


@pytest.fixture(scope="module")
def english():
    from conftest import shared_file
    from ngram import read_names

    train_names = read_names(shared_file("english-names-train.txt")).names
    test_names = read_names(shared_file("english-names-test.txt")).names
    return train(train_names, 5, make_estimator("modified-kneser-ney")), test_names


def _windows(model, n_context):
    """Every context of ``n_context`` symbols (the start symbol only first) followed by every symbol."""
    V = model.V
    contexts = np.arange(V**n_context, dtype=np.int64)
    if n_context:  # the boundary inside a context means "start": only as its oldest symbol
        digits = (contexts[:, None] // V ** np.arange(n_context)[None, :]) % V  # most recent first
        contexts = contexts[(digits[:, :-1] != 0).all(axis=1)]
    return (contexts[:, None] * V + np.arange(V)[None, :]).ravel(), len(contexts)


def _row_sums(model):
    """Brute force: the sum of p(w | h) over all w, for every context h the model can see."""
    sums = []
    for m in range(model.order):
        windows, count = _windows(model, m)
        logp = model.logprob_keys(windows, np.full(len(windows), m))
        sums.append(np.exp(logp).reshape(count, model.V).sum(axis=1))
    return np.concatenate(sums)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_round_trip_without_quantisation_is_bit_identical(tmp_path, name):
    model = train(TINY + ["marta", "mario", "nina"], 4, make_estimator(name), unk=True)
    save(model, tmp_path / "m.ngram", compact=True)
    assert (tmp_path / "m.ngram").read_bytes().startswith(compact.MAGIC)
    again = load(tmp_path / "m.ngram")
    assert again.kind == "model" and again.order == model.order and again.vocabulary == model.vocabulary
    assert again.estimator == model.estimator and again.corpus == model.corpus
    assert np.array_equal(again.train_names, model.train_names)
    for a, b in zip(model.levels, again.levels):
        assert np.array_equal(a.keys, b.keys) and a.keys.dtype == b.keys.dtype
        assert np.array_equal(a.logp, b.logp) and np.array_equal(a.bow, b.bow)
    names = ["anna", "bob", "xyz", "a b", "", "marianna"]
    assert np.array_equal(again.score(names, unknown="unk")[0], model.score(names, unknown="unk")[0])
    windows, _ = _windows(model, 3)
    assert np.array_equal(again.logprob_keys(windows, np.full(len(windows), 3)),
                          model.logprob_keys(windows, np.full(len(windows), 3)))


def test_bigger_model_scores_bit_identically_on_the_fast_path(tmp_path, english):
    model, test_names = english
    save(model, tmp_path / "m.ngram", compact=True)
    again = load(tmp_path / "m.ngram")
    encoded = model.vocabulary.encode(test_names)
    assert np.array_equal(again.logprob_encoded(encoded), model.logprob_encoded(encoded))
    assert evaluate(again, test_names).nll == evaluate(model, test_names).nll


def test_load_maps_the_file_and_copies_no_array(tmp_path, english):
    model, _ = english
    save(model, tmp_path / "m.ngram", compact=True)
    again = load(tmp_path / "m.ngram")
    top = again.levels[-1]
    for array in (top._logp_src[0], top._structure[2], again.levels[-2]._structure[1], again.train_names):
        assert not array.flags.owndata and not array.flags.writeable
        assert isinstance(array.base.obj if isinstance(array.base, memoryview) else array.base, mmap.mmap)
    assert top._cache == {}  # nothing rebuilt before use
    assert again.levels[-1].logp.base is not None  # unquantised: the probabilities stay views of the file
    # The trie stores one symbol a n-gram and one child count a context, not 8-byte keys.
    assert top._structure[2].dtype == np.uint8 and "keys5" not in json.dumps(_header(tmp_path / "m.ngram")["arrays"])


@pytest.mark.parametrize("bits", QUANTISED)
def test_quantised_rows_sum_to_one_within_the_tolerance(tmp_path, english, bits):
    small = train(english[1][:2000], 3, make_estimator("modified-kneser-ney"))  # > 256 distinct values per level
    save(small, tmp_path / "q.ngram", *((False,) + bits))
    again = load(tmp_path / "q.ngram")
    assert np.abs(_row_sums(again) - 1).max() <= compact.tolerance(*bits)
    assert np.abs(_row_sums(small) - 1).max() < 1e-9  # the brute force itself
    if bits[0] == 8:  # the probabilities really were binned
        assert len(np.unique(again.levels[2].logp)) <= 256 < len(np.unique(small.levels[2].logp))


# Reported cost of quantisation on the English test split (order-5 modified Kneser-Ney), nats/symbol:
# scripts/compact_table.py prints the measured figures; these are the bounds the report states.
QUANTISATION_COST = {16: 1e-4, 8: 5e-3}


@pytest.mark.parametrize("bits", QUANTISED)
def test_quantised_nll_within_the_reported_cost(tmp_path, english, bits):
    model, test_names = english
    save(model, tmp_path / "q.ngram", *((False,) + bits))
    again = load(tmp_path / "q.ngram")
    cost = evaluate(again, test_names).nll - evaluate(model, test_names).nll
    assert abs(cost) <= max(QUANTISATION_COST[b] for b in bits if b)
    if bits[0] == 8:
        assert (tmp_path / "q.ngram").stat().st_size < 0.6 * len(compact.to_bytes(model))


def test_quantise_is_exact_with_few_values_and_codes_stay_in_the_codebook():
    values = np.log(np.array([0.5, 0.25, 0.25, 0.125, 1.0]))
    codes, book = compact.quantise(values, 8)
    assert np.array_equal(book[codes], values)
    rng = np.random.default_rng(0)
    values = np.concatenate((np.log(rng.random(5000)), [0.0, -np.inf]))
    codes, book = compact.quantise(values, 8)
    assert codes.dtype == np.uint8 and len(book) <= 256 and codes.max() < len(book)
    decoded = book[codes]
    assert decoded[-2] == 0.0 and decoded[-1] == -np.inf  # kept exact
    assert np.abs(np.exp(decoded[:-2]) - np.exp(values[:-2])).max() < 0.01  # the probability grid bounds the error


def test_old_files_still_load_and_either_format_replaces_the_other(tmp_path):
    model = train(TINY, 3, make_estimator("kneser-ney"))
    path = tmp_path / "m.ngram"
    save(model, path)
    assert path.read_bytes().startswith(b"PK")
    old = load(path)
    save(model, path, compact=True)
    new = load(path)
    save(model, path)  # back again: a compact file is one of ours, so it may be replaced
    assert np.array_equal(old.score(TINY)[0], new.score(TINY)[0])
    (tmp_path / "names.txt").write_text("anna\n")
    with pytest.raises(NgramError, match="not an ngram model file"):
        save(model, tmp_path / "names.txt", compact=True)


def test_a_mixture_cannot_be_saved_compact(tmp_path):
    from ngram.mixture import NameMixture

    model = train(TINY, 2, make_estimator("kneser-ney"))
    with pytest.raises(NgramError, match="back-off model"):
        save(NameMixture([model, model], [False, True], [0.5, 0.5]), tmp_path / "m.ngram", compact=True)
    assert not (tmp_path / "m.ngram").exists()


def test_bad_bits_are_refused(tmp_path):
    with pytest.raises(NgramError, match="8 or 16"):
        save(train(TINY, 2), tmp_path / "m.ngram", logp_bits=4)


# ----- hostile files ---------------------------------------------------------------------------
def _header(path):
    data = path.read_bytes()
    length = int.from_bytes(data[8:16], "little")
    return json.loads(data[16 : 16 + length])


def _with_header(data: bytes, change) -> bytes:
    """The file with its JSON header changed, padded with spaces to keep every offset."""
    length = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16 : 16 + length])
    change(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) <= length, "test edit must not grow the header"
    return data[:16] + text.ljust(length) + data[16 + length :]


def _poke(name, edit):
    """Overwrite an array in place with ``edit(array)`` (a number: its first element)."""
    def change(data: bytes) -> bytes:
        entry = json.loads(data[16 : 16 + int.from_bytes(data[8:16], "little")])["arrays"][name]
        dtype, start = np.dtype(entry["dtype"]), entry["offset"]
        array = np.frombuffer(data, dtype, entry["shape"][0], start).copy()
        if callable(edit):
            array = edit(array)
        else:
            array[0] = edit
        raw = array.astype(dtype).tobytes()
        return data[:start] + raw + data[start + len(raw) :]
    return change


def _table(edit):
    return lambda data: _with_header(data, lambda h: edit(h["arrays"]))


HOSTILE = {
    "truncated header": (lambda d: d[:40], "header declares"),
    "truncated arrays": (lambda d: d[:-100], "declares .* bytes at offset"),
    "header length huge": (lambda d: d[:8] + (1 << 62).to_bytes(8, "little") + d[16:], "header declares"),
    "header not JSON": (lambda d: d[:16] + b"{" * 20 + d[36:], "not valid JSON"),
    "other version": (lambda d: _with_header(d, lambda h: h.update(version=99)), "version 99"),
    "order too high": (lambda d: _with_header(d, lambda h: h.update(order=40, sizes=[7] * 40)), "too high"),
    "bad sizes": (lambda d: _with_header(d, lambda h: h.update(sizes="x")), "bad vocabulary, order or sizes"),
    "huge shape": (_table(lambda t: t["logp2"].update(shape=[1 << 60])), "declares"),
    "unknown dtype": (_table(lambda t: t["logp2"].update(dtype="object")), "badly declared"),
    "misaligned": (_table(lambda t: t["logp2"].update(offset=t["logp2"]["offset"] + 8)), "declares"),
    "overlap": (_table(lambda t: t["logp3"].update(offset=t["logp2"]["offset"])), "overlap|wrong type or length"),
    "missing array": (_table(lambda t: t.pop("last3")), "keys3 is missing"),
    "wrong length": (_table(lambda t: t["last2"].update(shape=[1])), "wrong type or length"),
    "bad quantisation": (lambda d: _with_header(d, lambda h: h.update(quantisation={"logp_bits": 3})), "quantisation"),
    "estimator not an object": (lambda d: _with_header(d, lambda h: h.update(estimator=[1])), "not an object"),
}
# Damage only found when a level is rebuilt (on first use): still one line, never a wrong answer.
LATE = {
    "symbol out of range": (_poke("last2", 200), "symbols are out of range"),
    "children do not add up": (_poke("children1", 200), "child counts"),
    "probability above 1": (_poke("logp_codebook2", 3.0), "not valid"),  # a small level: a lossless codebook
    "unsorted": (_poke("last3", lambda a: np.sort(a)[::-1]), "not sorted"),
}


@pytest.fixture(scope="module")
def good_bytes():
    return compact.to_bytes(train(TINY + ["mario", "marta", "nina", "bruno"], 3, make_estimator("kneser-ney")))


@pytest.mark.parametrize("case", sorted(HOSTILE) + sorted(LATE))
def test_hostile_files_are_refused_in_one_line(tmp_path, good_bytes, case):
    """Header damage at load; array damage when a level is first rebuilt, before any answer."""
    change, message = HOSTILE.get(case) or LATE[case]
    path = tmp_path / "bad.ngram"
    path.write_bytes(change(good_bytes))
    with pytest.raises(NgramError, match=message) as caught:
        load(path).score(["anna", "mario"])
    if case in HOSTILE:
        with pytest.raises(NgramError, match=message):
            load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_code_outside_its_codebook_is_refused(tmp_path):
    model = train(TINY + ["mario", "marta", "nina", "bruno"], 3, make_estimator("kneser-ney"))
    data = compact.to_bytes(model, 8, 8)
    path = tmp_path / "bad.ngram"
    path.write_bytes(_poke("logp2", 255)(data))
    assert len(load(tmp_path / "bad.ngram").levels[1]._logp_src[1]) < 256
    with pytest.raises(NgramError, match="outside their codebook"):
        load(path).score(["anna"])


def test_hostile_file_through_the_command_line_is_one_line(tmp_path, good_bytes):
    path = tmp_path / "bad.ngram"
    path.write_bytes(HOSTILE["huge shape"][0](good_bytes))
    (tmp_path / "t.txt").write_text("anna\n")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "ngram", "evaluate", str(path), str(tmp_path / "t.txt")],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "damaged" in result.stderr


def _ngram(*args, cwd):
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "ngram", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd)


def test_command_line_writes_compact_files_from_train_import_and_prune(tmp_path):
    corpus = tmp_path / "names.txt"
    corpus.write_text("\n".join(TINY + ["mario", "marta", "nina", "bruno", "marina"]) + "\n")
    assert _ngram("train", corpus, "-N", 3, "-s", "kneser-ney", "-o", "plain.ngram", "-q", cwd=tmp_path).returncode == 0
    assert _ngram("train", corpus, "-N", 3, "-s", "kneser-ney", "--compact", "-o", "c.ngram", "-q", cwd=tmp_path).returncode == 0
    assert _ngram("export", "plain.ngram", "--arpa", "m.arpa", "-q", cwd=tmp_path).returncode == 0
    assert _ngram("import", "m.arpa", "--quantise", "16,8", "-o", "i.ngram", "-q", cwd=tmp_path).returncode == 0
    assert _ngram("prune", "c.ngram", "--entropy", "1e-3", "--quantise", "8", "-o", "p.ngram", "-q", cwd=tmp_path).returncode == 0
    plain, c = load(tmp_path / "plain.ngram"), load(tmp_path / "c.ngram")
    assert np.array_equal(plain.score(TINY)[0], c.score(TINY)[0])
    for name in ("c", "i", "p"):
        assert (tmp_path / f"{name}.ngram").read_bytes().startswith(compact.MAGIC)
    assert _header(tmp_path / "i.ngram")["quantisation"] == {"logp_bits": 16, "bow_bits": 8}
    bad = _ngram("train", corpus, "--quantise", "4", "-o", "x.ngram", cwd=tmp_path)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "--quantise" in bad.stderr


def test_a_loaded_model_survives_its_file_being_replaced(tmp_path):
    """The map holds the file that was opened: saving over it (a rename) changes nothing loaded."""
    path = tmp_path / "m.ngram"
    first = train(TINY, 3, make_estimator("kneser-ney"))
    save(first, path, compact=True)
    loaded = load(path)
    save(train(TINY + ["zzz"], 2, make_estimator("witten-bell")), path, compact=True)
    assert np.array_equal(loaded.score(TINY)[0], first.score(TINY)[0])
    assert load(path).order == 2
