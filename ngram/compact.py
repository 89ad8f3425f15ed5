"""Compact model files: a back-off model in a trie, loaded by memory-mapping the file.

Layout of a compact file (all integers little-endian):

    8 bytes   magic ``NGRAMCPT``
    8 bytes   length of the JSON header (uint64)
    header    JSON: format ``ngram-compact``, version, order, vocabulary, estimator, corpus,
              name_hash, quantisation, and the array table {name: {dtype, shape, offset}}
    arrays    each at a 64-byte-aligned offset, in the order of the table

The n-gram keys are implied by a trie, as in KenLM's trie format: order n (n >= 2) stores only
the last symbol of each n-gram (``last{n}``, uint8 while V <= 256), and order n-1 stores how many
children each of its n-grams has in order n (``children{n-1}``, uint8 while V <= 255); an
n-gram's context is then the n-1-gram whose run of children it falls in. The unigram level holds
every symbol, so its keys are implied too. A level whose n-grams' contexts are not all stored
one order down (possible after some pruning) keeps its packed keys instead (``keys{n}``, uint32
where they fit). Probabilities (``logp{n}``) and back-off weights (``bow{n}``, left out where all
zero) are float64 values, or codes (uint8/uint16) into a per-order codebook (``logp_codebook{n}``,
``bow_codebook{n}``): losslessly, the level's distinct values, wherever that is smaller; or
quantised to 8 or 16 bits in the spirit of KenLM's ``-q``/``-b`` (see ``quantise``; 0 and -inf
kept exact; unigram probabilities never quantised, as in KenLM: their row has no back-off weight
to renormalise it). After quantising the probabilities the back-off weights are recomputed from
the quantised values, so each next-symbol vector still sums to 1 up to the rounding of the
weights and of rows with nothing to back off to (``tolerance`` gives the bound each setting is
checked against when written). Any back-off model can be written; mixtures cannot.

Loading maps the file once (``mmap``, read-only) and every array is a view of the map: nothing
is copied at load. ``ngram.model.Model`` reads sorted int64 keys and float64 values, so each
level rebuilds those lazily, on first use, from the mapped arrays (a ``repeat`` and a multiply-add
per order; codebook lookups when quantised); unquantised probabilities stay views of the file.
The header and every declared size are checked against the file before anything is mapped;
the arrays' contents (symbols in range, children summing to the next level's size, keys sorted,
codes inside their codebook, probabilities valid) are checked when a level is first rebuilt,
before it answers anything. Loading does not check that distributions sum to 1 (that needs every
level rebuilt); instead a model is only written after the bytes about to be written have been
read back through the same parser and its distributions checked.
"""

from __future__ import annotations

import io as _io
import json
import mmap
import os
from pathlib import Path

import numpy as np

from .counting import max_order_for
from .errors import NgramError
from .model import NAME_HASH, Level, Model
from .validate import TOLERANCE, check_distributions
from .vocabulary import Vocabulary

MAGIC = b"NGRAMCPT"
FORMAT = "ngram-compact"
VERSION = 1
ALIGN = 64
MAX_HEADER = 1 << 24  # 16 MiB of JSON: far beyond any vocabulary and array table
QUANTISATION_BITS = (8, 16)
# Share of a quantised level's codes on equal-count bins, the rest on an even grid. At 8 bits, 0.5
# costs +0.0009 nats/symbol on the English test split and +0.0057 on the word list (order 6); 0.75
# costs +0.0027 and +0.0043: held-out text decides.
EQUAL_COUNT_SHARE = 0.5
_DTYPES = {name: np.dtype(name).newbyteorder("<") for name in ("uint8", "uint16", "uint32", "uint64", "int64", "float64")}
_PREFIX = len(MAGIC) + 8


def is_compact(head: bytes) -> bool:
    """Whether the first bytes of a file are a compact model file's."""
    return head[: len(MAGIC)] == MAGIC


