"""Plots: the bigram heatmap, NLL against order, the tuning curve; matplotlib is optional."""

import builtins
import json
from collections import Counter

import numpy as np
import pytest

from ngram import AddK, NgramError, make_estimator, train
from ngram.cli import main
from ngram.formats.native import save
from ngram.evaluation.plots import bigram_table, heatmap_data, plot_heatmap, plot_tuning
from ngram.lm.mixtures.models import NameMixture

NAMES = ["anna", "anne", "bob", "ann", "nan", "a b", "bobby", "ella", "lena"]
PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG)


def test_bigram_table_is_the_bigram_model():
    model = train(NAMES, order=2, estimator=make_estimator("mle"))
    table, rows, cols = bigram_table(model)
    assert rows[0] == "." and cols[0] == "." and rows[1:] == model.vocabulary.characters
    pairs = Counter((a, b) for n in NAMES for a, b in zip("." + n, n + "."))
    for i, prev in enumerate(rows):
        total = sum(c for (a, _), c in pairs.items() if a == prev)
        for j, nxt in enumerate(cols):
            assert table[i, j] == pytest.approx(pairs[(prev, nxt)] / total, abs=1e-12)


def averaged_by_brute_force(model, names):
    """The heatmap's definition, one prefix at a time: every position of every name is a context;
    the row of symbol c averages the model's next-symbol vectors at the positions after a c."""
    V = model.V
    sums, seen = np.zeros((V, V)), np.zeros(V)
    for name in names:
        for i in range(len(name) + 1):
            previous = model.vocabulary.symbols.index(name[i - 1]) if i else 0
            sums[previous] += model.probs(name[:i])
            seen[previous] += 1
    return sums, seen


def test_higher_orders_average_their_own_vectors_over_the_training_contexts():
    model = train(NAMES, order=4, estimator=make_estimator("witten-bell"))
    data = heatmap_data(model, NAMES, source="NAMES")
    sums, seen = averaged_by_brute_force(model, NAMES)
    rows = data.row_ids
    assert rows == list(range(len(model.vocabulary.characters) + 1)) and data.col_ids == list(range(model.V))
    assert np.allclose(data.occurrences, seen[rows]) and np.allclose(data.table.sum(axis=1), 1.0, atol=1e-12)
    assert np.allclose(data.table, sums[rows] / seen[rows][:, None], atol=1e-12)
    # The start row has one context: it is p(first character), exactly.
    assert np.allclose(data.table[0], model.probs(""), atol=1e-12)
    # Not the order-2 view the picture used to show: after 'b' the model knows more than 'b'.
    b = model.vocabulary.characters.index("b") + 1
    assert not np.allclose(data.table[b], model.probs("b", at_start=False), atol=1e-3)
    assert "averaged over every context" in data.title and "NAMES" in data.title


def expected_bigram_mass(model, depth=10, floor=1e-6):
    """Σ_h P(h…) p(· | h) by the last symbol of h, over every prefix h a name reaches with
    probability above ``floor``, from the model's exact next-symbol vectors (``model.probs``)."""
    V = model.V
    sums = np.zeros((V, V))
    frontier = [("", 1.0)]
    for _ in range(depth):
        following = []
        for prefix, mass in frontier:
            p = model.probs(prefix)
            sums[model.vocabulary.symbols.index(prefix[-1]) if prefix else 0] += mass * p
            following += [(prefix + c, mass * p[j + 1]) for j, c in enumerate(model.vocabulary.characters)
                          if mass * p[j + 1] > floor]
        frontier = following
    return sums


@pytest.mark.slow
def test_a_whole_name_mixture_is_weighted_by_its_own_expected_contexts():
    short = ["a", "ab", "abb", "b", "aab", "ba", "a", "abab"]
    forward = train(short, order=2, estimator=make_estimator("witten-bell"))
    backward = train([n[::-1] for n in short], order=3, estimator=make_estimator("witten-bell"), vocabulary=forward.vocabulary)
    mixture = NameMixture([forward, backward], [False, True], [0.2, 0.8])
    data = heatmap_data(mixture, samples=40_000)
    exact = expected_bigram_mass(mixture)
    assert np.allclose(data.table.sum(axis=1), 1.0, atol=1e-12)
    # (the estimate is within 0.001 here; reading the right-to-left component forwards is 0.2 off,
    # swapping the weights 0.026)
    assert np.abs(data.table - exact / exact.sum(axis=1, keepdims=True)).max() < 0.005
    assert "own expected frequencies" in data.title and "40,000 names" in data.title


