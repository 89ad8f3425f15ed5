"""Counting a corpus larger than memory: read it in blocks, count each block, spill, merge.

Counts are additive over names (no n-gram crosses a name boundary), so counting a corpus block
by block with the ordinary ``count_ngrams`` and summing the per-key counts gives exactly the
in-memory counts, and therefore the same model to the last bit. Per order, the counts of the
blocks read so far are merged into one sorted run held in memory; when the runs outgrow their
share of the budget they are written to a temporary folder (``np.save``, no pickle) and a new
run starts. At the end the runs on disk are merged window by window (each window takes, from
every run, the keys up to the smallest "last key read" among the runs, so no key is missed),
reading them with ordinary file reads, never a memory map, so the pages read do not stay in the
process's resident set.

The vocabulary must be known before a name can be encoded, so a first, cheap pass reads the
corpus once for its character set (and the corpus fingerprint the model records); the second
pass counts. Standard input is copied to the temporary folder during the first pass.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ngram.core.corpus import (COMPRESSED_SUFFIXES, DEFAULT_MAX_NAME_LENGTH, Corpus, decode_text, parse_names, read_chunks,
                     source_label, weight_scale)
from ngram.core.budget import DEFAULT_STREAMING_BYTES, Budget, LineBudget
from ngram.core.defaults import DEFAULT_ORDER
from ngram.core.counting import Counts, check_order, count_ngrams
from ngram.core.arrays import distinct
from ngram.core.errors import NgramError
from ngram.estimators import default_estimator
from ngram.lm.backoff.model import fingerprints_of_hashes, hash_code_points
from ngram.lm.provenance import CorpusInfo, finish, longest_of_code_points, update_digest
from ngram.lm.backoff.pruning import prune_model
from ngram.core.vocabulary import Vocabulary, code_points

PROGRESS = Callable[..., object]  # tqdm-like factory: progress(total=..., desc=...) -> .update(n), .close()


# ----- reading in blocks ----------------------------------------------------------------------

def check_streamable(encoding: str) -> None:
    try:
        newline = "\n".encode(encoding)
    except (LookupError, ValueError):  # (ValueError: a NUL in the name)
        raise NgramError(f"unknown encoding {encoding!r}") from None
    if newline != b"\n" or "ab".encode(encoding) != b"ab":
        raise NgramError(f"streaming reads blocks split at newline bytes, which needs an ASCII-compatible encoding; {encoding!r} is not (convert the file to UTF-8)")


def iter_blocks(source: str | os.PathLike, block_bytes: int, max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
                copy_to: Path | None = None, progress: PROGRESS | None = None,
                line_budget: "LineBudget | None" = None) -> Iterator[tuple[bytes, int]]:
    """(bytes, number of its first line) for consecutive blocks of whole lines of a file.

    ``copy_to`` keeps a copy of what was read (standard input must be read twice).
    ``line_budget``: what one line may cost to count (``Budget.line_budget``); a line past it is
    refused as soon as enough of it is read to know, from its length and characters so far.
    """
    label = source_label(source)
    path = Path(source)
    compressed = path.suffix.lower() in COMPRESSED_SUFFIXES
    total = path.stat().st_size if label != "<stdin>" and not compressed and path.is_file() else None
    # A line can be at most max_name_length characters of up to 4 bytes, a CR and a weight.
    longest_line = 4 * max_name_length + 64
    # Past any_bytes a line's characters decide whether it fits (tallied only then, and only the
    # bytes added since the last look); past most_bytes none does.
    look = longest_line if line_budget is None else min(longest_line, line_budget.any_bytes)
    tally, tallied = np.zeros(256, np.int64), 0
    bar = progress(total=total, desc="reading corpus") if progress else None
    copy = open(copy_to, "wb") if copy_to is not None else None
    carry, first_line, seen = b"", 1, 0
    try:
        for data in read_chunks(source, block_bytes):
            seen += len(data)
            if copy is not None:
                copy.write(data)
            if bar is not None:
                bar.update(len(data))
            data = carry + data
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if cut:  # (else the carry grew at its end: what was tallied is still its start)
                tally[:], tallied = 0, 0
            if len(carry) > look:
                line = first_line + data.count(b"\n", 0, cut)
                if b"\x00" in carry:  # a binary file (or /dev/zero) is said as such, as the in-memory reader says it
                    raise NgramError(f"{label}, line {line}: contains a NUL byte; this looks like a binary file "
                                     "(or UTF-16 text: pass --encoding utf-16), not a text file of names")
                if len(carry) > longest_line:
                    raise NgramError(f"{label}, line {line}: line longer than --max-name-length {max_name_length} characters; is this a list of names, one per line?")
                if len(carry) > tallied:
                    tally += np.bincount(np.frombuffer(carry, np.uint8, offset=tallied), minlength=256)
                    tallied = len(carry)
                cost, distinct = line_budget.cost(len(carry), tally)
                if cost > line_budget.allowed:
                    raise NgramError(f"{label}, line {line}: {line_budget.refusal(len(carry), cost, distinct)}")
            if cut:
                block = data[:cut]
                yield block, first_line
                first_line += block.count(b"\n")
        if carry:
            yield carry, first_line
        if seen == 0:
            raise NgramError(f"{label}: file is empty")
    finally:
        if bar is not None:
            bar.close()
        if copy is not None:
            copy.close()


def read_line_range(path: str | os.PathLike, start: int, stop: int) -> bytes:
    """The whole lines of a file that begin at byte offsets in [start, stop): consecutive ranges
    cover every line exactly once, so readers of a shared file need no coordination."""
    with open(path, "rb") as handle:
        if start > 0:
            handle.seek(start - 1)
            if handle.read(1) != b"\n":
                handle.readline()  # the line that began before ``start`` is the previous range's
        position = handle.tell()
        if position >= stop:
            return b""
        data = handle.read(stop - position)
        if data and not data.endswith(b"\n"):
            data += handle.readline()
        return data


def iter_name_chunks(source, block_bytes: int, lowercase: bool = False, encoding: str = "utf-8",
                     max_name_length: int = DEFAULT_MAX_NAME_LENGTH, copy_to: Path | None = None,
                     progress: PROGRESS | None = None, weighted: bool = False,
                     line_budget: "LineBudget | None" = None) -> Iterator[tuple[list[str], int, list | None]]:
    """Names of consecutive blocks of a file, parsed exactly as ``read_names`` parses a whole file
    (a ``Corpus`` per block), with the number of blank lines skipped in each block and, with
    ``weighted``, the names' weights. ``source`` may also be a sequence or iterable of names (already parsed), which is
    cut into chunks of about ``block_bytes``."""
    if isinstance(source, (str, os.PathLike)):
        check_streamable(encoding)
        label = source_label(source)
        utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
        for data, first_line in iter_blocks(source, block_bytes, max_name_length, copy_to, progress, line_budget):
            corpus = _plain_utf8(data, label, lowercase, max_name_length, first_line) if utf8 and not weighted else None
            if corpus is None:  # anything to clean, check or report: the reader's own way
                text = decode_text(data, label, encoding, first_line=first_line)
                corpus = parse_names(text, label, lowercase, max_name_length, weighted, first_line=first_line, allow_empty=True)
            # The Corpus itself, not its names: it keeps its text when nothing needed cleaning, and
            # counting reads the text's code points (no Python string per name).
            yield corpus, corpus.blank_lines, corpus.weights
        return
    chunk: list[str] = []
    size = 0
    for name in source:
        chunk.append(name)
        size += len(name) + 1
        if size >= block_bytes:
            yield chunk, 0, None
            chunk, size = [], 0
    if chunk:
        yield chunk, 0, None


# 1 for the bytes that are visible ASCII characters (not what str.strip removes), 0 for the rest.
_VISIBLE_ASCII = bytes(int(c < 128 and not chr(c).isspace()) for c in range(256))
_VISIBLE_TABLE = np.frombuffer(_VISIBLE_ASCII, np.uint8)


def _plain_utf8(data: bytes, label: str, lowercase: bool, max_name_length: int, first_line: int) -> Corpus | None:
    """The Corpus ``parse_names(decode_text(data))`` makes of a UTF-8 block with nothing to clean
    (no blank line, CR, NUL, byte-order mark or name over ``max_name_length`` characters),
    checked on its bytes without a Python step per line; None when the block needs the full
    reader (which then says what is wrong, or cleans it).

    A line holding an ASCII byte other than white space is not blank: lines that do not start
    with one are looked at one by one, and only those with none at all (names written entirely
    in non-Latin letters, say) are decoded and stripped.
    Characters are counted as the bytes that do not continue a UTF-8 sequence.
    """
    if not data or b"\r" in data or b"\x00" in data or (first_line == 1 and data[:3] == b"\xef\xbb\xbf"):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = data[:-1] if data.endswith(b"\n") else data
    if not body:
        return None
    codes = np.frombuffer(body, np.uint8)
    ends = np.append(np.flatnonzero(codes == 10), len(codes))
    starts = np.concatenate(([0], ends[:-1] + 1))
    if np.any(ends == starts):  # an empty line
        return None
    # A line is at most as many characters as bytes: characters are counted only in longer lines.
    for line in np.flatnonzero(ends - starts > max_name_length).tolist():
        if np.count_nonzero((codes[starts[line] : ends[line]] & 0xC0) != 0x80) > max_name_length:
            return None
    # Most lines start with a visible ASCII byte; the others are looked at one by one.
    for line in np.flatnonzero(_VISIBLE_TABLE[codes[starts]] == 0).tolist():
        piece = body[starts[line] : ends[line]]
        if b"\x01" not in piece.translate(_VISIBLE_ASCII) and not piece.decode("utf-8").strip():
            return None
    body_text = text[:-1] if text.endswith("\n") else text
    corpus = Corpus(None, range(first_line, first_line + len(ends)), label, text=body_text.lower() if lowercase else body_text)
    if not lowercase:
        corpus.raw_utf8 = (data, body_text)  # what scanning reads instead of code points
    return corpus


@dataclass
class Scan:
    """What the first pass learns: the character set and what the model records of its corpus."""

    source: str
    characters: set = field(default_factory=set)
    names: int = 0
    symbols: int = 0  # characters + one end symbol per name
    blank_lines: int = 0
    sha256: str = ""
    copy: Path | None = None  # where standard input was copied, for the second pass
    total_weight: float | None = None  # weighted corpora: the sum of the weights (after ``weight_scale``)
    longest_name: int = 0  # characters
    # Weighted corpora: Σ weight x (length + 1), the smallest weight (where) and the largest, and
    # the power of two every weight is multiplied by (``corpus.weight_scale``, as in memory).
    weighted_symbols: float = 0.0
    smallest_weight: tuple[float, str] | None = None
    largest_weight: float = 0.0
    weight_scale: float = 1.0

    def corpus_info(self, fingerprints: np.ndarray | None) -> CorpusInfo:
        """What the model records of this corpus (``provenance.finish``)."""
        return CorpusInfo(source=self.source, names=self.names, symbols=self.symbols, sha256=self.sha256,
                          total_weight=self.total_weight, fingerprints=fingerprints, longest_name=self.longest_name)


def scan_corpus(source, block_bytes: int = 1 << 24, lowercase: bool = False, encoding: str = "utf-8",
                max_name_length: int = DEFAULT_MAX_NAME_LENGTH, tmpdir: str | os.PathLike | None = None,
                progress: PROGRESS | None = None, weighted: bool = False,
                line_budget: "LineBudget | None" = None) -> Scan:
    """First pass: character set, name and symbol counts, and the fingerprint ``train`` records.
    ``line_budget``: what a line may cost the counting pass (``Budget.line_budget``), a line past
    it refused here, before it is held whole."""
    label = source_label(source) if isinstance(source, (str, os.PathLike)) else "<names>"
    scan = Scan(source=label)
    if str(source) == "-":
        fd, name = tempfile.mkstemp(prefix="ngram-stdin-", dir=tmpdir)
        os.close(fd)
        scan.copy = Path(name)
    try:
        _scan_names(scan, iter_name_chunks(source, block_bytes, lowercase, encoding, max_name_length, scan.copy, progress,
                                           weighted, line_budget))
    except BaseException:
        if scan.copy is not None:
            scan.copy.unlink(missing_ok=True)
        raise
    return scan


def _codes(names) -> np.ndarray:
    """``vocabulary.code_points`` of a block: a Corpus reads them from its text."""
    return names.code_points() if isinstance(names, Corpus) else code_points(names)


def _scan_weights(scan: Scan, names, weights, codes: np.ndarray) -> None:
    """Add a block's weights to the totals ``weight_scale`` is found from."""
    w = np.asarray(weights, np.float64)
    lengths = np.diff(np.flatnonzero(codes == 10))  # characters + 1 of each name
    scan.total_weight = (scan.total_weight or 0.0) + float(np.sum(w))
    scan.weighted_symbols += float(np.dot(w, lengths))
    scan.largest_weight = max(scan.largest_weight, float(w.max()))
    at = int(np.argmin(w))
    if scan.smallest_weight is None or w[at] < scan.smallest_weight[0]:
        lines = names.line_numbers if isinstance(names, Corpus) else None
        scan.smallest_weight = (float(w[at]), f"{scan.source}, line {lines[at]}" if lines is not None else scan.source)


