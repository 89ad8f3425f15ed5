"""Name-origin classifier: Bayes rule over one model per corpus, checked on the two shipped corpora."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ngram import AddK, NgramError, classify, make_estimator, read_names, train
from ngram.evaluation.classifier import assess, read_labelled
from ngram.cli import main
from ngram.formats.native import save

DATA = Path(__file__).resolve().parents[2] / "data"
HELD_OUT = 300  # names per corpus kept out of training for the labelled set


def corpus(name):
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is missing; build it with scripts/build_data.py or scripts/build_second_corpus.py")
    return read_names(path).names


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    models, labelled = [], []
    for label, file in (("it", "italian-first-names.txt"), ("en", "english-first-names.txt")):
        names = corpus(file)
        order = rng.permutation(len(names))
        held = [names[i] for i in order[:HELD_OUT]]
        models.append(train([names[i] for i in order[HELD_OUT:]], order=4, estimator=make_estimator("witten-bell")))
        labelled += [(n, label) for n in held]
    return models, labelled


def test_classifier_beats_chance_by_a_wide_margin_on_held_out_names(setup):
    models, labelled = setup
    names, gold = zip(*labelled)
    result = classify(models, names, labels=["it", "en"])
    report = assess(result, gold)
    assert report.majority_share == 0.5
    # Chance is 0.5; 133 names (e.g. "alice", "andrea") are in both corpora, so 1.0 is out of reach.
    assert report.accuracy > 0.85
    assert report.confusion.sum() == len(labelled) and report.confusion[:, :2].trace() == report.correct


def test_posterior_is_bayes_rule(setup):
    models, _ = setup
    priors = [0.3, 0.7]
    result = classify(models, ["maria", "john"], priors=priors, labels=["it", "en"])
    for row, name in zip(result.posterior, ["maria", "john"]):
        joint = [math.log(p) + m.logprob(name) for p, m in zip(priors, models)]
        expected = np.exp(joint - np.logaddexp.reduce(joint))
        assert np.allclose(row, expected, rtol=0, atol=1e-12)
    assert result.predicted_labels() == ["it", "en"]


def test_a_strong_prior_moves_predictions_towards_its_label(setup):
    models, labelled = setup
    names = [n for n, _ in labelled]
    even = classify(models, names, labels=["it", "en"])
    skewed = classify(models, names, priors=[0.999, 0.001], labels=["it", "en"])
    assert (skewed.predicted == 0).sum() > (even.predicted == 0).sum()


def test_unknown_characters_rule_out_a_model_unless_it_has_unk():
    a = train(["anna", "maria"], order=2, estimator=AddK(0.1))
    b = train(["john", "mary"], order=2, estimator=AddK(0.1))
    result = classify([a, b], ["jo", "zz", "ann"], labels=["a", "b"])
    assert result.predicted_labels() == ["b", None, "a"]
    assert np.isnan(result.posterior[1]).all()
    assert result.posterior[0, 0] == 0.0  # 'j' is not in model a's vocabulary
    with_unk = train(["anna", "maria"], order=2, unk=True)
    result = classify([with_unk, b], ["zz"], labels=["a", "b"])
    assert result.predicted_labels() == ["a"] and result.posterior[0].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"priors": [0.5]}, "1 priors for 2 models"),
    ({"priors": "0.5,0.5"}, "the command line parses --priors"),
    ({"priors": [0.5, -1]}, "positive"),
    ({"labels": ["x"]}, "1 labels for 2 models"),
    ({"labels": ["x", "x"]}, "different"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    models = [train(["anna"], order=2, estimator=AddK(0.1)), train(["anna"], order=2, estimator=AddK(0.1))]
    with pytest.raises(NgramError, match=message):
        classify(models, ["anna"], **kwargs)


def test_labelled_file_lines_need_a_tab(tmp_path):
    (tmp_path / "l.tsv").write_text("anna\tit\nbob\n", encoding="utf-8")
    with pytest.raises(NgramError, match="line 2"):
        read_labelled(tmp_path / "l.tsv")


def test_cli_classify_and_eval(tmp_path, capsys, setup):
    models, labelled = setup
    for label, m in zip(("it", "en"), models):
        save(m, tmp_path / f"{label}.ngram")
    (tmp_path / "names.txt").write_text("giuseppe\nwilliam\n", encoding="utf-8")
    (tmp_path / "labelled.tsv").write_text("".join(f"{n}\t{l}\n" for n, l in labelled), encoding="utf-8")
    it, en = str(tmp_path / "it.ngram"), str(tmp_path / "en.ngram")
    assert main(["classify", it, en, str(tmp_path / "names.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "name\tpredicted\tp(it)\tp(en)"
    assert lines[1].startswith("giuseppe\tit\t") and lines[2].startswith("william\ten\t")
    assert main(["classify", it, en, "--eval", str(tmp_path / "labelled.tsv")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accuracy 0.") and "confusion matrix" in out
    assert main(["classify", it, en, "--eval", str(tmp_path / "labelled.tsv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["eval"]
    assert report["accuracy"] > 0.85 and report["total"] == 2 * HELD_OUT
    assert main(["classify", it, en, "--labels", "x,y", "--eval", str(tmp_path / "labelled.tsv")]) == 1
    err = capsys.readouterr().err
    assert "label 'en' is not one of the models' labels (x, y)" in err and err.count("\n") == 1
    assert main(["classify", it, str(tmp_path / "names.txt")]) == 1
    assert "at least two model files" in capsys.readouterr().err
