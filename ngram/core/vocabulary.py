"""Vocabulary: characters <-> integer ids, and names -> one padded int array.

Id 0 is the boundary symbol. It is the start padding (context only, never predicted) and the
end-of-name target. One symbol can play both parts because inside a name it never occurs: in a
context it can only mean "start", as a target it can only mean "end". Ids 1..C are the training
characters in sorted order; an optional last id is ``<unk>``, the class unknown characters map to.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ngram.core.defaults import UNKNOWN_POLICIES, unknown_policy
from ngram.core.errors import NgramError

BOUNDARY = 0
BOUNDARY_DISPLAY = "."  # how the boundary is printed (the blog series' convention)
UNK_TOKEN = "<unk>"


class Encoded:
    """Names as one int array: ``[0, name1..., 0, name2..., 0]``.

    Every position but the first is a prediction target (a character, or 0 = end of name).
    ``history[j]`` is how many symbols of the same name precede target j, counting the start
    boundary, so an order-N model uses ``min(history, N-1)`` of them (KenLM's convention: one
    start symbol, contexts truncated there, never crossing into the previous name).

    ``symbols`` holds the ids as given (``encode`` gives the smallest unsigned type that holds
    them: one byte a symbol for most alphabets), which the counting and scoring fast paths read;
    ``ids`` is the same as int64, made on first use, for code that does arithmetic with them.
    """

    def __init__(self, ids: np.ndarray, starts: np.ndarray, oov: int = 0):
        self.symbols = ids  # len = total symbols + 1
        self.starts = starts  # index in ids of each name's start boundary
        self.oov = oov  # characters outside the vocabulary (mapped to <unk> or skipped)
        self._ids: np.ndarray | None = None

    @property
    def ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = self.symbols.astype(np.int64, copy=False)
        return self._ids

    @property
    def n_names(self) -> int:
        return len(self.starts)

    @property
    def n_targets(self) -> int:
        return len(self.symbols) - 1

    def history(self) -> np.ndarray:
        """Symbols available as context before each target position 1..T (start boundary included)."""
        positions = np.arange(len(self.symbols), dtype=np.int64)
        last_boundary = np.maximum.accumulate(np.where(self.symbols == BOUNDARY, positions, 0))
        # Target j's name started at the last boundary strictly before j.
        return positions[1:] - last_boundary[:-1]

    def symbols_per_name(self) -> np.ndarray:
        """Scored symbols per name: its characters plus the end symbol."""
        return np.diff(np.append(self.starts, len(self.symbols) - 1))

    def __repr__(self) -> str:
        return f"Encoded({self.n_names} names, {self.n_targets} targets, oov={self.oov})"


def code_points(names: Sequence[str]) -> np.ndarray:
    """The code points of ``"\\n" + "\\n".join(names) + "\\n"``: one array for the whole corpus.

    uint8 when the text is ASCII (``str.isascii`` is free in CPython and the bytes are copied
    as they are), uint32 otherwise.
    """
    joined = "\n".join(names)
    if joined.count("\n") != max(len(names) - 1, 0):
        raise NgramError("a name cannot contain a newline")
    return text_code_points(joined)


def text_code_points(joined: str) -> np.ndarray:
    """``code_points`` of names already joined by newlines."""
    text = "\n" + joined + "\n"
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class Vocabulary:
    """The symbols a model knows: boundary, sorted characters, optional ``<unk>``."""

    def __init__(self, characters: Iterable[str], unk: bool = False):
        chars = sorted(set(characters))
        for c in chars:
            if len(c) != 1:
                raise NgramError(f"vocabulary entries must be single characters, got {c!r}")
            if c == "\n":
                raise NgramError("a newline cannot be a vocabulary character")
        self.characters: list[str] = chars
        self.unk = bool(unk)
        # Code points sorted, so encoding is one searchsorted over the whole corpus.
        self._codepoints = np.array([ord(c) for c in chars], dtype=np.int64)
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def from_names(cls, names: Sequence[str], unk: bool = False, codes: np.ndarray | None = None) -> "Vocabulary":
        """The characters of ``names`` (``codes``: their ``code_points``, if already made)."""
        codes = code_points(names) if codes is None else codes
        # Marking each code point seen finds the distinct characters far faster than a set of the text.
        seen = np.zeros(int(codes.max(initial=10)) + 1, bool)
        seen[codes] = True
        present = np.flatnonzero(seen)
        return cls([chr(c) for c in present if c != 10], unk=unk)

    @property
    def size(self) -> int:
        """V: the length of every probability vector (boundary/end + characters + <unk>)."""
        return 1 + len(self.characters) + int(self.unk)

    @property
    def unk_id(self) -> int | None:
        return self.size - 1 if self.unk else None

    @property
    def symbols(self) -> list[str]:
        """Display form of every id: ``.`` for the boundary, ``<unk>`` for the unknown class.

        A lone surrogate (a character from a file name or text that was not valid UTF-8) is shown
        as its escape, ``\\udc80``: no UTF-8 output can hold it. Made once (callers index it
        symbol by symbol: with 200,000 symbols, a fresh list per call made printing a vocabulary
        quadratic); do not modify the list returned."""
        key = (len(self.characters), self.unk)
        cached = getattr(self, "_symbols", None)
        if cached is None or cached[0] != key:
            shown = [c if not "\ud800" <= c <= "\udfff" else f"\\u{ord(c):04x}" for c in self.characters]
            cached = self._symbols = (key, [BOUNDARY_DISPLAY] + shown + ([UNK_TOKEN] if self.unk else []))
        return cached[1]

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and (self.characters, self.unk) == (other.characters, other.unk)

    def __repr__(self) -> str:
        return f"Vocabulary({''.join(self.characters)!r}, unk={self.unk})"

    def to_json(self) -> dict:
        return {"characters": self.characters, "unk": self.unk}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        return cls(data["characters"], unk=data["unk"])

    def encode(
        self,
        names: Sequence[str],
        unknown: str | None = "error",
        line_numbers: Sequence[int] | None = None,
        source: str = "input",
        codes: np.ndarray | None = None,
    ) -> Encoded:
        """Map names to ids in one vectorised pass.

        ``unknown`` says what happens to characters outside the vocabulary: ``error`` raises a
        one-line error naming the character, line and file; ``skip`` drops them (the name is scored
        as if they were not there) and counts them; ``unk`` maps them to ``<unk>``; None: the shared
        default (``ngram.core.defaults.unknown_policy``: ``unk`` with an ``<unk>`` class, else ``error``).
        ``codes``: ``code_points(names)``, when the caller has already made them.
        """
        unknown = unknown_policy(unknown, self.unk)
        if unknown not in UNKNOWN_POLICIES:
            raise NgramError(f"unknown-character policy must be one of {', '.join(UNKNOWN_POLICIES)}, got {unknown!r}")
        if unknown == "unk" and not self.unk:
            raise NgramError("--unknown unk needs a model trained with an <unk> class (train with --unk)")
        codes = code_points(names) if codes is None else codes
        # A lookup table over code points (at most 0x110000 entries) maps the whole corpus in one
        # gather, much faster than a binary search per character. Ids come out in the smallest
        # unsigned type that holds them and a marker for unknown characters.
        small = np.uint8 if self.size < 255 else (np.uint16 if self.size < 65535 else np.uint32)
        missing = np.iinfo(small).max
        table = np.full(max(int(codes.max()) + 1, 256), missing, small)
        known_points = self._codepoints[self._codepoints < len(table)]
        table[known_points] = np.searchsorted(self._codepoints, known_points) + 1
        table[10] = BOUNDARY  # a newline is never a vocabulary character
        if codes.dtype == np.uint8 and small == np.uint8:
            # Bytes to bytes: bytes.translate is several times faster than a numpy gather, which
            # would first widen every index to 8 bytes.
            ids = np.frombuffer(codes.tobytes().translate(table[:256].tobytes()), np.uint8)
        else:
            ids = table[codes]
        unknown_mask = ids == missing
        oov = int(np.count_nonzero(unknown_mask))
        if oov:
            if unknown == "error":
                first = int(np.flatnonzero(unknown_mask)[0])
                name_index = int(np.count_nonzero(codes[:first] == 10)) - 1
                line = line_numbers[name_index] if line_numbers is not None else name_index + 1
                char = chr(int(codes[first]))
                raise NgramError(
                    f"{source}, line {line}: character {char!r} (U+{ord(char):04X}) is not in the model's vocabulary; "
                    + self._case_hint(char, "use --lowercase to lowercase the names first")
                    + "use --unknown skip to leave such characters out"
                    + (" or --unknown unk to score them as <unk>" if self.unk else "")
                )
            if unknown == "unk":
                ids = ids.copy()  # (a translated buffer is read-only)
                ids[unknown_mask] = self.unk_id
            else:
                ids = ids[~unknown_mask]
        del codes, unknown_mask
        is_boundary = ids == BOUNDARY
        starts = np.flatnonzero(is_boundary)[:-1]
        # A name made only of skipped characters would become an empty name: it still predicts
        # its end symbol, which is what a model asked about an empty string should do.
        return Encoded(ids=ids, starts=starts, oov=oov)

    def _case_hint(self, char: str, advice: str) -> str:
        """``advice`` (and a separator) when ``char`` is an upper-case letter the model knows in lower case:
        skipping it, the usual advice, would score 'Maria' as 'aria'."""
        lower = char.lower()
        return f"the model knows {lower!r}: {advice}; else " if lower != char and lower in self._index else ""

    def encode_context(self, context: str, what: str = "context") -> np.ndarray:
        """Ids of a context string (e.g. a sampling prefix); unknown characters are an error."""
        ids = []
        for c in context:
            if c in self._index:
                ids.append(self._index[c])
            else:
                hint = self._case_hint(c, f"try {context.lower()!r}")
                raise NgramError(f"{what} {context!r}: character {c!r} (U+{ord(c):04X}) is not in the model's vocabulary"
                                 + (f" ({hint.removesuffix('; else ')})" if hint else ""))
        return np.array(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Characters for ids (boundaries dropped, <unk> shown as U+FFFD)."""
        out = []
        for i in ids:
            i = int(i)
            if i == BOUNDARY:
                continue
            out.append("\ufffd" if self.unk and i == self.unk_id else self.characters[i - 1])
        return "".join(out)


def reverse_encoded(encoded: Encoded) -> Encoded:
    """The same names with each name's characters in reverse order (boundaries stay put)."""
    ids = encoded.ids
    positions = np.arange(len(ids))
    is_boundary = ids == BOUNDARY
    start = np.maximum.accumulate(np.where(is_boundary, positions, 0))
    end = np.minimum.accumulate(np.where(is_boundary, positions, len(ids))[::-1])[::-1]
    source = np.where(is_boundary, positions, start + end - positions)
    return Encoded(ids=ids[source], starts=encoded.starts, oov=encoded.oov)
