"""Reading name lists: one name per line, UTF-8, with clear one-line errors for bad files.

A line is taken verbatim apart from its ending (LF or CRLF): inner and trailing spaces are
characters (the shared Italian test file has ``ridha `` and the published figures count that
space). A leading UTF-8 BOM is dropped. Blank lines are skipped and counted, never silently.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import math
import os
import re
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import code_points, text_code_points

DEFAULT_MAX_NAME_LENGTH = 1000


class Corpus:
    """The names of one file, where each came from, and what was skipped.

    A file with nothing to clean (the common case) keeps its text and makes the list of names
    only when ``names`` is first asked for: training reads the text's code points directly,
    which on a big corpus saves the time and the memory of a Python string per name.
    """

    def __init__(self, names: list[str] | None, line_numbers: Sequence[int], source: str, blank_lines: int = 0,
                 weights: list[float] | None = None, text: str | None = None):
        if names is None and text is None:
            raise ValueError("a corpus needs its names or their text")
        self._names = names
        self._text = text  # the names joined by newlines, when they have not been split yet
        self.line_numbers = line_numbers  # 1-based line of each name in its file, for error messages
        self.source = source  # file name as the user gave it, "<stdin>" for standard input
        self.blank_lines = blank_lines
        self.weights = weights
        self.weight_scale = 1.0  # weights were multiplied by this power of two when read (``scale_weights``)
        # A block read by the streaming engine from clean UTF-8: (its bytes, its text), which
        # scanning reads instead of code points; None otherwise.
        self.raw_utf8: tuple | None = None

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = self._text.split("\n")
            self._text = None
        return self._names

    def code_points(self) -> np.ndarray:
        """``vocabulary.code_points(self.names)``, from the text when it is still whole."""
        return code_points(self._names) if self._text is None else text_code_points(self._text)

    def __len__(self) -> int:
        return len(self.line_numbers)

    def __repr__(self) -> str:
        return f"Corpus({self.source!r}, {len(self)} names, {self.blank_lines} blank lines)"


# A tab or a run of spaces, then a number: a column of counts or frequencies after the name.
_TABLE_CELL = re.compile(r"(?:\t| {2,})[ \t]*[-+]?\d+(?:[.,]\d+)?(?=\s|$)")
TABLE_SAMPLE = 1000  # lines looked at for the table warning


def table_warning(names: Sequence[str], label: str) -> str | None:
    """A one-line warning when most of the first lines look like rows of a table (a name, then a
    tab or a run of spaces and a number, as census files are), which would otherwise train
    silently into a vocabulary of digits and spaces; None for a list of names."""
    sample = [n for n in names[:TABLE_SAMPLE] if n.strip()]
    rows = [i for i, n in enumerate(sample) if _TABLE_CELL.search(n)]
    if not sample or len(rows) * 2 <= len(sample):
        return None
    example = sample[rows[0]]
    tab_count = sum(1 for i in rows if sample[i].count("\t") == 1 and _TABLE_CELL.fullmatch(sample[i][sample[i].index("\t"):]))
    advice = ("if the number is how often the name occurs, train with --weighted (lines name<TAB>count); "
              f"else keep only the names: cut -f1 {label} > names.txt" if tab_count * 2 > len(rows) else
              f"keep only the name column first, e.g. awk '{{print $1}}' {label} > names.txt "
              "(or name<TAB>count lines with --weighted)")
    return (f"warning: {label}: {len(rows)} of the first {len(sample)} lines look like table rows, a name then numbers "
            f"(e.g. {example!r}), so digits and spaces become characters of the names; {advice}")


def table_warning_for(corpus: "Corpus | None", source: str | os.PathLike, encoding: str = "utf-8") -> str | None:
    """``table_warning`` for a corpus read into memory, else for the first block of its file (a
    streamed corpus; standard input cannot be read twice and is not looked at)."""
    if corpus is not None:
        return table_warning(corpus.names, corpus.source)
    if source_label(source) == "<stdin>":
        return None
    try:
        head = next(read_chunks(source, 1 << 16), b"")
        lines = head.decode(encoding, errors="replace").split("\n")[:-1] or [head.decode(encoding, errors="replace")]
    except (NgramError, LookupError):
        return None
    return table_warning(lines, source_label(source))


# The corpora the package ships (data/, installed as the package ngram.data), by short name.
SHIPPED_CORPORA = {"italian": "italian-first-names.txt", "english": "english-first-names.txt"}


def shipped_corpus_path(name: str) -> Path:
    """A shipped corpus by short name (``SHIPPED_CORPORA``), installed or in a checkout: found from
    any folder."""
    if name not in SHIPPED_CORPORA:
        raise NgramError(f"unknown shipped corpus {name!r}; choose {' or '.join(SHIPPED_CORPORA)}")
    candidates = []
    try:
        from importlib.resources import files

        candidates.append(Path(str(files("ngram.data") / SHIPPED_CORPORA[name])))
    except (ModuleNotFoundError, TypeError):
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "data" / SHIPPED_CORPORA[name])
    for path in candidates:
        if path.is_file():
            return path
    raise NgramError(f"the shipped corpus data/{SHIPPED_CORPORA[name]} is missing; run python scripts/build_data.py or name a corpus file")


def shipped_stand_in(source: str) -> str | None:
    """The short name of the shipped corpus a missing file names (``data/english-first-names.txt``
    typed outside the repository), or None."""
    if source == "-" or Path(source).exists():
        return None
    return next((short for short, file in SHIPPED_CORPORA.items() if Path(source).name == file), None)


def default_corpus_path() -> Path:
    """The shipped Italian first names (data/italian-first-names.txt), installed or in a checkout."""
    return shipped_corpus_path("italian")


def read_bytes(source: str | os.PathLike) -> tuple[bytes, str]:
    """The raw bytes of a file (or of standard input for "-"), with one-line errors."""
    return b"".join(read_chunks(source)), source_label(source)


def source_label(source: str | os.PathLike) -> str:
    return "<stdin>" if str(source) == "-" else str(source)


def read_chunks(source: str | os.PathLike, size: int = -1) -> Iterator[bytes]:
    """The bytes of a file, decompressed if it ends in .gz, .bz2 or .xz (or of standard input
    for "-"), ``size`` bytes at a time (all at once by default), with one-line errors."""
    label = source_label(source)
    path = Path(source)
    if label != "<stdin>":
        if not path.exists():
            raise NgramError(f"{label}: no such file")
        if path.is_dir():
            raise NgramError(f"{label}: is a directory, not a file")
    handle = None
    try:
        handle = sys.stdin.buffer if label == "<stdin>" else open_binary(path)
        while True:
            data = handle.read(size)
            if data:
                yield data
            if not data or size < 0:
                return
    except PermissionError:
        raise NgramError(f"{label}: permission denied") from None
    except DECOMPRESSION_ERRORS as exc:
        raise NgramError(f"{label}: cannot decompress ({exc or type(exc).__name__}); is it a complete {path.suffix} file?") from None
    except OSError as exc:
        raise NgramError(f"{label}: cannot read ({exc.strerror or exc})") from None
    finally:
        if handle is not None and label != "<stdin>":
            handle.close()


# Compressed corpora are read directly, chosen by file suffix (content sniffing could mistake a
# name list starting with "BZh" for bzip2).
COMPRESSED_SUFFIXES = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
DECOMPRESSION_ERRORS = (EOFError, lzma.LZMAError, gzip.BadGzipFile, zlib.error)


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """A binary reader for ``path`` that decompresses .gz, .bz2 and .xz files on the fly."""
    opener = COMPRESSED_SUFFIXES.get(Path(path).suffix.lower(), open)
    return opener(path, "rb")


def decode_text(data: bytes, label: str, encoding: str = "utf-8", first_line: int = 1) -> str:
    """Decode with a message that names the line of the first bad byte.

    ``first_line`` > 1 means ``data`` is a later block of a file read in pieces: line numbers
    count from there, and byte-order marks only mean something at the start of a file.
    """
    at_start = first_line == 1
    if at_start and encoding.lower().replace("_", "-") in ("utf-8", "utf8") and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise NgramError(f"{label}: looks like UTF-16 (it starts with a UTF-16 byte-order mark); re-save it as UTF-8 or pass --encoding utf-16")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and b"\x00" in data:
        # Checked before decoding: a binary file (a model, an archive) would otherwise get
        # "not valid UTF-8, pass --encoding latin-1", which is the wrong advice.
        line = data[: data.index(b"\x00")].count(b"\n") + first_line
        raise NgramError(f"{label}, line {line}: contains a NUL byte; this looks like a binary file "
                         "(or UTF-16 text: pass --encoding utf-16), not a text file of names")
    if at_start and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # drops a leading BOM, which editors on Windows add
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + first_line
        raise NgramError(
            f"{label}, line {line}: not valid {exc.encoding.upper()} (byte 0x{data[exc.start]:02x}); "
            "pass --encoding (e.g. --encoding latin-1) if the file uses another encoding"
        ) from None
    except (LookupError, ValueError):  # (ValueError: a NUL in the name; after UnicodeDecodeError, one)
        raise NgramError(f"unknown encoding {encoding!r}") from None
    return text.removeprefix("\ufeff") if at_start else text


# What str.strip removes among ASCII characters: a line of only these is blank.
_ASCII_SPACE = np.zeros(128, bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


def _plain(body: str, max_name_length: int) -> bool:
    """No blank line in ``body`` (lines joined by newlines) and none longer than
    ``max_name_length``: on ASCII text one pass over its bytes (a Python call per line costs
    more than everything else in reading a big corpus)."""
    if not body.isascii():
        lines = body.split("\n")
        return all(map(str.strip, lines)) and max(map(len, lines)) <= max_name_length
    codes = np.frombuffer(body.encode("ascii"), np.uint8)
    ends = np.append(np.flatnonzero(codes == 10), len(codes))
    lengths = np.diff(ends, prepend=-1) - 1
    if int(lengths.max(initial=0)) > max_name_length or not np.all(lengths > 0):
        return False
    if not np.any((codes < 33) & (codes != 10)):  # no spaces or control characters at all
        return True
    filled = np.concatenate(([0], np.cumsum(~_ASCII_SPACE[codes])))  # non-space characters so far
    return bool(np.all(filled[ends] > filled[ends - lengths]))


def parse_names(
    text: str,
    label: str,
    lowercase: bool = False,
    max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
    weighted: bool = False,
    first_line: int = 1,
    allow_empty: bool = False,
) -> Corpus:
    """Names of ``text``; ``first_line`` and ``allow_empty`` serve readers that parse a file block by block."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + first_line
        raise NgramError(f"{label}, line {line}: contains a NUL byte; this does not look like a text file of names")
    body = text[:-1] if text.endswith("\n") else text  # the newline that ends the last line does not start another
    if not weighted and "\r" not in text and body and _plain(body, max_name_length):
        # The common case (no blank lines, CRs or overlong names), checked without a Python
        # loop per line, which is several times slower on big corpora; the names stay text
        # until someone asks for them.
        count = body.count("\n") + 1
        return Corpus(None, range(first_line, first_line + count), label, text=body.lower() if lowercase else body)
    lines = body.split("\n") if body else []
    names: list[str] = []
    numbers: list[int] = []
    weights: list[float] | None = [] if weighted else None
    blank = 0
    for number, line in enumerate(lines, start=first_line):
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
            if value > MAX_WEIGHT:
                # Counts are summed over every n-gram of every name: past 2**53 they are no longer
                # exact in float64, and whole ones overflow the int64 counters.
                raise NgramError(f"{label}, line {number}: count {count} is above the largest count read, 2**53 = {MAX_WEIGHT:.0f}; "
                                 "divide every count by a common factor (only their ratios matter to the model)")
            weights.append(value)
            line = name
        if len(line) > max_name_length:
            raise NgramError(
                f"{label}, line {number}: name of {len(line)} characters is longer than --max-name-length {max_name_length}; "
                "is this a list of names, one per line?"
            )
        names.append(line.lower() if lowercase else line)
        numbers.append(number)
    if not names and not allow_empty:
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
    """Read a name list from a path, or from standard input when ``source`` is "-".

    The file is checked as it streams in (``read_text``), so a file that is no list of names
    (``/dev/zero``, a binary file, a decompression bomb of one long line) is refused after its
    first bad block instead of after it has filled memory.
    """
    text, label = read_text(source, encoding, max_name_length, weighted=weighted)
    corpus = parse_names(text, label, lowercase, max_name_length, weighted)
    if weighted:
        corpus.weights, corpus.weight_scale = scale_weights(corpus.weights, corpus, label)
    return corpus


