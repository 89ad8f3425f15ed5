import json
import os
import zipfile

import numpy as np
import pytest

from conftest import TINY
from ngram import MLE, AddK, NgramError, train
from ngram.estimators import ESTIMATORS, make_estimator
from ngram.formats.native import load, save
from ngram.lm.backoff.model import FileModel, Model


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


# ----- every model kind, one format ------------------------------------------------------------
def _kinds():
    """A model of every kind over one vocabulary, mixtures nested as tuning builds them and deeper."""
    from ngram.lm.mixtures.linear import compile_mixture
    from ngram.lm.mixtures.models import ContextMixture, NameMixture

    names = TINY + ["marta", "mario", "anna maria", "bruno", "nina"]
    kn = make_estimator("kneser-ney")
    vocabulary = train(names, 1, kn).vocabulary
    low, high = (train(names, n, kn, vocabulary=vocabulary) for n in (2, 3))
    backward = train([n[::-1] for n in names], 3, make_estimator("witten-bell"), vocabulary=vocabulary)
    context = ContextMixture([low, high], np.random.default_rng(0).dirichlet(np.ones(2), size=12), follower_bins=(2, 3, 6),
                             estimator={"name": "order-mixture", "orders": [2, 3]})
    both_ways = NameMixture([context, backward], [False, True], [0.6, 0.4], estimator={"name": "name-mixture"})
    nested = NameMixture([both_ways, low], [False, True], [0.5, 0.5])
    return {"backoff": high, "compiled": compile_mixture([low, context], [0.3, 0.7]), "context": context,
            "name": both_ways, "nested": nested}


KINDS = _kinds()
PROBE = ["anna", "mario", "", "bruna", "a b", "ninanina"]


