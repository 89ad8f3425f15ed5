"""ARPA export and import: a hand-computed golden file, round trips, KenLM agreement, bad files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import ngram
from ngram import NgramError, make_estimator
from ngram.formats.arpa import read_arpa, write_arpa

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CORPUS = ["anna", "an na", "bob", "abba", "ben", "nab ", "banana", "a"]
ALL = [
    ("mle", {}), ("add-k", {"k": 0.2}), ("witten-bell", {}), ("absolute", {}), ("kneser-ney", {}),
    ("modified-kneser-ney", {}), ("jelinek-mercer", {}), ("kneser-ney", {"backoff": True}),
    ("modified-kneser-ney", {"backoff": True}),
]
IDS = [f"{n}{'-backoff' if s.get('backoff') else ''}" for n, s in ALL]


def entries(path: Path) -> dict[str, tuple[float, float | None]]:
    """n-gram text -> (log10 p, log10 back-off or None), read naively."""
    out, section = {}, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            section = int(line[1 : line.index("-")])
        elif section and line and not line.startswith("\\"):
            fields = line.split("\t")
            out[fields[1]] = (float(fields[0]), float(fields[2]) if len(fields) > 2 else None)
    return out


def test_golden_kneser_ney_by_hand(tmp_path):
    # Names "ab", "ba", "a", order 2, D = 0.5 at both orders, V = 3 (</s>, a, b).
    # Unigram continuation counts: a {<s>, b}, b {<s>, a}, </s> {a, b}: 2 each, total 6.
    #   u = 1.5/6 = 1/4 each, gamma = 3 * 0.5 / 6 = 1/4, p1 = 1/4 + 1/4 * 1/3 = 1/3 each.
    # Bigrams (raw): <s>a 2, <s>b 1 | ab 1, a</s> 2 | b</s> 1, ba 1.
    #   <s>: total 3, gamma 1/3: p(a) = 1.5/3 + 1/9 = 11/18, p(b) = 0.5/3 + 1/9 = 5/18
    #   a:   total 3, gamma 1/3: p(b) = 5/18, p(</s>) = 11/18
    #   b:   total 2, gamma 1/2: p(</s>) = p(a) = 0.5/2 + 1/6 = 5/12
    model = ngram.train(["ab", "ba", "a"], 2, make_estimator("kneser-ney", discounts=[0.5, 0.5]))
    path = tmp_path / "golden.arpa"
    write_arpa(model, path)
    lg = math.log10
    want = {
        "<s>": (-99.0, lg(1 / 3)), "</s>": (lg(1 / 3), 0.0), "a": (lg(1 / 3), lg(1 / 3)), "b": (lg(1 / 3), lg(1 / 2)),
        "<s> a": (lg(11 / 18), None), "<s> b": (lg(5 / 18), None), "a b": (lg(5 / 18), None),
        "a </s>": (lg(11 / 18), None), "b </s>": (lg(5 / 12), None), "b a": (lg(5 / 12), None),
    }
    got = entries(path)
    assert set(got) == set(want)
    for gram, (p, b) in want.items():
        assert got[gram][0] == pytest.approx(p, abs=1e-12), gram
        assert (got[gram][1] is None) == (b is None), gram
        if b is not None:
            assert got[gram][1] == pytest.approx(b, abs=1e-12), gram
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\\data\\\nngram 1=4\nngram 2=6\n") and text.endswith("\\end\\\n")
    # p("ab") = p(a|<s>) p(b|a) p(</s>|b); an unseen bigram backs off: p(</s>|<s>) = 1/3 * 1/3.
    assert read_arpa(path).logprob("ab") == pytest.approx(math.log(11 / 18 * 5 / 18 * 5 / 12), abs=1e-12)
    assert read_arpa(path).logprob("") == pytest.approx(math.log(1 / 9), abs=1e-12)


@pytest.mark.parametrize("name,settings", ALL, ids=IDS)
def test_import_of_export_scores_identically(tmp_path, name, settings):
    names = CORPUS + ["zz", "n n", " a"]
    for order in (1, 2, 3, 5):
        model = ngram.train(CORPUS, order, make_estimator(name, **settings), unk=True)
        path = tmp_path / f"{order}.arpa"
        write_arpa(model, path)
        back = read_arpa(path)
        assert back.vocabulary == model.vocabulary and back.order == order
        assert [len(level) for level in back.levels] == [len(level) for level in model.levels]
        ours, _ = model.score(names, unknown="unk")
        theirs, _ = back.score(names, unknown="unk")
        np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-12)


def test_space_is_written_as_sp_and_read_back(tmp_path):
    model = ngram.train(["a b", "b a"], 2, make_estimator("witten-bell"))
    write_arpa(model, tmp_path / "m.arpa")
    grams = entries(tmp_path / "m.arpa")
    assert "a <sp>" in grams and "<sp> b" in grams and not any("  " in g for g in grams)
    assert read_arpa(tmp_path / "m.arpa").vocabulary.characters == [" ", "a", "b"]


def kenlm_scores(path: Path, names: list[str]) -> np.ndarray:
    kenlm = pytest.importorskip("kenlm", reason="the kenlm module is not installed (pip install kenlm)")
    lm = kenlm.Model(str(path))
    # Per-word scores summed in float64: Model.score sums in float32 and adds ~1e-5 of its own.
    totals = [sum(p for p, _, _ in lm.full_scores(" ".join("<sp>" if c == " " else c for c in name))) for name in names]
    return np.array(totals) * math.log(10)


@pytest.mark.parametrize("name,settings", ALL, ids=IDS)
def test_kenlm_module_agrees_on_italian_test_split(tmp_path, name, settings):
    pytest.importorskip("kenlm", reason="the kenlm module is not installed (pip install kenlm)")
    train, test = DATA / "italian-names-train.txt", DATA / "italian-names-test.txt"
    if not (train.exists() and test.exists()):
        pytest.skip(f"shared data not found at {DATA}")
    held_out = ngram.read_names(test).names
    for order in (2, 5):  # KenLM refuses unigram-only models
        model = ngram.train(ngram.read_names(train).names, order, make_estimator(name, **settings), unk=True)
        write_arpa(model, tmp_path / "m.arpa")
        ours, _ = model.score(held_out)
        theirs = kenlm_scores(tmp_path / "m.arpa", held_out)
        finite = np.isfinite(ours)  # MLE: KenLM has log10 -99 where we have log 0
        assert np.all(theirs[~finite] < -99)
        assert np.max(np.abs(ours[finite] - theirs[finite])) < 1e-5, (name, order)


# ----- reading other people's files ---------------------------------------------------------------
SRILM_STYLE = """comment lines before the header are skipped

