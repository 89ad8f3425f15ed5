"""Hints that point the right way: a capitalised name under a lowercase model, a table for a corpus."""

import pytest

from ngram import NgramError, make_estimator, train
from ngram.cli import main
from ngram.core.corpus import table_warning
from ngram.formats.native import save

CENSUS = ["JAMES          3.318  3.318      1", "JOHN           3.271  6.589      2", "ROBERT         3.143  9.732      3"]


def test_a_capital_under_a_lowercase_model_offers_lowercase_before_skipping():
    model = train(["maria", "mario", "anna"], order=2, estimator=make_estimator("witten-bell"))
    with pytest.raises(NgramError) as info:
        model.vocabulary.encode(["Maria"])
    message = str(info.value)
    # skipping 'M' would score 'aria': --lowercase comes first
    assert "--lowercase" in message and message.index("--lowercase") < message.index("--unknown skip")
    with pytest.raises(NgramError) as info:
        model.vocabulary.encode(["maria!"])
    assert "--lowercase" not in str(info.value) and "--unknown skip" in str(info.value)
    with pytest.raises(NgramError, match="try 'ma'"):
        model.probs("Ma")


@pytest.mark.parametrize("lines, advice", [(CENSUS, "awk"), (["maria\t40", "anna\t30", "luca\t12"], "--weighted")])
def test_a_corpus_of_table_rows_gets_one_line_naming_the_fix(lines, advice):
    message = table_warning(lines, "census.txt")
    assert message.startswith("warning: census.txt: 3 of the first 3 lines look like table rows")
    assert advice in message and "\n" not in message


@pytest.mark.parametrize("names", [["anna maria", "st. john", "r2d2", "ann  lee", "o'neil"], ["maria", "mario 2"]])
def test_names_with_spaces_and_digits_are_not_tables(names):
    assert table_warning(names, "names.txt") is None


def test_train_and_tune_warn_on_a_table(tmp_path, capsys):
    corpus = tmp_path / "census.txt"
    corpus.write_text("\n".join(CENSUS * 4) + "\n", encoding="utf-8")
    assert main(["train", str(corpus), "-N", "2", "-o", str(tmp_path / "m.ngram")]) == 0
    err = capsys.readouterr().err
    assert err.count("look like table rows") == 1 and "awk" in err
    assert main(["train", str(corpus), "-N", "2", "-o", str(tmp_path / "m.ngram"), "-q"]) == 0
    assert "table" not in capsys.readouterr().err


def test_evaluate_suggests_lowercase_in_one_line(tmp_path, capsys):
    save(train(["maria", "mario", "anna"], order=2, estimator=make_estimator("witten-bell")), tmp_path / "m.ngram")
    (tmp_path / "t.txt").write_text("Maria\n", encoding="utf-8")
    assert main(["evaluate", str(tmp_path / "m.ngram"), str(tmp_path / "t.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--lowercase" in err and err.count("\n") == 1
