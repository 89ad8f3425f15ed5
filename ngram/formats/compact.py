"""Compact model files: a back-off model in a bit-packed trie, loaded by memory-mapping the file.

Layout of a compact file (all integers little-endian):

    8 bytes   magic ``NGRAMCPT``
    8 bytes   length of the JSON header (uint64)
    header    JSON: format ``ngram-compact``, version, order, vocabulary, estimator, corpus,
              name_hash, quantisation, sizes, the array table {name: {dtype, shape, offset}}
              and (version 2) the field table {name: {width, count, ...}}
    arrays    each at a 64-byte-aligned offset, in the order of the table

The n-gram keys are implied by a trie, as in KenLM's trie format: order n (n >= 2) stores only
the last symbol of each n-gram (``last{n}``), and order n-1 stores how many children each of its
n-grams has in order n (``children{n-1}``); an n-gram's context is then the n-1-gram whose run of
children it falls in, so no context is stored per n-gram. The unigram level holds every symbol,
so its keys are implied too. A level whose n-grams' contexts are not all stored one order down
(possible after some pruning) keeps its packed keys instead (``keys{n}``).

Version 2 (written now) packs every field at its minimum width in bits, KenLM's ``-b`` idea: a
field is an array of uint64 words holding ``count`` values of ``width`` bits each, value i at
bits [i * width, (i + 1) * width) (one spare word at the end). Symbols take ceil(log2 V) bits,
child counts ceil(log2(most children + 1)), keys ceil(log2(largest + 1)). Probabilities
(``logp{n}``) and back-off weights (``bow{n}``) are float64 bit patterns split in two: the high
bits (sign, exponent and the top of the mantissa) as an index into the field's table of the
distinct high parts (``logp_table{n}``), the ``low`` bits kept as they are; the split is chosen
per field to make it smallest (``low`` = 0 is a codebook of whole values). Nothing is rounded:
every value comes back bit for bit, so a compact model scores exactly as the ordinary file. A
back-off weight is stored only for n-grams that are contexts (``select``: the n-grams with
children) when every other one is 0, and a level's weights are left out when all are 0. The
training names' fingerprints (sorted 64-bit hashes) are Elias-Fano coded: each hash's low bits
packed (``train_names_low``), its high bits as a unary bit vector (``train_names_high``).
Version 1 files (byte-wide symbols and counts, float64 values or uint8/uint16 codes into
float64 codebooks, plain uint64 fingerprints) still load.

Quantisation (``--quantise``) in the spirit of KenLM's ``-q``: probabilities and back-off
weights to 8 or 16 bits (see ``quantise``; 0 and -inf kept exact; unigram probabilities never
quantised, as in KenLM: their row has no back-off weight to renormalise it). After quantising
the probabilities the back-off weights are recomputed from the quantised values, so each
next-symbol vector still sums to 1 up to the rounding of the weights and of rows with nothing to
back off to (``tolerance`` gives the bound each setting is checked against when written).
Quantised values are codes into a table of the codebook's values (``low`` = 0), packed at
ceil(log2(codebook size)) bits. Any back-off model can be written; mixtures cannot.

Loading maps the file once (``mmap``, read-only) and every array is a view of the map: nothing
is copied at load. ``ngram.lm.backoff.model.Model`` reads sorted int64 keys and float64 values, so each
level rebuilds those lazily, on first use, from the mapped fields (a ``repeat`` and a
multiply-add per order for the keys, an unpacking and a table lookup per field for the values);
the fingerprints are decoded when first asked for. The header and every declared size are
checked against the file before anything is mapped; the fields' contents (symbols in range,
children summing to the next level's size, keys sorted, codes inside their table, probabilities
valid) are checked when a level is first rebuilt, before it answers anything. Declared sizes
are checked before anything is allocated (at most V^n n-grams of order n, at most V children a
context). Loading a file also checks that every distribution sums to 1, as for ordinary files,
from the lean automaton (``check_trie_distributions``: the cost of a first evaluation, nothing
kept); a model is only written after the bytes about to be written have been read back through
the same parser and its distributions checked.
"""

from __future__ import annotations

import io as _io
import json
import mmap
import os

import numpy as np

from ngram.core.counting import max_order_for
from ngram.core.errors import NgramError
from ngram.lm.backoff.model import NAME_HASH, FileModel, Level, Model
from ngram.lm.backoff.normalise import renormalise_backoffs
from ngram.lm.protocol import LEVELS
from ngram.formats.validate import TOLERANCE, check_distributions, check_trie_distributions
from ngram.core.vocabulary import Vocabulary

