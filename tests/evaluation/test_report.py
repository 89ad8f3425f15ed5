"""The HTML report: its data (checked against brute force and ``evaluate``), the CLI verb, and the
page itself in headless Chromium (skipped, saying why, where no Chromium is installed)."""

import importlib.util
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, TINY, shared_file
from ngram import NgramError, make_estimator, train
from ngram.evaluation import report
from ngram.evaluation.metrics import evaluate
from ngram.formats.native import load
from ngram.core.vocabulary import BOUNDARY

TRAIN = ["anna", "anne", "bob", "ann", "nan", "a b", "bobby", "annabel", "nanna", "abba", "banana", "ben"]
HELD_OUT = ["anna", "bab", "nab ben", "a", "zanna", "bo", "annabella", "ebb"]


def ngram(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ngram", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def page_data(html: str) -> dict:
    blob = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    return strict_json(blob)


@pytest.fixture(scope="module")
def model():
    return train(TRAIN, order=3, estimator=make_estimator("witten-bell"))


def name_slices(data):
    offsets = np.concatenate(([0], np.cumsum(data["names"]["symbols"])))
    return [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:])]


# ----- the data -----------------------------------------------------------------------------------
def test_every_number_agrees_with_evaluate_and_with_brute_force(model):
    names = HELD_OUT[:-1] + ["zanna"]  # 'z' is unknown: skipped and counted
    data = report.build(model, names, unknown="skip", samples=0)
    result = evaluate(model, names, unknown="skip")
    s = data["summary"]
    assert (s["names"], s["symbols"], s["oov"]) == (result.names, result.symbols, result.oov) == (len(names), result.symbols, 2)
    assert s["nll_nats_per_symbol"] == s["cross_entropy_nats_per_symbol"] == result.nll
    assert s["bits_per_symbol"] == pytest.approx(result.nll / math.log(2), rel=1e-12)
    assert s["perplexity_per_symbol"] == pytest.approx(math.exp(result.nll), rel=1e-12)
    assert data["names"]["nll_nats"] == result.per_name_nll.tolist()
    P, k = data["positions"], data["positions"]["top_k"]
    symbols = data["symbols"]
    for i, (name, cut) in enumerate(zip(data["names"]["text"], name_slices(data))):
        kept = name.replace("z", "")
        ids = P["symbol"][cut]
        assert [symbols[j] for j in ids] == list(kept) + ["."] and ids[-1] == BOUNDARY
        # Each cell's surprisal is -ln p(symbol | prefix), by the model asked one prefix at a time,
        # and they add up to the name's NLL.
        for position, symbol in enumerate(ids):
            row = model.logprobs(kept[:position])
            assert P["surprisal_nats"][cut][position] == pytest.approx(-row[symbol], abs=1e-5)
            top = np.argsort(-row, kind="stable")[:k]
            got_ids = P["top_ids"][cut.start * k + position * k: cut.start * k + (position + 1) * k]
            got_p = P["top_p"][cut.start * k + position * k: cut.start * k + (position + 1) * k]
            assert got_p == sorted(got_p, reverse=True)
            assert np.allclose(got_p, np.exp(row[top]), atol=1e-6)
            assert np.allclose(np.exp(row[got_ids]), got_p, atol=1e-6)  # (ties may list equal entries in either order)
            assert P["history"][cut][position] == min(position + 1, model.order - 1)
        assert sum(P["surprisal_nats"][cut]) == pytest.approx(data["names"]["nll_nats"][i], abs=1e-4)


def test_next_symbol_rows_are_distributions_matching_each_prefix(model):
    encoded = model.vocabulary.encode(HELD_OUT[:3])
    rows = report.next_symbol_rows(model, encoded)
    assert rows.shape == (encoded.n_targets, model.V)
    assert np.allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-12)
    assert np.allclose(rows[np.arange(encoded.n_targets), encoded.ids[1:]], model.logprob_encoded(encoded), atol=1e-12)
    position = 0
    for name in HELD_OUT[:3]:
        for j in range(len(name) + 1):
            assert np.allclose(rows[position], model.logprobs(name[:j]), atol=1e-12)
            position += 1


