"""The benchmark script runs end to end on a tiny corpus (figures are not checked: no timings in tests)."""

import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # runs the benchmark script in a subprocess

SCRIPT = REPO / "scripts" / "benchmark.py"


def test_benchmark_runs_on_a_tiny_corpus_and_prints_the_table(tmp_path):
    corpus = tmp_path / "names.txt"
    corpus.write_text("".join(f"{a}{b}{c}\n" for a in "abcde" for b in "aeiou" for c in "lmnrst"), encoding="utf-8")
    markdown = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--corpus", str(corpus), "--orders", "2,3", "--score-orders", "3",
         "--samples", "200", "--repeats", "1", "--no-kenlm", "--no-nltk", "--markdown", str(markdown)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for row in ("train modified KN, order 2", "train modified KN, order 3, peak memory",
                "score the whole corpus end to end, order 3", "sample 200 names, order 3", "model file size, order 3"):
        assert row in result.stdout
    assert "skipping lmplz" in result.stdout  # skipped peers are said, not silently missing
    text = markdown.read_text(encoding="utf-8")
    assert text.startswith("Machine: ") and "| train modified KN, order 3 |" in text


def test_a_missing_corpus_says_how_to_build_it(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(tmp_path / "none.txt")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "build_wordlist.py" in result.stderr and "Traceback" not in result.stderr