\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-0.5\t</s>
-99\t<s>\t-0.3
-0.6\ta\t-0.2
-0.9\tb
-1.5\t<unk>

\\2-grams:
-0.1\t<s> a
-0.4\ta b
-0.2\tb </s>

\\end\\
"""


def test_reads_srilm_style_and_closes_the_ngram_set(tmp_path):
    # "a b" needs its suffix "b" (present) and "b </s>" needs prefix "b" (present); add a
    # trigram whose prefix "b a" and suffix "a a" are missing, to force insertions.
    text = SRILM_STYLE.replace("ngram 2=3", "ngram 2=3\nngram 3=1").replace("\\end\\", "\\3-grams:\n-0.05\tb a a\n\n\\end\\")
    (tmp_path / "s.arpa").write_text(text, encoding="utf-8")
    model = read_arpa(tmp_path / "s.arpa", check=False)  # toy numbers: its rows do not sum to 1
    assert model.vocabulary.characters == ["a", "b"] and model.vocabulary.unk
    assert "added" in model.estimator["report"]
    ln = math.log(10)
    # Inserted "b a": bow(b) = 0 (no column), p(a) = 10^-0.6; "a a": bow(a) p(a) = 10^(-0.2-0.6).
    assert model.logprobs("b", at_start=False)[1] == pytest.approx(-0.6 * ln)
    # p(a | b a) comes from the trigram; p(</s> | b a) backs off through the inserted "b a"
    # (bow 1) and "a" (bow 10^-0.2) to p(</s>) = 10^-0.5.
    assert model.logprobs("ba", at_start=False)[1] == pytest.approx(-0.05 * ln)
    assert model.logprobs("ba", at_start=False)[0] == pytest.approx((-0.2 - 0.5) * ln)
    assert model.logprobs("")[1] == pytest.approx(-0.1 * ln)  # p(a | <s>)
    assert model.logprobs("")[0] == pytest.approx((-0.3 - 0.5) * ln)  # p(</s> | <s>) backs off
    keys = set(model.levels[1].keys.tolist())
    V = model.V
    assert {2 * V + 1, 1 * V + 1} <= keys  # "b a" and "a a" (ids: a=1, b=2)


@pytest.mark.parametrize(
    "change,message",
    [
        (("ngram 2=3", "ngram 2=4"), "declares 4 2-grams but the section has 3"),
        (("ngram 2=3", "ngram 2=999999999"), "but the file has only"),
        (("\\2-grams:", "\\3-grams:"), "expected the \\\\2-grams: section"),
        (("\\end\\", ""), "missing \\\\end\\\\"),
        (("\\data\\", "\\dada\\"), "no \\\\data\\\\ section"),
        (("-0.4\ta b", "-0.4x\ta b"), "is not a number"),
        (("-0.4\ta b", "0.4\ta b"), "above 0"),
        (("-0.4\ta b", "-0.4\tab b"), "no 1-gram entry"),
        (("-0.9\tb", "-0.9\tbb"), "not one character"),
        (("-0.4\ta b", "-0.4\ta <s>"), "<s> can only begin"),
        (("-0.4\ta b", "-0.4\t</s> b"), "</s> can only end"),
        (("-0.5\t</s>", "-0.5\tc"), "no </s> 1-gram"),
        (("-0.4\ta b", "-0.2\tb </s>"), "appears twice"),
        (("ngram 1=5", "ngram one=5"), "expected 'ngram N=count'"),
        (("-0.4\ta b", "nan\ta b"), "not a finite number"),
        (("-0.4\ta b", "-0.4\ta b c d"), "a 2-gram line needs"),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path, change, message):
    path = tmp_path / "bad.arpa"
    path.write_text(SRILM_STYLE.replace(*change, 1), encoding="utf-8")
    with pytest.raises(NgramError, match=message) as err:
        read_arpa(path)
    assert "\n" not in str(err.value)


def test_missing_file_and_export_errors(tmp_path):
    with pytest.raises(NgramError, match="no such file"):
        read_arpa(tmp_path / "nope.arpa")
    model = ngram.train(["a\tb"], 2, make_estimator("witten-bell"))
    with pytest.raises(NgramError, match="U\\+0009"):
        write_arpa(model, tmp_path / "tab.arpa")
    assert not list(tmp_path.iterdir())
    with pytest.raises(NgramError, match="does not exist"):
        write_arpa(ngram.train(["ab"], 2, ngram.AddK(0.1)), tmp_path / "no" / "m.arpa")