MAX_WEIGHT = float(2**53)  # the largest count of one name in a weighted corpus


def scale_weights(weights: list[float], corpus: Corpus, label: str) -> tuple[list[float], float]:
    """The weights of a weighted corpus, scaled by a power of two (exactly: their ratios do not
    change) when the weighted number of symbols they give (sum of weight x (length + 1)) would
    pass 2**53, where float64 sums stop being exact and int64 counters come near overflow;
    with the scale applied (1.0 when nothing was done)."""
    if not weights:
        return weights, 1.0
    w = np.asarray(weights, np.float64)
    lengths = np.fromiter(map(len, corpus.names), np.float64, count=len(w)) + 1.0
    smallest = int(np.argmin(w))
    scale = weight_scale(float(np.dot(w, lengths)), float(w[smallest]), float(w.max()),
                         f"{label}, line {corpus.line_numbers[smallest]}")
    return (weights, 1.0) if scale == 1.0 else ((w * scale).tolist(), scale)


def weight_scale(total: float, smallest: float, largest: float, where_smallest: str) -> float:
    """The power of two that brings ``total`` (sum of weight x (length + 1)) to 2**53 or below
    (1.0 when it is already), refused in one line when it would take the ``smallest`` weight
    (at ``where_smallest``: "FILE, line N") to 0. Every engine scales with this."""
    if total <= MAX_WEIGHT:
        return 1.0
    scale = 2.0 ** -math.ceil(math.log2(total / MAX_WEIGHT))
    if not smallest * scale > 0:
        raise NgramError(f"{where_smallest}: counts range too widely (from {smallest:g} to {largest:g}) "
                         "to be scaled into exact float arithmetic; drop the smallest or the largest")
    return scale


