"""Generation and scoring speed, side by side in one run: whole processes, peak memory from the kernel.

    python scripts/build_wordlist.py --kenlm      # .bench/wordlist.txt (needs wamerican-insane)
    python scripts/sampler_benchmark.py           # --work DIR keeps the trained models for the next run

1. The word list (``scripts/build_wordlist.py``), modified KN order 6: unconstrained sampling in
   process (names/s, the automaton built in the first run and kept for the second) and
   ``ngram sample -n 1000000 > /dev/null`` as a whole process (names/s).
2. ``ngram evaluate`` of the word list against the kenlm module's load-and-score loop on the same
   model exported as ARPA: time and peak-memory ratios (load included in both).
3. The English split (../shared/data/english-names-train.txt): the default model (``ngram train``
   with no flags) against ``-s modified-kneser-ney -N 6``: time and peak memory of ``sample -n 20``,
   ``top -n 10`` and ``sample -n 20 --suffix ina --max-len 8``.

Each part says in one line why it is skipped when its data is missing. The parent process stays
small (no numpy), so each child's peak resident memory from ``os.wait4`` is its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SHARED = ROOT.parent / "shared" / "data"
WORDLIST = ROOT / ".bench" / "wordlist.txt"
PARTS = ("wordlist", "english")

IN_PROCESS = r"""
import sys, time
from ngram.formats.native import load
from ngram.generation.sampling import Sampler
model = load(sys.argv[1])
n = int(sys.argv[2])
sampler = Sampler(model)
started = time.perf_counter()
sum(1 for _ in sampler.chunks(n, seed=0))
first = time.perf_counter() - started
started = time.perf_counter()
sum(1 for _ in sampler.chunks(n, seed=1))
print(n / first, n / (time.perf_counter() - started))
"""

KENLM_SCORE = r"""
import sys
import kenlm
model = kenlm.Model(sys.argv[1])
total = 0.0
with open(sys.argv[2], encoding="utf-8") as handle:
    for line in handle:
        total += model.score(" ".join(line.rstrip("\n")), bos=True, eos=True)
print(total)
"""


def run(cmd: list, stdout=subprocess.DEVNULL) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout text) of one fresh child; a failure ends the run in one line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen([str(c) for c in cmd], stdout=out if stdout is None else stdout, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            lines = err.read().decode(errors="replace").strip().splitlines()
            sys.exit(f"error: {' '.join(map(str, cmd[:5]))} failed: {lines[-1] if lines else 'no message'}")
        return wall, usage.ru_maxrss / 1024.0, out.read().decode(errors="replace")


def ngram(*args) -> list:
    return [PY, "-m", "ngram", *args]


def best_of(repeats: int, cmd: list, stdout=subprocess.DEVNULL) -> tuple[float, float, str]:
    """The fastest of ``repeats`` runs (the least disturbed by other work), with its peak memory."""
    return min((run(cmd, stdout) for _ in range(repeats)), key=lambda r: r[0])


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"machine: {os.cpu_count()} cores, load average {one:.1f} (1 min), {five:.1f} (5 min)"


def trained(path: Path, *args) -> Path:
    if not path.is_file():
        print(f"training {path.name} ...", file=sys.stderr, flush=True)
        run(ngram("train", *args, "-o", str(path), "-q"))
    return path


def wordlist_part(work: Path, wordlist: Path, repeats: int) -> None:
    if not wordlist.is_file():
        print(f"word list: skipped ({wordlist} is missing; run python scripts/build_wordlist.py)")
        return
    model = trained(work / "wordlist-6.ngram", str(wordlist), "-s", "modified-kneser-ney", "-N", "6")
    n = 1_000_000
    cold, warm = (float(x) for x in best_of(repeats, [PY, "-c", IN_PROCESS, model, n], stdout=None)[2].split())
    wall, rss, _ = best_of(repeats, ngram("sample", model, "-n", n, "-q"))
    print(f"word list, modified KN order 6, unconstrained sampling of {n:,} names:")
    print(f"  in process       {cold:>12,.0f} names/s (automaton built in the timing)  {warm:>12,.0f} names/s (built)")
    print(f"  whole process    {n / wall:>12,.0f} names/s   ngram sample -n {n} > /dev/null: {wall:.2f} s, {rss:.0f} MiB")
    try:
        import importlib.util

        has_kenlm = importlib.util.find_spec("kenlm") is not None
    except ValueError:
        has_kenlm = False
    if not has_kenlm:
        print("  evaluate vs the kenlm module: skipped (the kenlm module does not import)")
        return
    arpa = work / "wordlist-6.arpa"
    if not arpa.is_file():
        run(ngram("export", model, "--arpa", arpa))
    compact = trained(work / "wordlist-6.compact.ngram", str(wordlist), "-s", "modified-kneser-ney", "-N", "6",
                      "--compact")
    peer = best_of(repeats, [PY, "-c", KENLM_SCORE, arpa, wordlist])
    print(f"  kenlm module (ARPA load + Model.score loop): {peer[0]:.2f} s, {peer[1]:.0f} MiB")
    for label, path in (("ordinary file", model), ("compact file", compact)):
        ours = best_of(repeats, ngram("evaluate", path, wordlist, "-q"))
        print(f"  ngram evaluate, {label:<14} {ours[0]:.2f} s, {ours[1]:.0f} MiB: x kenlm module time "
              f"{ours[0] / peer[0]:.2f}, peak memory {ours[1] / peer[1]:.2f}")


def english_part(work: Path, default_model: Path | None, repeats: int) -> None:
    train = SHARED / "english-names-train.txt"
    if not train.is_file():
        print(f"English split: skipped ({train} is missing: the reference corpora live in ../shared/data)")
        return
    base = trained(work / "english-mkn6.ngram", str(train), "-s", "modified-kneser-ney", "-N", "6")
    default = default_model or trained(work / "english-default.ngram", str(train))
    verbs = [("sample -n 20", ["sample", "-n", "20", "--seed", "0", "-q"]),
             ("top -n 10", ["top", "-n", "10", "-q"]),
             ("sample -n 20 --suffix ina --max-len 8", ["sample", "-n", "20", "--seed", "0", "--suffix", "ina",
                                                        "--max-len", "8", "-q"])]
    print(f"English split ({train.name}), whole processes, best of {repeats}:")
    print(f"  {'verb':<40} {'default model':>20} {'modified KN order 6':>22} {'ratio (time, memory)':>22}")
    for label, args in verbs:
        d = best_of(repeats, ngram(args[0], default, *args[1:]))
        b = best_of(repeats, ngram(args[0], base, *args[1:]))
        print(f"  {label:<40} {d[0]:>8.2f} s {d[1]:>6.0f} MiB {b[0]:>10.2f} s {b[1]:>6.0f} MiB "
              f"{d[0] / b[0]:>10.2f}x {d[1] / b[1]:>6.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the trained models (kept; default: a temporary one)")
    parser.add_argument("--wordlist", type=Path, default=WORDLIST, help=f"the word list (default {WORDLIST})")
    parser.add_argument("--default-model", type=Path, help="an already trained default model of the English split")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure, the fastest kept (default 3)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="which parts to run (default all: a quick check of one needs only that one)")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} is absent (the reference corpora live in ../shared/data)")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        print(load_line())
        if "wordlist" in args.parts:
            wordlist_part(work, args.wordlist, args.repeats)
        if "english" in args.parts:
            english_part(work, args.default_model, args.repeats)
        print(load_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
