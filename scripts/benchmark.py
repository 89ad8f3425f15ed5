"""Speed and memory against KenLM (lmplz, the kenlm module) and NLTK, as ratios from one run.

    python scripts/build_wordlist.py          # the corpus: wamerican-insane, 490,402 words (not committed)
    python scripts/benchmark.py --quick       # a couple of minutes; skips peers it cannot find, saying why
    python scripts/benchmark.py --markdown docs/benchmark.md     # the full run behind the committed table

Every figure is a fresh child process (interpreter start-up included), timed on the wall clock,
with its peak resident memory taken from ``os.wait4`` (the kernel's ru_maxrss for that child).
Each is repeated (``--repeats``) and shown as the median with [min-max]; ratios are ours / peer
on medians, so for time and memory below 1 is better, and for throughput above 1 is better.

Peers: ``lmplz`` and ``query`` from ``--lmplz``/``--query`` or $LMPLZ/$KENLM_QUERY or the PATH
(run as ``lmplz -o N -S 1G --discount_fallback``), the ``kenlm`` module and ``nltk`` when this
Python imports them. Besides timing, the run checks that our modified Kneser-Ney model is
lmplz's: the whole-file NLL of both (``query``) within 1e-6 nats/symbol, and the same n-gram set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / ".bench" / "wordlist.txt"
FALLBACK_CORPUS = ROOT / "data" / "italian-first-names.txt"
PY = sys.executable
LN10 = math.log(10.0)


# ----- running and measuring one child process ---------------------------------------------

@dataclass
class Run:
    wall: float  # seconds
    rss_mb: float  # peak resident set of the child, MiB
    out: str


class ChildFailed(RuntimeError):
    pass


# Linux keeps a process's peak RSS across exec, and a forked child starts with its parent's pages,
# so a child forked from this (large) process would report at least our own RSS. Every measured
# child is therefore started by a small helper process, started first, that forks, execs and
# reports ``wait4``'s figures for that child alone.
SPAWNER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["err"], "wb") as err, open(job["out"], "wb") as out:
        fin = open(job["stdin"], "rb") if job["stdin"] else subprocess.DEVNULL
        started = time.perf_counter()
        child = subprocess.Popen(job["cmd"], stdin=fin, stdout=out, stderr=err, env=job["env"])
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        if job["stdin"]:
            fin.close()
    print(json.dumps([wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]), flush=True)
"""


class Spawner:
    def __init__(self):
        self.process = subprocess.Popen([PY, "-c", SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, cmd, stdin, stdout, env) -> tuple[float, int, int, str, str]:
        with tempfile.TemporaryDirectory() as folder:
            out = stdout or Path(folder) / "out"
            err = Path(folder) / "err"
            job = {"cmd": [str(c) for c in cmd], "stdin": str(stdin) if stdin else None, "out": str(out),
                   "err": str(err), "env": env or dict(os.environ)}
            self.process.stdin.write(json.dumps(job) + "\n")
            self.process.stdin.flush()
            wall, maxrss_kb, code = json.loads(self.process.stdout.readline())
            text = "" if stdout else Path(out).read_text(errors="replace")
            return wall, maxrss_kb, code, text, err.read_text(errors="replace")


_SPAWNER: Spawner | None = None


def run(cmd: list, stdin: Path | None = None, stdout: Path | None = None, env: dict | None = None) -> Run:
    """Run one fresh child; wall time and that child's own peak RSS."""
    global _SPAWNER
    if _SPAWNER is None:
        _SPAWNER = Spawner()
    wall, maxrss_kb, code, out, err = _SPAWNER.run(cmd, stdin, stdout, env)
    if code != 0:
        message = err.strip().splitlines()
        raise ChildFailed(f"{' '.join(map(str, cmd[:4]))} ... exited {code}: {message[-1] if message else ''}")
    return Run(wall, maxrss_kb / 1024.0, out)


@dataclass
class Stat:
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, fmt: str) -> str:
        if not self.values:
            return "-"
        if len(self.values) == 1:
            return format(self.values[0], fmt)
        return f"{format(self.median, fmt)} [{format(min(self.values), fmt)}-{format(max(self.values), fmt)}]"


def repeat(times: int, make) -> tuple[Stat, Stat, list[Run]]:
    """Wall time and peak RSS over ``times`` fresh children made by ``make()``."""
    walls, rss, runs = Stat(), Stat(), []
    for _ in range(times):
        r = make()
        walls.values.append(r.wall)
        rss.values.append(r.rss_mb)
        runs.append(r)
    return walls, rss, runs


