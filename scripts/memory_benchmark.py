"""Big corpora side by side with KenLM's lmplz: time and peak memory of the whole process tree.

    python scripts/build_big_corpus.py --megabytes 100          # -> .bench/big-100M.txt (and 1000)
    python scripts/memory_benchmark.py .bench/big-100M.txt --order 5 --lmplz /path/to/lmplz \
        --runs default memory:1G dask
    python scripts/memory_benchmark.py .bench/big-1000M.txt --order 5 --lmplz /path/to/lmplz --runs memory:1G

Each run is a fresh process training modified Kneser-Ney (``training.train_file`` with the
engine and budget given, model file written) or ``lmplz -o N -S 1G --discount_fallback`` (ARPA
written; its input, one character per word, is made once beforehand and not timed). Runs:
``default`` (no flags: the library chooses), ``memory:BUDGET`` (``--memory BUDGET``, the streaming
engine), ``inmemory`` (``--engine memory``), ``dask[:WORKERS]`` (a LocalCluster; workers are
processes of the run, so their memory is in the tree). Peak memory is the largest sum of the
resident sets of the run's process tree, sampled every 50 ms, and never less than the largest
single process's ``ru_maxrss``. Machine load shifts times: compare the two columns of one run.
Prints a Markdown table, with each run's wall time and peak as a multiple of lmplz's (the first
row) when lmplz ran, and the load average at the start and the end; asserts nothing. Models of
every run of ours are compared by a digest of their levels: "same" means equal to the last bit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

OURS = r"""
import hashlib, json, sys
from ngram.estimators import make_estimator
from ngram.formats.native import load
from ngram.core.budget import parse_size
from ngram.training.trainer import Resources, train_file
spec = json.loads(sys.argv[1])
model, summary = train_file(spec["corpus"], spec["order"], make_estimator("modified-kneser-ney"), output=spec["output"],
                            resources=Resources(spec["engine"], None if spec["memory"] is None else parse_size(spec["memory"])))
print(json.dumps({"engine": summary.engine, "memory_bytes": summary.memory_bytes, "reason": summary.reason,
                  "ngrams": sum(summary.ngrams_per_order)}))
"""

DIGEST = r"""
import hashlib, sys
from ngram.formats.native import load
model = load(sys.argv[1])
print(hashlib.sha256(b"".join(l.keys.tobytes() + l.logp.tobytes() + l.bow.tobytes() for l in model.levels)).hexdigest())
"""


def run(command: list[str], stdin=None, stdout=None, env=None) -> dict:
    """Run ``command``; wall time, CPU time (user + system, its tree), and peak memory: the largest
    sampled sum of the tree's resident sets, at least the largest process's ``ru_maxrss``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as captured, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=stdin, stdout=stdout or captured, stderr=errors, env=env)
        done = threading.Event()
        sampled = [0]

        def sample() -> None:
            root = psutil.Process(process.pid)
            while not done.is_set():
                total = 0
                try:
                    for p in [root, *root.children(recursive=True)]:
                        try:
                            total += p.memory_info().rss
                        except psutil.Error:
                            pass
                except psutil.Error:
                    pass
                sampled[0] = max(sampled[0], total)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage (its reaped descendants included)
        process.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        seconds = time.perf_counter() - started
        captured.seek(0)
        errors.seek(0)
        out, err = captured.read().decode(), errors.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed: {err[-800:]}")
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "system": usage.ru_stime,
            "peak": max(sampled[0], usage.ru_maxrss * 1024), "out": out}


def kenlm_input(corpus: Path, out: Path) -> None:
    """One character per word, a space spelled <sp> (not timed)."""
    between = re.compile(r"(?<=[^\n])(?=[^\n])")
    with open(corpus, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        while True:
            block = src.read(1 << 24)
            if not block:
                break
            block += src.readline()
            dst.write(between.sub(" ", block.replace(" ", "\0")).replace("\0", "<sp>"))


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--lmplz", default=os.environ.get("LMPLZ"), help="KenLM lmplz binary (or $LMPLZ); skipped if absent")
    parser.add_argument("--runs", nargs="+", default=["default", "memory:1G"])
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent.parent / ".bench")
    args = parser.parse_args(argv)
    args.work.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    size = args.corpus.stat().st_size
    total = psutil.virtual_memory().total
    print(f"corpus {args.corpus} ({size / 1e6:,.0f} MB), order {args.order}, modified Kneser-Ney; "
          f"{os.cpu_count()} cores, {total / 2**30:.1f} GiB; load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    rows, digests = [], {}
    if args.lmplz:
        text = args.work / (args.corpus.name + ".chars")
        if not text.exists() or text.stat().st_mtime < args.corpus.stat().st_mtime:
            kenlm_input(args.corpus, text)
        with tempfile.TemporaryDirectory(dir=args.work) as tmp, open(text, "rb") as stdin, \
                open(Path(tmp) / "model.arpa", "wb") as arpa:
            r = run([args.lmplz, "-o", str(args.order), "-S", "1G", "--discount_fallback", "-T", tmp], stdin=stdin, stdout=arpa)
        rows.append(("lmplz -S 1G", r, "ARPA"))
        print(f"lmplz: {r['seconds']:.1f} s, {mib(r['peak'])}", flush=True)
    for item in args.runs:
        kind, _, extra = item.partition(":")
        spec = {"corpus": str(args.corpus), "order": args.order, "engine": "auto", "memory": None}
        label = "ours, default"
        if kind == "memory":
            spec["memory"], label = extra, f"ours --memory {extra}"
        elif kind == "inmemory":
            spec["engine"], label = "memory", "ours --engine memory"
        elif kind == "dask":
            spec["engine"], label = "dask", "ours --engine dask (2 workers)"
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            spec["output"] = str(Path(tmp) / "model.ngram")
            r = run([sys.executable, "-c", OURS, json.dumps(spec)], env=env)
            info = json.loads(r["out"].strip().splitlines()[-1])
            digests[label] = subprocess.run([sys.executable, "-c", DIGEST, spec["output"]], env=env, capture_output=True,
                                            text=True, check=True).stdout.strip()
        rows.append((label, r, f"{info['engine']}, {info['ngrams']:,} n-grams"))
        print(f"{label}: {r['seconds']:.1f} s, {mib(r['peak'])} ({info['reason']})", flush=True)
    first = next(iter(digests.values()), None)
    peer = rows[0][1] if args.lmplz else None
    print()
    print("| run | wall s | × lmplz wall | CPU s (system) | peak RSS of the tree | × lmplz peak | engine, model |")
    print("|---|---|---|---|---|---|---|")
    for label, r, what in rows:
        same = "" if label not in digests else (", same model" if digests[label] == first else ", DIFFERENT model")
        ratios = (f"{r['seconds'] / peer['seconds']:.2f}", f"{r['peak'] / peer['peak']:.2f}") if peer else ("", "")
        print(f"| {label} | {r['seconds']:.1f} | {ratios[0]} | {r['cpu']:.1f} ({r['system']:.1f}) | {mib(r['peak'])} | {ratios[1]} | {what}{same} |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