@pytest.mark.slow
def test_row_q_of_an_english_order_six_model_says_what_follows_q():
    """The old picture (the order-2 view) gave u 0.33 after q; the names put u after 196 of the
    262 q's of the training file (74.8%, the rest mostly ends and qa/qi), and the averaged
    vectors of an order-6 model must say so."""
    from conftest import shared_file
    from ngram import read_names

    names = read_names(shared_file("english-names-train.txt")).names
    model = train(names, order=6, estimator=make_estimator("modified-kneser-ney"))
    data = heatmap_data(model, names)
    q, u = (model.vocabulary.characters.index(c) + 1 for c in "qu")
    after_q = Counter(n[i + 1] if i + 1 < len(n) else "." for n in names for i, c in enumerate(n) if c == "q")
    assert data.table[q, u] == pytest.approx(after_q["u"] / sum(after_q.values()), abs=0.03)
    assert data.table[q, u] > 0.7 and data.table[q].argmax() == u


@pytest.mark.slow
def test_heatmap_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    plot_heatmap(train(NAMES, order=3, estimator=AddK(0.1)), tmp_path / "h.png")
    assert is_png(tmp_path / "h.png")


@pytest.mark.slow
def test_tuning_plot_takes_a_list_of_result_dicts(tmp_path):
    pytest.importorskip("matplotlib")
    results = [
        {"estimator": "add-k", "order": o, "settings": {"k": k}, "train_nll": 2.0 - 0.1 * o, "val_nll": 2.2 - 0.05 * o + k}
        for o in (2, 3, 4) for k in (0.1, 0.5)
    ] + [{"estimator": "kneser-ney", "order": o, "settings": {}, "train_nll": None, "val_nll": 2.0 - 0.06 * o} for o in (2, 3, 4)]
    plot_tuning(results, tmp_path / "t.png")
    assert is_png(tmp_path / "t.png")
    # ngram.tuning's rows: heldout_nll, a "best" flag, and mixtures spanning orders ("3-10").
    tuning_rows = [{"kind": "single", "estimator": r["estimator"], "order": r["order"], "settings": r["settings"],
                    "train_nll": r["train_nll"], "heldout_nll": r["val_nll"], "best": False} for r in results]
    tuning_rows.append({"kind": "order-mixture", "estimator": "modified-kneser-ney", "order": "3-10", "settings": {},
                        "train_nll": None, "heldout_nll": 1.5, "best": True})
    plot_tuning(tuning_rows, tmp_path / "tune.png")
    assert is_png(tmp_path / "tune.png")
    with pytest.raises(NgramError, match="val_nll"):
        plot_tuning([{"estimator": "add-k", "order": 2}], tmp_path / "bad.png")
    with pytest.raises(NgramError, match=".png"):
        plot_tuning(results, tmp_path / "t.txt")


@pytest.mark.slow
def test_the_chosen_star_sits_on_the_chosen_models_curve(tmp_path):
    """Tuned and closed-form rows of one estimator are two curves; the chosen closed-form order 5
    is drawn, and its star is one of its points (not on the tuned curve beside it)."""
    pytest.importorskip("matplotlib")
    rows = [{"kind": kind, "estimator": "modified-kneser-ney", "order": o, "settings": {},
             "heldout_nll": 2.0 - 0.05 * o - (0.01 if kind == "single" else 0.0), "best": kind == "closed-form" and o == 5}
            for kind in ("single", "closed-form") for o in (3, 4, 5, 6)]
    drawn = plot_tuning(rows, tmp_path / "t.png")
    assert set(drawn["curves"]) == {"modified-kneser-ney", "modified-kneser-ney (closed-form)"}
    assert drawn["star"] == (5, pytest.approx(1.75)) and drawn["star"] in drawn["curves"]["modified-kneser-ney (closed-form)"]
    assert drawn["star"] not in drawn["curves"]["modified-kneser-ney"]


