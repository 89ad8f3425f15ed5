"""Compact files checked like ordinary ones (issue 25, class 3): a file whose distributions do not
sum to 1 is refused at load in one line, declared sizes are checked before anything is
allocated, and saving over a model never truncates the file a reader has mapped."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from conftest import TINY
from ngram import AddK, make_estimator, train
from ngram.core.errors import NgramError
from ngram.formats import compact
from ngram.formats.native import load, save
from ngram.lm.backoff.model import Level, Model

NAMES = TINY * 3 + ["annabella", "bonnie", "ella", "nella", "bella", "anneli", "lina", "nina", "bob", "ben"]


def damaged_file(path, model, change) -> None:
    """Write ``model`` as a compact file after ``change(levels)``, skipping the writer's own check
    (as a file damaged on disk, or written by something else, would be)."""
    levels = [Level(lv.keys.copy(), lv.logp.copy(), lv.bow.copy()) for lv in model.levels]
    change(levels)
    model = Model(vocabulary=model.vocabulary, order=model.order, levels=levels)
    saved = compact.check_distributions
    compact.check_distributions = lambda *args, **kwargs: None
    try:
        path.write_bytes(compact.to_bytes(model))
    finally:
        compact.check_distributions = saved


@pytest.fixture(scope="module")
def model():
    return train(NAMES, 4, make_estimator("modified-kneser-ney"))


def test_an_intact_compact_file_loads_and_scores_as_the_ordinary_one(model, tmp_path):
    save(model, tmp_path / "m.ngram", compact=True)
    loaded = load(tmp_path / "m.ngram")
    ids = model.vocabulary.encode(["anna", "bella"])
    np.testing.assert_array_equal(loaded.logprob_encoded(ids), model.logprob_encoded(ids))


def multiply_backoffs(order: int, factor: float):
    def change(levels):
        levels[order - 1].bow = np.where(levels[order - 1].bow != 0, levels[order - 1].bow + np.log(factor), 0.0)
    return change


def halve_unigrams(levels):
    levels[0].logp = levels[0].logp - np.log(2.0)


@pytest.mark.parametrize("change, fragment", [
    (multiply_backoffs(2, np.exp(5)), "sum to"),
    (multiply_backoffs(3, np.exp(5)), "sum to"),
    (multiply_backoffs(1, 1.5), "sum to"),
    (halve_unigrams, "the unigram probabilities sum to 0.5"),
], ids=["order-2 weights x e^5", "order-3 weights x e^5", "order-1 weights x 1.5", "unigrams sum to 0.5"])
def test_a_compact_file_that_is_not_a_language_model_is_refused_at_load(model, tmp_path, change, fragment):
    path = tmp_path / "bad.ngram"
    damaged_file(path, model, change)
    with pytest.raises(NgramError, match=fragment) as error:
        load(path)
    assert "\n" not in str(error.value) and "not a language model" in str(error.value)


def test_quantised_files_load_within_their_own_tolerance(tmp_path):
    big = train(NAMES * 5, 5, make_estimator("modified-kneser-ney"))
    save(big, tmp_path / "q.ngram", compact=True, logp_bits=8, bow_bits=8)
    assert load(tmp_path / "q.ngram").order == 5


def test_the_load_check_costs_about_a_first_evaluation(tmp_path):
    """The check reads the levels once, vectorised: on 20,000 names at order 6 it takes at most a
    few times what building the evaluation automaton takes (both measured here)."""
    from ngram.lm.backoff.scoring import build_lean
    from support import generated_names

    big = train(generated_names(20_000, seed=2), 6, make_estimator("modified-kneser-ney"))
    save(big, tmp_path / "m.ngram", compact=True)
    start = time.process_time()
    loaded = load(tmp_path / "m.ngram")
    loading = time.process_time() - start
    start = time.process_time()
    build_lean(loaded)
    automaton = time.process_time() - start
    assert loading < 3 * automaton + 0.05, (loading, automaton)


def rewrite_header(path, change) -> None:
    data = bytearray(path.read_bytes())
    length = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16 : 16 + length])
    change(header)
    text = json.dumps(header, separators=(",", ":")).encode("ascii")
    assert len(text) <= length, "the test's change must not lengthen the header"
    data[16 : 16 + length] = text + b" " * (length - len(text))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("order, size, fragment", [
    (2, 2**27, "more than the"),  # 2^27 bigrams for a vocabulary of V symbols: at most V^2 exist
    (3, 10**15, "more than the"),
])
def test_declared_sizes_beyond_what_the_vocabulary_allows_are_refused_at_once(tmp_path, order, size, fragment):
    path = tmp_path / "m.ngram"
    save(train(TINY, 3, AddK(0.1)), path, compact=True)

    def change(header):
        header["sizes"][order - 1] = size
        for name, field in header["fields"].items():
            if name == f"last{order}" or name == f"logp{order}":
                field["count"] = size

    rewrite_header(path, change)
    start = time.process_time()
    with pytest.raises(NgramError, match=fragment) as error:
        load(path)
    assert time.process_time() - start < 0.5 and "\n" not in str(error.value)


def test_more_ngrams_than_their_contexts_can_have_are_refused(tmp_path):
    path = tmp_path / "m.ngram"
    model = train(TINY, 3, AddK(0.1))
    save(model, path, compact=True)
    V = model.V

    def change(header):  # below V^3, but more than the stored bigrams x V
        header["sizes"][2] = len(model.levels[1]) * V + 1

    rewrite_header(path, change)
    with pytest.raises(NgramError, match="contexts can have"):
        load(path)


def test_saving_over_a_mapped_model_replaces_the_file_and_never_truncates_it(model, tmp_path):
    """A reader that has mapped a model keeps reading the file it opened when a new model is
    saved over the name (a new file renamed in place; truncating the mapped one would kill the
    reader with SIGBUS)."""
    path = tmp_path / "m.ngram"
    save(model, path, compact=True)
    reader = load(path)
    before = os.stat(path)
    ids = model.vocabulary.encode(["anna", "nella"])
    expected = model.logprob_encoded(ids)
    for compact_form in (True, False):
        save(train(TINY, 2, AddK(1.0)), path, compact=compact_form)
        after = os.stat(path)
        assert after.st_ino != before.st_ino
        np.testing.assert_array_equal(reader.logprob_encoded(ids), expected)