def paired(times: int, ours, peer) -> tuple[tuple[Stat, Stat, list[Run]], tuple[Stat, Stat, list[Run]] | None]:
    """Like ``repeat`` for ours and the peer, alternating, so both see the same machine load."""
    a, b = (Stat(), Stat(), []), (Stat(), Stat(), [])
    for _ in range(times):
        for make, (walls, rss, runs) in ((ours, a), (peer, b)):
            if make is None:
                continue
            r = make()
            walls.values.append(r.wall)
            rss.values.append(r.rss_mb)
            runs.append(r)
    return a, (b if peer is not None else None)


# ----- the table -----------------------------------------------------------------------------

@dataclass
class Row:
    what: str
    unit: str
    ours: Stat
    peer_name: str = ""
    peer: Stat | None = None
    higher_is_better: bool = False
    target: float | None = None  # on the ratio ours / peer, or on ours alone when ``absolute``
    absolute: bool = False
    fmt: str = ".3f"

    def ratio(self) -> float | None:
        if self.peer is None or not self.peer.values or not self.ours.values:
            return None
        return self.ours.median / self.peer.median

    def verdict(self) -> str:
        if self.target is None:
            return ""
        value = (self.ours.median if self.ours.values else None) if self.absolute else self.ratio()
        if value is None:
            return "peer not measured" if not self.absolute else "not measured"
        ok = value >= self.target if self.higher_is_better else value <= self.target
        sign = ">=" if self.higher_is_better else "<="
        what = "ours" if self.absolute else "ratio"
        return f"{'met' if ok else 'MISSED'} ({what} {sign} {self.target:g})"

    def cells(self) -> list[str]:
        ratio = self.ratio()
        return [self.what, self.unit, self.ours.show(self.fmt), self.peer_name or "-",
                self.peer.show(self.fmt) if self.peer is not None else "-",
                f"{ratio:.2f}" if ratio is not None else "-", self.verdict()]


HEADER = ["measure", "unit", "ours: median [min-max]", "peer", "peer: median [min-max]", "ratio ours/peer", "target"]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    table = [HEADER] + [r.cells() for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table)


# ----- peers -------------------------------------------------------------------------------

def find_tool(flag: str | None, env: str, name: str) -> tuple[str | None, str]:
    for candidate, how in ((flag, "flag"), (os.environ.get(env), f"${env}"), (shutil.which(name), "PATH")):
        if candidate:
            if Path(candidate).is_file() and os.access(candidate, os.X_OK):
                return candidate, f"{candidate} (from {how})"
            return None, f"{name}: {candidate} (from {how}) is not an executable file"
    return None, f"{name}: not found (pass --{name}, set ${env}, or put it on the PATH)"


def module_available(name: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({name!r}) else 1)"
    return subprocess.run([PY, "-c", code]).returncode == 0


def kenlm_text(names: list[str]) -> str:
    """lmplz reads words separated by spaces: one character per word, a space spelled <sp>."""
    return "".join(" ".join("<sp>" if c == " " else c for c in name) + "\n" for name in names)


KENLM_SCORE = r"""
import sys, time
started = time.perf_counter()
import kenlm
model = kenlm.Model(sys.argv[1])
loaded = time.perf_counter()
total = 0.0
with open(sys.argv[2], encoding="utf-8") as handle:
    for line in handle:
        total += model.score(line.rstrip("\n"), bos=True, eos=True)
print(total, loaded - started, time.perf_counter() - loaded)
"""

KENLM_LOAD = r"""
import sys, time
import kenlm
started = time.perf_counter()
kenlm.Model(sys.argv[1])
print(time.perf_counter() - started)
"""

OURS_LOAD = r"""
import sys, time
from ngram.formats.native import load
started = time.perf_counter()
load(sys.argv[1])
print(time.perf_counter() - started)
"""

OURS_SAMPLE_RATE = r"""
import sys, time
from ngram.formats.native import load
from ngram.generation.sampling import Sampler
model = load(sys.argv[1])
started = time.perf_counter()
sampler = Sampler(model)  # the automaton is built by the first draw and kept for the second
names = sampler.generate(int(sys.argv[2]), seed=0).names
first = time.perf_counter() - started
started = time.perf_counter()
names = sampler.generate(int(sys.argv[2]), seed=1).names
print(len(names) / first, len(names) / (time.perf_counter() - started))
"""

