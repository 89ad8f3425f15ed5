"""Peak memory and time of the three counting engines on one corpus (prints a table; asserts nothing).

    python scripts/build_big_corpus.py --megabytes 100
    python scripts/scale_benchmark.py .bench/big-100M.txt --order 5 --engines memory streaming:256M dask
    python scripts/scale_benchmark.py .bench/big-1000M.txt --order 5 --engines streaming:256M

Each run is a fresh Python process, so its peak resident set (``ru_maxrss``) is its own. Two peaks
are printed: at the end of counting (the corpus and the counting work, what ``--memory`` bounds)
and overall (adding the estimator on the final counts, which must fit in any case). The baseline
is the interpreter with numpy and ngram imported. Models are compared by a digest of every level's
keys, log-probabilities and back-off weights: "same" means equal to the last bit. The Dask rows
time a LocalCluster of worker processes on this machine (its start-up included); the workers'
memory is their own and not in the peak shown, nor their CPU time in "CPU s" (this process's
own user + system time, a steadier figure than wall time on a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import hashlib, json, resource, sys, time
spec = json.loads(sys.argv[1])
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
import numpy as np
from ngram import read_names
from ngram.core.counting import count_ngrams
from ngram.estimators import make_estimator
from ngram.core.vocabulary import Vocabulary
baseline = peak()
start = time.perf_counter()
engine, order, path = spec["engine"], spec["order"], spec["corpus"]
estimator = make_estimator(spec["smoothing"])
if engine == "memory":
    names = read_names(path).names
    vocab = Vocabulary.from_names(names)
    counts = count_ngrams(vocab.encode(names), order, vocab.size)
    del names
elif engine == "streaming":
    from ngram.core.budget import Budget, parse_size
    from ngram.training.streaming import count_ngrams_streaming, scan_corpus
    budget = Budget.of(parse_size(spec["memory"]))
    scan = scan_corpus(path, budget.block_bytes)
    vocab = Vocabulary(scan.characters)
    counts, _ = count_ngrams_streaming(path, order, vocab, budget)
else:
    from ngram.training.dask_engine import connect, count_ngrams_dask
    from ngram.core.budget import BYTES_PER_SYMBOL, parse_size
    from ngram.training.streaming import scan_corpus
    client, cluster = connect(workers=spec["workers"])
    block = parse_size(spec["memory"]) // 2 // BYTES_PER_SYMBOL
    scan = scan_corpus(path, block)
    vocab = Vocabulary(scan.characters)
    counts, _ = count_ngrams_dask(path, order, vocab, client, block)
    client.close(); cluster.close()
counted = time.perf_counter() - start
counting_peak = peak()
model = estimator.fit(counts, vocab)
digest = hashlib.sha256(b"".join(l.keys.tobytes() + l.logp.tobytes() + l.bow.tobytes() for l in model.levels)).hexdigest()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"baseline": baseline, "counting_peak": counting_peak, "peak": peak(), "count_seconds": counted,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "seconds": time.perf_counter() - start, "digest": digest, "ngrams": int(sum(model.n_ngrams()))}))
"""


def run(spec: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{spec['engine']} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--smoothing", default="add-k")
    parser.add_argument("--engines", nargs="+", default=["memory", "streaming:256M", "dask"],
                        help="memory, streaming:BUDGET, dask[:WORKERS] (memory per counting task 1G, as ngram train)")
    args = parser.parse_args(argv)
    size = os.path.getsize(args.corpus)
    print(f"corpus {args.corpus}: {size / 1e6:,.1f} MB; order {args.order} {args.smoothing}; {os.cpu_count()} cores")
    print(f"{'engine':24} {'count peak RSS':>15} {'overall peak':>13} {'counting s':>11} {'total s':>8} {'CPU s':>6}  model")
    first = None
    for item in args.engines:
        engine, _, extra = item.partition(":")
        spec = {"engine": engine, "order": args.order, "corpus": args.corpus, "smoothing": args.smoothing,
                "memory": extra if engine == "streaming" else "1G", "workers": int(extra or 2) if engine == "dask" else 0}
        result = run(spec)
        first = first or result["digest"]
        label = {"memory": "in memory", "streaming": f"streaming --memory {extra}",
                 "dask": f"dask LocalCluster x{spec['workers']}"}[engine]
        same = "same" if result["digest"] == first else "DIFFERENT"
        print(f"{label:24} {mib(result['counting_peak']):>15} {mib(result['peak']):>13} {result['count_seconds']:11.1f} "
              f"{result['seconds']:8.1f} {result['cpu_seconds']:6.1f}  {same} ({result['ngrams']:,} n-grams; baseline {mib(result['baseline'])})", flush=True)
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
