"""Compact model files (``ngram.formats.compact``): memory-mapped, keys implied by a trie, optionally quantised."""

import json
import mmap
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TINY
from ngram import AddK, NgramError, train
from ngram.formats import compact
from ngram.estimators import ESTIMATORS, make_estimator
from ngram.formats.native import load, save
from ngram.evaluation.metrics import evaluate

QUANTISED = [(16, 16), (8, 16), (8, 8), (16, None), (None, 8)]
DATA = Path(__file__).resolve().parents[1] / "data"


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
    assert again._compact_arrays and again.__dict__.get("_read_names") is not None  # fingerprints not decoded yet
    for array in again._compact_arrays.values():
        if len(array):
            assert not array.flags.owndata and not array.flags.writeable
            assert isinstance(array.base.obj if isinstance(array.base, memoryview) else array.base, mmap.mmap)
    assert all(level._cache == {} for level in again.levels)  # nothing rebuilt before use
    assert np.array_equal(again.train_names, model.train_names)


def test_fields_are_packed_at_their_minimum_width(tmp_path, english):
    """Symbols in ceil(log2 V) bits, child counts in as many as the largest needs, back-off
    weights only for the n-grams that are contexts, fingerprints Elias-Fano coded."""
    model, _ = english
    save(model, tmp_path / "m.ngram", compact=True)
    header = _header(tmp_path / "m.ngram")
    fields, V, skipped = header["fields"], model.V, 0
    assert header["version"] == 2 and not any(name.startswith("keys") for name in fields)
    for n in range(2, model.order + 1):
        assert fields[f"last{n}"]["width"] == compact.bits_for(V) == 5
        children = np.bincount(np.searchsorted(model.levels[n - 2].keys, model.levels[n - 1].keys // V),
                               minlength=len(model.levels[n - 2]))
        assert fields[f"children{n - 1}"]["width"] == max(1, int(children.max()).bit_length())
        assert fields[f"bow{n - 1}"]["select"] == f"children{n - 1}"
        assert fields[f"bow{n - 1}"]["count"] == np.count_nonzero(children) <= len(children)
        skipped += len(children) - np.count_nonzero(children)
    assert skipped > 1000  # n-grams that are no context store no weight
    for n in range(1, model.order + 1):  # exact values: each a table index and the low bits kept
        meta = fields[f"logp{n}"]
        assert meta["width"] <= 64 and meta["width"] - meta["low"] == compact.bits_for(header["arrays"][meta["table"]]["shape"][0])
    raw = 8 * len(model.train_names)
    stored = sum(header["arrays"][f"train_names_{part}"]["shape"][0] * (8 if part == "low" else 1) for part in ("low", "high"))
    assert stored < 0.9 * raw


@pytest.mark.parametrize("width", [1, 2, 5, 7, 8, 13, 31, 32, 33, 52, 57, 63, 64])
def test_bit_packing_round_trips_at_every_width(width):
    rng = np.random.default_rng(width)
    values = rng.integers(0, 2**63, 3001, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 3001, dtype=np.uint64)
    if width < 64:
        values &= np.uint64((1 << width) - 1)
    values[:2] = [0, (1 << width) - 1]  # the extremes
    words = compact.pack(values, width)
    assert words.dtype == np.uint64 and len(words) == compact.words_for(len(values), width) == (3001 * width + 63) // 64 + 1
    assert np.array_equal(compact.unpack(words, width, len(values)), values)
    index = rng.integers(0, len(values), 500)
    assert np.array_equal(compact.unpack_at(words, width, index), values[index])


def test_floats_and_fingerprints_round_trip_bit_for_bit():
    rng = np.random.default_rng(1)
    for values in (np.concatenate((np.log(rng.random(20000)), [0.0, -0.0, -np.inf, -1e-300, -700.0])),
                   np.log(np.array([0.5, 0.25, 0.25])), np.zeros(0), -rng.random(100) * 1e6):
        codes, table, low = compact.split_floats(values)
        back = compact.join_floats(codes, table, low, None)
        assert np.array_equal(back.view(np.uint64), np.asarray(values, np.float64).view(np.uint64))
    codes, table, low = compact.split_floats(np.log(np.array([0.5, 0.25, 0.25, 0.125])))
    assert low == 0 and len(table) == 3  # few distinct values: a codebook of whole values
    for count in (0, 1, 2, 1000, 70000):
        hashes = np.unique(rng.integers(0, 2**64 - 1, count, dtype=np.uint64, endpoint=True))
        low_words, high, low = compact.elias_fano(hashes)
        assert np.array_equal(compact.elias_fano_values(low_words, high, low, len(hashes), None), hashes)


def test_old_version_1_files_still_load_and_score_the_same():
    """Files written by the first compact format (committed in tests/data) load and answer as the
    model they were written from, which training makes again bit for bit."""
    model = train(TINY + ["mario", "marta", "nina", "bruno"], 3, make_estimator("kneser-ney"))
    names = ["anna", "mario", "bob", "nan", "marta"]
    old = load(DATA / "compact-v1.ngram")
    assert old.compact["version"] == 1 and old.compact["widths"]["last2"] == 8
    for a, b in zip(model.levels, old.levels):
        assert np.array_equal(a.keys, b.keys) and np.array_equal(a.logp, b.logp) and np.array_equal(a.bow, b.bow)
    assert np.array_equal(old.train_names, model.train_names)
    assert np.array_equal(old.score(names)[0], model.score(names)[0])
    quantised = load(DATA / "compact-v1-q8.ngram")
    assert quantised.compact["quantisation"] == {"logp_bits": 8, "bow_bits": 8}
    assert np.abs(_row_sums(quantised) - 1).max() <= compact.tolerance(8, 8)
    fresh = compact.parse(memoryview(compact.to_bytes(model, 8, 8)), "fresh")  # few values: the same codebooks today
    for a, b in zip(fresh.levels, quantised.levels):
        assert np.array_equal(a.logp, b.logp) and np.array_equal(a.bow, b.bow)
    assert np.array_equal(quantised.score(names)[0], fresh.score(names)[0])


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
        assert (tmp_path / "q.ngram").stat().st_size < 0.7 * len(compact.to_bytes(model))
        fields = _header(tmp_path / "q.ngram")["fields"]
        assert all(meta["width"] <= 8 for name, meta in fields.items() if name.startswith("logp") and meta["count"] > 10000)


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
    from ngram.lm.mixtures.models import NameMixture

    model = train(TINY, 2, make_estimator("kneser-ney"))
    with pytest.raises(NgramError, match="back-off model"):
        save(NameMixture([model, model], [False, True], [0.5, 0.5]), tmp_path / "m.ngram", compact=True)
    assert not (tmp_path / "m.ngram").exists()


def test_bad_bits_are_refused(tmp_path):
    with pytest.raises(NgramError, match="8 or 16"):
        save(train(TINY, 2, AddK(0.1)), tmp_path / "m.ngram", logp_bits=4)


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
    "missing array": (lambda d: _with_header(d, lambda h: h["fields"].pop("last3")), "keys3 is missing"),
    "missing words": (_table(lambda t: t.pop("last3")), "last3 is missing"),
    "bad width": (lambda d: _with_header(d, lambda h: h["fields"]["last2"].update(width=65)), "badly declared"),
    "bad table": (lambda d: _with_header(d, lambda h: h["fields"]["logp2"].update(low=70)), "malformed"),
    "bad selection": (lambda d: _with_header(d, lambda h: h["fields"]["bow1"].update(select="children7")), "selects"),
    "wrong length": (_table(lambda t: t["last2"].update(shape=[1])), "wrong type or length"),
    "bad quantisation": (lambda d: _with_header(d, lambda h: h.update(quantisation={"logp_bits": 3})), "quantisation"),
    "estimator not an object": (lambda d: _with_header(d, lambda h: h.update(estimator=[1])), "not an object"),
}
# Damage only found when a level is rebuilt (on first use): still one line, never a wrong answer.
LATE = {
    "symbol out of range": (_poke("last2", lambda a: np.full_like(a, 2**64 - 1)), "symbols are out of range"),
    "children do not add up": (_poke("children1", lambda a: np.full_like(a, 2**64 - 1)), "child counts"),
    "probability above 1": (lambda d: _table_of("logp2", lambda low: np.float64(3.0).view(np.uint64) >> np.uint64(low))(d), "not valid"),
    "unsorted": (lambda d: _repack("last3", lambda v, low: v[::-1].copy())(d), "not sorted"),
    "weights do not match": (lambda d: _with_header(d, lambda h: h["fields"]["bow2"].pop("select")), "wrong type or length"),
}


