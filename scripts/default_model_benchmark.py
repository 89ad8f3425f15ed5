"""The default model against modified Kneser-Ney order 6, side by side in one run: file sizes and
every verb of issue 21 (sampling, top, constrained sampling, probs, heatmap, evaluate, explain,
report), whole processes.

    python scripts/default_model_benchmark.py                      # English split from ../shared/data
    python scripts/default_model_benchmark.py --reuse              # keep models trained by an earlier run
    python scripts/default_model_benchmark.py --train names.txt --test held.txt   # any other list

Models (trained into --workdir, default .bench/default-model): ``ngram train TRAIN`` with no flags
(the tuned whole-name mixture), ``-s modified-kneser-ney -N 6`` and, for the file-size ratio,
``-N 10``. Verbs, each a whole ``python -m ngram`` process (wall seconds, CPU seconds and maximum
resident set size from ``os.wait4``): ``sample -n 20 --seed 0``, ``top -n 10``, ``sample -n 20 --seed 0
--suffix ina --max-len 8``, ``probs MODEL mar``, ``plot heatmap``, ``evaluate MODEL TEST``, ``evaluate --explain``
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

from compact_table import PY, machine  # noqa: E402

DATA = REPO.parent / "shared" / "data"
BIG = 80_000


def ngram(*args) -> list[str]:
    return [PY, "-m", "ngram", *map(str, args)]


def timed(cmd: list[str], env: dict) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident MB of one whole process."""
    import os
    import subprocess
    import time

    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    error = child.stderr.read().decode(errors="replace").strip()
    child.stderr.close()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd[2:5]))} ... failed: {error.splitlines()[-1:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def big_list(path: Path) -> None:
    """The 80,000-name list of the module docstring."""
    import unicodedata

    sources = [DATA / "english-names.txt", DATA / "italian-names-raw.txt", *sorted((REPO / "data").glob("*-first-names.txt"))]
    seen: dict[str, None] = {}
    for source in sources:
        for line in source.read_text(encoding="utf-8").splitlines():
            name = unicodedata.normalize("NFC", line.strip().lower())
            if name:
                seen.setdefault(name)
    base, rotation = list(seen), 1
    while len(seen) < BIG and rotation < 64:
        for name in base:
            if len(name) > rotation and len(seen) < BIG:
                seen.setdefault(name[rotation:] + name[:rotation])
        rotation += 1
    path.write_text("\n".join(seen) + "\n", encoding="utf-8")


def pick(names: list[str], wanted: str, what: str, part) -> str:
    """``wanted`` where some training name has it as its ``part`` (a list in another script has no
    'ina'); else the commonest such part of the names of at least 4 characters, said in a line."""
    from collections import Counter

    if any(part(x) == wanted for x in names):
        return wanted
    common = Counter(part(x) for x in names if len(x) >= 4).most_common(1)
    chosen = common[0][0] if common else wanted
    print(f"(no training name has the {what} {wanted!r}: using the commonest, {chosen!r})")
    return chosen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, default=DATA / "english-names-train.txt")
    parser.add_argument("--test", type=Path, default=DATA / "english-names-test.txt")
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench" / "default-model")
    parser.add_argument("--context", default="mar", help="the prefix given to ngram probs (where no training name "
                        "starts with it: the commonest 3-character start)")
    parser.add_argument("--suffix", default="ina", help="the constrained sample's --suffix (where no training name ends "
                        "with it: the commonest 3-character ending)")
    parser.add_argument("--reuse", action="store_true", help="keep models an earlier run trained in --workdir")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each verb; the fastest is shown (model A and B alternate)")
    parser.add_argument("--big", action="store_true", help="also the verbs on the model ngram tune makes of 80,000 names")
    args = parser.parse_args(argv)
    if not args.train.is_file() or not args.test.is_file():
        print(f"skipped: {args.train} or {args.test} is absent (the reference corpora live in ../shared/data)")
        return 0
    names = [x.strip() for x in args.train.read_text(encoding="utf-8", errors="replace").splitlines() if x.strip()]
    args.context = pick(names, args.context, "context", lambda x: x[:3])
    args.suffix = pick(names, args.suffix, "suffix", lambda x: x[-3:])
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    models = {"default": (), "mkn6": ("-s", "modified-kneser-ney", "-N", 6), "mkn10": ("-s", "modified-kneser-ney", "-N", 10)}
    trained = {}
    for label, flags in models.items():
        path = work / f"{label}.ngram"
        if not (args.reuse and path.is_file()):
            seconds, _, rss = timed(ngram("train", args.train, *flags, "-o", path, "-q"), env)
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
        "sample -n 20": lambda m: ngram("sample", m, "-n", 20, "--seed", 0, "-q"),
        "top -n 10": lambda m: ngram("top", m, "-n", 10, "-q"),
        f"sample -n 20 --suffix {args.suffix} --max-len 8": lambda m: ngram("sample", m, "-n", 20, "--seed", 0, "--suffix",
                                                                           args.suffix, "--max-len", 8, "-q"),
        f"probs {args.context}": lambda m: ngram("probs", m, args.context, "-q"),
        "plot heatmap": lambda m: ngram("plot", "heatmap", m, "-o", work / "heatmap.png", "-q"),
        # (--unknown skip: a held-out list may hold characters no training name has)
        "evaluate": lambda m: ngram("evaluate", m, args.test, "-q", "--unknown", "skip"),
        "evaluate --explain": lambda m: ngram("evaluate", m, args.test, "--explain", "-q", "--unknown", "skip"),
        "report": lambda m: ngram("report", m, args.test, "-o", work / "report.html", "-q", "--unknown", "skip"),
        "report --samples 0": lambda m: ngram("report", m, args.test, "-o", work / "report.html", "-q", "--samples", 0,
                                              "--unknown", "skip"),
    }
    print("\n| verb | default s (CPU s) | default MB | order 6 s (CPU s) | order 6 MB | wall ratio | CPU ratio | memory ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for verb, command in verbs.items():
        runs = [(timed(command(work / "default.ngram"), env), timed(command(work / "mkn6.ngram"), env))
                for _ in range(max(args.repeats, 1))]
        mine, theirs = min(r[0] for r in runs), min(r[1] for r in runs)
        print(f"| {verb} | {mine[0]:.2f} ({mine[1]:.2f}) | {mine[2]:.0f} | {theirs[0]:.2f} ({theirs[1]:.2f}) | {theirs[2]:.0f} | "
              f"{mine[0] / theirs[0]:.2f} | {mine[1] / theirs[1]:.2f} | {mine[2] / theirs[2]:.2f} |", flush=True)
    if args.big:
        names, model = work / "names80k.txt", work / "tuned80k.ngram"
        if not (args.reuse and model.is_file()):
            big_list(names)
            seconds, _, rss = timed(ngram("tune", names, "-o", model, "-q"), env)
            print(f"\nngram tune on {BIG:,} names: {seconds:.0f} s, {rss:.0f} MB")
        print(f"\n## The model ngram tune makes of {BIG:,} names ({model.stat().st_size / 1e6:.1f} MB), on {args.test.name}")
        print("\n| verb | s (CPU s) | MB |\n|---|---:|---:|")
        for verb, command in verbs.items():
            wall, cpu, rss = min(timed(command(model), env) for _ in range(max(args.repeats, 1)))
            print(f"| {verb} | {wall:.2f} ({cpu:.2f}) | {rss:.0f} |", flush=True)
    print(f"\nmachine after the run: {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
