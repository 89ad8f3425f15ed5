#!/usr/bin/env python3
"""Print the smoothing comparison table (markdown): test NLL in nats per symbol, orders 2-8.

Every estimator is trained on the Italian blog split's training file and evaluated on its test
file, with an ``<unk>`` class (as KenLM has one; the test file has no unknown characters, so
only the vocabulary size V = 34 matters). The KenLM column is lmplz's modified Kneser-Ney
(``lmplz -o N --discount_fallback``, scored with ``query``), rounded to 4 decimals.

Usage (from the repository root):

    python scripts/smoothing_table.py                       # data in ../shared/data
    python scripts/smoothing_table.py --data DIR --language english
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ngram  # noqa: E402
from ngram.evaluation.metrics import evaluate  # noqa: E402

ORDERS = range(2, 9)
METHODS = [
    ("add-k (k=0.1)", "add-k", {"k": 0.1}),
    ("Jelinek-Mercer (λ=0.6)", "jelinek-mercer", {}),
    ("Witten-Bell", "witten-bell", {}),
    ("absolute", "absolute", {}),
    ("Kneser-Ney", "kneser-ney", {}),
    ("modified KN", "modified-kneser-ney", {}),
    ("KN back-off", "kneser-ney", {"backoff": True}),
    ("modified KN back-off", "modified-kneser-ney", {"backoff": True}),
]
KENLM = {  # lmplz modified KN, measured by the reference run (see the issue and DESIGN.md)
    "italian": [2.1765, 1.9375, 1.7537, 1.6495, 1.6239, 1.6290, 1.6326],
    "english": [2.4562, 2.2179, 2.0426, 1.9529, 1.9406, 1.9429, 1.9442],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--language", choices=sorted(KENLM), default="italian")
    args = parser.parse_args()
    train = ngram.read_names(args.data / f"{args.language}-names-train.txt").names
    test = ngram.read_names(args.data / f"{args.language}-names-test.txt").names
    header = ["order"] + [label for label, _, _ in METHODS] + ["KenLM lmplz (modified KN)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for i, order in enumerate(ORDERS):
        row = [str(order)]
        for _, name, settings in METHODS:
            model = ngram.train(train, order, ngram.make_estimator(name, **settings), unk=True)
            row.append(f"{evaluate(model, test).nll:.4f}")
        row.append(f"{KENLM[args.language][i]:.4f}")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
