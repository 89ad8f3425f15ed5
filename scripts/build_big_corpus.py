"""Generate a large name-like corpus for the streaming and Dask engines (not committed).

    apt-get install -y wamerican-insane            # /usr/share/dict/american-english-insane
    python scripts/build_big_corpus.py --megabytes 1000            # -> .bench/big-1000M.txt (git-ignored)
    python scripts/build_big_corpus.py --megabytes 200 --gzip      # -> .bench/big-200M.txt.gz

The Debian word list (about 650,000 entries, mixed case, some accented letters and apostrophes)
is written over and over, each pass shuffled and varied in one of eight ways (as is, lowercased,
uppercased, suffixed -s / -ing / -ed, prefixed re-, two words joined by a space), until the file
has the size asked for. The distinct names, and so the final counts, stay bounded (a few million)
while the corpus grows, which is the case the streaming engine is for: a corpus far larger than
memory whose counts still fit.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

SOURCE = Path("/usr/share/dict/american-english-insane")
BENCH = Path(__file__).resolve().parent.parent / ".bench"


def variations(words: list[str], rng: np.random.Generator):
    """Endless passes over the words, each shuffled and varied one way."""
    k = 0
    while True:
        order = rng.permutation(len(words))
        shuffled = [words[i] for i in order]
        kind = k % 8
        if kind == 0:
            yield shuffled
        elif kind == 1:
            yield [w.lower() for w in shuffled]
        elif kind == 2:
            yield [w.upper() for w in shuffled]
        elif kind in (3, 4, 5):
            suffix = ("s", "ing", "ed")[kind - 3]
            yield [w + suffix for w in shuffled]
        elif kind == 6:
            yield ["re" + w for w in shuffled]
        else:
            yield [a + " " + b for a, b in zip(shuffled[::2], shuffled[1::2])]
        k += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=1000, help="size of the corpus (10^6 bytes, uncompressed)")
    parser.add_argument("--output", type=Path, help="default: .bench/big-<size>M.txt")
    parser.add_argument("--gzip", action="store_true", help="write it gzip-compressed (.txt.gz)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not SOURCE.is_file():
        print(f"error: {SOURCE} is missing; install it with: apt-get install -y wamerican-insane", file=sys.stderr)
        return 1
    words = [w for w in SOURCE.read_text(encoding="utf-8").split("\n") if w.strip()]
    target = int(args.megabytes * 1e6)
    output = args.output or BENCH / f"big-{args.megabytes:g}M.txt{'.gz' if args.gzip else ''}"
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    written = names = 0
    with os.fdopen(fd, "wb") as raw:
        handle = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3) if args.gzip else raw
        for batch in variations(words, np.random.default_rng(args.seed)):
            data = ("\n".join(batch) + "\n").encode("utf-8")
            if written + len(data) > target:  # the last pass, cut at a line end
                data = data[: data.rfind(b"\n", 0, target - written) + 1]
            handle.write(data)
            written += len(data)
            names += data.count(b"\n")
            if written >= target or not data:
                break
        if args.gzip:
            handle.close()
    os.replace(tmp, output)
    print(f"wrote {output}: {names:,} names, {written:,} bytes uncompressed, from {len(words):,} words of {SOURCE}")
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
