#!/usr/bin/env python3
"""Accuracy of the name-origin classifier on the two shipped corpora (Italian vs English).

The labelled set is built as tests/evaluation/test_classify.py builds it: 300 names held out of each corpus
(seeded), one model trained per corpus on the rest, equal priors. Chance is 0.5.

    python scripts/classifier_accuracy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ngram import classify, make_estimator, read_names, train
from ngram.evaluation.classifier import assess

DATA = Path(__file__).resolve().parents[1] / "data"
CORPORA = (("it", "italian-first-names.txt"), ("en", "english-first-names.txt"))
HELD_OUT = 300


def main() -> None:
    print(f"accuracy on {2 * HELD_OUT} held-out names ({HELD_OUT} per corpus, seed 0; chance 0.5); confusion rows = true it/en")
    for estimator in ("add-k", "witten-bell", "kneser-ney", "modified-kneser-ney"):
        for order in (2, 3, 4, 5, 6):
            rng = np.random.default_rng(0)
            models, names, gold = [], [], []
            for label, file in CORPORA:
                corpus = read_names(DATA / file).names
                order_ = rng.permutation(len(corpus))
                names += [corpus[i] for i in order_[:HELD_OUT]]
                gold += [label] * HELD_OUT
                models.append(train([corpus[i] for i in order_[HELD_OUT:]], order=order, estimator=make_estimator(estimator)))
            report = assess(classify(models, names, labels=[c[0] for c in CORPORA]), gold)
            print(f"  {estimator:20} order {order}  accuracy {report.accuracy:.4f}  confusion {report.confusion[:, :2].tolist()}")


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