def test_the_split_is_the_same_cross_entropy_and_contexts_carry_their_counts(model):
    data = report.build(model, HELD_OUT[:-2] + ["ebb"], samples=0, unknown="skip")
    split = data["split"]
    assert split["cross_entropy_nats_per_symbol"] == pytest.approx(data["summary"]["nll_nats_per_symbol"], abs=1e-12)
    assert split["entropy_nats_per_symbol"] + split["kl_nats_per_symbol"] == pytest.approx(split["cross_entropy_nats_per_symbol"], abs=1e-12)
    symbols = data["summary"]["symbols"]
    for row in split["top"]:
        assert row["count"] == pytest.approx(row["share"] * symbols, abs=1e-9)
        assert row["entropy_contribution"] == pytest.approx(row["share"] * row["entropy_nats"])
        assert row["kl_contribution"] == pytest.approx(row["share"] * row["kl_nats"])
    starts = [row for row in split["top"] if row["context"].startswith(".")]
    assert starts, "the start of a name is a context with every name in it"
    first = [row for row in split["top"] if row["context"] == "."]
    if first:
        assert first[0]["count"] == data["summary"]["names"]
    kl = [row["share"] * row["kl_nats"] for row in split["top"]]
    assert kl == sorted(kl, reverse=True)


def test_large_files_draw_the_first_names_and_count_them_all(model):
    names = HELD_OUT[:3] * 50
    data = report.build(model, names, max_names=7, samples=0)
    assert data["summary"]["names"] == 150 and data["summary"]["names_shown"] == 7
    assert data["names"]["text"] == names[:7]
    assert len(data["positions"]["symbol"]) == sum(len(n) + 1 for n in names[:7])
    assert data["summary"]["nll_nats_per_symbol"] == evaluate(model, names).nll


def test_samples_are_seeded_and_shown_beside_their_nearest_training_names(model):
    a = report.build(model, HELD_OUT[:2], samples=8, seed=3, train=TRAIN, train_source="train.txt")["samples"]
    b = report.build(model, HELD_OUT[:2], samples=8, seed=3)["samples"]
    assert [x["name"] for x in a["items"]] == [x["name"] for x in b["items"]] and len(a["items"]) == 8
    for item in a["items"]:
        distances = [levenshtein(item["name"], t) for t in TRAIN]
        assert item["distance"] == min(distances)
        assert item["nearest"] and all(levenshtein(item["name"], t) == min(distances) for t in item["nearest"])
        assert item["nll_nats_per_symbol"] == pytest.approx(-model.logprob(item["name"]) / (len(item["name"]) + 1))
    assert "nearest" not in b["items"][0] and "--train" in b["note"]
    assert report.build(model, HELD_OUT[:2], samples=0)["samples"]["items"] == []


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_edit_distances_match_the_textbook_definition():
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abc "), rng.integers(0, 7))) for _ in range(60)]
    for word in words[:15]:
        assert report.edit_distances(word, words).tolist() == [levenshtein(word, w) for w in words]


def test_every_model_kind_gets_a_report(model):
    from ngram.lm.mixtures.models import ContextMixture, NameMixture

    other = train(TRAIN, order=2, estimator=make_estimator("add-k", k=0.5))
    backwards = train([n[::-1] for n in TRAIN], order=3, estimator=make_estimator("witten-bell"))
    for mixture in (ContextMixture([other, model], np.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.8]])),
                    NameMixture([model, backwards], [False, True], [0.6, 0.4])):
        data = report.build(mixture, HELD_OUT[:4], samples=3, seed=0)
        assert data["names"]["nll_nats"] == evaluate(mixture, HELD_OUT[:4]).per_name_nll.tolist()
        surprisal = data["positions"]["surprisal_nats"]
        assert (surprisal is None) == bool(data["symbols_note"])  # (only whole-name probabilities)
        for cut, total in zip(name_slices(data), data["names"]["nll_nats"] if surprisal else []):
            assert sum(surprisal[cut]) == pytest.approx(total, abs=1e-4)
        assert (data["split"] is None) == bool(data["split_note"])
        assert (data["positions"]["top_ids"] is None) == bool(data["rows_note"] or data["symbols_note"])
        page_data(report.render(data))  # strict JSON inside


