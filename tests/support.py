"""Helpers the tests of several rooms share: generated corpora, model comparisons, the command
line as a subprocess (plain, or under a wrapper that measures its peak memory), reference counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np

from conftest import REPO


def generated_names(count=4000, seed=0):
    rng = np.random.default_rng(seed)
    alphabet = list("aeioulnrstmkbdé ") + ["ß", "ø"]
    lengths = rng.integers(1, 12, count)
    letters = rng.choice(alphabet, size=int(lengths.sum()))
    cuts = np.cumsum(lengths)[:-1]
    return ["".join(part) for part in np.split(letters, cuts)]


def assert_same_model(a, b):
    assert a.order == b.order and a.vocabulary == b.vocabulary
    for n, (x, y) in enumerate(zip(a.levels, b.levels), start=1):
        assert np.array_equal(x.keys, y.keys), f"order {n} keys differ"
        # Same counts give the same floating-point operations: equal to the last bit.
        assert np.array_equal(x.logp, y.logp) and np.array_equal(x.bow, y.bow), f"order {n} values differ"
    assert a.corpus == b.corpus
    assert np.array_equal(a.train_names, b.train_names)


def ngram(*args, cwd, stdin=None):
    return subprocess.run([sys.executable, "-m", "ngram", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, input=stdin, timeout=120)


ENV = {**os.environ, "PYTHONPATH": str(REPO)}
# Runs argv with an address-space limit and prints {"rc", "stderr", "stdout", "peak_mb"}.
WRAPPER = textwrap.dedent(
    """
    import json, resource, subprocess, sys
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    done = subprocess.run(sys.argv[1:], capture_output=True, preexec_fn=limit)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"rc": done.returncode, "stderr": done.stderr.decode("utf-8", "replace"),
                      "stdout": done.stdout.decode("utf-8", "replace"), "peak_mb": peak}))
    """
)


def measured(*args: str, cwd: Path) -> dict:
    """``python -m ngram ARGS`` in ``cwd``: exit status, output and peak RSS in MB."""
    done = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, "-m", "ngram", *map(str, args)],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def reference_counts(names, order, vocab):
    """Independent dictionary counts: one start symbol, n-grams never cross names."""
    index = {c: i + 1 for i, c in enumerate(vocab.characters)}
    counts = [Counter() for _ in range(order)]
    for name in names:
        seq = [0] + [index[c] for c in name] + [0]
        for j in range(1, len(seq)):
            for n in range(1, order + 1):
                if j - (n - 1) >= 0:
                    counts[n - 1][tuple(seq[j - n + 1 : j + 1])] += 1
    return counts


def unpack(key, n, V):
    digits = []
    for _ in range(n):
        digits.append(int(key % V))
        key //= V
    return tuple(reversed(digits))


def chi_square(observed: dict, expected_p: dict, n: int) -> tuple[float, int]:
    """Pearson's statistic over the outcomes expected at least 5 times, the rest pooled in one bin."""
    big = [k for k, p in expected_p.items() if p * n >= 5]
    stat = sum((observed.get(k, 0) - expected_p[k] * n) ** 2 / (expected_p[k] * n) for k in big)
    rest_p = 1.0 - sum(expected_p[k] for k in big)
    rest_o = n - sum(observed.get(k, 0) for k in big)
    if rest_p * n >= 5:
        stat += (rest_o - rest_p * n) ** 2 / (rest_p * n)
        return stat, len(big)
    return stat, len(big) - 1


def passes(stat: float, df: int) -> bool:
    # About 5 standard deviations above the mean of a chi-square with df degrees of freedom: a
    # right sampler stays under it (and the seeds are fixed), while a wrong back-off or <unk>
    # mass shifts tens of thousands of draws and lands far above.
    return stat < df + 5 * (2 * df) ** 0.5 + 10


def gru(vocabulary=None, layers=2, hidden=8, embedding=4, seed=0, scale=1.0):
    """A tiny GRU next-symbol model with seeded random weights (numpy only: no training)."""
    from conftest import TINY
    from ngram import Vocabulary
    from ngram.lm.neural.model import GRUModel, GRUWeights

    vocabulary = vocabulary or Vocabulary.from_names(TINY)
    weights = GRUWeights.random(vocabulary.size, embedding, hidden, layers, np.random.default_rng(seed), scale)
    return GRUModel(vocabulary, weights, corpus={"longest_name": 6})
