"""Time and peak memory of the hostile and extreme inputs of issues 15 and 25 (the timing half the
tests leave out).

    python scripts/hardening_bench.py [--quick]

Each case runs ``python -m ngram`` under a wrapper that reports the child's peak resident memory
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``); prints one table row per case: exit status, seconds,
peak MB, and the first line of stderr. ``--quick`` uses a 10 MB line instead of 50 MB and leaves
out the cases on the default (whole-name mixture) model, which take a minute together.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WRAPPER = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    started = time.perf_counter()
    done = subprocess.run(sys.argv[1:], capture_output=True)
    print(json.dumps({"rc": done.returncode, "seconds": time.perf_counter() - started,
                      "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                      "stderr": done.stderr.decode("utf-8", "replace")}))
    """
)


def run(args: list[str], cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, "-m", "ngram", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def contains(k: int) -> list[str]:
    return [arg for letter in "abcdefghilmnoprstuvz"[:k] for arg in ("--contains", letter)]


def main() -> None:
    quick = "--quick" in sys.argv
    line_mb = 10 if quick else 50
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rng = np.random.default_rng(0)
        letters = np.frombuffer(b"abcdefghij", np.uint8)
        (work / "line.txt").write_bytes(letters[rng.integers(0, 10, line_mb << 20)].tobytes() + b"\n")
        (work / "name10.txt").write_bytes(letters[rng.integers(0, 10, 10 << 20)].tobytes() + b"\n")
        member = gzip.compress(b"a" * (1 << 20), compresslevel=9)
        (work / "bomb.txt.gz").write_bytes(member * 400)
        chars = [chr(0x20000 + i) for i in range(200_000)]
        names = [chars[i] + chars[i + 1] + chars[(7 * i) % 200_000] for i in range(0, 200_000, 2)]
        (work / "cjk.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        (work / "w.txt").write_text("anna\t1e308\nbob\t1e308\n")
        long = ["--max-name-length", "100000000"]
        cases = [
            ("train /dev/zero", ["train", "/dev/zero", "-o", "z.ngram"]),
            ("evaluate MODEL /dev/zero", ["evaluate", "name10.ngram", "/dev/zero"]),
            ("info /dev/zero", ["info", "/dev/zero"]),
            ("import /dev/zero", ["import", "/dev/zero", "-o", "z.ngram"]),
            ("train 0.4 MB gzip of one 400 MB line", ["train", "bomb.txt.gz", "-o", "z.ngram"]),
            ("train --weighted counts 1e308", ["train", "--weighted", "w.txt", "-o", "z.ngram"]),
            (f"train one {line_mb} MB line (order 4, with training NLL)", ["train", "line.txt", *long, "-o", "line.ngram"]),
            (f"evaluate one {line_mb} MB line", ["evaluate", "line.ngram", "line.txt", *long]),
            ("evaluate one 10 MB name", ["evaluate", "name10.ngram", "name10.txt", *long]),
            ("train V = 200,001 (order 3)", ["train", "cjk.txt", "-N", "3", "-o", "cjk.ngram", "-q"]),
            ("evaluate V = 200,001 on its 100,000 names", ["evaluate", "cjk.ngram", "cjk.txt"]),
            ("info V = 200,001", ["info", "cjk.ngram"]),
            # issue 25: many one-letter --contains (2^k constraint states), one long line under --memory
            ("sample, 20 one-letter --contains, --max-len 20", ["sample", "it4.ngram", *contains(20), "--max-len", "20"]),
            ("sample, 14 one-letter --contains, order 4, --max-len 16",
             ["sample", "it4.ngram", *contains(14), "--max-len", "16"]),
            (f"train one {line_mb} MB line of 10 letters, --memory 1G (order 4)",
             ["train", "line.txt", *long, "-N", "4", "--memory", "1G", "-o", "z.ngram", "-q"]),
            (f"train one {line_mb} MB line, --memory 16M", ["train", "line.txt", *long, "--memory", "16M", "-o", "z.ngram"]),
            (f"train one {line_mb} MB line, --engine dask --memory 16M",
             ["train", "line.txt", *long, "--engine", "dask", "--memory", "16M", "-o", "z.ngram"]),
        ]
        if not quick:
            cases += [("sample, 14 one-letter --contains, default Italian model", ["sample", "it.ngram", *contains(14)]),
                      ("top, 14 one-letter --contains, default Italian model", ["top", "it.ngram", *contains(14)])]
            run(["train", str(REPO / "data" / "italian-first-names.txt"), "-o", "it.ngram", "-q"], work)
        run(["train", str(REPO / "data" / "italian-first-names.txt"), "-N", "4", "-o", "it4.ngram", "-q"], work)
        run(["train", "name10.txt", *long, "-o", "name10.ngram", "-q"], work)
        print(f"| case | exit | seconds | peak MB | stderr |\n|---|---|---|---|---|")
        for title, args in cases:
            result = run(args, work)
            first = (result["stderr"].splitlines() or [""])[0]
            print(f"| {title} | {result['rc']} | {result['seconds']:.1f} | {result['peak_mb']:.0f} | {first} |", flush=True)


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
