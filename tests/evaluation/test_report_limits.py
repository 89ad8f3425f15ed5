"""The report's page: placeholders filled in one pass, sizes refused before any work, named stages."""

import json
import re
import subprocess
import sys
import time

import pytest

from ngram import NgramError, make_estimator, train
from ngram.evaluation import report
from ngram.formats.native import save

NAMES = ["anna", "mario", "marta", "bruno", "nina", "maria"]


@pytest.fixture(scope="module")
def model():
    return train(NAMES, 3, make_estimator("kneser-ney"))


def _data_of(page: str) -> dict:
    blob = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    return json.loads(blob)


def test_placeholders_in_names_and_file_names_are_text(model):
    data = report.build(model, ["{{DATA}}", "{{TITLE}}"], source="{{DATA}}.txt", unknown="skip", samples=0,
                        model_label="{{TITLE}}.ngram")
    page = report.render(data)
    assert page.count('<script id="report-data"') == 1
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert title == "Where {{TITLE}}.ngram is surprised by {{DATA}}.txt"  # not the data, not the title
    assert len(page) < len(report._template()) + 2 * len(json.dumps(data))
    again = _data_of(page)
    assert again["heldout"] == "{{DATA}}.txt" and again["names"]["text"] == ["{{DATA}}", "{{TITLE}}"]


@pytest.mark.parametrize("settings,message", [
    ({"samples": 10**9}, "--samples must be at most 10,000"),
    ({"max_names": 200_000}, "--max-names must be at most 20,000"),
    ({"samples": -1}, "--samples must be 0 or more"),
    ({"max_names": 0}, "--max-names must be at least 1"),
])
def test_sizes_past_the_caps_are_refused_before_any_work(model, settings, message):
    class Untouchable:  # any question to the model would fail the test
        def __getattr__(self, name):
            raise AssertionError(f"the model was asked for {name}")

    with pytest.raises(NgramError, match=message) as error:
        report.build(Untouchable(), NAMES, **settings)
    assert "\n" not in str(error.value)


def test_the_stages_are_named_in_order(model):
    seen = []
    report.build(model, NAMES, samples=2, progress=seen.append)
    assert seen == ["scoring names", "next-symbol vectors", "grouping contexts (H + KL)", "sampling names"]
    assert len(seen) == report.STAGES


@pytest.mark.slow
def test_cli_refuses_huge_requests_at_once_and_writes_nothing(model, tmp_path):
    from conftest import REPO

    save(model, tmp_path / "m.ngram")
    (tmp_path / "{{DATA}}.txt").write_text("\n".join(NAMES) + "\n")
    for option, value in (("--samples", str(10**9)), ("--max-names", "200000")):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "ngram", "report", "m.ngram", "missing.txt", option, value, "-o", "r.html"],
                              cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        assert done.returncode != 0 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
        assert option in done.stderr and time.perf_counter() - started < 10
        assert not (tmp_path / "r.html").exists()
    done = subprocess.run([sys.executable, "-m", "ngram", "report", "m.ngram", "{{DATA}}.txt", "-o", "r.html", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stderr == ""  # no bar when piped
    page = (tmp_path / "r.html").read_text()
    assert "<title>Where m.ngram is surprised by {{DATA}}.txt</title>" in page


def test_the_split_is_the_same_whether_or_not_every_name_is_drawn(model):
    whole = report.build(model, NAMES, samples=0)["split"]
    part = report.build(model, NAMES, samples=0, max_names=2)["split"]
    assert whole == part