READ_BLOCK = 1 << 20  # bytes read (or decompressed) at a time; every check runs on each block


def _utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def read_text(source: str | os.PathLike, encoding: str = "utf-8", max_line: int = DEFAULT_MAX_NAME_LENGTH,
              weighted: bool = False, kind: str = "names") -> tuple[str, str]:
    """The decoded text of a file (or of standard input for "-") and its label, checked block by
    block as it is read: a UTF-16 byte-order mark and NUL bytes in the first block, the encoding
    of every block, and the length of every line (``max_line`` characters), complete or not.

    Memory stays bounded by what a valid file of that size needs: nothing is kept of an input
    past its first bad block. ``kind`` is "names" (lines are names, checked exactly as
    ``parse_names`` checks them, with ``weighted`` lines being name<TAB>count) or the name of
    another line-based format ("an ARPA file"), whose lines are only limited in length.
    """
    label = source_label(source)
    utf8 = _utf8(encoding)
    try:
        decoder = codecs.getincrementaldecoder("utf-8-sig" if utf8 else encoding)()
    except (LookupError, ValueError):  # (ValueError: a NUL in the name)
        raise NgramError(f"unknown encoding {encoding!r}") from None
    names = kind == "names"
    what = "a text file of names" if names else kind
    parts: list[str] = []
    carry: list[str] = []  # the pieces of the line not yet ended
    carry_len = 0
    line = 1  # number of the line the next piece starts in
    seen = 0
    for chunk in read_chunks(source, READ_BLOCK):
        if not seen and utf8 and chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise NgramError(f"{label}: looks like UTF-16 (it starts with a UTF-16 byte-order mark); re-save it as UTF-8"
                             + (" or pass --encoding utf-16" if names else ""))
        seen += len(chunk)
        if utf8 and b"\x00" in chunk:
            # Checked before decoding: a binary file (a model, an archive) would otherwise get
            # "not valid UTF-8, pass --encoding latin-1", which is the wrong advice.
            number = line + chunk[: chunk.index(b"\x00")].count(b"\n")
            raise NgramError(f"{label}, line {number}: contains a NUL byte; this looks like a binary file"
                             + (" (or UTF-16 text: pass --encoding utf-16), not a text file of names" if names else f", not {what}"))
        pending = decoder.getstate()[0]
        try:
            piece = decoder.decode(chunk)
        except UnicodeError as exc:
            raise _decode_error(exc, pending + chunk, line, label, what, encoding) from None
        if not utf8 and "\x00" in piece:  # (UTF-8 bytes were checked above)
            number = line + piece[: piece.index("\x00")].count("\n")
            raise NgramError(f"{label}, line {number}: contains a NUL byte; this does not look like {what}")
        carry_len, newlines = _check_lines(piece, carry, carry_len, line, max_line, label, weighted, what)
        parts.append(piece)
        line += newlines
    try:
        parts.append(decoder.decode(b"", final=True))
    except UnicodeError as exc:
        raise _decode_error(exc, getattr(exc, "object", b""), line, label, what, encoding) from None
    if not seen:
        raise NgramError(f"{label}: file is empty")
    text = "".join(parts)
    return text.removeprefix("\ufeff") if not utf8 else text, label