def _narrow(limit: int):
    """The smallest unsigned dtype that holds every integer below ``limit``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if limit <= np.iinfo(dtype).max + 1:
            return dtype
    return np.uint64


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


def _recompute_backoffs(model: Model) -> None:
    """Back-off weights that make every row of ``model`` (probabilities already quantised) sum to 1."""
    from .validate import unseen_lower_mass

    V = model.V
    for n in range(2, model.order + 1):  # level n's rows: contexts of n-1 symbols, lowest first
        level, below = model.levels[n - 1], model.levels[n - 2]
        if not len(level):
            continue
        lower = Model(vocabulary=model.vocabulary, order=n - 1, levels=model.levels[: n - 1])
        contexts = level.keys // V
        first = np.concatenate(([True], contexts[1:] != contexts[:-1]))
        owner = np.cumsum(first) - 1
        contexts = contexts[first]
        index, stored = below.find(contexts)
        if not stored.all():
            continue  # contexts not stored cannot carry a weight; the check below reports any damage
        p_lower = np.exp(lower.logprob_keys(level.keys, np.full(len(level.keys), n - 2)))
        seen = np.bincount(owner, weights=np.exp(level.logp), minlength=len(contexts))
        unseen = 1.0 - np.bincount(owner, weights=p_lower, minlength=len(contexts))
        close = np.flatnonzero(unseen < 1e-6)
        if len(close):
            where = np.full(len(contexts), -1)
            where[close] = np.arange(len(close))
            child = where[owner] >= 0
            unseen[close] = unseen_lower_mass(lower, contexts[close], level.keys[child], where[owner[child]])
        old = below.bow[index]
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.log(np.maximum(1.0 - seen, 0.0)) - np.log(unseen)
        keep_old = ~np.isfinite(new) | (unseen <= 0) | ~np.isfinite(old)  # full rows, MLE's -inf: unchanged
        bow = below.bow.copy()
        bow[index] = np.where(keep_old, old, new)
        below.bow = bow


# ----- writing -----------------------------------------------------------------------------
def to_bytes(model, logp_bits: int | None = None, bow_bits: int | None = None) -> bytes:
    """The compact file of a back-off model, checked by reading it back."""
    for what, bits in (("probability", logp_bits), ("back-off weight", bow_bits)):
        if bits is not None and bits not in QUANTISATION_BITS:
            raise NgramError(f"{what} quantisation must be 8 or 16 bits, got {bits}")
    if getattr(model, "kind", None) != "model":
        raise NgramError(f"the compact format holds a back-off model, not a {getattr(model, 'kind', type(model).__name__)} model; save it without --compact")
    V, N = model.V, model.order
    levels = [Level(lv.keys, lv.logp, lv.bow) for lv in model.levels]
    if logp_bits is not None:
        working = Model(vocabulary=model.vocabulary, order=N, levels=levels)
        for lv in levels[1:]:  # unigrams stay exact, as in KenLM: their row has no weight to renormalise it
            codes, book = _fit_rows(lv.logp, *quantise(lv.logp, logp_bits), lv.keys // V)
            lv.logp = book[codes]
        _recompute_backoffs(working)
    arrays: dict[str, np.ndarray] = {}
    for n, lv in enumerate(levels, start=1):
        if n == 1:
            if not np.array_equal(lv.keys, np.arange(V)):
                raise NgramError("the unigram level must hold every symbol")
        else:
            contexts = lv.keys // V
            below = levels[n - 2].keys
            index = np.minimum(np.searchsorted(below, contexts), max(len(below) - 1, 0))
            if len(below) and np.array_equal(below[index], contexts):
                arrays[f"children{n - 1}"] = np.bincount(index, minlength=len(below)).astype(_narrow(V + 1))
                arrays[f"last{n}"] = (lv.keys % V).astype(_narrow(V))
            else:
                arrays[f"keys{n}"] = lv.keys.astype(_narrow(V**n) if _narrow(V**n) != np.uint64 else np.int64)
        arrays.update(_values("logp", n, lv.logp, None if n == 1 else logp_bits))
        if np.any(lv.bow != 0.0):
            arrays.update(_values("bow", n, lv.bow, bow_bits))
    if model.train_names is not None:
        arrays["train_names"] = np.ascontiguousarray(model.train_names, dtype=np.uint64)
    header = {"format": FORMAT, "version": VERSION, "order": N, "vocabulary": model.vocabulary.to_json(),
              "estimator": model.estimator, "corpus": model.corpus, "name_hash": NAME_HASH,
              "quantisation": {"logp_bits": logp_bits, "bow_bits": bow_bits}, "sizes": [len(lv) for lv in levels]}
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
    data = buffer.getvalue()
    try:
        check_distributions(parse(memoryview(data), "the compact model"), "the compact model", tolerance(logp_bits, bow_bits))
    except NgramError as exc:
        hint = "; quantise less (16 bits, or 8,16)" if logp_bits or bow_bits else ""
        raise NgramError(f"{exc}{hint}; not saved") from None
    return data


def _values(kind: str, n: int, values: np.ndarray, bits: int | None) -> dict[str, np.ndarray]:
    """One level's probabilities or back-off weights: quantised to ``bits``; or, unquantised, as
    float64, or as codes into a codebook of its distinct values when that is smaller (lossless)."""
    if bits is not None:
        codes, book = quantise(values, bits, "probability" if kind == "logp" else "log")
        return {f"{kind}{n}": codes, f"{kind}_codebook{n}": book}
    distinct = np.unique(values)
    width = 1 if len(distinct) <= 256 else 2
    if len(distinct) <= 1 << 16 and len(distinct) * 8 + len(values) * width < len(values) * 8:
        codes = np.searchsorted(distinct, values).astype(np.uint8 if width == 1 else np.uint16)
        if np.array_equal(distinct[codes], values):  # (-0.0 and 0.0 are one distinct value)
            return {f"{kind}{n}": codes, f"{kind}_codebook{n}": distinct}
    return {f"{kind}{n}": np.ascontiguousarray(values, dtype=np.float64)}


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
def load(path: str | os.PathLike) -> Model:
    """Map a compact file and return a ``Model`` over views of the map (nothing copied)."""
    label = str(path)
    try:
        handle = open(path, "rb")
    except PermissionError:
        raise NgramError(f"{label}: permission denied") from None
    except OSError as exc:
        raise NgramError(f"{label}: cannot read ({exc.strerror or exc})") from None
    with handle:
        return load_open(handle, label)


def load_open(handle, label: str) -> Model:
    """``load`` from a file already open (a regular file): the map outlives the handle."""
    size = os.fstat(handle.fileno()).st_size
    if size < _PREFIX:
        raise NgramError(f"{label}: truncated compact model file ({size} bytes)")
    try:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise NgramError(f"{label}: cannot map the model file ({getattr(exc, 'strerror', None) or exc})") from None
    return parse(memoryview(mapped), label)


def parse(buffer: memoryview, label: str) -> Model:
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
    if header.get("version") != VERSION:
        raise NgramError(f"{label}: compact format version {header.get('version')!r} is not supported (this ngram reads version {VERSION})")
    try:
        vocabulary = Vocabulary.from_json(header["vocabulary"])
        order = header["order"]
        sizes = header["sizes"]
        quant = header["quantisation"]
        if not isinstance(order, int) or isinstance(order, bool) or order < 1 or not isinstance(quant, dict):
            raise ValueError
        if not isinstance(sizes, list) or len(sizes) != order or not all(type(s) is int and s >= 0 for s in sizes):
            raise ValueError
    except (KeyError, TypeError, ValueError, NgramError):
        raise NgramError(f"{label}: compact header has a bad vocabulary, order or sizes; the file is damaged") from None
    V = vocabulary.size
    if order > max_order_for(V):
        raise NgramError(f"{label}: order {order} is too high for its vocabulary; the file is damaged")
    if sizes[0] != V:
        raise NgramError(f"{label}: the unigram level must hold every symbol; the file is damaged")
    arrays = _map_arrays(buffer, header.get("arrays"), _PREFIX + length, label)

    def need(name: str, shape: int, dtypes) -> np.ndarray:
        array = arrays.get(name)
        if array is None:
            raise NgramError(f"{label}: array {name} is missing; the file is damaged")
        if array.dtype not in dtypes or len(array) != shape:
            raise NgramError(f"{label}: array {name} has the wrong type or length; the file is damaged")
        return array

    unsigned = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64))
    for kind in ("logp", "bow"):
        if quant.get(f"{kind}_bits") not in QUANTISATION_BITS + (None,):
            raise NgramError(f"{label}: compact header has a bad quantisation; the file is damaged")
    widths = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}
    levels: list[Level] = []
    for n in range(1, order + 1):
        count = sizes[n - 1]
        parts = {}
        for kind in ("logp", "bow"):
            if kind == "bow" and f"bow{n}" not in arrays:
                parts[kind] = None
                continue
            book = arrays.get(f"{kind}_codebook{n}")  # codes into a codebook, or float64 values
            values = need(f"{kind}{n}", count, tuple(widths) if book is not None else (np.dtype(np.float64),))
            if book is not None and (book.dtype != np.float64 or not 0 < len(book) <= 1 << widths[values.dtype]):
                raise NgramError(f"{label}: codebook {kind}_codebook{n} is malformed; the file is damaged")
            parts[kind] = (values, book)
        if n == 1:
            structure = ("implied",)
        elif f"last{n}" in arrays:
            structure = ("trie", need(f"children{n - 1}", sizes[n - 2], unsigned), need(f"last{n}", count, unsigned))
        else:
            structure = ("keys", need(f"keys{n}", count, unsigned + (np.dtype(np.int64),)))
        levels.append(CompactLevel(n, V, structure, parts["logp"], parts["bow"], levels[-1] if levels else None, label))
    train_names = arrays.get("train_names")
    if train_names is not None and (train_names.dtype != np.uint64 or train_names.ndim != 1):
        raise NgramError(f"{label}: array train_names has the wrong type; the file is damaged")
    if header.get("name_hash") != NAME_HASH:
        train_names = None
    model = Model(vocabulary=vocabulary, order=order, levels=levels, estimator=header.get("estimator") or {},
                  corpus=header.get("corpus") or {}, train_names=train_names)
    model.compact = {"quantisation": quant, "bytes": size}
    return model


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
    mapped arrays on first use (and checked then); unquantised values stay views of the file."""

    def __init__(self, n, V, structure, logp, bow, below, label):
        self.n, self.V, self._structure, self._logp_src, self._bow_src = n, V, structure, logp, bow
        self._below, self._label = below, label
        self._count = len(logp[0])
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
            children, last = self._structure[1:]
            if int(children.sum(dtype=np.uint64)) != self._count:
                raise self._damaged("child counts do not add up to the n-grams stored")
            if len(last) and int(last.max()) >= self.V:
                raise self._damaged("symbols are out of range")
            keys = np.repeat(self._below.keys, children)
            keys *= self.V  # in place: one int64 array at a time
            keys += last
        else:
            keys = self._structure[1].astype(np.int64)
            if len(keys) and (keys[0] < 0 or keys[-1] >= self.V**self.n):
                raise self._damaged("n-gram keys are out of range")
        if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():
            raise self._damaged("n-grams are not sorted")
        return keys

    def _values(self, source, kind: str) -> np.ndarray:
        if source is None:
            return np.zeros(self._count)
        values, book = source
        if book is not None:
            if len(values) and int(values.max()) >= len(book):
                raise self._damaged(f"{kind} codes are outside their codebook")
            values = book[values]
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