def _wide_code_points(codes: np.ndarray) -> np.ndarray:
    """The distinct code points of the multi-byte characters of valid UTF-8 bytes, decoded from
    their lead and continuation bytes all at once."""
    lead = np.flatnonzero(codes >= 0xC0)
    first = codes[lead].astype(np.int64)
    size = np.where(first >= 0xF0, 4, np.where(first >= 0xE0, 3, 2))
    points = first & np.where(size == 4, 0x07, np.where(size == 3, 0x0F, 0x1F))
    for k in (1, 2, 3):
        more = size > k
        points[more] = (points[more] << 6) | (codes[lead[more] + k] & 0x3F)
    return distinct(points)


def _scan_raw(scan: Scan, digest, raw: tuple[bytes, str]) -> np.ndarray:
    """``_scan_names``'s work on a block ``_plain_utf8`` accepted, from its bytes and text: the
    same digest (its bytes are the UTF-8 of each name followed by a newline), symbol count and
    longest name; returns the code points present."""
    data, text = raw
    digest.update(data if data.endswith(b"\n") else data + b"\n")
    scan.symbols += len(text) + 1
    codes = np.frombuffer(data, np.uint8)
    present = np.flatnonzero(np.bincount(codes, minlength=256)[:128])
    ends = np.flatnonzero(codes == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(codes))
    lengths = np.diff(ends, prepend=-1) - 1  # bytes a line
    if not np.any(codes >= 0x80):  # ASCII: a byte a character
        scan.longest_name = max(scan.longest_name, int(lengths.max()))
        return present
    present = np.union1d(present, _wide_code_points(codes))
    # Characters a line: its bytes less those that continue a UTF-8 sequence.
    continuing = np.add.reduceat(((codes & 0xC0) == 0x80).astype(np.int64), np.concatenate(([0], ends[:-1] + 1)))
    scan.longest_name = max(scan.longest_name, int((lengths - continuing).max()))
    return present