@pytest.mark.slow
def test_cli_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    train_file, val_file = tmp_path / "train.txt", tmp_path / "val.txt"
    train_file.write_text("\n".join(NAMES * 3) + "\n", encoding="utf-8")
    val_file.write_text("anna\nbobbe\nlen\n", encoding="utf-8")
    save(train(NAMES, order=2, estimator=AddK(0.1)), tmp_path / "m.ngram")
    assert main(["plot", "heatmap", str(tmp_path / "m.ngram"), "-o", str(tmp_path / "h.png")]) == 0
    assert is_png(tmp_path / "h.png")
    assert main(["plot", "orders", str(train_file), "--val", str(val_file), "--orders", "1-4",
                 "--estimators", "add-k,witten-bell", "-o", str(tmp_path / "o.png")]) == 0
    out = capsys.readouterr().out
    assert "nats/symbol" in out and out.count("<- best held-out") == 1 and len(out.strip().splitlines()) == 2 + 8
    assert is_png(tmp_path / "o.png")
    assert main(["plot", "orders", str(train_file), "--val-fraction", "0.3", "--orders", "2,3", "--estimators", "add-k",
                 "-o", str(tmp_path / "f.png"), "--json"]) == 0
    assert "seed 0" in json.loads(capsys.readouterr().out)["heldout"]
    assert main(["plot", "orders", str(train_file), "-o", str(tmp_path / "n.png")]) == 1
    assert "--val" in capsys.readouterr().err


def hide_matplotlib(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_matplotlib_is_one_clear_line(tmp_path, monkeypatch, capsys):
    hide_matplotlib(monkeypatch)
    with pytest.raises(NgramError) as info:
        plot_heatmap(train(NAMES, order=2, estimator=AddK(0.1)), tmp_path / "h.png")
    assert "matplotlib" in str(info.value) and "pip install" in str(info.value) and "\n" not in str(info.value)
    save(train(NAMES, order=2, estimator=AddK(0.1)), tmp_path / "m.ngram")
    (tmp_path / "t.txt").write_text("anna\n", encoding="utf-8")
    for argv in (["plot", "heatmap", str(tmp_path / "m.ngram"), "-o", str(tmp_path / "h.png")],
                 ["plot", "orders", str(tmp_path / "t.txt"), "--val", str(tmp_path / "t.txt"), "-o", str(tmp_path / "o.png")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: plotting needs matplotlib") and err.count("\n") == 1
    assert not (tmp_path / "h.png").exists()


@pytest.mark.slow
def test_tune_writes_its_curve_with_plot(tmp_path):
    pytest.importorskip("matplotlib")
    corpus = tmp_path / "names.txt"
    corpus.write_text("\n".join(NAMES * 3) + "\n", encoding="utf-8")
    code = main(["tune", str(corpus), "--val-fraction", "0.3", "--orders", "2-3", "-s", "add-k",
                 "-o", str(tmp_path / "best.ngram"), "--plot", str(tmp_path / "tune.png"), "-q"])
    assert code == 0
    assert is_png(tmp_path / "tune.png") and (tmp_path / "best.ngram").is_file()


def test_a_large_alphabet_draws_the_characters_that_occur_most(monkeypatch, tmp_path):
    """Past DRAWN_SYMBOLS rows the heatmap keeps the start, the end and the characters that occur
    most (asking the model for those columns only): the same numbers as the whole table's cells,
    the title saying what is left out; a picture of thousands of characters would take gigabytes."""
    from collections import Counter

    from ngram.evaluation import plots

    model = train(NAMES, order=3, estimator=make_estimator("witten-bell"))
    whole = heatmap_data(model, NAMES, source="NAMES")
    monkeypatch.setattr(plots, "DRAWN_SYMBOLS", 5)
    cut = heatmap_data(model, NAMES, source="NAMES")
    often = Counter("".join(NAMES))
    top = sorted(often, key=lambda ch: (-often[ch], model.vocabulary.symbols.index(ch)))[:4]
    ids = sorted(model.vocabulary.symbols.index(ch) for ch in top)
    assert cut.row_ids == [0, *ids] and cut.col_ids == [0, *ids] and cut.table.shape == (5, 5)
    rows = [whole.row_ids.index(i) for i in cut.row_ids]
    assert np.allclose(cut.table, whole.table[np.ix_(rows, cut.col_ids)], atol=1e-12)
    assert np.allclose(cut.occurrences, whole.occurrences[rows])
    assert "4 characters that occur most (of" in cut.title
    # drawn from the whole table too (a whole-name mixture's walks give every column): cut alike
    drawn = plots.most_frequent(whole, 5)
    assert drawn.table.shape == (5, 5) and drawn.row_ids[0] == 0 and drawn.col_ids[0] == 0
    if __import__("importlib").util.find_spec("matplotlib"):
        assert plot_heatmap(model, tmp_path / "h.png", data=whole).table.shape == (5, 5)
