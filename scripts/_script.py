"""How every script ends when it cannot run: one line on stderr naming what it needs, exit 1.

Scripts read inputs that are not in the repository (the reference corpora in ../shared/data, the
word lists in .bench/, system dictionaries, optional modules); a missing one is a one-line error
that says where it comes from, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Where each kind of missing input comes from (matched against its path).
SOURCES = [
    ("shared", "the reference corpora, ../shared/data beside the repository; other files: see --help"),
    (".bench", "made by python scripts/build_wordlist.py or scripts/build_big_corpus.py: see the script's docstring"),
    ("/usr/share/dict", "apt-get install wamerican-insane"),
    ("-first-names.txt", "the shipped corpora in data/, made by python scripts/build_data.py"),
]


def needs(path) -> str:
    """``needs PATH (where it comes from)`` for a missing input."""
    where = next((how for key, how in SOURCES if key in str(path)), "see the script's --help")
    return f"needs {path} ({where})"


def run(main, *args) -> int:
    """``main(*args)``'s exit code, or 1 after one line naming the missing input or module."""
    from ngram.core.errors import NgramError

    script = Path(sys.argv[0]).name
    try:
        return main(*args) or 0
    except FileNotFoundError as exc:
        message = needs(exc.filename or exc)
    except ModuleNotFoundError as exc:
        message = f"needs the Python module {exc.name} (pip install it, or the project's extras: pip install '.[dev,interop]')"
    except NgramError as exc:
        text = str(exc)
        message = needs(text.removesuffix(": no such file")) if text.endswith(": no such file") else text
    print(f"error: {script}: {message}", file=sys.stderr)
    return 1
