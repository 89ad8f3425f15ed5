"""Compact model files: size against the ARPA text, NLL cost of quantisation, and the memory and
time of scoring the word list, side by side with the kenlm module in one run.

    python scripts/build_wordlist.py --kenlm          # .bench/wordlist.txt and .bench/wordlist.kenlm.txt
    python scripts/compact_table.py                   # orders 6, 8, 10; prints Markdown tables

Models are order-N modified Kneser-Ney (``ngram train -s modified-kneser-ney``); the ARPA text is
``ngram export --arpa``. Formats: ``npz`` is the ordinary model file; ``compact`` the trie form
without quantisation (scores bit-identically); ``q16``, ``q8/16`` and ``q8`` quantise
probabilities / back-off weights to 16 or 8 bits (``--quantise 16``, ``8,16``, ``8``).
NLL cost = NLL(quantised) - NLL(exact), nats/symbol, on the English test split (order 5, trained
on the English train split) and on the word list itself (the model's training data).

With ``--lmplz PATH`` the table also gives the exact compact file as a fraction of lmplz's own
ARPA text for the same word list (``lmplz -o N --discount_fallback``; it prints about 7
significant digits where ``ngram export`` prints every digit of a float64, so its text is smaller).

Memory and time: whole commands under ``/usr/bin/time -v`` (its maximum resident set size and
elapsed wall time), run alternately ``--repeats`` times: the kenlm module's ``Model.score`` loop
over the ARPA file (as ``scripts/benchmark.py``) and ``ngram evaluate`` on each file (which reads
and scores the word list a block at a time, ``metrics.evaluate_file``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

PY = sys.executable
BITS = {"compact": (None, None), "q16": (16, 16), "q8/16": (8, 16), "q8": (8, 8)}


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one command under /usr/bin/time -v."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        done = subprocess.run(["/usr/bin/time", "-v", "-o", report.name, *cmd], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:4])} ... failed: {done.stderr.strip().splitlines()[-1:]}")
        text = report.read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text).group(1)
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds, rss, done.stdout


def machine() -> str:
    from benchmark import load_average, machine as describe

    return f"{describe()}; load average {load_average()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lmplz", type=Path, help="lmplz binary: also the exact compact size against lmplz's ARPA text")
    parser.add_argument("--wordlist", type=Path, default=REPO / ".bench" / "wordlist.txt")
    parser.add_argument("--kenlm-wordlist", type=Path, default=REPO / ".bench" / "wordlist.kenlm.txt")
    parser.add_argument("--english", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--orders", default="6,8,10")
    parser.add_argument("--score-order", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "compact")
    args = parser.parse_args(argv)
    from ngram import read_names
    from ngram.formats import native as io
    from ngram.estimators import make_estimator
    from ngram.evaluation.metrics import evaluate
    from ngram.training.trainer import train

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ngram = [PY, "-m", "ngram"]
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}\n")

    # NLL cost on the English test split.
    english_train = read_names(args.english / "english-names-train.txt")
    english_test = read_names(args.english / "english-names-test.txt")
    english = train(english_train, 5, make_estimator("modified-kneser-ney"))
    exact = evaluate(english, english_test).nll
    print("English names, order-5 modified Kneser-Ney, test split (1,000 names):\n")
    print("| format | file bytes | NLL nats/symbol | cost nats/symbol |\n|---|---:|---:|---:|")
    path = args.work / "english.ngram"
    io.save(english, path)
    print(f"| npz | {path.stat().st_size:,} | {exact:.6f} | |")
    for name, bits in BITS.items():
        io.save(english, path, compact=True, logp_bits=bits[0], bow_bits=bits[1])
        nll = evaluate(io.load(path), english_test).nll
        print(f"| {name} | {path.stat().st_size:,} | {nll:.6f} | {nll - exact:+.6f} |")

    # Sizes and NLL cost on the word list.
    words = read_names(args.wordlist)
    print(f"\nWord list ({args.wordlist.name}, {len(words):,} words), modified Kneser-Ney; size as a fraction of the ARPA text; "
          "NLL on the word list itself:\n")
    lmplz_head = " lmplz ARPA bytes | compact / lmplz ARPA |" if args.lmplz else ""
    print(f"| order | ARPA bytes | npz | compact | q16 | q8/16 | q8 | NLL exact | cost q16 | cost q8/16 | cost q8 | write s (compact, q8) |{lmplz_head}")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.lmplz else ""))
    orders = [int(o) for o in args.orders.split(",")]
    for order in orders:
        base, arpa = args.work / f"w{order}.ngram", args.work / f"w{order}.arpa"
        subprocess.run(ngram + ["train", str(args.wordlist), "-N", str(order), "-s", "modified-kneser-ney", "-o", str(base), "-q"],
                       env=env, check=True)
        subprocess.run(ngram + ["export", str(base), "--arpa", str(arpa), "-q"], env=env, check=True)
        arpa_bytes = arpa.stat().st_size
        cells, costs, writes = [f"{base.stat().st_size / arpa_bytes:.3f}"], [], []
        model = io.load(base)
        exact = evaluate(model, words).nll
        for name, (logp_bits, bow_bits) in BITS.items():
            out = args.work / f"w{order}.{name.replace('/', '-')}.ngram"
            started = time.perf_counter()
            io.save(model, out, compact=True, logp_bits=logp_bits, bow_bits=bow_bits)
            if name in ("compact", "q8"):
                writes.append(f"{time.perf_counter() - started:.1f}")
            cells.append(f"{out.stat().st_size / arpa_bytes:.3f}")
            if name != "compact":
                costs.append(f"{evaluate(io.load(out), words).nll - exact:+.6f}")
        lmplz_cells = ""
        if args.lmplz:
            theirs = args.work / f"w{order}.lmplz.arpa"
            with open(args.kenlm_wordlist, "rb") as text, open(theirs, "wb") as out:
                subprocess.run([str(args.lmplz), "-o", str(order), "-S", "1G", "--discount_fallback"], stdin=text, stdout=out,
                               stderr=subprocess.DEVNULL, check=True)
            compact_bytes = (args.work / f"w{order}.compact.ngram").stat().st_size
            lmplz_cells = f" {theirs.stat().st_size:,} | {compact_bytes / theirs.stat().st_size:.3f} |"
        print(f"| {order} | {arpa_bytes:,} | {' | '.join(cells)} | {exact:.6f} | {' | '.join(costs)} | {', '.join(writes)} |{lmplz_cells}",
              flush=True)

    # Peak memory and time of scoring the word list.
    order = args.score_order
    arpa = args.work / f"w{order}.arpa"
    from benchmark import KENLM_SCORE

    commands = {"kenlm module, Model.score loop over the ARPA": [PY, "-c", KENLM_SCORE, str(arpa), str(args.kenlm_wordlist)]}
    for name in ("npz", "compact", "q8"):
        model = args.work / (f"w{order}.ngram" if name == "npz" else f"w{order}.{name}.ngram")
        commands[f"ngram evaluate, {name} file"] = ngram + ["evaluate", str(model), str(args.wordlist), "--json"]
    results = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            results[name].append(timed(cmd, env))
    kenlm_rss = statistics.median(r[1] for r in results[next(iter(commands))])
    print(f"\nScoring the word list at order {order} ({args.repeats} alternating runs each; median, [min-max]):\n")
    symbols = sum(len(line) + 1 for line in args.wordlist.read_text().splitlines())
    print("| command | peak RSS MiB | × kenlm | wall s | symbols/s |\n|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        rss, wall = [r[1] for r in runs], [r[0] for r in runs]
        print(f"| {name} | {statistics.median(rss):.1f} [{min(rss):.1f}-{max(rss):.1f}] | {statistics.median(rss) / kenlm_rss:.2f} | "
              f"{statistics.median(wall):.2f} [{min(wall):.2f}-{max(wall):.2f}] | {symbols / statistics.median(wall):,.0f} |")
    print(f"\nmachine after the runs: {machine()}")
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
