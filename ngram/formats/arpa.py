"""ARPA files both ways: ``write_arpa(model, path)`` and ``read_arpa(path) -> Model``.

ARPA is the text format of SRILM and KenLM: log10 probabilities, one n-gram per line, with an
optional log10 back-off weight. Our models are already in that back-off form (interpolated
ones too, as lmplz writes them), so export is a change of log base and of spelling:

- every character is one ARPA word; a literal space is written ``<sp>`` (as in the KenLM
  reference data), and read back as a space;
- id 0 is written ``<s>`` as the first word of an n-gram and ``</s>`` as a predicted word; the
  ``<s>`` unigram carries the start context's back-off weight and the probability -99 (it is
  never predicted); the ``</s>`` unigram carries p(end);
- ``<unk>`` is the unknown class; log10(0) is written -99, and -99 or below is read as 0.

Import accepts KenLM's and SRILM's files (any text before ``\\data\\`` is skipped, the back-off
column is optional) and gives one-line errors for malformed ones. Our models need the n-gram set
closed under prefixes and suffixes; an ARPA file need not be, so each missing n-gram is added
with the probability the file implies for it by back-off and back-off weight 1, which leaves
every distribution unchanged.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ngram.core.counting import max_order_for
from ngram.core.corpus import ARPA, read_text
from ngram.core.errors import NgramError
from ngram.lm.backoff.closure import close_levels
from ngram.lm.backoff.model import Level, Model
from ngram.formats.validate import check_distributions
from ngram.core.vocabulary import Vocabulary

LN10 = math.log(10.0)
LOG_ZERO = -99.0  # ARPA's log10(0)
START, END, UNK, SPACE = "<s>", "</s>", "<unk>", "<sp>"
SPECIAL = {START, END, UNK, SPACE}
MAX_LINE = 1 << 16  # characters: an n-gram line is a few dozen; anything this long is no ARPA file


# ----- export ------------------------------------------------------------------------------
def _word(c: str) -> str:
    if c == " ":
        return SPACE
    if c.isspace() or c == "\0":
        raise NgramError(f"character U+{ord(c):04X} cannot be an ARPA word (ARPA splits words on whitespace)")
    if "\ud800" <= c <= "\udfff":  # a lone surrogate (from a file name, say) has no UTF-8 form
        raise NgramError(f"character U+{ord(c):04X} (a lone surrogate) cannot be written in a UTF-8 ARPA file")
    return c


def _log10_text(values: np.ndarray) -> list[str]:
    log10 = np.asarray(values, np.float64) / LN10
    log10 = np.where(np.isneginf(log10) | (log10 < LOG_ZERO), LOG_ZERO, log10)
    return [repr(x) for x in log10.tolist()]


def arpa_text(model: Model) -> str:
    V, N = model.V, model.order
    vocab = model.vocabulary
    targets = np.array([END] + [_word(c) for c in vocab.characters] + ([UNK] if vocab.unk else []), dtype=object)
    firsts = targets.copy()
    firsts[0] = START
    sizes = [len(level) for level in model.levels]
    sizes[0] += 1  # the <s> unigram
    lines = ["\\data\\"] + [f"ngram {n}={size}" for n, size in enumerate(sizes, start=1)]
    for n, level in enumerate(model.levels, start=1):
        lines += ["", f"\\{n}-grams:"]
        probs = np.minimum(level.logp, 0.0)  # rounding may leave ln p = 1e-16 for p = 1
        words = targets[level.keys % V]
        for i in range(1, n):
            digit = (level.keys // V**i) % V
            words = (firsts if i == n - 1 else targets)[digit] + " " + words
        columns = np.array(_log10_text(probs), dtype=object) + "\t" + words
        if n < N:
            bows = level.bow.copy()
            if n == 1:
                bows[0] = 0.0  # id 0's back-off belongs to <s>; </s> is never a context
            columns = columns + "\t" + np.array(_log10_text(bows), dtype=object)
            if n == 1:
                lines.append(f"{LOG_ZERO:g}\t{START}\t{_log10_text(level.bow[:1])[0]}")
        elif n == 1:
            lines.append(f"{LOG_ZERO:g}\t{START}")
        lines += columns.tolist()
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def write_arpa(model: Model, path: str | os.PathLike) -> None:
    """Write ``model`` as an ARPA file, atomically (a temporary file renamed over ``path``)."""
    from ngram.core.files import write_atomically

    text = arpa_text(model).encode("utf-8")
    write_atomically(path, lambda handle: handle.write(text), "the ARPA file", replaces=(lambda head: b"\\data\\" in head, "an ARPA file"))


# ----- import ------------------------------------------------------------------------------
def _number(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NgramError(f"{where}: {what} {text!r} is not a number") from None
    if math.isnan(value) or value == math.inf:
        raise NgramError(f"{where}: {what} {text!r} is not a finite number")
    return value


def _shown(orders: list[int]) -> str:
    return str(orders) if len(orders) <= 10 else f"[{', '.join(map(str, orders[:10]))}, ...]"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _whole(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone accepts '²', which int() refuses


def _header(lines: list[str], label: str) -> tuple[int, list[int]]:
    """Index of the line after ``\\data\\``'s counts, and the declared count per order."""
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "\\data\\")
    except StopIteration:
        raise NgramError(f"{label}: no \\data\\ section; not an ARPA file") from None
    declared: dict[int, int] = {}
    i = start + 1
    while i < len(lines) and not lines[i].strip().startswith("\\"):
        line = lines[i].strip()
        if line:
            head, _, value = line.partition("=")
            parts = head.split()
            if len(parts) != 2 or parts[0] != "ngram" or not _whole(parts[1]) or not _whole(value.strip()):
                raise NgramError(f"{label}, line {i + 1}: expected 'ngram N=count' in \\data\\, got {line!r}")
            declared[int(parts[1])] = int(value)
        i += 1
    if not declared:
        raise NgramError(f"{label}: \\data\\ declares no n-gram counts")
    order = max(declared)
    # (distinct orders, the largest as many as there are, the smallest 1: exactly 1..order; checked
    # before any range(order), as the order may be 99999999999)
    if order != len(declared) or min(declared) != 1:
        raise NgramError(f"{label}: \\data\\ must declare orders 1..{order}, got {_shown(sorted(declared))}")
    for n, count in declared.items():
        # Every entry is a line, so a count larger than the file's lines is a lie; refuse it
        # before anything is allocated for it.
        if count > len(lines) - i:
            raise NgramError(f"{label}: \\data\\ declares {count} {n}-grams but the file has only {len(lines) - i} lines after it")
        if count == 0 and n == 1:
            raise NgramError(f"{label}: the file has no unigrams")
    return i, [declared[n] for n in range(1, order + 1)]


