"""Run the fuzz properties of tests/cli/test_fuzz.py for a number of minutes.

    python scripts/fuzz.py --minutes 3

The properties and the hypothesis strategies are the test suite's own (tests/cli/test_fuzz.py,
tests/strategies.py); this script only calls them round-robin, a batch of fresh random examples
at a time, until the time is up, and reports how many examples each ran and what failed (with
hypothesis' shrunk falsifying example). Exit code 1 when anything failed. Needs the dev extra.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="How long to run (default 1).")
    parser.add_argument("--batch", type=int, default=50, help="Examples per call of one property (default 50).")
    args = parser.parse_args()
    if not args.minutes > 0 or args.batch < 1:
        parser.error("--minutes must be positive and --batch at least 1")

    os.environ["NGRAM_FUZZ_EXAMPLES"] = str(args.batch)  # read by test_fuzz when it is imported
    sys.path.insert(0, str(TESTS))
    sys.path.insert(0, str(TESTS.parent))
    sys.path.insert(0, str(TESTS / "cli"))
    import test_fuzz as tf

    targets = [
        (f"train/score/sample/save/ARPA: {name}{' (back-off)' if backoff else ''}",
         tf.test_any_names_train_score_sample_and_round_trip, {"estimator": name, "backoff": backoff})
        for name, backoff in tf.VARIANTS
    ]
    targets += [
        ("corpus file round trip", tf.test_names_written_to_a_file_read_back_unchanged, {}),
        ("random bytes -> corpus reader", tf.test_random_bytes_into_the_corpus_reader, {}),
        ("random bytes -> ARPA reader", tf.test_random_bytes_into_the_arpa_reader, {}),
        ("random bytes -> model loader", tf.test_random_bytes_into_the_model_loader, {}),
        ("random command lines (in-process)", tf.test_random_command_lines_answer_or_give_one_error_line, {}),
    ]
    runs = {label: 0 for label, _, _ in targets}
    failures: dict[str, list[str]] = {}
    started = time.monotonic()
    deadline = started + args.minutes * 60
    while time.monotonic() < deadline:
        for label, test, kwargs in targets:
            if time.monotonic() >= deadline:
                break
            if label in failures:
                continue  # one shrunk failure per property is enough to act on
            try:
                test(**kwargs)
                runs[label] += args.batch
            except Exception:  # noqa: BLE001 - report every kind of failure and keep fuzzing the rest
                failures[label] = traceback.format_exc().splitlines()
                print(f"FAILED {label}", flush=True)
                print("\n".join(failures[label][-25:]), flush=True)
        if len(failures) == len(targets):
            break
    elapsed = time.monotonic() - started
    print(f"\nfuzzed for {elapsed / 60:.1f} min ({os.cpu_count()} CPUs); examples run per property (in batches of {args.batch}):")
    for label, _, _ in targets:
        status = "FAILED" if label in failures else "ok"
        print(f"  {runs[label]:7d}  {status:6}  {label}")
    print(f"{sum(runs.values())} examples, {len(failures)} failing properties")
    return 1 if failures else 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
