"""How long ``ngram tune`` takes with all defaults: wall and CPU seconds, per stage.

    python scripts/tune_time.py                 # the English split: train + val (31,032 names)
    python scripts/tune_time.py --fast          # the same with --fast
    python scripts/tune_time.py TRAIN [--val VAL]

The machine may be shared: CPU seconds (this process) say what tuning costs; wall seconds what a
user waits. The issue's bar: 60 s on a 2-core machine for the English defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ngram import read_names  # noqa: E402
from ngram.tuning import tune  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("train", nargs="?", default=str(SHARED / "english-names-train.txt"))
    parser.add_argument("--val", default=None)
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    val = args.val or (str(SHARED / "english-names-val.txt") if args.train.endswith("english-names-train.txt") else None)
    names = read_names(args.train).names
    val_names = read_names(val).names if val else None
    wall, cpu = time.perf_counter(), time.process_time()
    result = tune(names, val_names=val_names, fast=args.fast, source=args.train)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"tune {Path(args.train).name}{' --val ' + Path(val).name if val else ''}{' --fast' if args.fast else ''}: "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU ({os.cpu_count()} cores, load average {load:.1f})")
    for stage, seconds in result.stage_seconds.items():
        print(f"  {seconds:6.1f} s wall  {stage}")
    print(f"chosen: {result.best['kind']} {result.best['order']}, cross-fitted held-out NLL "
          f"{result.best.get('cv_nll', result.best['heldout_nll']):.4f} nats/symbol; refitted on {result.refit_names} names")


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
