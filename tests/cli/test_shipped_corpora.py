"""The shipped corpora by name, from any folder (they travel in the wheel as ngram.data)."""

import pytest

from ngram.cli import main
from ngram.core.corpus import SHIPPED_CORPORA
from ngram.formats.native import load


@pytest.mark.parametrize("name", sorted(SHIPPED_CORPORA))
def test_train_on_a_shipped_corpus_by_name_from_another_folder(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)  # no data/ here
    assert main(["train", "--corpus", name, "-N", "3", "-o", "m.ngram"]) == 0
    assert SHIPPED_CORPORA[name] in capsys.readouterr().out
    assert load(tmp_path / "m.ngram").corpus["names"] > 2000


def test_the_readme_path_outside_the_repository_is_the_shipped_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "data/english-first-names.txt", "-N", "2", "-o", "m.ngram"]) == 0
    assert "--corpus english" in capsys.readouterr().err
    assert main(["train", "data/nothing-here.txt", "-N", "2", "-o", "n.ngram"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_help_names_the_shipped_corpora_and_a_wrong_name_is_one_line(capsys):
    assert main(["train", "--help"]) == 0
    assert "italian or english" in " ".join(capsys.readouterr().out.split())  # (help wraps lines)
    assert main(["train", "--corpus", "klingon"]) == 1
    err = capsys.readouterr().err
    assert err == "error: unknown shipped corpus 'klingon'; choose italian or english\n"
    assert main(["train", "x.txt", "--corpus", "english"]) == 1
