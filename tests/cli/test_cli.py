"""End to end: the README's commands, run as a user would."""

import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REPO, shared_file
from support import ngram

pytestmark = pytest.mark.slow  # every test runs the command line in subprocesses


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("anna\nmaria\nmario\nmarco\nlucia\nluca\nanna maria\n", encoding="utf-8")
    return path


def test_train_with_no_corpus_uses_the_shipped_italian_names(tmp_path):
    result = ngram("train", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "italian-first-names.txt" in result.stdout and "nats/symbol" in result.stdout
    assert (tmp_path / "model.ngram").is_file()
    sampled = ngram("sample", "model.ngram", "-n", "5", "--seed", "0", cwd=tmp_path)
    assert sampled.returncode == 0 and len(sampled.stdout.split("\n")) == 6
    assert "not in the training set" in sampled.stderr


def test_blog_figure_through_the_cli(tmp_path):
    train = shared_file("italian-names-train.txt")
    test = shared_file("italian-names-test.txt")
    assert ngram("train", train, "--order", "4", "-s", "add-k", "--k", "0.1", "-o", "it.ngram", "-q", cwd=tmp_path).returncode == 0
    result = ngram("evaluate", "it.ngram", test, "--json", cwd=tmp_path)
    out = json.loads(result.stdout)
    assert out["nll_nats_per_symbol"] == pytest.approx(1.8278, abs=5e-5)
    assert out["cross_entropy_nats_per_symbol"] == out["nll_nats_per_symbol"]
    assert out["symbols"] == 7400 and out["data"].endswith("italian-names-test.txt")


def test_evaluate_reports_units_data_and_why_ce_equals_nll(tmp_path, names_file):
    ngram("train", names_file, "-N", "3", "-o", "m.ngram", "-q", cwd=tmp_path)
    result = ngram("evaluate", "m.ngram", names_file, "--explain", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for text in ("nats/symbol", "bits/symbol", "perplexity", "names.txt", "cross-entropy", "KL(empirical || model)"):
        assert text in result.stdout
    per_name = ngram("evaluate", "m.ngram", names_file, "--per-name", cwd=tmp_path).stdout.splitlines()
    assert per_name[0] == "name\tsymbols\tnll_nats" and per_name[1].startswith("anna\t5\t")


def test_stdin_corpus_and_json_outputs(tmp_path):
    result = ngram("train", "-", "-N", "2", "-o", "m.ngram", "--json", cwd=tmp_path, stdin="ab\nba\n")
    assert json.loads(result.stdout)["names"] == 2
    probs = json.loads(ngram("probs", "m.ngram", "a", "--json", cwd=tmp_path).stdout)
    assert probs["sum"] == pytest.approx(1.0) and set(probs["probability"]) == {"</s>", "a", "b"}  # </s>: the end (issue 24: "." is a character)
    sample = json.loads(ngram("sample", "m.ngram", "-n", "3", "--seed", "1", "--json", cwd=tmp_path).stdout)
    assert len(sample["names"]) == 3 and sample["novelty"]["samples"] == 3


def test_probs_shows_the_lookup_table(tmp_path, names_file):
    ngram("train", names_file, "-N", "3", "-o", "m.ngram", "-q", cwd=tmp_path)
    result = ngram("probs", "m.ngram", "mar", "--top", "3", cwd=tmp_path)
    assert result.returncode == 0 and "'i'" in result.stdout and len(result.stdout.splitlines()) == 4


def test_novel_only_keeps_new_names(tmp_path, names_file):
    ngram("train", names_file, "-N", "3", "-o", "m.ngram", "-q", cwd=tmp_path)
    result = ngram("sample", "m.ngram", "-n", "200", "--seed", "0", "--novel-only", cwd=tmp_path)
    kept = result.stdout.splitlines()
    known = set(names_file.read_text().splitlines())
    assert kept and not (set(kept) & known)


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["train", "NAMES", "-N", "0"], "order must be at least 1", 1),
        (["train", "NAMES", "-N", "100"], "too high", 1),
        (["train", "NAMES", "-s", "add-k", "--k", "-1"], "k must be a positive", 1),
        (["train", "NAMES", "--smoothing", "magic"], "unknown smoothing", 1),
        (["train", "missing.txt"], "missing.txt: no such file", 1),
        (["evaluate", "missing.ngram", "NAMES"], "missing.ngram: no such file", 1),
        (["evaluate", "MODEL", "OTHER"], "character 'z'", 1),
        (["sample", "MODEL", "--prefix", "zz"], "prefix 'zz'", 1),
        (["sample", "MODEL", "--temperature", "0"], "temperature", 1),
        (["sample", "MODEL", "--top-p", "2"], "top-p", 1),
        (["sample", "MODEL", "-n", "-3"], "number of samples", 1),
        (["sample", "MODEL", "--seed", "abc"], "--seed", 2),
        (["train", "--no-such-option"], "No such option", 2),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, names_file, args, message, code):
    ngram("train", names_file, "-N", "2", "-o", "model.ngram", "-q", cwd=tmp_path)
    (tmp_path / "other.txt").write_text("zed\n")
    swap = {"NAMES": names_file, "MODEL": "model.ngram", "OTHER": "other.txt"}
    result = ngram(*[swap.get(a, a) for a in args], cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_help_has_an_example_for_every_verb(tmp_path):
    for verb in ("train", "evaluate", "sample", "probs", "info", "export", "import"):
        result = ngram(verb, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "Example: ngram" in result.stdout, verb


@pytest.mark.parametrize("signum, status, message", [(2, 130, "error: interrupted"), (15, 143, "error: terminated")])
def test_an_interrupt_is_an_error_with_the_shell_status_and_writes_no_model(tmp_path, signum, status, message):
    import os
    import random
    import signal
    import time

    rng = random.Random(0)
    corpus = tmp_path / "big.txt"
    corpus.write_text("".join("".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 12))) + "\n"
                              for _ in range(300_000)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", "ngram", "train", str(corpus), "-N", "10", "-s", "modified-kneser-ney",
                              "-o", str(tmp_path / "m.ngram")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    # Signal once the command's handlers are in place (SIGTERM caught: main() has started), not
    # after a fixed delay that a busy machine can spend still importing.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        status_text = Path(f"/proc/{child.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status_text.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            break
        time.sleep(0.02)
    time.sleep(0.3)  # inside reading or counting
    child.send_signal(signal.Signals(signum))
    out, err = child.communicate(timeout=60)
    assert child.returncode == status, (out, err)
    assert err.strip().splitlines() == [message]
    assert not (tmp_path / "m.ngram").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["big.txt"]  # no temporary file left behind


def test_default_model_is_the_tuned_choice_and_samples_names(tmp_path):
    """``ngram train`` with no arguments: on a seeded 90/10 split of the shipped corpus the default
    model is what ``ngram tune`` picks (to the last digit of its test NLL), beats closed-form
    modified KN order 6 (KenLM's model) on the held-out tenth, and samples no empty name and none
    longer than the longest training name."""
    shipped = (REPO / "data" / "italian-first-names.txt").read_text(encoding="utf-8").split()
    rng = random.Random(0)
    rng.shuffle(shipped)
    cut = len(shipped) * 9 // 10
    (tmp_path / "train.txt").write_text("\n".join(shipped[:cut]) + "\n", encoding="utf-8")
    (tmp_path / "test.txt").write_text("\n".join(shipped[cut:]) + "\n", encoding="utf-8")
    # (the three trainings side by side: each is one process on one core)
    with ThreadPoolExecutor(3) as pool:
        default, tuned, closed = pool.map(lambda args: ngram(*args, cwd=tmp_path), [
            ("train", "train.txt", "-o", "m.ngram", "--json"), ("tune", "train.txt", "-o", "t.ngram", "-q"),
            ("train", "train.txt", "-s", "modified-kneser-ney", "-o", "kenlm.ngram", "-q")])
    assert json.loads(default.stdout)["estimator_choice"][-1].startswith("The saved model was refitted on all")
    assert tuned.returncode == 0 and closed.returncode == 0, (tuned.stderr, closed.stderr)

    def test_nll(model):
        return json.loads(ngram("evaluate", model, "test.txt", "--unknown", "skip", "--json", cwd=tmp_path).stdout)["nll_nats_per_symbol"]

    default, tuned, closed = test_nll("m.ngram"), test_nll("t.ngram"), test_nll("kenlm.ngram")
    assert abs(default - tuned) < 1e-9 and default < closed - 0.005, (default, tuned, closed)
    info = json.loads(ngram("info", "m.ngram", "--json", cwd=tmp_path).stdout)
    longest = max(map(len, shipped[:cut]))
    assert info["corpus"]["longest_name"] == longest
    sampled = ngram("sample", "m.ngram", "-n", "5000", "--seed", "0", "-q", cwd=tmp_path)
    names = sampled.stdout.split("\n")[:-1]
    assert len(names) == 5000 and all(names) and max(map(len, names)) <= longest


def test_default_falls_back_to_kenlms_model_where_it_cannot_tune(tmp_path, names_file):
    """Too few names to hold any out, a weighted corpus, a memory budget: closed-form modified KN
    order 6, and the summary says why."""
    for extra, why in (([], "too few"), (["--memory", "64M"], "not held in memory"), (["--compact"], "compact"),
                       (["--prune", "0 0 1"], "pruning")):
        out = json.loads(ngram("train", names_file, "-o", "m.ngram", "--json", *extra, cwd=tmp_path).stdout)
        assert out["estimator"]["name"] == "modified-kneser-ney" and out["order"] == 6
        assert why in out["estimator_choice"][0]
    bad = ngram("train", names_file, "--k", "0.5", "-o", "m.ngram", cwd=tmp_path)
    assert bad.returncode == 1 and "--smoothing" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