def _scan_names(scan: Scan, chunks) -> None:
    import hashlib  # here: OpenSSL takes 3 MB a process, and only scanning needs it

    digest = hashlib.sha256()
    seen = np.zeros(0, np.int64)
    for names, blank, weights in chunks:
        scan.blank_lines += blank
        if not len(names):
            continue
        raw = names.raw_utf8 if isinstance(names, Corpus) else None
        if raw is not None and weights is None:  # a clean UTF-8 block: read from its bytes, no code point array
            seen = np.union1d(seen, _scan_raw(scan, digest, raw))
            scan.names += len(names)
            continue
        codes = _codes(names)
        if weights is not None:
            _scan_weights(scan, names, weights, codes)
        # The same bytes as hashing name + "\n" one name at a time (training.corpus_fingerprint).
        update_digest(digest, codes)
        present = np.flatnonzero(np.bincount(codes))  # (code points are below 0x110000: a small table)
        seen = np.union1d(seen, present)
        scan.names += len(names)
        scan.symbols += len(codes) - 1
        scan.longest_name = max(scan.longest_name, longest_of_code_points(codes))
    scan.characters.update(chr(c) for c in seen.tolist() if c != 10)
    if scan.smallest_weight is not None:
        smallest, where = scan.smallest_weight
        scan.weight_scale = weight_scale(scan.weighted_symbols, smallest, scan.largest_weight, where)
        scan.total_weight *= scan.weight_scale
    if scan.names == 0:
        what = "only blank lines" if scan.blank_lines else "no lines"
        raise NgramError(f"{scan.source}: no names to read ({what})")
    scan.sha256 = digest.hexdigest()