def _sections(lines: list[str], i: int, declared: list[int], label: str) -> list[list[tuple[int, list[str]]]]:
    """Entries per order as (line number, fields), checked against the declared counts."""
    sections = []
    order = len(declared)
    for n in range(1, order + 1):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines) or lines[i].strip() != f"\\{n}-grams:":
            found = lines[i].strip() if i < len(lines) else "the end of the file"
            raise NgramError(f"{label}: expected the \\{n}-grams: section, found {found!r}")
        i += 1
        entries = []
        while i < len(lines) and not lines[i].strip().startswith("\\"):
            if lines[i].strip():
                entries.append((i + 1, lines[i].split()))
            i += 1
        if len(entries) != declared[n - 1]:
            raise NgramError(f"{label}: \\data\\ declares {declared[n - 1]} {n}-grams but the section has {len(entries)}")
        sections.append(entries)
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip() != "\\end\\":
        raise NgramError(f"{label}: missing \\end\\ after the \\{order}-grams: section")
    return sections


def _vocabulary(unigrams: list[tuple[int, list[str]]], label: str) -> Vocabulary:
    chars, unk = [], False
    for line, fields in unigrams:
        if len(fields) not in (2, 3):
            raise NgramError(f"{label}, line {line}: a 1-gram line needs a probability, a word and maybe a back-off weight")
        word = fields[1]
        if word == UNK:
            unk = True
        elif word == SPACE:
            chars.append(" ")
        elif word not in (START, END):
            if len(word) != 1:
                raise NgramError(f"{label}, line {line}: word {word!r} is not one character (nor <s> </s> <unk> <sp>)")
            chars.append(word)
    if len(set(chars)) != len(chars):
        raise NgramError(f"{label}: a 1-gram appears twice")
    return Vocabulary(chars, unk=unk)


