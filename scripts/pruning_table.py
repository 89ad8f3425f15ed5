"""Model size against held-out NLL for count cutoffs and entropy pruning (prints a table).

    python scripts/pruning_table.py                         # English split, modified Kneser-Ney, order 6
    python scripts/pruning_table.py --lang italian --order 5 --smoothing witten-bell
    python scripts/pruning_table.py --lmplz /work/scratch/kenlm-src/build/bin/lmplz   # adds lmplz --prune rows

Reads ../shared/data/<lang>-names-{train,test}.txt. Size is the number of stored n-grams and
the bytes of the saved .ngram file; NLL is in nats per symbol on the test names (characters plus
one end symbol per name). With --lmplz (and the kenlm Python module) the same count cutoffs are
also run through KenLM's lmplz and scored with kenlm, for comparison: lmplz moves the pruned
mass into its interpolation weights (changing the kept probabilities), ngram keeps the kept
probabilities and recomputes the back-off weights. The numbers of n-grams kept agree exactly
with lmplz's: both compare raw counts.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ngram import read_names
from ngram.core.counting import count_ngrams
from ngram.estimators import make_estimator
from ngram.formats.native import save
from ngram.evaluation.metrics import evaluate
from ngram.lm.backoff.pruning import prune_by_counts, prune_by_entropy
from ngram.core.vocabulary import Vocabulary

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CUTOFFS = ["0 1", "0 0 1", "0 0 0 1", "0 1 1", "0 1 2", "0 2 2", "0 1 3", "0 2 4"]
ENTROPIES = [1e-8, 3e-8, 1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4]


def file_bytes(model, folder: str) -> int:
    path = Path(folder) / "m.ngram"
    save(model, path)
    return path.stat().st_size


def lmplz_row(lmplz: str, train: list[str], test: list[str], order: int, cutoffs: str, folder: str):
    import kenlm

    def spaced(name: str) -> str:
        return " ".join("<sp>" if c == " " else c for c in name)

    text = Path(folder) / "train.txt"
    text.write_text("\n".join(map(spaced, train)) + "\n", encoding="utf-8")
    arpa = Path(folder) / "m.arpa"
    with open(text, "rb") as stdin, open(arpa, "wb") as stdout:
        subprocess.run([lmplz, "-o", str(order), "--discount_fallback", "--prune", *cutoffs.split(), "-S", "200M", "-T", folder],
                       stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
    ngrams = 0
    with open(arpa, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("ngram "):
                ngrams += int(line.split("=")[1])
            elif line.startswith("\\1-grams"):
                break
    saved = os.dup(2)  # kenlm prints a loading bar on the C stderr
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        model = kenlm.Model(str(arpa))
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    log10 = sum(model.score(spaced(name), bos=True, eos=True) for name in test)
    symbols = sum(len(name) + 1 for name in test)
    # lmplz also stores <s> and <unk> as unigrams, which ngram does not count as n-grams.
    return ngrams - 2, -log10 * math.log(10) / symbols


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lang", default="english", choices=["english", "italian"])
    parser.add_argument("--order", type=int, default=6)
    parser.add_argument("--smoothing", default="modified-kneser-ney")
    parser.add_argument("--lmplz", help="path to KenLM's lmplz, to add its --prune rows")
    args = parser.parse_args(argv)
    train_path, test_path = DATA / f"{args.lang}-names-train.txt", DATA / f"{args.lang}-names-test.txt"
    if not train_path.is_file():
        print(f"error: {train_path} not found (the shared data sits beside the repository)", file=sys.stderr)
        return 1
    train, test = read_names(train_path).names, read_names(test_path).names
    vocab = Vocabulary.from_names(train)
    counts = count_ngrams(vocab.encode(train), args.order, vocab.size)
    full = make_estimator(args.smoothing).fit(counts, vocab)
    print(f"{args.lang} split: train {len(train)} names, test {len(test)} names; order {args.order} {args.smoothing}")
    print(f"{'pruning':26} {'n-grams':>9} {'file bytes':>11} {'test NLL (nats/symbol)':>23}")
    with tempfile.TemporaryDirectory() as folder:
        rows = [("none", full)]
        rows += [(f"--prune {c}", prune_by_counts(full, counts, c)) for c in CUTOFFS]
        rows += [(f"--prune-entropy {e:g}", prune_by_entropy(full, e)) for e in ENTROPIES]
        for label, model in rows:
            nll = evaluate(model, test).nll
            print(f"{label:26} {sum(model.n_ngrams()):9,d} {file_bytes(model, folder):11,d} {nll:23.4f}", flush=True)
        if args.lmplz and os.path.exists(args.lmplz):
            for c in ["0"] + CUTOFFS:
                ngrams, nll = lmplz_row(args.lmplz, train, test, args.order, c, folder)
                print(f"{'lmplz --prune ' + c:26} {ngrams:9,d} {'':>11} {nll:23.4f}", flush=True)
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