NLTK_TRAIN = r"""
import sys, time
started = time.perf_counter()
from nltk.lm import KneserNeyInterpolated
from nltk.lm.preprocessing import padded_everygram_pipeline
order = int(sys.argv[2])
names = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
train, vocab = padded_everygram_pipeline(order, [list(n) for n in names])
model = KneserNeyInterpolated(order)
model.fit(train, vocab)
fitted = time.perf_counter()
scored = names[: int(sys.argv[3])]
symbols = 0
for name in scored:
    padded = ["<s>"] * (order - 1) + list(name) + ["</s>"]
    for i in range(order - 1, len(padded)):
        model.logscore(padded[i], padded[i - order + 1 : i])
        symbols += 1
print(fitted - started, symbols / (time.perf_counter() - fitted))
"""


# ----- checks: our modified KN against lmplz -------------------------------------------------

def arpa_ngrams(path: Path) -> list[set[str]]:
    """The n-gram set of an ARPA file per order, without <unk> (lmplz always writes one)."""
    sets: list[set[str]] = []
    current = None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("\\") and line.endswith("-grams:"):
                current = set()
                sets.append(current)
            elif line.startswith("\\end\\"):
                current = None
            elif current is not None and line:
                gram = line.split("\t")[1]
                if gram != "<unk>":
                    current.add(gram)
    return sets


def query_nll(query: str, arpa: Path, kenlm_corpus: Path, symbols: int) -> float:
    """Whole-file NLL in nats/symbol from KenLM's own ``query``: its per-name log10 totals, over
    the same scored symbols (characters and one end per name; ``<s>`` is context only)."""
    r = run([query, "-v", "sentence", arpa], stdin=kenlm_corpus)
    total = sum(float(line.split()[1]) for line in r.out.splitlines() if line.startswith("Total:"))
    return -total * LN10 / symbols


# ----- the benchmark -------------------------------------------------------------------------

def machine() -> str:
    model, cores = platform.processor() or "?", os.cpu_count()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ram = "?"
    try:
        with open("/proc/meminfo") as handle:
            ram = f"{int(handle.readline().split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    import numpy

    return (f"{model}, {cores} cores, {ram} RAM; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, numpy {numpy.__version__}")


