"""The CLI's one contract, verb by verb: --json prints one strict JSON object, -q and -h exist,
-o names what a verb writes, --version answers. In process (ngram.cli.main), so it stays fast."""

import json
import math

import pytest

from ngram.cli import main, verbs


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def files(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("anna\nmaria\nmario\nmarco\nlucia\nluca\nanna maria\npaola\npaolo\ngianna\n", encoding="utf-8")
    val = tmp_path / "val.txt"
    val.write_text("mara\nluana\nanna\n", encoding="utf-8")
    assert main(["train", str(train), "-N", "3", "-o", str(tmp_path / "a.ngram"), "-q"]) == 0
    assert main(["train", str(train), "-N", "2", "-s", "witten-bell", "-o", str(tmp_path / "b.ngram"), "-q"]) == 0
    return tmp_path, train, val


def _verbs(tmp_path, train, val):
    a, b = str(tmp_path / "a.ngram"), str(tmp_path / "b.ngram")
    return {
        "train": ["train", str(train), "-N", "2", "-o", str(tmp_path / "c.ngram")],
        "export": ["export", a, "-o", str(tmp_path / "a.arpa")],
        "import": ["import", str(tmp_path / "a.arpa"), "-o", str(tmp_path / "i.ngram")],
        "mix": ["mix", a, b, "--val", str(val), "-o", str(tmp_path / "m.ngram")],
        "prune": ["prune", a, "--entropy", "1e-3", "-o", str(tmp_path / "p.ngram")],
        "evaluate": ["evaluate", a, str(val)],
        "probs": ["probs", a, "ma"],
        "info": ["info", a],
        "sample": ["sample", a, "-n", "3", "--seed", "0"],
        "classify": ["classify", a, b, str(val)],
        "tune": ["tune", str(train), "--val", str(val), "--orders", "2-3", "-s", "add-k", "-o", str(tmp_path / "t.ngram")],
        "report": ["report", a, str(val), "-o", str(tmp_path / "r.html")],
        "plot heatmap": ["plot", "heatmap", a, "-o", str(tmp_path / "h.png")],
        "plot orders": ["plot", "orders", str(train), "--val", str(val), "--orders", "1-2", "-s", "add-k",
                        "-o", str(tmp_path / "o.png")],
    }


@pytest.mark.slow
def test_every_verb_prints_one_strict_json_object(files, capsys):
    pytest.importorskip("matplotlib")
    tmp_path, train, val = files
    for verb, args in _verbs(tmp_path, train, val).items():  # export runs before import: it writes a.arpa
        capsys.readouterr()
        assert main([*args, "--json"]) == 0, (verb, capsys.readouterr().err)
        out = capsys.readouterr().out
        assert isinstance(_strict(out), dict), verb


def test_every_verb_has_quiet_and_help(files, capsys):
    tmp_path, train, val = files
    for verb, args in _verbs(tmp_path, train, val).items():
        capsys.readouterr()
        assert main([*args[: len(verb.split())], "-h"]) == 0, verb
        help_text = capsys.readouterr().out
        assert "--quiet" in help_text and "-q" in help_text and "--json" in help_text, verb
        if any(a in ("-o",) for a in args):
            assert "--output" in help_text, verb


def test_version_and_short_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("ngram ")
    assert main(["-h"]) == 0
    assert "Commands" in capsys.readouterr().out


def test_json_turns_infinity_into_null_with_a_reason(files, capsys):
    tmp_path, train, _ = files
    model = tmp_path / "mle.ngram"
    assert main(["train", str(train), "-N", "3", "-s", "mle", "-o", str(model), "-q"]) == 0
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("anno\n", encoding="utf-8")  # "o" after "nn" never seen: probability 0 under MLE
    capsys.readouterr()
    assert main(["evaluate", str(model), str(unseen), "--json"]) == 0
    out = _strict(capsys.readouterr().out)
    assert out["nll_nats_per_symbol"] is None and "probability 0" in out["nll_nats_per_symbol_null_reason"]


def test_help_hints_name_existing_commands(capsys):
    assert main(["plot", "heatmap"]) == 2
    err = capsys.readouterr().err
    assert "see ngram plot heatmap --help" in err
    app = verbs()
    names = {c.name or c.callback.__name__ for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert {"train", "evaluate", "sample", "probs", "info", "export", "import", "mix", "prune", "classify", "tune",
            "report", "plot"} <= names


def test_perplexity_of_a_certain_model_is_finite(files, capsys):
    # guards the strict-JSON conversion against eating ordinary numbers
    tmp_path, train, val = files
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "a.ngram"), str(val), "--json"]) == 0
    out = _strict(capsys.readouterr().out)
    assert math.isfinite(out["perplexity_per_symbol"]) and out["nll_nats_per_symbol"] > 0


def test_tune_refuses_held_out_names_sharing_no_character_with_the_training_names(tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("abc\nabd\nbca\n", encoding="utf-8")
    val = tmp_path / "val.txt"
    val.write_text("xyz\nzzy\n", encoding="utf-8")
    assert main(["tune", str(train), "--val", str(val), "-o", str(tmp_path / "t.ngram")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "share no character" in err[0]
    assert not (tmp_path / "t.ngram").exists()
