"""Reading name lists: one name per line, UTF-8, with clear one-line errors for bad files.

A line is taken verbatim apart from its ending (LF or CRLF): inner and trailing spaces are
characters (the shared Italian test file has ``ridha `` and the published figures count that
space). A leading UTF-8 BOM is dropped. Blank lines are skipped and counted, never silently.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NgramError

DEFAULT_MAX_NAME_LENGTH = 1000


@dataclass
class Corpus:
    names: list[str]
    line_numbers: list[int]  # 1-based line of each name in its file, for error messages
    source: str  # file name as the user gave it, "<stdin>" for standard input
    blank_lines: int = 0
    weights: list[float] | None = field(default=None)

    def __len__(self) -> int:
        return len(self.names)


def default_corpus_path() -> Path:
    """The shipped Italian first names (data/italian-first-names.txt), installed or in a checkout."""
    candidates = []
    try:
        from importlib.resources import files

        candidates.append(Path(str(files("ngram.data") / "italian-first-names.txt")))
    except (ModuleNotFoundError, TypeError):
        pass
    candidates.append(Path(__file__).resolve().parent.parent / "data" / "italian-first-names.txt")
    for path in candidates:
        if path.is_file():
            return path
    raise NgramError("the shipped default corpus data/italian-first-names.txt is missing; run python scripts/build_data.py or name a corpus file")


def read_bytes(source: str | os.PathLike) -> tuple[bytes, str]:
    """The raw bytes of a file (or of standard input for "-"), with one-line errors."""
    if str(source) == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    path = Path(source)
    label = str(source)
    if not path.exists():
        raise NgramError(f"{label}: no such file")
    if path.is_dir():
        raise NgramError(f"{label}: is a directory, not a file")
    try:
        return path.read_bytes(), label
    except PermissionError:
        raise NgramError(f"{label}: permission denied") from None
    except OSError as exc:
        raise NgramError(f"{label}: cannot read ({exc.strerror or exc})") from None


def decode_text(data: bytes, label: str, encoding: str = "utf-8") -> str:
    """Decode with a message that names the line of the first bad byte."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise NgramError(f"{label}: looks like UTF-16 (it starts with a UTF-16 byte-order mark); re-save it as UTF-8 or pass --encoding utf-16")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # drops a leading BOM, which editors on Windows add
    try:
        text = data.decode(encoding)
    except LookupError:
        raise NgramError(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NgramError(
            f"{label}, line {line}: not valid {exc.encoding.upper()} (byte 0x{data[exc.start]:02x}); "
            "pass --encoding (e.g. --encoding latin-1) if the file uses another encoding"
        ) from None
    return text.removeprefix("\ufeff")


def parse_names(
    text: str,
    label: str,
    lowercase: bool = False,
    max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
    weighted: bool = False,
) -> Corpus:
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise NgramError(f"{label}, line {line}: contains a NUL byte; this does not look like a text file of names")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    names: list[str] = []
    numbers: list[int] = []
    weights: list[float] | None = [] if weighted else None
    blank = 0
    for number, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            blank += 1
            continue
        if weighted:
            name, sep, count = line.rpartition("\t")
            if not sep:
                raise NgramError(f"{label}, line {number}: expected name<TAB>count with --weighted")
            try:
                value = float(count)
            except ValueError:
                raise NgramError(f"{label}, line {number}: count {count!r} is not a number") from None
            if not (value > 0 and value < float("inf")):
                raise NgramError(f"{label}, line {number}: count must be a positive finite number, got {count!r}")
            weights.append(value)
            line = name
        if len(line) > max_name_length:
            raise NgramError(
                f"{label}, line {number}: name of {len(line)} characters is longer than --max-name-length {max_name_length}; "
                "is this a list of names, one per line?"
            )
        names.append(line.lower() if lowercase else line)
        numbers.append(number)
    if not names:
        what = "only blank lines" if blank else "no lines"
        raise NgramError(f"{label}: no names to read ({what})")
    return Corpus(names=names, line_numbers=numbers, source=label, blank_lines=blank, weights=weights)


def read_names(
    source: str | os.PathLike,
    lowercase: bool = False,
    encoding: str = "utf-8",
    max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
    weighted: bool = False,
) -> Corpus:
    """Read a name list from a path, or from standard input when ``source`` is "-"."""
    data, label = read_bytes(source)
    if not data:
        raise NgramError(f"{label}: file is empty")
    return parse_names(decode_text(data, label, encoding), label, lowercase, max_name_length, weighted)
