"""Output a person can read: short aligned tune lines, info without raw dicts or 17-digit floats,
one format for the constraint's mass, errors that say where a limit came from."""

import json
import re

import pytest

from conftest import TUNING_HELD, TUNING_TRAIN
from ngram import make_estimator, train
from ngram.cli import main
from ngram.formats.native import save
from ngram.generation.constraints import percent_of_mass

LONG_FLOAT = re.compile(r"\d\.\d{7,}")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "train.txt").write_text("\n".join(TUNING_TRAIN) + "\n", encoding="utf-8")
    (tmp_path / "val.txt").write_text("\n".join(TUNING_HELD[:-2]) + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.slow  # two tuning runs
def test_tune_lines_are_short_aligned_and_say_the_val_names_are_now_training_data(files, capsys):
    assert main(["tune", str(files / "train.txt"), "--val", str(files / "val.txt"), "--orders", "2-4",
                 "--no-mixtures", "-o", str(files / "best.ngram")]) == 0
    out = capsys.readouterr().out.replace(str(files) + "/", "").splitlines()  # (lengths without the temporary folder)
    assert max(map(len, out)) <= 140, max(out, key=len)
    header = next(i for i, line in enumerate(out) if "held-out NLL" in line)
    rows = [line for line in out[header + 1:] if re.match(r"  [* ] \S", line)]
    assert len(rows) >= 6  # tuned and closed-form rows, orders 2-4
    # every number column ends where its header does
    for column in ("order", "held-out NLL", "cross-fitted"):
        end = out[header].index(column) + len(column)
        assert all(row[end - 1] != " " and row[end] == " " for row in rows), column
    assert any("val.txt are now training data" in line for line in out)
    full = json.loads(_run_json(capsys, ["tune", str(files / "train.txt"), "--orders", "2-3", "--no-mixtures", "--fast",
                                         "-o", str(files / "f.ngram")]))
    assert full["candidates"] and all("settings" in c for c in full["candidates"])


def _run_json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("estimator, settings", [("modified-kneser-ney", {}), ("jelinek-mercer", {}), ("add-k", {"k": 0.1})])
def test_info_has_no_raw_dicts_or_long_floats(tmp_path, capsys, estimator, settings):
    save(train(TUNING_TRAIN, order=4, estimator=make_estimator(estimator, **settings)), tmp_path / "m.ngram")
    assert main(["info", str(tmp_path / "m.ngram")]) == 0
    out = capsys.readouterr().out
    assert "{" not in out and "'name'" not in out and not LONG_FLOAT.search(out)
    assert re.search(r"corpus +<names>: 20 names, \d+ symbols, longest 6 characters, sha256 [0-9a-f]{12}…", out)


def test_the_constraints_mass_is_one_format():
    assert [percent_of_mass(p) for p in (0.01337, 0.000401, 3.2e-05, 1.0)] == ["1.34%", "0.0401%", "0.0032%", "100%"]


def test_min_len_above_the_longest_training_name_says_where_the_maximum_came_from(tmp_path, capsys):
    save(train(TUNING_TRAIN, order=3, estimator=make_estimator("witten-bell")), tmp_path / "m.ngram")
    for verb in ("sample", "top"):
        assert main([verb, str(tmp_path / "m.ngram"), "--min-len", "20"]) == 1
        err = capsys.readouterr().err
        assert "longest training name, 6 characters" in err and "--max-len" in err and err.count("\n") == 1
    assert main(["sample", str(tmp_path / "m.ngram"), "--min-len", "7", "--max-len", "9", "-n", "2", "--seed", "0"]) == 0
    assert re.search(r"names of 7 to 9 characters: [0-9.e-]+% of the model's mass", capsys.readouterr().err)
