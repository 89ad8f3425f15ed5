import json
import os
import zipfile

import numpy as np
import pytest

from conftest import TINY
from ngram import MLE, AddK, NgramError, train
from ngram.estimators import ESTIMATORS, make_estimator
from ngram.io import load, save


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_round_trip_gives_identical_scores(tmp_path, name):
    model = train(TINY, 4, make_estimator(name), unk=True)
    save(model, tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    names = ["anna", "bob", "xyz", "a b"]
    assert np.array_equal(again.score(names, unknown="unk")[0], model.score(names, unknown="unk")[0])
    assert again.vocabulary == model.vocabulary and again.estimator == model.estimator
    assert np.array_equal(again.train_names, model.train_names)


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.ngram"
    save(train(TINY, 2, AddK(0.1)), path)
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(NgramError, match="No space left.*unchanged"):
        save(train(TINY, 3, AddK(0.1)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.ngram"]  # no temporary file left behind


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(NgramError, match="does not exist"):
        save(train(TINY, 2, AddK(0.1)), tmp_path / "nope" / "m.ngram")


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with open(dst, "wb") as handle:
        np.savez(handle, **arrays)


def _header(arrays):
    return json.loads(arrays["header"].tobytes().decode())


def _set_header(arrays, header):
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: _set_header(a, {**_header(a), "version": 99}), "version 99"),
        (lambda a: _set_header(a, {**_header(a), "format": "other"}), "not an ngram model"),
        (lambda a: a.__setitem__("logp2", a["logp2"][:-1]), "different lengths"),
        (lambda a: a.__setitem__("logp2", np.full_like(a["logp2"], np.nan)), "not valid"),
        (lambda a: a.__setitem__("keys2", a["keys2"][::-1].copy()), "not sorted"),
        (lambda a: a.__setitem__("logp1", a["logp1"] + 5), "not valid"),
        (lambda a: a.pop("bow3"), "missing"),
        (lambda a: a.__setitem__("keys1", a["keys1"].astype(np.float32)), "wrong shape or type"),
    ],
)
def test_damaged_model_files_are_refused(tmp_path, change, message):
    good = tmp_path / "good.ngram"
    save(train(TINY, 3, MLE()), good)
    bad = tmp_path / "bad.ngram"
    _rewrite(good, bad, change)
    with pytest.raises(NgramError, match=message) as info:
        load(bad)
    assert "\n" not in str(info.value)


def test_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.ngram"
    save(train(TINY, 3, AddK(0.1)), good)
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        (tmp_path / "cut.ngram").write_bytes(data[:cut])
        with pytest.raises(NgramError):
            load(tmp_path / "cut.ngram")
    (tmp_path / "text.ngram").write_text("anna\nbob\n")
    with pytest.raises(NgramError, match="not an ngram model file"):
        load(tmp_path / "text.ngram")


def test_pickled_objects_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "evil.ngram"
    good = tmp_path / "good.ngram"
    save(train(TINY, 2, AddK(0.1)), good)
    _rewrite(good, bad, lambda a: a.__setitem__("logp1", np.array([Payload()], dtype=object)))
    with pytest.raises(NgramError, match="Python objects"):
        load(bad)
    assert not marker.exists()


def test_declared_sizes_are_checked_before_allocating(tmp_path):
    good = tmp_path / "good.ngram"
    save(train(TINY, 2, AddK(0.1)), good)
    bad = tmp_path / "huge.ngram"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "keys2.npy":
                data = data.replace(b"'shape': (", b"'shape': (999999999999")
            dst.writestr(info.filename, data)
    with pytest.raises(NgramError, match="declares"):
        load(bad)
