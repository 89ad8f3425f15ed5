"""Mixture files, format version 2: arrays stored once, whole-name mixtures' forward masses kept."""

import json
import zipfile

import numpy as np
import pytest

from ngram import NgramError, make_estimator, train
from ngram.formats.native import load, save
from ngram.lm.mixtures.models import ContextMixture, NameMixture

NAMES = ["anna", "mario", "marta", "bruno", "nina", "maria", "ada", "bianca", "carla", "dario"]


@pytest.fixture(scope="module")
def mixture():
    kn = make_estimator("modified-kneser-ney")
    vocabulary = train(NAMES, 1, kn).vocabulary
    forward = ContextMixture([train(NAMES, n, kn, vocabulary=vocabulary) for n in (2, 3, 4)],
                             np.full((4, 3), 1 / 3))
    backward = ContextMixture([train([x[::-1] for x in NAMES], n, kn, vocabulary=vocabulary) for n in (2, 3, 4)],
                              np.full((4, 3), 1 / 3))
    return NameMixture([forward, backward], [False, True], [0.5, 0.5])


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename[:-4] for info in archive.infolist()}


def test_shared_keys_are_stored_once_and_shared_in_memory(tmp_path, mixture):
    save(mixture, tmp_path / "m.ngram")
    members = _members(tmp_path / "m.ngram")
    assert "c0_c0_keys2" in members and "c0_c1_keys2" not in members and "c0_c2_keys2" not in members
    again = load(tmp_path / "m.ngram")
    low, high = again.components[0].components[0], again.components[0].components[2]
    assert low.levels[1].keys is high.levels[1].keys  # one array in memory
    assert not np.shares_memory(low.levels[1].logp, high.levels[1].logp)
    names = ["anna", "mara", "zz" if "z" in mixture.vocabulary.characters else "ad"]
    np.testing.assert_array_equal(again.score(names)[0], mixture.score(names)[0])


def test_stored_forward_masses_answer_without_the_automaton(tmp_path, mixture):
    save(mixture, tmp_path / "m.ngram")
    again = load(tmp_path / "m.ngram")
    np.testing.assert_allclose(again.probs("ma"), mixture.probs("ma"), atol=1e-12)
    assert again.suffix_tables()[1]._logT is None