def _same_model(a, b, names=True):
    # (a back-off model read from a file is a FileModel: one that reads its fingerprints when asked)
    assert (type(a) is type(b) or type(b) is FileModel and type(a) is Model) and a.kind == b.kind and a.describe() == b.describe()
    assert a.estimator == b.estimator and a.corpus == b.corpus and a.vocabulary == b.vocabulary
    assert np.array_equal(a.score(PROBE)[0], b.score(PROBE)[0])
    if names:  # one set of training-name fingerprints per file: the components get the file's
        assert (a.train_names is None) == (b.train_names is None)
        assert a.train_names is None or np.array_equal(a.train_names, b.train_names)
    parts_a, parts_b = a.name_components(), b.name_components()
    assert [(w, r) for w, _, r in parts_a] == [(w, r) for w, _, r in parts_b]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_round_trips_with_identical_scores(tmp_path, kind):
    model = KINDS[kind]
    save(model, tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    _same_model(model, again)
    for a, b in zip(getattr(model, "components", []), getattr(again, "components", [])):
        _same_model(a, b, names=False)
    if hasattr(model, "follower_bins"):
        assert again.follower_bins == model.follower_bins and np.array_equal(again.weights, model.weights)


def _old_layout(model, prefix=""):
    """The description and arrays as the code before the one-format change wrote them, spelled
    out here so the test does not depend on today's writer."""
    if hasattr(model, "levels"):
        header = {"type": "model", "vocabulary": model.vocabulary.to_json(), "order": model.order,
                  "estimator": model.estimator, "corpus": model.corpus}
        arrays = {}
        for n, level in enumerate(model.levels, start=1):
            arrays[f"{prefix}keys{n}"], arrays[f"{prefix}logp{n}"], arrays[f"{prefix}bow{n}"] = level.keys, level.logp, level.bow
        return header, arrays
    header = {"type": model.kind, "weights": model.weights.tolist(), "estimator": model.estimator, "corpus": model.corpus,
              "components": []}
    if model.kind == "name":
        header["reverse"] = model.reverse
    else:
        header["follower_bins"] = model.follower_bins
    arrays = {}
    for i, component in enumerate(model.components):
        sub, sub_arrays = _old_layout(component, f"{prefix}c{i}_")
        header["components"].append(sub)
        arrays.update(sub_arrays)
    return header, arrays


def _old_file(model, path):
    from ngram.lm.backoff.model import NAME_HASH

    description, arrays = _old_layout(model)
    if description["type"] == "model":
        header = {"format": "ngram-model", "version": 1, **{k: v for k, v in description.items() if k != "type"},
                  "name_hash": NAME_HASH}
    else:
        header = {"format": "ngram-mixture", "version": 1, "model": description, "name_hash": NAME_HASH}
    arrays = {"header": np.frombuffer(json.dumps(header).encode("ascii"), dtype=np.uint8), **arrays}
    if model.train_names is not None:
        arrays["train_names"] = model.train_names
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return header


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_files_in_the_previous_layout_still_load(tmp_path, kind):
    from ngram.formats.native import to_arrays

    model = KINDS[kind]
    header = _old_file(model, tmp_path / "old.ngram")
    _same_model(model, load(tmp_path / "old.ngram"))
    # and today's writer writes the same header (the same JSON object), but for what version 2 of
    # the mixture format adds: arrays stored once, a whole-name mixture's forward masses, and an
    # order mixture's completion bounds
    today = json.loads(to_arrays(model)["header"].tobytes())
    if header["format"] == "ngram-mixture":
        assert today.pop("version") == 2 and header.pop("version") == 1
        assert isinstance(today.pop("same"), dict)
        _drop_forward_masses(today["model"], model)
    assert today == header


def _drop_forward_masses(description, model):
    """Remove (after checking) what version 2 adds to each mixture's description."""
    if description["type"] == "name":
        assert description.pop("forward_masses") == [i for i, r in enumerate(model.reverse) if r]
    if description["type"] == "context":
        assert description.pop("completion_bounds") is True
    for sub, component in zip(description.get("components", []), getattr(model, "components", [])):
        _drop_forward_masses(sub, component)


def test_a_mixture_file_with_a_bad_component_is_refused_in_one_line(tmp_path):
    header = _old_file(KINDS["name"], tmp_path / "m.ngram")
    arrays = dict(np.load(tmp_path / "m.ngram"))
    for change, message in (
        (lambda h: h["model"]["components"][0].update(type="nonsense"), "unknown model type 'nonsense'"),
        (lambda h: h["model"].update(components=[]), "no components"),
        (lambda h: h["model"].update(weights=[0.9, 0.9]), "weights must be non-negative.* and sum to 1"),
        (lambda h: h["model"].update(reverse=None), "mixture header is damaged"),
    ):
        bad = json.loads(json.dumps(header))
        change(bad)
        arrays["header"] = np.frombuffer(json.dumps(bad).encode("ascii"), dtype=np.uint8)
        with open(tmp_path / "bad.ngram", "wb") as handle:
            np.savez(handle, **arrays)
        with pytest.raises(NgramError, match=message) as info:
            load(tmp_path / "bad.ngram")
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["back-off", "order mixture"])
def test_a_model_loads_and_reads_its_training_names_without_unix_only_calls(tmp_path, monkeypatch, kind):
    """Windows has neither os.pread nor private anonymous maps: loading (a top order's all-zero
    weights kept in untouched pages) and reading the fingerprints back (a mixture reads them at
    load) fall back to portable calls, with the same arrays and scores."""
    import mmap

    if kind == "back-off":
        model = train(TINY, 3, make_estimator("modified-kneser-ney"))
    else:
        from ngram.lm.mixtures.models import ContextMixture

        model = ContextMixture([train(TINY, 2, AddK(0.5)), train(TINY, 3, AddK(0.5))], np.array([[0.5, 0.5], [0.4, 0.6], [0.3, 0.7]]))
    save(model, tmp_path / "m.ngram")
    expected = load(tmp_path / "m.ngram")
    names, scores = expected.train_names.copy(), expected.score(TINY)[0]
    for module, name in ((os, "pread"), (mmap, "MAP_ANONYMOUS")):
        if hasattr(module, name):
            monkeypatch.delattr(module, name)
    got = load(tmp_path / "m.ngram")
    assert np.array_equal(got.train_names, names) and np.array_equal(got.score(TINY)[0], scores)
