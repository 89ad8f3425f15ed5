"""Training within a memory budget from end to end: counts on disk, estimated order by order, the
model file written as it is made.

The streaming engine bounds the memory of reading and counting; this module bounds the rest,
as lmplz's pipeline does. The merged counts stay on disk as sorted runs (one file of keys and one
of counts per order, ``streaming.count_ngrams_to_disk``), and the estimator reads them in windows
of whole contexts:

1. adjusted counts (distinct left neighbours, Kneser-Ney) of order n from a pass over order n+1's
   keys, written to disk; counts-of-counts on the way, hence the discounts of every order;
2. order by order, u and gamma per window of contexts, p_n = u + gamma * p_{n-1}(suffix), written
   straight into the model file (keys, log p), and the back-off weights of order n-1 from gamma.

What stays in memory: one order below the one being estimated (its keys, its probabilities and
its back-off weights, 24 bytes an n-gram), the name fingerprints (8 bytes a distinct name),
and windows of ``Budget.window`` elements. The interpreter and numpy (about 40 MiB) are outside
any budget.

One Kneser-Ney pipeline, two ways of feeding it: the estimation steps are the in-memory
estimator's own functions, called on a window of whole contexts instead of a whole order, so the
model is identical to the last bit: the discounts from counts-of-counts
(``Discounted.choose_discounts``), u and gamma per context (``discounting.discount``), the
interpolation p = u + gamma * p_lower (``interpolated.interpolate``) and the whole-count check.
Not shared, because sharing would cost speed: the adjusted counts (distinct left neighbours). In
memory they are a by-product of counting's sort (``Counts.left_neighbours``); here they take a
pass over order n+1's keys on disk per slice of order n. Measured on
english-names-train.txt (30,032 names, order 6, 130,454 n-grams; 2 cores at load average 9):
0.2 ms in memory against 45 ms for the pass over the runs, so running the disk pass in memory
would add about 45 ms (7%) to a 0.6 s training.

Supported: the discounting family (absolute, Kneser-Ney, modified Kneser-Ney) in its interpolated
form, without pruning. ``supports`` says whether an estimator qualifies; other settings train with
the streaming engine's counts in memory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ngram.estimators.base import group_by_context
from ngram.estimators.discounting import Discounted, check_whole_counts, discount
from ngram.estimators.interpolated import interpolate
from ngram.core.files import write_atomically
from ngram.formats.native import FORMAT, FORMAT_VERSION
from ngram.lm.backoff.model import NAME_HASH
from ngram.lm.provenance import CorpusInfo
from ngram.core.budget import Budget
from ngram.training.streaming import Scan, count_ngrams_to_disk
from ngram.core.vocabulary import Vocabulary


def supports(estimator, prune=None, prune_entropy=None, weighted: bool = False) -> bool:
    """Whether ``estimate_to_file`` can fit ``estimator`` (else the counts must fit in memory)."""
    return (isinstance(estimator, Discounted) and not estimator.backoff and prune is None and prune_entropy is None
            and not weighted)


class _Runs:
    """Sorted arrays of every order on disk (``{what}{n}.bin``), read in windows or slices with
    plain reads (nothing memory-mapped, so nothing read stays resident)."""

    def __init__(self, folder: Path, order: int, lengths: list[int], count_dtype, n_hashes: int, dtype):
        self.folder, self.order, self.lengths = folder, order, lengths
        self.types = {"keys": np.dtype(np.int64), "counts": np.dtype(count_dtype), "adjusted": np.dtype(np.int64),
                      "p": np.dtype(dtype), "lower": np.dtype(dtype), "logp": np.dtype(np.float64),
                      "contexts": np.dtype(np.int64), "bow": np.dtype(np.float64)}
        self.n_hashes = n_hashes

    def path(self, what: str, n: int | None = None) -> Path:
        return self.folder / (f"{what}{n}.bin" if n is not None else f"{what}.bin")

    def read(self, what: str, n: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        dtype = self.types[what]
        stop = self.lengths[n - 1] if stop is None else min(stop, self.lengths[n - 1])
        return np.fromfile(self.path(what, n), dtype, max(stop - start, 0), offset=start * dtype.itemsize)

    def windows(self, n: int, size: int, *what: str, length: int | None = None) -> Iterator[tuple[np.ndarray, ...]]:
        handles = [open(self.path(w, n), "rb") for w in what]
        try:
            left = self.lengths[n - 1] if length is None else length
            while left:
                take = min(size, left)
                left -= take
                yield tuple(np.fromfile(h, self.types[w], take) for h, w in zip(handles, what))
        finally:
            for h in handles:
                h.close()

    def context_windows(self, n: int, size: int, V: int, *what: str) -> Iterator[tuple[np.ndarray, ...]]:
        """Windows of order n's ``keys`` and ``what`` cut at context boundaries (a context's
        children, at most V, are never split)."""
        carry = None
        for arrays in self.windows(n, max(size, 2 * V), "keys", *what):
            if carry is not None:
                arrays = tuple(np.concatenate(pair) for pair in zip(carry, arrays))
            keys = arrays[0]
            cut = int(np.searchsorted(keys // V, keys[-1] // V, side="left"))
            carry = tuple(a[cut:] for a in arrays)
            if cut:
                yield tuple(a[:cut] for a in arrays)
        if carry is not None and len(carry[0]):
            yield carry

    def ranges(self, n: int, size: int) -> Iterator[tuple[int, int]]:
        """Consecutive slices of order n of at most ``size`` elements."""
        for start in range(0, self.lengths[n - 1], size):
            yield start, min(start + size, self.lengths[n - 1])


class _NpzWriter:
    """Members of an uncompressed ``.npz`` written one at a time, in windows (``io.load`` reads it)."""

    def __init__(self, handle):
        self.zip = zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def member(self, name: str, dtype, length: int, windows) -> None:
        dtype = np.dtype(dtype)
        written = 0
        with self.zip.open(name + ".npy", "w", force_zip64=True) as out:
            np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                       "fortran_order": False, "shape": (length,)})
            for window in windows:
                window = np.ascontiguousarray(window, dtype=dtype)
                out.write(window.tobytes())
                written += len(window)
        if written != length:
            raise RuntimeError(f"{name}: wrote {written} elements, announced {length}")

    def close(self) -> None:
        self.zip.close()


def _adjusted_counts(runs: _Runs, V: int, window: int, span: int, adjusted: bool) -> list[list[int]]:
    """Write each order's counts as the estimator sees them (``adjusted{n}.bin``: distinct left
    neighbours below the top order, raw counts for the top order and start n-grams, as
    ``discounting.adjusted_counts``) and return their counts-of-counts n1..n4 per order.

    Order n is done in slices of ``span`` n-grams, each with one pass over order n+1's keys
    (whose suffixes fall anywhere in order n): the slices bound the memory, the passes the time.
    """
    N = runs.order
    result = []
    for n in range(1, N + 1):
        coc = np.zeros(4, np.int64)
        with open(runs.path("adjusted", n), "wb") as out:
            if n == N or not adjusted:
                for (a,) in runs.windows(n, window, "counts"):
                    a = a.astype(np.int64, copy=False)
                    coc += [np.count_nonzero(a == j) for j in (1, 2, 3, 4)]
                    a.tofile(out)
            else:
                for lo, hi in runs.ranges(n, span):
                    keys = runs.read("keys", n, lo, hi)
                    left = np.zeros(len(keys), np.int64)
                    first, last = keys[0], keys[-1]
                    for (above,) in runs.windows(n + 1, window, "keys"):
                        suffix = above % V**n
                        suffix = suffix[(suffix >= first) & (suffix <= last)]
                        left += np.bincount(np.searchsorted(keys, suffix), minlength=len(keys))
                    if n >= 2:
                        start = keys < V ** (n - 1)
                        left[start] = runs.read("counts", n, lo, hi)[start]
                    coc += [np.count_nonzero(left == j) for j in (1, 2, 3, 4)]
                    left.tofile(out)
                    del keys, left
        result.append([int(x) for x in coc])
    return result


def _gather_lower(runs: _Runs, n: int, V: int, window: int, span: int) -> None:
    """``lower{n}.bin``: for each n-gram of order n, p_{n-1} of its suffix (its last n-1 symbols,
    always stored), order n-1's keys and probabilities taken a slice of ``span`` at a time, each
    slice one pass over order n (reading the previous pass's values and writing them back)."""
    target, staged = runs.path("lower", n), runs.path("lower-next", n)
    dtype = runs.types["lower"]
    for index, (lo, hi) in enumerate(runs.ranges(n - 1, span)):
        keys, p = runs.read("keys", n - 1, lo, hi), runs.read("p", n - 1, lo, hi)
        first, last = keys[0], keys[-1]
        streams = ("keys",) if index == 0 else ("keys", "lower")
        with open(staged, "wb") as out:
            for arrays in runs.windows(n, window, *streams):
                values = np.zeros(len(arrays[0]), dtype) if index == 0 else arrays[1]
                suffix = arrays[0] % V ** (n - 1)
                inside = (suffix >= first) & (suffix <= last)
                values[inside] = p[np.searchsorted(keys, suffix[inside])]
                values.tofile(out)
        os.replace(staged, target)
        del keys, p


def _bow_windows(runs: _Runs, n: int, window: int) -> Iterator[np.ndarray]:
    """Back-off weights of order n in key order: 0, or ln gamma of the n-grams that are contexts
    of order n+1 (``contexts{n+1}``/``bow{n+1}``, sorted: a merge, no search over the whole order)."""
    n_contexts = os.path.getsize(runs.path("contexts", n + 1)) // 8
    with open(runs.path("contexts", n + 1), "rb") as ch, open(runs.path("bow", n + 1), "rb") as bh:
        ctx, gam = np.zeros(0, np.int64), np.zeros(0)
        for (keys,) in runs.windows(n, window, "keys"):
            bow = np.zeros(len(keys))
            while True:
                if len(ctx) == 0 and n_contexts:
                    take = min(window, n_contexts)
                    n_contexts -= take
                    ctx, gam = np.fromfile(ch, np.int64, take), np.fromfile(bh, np.float64, take)
                if len(ctx) == 0:
                    break
                upto = int(np.searchsorted(ctx, keys[-1], side="right"))
                bow[np.searchsorted(keys, ctx[:upto])] = gam[:upto]
                ctx, gam = ctx[upto:], gam[upto:]
                if len(ctx):
                    break  # the rest belongs to later windows
            yield bow


def _check_whole_counts(runs: _Runs, window: int, name: str) -> None:
    if runs.types["counts"].kind in "iu":
        return
    for n in range(1, runs.order + 1):
        for (c,) in runs.windows(n, window, "counts"):
            check_whole_counts(c, name)


def estimate_to_file(runs: _Runs, vocabulary: Vocabulary, estimator: Discounted, corpus: CorpusInfo, path,
                     window: int, span: int) -> list[int]:
    """Fit ``estimator`` on the counts in ``runs`` and write the model file at ``path``
    (atomically). ``window``: elements read at a time; ``span``: n-grams of one order held at a
    time. Returns the n-grams per order."""
    V, N, dt = vocabulary.size, runs.order, estimator.dtype
    _check_whole_counts(runs, window, estimator.name)
    cocs = _adjusted_counts(runs, V, window, span, estimator.adjusted)
    discounts, report = estimator.choose_discounts(cocs)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "vocabulary": vocabulary.to_json(), "order": N,
              "estimator": {"name": estimator.name, **estimator.get_params(), **({"report": report} if report else {})},
              "corpus": corpus.as_dict(), "name_hash": NAME_HASH}
    buckets = estimator.buckets
    # Order 1 holds every symbol (V values, in memory); its files replace the counted unigrams.
    keys, a = runs.read("keys", 1), runs.read("adjusted", 1)
    u, gamma = discount(a, np.zeros(len(keys), np.int64), 1, discounts[0], buckets, dt, estimator.strength(1))
    p = np.zeros(V, dt)
    p[keys] = u
    p = p + dt(gamma[0]) * dt(1.0 / V)
    runs.lengths[0] = V
    np.arange(V, dtype=np.int64).tofile(runs.path("keys", 1))
    p.tofile(runs.path("p", 1))
    np.log(p.astype(np.float64)).tofile(runs.path("logp", 1))
    for n in range(2, N + 1):
        _gather_lower(runs, n, V, window, span)
        runs.path("p", n - 1).unlink()
        with open(runs.path("p", n), "wb") as probs, open(runs.path("logp", n), "wb") as logps, \
                open(runs.path("contexts", n), "wb") as contexts_out, open(runs.path("bow", n), "wb") as bows:
            for keys, a, lower in runs.context_windows(n, window, V, "adjusted", "lower"):
                contexts, owner = group_by_context(keys, V)
                u, gamma = discount(a, owner, len(contexts), discounts[n - 1], buckets, dt, estimator.strength(n))
                p = interpolate(u, gamma, owner, lower)
                with np.errstate(divide="ignore"):
                    np.log(gamma.astype(np.float64, copy=False)).tofile(bows)
                contexts.tofile(contexts_out)
                p.tofile(probs)
                np.log(p.astype(np.float64, copy=False)).tofile(logps)
        for what in ("lower", "adjusted"):
            runs.path(what, n).unlink()
    runs.path("p", N).unlink()

    def write(handle) -> None:
        out = _NpzWriter(handle)
        blob = np.frombuffer(json.dumps(header).encode("ascii"), dtype=np.uint8)
        out.member("header", np.uint8, len(blob), [blob])
        for n in range(1, N + 1):
            length = runs.lengths[n - 1]
            out.member(f"keys{n}", np.int64, length, (w for (w,) in runs.windows(n, window, "keys")))
            out.member(f"logp{n}", np.float64, length, (w for (w,) in runs.windows(n, window, "logp")))
            bows = _bow_windows(runs, n, window) if n < N else (np.zeros(min(window, length - i)) for i in range(0, length, window))
            out.member(f"bow{n}", np.float64, length, bows)
        with open(runs.path("hashes"), "rb") as hashes:
            chunks = (np.fromfile(hashes, np.uint64, min(window, runs.n_hashes - i)) for i in range(0, runs.n_hashes, window))
            out.member("train_names", np.uint64, runs.n_hashes, chunks)
        out.close()

    write_atomically(path, write, "the model", replaces=(lambda head: head.startswith(b"PK\x03\x04"), "an ngram model file"))
    return list(runs.lengths)