def _rewrite(path, out, change):
    arrays = dict(np.load(path))
    header = json.loads(arrays["header"].tobytes())
    change(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode("ascii"), dtype=np.uint8)
    with open(out, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("change,message", [
    (lambda h, a: h["same"].update({"c9_keys1": "nothing"}), "does not hold"),
    (lambda h, a: h.update(same=[1, 2]), "not a map"),
    (lambda h, a: a.update(fm1_visits=a["fm1_visits"][:-1]), "forward masses"),
    (lambda h, a: a.update(fm1_visits=-a["fm1_visits"]), "forward masses"),
    (lambda h, a: a.update(fm1_heavy=np.array([10**6]), fm1_heavylogt=np.zeros((1, a["fm1_heavylogt"].shape[1]))), "forward masses"),
    (lambda h, a: a.update(fm1_heavy=np.array([0]), fm1_heavylogt=np.full((1, a["fm1_heavylogt"].shape[1]), np.nan)), "forward masses"),
    (lambda h, a: a.pop("fm1_visits"), "fm1_visits is missing"),
    (lambda h, a: h["model"].update(forward_masses=[0]), "forward masses|missing"),
    (lambda h, a: h["model"].update(forward_masses="all"), "forward_masses"),
])
def test_damaged_version_2_entries_are_refused_in_one_line(tmp_path, mixture, change, message):
    save(mixture, tmp_path / "m.ngram")
    _rewrite(tmp_path / "m.ngram", tmp_path / "bad.ngram", change)
    with pytest.raises(NgramError, match=message) as error:
        load(tmp_path / "bad.ngram")
    assert "\n" not in str(error.value)


def _counted_mixture(flip=False):
    """An order mixture as tuning builds it: components fitted on one set of counts, kept with it."""
    from ngram.core.counting import Counts, count_ngrams

    kn = make_estimator("modified-kneser-ney")
    texts = [x[::-1] for x in NAMES] if flip else NAMES
    vocabulary = train(NAMES, 1, kn).vocabulary
    counts = count_ngrams(vocabulary.encode(texts), 4, vocabulary.size)
    models = [make_estimator("modified-kneser-ney", **({"discounts": [[0.5, 0.9, 1.2]] * k} if k == 3 else {}))
              .fit(Counts(k, counts.vocab_size, counts.keys[:k], counts.counts[:k]), vocabulary) for k in (2, 3, 4)]
    return ContextMixture(models, np.full((4, 3), 1 / 3), counts=counts)


def test_an_order_mixture_with_its_counts_stores_them_instead_of_its_tables(tmp_path):
    mixture = _counted_mixture()
    save(mixture, tmp_path / "counted.ngram")
    members = _members(tmp_path / "counted.ngram")
    assert "ncounts4" in members and not any(m.startswith("c0_") for m in members)
    again = load(tmp_path / "counted.ngram")
    for a, b in zip(again.components, mixture.components):
        assert a.estimator == b.estimator and a.order == b.order
        for x, y in zip(a.levels, b.levels):
            np.testing.assert_array_equal(x.logp, y.logp)
            np.testing.assert_array_equal(x.bow, y.bow)
    assert again.counts is not None
    save(again, tmp_path / "again.ngram")  # and it is written the same way again
    assert _members(tmp_path / "again.ngram") == members
    plain = ContextMixture(mixture.components, mixture.weights)  # no counts: every table is stored
    save(plain, tmp_path / "plain.ngram")
    assert "c0_logp2" in _members(tmp_path / "plain.ngram")
    assert (tmp_path / "counted.ngram").stat().st_size < (tmp_path / "plain.ngram").stat().st_size


def test_a_component_that_its_counts_do_not_give_keeps_its_tables(tmp_path):
    mixture = _counted_mixture()
    changed = mixture.components[1]
    changed.levels[1].logp[0] -= 1e-9  # no longer what its estimator makes of the counts
    save(mixture, tmp_path / "m.ngram")
    assert "c1_logp2" in _members(tmp_path / "m.ngram")


@pytest.mark.parametrize("change,message", [
    (lambda h, a: a.update(ncounts2=np.zeros_like(a["ncounts2"])), "not positive"),
    (lambda h, a: a.update(nkeys3=a["nkeys3"][::-1].copy()), "unsorted"),
    (lambda h, a: a.update(nkeys3=a["nkeys3"] + 1), "prefix or suffix|out of range|unsorted"),
    (lambda h, a: a.pop("ncounts4"), "missing"),
    (lambda h, a: h["model"]["counts"].update(order=99), "not possible"),
    (lambda h, a: h["model"]["components"][0]["refit"].update(discounts="many"), "fitted again"),
    (lambda h, a: h["model"]["components"][0].pop("refit"), "without its settings"),
    (lambda h, a: h["model"]["components"][1].update(order=7), "bad vocabulary or order"),
])
def test_damaged_counts_are_refused_in_one_line(tmp_path, change, message):
    save(_counted_mixture(), tmp_path / "m.ngram")
    _rewrite(tmp_path / "m.ngram", tmp_path / "bad.ngram", change)
    with pytest.raises(NgramError, match=message) as error:
        load(tmp_path / "bad.ngram")
    assert "\n" not in str(error.value)


def test_a_mixture_too_large_for_its_automaton_is_saved_without_forward_masses(tmp_path, mixture, monkeypatch):
    from ngram.lm.backoff import automaton

    fresh = NameMixture(mixture.components, mixture.reverse, mixture.weights)
    monkeypatch.setattr(automaton, "MAX_CELLS", 1)
    save(fresh, tmp_path / "m.ngram")
    assert not any("fm1_" in m for m in _members(tmp_path / "m.ngram"))
    again = load(tmp_path / "m.ngram")
    np.testing.assert_array_equal(again.score(NAMES)[0], fresh.score(NAMES)[0])
    with pytest.raises(NgramError, match="right-to-left component has .* train a left-to-right model") as error:
        again.probs("ma")
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_probs_chain_to_evaluate_per_name_through_the_command_line(tmp_path, mixture):
    import math
    import subprocess
    import sys

    from conftest import REPO

    save(mixture, tmp_path / "m.ngram")
    (tmp_path / "held.txt").write_text("mara\nnina\n")
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}

    def ngram(*args):
        done = subprocess.run([sys.executable, "-m", "ngram", *args, "--json"], cwd=tmp_path, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    per_name = {row["name"]: row["nll_nats"] for row in ngram("evaluate", "m.ngram", "held.txt", "--per-name")["per_name"]}
    for name, nll in per_name.items():
        total = 0.0
        for j in range(len(name) + 1):
            out = ngram("probs", "m.ngram", name[:j])
            assert abs(out["sum"] - 1.0) <= 1e-9
            symbol = name[j] if j < len(name) else "</s>"  # the end of the name, as JSON names it
            total -= math.log(out["probability"][symbol])
        assert total == pytest.approx(nll, abs=1e-9)


def test_counts_that_no_counting_makes_are_refused_when_fitted_again(tmp_path):
    """An n-gram left without any left neighbour (its longer n-grams cut out of the file) has an
    adjusted count of 0: the fit's own row check refuses it in one line, as a table check would."""
    mixture = _counted_mixture()
    save(mixture, tmp_path / "counted.ngram")
    V = mixture.V

    def cut(header, arrays):
        keys3, counts3, keys2 = arrays["nkeys3"], arrays["ncounts3"], arrays["nkeys2"]
        inner = keys2[keys2 >= V]  # a bigram that does not begin with <s>: its left neighbours are trigrams
        victim = inner[np.argmax(np.isin(inner, keys3 % V**2))]
        keep = keys3 % V**2 != victim
        arrays["nkeys3"], arrays["ncounts3"] = keys3[keep], counts3[keep]
        keys4, counts4 = arrays["nkeys4"], arrays["ncounts4"]  # and the 4-grams built on the removed trigrams
        keep4 = np.isin(keys4 // V, arrays["nkeys3"]) & np.isin(keys4 % V**3, arrays["nkeys3"])
        arrays["nkeys4"], arrays["ncounts4"] = keys4[keep4], counts4[keep4]

    _rewrite(tmp_path / "counted.ngram", tmp_path / "bad.ngram", cut)
    with pytest.raises(NgramError, match="damaged") as error:
        load(tmp_path / "bad.ngram")
    assert "\n" not in str(error.value)
