"""``tune --neural``: the held-out search keeps the counts unless a neural mixture beats them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import TUNING_HELD, TUNING_TRAIN
from ngram import NgramError, Vocabulary
from ngram.cli import main
from ngram.formats import native

TINY_NET = dict(layers=1, hidden=6, embedding=4, max_epochs=2, batch_size=8, threads=1)


def search(monkeypatch, min_gain: float):
    pytest.importorskip("torch")
    from ngram.lm.neural.fit import NeuralSettings
    from ngram.tuning import neural_search

    monkeypatch.setattr(neural_search, "MIN_GAIN", min_gain)
    monkeypatch.setattr(neural_search, "STANDARD_ERRORS", 2.0 if min_gain > 0 else -1e9)
    return neural_search.tune_neural(TUNING_TRAIN * 2, val_names=TUNING_HELD * 2, settings=NeuralSettings(**TINY_NET),
                                     count_options={"orders": [2, 3], "fast": True})


@pytest.mark.slow
def test_the_counts_are_kept_when_no_mixture_gains_enough(monkeypatch):
    result = search(monkeypatch, min_gain=10.0)
    assert result.best["kind"] == "counts"
    assert result.model is result.count_result.model  # exactly what ngram tune saves
    kinds = {c["kind"] for c in result.candidates}
    assert {"counts", "gru", "symbol-linear", "loglinear"} <= kinds


@pytest.mark.slow
def test_a_chosen_mixture_is_saved_with_the_weights_the_held_out_names_judged(monkeypatch, tmp_path):
    result = search(monkeypatch, min_gain=-10.0)
    best = result.best
    assert best["kind"] != "counts" and best["cv_nll"] == min(c["cv_nll"] for c in result.candidates if c["kind"] != "counts")
    held = TUNING_HELD * 2
    totals, symbols = result.model.score(held)
    assert abs(-totals.sum() / symbols.sum() - best["heldout_nll"]) < 1e-9
    path = tmp_path / "m.ngram"
    native.save(result.model, path)
    assert np.allclose(native.load(path).score(held)[0], totals, atol=1e-12)


@pytest.mark.slow
def test_loglinear_and_linear_mixtures_are_never_worse_than_their_counts_on_the_names_they_weigh(monkeypatch):
    result = search(monkeypatch, min_gain=0.002)
    rows = {c["kind"]: c for c in result.candidates}
    # Weights fitted on all held-out names include the counts alone (exponent/weight 0 for the GRU).
    gru_free = min(rows["loglinear"]["heldout_nll"], rows["symbol-linear"]["heldout_nll"])
    assert gru_free <= rows["counts"]["heldout_nll"] + 0.05  # the left-to-right counts alone may be a bit weaker


@pytest.mark.slow
def test_tune_neural_on_the_command_line(tmp_path, capsys):
    pytest.importorskip("torch")
    train, held = tmp_path / "train.txt", tmp_path / "held.txt"
    train.write_text("\n".join(TUNING_TRAIN * 2) + "\n")
    held.write_text("\n".join(TUNING_HELD * 2) + "\n")
    out = tmp_path / "best.ngram"
    code = main(["tune", str(train), "--val", str(held), "--neural", "--layers", "1", "--hidden", "6", "--epochs", "2",
                 "--threads", "1", "--orders", "2-3", "--fast", "--seed", "3", "-o", str(out), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["training"]["best_epoch"] >= 1 and len(report["candidates"]) >= 4
    assert sum(c["best"] for c in report["candidates"]) == 1
    model = native.load(out)
    assert model.vocabulary == Vocabulary.from_names(TUNING_TRAIN + TUNING_HELD)


@pytest.mark.slow
def test_tune_neural_without_pytorch_is_a_one_line_error(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(TUNING_TRAIN) + "\n")
    code = ("import sys; sys.modules['torch'] = None\nfrom ngram.cli import main\n"
            f"sys.exit(main(['tune', {str(train)!r}, '--neural', '--fast', '--orders', '2-3', '-o', "
            f"{str(tmp_path / 'm.ngram')!r}]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0
    assert run.stderr.strip().startswith("error:") and "PyTorch" in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_a_network_trained_on_other_names_is_refused(tmp_path):
    from ngram.tuning.neural_search import tune_neural
    from support import gru

    net = gru(Vocabulary.from_names(TUNING_TRAIN + TUNING_HELD))
    with pytest.raises(NgramError, match="not trained on"):
        tune_neural(TUNING_TRAIN, val_names=TUNING_HELD, network=net, count_options={"orders": [2], "fast": True})