MAGIC = b"NGRAMCPT"
FORMAT = "ngram-compact"
VERSION = 2
READABLE_VERSIONS = (1, 2)
ALIGN = 64
MAX_HEADER = 1 << 24  # 16 MiB of JSON: far beyond any vocabulary and array table
QUANTISATION_BITS = (8, 16)
# Share of a quantised level's codes on equal-count bins, the rest on an even grid. At 8 bits, 0.5
# costs +0.0009 nats/symbol on the English test split and +0.0057 on the word list (order 6); 0.75
# costs +0.0027 and +0.0043: held-out text decides.
EQUAL_COUNT_SHARE = 0.5
_DTYPES = {name: np.dtype(name).newbyteorder("<") for name in ("uint8", "uint16", "uint32", "uint64", "int64", "float64")}
_PREFIX = len(MAGIC) + 8
_CHUNK = 1 << 16  # values packed or unpacked at a time: a few MB of temporaries for any level
_SPLITS = (*range(1, 41), 64)  # high bits of a float64 tried as a table index (64: a codebook of whole values)


def is_compact(head: bytes) -> bool:
    """Whether the first bytes of a file are a compact model file's."""
    return head[: len(MAGIC)] == MAGIC


def _narrow(limit: int):
    """The smallest unsigned dtype that holds every integer below ``limit``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if limit <= np.iinfo(dtype).max + 1:
            return dtype
    return np.uint64


# ----- bit packing -------------------------------------------------------------------------
def bits_for(limit: int) -> int:
    """The number of bits that hold every integer below ``limit`` (at least 1)."""
    return max(1, (int(limit) - 1).bit_length())


def words_for(count: int, width: int) -> int:
    """uint64 words holding ``count`` values of ``width`` bits, plus one spare word so that
    reading a value's next word never runs off the end."""
    return (count * width + 63) // 64 + 1


def pack(values: np.ndarray, width: int) -> np.ndarray:
    """``values`` (each below 2**width) packed into uint64 words, ``width`` bits each."""
    values = np.asarray(values)
    words = np.zeros(words_for(len(values), width), np.uint64)
    w = np.uint64(width)
    for lo in range(0, len(values), _CHUNK):
        v = values[lo : lo + _CHUNK].astype(np.uint64)
        position = np.arange(lo, lo + len(v), dtype=np.uint64) * w
        index = (position >> np.uint64(6)).astype(np.intp)
        offset = position & np.uint64(63)
        np.bitwise_or.at(words, index, v << offset)  # the fields never overlap: OR places them
        spill = np.flatnonzero(offset + w > np.uint64(64))  # the value runs on into the next word
        np.bitwise_or.at(words, index[spill] + 1, v[spill] >> (np.uint64(64) - offset[spill]))
    return words


def unpack_at(words: np.ndarray, width: int, index: np.ndarray) -> np.ndarray:
    """The packed values at positions ``index`` (uint64)."""
    position = np.asarray(index).astype(np.uint64) * np.uint64(width)
    word = (position >> np.uint64(6)).astype(np.intp)
    offset = position & np.uint64(63)
    value = words[word] >> offset
    high = words[word + 1] << ((np.uint64(64) - offset) & np.uint64(63))
    high[offset == 0] = 0  # a value that starts a word has nothing in the next one
    value |= high
    if width < 64:
        value &= np.uint64((1 << width) - 1)
    return value


def unpack(words: np.ndarray, width: int, count: int, dtype=None) -> np.ndarray:
    """All ``count`` packed values, unpacked a chunk at a time into the smallest unsigned type
    that holds ``width`` bits (or ``dtype``)."""
    out = np.empty(count, dtype or _narrow(1 << width))
    for lo in range(0, count, _CHUNK):
        hi = min(lo + _CHUNK, count)
        out[lo:hi] = unpack_at(words, width, np.arange(lo, hi))
    return out


def split_floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Lossless packing of float64 values: (codes, table, low) with each value's bit pattern
    = table[code >> low] << low | (code & (2**low - 1)), choosing the split that makes
    count * (index bits + low) + 64 * len(table) smallest."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    ordered = np.sort(bits)
    best = None
    for high in _SPLITS:
        low = 64 - high
        tops = ordered >> np.uint64(low)
        distinct = 1 + int(np.count_nonzero(tops[1:] != tops[:-1])) if len(tops) else 1
        size = len(bits) * (bits_for(distinct) + low) + 64 * distinct
        if best is None or size < best[0]:
            best = (size, low)
    low = best[1]
    tops = ordered >> np.uint64(low)
    table = tops[np.concatenate(([True], tops[1:] != tops[:-1]))] if len(tops) else np.zeros(1, np.uint64)
    codes = np.searchsorted(table, bits >> np.uint64(low)).astype(np.uint64) << np.uint64(low)
    if low:
        codes |= bits & np.uint64((1 << low) - 1)
    return codes, table, low


def unpack_floats(words: np.ndarray, width: int, count: int, table: np.ndarray, low: int, damaged, out=None) -> np.ndarray:
    """The float64 values of packed ``split_floats`` codes, a chunk at a time (into ``out`` if given)."""
    out = np.empty(count) if out is None else out
    for lo in range(0, count, _CHUNK):
        hi = min(lo + _CHUNK, count)
        out[lo:hi] = join_floats(unpack_at(words, width, np.arange(lo, hi)), table, low, damaged)
    return out


