"""One set of defaults: ``ngram.train(names)`` in Python and ``ngram train`` at the command line make
the same model from the same names, and the library's evaluation picks the CLI's unknown policy."""

import numpy as np
import pytest

import ngram
from ngram import NgramError
from ngram.cli import main
from ngram.core.defaults import AUTO, DEFAULT_ESTIMATOR, DEFAULT_ORDER, unknown_policy
from ngram.formats.native import load, save
from ngram.training.policy import choose_estimator

# 60 names (over AUTO_MIN_NAMES = 50): enough for the default to tune by cross-validation.
SYLLABLES = ["an", "na", "bo", "be", "el", "la", "ri", "ma", "to", "lu"]
TUNABLE = [SYLLABLES[i % 10] + SYLLABLES[(3 * i + 1) % 10] + ("a" if i % 3 else "o") for i in range(60)]
FEW = ["anna", "anne", "bob", "ann", "nan", "a b"]  # under 50: the default falls back to the closed form


def assert_same_predictions(a, b, names):
    """Same kind of model, same settings, the same ln p for every name and next-symbol vector."""
    assert (a.kind, a.order, a.describe()) == (b.kind, b.order, b.describe())
    assert a.estimator == b.estimator
    assert np.array_equal(a.score(names)[0], b.score(names)[0])
    for name in names:
        for cut in range(len(name) + 1):
            assert np.array_equal(a.logprobs(name[:cut]), b.logprobs(name[:cut]))


def train_with_cli(tmp_path, names):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    assert main(["train", str(path), "-o", str(tmp_path / "m.ngram"), "--quiet"]) == 0
    return load(tmp_path / "m.ngram")


def test_the_library_and_the_cli_default_to_the_same_closed_form_model_on_few_names(tmp_path):
    library = ngram.train(FEW)
    assert library.order == DEFAULT_ORDER and library.estimator["name"] == DEFAULT_ESTIMATOR
    assert_same_predictions(library, train_with_cli(tmp_path, FEW), FEW + ["bab"])


@pytest.mark.slow  # two cross-validated tunings (a few seconds each)
def test_the_library_and_the_cli_default_to_the_same_tuned_model(tmp_path):
    library = ngram.train(TUNABLE)
    cli = train_with_cli(tmp_path, TUNABLE)
    assert library.estimator["name"] != DEFAULT_ESTIMATOR or library.kind != "model"  # tuned, not the fallback
    # The CLI's model comes from its file, whose whole-name mixture keeps the right-to-left forward
    # masses it stored (the same sums in another order: within 1e-15 of those made in memory), so
    # the library's model is compared as the same file gives it back.
    save(library, tmp_path / "library.ngram")
    assert_same_predictions(load(tmp_path / "library.ngram"), cli, TUNABLE[:10] + ["banana", "lu"])


def test_an_order_alone_asks_for_the_closed_form_at_that_order_as_the_cli_does(tmp_path):
    model = ngram.train(FEW, 3)
    assert (model.order, model.estimator["name"]) == (3, DEFAULT_ESTIMATOR)
    path = tmp_path / "names.txt"
    path.write_text("\n".join(FEW) + "\n", encoding="utf-8")
    assert main(["train", str(path), "-N", "3", "-o", str(tmp_path / "m.ngram"), "--quiet"]) == 0
    assert_same_predictions(model, load(tmp_path / "m.ngram"), FEW)


def test_explicit_settings_keep_working():
    model = ngram.train(FEW, 4, ngram.AddK(0.1))
    assert (model.order, model.estimator["name"]) == (4, "add-k")
    assert ngram.train(FEW, 2, "witten-bell").estimator["name"] == "witten-bell"


def test_the_estimator_choice_is_one_function():
    assert choose_estimator(None, None) == AUTO
    assert choose_estimator(5, None).name == DEFAULT_ESTIMATOR
    assert choose_estimator(None, "add-k", {"k": 0.5}).k == 0.5
    with pytest.raises(NgramError, match="--k sets an estimator's own setting"):
        choose_estimator(None, AUTO, {"k": 0.5})


def test_evaluate_defaults_to_the_cli_unknown_policy():
    assert unknown_policy(None, True) == "unk" and unknown_policy(None, False) == "error"
    assert unknown_policy("skip", True) == "skip"
    with_unk = ngram.train(FEW, 2, ngram.AddK(0.1), unk=True)
    assert ngram.evaluate(with_unk, ["anz"]).oov == 1  # scored as <unk>, as `ngram evaluate` does
    with pytest.raises(NgramError, match="not in the model's vocabulary"):
        ngram.evaluate(ngram.train(FEW, 2, ngram.AddK(0.1)), ["anz"])