def test_unknown_characters_as_unk_get_their_own_cells():
    with_unk = train(TRAIN, order=3, estimator=make_estimator("add-k", k=0.1), unk=True)
    data = report.build(with_unk, ["zanna", "bob"], samples=3, seed=1)  # <unk> is the default policy here
    assert data["summary"]["unknown_policy"] == "unk" and data["summary"]["oov"] == 1
    cut = name_slices(data)[0]
    assert [data["symbols"][i] for i in data["positions"]["symbol"][cut]] == ["<unk>", "a", "n", "n", "a", "."]
    assert data["names"]["nll_nats"] == evaluate(with_unk, ["zanna", "bob"], unknown="unk").per_name_nll.tolist()
    assert all("\ufffd" not in item["name"] for item in data["samples"]["items"])  # samples never write <unk>


def test_impossible_symbols_are_null_not_infinity():
    mle = train(["ab", "ba"], order=2, estimator=make_estimator("mle"))
    data = report.build(mle, ["aa", "ab"], samples=0)
    assert data["summary"]["nll_nats_per_symbol"] is None and data["names"]["nll_nats"][0] is None
    assert data["positions"]["surprisal_nats"][1] is None  # p(a | a) = 0
    assert page_data(report.render(data))["summary"]["perplexity_per_symbol"] is None


def test_names_cannot_break_out_of_the_page():
    hostile = train(["</script><b>x", "a&b", "<!--"], order=2, estimator=make_estimator("add-k", k=0.1))
    data = report.build(hostile, ["</script><b>x", "<!--"], samples=0)
    html = report.render(data)
    assert html.count("</script>") == 2 and "<!--" not in html  # the data blob's and the script's
    assert page_data(html) == json.loads(json.dumps(data))


def test_bad_settings_are_one_line_errors(model, tmp_path):
    with pytest.raises(NgramError, match="--max-names"):
        report.build(model, TINY, max_names=0)
    with pytest.raises(NgramError, match="--samples"):
        report.build(model, TINY, samples=-1)
    with pytest.raises(NgramError, match="no names"):
        report.build(model, [])
    with pytest.raises(NgramError, match="not in the model's vocabulary"):
        report.build(model, ["xyz"])
    precious = tmp_path / "names.txt"
    precious.write_text("anna\n")
    with pytest.raises(NgramError, match="not an HTML page"):
        report.write(precious, report.build(model, TINY[:2], samples=0))
    assert precious.read_text() == "anna\n"