def _decode_error(exc: UnicodeError, data: bytes, line: int, label: str, what: str, encoding: str) -> NgramError:
    advice = ("; pass --encoding (e.g. --encoding latin-1) if the file uses another encoding" if what == "a text file of names"
              else f"; {what} is read as UTF-8")
    if not isinstance(exc, UnicodeDecodeError):  # UTF-16 without a byte-order mark, say: no position
        return NgramError(f"{label}: not valid {encoding.upper()} ({exc}){advice}")
    number = line + data[: exc.start].count(b"\n")
    return NgramError(f"{label}, line {number}: not valid {exc.encoding.upper().replace('-SIG', '')} "
                      f"(byte 0x{data[exc.start]:02x}){advice}")


def _newlines(piece: str) -> np.ndarray:
    """Positions of the newlines of ``piece``: one numpy pass, no Python work per line."""
    if piece.isascii():
        codes = np.frombuffer(piece.encode("ascii"), np.uint8)
    else:
        codes = np.frombuffer(piece.encode("utf-32-le", "surrogatepass"), np.uint32)
    return np.flatnonzero(codes == 10)


def _check_lines(piece: str, carry: list[str], carry_len: int, line: int, max_line: int, label: str,
                 weighted: bool, what: str) -> tuple[int, int]:
    """Refuse the first line of ``piece`` (with the ``carry`` of the line it continues) longer
    than ``max_line``; return the length of the line left unfinished at its end and the number
    of newlines in ``piece``."""
    if carry_len + len(piece) <= max_line:  # a small piece: no line in it can be too long
        newlines = piece.count("\n")
        if newlines:
            carry.clear()
            carry_len = 0
            piece = piece[piece.rindex("\n") + 1 :]
    else:
        ends = _newlines(piece)
        newlines = len(ends)
        if newlines:
            longest = int(ends[0]) + carry_len
            if newlines > 1:
                longest = max(longest, int((ends[1:] - ends[:-1]).max()) - 1)
            if longest > max_line:
                lengths = np.diff(ends, prepend=-1) - 1
                lengths[0] += carry_len
                for i in np.flatnonzero(lengths > max_line).tolist():
                    start = int(ends[i - 1]) + 1 if i else 0
                    text = ("".join(carry) if i == 0 else "") + piece[start : int(ends[i])]
                    _refuse_line(text, line + i, max_line, label, weighted, what, finished=True)
            carry.clear()
            carry_len = 0
            piece = piece[int(ends[-1]) + 1 :]
    carry.append(piece)
    carry_len += len(piece)
    # An unfinished line: it can only grow. Past a margin for a CR and a weight it is too long
    # whatever follows (a blank line that long is no list of names either).
    if carry_len > max_line + (1 + 64 if weighted else 1):
        _refuse_line("".join(carry), line + newlines, max_line, label, weighted, what, finished=False)
    return carry_len, newlines


def _refuse_line(text: str, number: int, max_line: int, label: str, weighted: bool, what: str, finished: bool) -> None:
    names = what == "a text file of names"
    if names and finished:
        # A finished line gets the message (or the acceptance: a long blank line, a long weight)
        # parse_names gives it.
        parse_names(text, label, max_name_length=max_line, weighted=weighted, first_line=number, allow_empty=True)
        return
    if names:
        raise NgramError(f"{label}, line {number}: name of more than {max_line} characters is longer than --max-name-length "
                         f"{max_line} (the line goes on past {len(text)} characters); is this a list of names, one per line?")
    raise NgramError(f"{label}, line {number}: line of more than {max_line} characters; this is not {what}")


ARPA = "an ARPA file"