def estimate_windows(budget: Budget) -> tuple[int, int]:
    """(window, span) for a budget: windows of about 1/8 of it (a window's temporaries are some
    16 arrays of 8 bytes an element), slices of an order of about 1/4 (32 bytes an n-gram while
    left neighbours are counted: keys, counts, a bincount, raw counts)."""
    window = budget.window_elements or max(4096, budget.memory_bytes // 8 // 8 // 16)
    span = max(4096, budget.memory_bytes // 4 // 32) if budget.window_elements is None else 8 * budget.window_elements
    return window, span


def train_to_file(source, path, order: int, estimator: Discounted, vocabulary: Vocabulary, scan: Scan,
                  memory_bytes: "int | Budget", tmpdir=None, progress=None, lowercase: bool = False,
                  encoding: str = "utf-8", max_name_length: int = 0, weighted: bool = False) -> list[int]:
    """Count ``source`` (scanned already: ``scan``) within ``memory_bytes`` and write the fitted
    model to ``path`` without ever holding all counts or the model in memory. Returns the
    n-grams per order."""
    budget = Budget.of(memory_bytes)
    folder = Path(tempfile.mkdtemp(prefix="ngram-estimate-", dir=tmpdir))
    try:
        lengths, count_dtype, n_hashes = count_ngrams_to_disk(source, order, vocabulary, budget, folder, progress,
                                                              lowercase, encoding, max_name_length, weighted)
        runs = _Runs(folder, order, lengths, count_dtype, n_hashes, estimator.dtype)
        window, span = estimate_windows(budget)
        return estimate_to_file(runs, vocabulary, estimator, scan.corpus_info(None), path, window, span)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
