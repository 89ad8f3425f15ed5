"""The default model against modified Kneser-Ney order 6, side by side in one run: file sizes and
the scoring verbs, whole processes.

    python scripts/default_model_benchmark.py                      # English split from ../shared/data
    python scripts/default_model_benchmark.py --reuse              # keep models trained by an earlier run
    python scripts/default_model_benchmark.py --train names.txt --test held.txt   # any other list

Models (trained into --workdir, default .bench/default-model): ``ngram train TRAIN`` with no flags
(the tuned whole-name mixture), ``-s modified-kneser-ney -N 6`` and, for the file-size ratio,
``-N 10``. Verbs, each a whole ``python -m ngram`` process under ``/usr/bin/time -v`` (wall seconds
and maximum resident set size): ``probs MODEL mar``, ``evaluate MODEL TEST``, ``evaluate --explain``
and ``report`` (its defaults: 2,000 names drawn, 10 samples; and without samples, which
``ngram.generation`` draws). The closing columns are the default
model's figures divided by order 6's. Prints Markdown tables and the machine's load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from compact_table import PY, machine, timed  # noqa: E402  (whole commands under /usr/bin/time -v)

DATA = REPO.parent / "shared" / "data"


def ngram(*args) -> list[str]:
    return [PY, "-m", "ngram", *map(str, args)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, default=DATA / "english-names-train.txt")
    parser.add_argument("--test", type=Path, default=DATA / "english-names-test.txt")
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "default-model")
    parser.add_argument("--context", default="mar", help="the prefix given to ngram probs")
    parser.add_argument("--reuse", action="store_true", help="keep models an earlier run trained in --workdir")
    args = parser.parse_args(argv)
    if not args.train.is_file() or not args.test.is_file():
        print(f"skipped: {args.train} or {args.test} is absent (the reference corpora live in ../shared/data)")
        return 0
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    models = {"default": (), "mkn6": ("-s", "modified-kneser-ney", "-N", 6), "mkn10": ("-s", "modified-kneser-ney", "-N", 10)}
    trained = {}
    for label, flags in models.items():
        path = work / f"{label}.ngram"
        if not (args.reuse and path.is_file()):
            seconds, rss, _ = timed(ngram("train", args.train, *flags, "-o", path, "-q"), env)
            trained[label] = (seconds, rss)
    print(f"# The default model against modified KN order 6: {args.train.name} -> {args.test.name}")
    print(f"machine: {machine()}\n")
    size = {label: (work / f"{label}.ngram").stat().st_size / 1e6 for label in models}
    print("| model file | MB | x order-10 modified KN |\n|---|---:|---:|")
    for label in models:
        print(f"| {label} | {size[label]:.1f} | {size[label] / size['mkn10']:.2f} |")
    if trained:
        print("\ntraining (whole process): " + "; ".join(f"{k} {s:.1f} s, {r:.0f} MB" for k, (s, r) in trained.items()))
    verbs = {
        f"probs {args.context}": lambda m: ngram("probs", m, args.context, "-q"),
        "evaluate": lambda m: ngram("evaluate", m, args.test, "-q"),
        "evaluate --explain": lambda m: ngram("evaluate", m, args.test, "--explain", "-q"),
        "report": lambda m: ngram("report", m, args.test, "-o", work / "report.html", "-q"),
        "report --samples 0": lambda m: ngram("report", m, args.test, "-o", work / "report.html", "-q", "--samples", 0),
    }
    print("\n| verb | default s | default MB | order 6 s | order 6 MB | time ratio | memory ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for verb, command in verbs.items():
        mine = timed(command(work / "default.ngram"), env)
        theirs = timed(command(work / "mkn6.ngram"), env)
        print(f"| {verb} | {mine[0]:.2f} | {mine[1]:.0f} | {theirs[0]:.2f} | {theirs[1]:.0f} | "
              f"{mine[0] / theirs[0]:.2f} | {mine[1] / theirs[1]:.2f} |", flush=True)
    print(f"\nmachine after the run: {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