# ----- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    (folder / "train.txt").write_text("".join(n + "\n" for n in TRAIN), encoding="utf-8")
    (folder / "test.txt").write_text("".join(n + "\n" for n in HELD_OUT if "z" not in n), encoding="utf-8")
    done = ngram("train", "train.txt", "--order", "3", "--smoothing", "witten-bell", "-o", "m.ngram", "-q", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.slow
def test_cli_writes_the_page_and_reports_in_strict_json(files):
    done = ngram("report", "m.ngram", "test.txt", "-o", "r.html", "--json", "--samples", "4", "--seed", "1",
                 "--train", "train.txt", cwd=files)
    assert done.returncode == 0, done.stderr
    out = strict_json(done.stdout)
    evaluated = strict_json(ngram("evaluate", "m.ngram", "test.txt", "--json", cwd=files).stdout)
    assert out["nll_nats_per_symbol"] == evaluated["nll_nats_per_symbol"]
    assert out["names"] == evaluated["names"] and out["samples"] == 4 and out["bytes"] == (files / "r.html").stat().st_size
    data = page_data((files / "r.html").read_text(encoding="utf-8"))
    assert [x["distance"] is not None for x in data["samples"]["items"]] == [True] * 4
    quiet = ngram("report", "m.ngram", "test.txt", "-o", "r.html", "-q", cwd=files)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    plain = ngram("report", "m.ngram", "test.txt", "-o", "r.html", cwd=files)
    assert plain.stdout.startswith("wrote r.html") and "nats/symbol" in plain.stdout


def test_cli_contract_help_and_infinite_loss_as_null_with_a_reason(files, capsys):
    from ngram.cli import main

    assert main(["report", "-h"]) == 0
    help_text = capsys.readouterr().out
    assert all(option in help_text for option in ("--json", "--quiet", "-q", "--output", "--max-names", "--samples", "--seed", "--train"))
    (files / "tiny.txt").write_text("ab\nba\n", encoding="utf-8")
    (files / "odd.txt").write_text("aa\n", encoding="utf-8")
    assert main(["train", str(files / "tiny.txt"), "-N", "2", "-s", "mle", "-o", str(files / "mle.ngram"), "-q"]) == 0
    capsys.readouterr()
    assert main(["report", str(files / "mle.ngram"), str(files / "odd.txt"), "-o", str(files / "mle.html"), "--json"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert out["nll_nats_per_symbol"] is None and "probability 0" in out["nll_nats_per_symbol_null_reason"]
    assert page_data((files / "mle.html").read_text(encoding="utf-8"))["positions"]["surprisal_nats"][1] is None


@pytest.mark.slow
def test_cli_errors_are_one_line(files):
    (files / "bad.txt").write_text("anna\nzorro\n", encoding="utf-8")
    done = ngram("report", "m.ngram", "bad.txt", "-o", "bad.html", cwd=files)
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "line 2" in done.stderr and not (files / "bad.html").exists()
    done = ngram("report", "m.ngram", "test.txt", "-o", "x.html", "--max-names", "0", cwd=files)
    assert done.returncode == 1 and "--max-names" in done.stderr


# ----- the page in a real browser -----------------------------------------------------------------
def _headless():
    spec = importlib.util.spec_from_file_location("headless_chromium", REPO / "scripts" / "headless_chromium.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser():
    headless = _headless()
    if headless.find_chromium() is None:
        pytest.skip("no Chromium here (apt-get install chromium; .ci/run installs it when it can)")
    with headless.Browser(width=1200, height=1000) as b:
        yield b


def read_page(browser, path):
    url = browser.open(path)
    assert browser.evaluate("document.body.dataset.ready") == "1"
    browser.settle(0.2)
    return url


ROWS = "[...document.querySelectorAll('.name-row')].map(r => [r.querySelector('.name').textContent, " \
       "r.querySelector('.nll-total').textContent, r.querySelector('.nll-per').textContent])"
TITLES = "[...document.querySelectorAll('.name-row .nll-total')].map(c => c.title)"


def check_against_evaluate(browser, folder, model, test, expect_rows):
    evaluated = strict_json(ngram("evaluate", model, test, "--json", "--per-name", cwd=folder).stdout)
    tsv = ngram("evaluate", model, test, "--per-name", cwd=folder).stdout.splitlines()
    assert tsv[0] == "name\tsymbols\tnll_nats"
    # The summary's NLL as `ngram evaluate` prints it (4 decimals).
    printed = re.search(r"NLL\s+(\S+) nats/symbol", ngram("evaluate", model, test, cwd=folder).stdout).group(1)
    assert browser.evaluate("document.getElementById('total-nll').textContent") == printed
    assert browser.evaluate("document.getElementById('cross-entropy').textContent") == printed
    rows = browser.evaluate(ROWS)
    assert len(rows) == expect_rows
    # Hovering a name's total shows it to evaluate --per-name's 6 decimals: the same text.
    assert browser.evaluate(TITLES) == [line.split("\t")[2] + " nats" for line in tsv[1:expect_rows + 1]]
    for (name, total, per), line, entry in zip(rows, tsv[1:], evaluated["per_name"]):
        tsv_name, symbols, nll = line.split("\t")
        assert name == tsv_name == entry["name"]
        assert total == format(entry["nll_nats"], ".4f")  # the page's precision
        assert abs(float(total) - float(nll)) <= 0.5e-4 + 0.5e-6  # and the TSV's, to the coarser of the two
        assert per == format(entry["nll_nats"] / int(symbols), ".4f")
    return evaluated


@pytest.mark.slow
def test_the_page_in_headless_chromium(browser, files, tmp_path):
    done = ngram("report", "m.ngram", "test.txt", "-o", "r.html", "--train", "train.txt", "--samples", "5", cwd=files)
    assert done.returncode == 0, done.stderr
    url = read_page(browser, files / "r.html")
    shot = browser.screenshot(tmp_path / "report.png")
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
    width, height = int.from_bytes(shot[16:20], "big"), int.from_bytes(shot[20:24], "big")
    assert (width, height) == (1200, 1000)
    assert browser.console_errors() == []
    assert browser.requests() == [url]  # the page itself, nothing else
    names = [n for n in HELD_OUT if "z" not in n]
    check_against_evaluate(browser, files, "m.ngram", "test.txt", len(names))

    # Focus a cell: the tooltip names the context and gives the true symbol's probability.
    model = load(files / "m.ngram")
    name, k = "nab ben", 4  # the 'b' after "nab "
    tip = browser.evaluate(_headless().FOCUS_CELL % json.dumps([name, k]))
    p = float(np.exp(model.logprobs(name[:k]))[model.vocabulary.encode_context("b")[0]])
    assert "context b\u2423 \u2192 next \u201cb\u201d" in " ".join(tip.split())
    shown = float(re.search(r"p\(b \| b\u2423\) = (\S+),", tip).group(1))
    assert shown == pytest.approx(p, rel=5e-4)  # four significant digits
    assert "top of the next-symbol vector" in tip
    # Hover with the mouse on another cell: the tooltip follows it.
    box = browser.evaluate("(() => { const c = document.querySelector('.name-row .c'); c.scrollIntoView({block: 'center'}); "
                           "const r = c.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()")
    browser.mouse_move(*box)
    assert browser.evaluate("document.getElementById('tip').style.display") == "block"
    assert "symbol 1 of" in browser.evaluate("document.getElementById('tip').innerText")

    # The arrow keys walk the cells: right to the next symbol, down to the next name.
    key = "(k) => document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true}))"
    browser.evaluate("document.querySelector('.name-row .c').focus()")
    browser.evaluate(f"({key})('ArrowRight')")
    assert "symbol 2 of" in browser.evaluate("document.getElementById('tip').innerText")
    browser.evaluate(f"({key})('ArrowDown')")
    focused = browser.evaluate("[document.activeElement.closest('.name-row').querySelector('.name').textContent, "
                               "document.getElementById('tip').innerText]")
    assert focused[0] == names[1] and f"name \u201c{names[1]}\u201d, symbol 2 of" in focused[1]
    # Sorting by total NLL, then per symbol, and the search box.
    browser.evaluate("document.getElementById('sort-total').click()")
    totals = [float(r[1]) for r in browser.evaluate(ROWS)]
    assert totals == sorted(totals, reverse=True) and len(totals) == len(names)
    browser.evaluate("document.getElementById('sort-per').click(); document.getElementById('sort-per').click()")
    per = [float(r[2]) for r in browser.evaluate(ROWS)]
    assert per == sorted(per)
    browser.evaluate("(() => { const s = document.getElementById('search'); s.value = 'AN'; s.dispatchEvent(new Event('input')); })()")
    assert sorted(r[0] for r in browser.evaluate(ROWS)) == sorted(n for n in names if "an" in n)
    samples = browser.evaluate("[...document.querySelectorAll('.sample-row')].length")
    contexts = browser.evaluate("[...document.querySelectorAll('.context-row')].length")
    assert samples == 5 and contexts > 0
    assert browser.console_errors() == [] and browser.requests() == [url]


@pytest.mark.slow
def test_the_italian_report_in_headless_chromium(browser, tmp_path):
    """The README's screenshot case: every name's NLL on the page is evaluate --per-name's."""
    train_file, test_file = shared_file("italian-names-train.txt"), shared_file("italian-names-test.txt")
    assert ngram("train", train_file, "--order", "4", "-q", "-o", "it.ngram", cwd=tmp_path).returncode == 0
    done = ngram("report", "it.ngram", test_file, "-o", "it.html", "--max-names", "500", "--samples", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    url = read_page(browser, tmp_path / "it.html")
    assert browser.console_errors() == [] and browser.requests() == [url]
    # Only the first 500 names are drawn, and the page says all of them are counted.
    evaluated = check_against_evaluate(browser, tmp_path, "it.ngram", test_file, 500)
    count = browser.evaluate("document.getElementById('count').textContent")
    assert f"the first 500 of {evaluated['names']} names" in count


@pytest.mark.slow
def test_the_browser_checks_see_requests_script_errors_and_blocked_loads(browser, files, tmp_path):
    """The checks above can fail: a page that fetches something or throws is caught."""
    assert ngram("report", "m.ngram", "test.txt", "-o", "r.html", "-q", cwd=files).returncode == 0
    page = (files / "r.html").read_text(encoding="utf-8")
    fetching = tmp_path / "fetching.html"
    fetching.write_text(page.replace("<main>", '<main><img src="http://127.0.0.1:9/x.png">', 1), encoding="utf-8")
    url = read_page(browser, fetching)
    assert browser.requests() == [url, "http://127.0.0.1:9/x.png"]
    assert any("Content Security Policy" in e for e in browser.console_errors())
    throwing = tmp_path / "throwing.html"
    throwing.write_text(page.replace('document.body.dataset.ready = "1";', 'document.body.dataset.ready = "1"; notDefined();'),
                        encoding="utf-8")
    read_page(browser, throwing)
    assert any("ReferenceError" in e for e in browser.console_errors())


@pytest.mark.slow
def test_an_impossible_symbol_reads_infinity_in_the_browser(browser, tmp_path):
    (tmp_path / "tiny.txt").write_text("ab\nba\n", encoding="utf-8")
    (tmp_path / "odd.txt").write_text("aa\nab\n", encoding="utf-8")
    assert ngram("train", "tiny.txt", "-N", "2", "-s", "mle", "-o", "mle.ngram", "-q", cwd=tmp_path).returncode == 0
    assert ngram("report", "mle.ngram", "odd.txt", "-o", "mle.html", "-q", cwd=tmp_path).returncode == 0
    url = read_page(browser, tmp_path / "mle.html")
    assert browser.console_errors() == [] and browser.requests() == [url]
    assert browser.evaluate("document.getElementById('total-nll').textContent") == "\u221e"
    assert browser.evaluate(ROWS) == [["aa", "\u221e", "\u221e"], ["ab", "2.0794", "0.6931"]]  # ln 8 = 3 x ln 2
    assert "KL is infinite" in browser.evaluate("document.getElementById('split-block').innerText")
    tip = browser.evaluate(_headless().FOCUS_CELL % json.dumps(["aa", 1]))
    assert "surprisal \u221e nats" in tip


class WholeNamesOnly:
    """A model that gives only whole-name probabilities, as a whole-name mixture with a
    right-to-left component does: no per-symbol values, no next-symbol vectors."""

    capabilities = frozenset()  # declared: no per-symbol answers

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def describe(self):
        return "a model of whole names only"

    def _none(self, *args, **kwargs):
        raise NgramError("whole names only")

    logprob_encoded = row_logprobs = window_keys = logprob_keys = logprobs = probs = _none


@pytest.mark.slow
def test_a_model_with_whole_name_probabilities_only(model, browser, tmp_path):
    data = report.build(WholeNamesOnly(model), HELD_OUT[:3], samples=0)
    assert data["positions"]["surprisal_nats"] is None and "whole names only" in data["symbols_note"]
    assert data["positions"]["top_ids"] is None and data["split"] is None and "whole names only" in data["split_note"]
    assert data["names"]["nll_nats"] == evaluate(model, HELD_OUT[:3]).per_name_nll.tolist()
    report.write(tmp_path / "whole.html", data)
    url = read_page(browser, tmp_path / "whole.html")
    assert browser.console_errors() == [] and browser.requests() == [url]
    assert [r[1] for r in browser.evaluate(ROWS)] == [format(x, ".4f") for x in data["names"]["nll_nats"]]
    tip = browser.evaluate(_headless().FOCUS_CELL % json.dumps([HELD_OUT[0], 1]))
    assert "no per-symbol probabilities" in tip and "surprisal" not in tip
    assert browser.evaluate("document.querySelector('.c').style.background") == "rgb(224, 224, 224)"
