"""JSON names every symbol one way in every verb: a character is itself, the end of a name is
``</s>`` (the start, in contexts, ``<s>``), so a name holding '.' loses nothing."""

import json

import numpy as np
import pytest

from ngram import make_estimator, train
from ngram.cli import main
from ngram.formats.native import save

# Initials, an apostrophe, a hyphen, a space and digits: every one a real character of real names.
NAMES = ["st.john", "j.r", "anna", "maria", "mario", "o'neil", "mary-jane", "ann lee", "r2d2"]
CHARACTERS = sorted(set("".join(NAMES)))


@pytest.fixture
def dotted(tmp_path):
    path = tmp_path / "dot.ngram"
    save(train(NAMES, order=3, estimator=make_estimator("witten-bell")), path)
    return path


def run_json(capsys, *argv):
    assert main([*map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("context", ["", "j", "st", "j."])
def test_probs_names_every_symbol_once_and_the_end_apart_from_the_dot(dotted, capsys, context):
    out = run_json(capsys, "probs", dotted, context)
    keys = list(out["probability"])
    assert sorted(keys) == sorted(CHARACTERS + ["</s>"]) and len(keys) == len(set(keys)) == len(CHARACTERS) + 1
    assert sum(out["probability"].values()) == pytest.approx(1.0, abs=1e-12)
    model = train(NAMES, order=3, estimator=make_estimator("witten-bell"))
    p = model.probs(context)
    assert out["probability"]["</s>"] == pytest.approx(p[0])
    assert out["probability"]["."] == pytest.approx(p[model.vocabulary.symbols.index(".", 1)])


def test_info_lists_the_vocabulary_by_id_with_the_end_reserved(dotted, capsys):
    out = run_json(capsys, "info", dotted)
    assert out["vocabulary"] == ["</s>"] + CHARACTERS and out["vocabulary_size"] == len(CHARACTERS) + 1


def test_explain_keeps_the_start_apart_from_a_literal_dot(dotted, tmp_path, capsys):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    top = run_json(capsys, "evaluate", dotted, names, "--explain")["explain"]["top"]
    assert all(set(row) >= {"context", "at_start", "kl"} for row in top)
    # 'j.r' and the 'r' of 'r2d2' at the start are two contexts: '.r' inside a name, r at the start.
    contexts = {(row["context"], row["at_start"]) for row in top}
    assert len(contexts) == len(top)
    assert main(["evaluate", str(dotted), str(names), "--explain"]) == 0
    human = capsys.readouterr().out
    assert ". 'r'" in human and "'.r'" in human


@pytest.mark.slow  # draws a labelled 20 x 20 picture
def test_heatmap_json_holds_the_matrix_it_drew(dotted, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out = run_json(capsys, "plot", "heatmap", dotted, "-o", tmp_path / "h.png")
    assert out["rows"] == ["<s>"] + CHARACTERS and out["columns"] == ["</s>"] + CHARACTERS
    matrix = np.array(out["matrix"], dtype=float)
    assert matrix.shape == (len(out["rows"]), len(out["columns"]))
    assert np.allclose(matrix.sum(axis=1), 1.0)
    assert "averaged over every context" in out["drawn"]