# ----- merging sorted runs --------------------------------------------------------------------

def merge_sorted(keys_a: np.ndarray, values_a: np.ndarray | None, keys_b: np.ndarray,
                 values_b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Union of two sorted unique key arrays, adding the values of keys in both.

    A stable sort of the two arrays one after the other is a merge (numpy's stable sort finds
    the two sorted runs and merges them in linear time, several times faster than placing each
    element by a binary search in the other array); a key in both keeps a's value first, so the
    sums are the same floats. Values of ``None`` merge key sets only (the name fingerprints).
    """
    if len(keys_b) == 0:
        return keys_a, values_a
    if len(keys_a) == 0:
        return keys_b, values_b
    keys = np.concatenate((keys_a, keys_b))
    order = None
    if values_a is None:
        keys.sort(kind="stable")
    else:
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
    first = np.empty(len(keys), bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    if values_a is None:
        return keys[starts], None
    values = np.concatenate((values_a, values_b))[order]
    if len(starts) == len(keys):
        return keys, values
    return keys[starts], np.add.reduceat(values, starts)


@dataclass
class Partial:
    """Counts of part of a corpus: per order sorted keys and counts, and sorted name hashes."""

    keys: list[np.ndarray]
    counts: list[np.ndarray]
    hashes: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.hashes.nbytes + sum(k.nbytes + c.nbytes for k, c in zip(self.keys, self.counts))

    def merge(self, other: "Partial") -> "Partial":
        pairs = [merge_sorted(a, b, c, d) for a, b, c, d in zip(self.keys, self.counts, other.keys, other.counts)]
        return Partial([p[0] for p in pairs], [p[1] for p in pairs], merge_sorted(self.hashes, None, other.hashes, None)[0])


def count_partial(names: "Sequence[str] | Corpus", order: int, vocabulary: Vocabulary, weights: Sequence[float] | None = None,
                  weight_scale: float = 1.0) -> Partial:
    """The counts of one block of names, with the ordinary in-memory counting.

    Whole-number weights give integer counts, as in memory, so the sums are exact; fractional
    weights give float counts, summed block by block, equal to the in-memory sums up to rounding.
    ``weight_scale`` (the whole corpus's, ``Scan.weight_scale``) multiplies every weight.
    """
    if len(names) == 0:
        # Code points of no names and of one empty name are the same "\n\n": count nothing here,
        # or a block of blank lines (or an empty byte range) would add a name "" to the model.
        empty = [np.empty(0, np.int64) for _ in range(order)]
        return Partial(empty, [np.empty(0, np.float64 if weights is not None else np.int64) for _ in range(order)],
                       np.empty(0, np.uint64))
    weights = None if weights is None else np.asarray(weights, dtype=np.float64) * weight_scale
    codes = _codes(names)
    counts = count_ngrams(vocabulary.encode((), codes=codes), order, vocabulary.size, weights, adjusted=False)
    return Partial(counts.keys, counts.counts, fingerprints_of_hashes(hash_code_points(codes)))


class _RunReader:
    """Sequential windows of one ``.npy`` run on disk, read with plain reads (no memory map)."""

    def __init__(self, path: Path):
        self.handle = open(path, "rb")
        if np.lib.format.read_magic(self.handle) == (1, 0):
            shape, _, self.dtype = np.lib.format.read_array_header_1_0(self.handle)
        else:
            shape, _, self.dtype = np.lib.format.read_array_header_2_0(self.handle)
        self.left = shape[0]

    def read(self, n: int) -> np.ndarray:
        n = min(n, self.left)
        self.left -= n
        return np.fromfile(self.handle, self.dtype, n)

    def close(self) -> None:
        self.handle.close()


def merge_runs(key_paths: list[Path], value_paths: list[Path] | None, window: int, out_dir: Path,
               dtype_keys=np.int64) -> tuple[np.ndarray, np.ndarray | None]:
    """``merge_runs_to_files`` into ``out_dir``, read back as arrays (the files removed)."""
    out_keys, out_values = out_dir / "merged-keys.bin", out_dir / "merged-values.bin"
    n_out, value_dtype = merge_runs_to_files(key_paths, value_paths, window, out_keys, out_values, dtype_keys)
    keys = np.fromfile(out_keys, dtype_keys, n_out)
    values = np.fromfile(out_values, value_dtype, n_out) if value_dtype is not None else None
    out_keys.unlink()
    out_values.unlink(missing_ok=True)
    return keys, values


def merge_runs_to_files(key_paths: list[Path], value_paths: list[Path] | None, window: int, out_keys: Path,
                        out_values: Path, dtype_keys=np.int64) -> tuple[int, np.dtype | None]:
    """k-way merge of sorted unique runs on disk into one sorted array (values added).

    Each step reads at most ``window`` more elements of each run, takes from every run the keys up
    to the smallest last-read key among the runs that have more on disk (every key at or below it
    is then in memory), merges those and appends them to a file; the result is read back at the end.
    """
    keys_in = [_RunReader(p) for p in key_paths]
    values_in = [_RunReader(p) for p in value_paths] if value_paths is not None else None
    buffers_k = [np.zeros(0, dtype_keys) for _ in keys_in]
    buffers_v = [np.zeros(0, r.dtype) for r in values_in] if values_in is not None else None
    n_out = 0
    value_dtype = np.result_type(*[r.dtype for r in values_in]) if values_in is not None else None
    with open(out_keys, "wb") as fk, open(out_values, "wb") as fv:
        while True:
            for i, reader in enumerate(keys_in):
                if len(buffers_k[i]) == 0 and reader.left:
                    buffers_k[i] = reader.read(window)
                    if values_in is not None:
                        buffers_v[i] = values_in[i].read(window)
            pending = [i for i, r in enumerate(keys_in) if r.left]
            if not pending and not any(len(b) for b in buffers_k):
                break
            cut = min(buffers_k[i][-1] for i in pending) if pending else None
            merged_k, merged_v = np.zeros(0, dtype_keys), (np.zeros(0, value_dtype) if values_in is not None else None)
            for i in range(len(keys_in)):
                take = len(buffers_k[i]) if cut is None else int(np.searchsorted(buffers_k[i], cut, side="right"))
                if take == 0:
                    continue
                part_v = buffers_v[i][:take] if values_in is not None else None
                merged_k, merged_v = merge_sorted(merged_k, merged_v, buffers_k[i][:take], part_v)
                buffers_k[i] = buffers_k[i][take:]
                if values_in is not None:
                    buffers_v[i] = buffers_v[i][take:]
            merged_k.tofile(fk)
            if merged_v is not None:
                merged_v.astype(value_dtype, copy=False).tofile(fv)
            n_out += len(merged_k)
    for reader in keys_in + (values_in or []):
        reader.close()
    return n_out, value_dtype


class _Spiller:
    """Holds the counts of the blocks read so far; writes them out as a run when too big.

    The blocks' counts are kept as a stack of partials merged only with one covering as many
    blocks (a binary counter): merging every block into one growing total would cost the size of
    the total per block.
    """

    def __init__(self, order: int, budget: Budget, folder: Path):
        self.order, self.budget, self.folder = order, budget, folder
        self.stack: list[tuple[int, Partial]] = []  # (blocks covered, their counts)
        self.runs = 0

    def add(self, part: Partial) -> None:
        blocks = 1
        while self.stack and self.stack[-1][0] == blocks:
            covered, top = self.stack.pop()
            part, blocks = top.merge(part), blocks + covered
        self.stack.append((blocks, part))
        if sum(p.nbytes for _, p in self.stack) > self.budget.run_bytes:
            self.spill()

    @property
    def current(self) -> Partial | None:
        """All the partials on the stack merged into one (smallest first)."""
        if not self.stack:
            return None
        part = self.stack.pop()[1]
        while self.stack:
            part = self.stack.pop()[1].merge(part)
        self.stack = [(0, part)]
        return part

    def _path(self, run: int, what: str) -> Path:
        return self.folder / f"run{run:05d}-{what}.npy"

    def spill(self) -> None:
        part = self.current
        if part is None:
            return
        for n in range(self.order):
            np.save(self._path(self.runs, f"keys{n + 1}"), part.keys[n], allow_pickle=False)
            np.save(self._path(self.runs, f"counts{n + 1}"), part.counts[n], allow_pickle=False)
        np.save(self._path(self.runs, "hashes"), part.hashes, allow_pickle=False)
        self.runs += 1
        self.stack = []

    def result(self) -> Partial:
        if self.runs == 0:
            return self.current
        self.spill()
        return self._merge(None)

    def result_on_disk(self, out: Path) -> tuple[list[int], np.dtype, int]:
        """The merged counts written to ``out``/keys{n}.bin and counts{n}.bin, and the sorted unique
        name hashes to ``out``/hashes.bin (raw arrays), rather than returned: (n-grams per order,
        the counts' type, how many hashes)."""
        if self.runs == 0:
            part = self.current
            if part is None:
                raise NgramError("no names to count")
            for n in range(1, self.order + 1):
                part.keys[n - 1].tofile(out / f"keys{n}.bin")
                part.counts[n - 1].tofile(out / f"counts{n}.bin")
            part.hashes.tofile(out / "hashes.bin")
            return [len(k) for k in part.keys], part.counts[0].dtype, len(part.hashes)
        self.spill()
        return self._merge(out)

    def _merge(self, out: Path | None):
        window = self.budget.window(self.runs)
        runs = range(self.runs)
        keys, counts, lengths, dtype = [], [], [], None
        for n in range(1, self.order + 1):
            key_paths = [self._path(r, f"keys{n}") for r in runs]
            count_paths = [self._path(r, f"counts{n}") for r in runs]
            if out is not None:
                length, dtype = merge_runs_to_files(key_paths, count_paths, window, out / f"keys{n}.bin", out / f"counts{n}.bin")
                k, c = None, None
                lengths.append(length)
            else:
                k, c = merge_runs(key_paths, count_paths, window, self.folder)
            for r in runs:  # free the disk as we go
                self._path(r, f"keys{n}").unlink()
                self._path(r, f"counts{n}").unlink()
            keys.append(k)
            counts.append(c)
        hash_paths = [self._path(r, "hashes") for r in runs]
        if out is not None:
            n_hashes, _ = merge_runs_to_files(hash_paths, None, window, out / "hashes.bin", self.folder / "unused.bin", np.uint64)
            return lengths, dtype, n_hashes
        hashes, _ = merge_runs(hash_paths, None, window, self.folder, np.uint64)
        return Partial(keys, counts, hashes)


def count_ngrams_streaming(source, order: int, vocabulary: Vocabulary, memory_bytes: "int | Budget" = DEFAULT_STREAMING_BYTES,
                           tmpdir: str | os.PathLike | None = None, progress: PROGRESS | None = None,
                           lowercase: bool = False, encoding: str = "utf-8",
                           max_name_length: int = DEFAULT_MAX_NAME_LENGTH, weighted: bool = False,
                           weight_scale: float = 1.0) -> tuple[Counts, np.ndarray]:
    """Counts of orders 1..order of a corpus file (or iterable of names) within a memory budget.

    Returns the same ``Counts`` as ``count_ngrams`` on the whole corpus, and the sorted unique
    name fingerprints (``model.name_fingerprints``). ``vocabulary`` must cover every character
    (``scan_corpus`` finds it). The final counts themselves must fit in memory; the budget covers
    the corpus and the counting work. ``weight_scale``: ``Scan.weight_scale`` of a weighted corpus.
    """
    with _spill_folder(tmpdir) as folder:
        part = _count_blocks(source, order, vocabulary, memory_bytes, folder, progress, lowercase, encoding,
                             max_name_length, weighted, weight_scale).result()
    if part is None:
        raise NgramError("no names to count")
    return Counts(order=order, vocab_size=vocabulary.size, keys=part.keys, counts=part.counts), part.hashes


def count_ngrams_to_disk(source, order: int, vocabulary: Vocabulary, memory_bytes: "int | str | Budget", out: Path,
                         progress: PROGRESS | None = None, lowercase: bool = False, encoding: str = "utf-8",
                         max_name_length: int = DEFAULT_MAX_NAME_LENGTH, weighted: bool = False):
    """``count_ngrams_streaming`` with the merged counts left on disk: ``out``/keys{n}.bin (int64)
    and counts{n}.bin, raw sorted arrays, so they never need to fit in memory, and the sorted
    unique name fingerprints to hashes.bin. Returns (n-grams per order, the counts' type, how
    many fingerprints)."""
    with _spill_folder(out) as folder:
        return _count_blocks(source, order, vocabulary, memory_bytes, folder, progress, lowercase, encoding,
                             max_name_length, weighted).result_on_disk(out)


@contextlib.contextmanager
def _spill_folder(parent):
    """A folder of ours for spilled runs inside ``parent`` (--tmpdir), removed afterwards; a full
    disk there is said as such (numpy's tofile reports a short write as "N requested and M
    written", with no errno)."""
    folder = Path(tempfile.mkdtemp(prefix="ngram-runs-", dir=parent))
    try:
        yield folder
    except OSError as exc:
        if exc.errno == errno.ENOSPC or "requested and" in str(exc):
            raise NgramError(f"no space left on device in --tmpdir {folder.parent} (the streaming engine spills sorted "
                             "counts there); free space or give --tmpdir a folder with more room") from None
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _count_blocks(source, order, vocabulary, memory_bytes, folder, progress, lowercase, encoding, max_name_length,
                  weighted, weight_scale: float = 1.0) -> "_Spiller":
    check_order(order, vocabulary.size)
    budget = Budget.of(memory_bytes)
    spiller = _Spiller(order, budget, folder)
    chunks = iter_name_chunks(source, budget.block_bytes_for(order), lowercase, encoding, max_name_length, progress=progress,
                              weighted=weighted)
    for names, _, weights in chunks:
        if names:
            spiller.add(count_partial(names, order, vocabulary, weights, weight_scale))
    return spiller


def finish_model(counts: Counts, hashes: np.ndarray, vocabulary: Vocabulary, scan: Scan, estimator=None,
                 prune: Sequence[int] | None = None, prune_entropy: float | None = None):
    """Estimate, prune and record the corpus exactly as ``training.train`` does in memory."""
    estimator = estimator if estimator is not None else default_estimator()
    model = prune_model(estimator.fit(counts, vocabulary), counts, prune, prune_entropy)
    return finish(model, scan.corpus_info(hashes))


def train_streaming(source, order: int = DEFAULT_ORDER, estimator=None, unk: bool = False, memory_bytes: "int | Budget" = DEFAULT_STREAMING_BYTES,
                    tmpdir: str | os.PathLike | None = None, progress: PROGRESS | None = None,
                    lowercase: bool = False, encoding: str = "utf-8", max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
                    prune: Sequence[int] | None = None, prune_entropy: float | None = None, weighted: bool = False):
    """``train(read_names(source).names, ...)`` without holding the corpus in memory.

    Returns the model (identical to the in-memory one) and the first pass's ``Scan`` (names,
    symbols, blank lines skipped).
    """
    budget = Budget.of(memory_bytes)
    scan = scan_corpus(source, budget.block_bytes, lowercase, encoding, max_name_length, tmpdir, progress, weighted,
                       budget.line_budget(order, encoding))
    try:
        vocabulary = Vocabulary(scan.characters, unk=unk)
        check_order(order, vocabulary.size)
        counts, hashes = count_ngrams_streaming(scan.copy or source, order, vocabulary, budget, tmpdir,
                                                progress, lowercase, encoding, max_name_length, weighted, scan.weight_scale)
    finally:
        if scan.copy is not None:
            scan.copy.unlink(missing_ok=True)
    return finish_model(counts, hashes, vocabulary, scan, estimator, prune, prune_entropy), scan