def join_floats(codes: np.ndarray, table: np.ndarray, low: int, damaged) -> np.ndarray:
    """The float64 values of ``split_floats``'s codes (``damaged(what)`` makes the error for a
    code outside its table)."""
    index = codes >> np.uint64(low)
    if len(index) and int(index.max()) >= len(table):
        raise damaged("codes are outside their codebook")
    bits = table[index.astype(np.intp)]
    if low:
        bits <<= np.uint64(low)
        bits |= codes & np.uint64((1 << low) - 1)
    return bits.view(np.float64)


# ----- quantisation ------------------------------------------------------------------------
def quantise(values: np.ndarray, bits: int, grid: str = "probability") -> tuple[np.ndarray, np.ndarray]:
    """Codes (uint8/uint16) and a codebook of at most 2**bits float64 entries for ``values``.

    Exact when there are at most 2**bits distinct values; otherwise 0 and non-finite values keep
    codes of their own and each other value takes the nearest (in the log domain) of the codes:
    half on equal-count bins (their means), half on an even grid: of probabilities
    (``grid="probability"``, for log probabilities) or of logs (``"log"``, for back-off weights,
    which can exceed 1 by far: an even log grid bounds their relative error).
    The codebook holds only the codes used (at most 2**bits entries).
    """
    size = 1 << bits
    dtype = np.uint8 if bits == 8 else np.uint16
    values = np.asarray(values, dtype=np.float64)
    distinct = np.unique(values)
    if len(distinct) <= size:
        return np.searchsorted(distinct, values).astype(dtype), distinct
    special = distinct[~np.isfinite(distinct) | (distinct == 0.0)]
    ordinary = np.sort(values[np.isfinite(values) & (values != 0.0)])
    # Some codes on equal-count bins in the log domain (each its mean), fine where most values
    # are; the rest on an even grid, fine where the mass is (see EQUAL_COUNT_SHARE).
    bins = int((size - len(special)) * EQUAL_COUNT_SHARE)
    cuts = np.unique(np.searchsorted(ordinary, ordinary[(np.arange(1, bins) * len(ordinary)) // bins], side="left"))
    starts = np.concatenate(([0], cuts[(cuts > 0) & (cuts < len(ordinary))]))
    means = np.add.reduceat(ordinary, starts) / np.diff(np.append(starts, len(ordinary)))
    points = size - len(special) - len(means)
    if grid == "probability":
        grid = np.log(np.linspace(np.exp(ordinary[0]), np.exp(ordinary[-1]), points))
    else:
        grid = np.linspace(ordinary[0], ordinary[-1], points)
    book = np.unique(np.concatenate((special, means, grid[np.isfinite(grid) & (grid != 0.0)])))
    finite = np.flatnonzero(np.isfinite(book) & (book != 0.0))
    middles = (book[finite[1:]] + book[finite[:-1]]) / 2
    codes = np.empty(len(values), np.int64)
    plain = np.isfinite(values) & (values != 0.0)
    codes[plain] = finite[np.searchsorted(middles, values[plain])]  # the nearest code, in the log domain
    codes[~plain] = np.searchsorted(book, values[~plain])
    return codes.astype(dtype), book


def _fit_rows(values: np.ndarray, codes: np.ndarray, book: np.ndarray, contexts: np.ndarray):
    """Codes whose probabilities leave some mass to back off in every row (``contexts``: each
    value's context, sorted): in a row that rounding to the nearest code would fill (1 - 1e-6
    or more), every value takes the largest code not above it instead."""
    first = np.concatenate(([True], contexts[1:] != contexts[:-1]))
    owner = np.cumsum(first) - 1
    seen = np.bincount(owner, weights=np.exp(book[codes]))
    full = (seen >= 1.0 - 1e-9)[owner]
    if full.any():
        codes = codes.copy()
        floor = np.maximum(np.searchsorted(book, values[full], side="right") - 1, 0)
        codes[full] = floor.astype(codes.dtype)
    return codes, book


def elias_fano(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Sorted uint64 values as (packed low bits, unary bit vector of the high bits, low width):
    about 2 + 64 - log2(count) bits a value instead of 64."""
    count = len(values)
    high_bits = max(1, count.bit_length() - 1)  # about as many buckets as values
    low = 64 - high_bits
    values = np.asarray(values, dtype=np.uint64)
    marks = np.zeros(count + (1 << high_bits), np.uint8)
    marks[(values >> np.uint64(low)).astype(np.int64) + np.arange(count)] = 1
    return pack(values & np.uint64((1 << low) - 1), low), np.packbits(marks, bitorder="little"), low


def elias_fano_values(low_words: np.ndarray, high: np.ndarray, low: int, count: int, damaged) -> np.ndarray:
    """The values ``elias_fano`` coded."""
    length = count + (1 << (64 - low))
    if len(high) != (length + 7) // 8:
        raise damaged("training-name fingerprints are damaged")
    where = np.flatnonzero(np.unpackbits(high, count=length, bitorder="little"))
    if len(where) != count:
        raise damaged("training-name fingerprints are damaged")
    values = (where - np.arange(count)).astype(np.uint64) << np.uint64(low)
    values |= unpack(low_words, low, count, np.uint64)
    return values


# ----- writing -----------------------------------------------------------------------------
def to_bytes(model, logp_bits: int | None = None, bow_bits: int | None = None) -> bytes:
    """The compact file of a back-off model, checked by reading it back."""
    for what, bits in (("probability", logp_bits), ("back-off weight", bow_bits)):
        if bits is not None and bits not in QUANTISATION_BITS:
            raise NgramError(f"{what} quantisation must be 8 or 16 bits, got {bits}")
    if LEVELS not in model.capabilities:
        raise NgramError(f"the compact format holds a back-off model, not a {model.kind} model; save it without --compact")
    levels = _quantised_levels(model, logp_bits)
    fields = _Fields()
    children = fields.put_structure(levels, model.V)
    fields.put_values(levels, children, logp_bits, bow_bits)
    if model.train_names is not None:
        low_words, high, low = elias_fano(model.train_names)
        fields.arrays["train_names_low"], fields.arrays["train_names_high"] = low_words, high
        fields.fields["train_names"] = {"count": len(model.train_names), "low": low}
    header = {"format": FORMAT, "version": VERSION, "order": model.order, "vocabulary": model.vocabulary.to_json(),
              "estimator": model.estimator, "corpus": model.corpus, "name_hash": NAME_HASH,
              "quantisation": {"logp_bits": logp_bits, "bow_bits": bow_bits}, "sizes": [len(lv) for lv in levels],
              "fields": fields.fields}
    data = _laid_out(header, fields.arrays)
    try:
        check_distributions(parse(memoryview(data), "the compact model"), "the compact model", tolerance(logp_bits, bow_bits))
    except NgramError as exc:
        hint = "; quantise less (16 bits, or 8,16)" if logp_bits or bow_bits else ""
        raise NgramError(f"{exc}{hint}; not saved") from None
    return data


def _quantised_levels(model, logp_bits: int | None) -> list[Level]:
    """The levels to store: the model's, or with probabilities quantised to ``logp_bits`` and the
    back-off weights renormalised to them."""
    V = model.V
    levels = [Level(lv.keys, lv.logp, lv.bow) for lv in model.levels]
    if logp_bits is not None:
        working = Model(vocabulary=model.vocabulary, order=model.order, levels=levels)
        for lv in levels[1:]:  # unigrams stay exact, as in KenLM: their row has no weight to renormalise it
            codes, book = _fit_rows(lv.logp, *quantise(lv.logp, logp_bits), lv.keys // V)
            lv.logp = book[codes]
        renormalise_backoffs(working)
    return levels


class _Fields:
    """The packed arrays of a compact file and their descriptions for its header."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.fields: dict[str, dict] = {}

    def put(self, name: str, values: np.ndarray, width: int, **meta) -> None:
        self.arrays[name] = pack(values, width)
        self.fields[name] = {"width": width, "count": len(values), **meta}

    def put_floats(self, kind: str, n: int, values: np.ndarray, bits: int | None, **meta) -> None:
        if bits is not None:  # quantised values, then stored as any values are (the codebook form is one of the splits tried)
            codes, book = quantise(values, bits, "probability" if kind == "logp" else "log")
            values = book[codes]
        codes, table, low = split_floats(values)
        self.arrays[f"{kind}_table{n}"] = table
        self.put(f"{kind}{n}", codes, bits_for(len(table)) + low, low=low, table=f"{kind}_table{n}", **meta)

    def put_structure(self, levels: list[Level], V: int) -> dict[int, np.ndarray]:
        """The trie: children counts per context and each n-gram's last symbol where every
        context is stored (else the keys themselves). Returns the children counts by order."""
        children: dict[int, np.ndarray] = {}
        for n, lv in enumerate(levels, start=1):
            if n == 1:
                if not np.array_equal(lv.keys, np.arange(V)):
                    raise NgramError("the unigram level must hold every symbol")
                continue
            contexts = lv.keys // V
            below = levels[n - 2].keys
            index = np.minimum(np.searchsorted(below, contexts), max(len(below) - 1, 0))
            if len(below) and np.array_equal(below[index], contexts):
                children[n - 1] = np.bincount(index, minlength=len(below))
                self.put(f"children{n - 1}", children[n - 1], bits_for(int(children[n - 1].max()) + 1))
                self.put(f"last{n}", lv.keys % V, bits_for(V))
            else:
                self.put(f"keys{n}", lv.keys, bits_for(int(lv.keys.max(initial=0)) + 1))
        return children

    def put_values(self, levels: list[Level], children: dict[int, np.ndarray], logp_bits: int | None,
                   bow_bits: int | None) -> None:
        """Probabilities and back-off weights (weights only where some are not +0.0, and only for
        the n-grams that are contexts where the others are all +0.0)."""
        for n, lv in enumerate(levels, start=1):
            self.put_floats("logp", n, lv.logp, None if n == 1 else logp_bits)
            bow = np.ascontiguousarray(lv.bow, dtype=np.float64).view(np.uint64)
            if not bow.any():
                continue  # every weight is +0.0: left out
            if n in children and not bow[children[n] == 0].any():  # weights only where the n-gram is a context
                self.put_floats("bow", n, lv.bow[children[n] > 0], bow_bits, select=f"children{n}")
            else:
                self.put_floats("bow", n, lv.bow, bow_bits)


def _laid_out(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Magic, header length, the JSON header with each array's offset, then the aligned arrays."""
    # Offsets depend on the header's length, which depends on the offsets: settle on a fixed point.
    table: dict[str, dict] = {}
    start = 0
    for _ in range(4):
        text = json.dumps({**header, "arrays": table}).encode("ascii")
        offset = _align(_PREFIX + len(text))
        if offset == start and table:
            break
        start = offset
        table = {}
        for name, array in arrays.items():
            table[name] = {"dtype": array.dtype.name, "shape": list(array.shape), "offset": offset}
            offset = _align(offset + array.nbytes)
    buffer = _io.BytesIO()
    buffer.write(MAGIC + len(text).to_bytes(8, "little") + text)
    for name, array in arrays.items():
        buffer.write(b"\0" * (table[name]["offset"] - buffer.tell()))
        buffer.write(array.astype(_DTYPES[array.dtype.name], copy=False).tobytes())
    return buffer.getvalue()


def tolerance(logp_bits: int | None, bow_bits: int | None) -> float:
    """How far from 1 a quantised model's next-symbol sums may be (checked when it is written):
    the coarser of the two quantisations decides."""
    return max({None: TOLERANCE, 16: 0.01, 8: 0.1}[bits] for bits in (logp_bits, bow_bits))


def _align(offset: int) -> int:
    return -(-offset // ALIGN) * ALIGN


def is_model_file(head: bytes) -> bool:
    """Whether a file's first bytes are an ngram model file's, of either format (ordinary files
    are zip archives), so a save may replace it."""
    return is_compact(head) or head.startswith(b"PK\x03\x04")


# ----- reading -----------------------------------------------------------------------------
def load_open(handle, label: str) -> Model:
    """Map a compact file already open (``ngram.formats.native.load`` opens and checks it once) and return a
    ``Model`` over views of the map (nothing copied); the map outlives the handle."""
    size = os.fstat(handle.fileno()).st_size
    if size < _PREFIX:
        raise NgramError(f"{label}: truncated compact model file ({size} bytes)")
    try:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise NgramError(f"{label}: cannot map the model file ({getattr(exc, 'strerror', None) or exc})") from None
    model = parse(memoryview(mapped), label, mapped)
    quantised = model.compact["quantisation"]
    # a file can be well formed and still not sum to 1 (within what its quantisation allows)
    check_trie_distributions(model, label, tolerance(quantised.get("logp_bits"), quantised.get("bow_bits")))
    model.release()
    return model


def parse(buffer: memoryview, label: str, mapped: mmap.mmap | None = None) -> Model:
    """The model in a compact file's bytes (a map or a bytes object), its arrays views of them."""
    size = len(buffer)
    if size < _PREFIX or bytes(buffer[: len(MAGIC)]) != MAGIC:
        raise NgramError(f"{label}: not a compact ngram model file")
    length = int.from_bytes(bytes(buffer[len(MAGIC) : _PREFIX]), "little")
    if length > min(MAX_HEADER, size - _PREFIX):
        raise NgramError(f"{label}: compact header declares {length} bytes but the file holds {size - _PREFIX}; the file is damaged")
    try:
        header = json.loads(bytes(buffer[_PREFIX : _PREFIX + length]).decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise NgramError(f"{label}: compact header is not valid JSON; the file is damaged") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise NgramError(f"{label}: not a compact ngram model file")
    version = header.get("version")
    if version not in READABLE_VERSIONS:
        raise NgramError(f"{label}: compact format version {version!r} is not supported (this ngram reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))})")
    try:
        vocabulary = Vocabulary.from_json(header["vocabulary"])
        order = header["order"]
        sizes = header["sizes"]
        quant = header["quantisation"]
        fields = header.get("fields", {}) if version >= 2 else None
        if not isinstance(order, int) or isinstance(order, bool) or order < 1 or not isinstance(quant, dict):
            raise ValueError
        if not isinstance(sizes, list) or len(sizes) != order or not all(type(s) is int and s >= 0 for s in sizes):
            raise ValueError
        if fields is not None and not isinstance(fields, dict):
            raise ValueError
    except (KeyError, TypeError, ValueError, NgramError):
        raise NgramError(f"{label}: compact header has a bad vocabulary, order or sizes; the file is damaged") from None
    V = vocabulary.size
    if order > max_order_for(V):
        raise NgramError(f"{label}: order {order} is too high for its vocabulary; the file is damaged")
    if sizes[0] != V:
        raise NgramError(f"{label}: the unigram level must hold every symbol; the file is damaged")
    for n in range(2, order + 1):  # before anything is allocated for them: at most V^n can exist
        if sizes[n - 1] > V**n:
            raise NgramError(f"{label}: order {n} declares {sizes[n - 1]:,} n-grams, more than the {V**n:,} "
                             f"that {V} symbols can make; the file is damaged")
    arrays = _map_arrays(buffer, header.get("arrays"), _PREFIX + length, label)
    for kind in ("logp", "bow"):
        if quant.get(f"{kind}_bits") not in QUANTISATION_BITS + (None,):
            raise NgramError(f"{label}: compact header has a bad quantisation; the file is damaged")
    read = _Version2(arrays, fields, label) if fields is not None else _Version1(arrays, label)
    levels: list[Level] = []
    for n in range(1, order + 1):
        count = sizes[n - 1]
        if n > 1 and read.has(f"last{n}") and count > sizes[n - 2] * V:
            raise NgramError(f"{label}: order {n} declares {count:,} n-grams, more than its {sizes[n - 2]:,} "
                             f"contexts can have; the file is damaged")
        logp = read.floats("logp", n, count)
        bow = read.floats("bow", n, count) if read.has(f"bow{n}") else None
        if n == 1:
            structure = ("implied",)
        elif read.has(f"last{n}"):
            structure = ("trie", read.ints(f"children{n - 1}", sizes[n - 2]), read.ints(f"last{n}", count))
        else:
            structure = ("keys", read.ints(f"keys{n}", count))
        levels.append(CompactLevel(n, V, count, structure, logp, bow, levels[-1] if levels else None, label))
    for n, level in enumerate(levels, start=1):  # weights kept only for the n-grams with children
        if read.select(f"bow{n}", n, order) is not None:
            if levels[n]._structure[0] != "trie":
                raise NgramError(f"{label}: field bow{n} selects children{n}, which order {n + 1} does not store; the file is damaged")
            level._bow_children = levels[n]._structure[1]
    model = CompactModel(vocabulary=vocabulary, order=order, levels=levels, estimator=header.get("estimator") or {},
                         corpus=header.get("corpus") or {})
    names = read.train_names()
    if header.get("name_hash") == NAME_HASH and names is not None:
        model.__dict__["_read_names"] = names
    model.compact = describe_fields(header, arrays, size)
    model._compact_arrays, model._map = arrays, mapped  # the views of the file, and the map they view (None: bytes)
    return model


def describe_fields(header: dict, arrays: dict, size: int) -> dict:
    """What ``ngram info`` says of a compact file: version, quantisation, and each field's width in bits."""
    out = {"version": header["version"], "quantisation": header["quantisation"], "bytes": size}
    fields = header.get("fields")
    if fields is not None:
        out["widths"] = {name: meta["width"] for name, meta in fields.items() if "width" in meta}
    else:
        out["widths"] = {name: array.dtype.itemsize * 8 for name, array in arrays.items() if "codebook" not in name}
    return out


class _Version1:
    """Sources of a version-1 file: plain arrays (symbols, counts, keys), float64 values or codes
    into float64 codebooks, plain uint64 fingerprints."""

    UNSIGNED = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
    WIDTHS = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}

    def __init__(self, arrays, label):
        self.arrays, self.label = arrays, label

    def has(self, name: str) -> bool:
        return name in self.arrays

    def need(self, name: str, shape: int, dtypes) -> np.ndarray:
        array = self.arrays.get(name)
        if array is None:
            raise NgramError(f"{self.label}: array {name} is missing; the file is damaged")
        if array.dtype not in dtypes or len(array) != shape:
            raise NgramError(f"{self.label}: array {name} has the wrong type or length; the file is damaged")
        return array

    def ints(self, name: str, count: int):
        array = self.need(name, count, self.UNSIGNED + ((np.dtype(np.int64),) if name.startswith("keys") else ()))
        return lambda damaged: array

    def floats(self, kind: str, n: int, count: int):
        book = self.arrays.get(f"{kind}_codebook{n}")
        values = self.need(f"{kind}{n}", count, tuple(self.WIDTHS) if book is not None else (np.dtype(np.float64),))
        if book is None:
            return lambda damaged, out=None: values if out is None else np.copyto(out, values) or out
        if book.dtype != np.float64 or not 0 < len(book) <= 1 << self.WIDTHS[values.dtype]:
            raise NgramError(f"{self.label}: codebook {kind}_codebook{n} is malformed; the file is damaged")

        def decode(damaged, out=None):
            if len(values) and int(values.max()) >= len(book):
                raise damaged(f"{kind} codes are outside their codebook")
            return np.take(book, values, out=out)
        return decode

    def select(self, name: str, n: int, order: int):
        return None

    def train_names(self):
        names = self.arrays.get("train_names")
        if names is not None and (names.dtype != np.uint64 or names.ndim != 1):
            raise NgramError(f"{self.label}: array train_names has the wrong type; the file is damaged")
        return None if names is None else (lambda: names)


class _Version2(_Version1):
    """Sources of a version-2 file: bit-packed fields (see the module docstring)."""

    def __init__(self, arrays, fields, label):
        super().__init__(arrays, label)
        self.fields = fields

    def has(self, name: str) -> bool:
        return name in self.fields

    def _field(self, name: str, count: int | None):
        meta = self.fields.get(name)
        if meta is None:
            raise NgramError(f"{self.label}: array {name} is missing; the file is damaged")
        try:
            width, stored = meta["width"], meta["count"]
            if not all(type(v) is int for v in (width, stored)) or not 1 <= width <= 64 or stored < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise NgramError(f"{self.label}: field {name} is badly declared; the file is damaged") from None
        if count is not None and stored != count:
            raise NgramError(f"{self.label}: array {name} has the wrong type or length; the file is damaged")
        words = self.need(name, words_for(stored, width), (np.dtype(np.uint64),))
        return meta, words, width, stored

    def ints(self, name: str, count: int):
        _, words, width, count = self._field(name, count)
        return lambda damaged: unpack(words, width, count)

    def floats(self, kind: str, n: int, count: int):
        name = f"{kind}{n}"
        meta = self.fields.get(name)
        selected = isinstance(meta, dict) and meta.get("select") is not None
        meta, words, width, stored = self._field(name, None if selected else count)
        low, table_name = meta.get("low"), meta.get("table")
        table = self.arrays.get(table_name) if isinstance(table_name, str) else None
        if type(low) is not int or not 0 <= low < width or table is None or table.dtype != np.uint64 \
                or not 0 < len(table) <= 1 << (width - low) or stored > count:
            raise NgramError(f"{self.label}: table of {name} is malformed; the file is damaged")
        return lambda damaged, out=None: unpack_floats(words, width, stored, table, low, damaged, out)

    def select(self, name: str, n: int, order: int):
        meta = self.fields.get(name)
        if not isinstance(meta, dict) or meta.get("select") is None:
            return None
        if meta["select"] != f"children{n}" or not self.has(f"children{n}") or n >= order:
            raise NgramError(f"{self.label}: field {name} selects {meta['select']!r}; the file is damaged")
        return meta["select"]

    def train_names(self):
        meta = self.fields.get("train_names")
        if meta is None:
            return None
        try:
            count, low = meta["count"], meta["low"]
            if not all(type(v) is int for v in (count, low)) or count < 0 or not 1 <= low <= 63:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise NgramError(f"{self.label}: field train_names is badly declared; the file is damaged") from None
        low_words = self.need("train_names_low", words_for(count, low), (np.dtype(np.uint64),))
        high = self.arrays.get("train_names_high")
        if high is None or high.dtype != np.uint8:
            raise NgramError(f"{self.label}: array train_names_high is missing; the file is damaged")
        label = self.label
        return lambda: elias_fano_values(low_words, high, low, count,
                                         lambda what: NgramError(f"{label}: {what}; the file is damaged"))


class CompactModel(FileModel):
    """A back-off model over a compact file (its training-name fingerprints decoded from it when
    first asked for, as ``FileModel``'s)."""

    def trie_level(self, n: int, logp_out: np.ndarray | None = None):
        """Order ``n`` as its trie gives it, decoded afresh and checked, without making (or
        keeping) the level's int64 keys: (child counts of each (n-1)-gram, or None at order 1;
        last symbol of each n-gram; ln p; back-off weights), or None for a level stored by its
        keys. Back-off weights are None where the file stores none (all 0). ``logp_out``: where
        to decode the probabilities. The pages of the file read for it are given back afterwards
        (``release``)."""
        level = self.levels[n - 1]
        kind = level._structure[0]
        if kind == "keys":
            return None
        try:
            bow = (lambda: level._values(level._bow_src, "bow")) if level._bow_src is not None else (lambda: None)
            if kind == "implied":
                return None, np.arange(self.V), level._values(level._logp_src, "logp", logp_out), bow()
            children, last = (source(level._damaged) for source in level._structure[1:])
            if int(children.sum(dtype=np.uint64)) != len(level):
                raise level._damaged("child counts do not add up to the n-grams stored")
            if len(last) and int(last.max()) >= self.V:
                raise level._damaged("symbols are out of range")
            follows = np.ones(len(last), bool)  # whether an n-gram has an elder sibling just before it
            runs = np.cumsum(children[children > 0]) - children[children > 0]
            follows[runs[runs < len(last)]] = False
            if not (last[1:] > last[:-1])[follows[1:]].all():
                raise level._damaged("n-grams are not sorted")
            return children, last, level._values(level._logp_src, "logp", logp_out), bow()
        finally:
            self.release()

    def release(self) -> None:
        """Give the file's pages back to the system (they stay in its page cache): what was read
        of the map stops counting in this process's memory, and is read again if needed."""
        if self._map is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)


def _map_arrays(buffer: memoryview, table, data_start: int, label: str) -> dict[str, np.ndarray]:
    """Read-only views of the declared arrays, each checked to lie inside the file, aligned, not overlapping."""
    if not isinstance(table, dict):
        raise NgramError(f"{label}: compact header has no array table; the file is damaged")
    spans, out = [], {}
    for name, entry in table.items():
        try:
            dtype = _DTYPES[entry["dtype"]]
            (length,) = entry["shape"]
            offset = entry["offset"]
            if not all(type(v) is int and v >= 0 for v in (length, offset)):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise NgramError(f"{label}: array {name!r} is badly declared; the file is damaged") from None
        nbytes = length * dtype.itemsize
        if offset % ALIGN or offset < data_start or offset + nbytes > len(buffer):
            raise NgramError(f"{label}: array {name!r} declares {nbytes} bytes at offset {offset} but the file holds {len(buffer)}; the file is damaged")
        spans.append((offset, offset + nbytes, name))
        out[name] = np.frombuffer(buffer, dtype=dtype, count=length, offset=offset) if length else np.zeros(0, dtype)
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise NgramError(f"{label}: arrays {first!r} and {second!r} overlap; the file is damaged")
    return out


class CompactLevel(Level):
    """One order of a compact model: keys, log probabilities and back-off weights rebuilt from the
    mapped fields on first use (and checked then). Each source is a function of the error maker
    that returns the decoded array (for version-1 files, often the mapped array itself)."""

    def __init__(self, n, V, count, structure, logp, bow, below, label):
        self.n, self.V, self._count, self._structure, self._logp_src, self._bow_src = n, V, count, structure, logp, bow
        self._below, self._label = below, label
        self._bow_children = None  # the next order's child counts, when weights are kept only for contexts
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"CompactLevel(order {self.n}, {self._count} n-grams)"

    def _damaged(self, what: str) -> NgramError:
        return NgramError(f"{self._label}: order-{self.n} {what}; the file is damaged")

    def _keys(self) -> np.ndarray:
        kind = self._structure[0]
        if kind == "implied":
            return np.arange(self.V, dtype=np.int64)
        if kind == "trie":
            children, last = (source(self._damaged) for source in self._structure[1:])
            if int(children.sum(dtype=np.uint64)) != self._count:
                raise self._damaged("child counts do not add up to the n-grams stored")
            if len(last) and int(last.max()) >= self.V:
                raise self._damaged("symbols are out of range")
            keys = np.repeat(self._below.keys, children.astype(np.intp, copy=False))
            keys *= self.V  # in place: one int64 array at a time
            keys += last
        else:
            keys = self._structure[1](self._damaged).astype(np.int64)
            if len(keys) and (keys[0] < 0 or keys[-1] >= self.V**self.n):
                raise self._damaged("n-gram keys are out of range")
        if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():
            raise self._damaged("n-grams are not sorted")
        return keys

    def _values(self, source, kind: str, out: np.ndarray | None = None) -> np.ndarray:
        """The level's probabilities or weights, decoded and checked (into ``out`` if given)."""
        if source is None:
            return np.zeros(self._count)
        values = source(self._damaged, out if kind == "logp" else None)
        if kind == "bow" and self._bow_children is not None:
            contexts = self._bow_children(self._damaged) > 0
            if len(contexts) != self._count or int(np.count_nonzero(contexts)) != len(values):
                raise self._damaged("back-off weights do not match the contexts stored")
            full = np.zeros(self._count)
            full[contexts] = values
            values = full
        if kind == "logp" and (np.isnan(values).any() or (values > 1e-9).any()):
            raise self._damaged("probabilities are not valid (NaN, or above 1)")
        if kind == "bow" and (np.isnan(values).any() or np.isposinf(values).any()):
            raise self._damaged("back-off weights are not valid")
        return values

    def _get(self, kind: str) -> np.ndarray:
        if kind not in self._cache:
            if kind == "keys":
                self._cache[kind] = self._keys()
            else:
                self._cache[kind] = self._values(self._logp_src if kind == "logp" else self._bow_src, kind)
        return self._cache[kind]

    def _set(kind):
        def setter(self, value):
            self._cache[kind] = value
        return setter

    keys = property(lambda self: self._get("keys"), _set("keys"))
    logp = property(lambda self: self._get("logp"), _set("logp"))
    bow = property(lambda self: self._get("bow"), _set("bow"))
    del _set
