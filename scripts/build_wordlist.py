"""Build the benchmark corpus from Debian's wamerican-insane word list (not committed).

    apt-get install -y wamerican-insane      # as root; provides /usr/share/dict/american-english-insane
    python scripts/build_wordlist.py         # -> .bench/wordlist.txt (git-ignored)

Every line lowercased, kept if it matches ^[a-z]+$, sorted and deduplicated (byte order):
490,402 words, 4,580,873 characters. ``--kenlm`` also writes the same words with the letters
separated by spaces, which is how lmplz and the kenlm module read a character corpus.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

SOURCE = Path("/usr/share/dict/american-english-insane")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / ".bench" / "wordlist.txt"
EXPECTED_WORDS, EXPECTED_CHARS = 490_402, 4_580_873
INSTALL = "apt-get install -y wamerican-insane"


def words_from(source: Path) -> list[str]:
    keep = re.compile(r"[a-z]+")
    # The list is UTF-8 with a few accented entries; those fail the pattern after lowercasing anyway.
    # Lowercasing ASCII only matches `tr A-Z a-z`: str.lower() would turn the Kelvin sign into 'k'.
    table = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    lines = source.read_text(encoding="utf-8", errors="replace").translate(table).split("\n")
    return sorted({w for w in lines if keep.fullmatch(w)})


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.replace(tmp, path)


def kenlm_path(path: Path) -> Path:
    return path.with_name(path.stem + ".kenlm" + path.suffix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help=f"word list (default {SOURCE})")
    parser.add_argument("--output", "-o", type=Path, default=DEFAULT_OUTPUT, help="where to write (default .bench/wordlist.txt)")
    parser.add_argument("--kenlm", action="store_true", help="also write OUTPUT with .kenlm before the suffix: letters separated by spaces")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: {args.source} is missing; install it with: {INSTALL}", file=sys.stderr)
        return 1
    words = words_from(args.source)
    chars = sum(map(len, words))
    write_atomic(args.output, "".join(w + "\n" for w in words))
    if args.kenlm:
        write_atomic(kenlm_path(args.output), "".join(" ".join(w) + "\n" for w in words))
    note = "as expected" if (len(words), chars) == (EXPECTED_WORDS, EXPECTED_CHARS) else \
        f"expected {EXPECTED_WORDS:,} words and {EXPECTED_CHARS:,} characters; another version of the package?"
    print(f"wrote {args.output}: {len(words):,} words, {chars:,} characters ({note})")
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