def _level(entries, n: int, order: int, ids: dict[str, int], V: int, label: str):
    keys = np.empty(len(entries), np.int64)
    logp = np.empty(len(entries), np.float64)
    bow = np.zeros(len(entries), np.float64)
    start_bow = None
    for row, (line, fields) in enumerate(entries):
        where = f"{label}, line {line}"
        if (len(fields) == n + 2 and not _numeric(fields[-1])) or len(fields) > n + 2:
            # "p a b c" in the 2-grams: the last word would otherwise be read as a back-off weight
            words = fields[1:-1] if len(fields) > n + 2 and _numeric(fields[-1]) else fields[1:]
            raise NgramError(f"{where}: {len(words)} words in the \\{n}-grams: section ({' '.join(words)!r}); "
                             f"a {n}-gram line needs a probability, {n} words and maybe a back-off weight")
        if len(fields) not in (n + 1, n + 2):
            raise NgramError(f"{where}: a {n}-gram line needs a probability, {n} words and maybe a back-off weight")
        p = _number(fields[0], where, "probability")
        if p > 0:
            raise NgramError(f"{where}: log10 probability {fields[0]} is above 0")
        b = _number(fields[n + 1], where, "back-off weight") if len(fields) == n + 2 else 0.0
        words = fields[1 : n + 1]
        if n == 1 and words[0] == START:
            start_bow, keys[row] = b, -1
            continue
        key = 0
        for position, word in enumerate(words):
            if word == START and (position > 0 or n == 1):
                raise NgramError(f"{where}: <s> can only begin an n-gram")
            if word == END and position < n - 1:
                raise NgramError(f"{where}: </s> can only end an n-gram")
            if word not in ids:
                raise NgramError(f"{where}: word {word!r} has no 1-gram entry")
            key = key * V + (0 if word == START else ids[word])
        keys[row] = key
        logp[row] = -math.inf if p <= LOG_ZERO else p * LN10
        bow[row] = -math.inf if b <= LOG_ZERO else b * LN10
    keep = keys >= 0
    keys, logp, bow = keys[keep], logp[keep], bow[keep]
    order_ = np.argsort(keys, kind="stable")
    keys, logp, bow = keys[order_], logp[order_], bow[order_]
    if len(keys) > 1 and np.any(keys[1:] == keys[:-1]):
        raise NgramError(f"{label}: a {n}-gram appears twice")
    return Level(keys, logp, bow), start_bow


def read_arpa(path: str | os.PathLike, check: bool = True) -> Model:
    """Read an ARPA file (ours, KenLM's, SRILM's) into a Model.

    ``check`` (the default) refuses a file whose next-symbol probabilities do not sum to 1 for
    some context (within 1e-3, ample for files printed with 5 or more significant digits).
    """
    # Read and checked as it streams in (NUL bytes, UTF-8, line length), so a device or a
    # binary file is refused after its first block; .gz, .bz2 and .xz files are decompressed.
    text, label = read_text(path, "utf-8", MAX_LINE, kind=ARPA)
    # Only LF (or CRLF) ends a line, as in an editor: str.splitlines would also break at form
    # feeds and U+2028 and make every later line number wrong.
    lines = text.split("\n")
    start, declared = _header(lines, label)
    sections = _sections(lines, start, declared, label)
    vocabulary = _vocabulary(sections[0], label)
    V, N = vocabulary.size, len(declared)
    if N > max_order_for(V):
        raise NgramError(f"{label}: order {N} is too high for a vocabulary of {V} symbols")
    ids = {END: 0, START: 0, **{c: i for i, c in enumerate(vocabulary.characters, start=1)}}
    if " " in ids:
        ids[SPACE] = ids[" "]
    if vocabulary.unk:
        ids[UNK] = vocabulary.unk_id
    if not any(fields[1] == END for _, fields in sections[0]):
        raise NgramError(f"{label}: no </s> 1-gram; the end of a name has no probability")
    levels = []
    for n, entries in enumerate(sections, start=1):
        level, start_bow = _level(entries, n, N, ids, V, label)
        if n == 1:
            level.bow[0] = 0.0 if start_bow is None else (-math.inf if start_bow <= LOG_ZERO else start_bow * LN10)
        levels.append(level)
    added = close_levels(levels, vocabulary)
    report = {"source": label}
    if added:
        report["added"] = f"{added} missing prefix/suffix n-grams added with their back-off probabilities"
    model = Model(vocabulary=vocabulary, order=N, levels=levels, estimator={"name": "arpa", "report": report})
    if check:
        check_distributions(model, label)  # well-formed numbers can still be no language model
    return model