def load_average() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Speed and memory of ngram against KenLM and NLTK.")
    parser.add_argument("--corpus", type=Path, default=None, help="one name per line (default .bench/wordlist.txt from scripts/build_wordlist.py)")
    parser.add_argument("--quick", action="store_true", help="orders 3 and 6, one repeat, no scaling curve (a couple of minutes)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per figure (default 3, --quick 1)")
    parser.add_argument("--orders", default=None, help="training orders, comma-separated (default 2..10, --quick 3,6)")
    parser.add_argument("--score-orders", default=None, help="orders for scoring, sampling, load (default 6,8, --quick 6)")
    parser.add_argument("--samples", type=int, default=100_000, help="names to sample (default 100,000)")
    parser.add_argument("--nltk-names", type=int, default=None, help="NLTK training sample in names (default 100,000, --quick 10,000)")
    parser.add_argument("--lmplz", default=None, help="KenLM lmplz binary (or $LMPLZ, or the PATH)")
    parser.add_argument("--query", default=None, help="KenLM query binary (or $KENLM_QUERY, or the PATH)")
    parser.add_argument("--no-kenlm", action="store_true", help="skip every KenLM peer")
    parser.add_argument("--no-nltk", action="store_true", help="skip NLTK")
    parser.add_argument("--check-orders", default="3,6,8,10", help="orders whose model is checked against lmplz's (default 3,6,8,10)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table and notes here as Markdown")
    parser.add_argument("--workdir", type=Path, default=None, help="keep models here (default: a temporary folder)")
    args = parser.parse_args(argv)

    repeats = args.repeats or (1 if args.quick else 3)
    orders = [int(x) for x in (args.orders or ("3,6" if args.quick else "2,3,4,5,6,7,8,9,10")).split(",")]
    check_orders = [int(x) for x in args.check_orders.split(",")]
    nltk_names = args.nltk_names or (10_000 if args.quick else 100_000)
    score_orders = [int(x) for x in (args.score_orders or ("6" if args.quick else "6,8")).split(",")]
    notes: list[str] = []

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        notes.append(message)

    corpus = args.corpus or DEFAULT_CORPUS
    if not corpus.is_file():
        if args.corpus is None and args.quick and FALLBACK_CORPUS.is_file():
            say(f"corpus {DEFAULT_CORPUS} is missing (build it: apt-get install -y wamerican-insane && python scripts/build_wordlist.py); "
                f"--quick falls back to the shipped {FALLBACK_CORPUS.relative_to(ROOT)}")
            corpus = FALLBACK_CORPUS
        else:
            print(f"error: corpus {corpus} is missing; build it with: apt-get install -y wamerican-insane && python scripts/build_wordlist.py",
                  file=sys.stderr)
            return 1
    run([PY, "-c", "pass"])  # starts the helper that spawns every measured child while we are small
    # Our children import ngram from this checkout; compile its bytecode first, as installing a
    # package does (PYTHONDONTWRITEBYTECODE, set on some machines, would otherwise make every
    # child compile every module again).
    run([PY, "-m", "compileall", "-q", str(ROOT / "ngram")])
    names = corpus.read_text(encoding="utf-8").split("\n")
    names = [n for n in names if n.strip()]
    chars = sum(map(len, names))
    symbols = chars + len(names)

    lmplz, why = (None, "KenLM skipped (--no-kenlm)") if args.no_kenlm else find_tool(args.lmplz, "LMPLZ", "lmplz")
    if lmplz is None:
        say(f"skipping lmplz: {why}")
    query, why_q = (None, "") if args.no_kenlm else find_tool(args.query, "KENLM_QUERY", "query")
    if query is None and not args.no_kenlm:
        say(f"skipping the NLL check against query: {why_q}")
    has_kenlm = not args.no_kenlm and module_available("kenlm")
    if not has_kenlm and not args.no_kenlm:
        say("skipping the kenlm module: it does not import in this Python (MAX_ORDER=10 pip install kenlm)")
    has_nltk = not args.no_nltk and module_available("nltk")
    if not has_nltk and not args.no_nltk:
        say("skipping NLTK: it does not import in this Python (pip install nltk)")

    work = Path(tempfile.mkdtemp(prefix="ngram-bench-")) if args.workdir is None else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    kenlm_corpus = work / "corpus.kenlm.txt"
    kenlm_corpus.write_text(kenlm_text(names), encoding="utf-8")

    rows: list[Row] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    ngram = [PY, "-m", "ngram"]

    def train_ours(path: Path, order: int, model: Path) -> Run:
        # --unk: lmplz's vocabulary always has <unk>, and its unigram level interpolates with a
        # uniform share over it, so this is the same model (see the README's smoothing section).
        # Both tools write a new file: deleting the previous one (which replacing it would cost
        # us, and which the shell's truncation does for lmplz before its clock starts) is not timed.
        model.unlink(missing_ok=True)
        return run(ngram + ["train", str(path), "-s", "modified-kneser-ney", "-N", str(order), "--unk", "-o", str(model), "--quiet"], env=env)

    def train_lmplz(path: Path, order: int, arpa: Path) -> Run:
        arpa.unlink(missing_ok=True)
        return run([lmplz, "-o", str(order), "-S", "1G", "--discount_fallback", "-T", str(work)], stdin=path, stdout=arpa)

    load_before = load_average()
    print(f"corpus {corpus}: {len(names):,} names, {chars:,} characters, {symbols:,} scored symbols; "
          f"{repeats} repeat(s) per figure", file=sys.stderr, flush=True)

    # Training: orders, time and peak memory; the model files are kept for the later stages.
    train_time_target = {6: 0.5, 8: 0.5, 10: 0.5}
    train_mem_target = {6: 1.0, 7: 1.5, 8: 1.5, 9: 1.5, 10: 1.5}
    for order in orders:
        model, arpa = work / f"o{order}.ngram", work / f"o{order}.arpa"
        (ours_t, ours_m, _), peer = paired(repeats, lambda: train_ours(corpus, order, model),
                                           (lambda: train_lmplz(kenlm_corpus, order, arpa)) if lmplz else None)
        peer_t, peer_m = (peer[0], peer[1]) if peer else (None, None)
        rows.append(Row(f"train modified KN, order {order}", "s", ours_t, "lmplz -S 1G" if lmplz else "", peer_t,
                        target=train_time_target.get(order)))
        rows.append(Row(f"train modified KN, order {order}, peak memory", "MiB", ours_m, "lmplz -S 1G" if lmplz else "", peer_m,
                        target=train_mem_target.get(order), fmt=".0f"))
        print(text_table(rows[-2:]), file=sys.stderr, flush=True)

    # Does our model equal lmplz's? Same n-grams, same whole-file NLL.
    for order in [o for o in orders if o in check_orders]:
        model, arpa = work / f"o{order}.ngram", work / f"o{order}.arpa"
        if not (lmplz and arpa.is_file()):
            continue
        ours_arpa = work / f"o{order}.ours.arpa"
        run(ngram + ["export", str(model), "--arpa", str(ours_arpa)], env=env)
        ours_sets, peer_sets = arpa_ngrams(ours_arpa), arpa_ngrams(arpa)
        same = ours_sets == peer_sets
        detail = "" if same else " (" + ", ".join(
            f"order {n + 1}: {len(a - b)} only ours, {len(b - a)} only lmplz" for n, (a, b) in enumerate(zip(ours_sets, peer_sets)) if a != b) + ")"
        evaluated = json.loads(run(ngram + ["evaluate", str(model), str(corpus), "--json"], env=env).out)
        line = f"order {order}: n-gram set {'identical to' if same else 'DIFFERS from'} lmplz's ARPA{detail}; our NLL on {corpus.name} {evaluated['nll_nats_per_symbol']:.9f} nats/symbol"
        if query:
            reference = query_nll(query, arpa, kenlm_corpus, symbols)
            gap = abs(evaluated["nll_nats_per_symbol"] - reference)
            line += f", query {reference:.9f}: difference {gap:.2e} ({'within' if gap <= 1e-6 else 'OUTSIDE'} 1e-6)"
        say(line)
        os.unlink(ours_arpa)

    # Scaling with corpus size at order 6: every k-th name.
    if not args.quick and 6 in orders:
        for fraction in (8, 4, 2):
            part = work / f"part{fraction}.txt"
            part_names = names[::fraction]
            part.write_text("".join(n + "\n" for n in part_names), encoding="utf-8")
            part_kenlm = work / f"part{fraction}.kenlm.txt"
            part_kenlm.write_text(kenlm_text(part_names), encoding="utf-8")
            (ours_t, _, _), peer = paired(repeats, lambda: train_ours(part, 6, work / "part.ngram"),
                                          (lambda: train_lmplz(part_kenlm, 6, work / "part.arpa")) if lmplz else None)
            peer_t = peer[0] if peer else None
            rows.append(Row(f"train order 6 on 1/{fraction} of the corpus ({len(part_names):,} names)", "s", ours_t,
                            "lmplz -S 1G" if lmplz else "", peer_t))
            print(text_table(rows[-1:]), file=sys.stderr, flush=True)

    # Scoring the whole corpus end to end from a model file; sampling; file size and load time.
    for order in score_orders:
        model, arpa = work / f"o{order}.ngram", work / f"o{order}.arpa"
        if not model.is_file():
            train_ours(corpus, order, model)
        if lmplz and not arpa.is_file():
            train_lmplz(kenlm_corpus, order, arpa)
        score_cmd = ngram + ["evaluate", str(model), str(corpus), "--json"]
        kenlm_score = (lambda: run([PY, "-c", KENLM_SCORE, str(arpa), str(kenlm_corpus)])) if has_kenlm and arpa.is_file() else None
        (ours_t, ours_m, _), peer = paired(repeats, lambda: run(score_cmd, env=env), kenlm_score)
        throughput = Stat([symbols / t for t in ours_t.values])
        peer_tp = Stat([symbols / t for t in peer[0].values]) if peer else None
        peer_m = peer[1] if peer else None
        target = {6: 2.0, 8: 1.0}.get(order)
        rows.append(Row(f"score the whole corpus end to end, order {order} (load included)", "symbols/s", throughput,
                        "kenlm module, Model.score loop, ARPA" if peer_tp else "", peer_tp, higher_is_better=True, target=target, fmt=",.0f"))
        rows.append(Row(f"score, order {order}, peak memory", "MiB", ours_m, "kenlm module" if peer_m else "", peer_m, fmt=".0f"))
        if order == 8:
            rows.append(Row("score, order 8, peak memory (target: at most 1 GiB)", "MiB", ours_m, target=1024, absolute=True, fmt=".0f"))

        rates = [run([PY, "-c", OURS_SAMPLE_RATE, str(model), str(args.samples)], env=env).out.split() for _ in range(repeats)]
        rows.append(Row(f"sample {args.samples:,} names, order {order} (in process, after load; automaton included)", "names/s",
                        Stat([float(r[0]) for r in rates]),
                        target={6: 200_000, 8: 100_000}.get(order), higher_is_better=True, absolute=True, fmt=",.0f"))
        rows.append(Row(f"sample {args.samples:,} more names, order {order} (automaton already built)", "names/s",
                        Stat([float(r[1]) for r in rates]), higher_is_better=True, fmt=",.0f"))
        sample_t, sample_m, _ = repeat(repeats, lambda: run(ngram + ["sample", str(model), "-n", str(args.samples), "--seed", "0", "--quiet"], env=env))
        rows.append(Row(f"ngram sample -n {args.samples:,}, order {order}, end to end", "s", sample_t))
        rows.append(Row(f"ngram sample, order {order}, peak memory", "MiB", sample_m, fmt=".0f"))

        size = Stat([model.stat().st_size / 2**20])
        peer_size = Stat([arpa.stat().st_size / 2**20]) if arpa.is_file() else None
        rows.append(Row(f"model file size, order {order}", "MiB", size, "lmplz ARPA" if peer_size else "", peer_size, fmt=".1f"))
        load = Stat([float(run([PY, "-c", OURS_LOAD, str(model)], env=env).out) for _ in range(repeats)])
        peer_load = Stat([float(run([PY, "-c", KENLM_LOAD, str(arpa)]).out) for _ in range(repeats)]) if has_kenlm and arpa.is_file() else None
        rows.append(Row(f"load the model file, order {order} (in process)", "s", load, "kenlm.Model(ARPA)" if peer_load else "", peer_load))
        print(text_table(rows[-9:]), file=sys.stderr, flush=True)

    # NLTK: order 3 on a sample of the corpus (it is slow); both train on the same sample.
    if has_nltk:
        sample_names = names[:: max(1, len(names) // nltk_names)][:nltk_names]
        part = work / "nltk-sample.txt"
        part.write_text("".join(n + "\n" for n in sample_names), encoding="utf-8")
        scored = min(300 if args.quick else 1000, len(sample_names))
        ours_t, ours_m, _ = repeat(repeats, lambda: train_ours(part, 3, work / "nltk-ours.ngram"))
        nltk_runs = repeat(repeats, lambda: run([PY, "-c", NLTK_TRAIN, str(part), "3", str(scored)]))
        peer_t = Stat([float(r.out.split()[0]) for r in nltk_runs[2]])
        label = f"{len(sample_names):,} names"
        rows.append(Row(f"train order 3 on {label} (NLTK: KneserNeyInterpolated, fit timed in process)", "s", ours_t, "nltk.lm", peer_t))
        rows.append(Row(f"train order 3 on {label}, peak memory", "MiB", ours_m, "nltk.lm", nltk_runs[1], fmt=".0f"))
        part_symbols = sum(map(len, sample_names)) + len(sample_names)
        score_t, _, _ = repeat(repeats, lambda: run(ngram + ["evaluate", str(work / "nltk-ours.ngram"), str(part), "--json"], env=env))
        nltk_tp = Stat([float(r.out.split()[1]) for r in nltk_runs[2]])
        rows.append(Row(f"score order 3 (ours: {label} end to end; NLTK: logscore loop over {scored:,} names)", "symbols/s",
                        Stat([part_symbols / t for t in score_t.values]), "nltk.lm", nltk_tp, higher_is_better=True, fmt=",.0f"))
        print(text_table(rows[-3:]), file=sys.stderr, flush=True)

    print(text_table(rows))
    for note in notes:
        print("note: " + note)
    if args.markdown:
        text = [f"Machine: {machine()}. Load average (1, 5, 15 min) at the start {load_before}, at the end {load_average()}"
                " (other jobs shared the machine when it is above 0).", "",
                f"Corpus: `{corpus.name}`, {len(names):,} names, {chars:,} characters ({symbols:,} scored symbols: characters + one end per name).",
                f"{repeats} fresh process(es) per figure; median [min-max]; ratio = ours / peer on medians.", "",
                markdown_table(rows), ""]
        text += [f"- {note}" for note in notes]
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(text) + "\n", encoding="utf-8")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    try:
        sys.exit(_script.run(main))
    except ChildFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