def _repack(name, edit):
    """Unpack a field, change its values with ``edit(values, low)`` and pack them back in place."""
    def change(data: bytes) -> bytes:
        header = _header_of(data)
        meta, entry = header["fields"][name], header["arrays"][name]
        words = np.frombuffer(data, np.uint64, entry["shape"][0], entry["offset"])
        values = edit(compact.unpack(words, meta["width"], meta["count"]), meta.get("low", 0))
        raw = compact.pack(values, meta["width"]).tobytes()
        return data[:entry["offset"]] + raw + data[entry["offset"] + len(raw):]
    return change


def _table_of(name, entry):
    """Every entry of a field's table set to ``entry(low)``."""
    def change(data: bytes) -> bytes:
        low = _header_of(data)["fields"][name]["low"]
        return _poke(_header_of(data)["fields"][name]["table"], lambda a: np.full_like(a, entry(low)))(data)
    return change


def _header_of(data: bytes) -> dict:
    return json.loads(data[16 : 16 + int.from_bytes(data[8:16], "little")])


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
    header = _header_of(data)
    width, table = header["fields"]["logp2"]["width"], header["arrays"]["logp_table2"]["shape"][0]
    assert table < 2**width  # a code outside the table can be written
    path.write_bytes(_repack("logp2", lambda v, low: np.full_like(v, 2**width - 1))(data))
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_info_says_whether_a_file_is_compact(tmp_path):
    corpus = tmp_path / "names.txt"
    corpus.write_text("\n".join(TINY + ["mario", "marta", "nina", "bruno", "marina"]) + "\n")
    assert _ngram("train", corpus, "-N", 3, "-s", "kneser-ney", "-o", "plain.ngram", "-q", cwd=tmp_path).returncode == 0
    assert _ngram("train", corpus, "-N", 3, "-s", "kneser-ney", "--quantise", "8,16", "-o", "q.ngram", "-q", cwd=tmp_path).returncode == 0
    plain = json.loads(_ngram("info", "plain.ngram", "--json", cwd=tmp_path).stdout)["file"]
    assert plain == {"form": "ordinary", "file_bytes": (tmp_path / "plain.ngram").stat().st_size}
    done = _ngram("info", "q.ngram", "--json", cwd=tmp_path)
    form, V = json.loads(done.stdout)["file"], load(tmp_path / "q.ngram").V
    assert form["form"] == "compact" and form["version"] == compact.VERSION and form["file_bytes"] == (tmp_path / "q.ngram").stat().st_size
    assert form["quantisation_bits"] == {"logp": 8, "bow": 16}
    assert form["field_width_bits"]["last2"] == compact.bits_for(V)
    assert form["field_width_bits"] == {name: meta["width"] for name, meta in _header(tmp_path / "q.ngram")["fields"].items() if "width" in meta}
    text = _ngram("info", "q.ngram", cwd=tmp_path).stdout
    assert "compact, memory-mapped (format version 2)" in text and "probabilities 8, back-off weights 16 bits" in text
    assert f"last {compact.bits_for(V)}" in text
    assert "ordinary model file" in _ngram("info", "plain.ngram", cwd=tmp_path).stdout
    old = json.loads(_ngram("info", DATA / "compact-v1.ngram", "--json", cwd=tmp_path).stdout)["file"]
    assert old["version"] == 1 and old["field_width_bits"]["last2"] == 8
