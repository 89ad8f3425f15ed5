"""Generation speed: 100,000 names with a suffix and --max-len 8 (exact constrained sampling)
against 100,000 unconstrained names, and the 100 most probable names, from an order-6 modified
Kneser-Ney model of the English names. Prints both times, their ratio and the top-100 time.

    python scripts/generation_benchmark.py [--train ../shared/data/english-names-train.txt] [--suffix ina]

Each timing starts from a freshly loaded model, so building the automaton and the constraint's
backward tables is counted (the best of --repeat runs)."""

from __future__ import annotations

import argparse
import copy
import time
import sys
from pathlib import Path

from ngram import make_estimator, read_names, train
from ngram.generation.sampling import generate, top

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "english-names-train.txt"


def best_time(fn, repeat: int) -> tuple[float, object]:
    """The best of ``repeat`` runs, in CPU seconds of this process (on a shared machine the wall
    clock measures the other users too; the wall time of the same run is printed beside it)."""
    best, result = (float("inf"), 0.0), None
    for _ in range(repeat):
        t, w = time.process_time(), time.perf_counter()
        result = fn()
        best = min(best, (time.process_time() - t, time.perf_counter() - w))
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=DEFAULT_TRAIN)
    parser.add_argument("--suffix", default="ina")
    parser.add_argument("--max-len", type=int, default=8)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = train(read_names(args.train).names, 6, make_estimator("modified-kneser-ney"))

    def fresh():  # no automaton cached from an earlier run
        m = copy.copy(model)
        m.__dict__.pop("_context_automaton", None)
        return m

    plain, names = best_time(lambda: generate(fresh(), args.n, seed=0).names, args.repeat)
    assert len(names) == args.n
    constrained, result = best_time(lambda: generate(fresh(), args.n, seed=0, suffix=args.suffix,
                                                      max_len=args.max_len), args.repeat)
    assert len(result.names) == args.n and all(x.endswith(args.suffix) for x in result.names)
    top_time, best = best_time(lambda: top(fresh(), 100), args.repeat)
    print(f"model: order 6 modified-kneser-ney, {args.train.name}, V = {model.V}")
    print(f"{args.n:,} unconstrained names: {plain[0]:.3f} s CPU ({plain[1]:.3f} s wall; "
          f"{args.n / plain[0]:,.0f} names/s)")
    print(f"{args.n:,} names ending in -{args.suffix}, at most {args.max_len} characters: {constrained[0]:.3f} s CPU "
          f"({constrained[1]:.3f} s wall; constraint mass {result.mass:.4%})")
    print(f"ratio constrained / unconstrained: {constrained[0] / plain[0]:.2f} (target <= 5)")
    print(f"top 100 names: {top_time[0]:.3f} s CPU ({top_time[1]:.3f} s wall; target < 1 s); first: "
          + ", ".join(f"{x} {p:.2e}" for x, p in ((x, __import__('math').exp(lp)) for x, lp in best[:5])))


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
