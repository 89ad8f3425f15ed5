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
and windows of ``Budget.window`` elements. The arithmetic is the in-memory estimator's, element
for element (sums over a context's children in the same order), so the model is identical to the
last bit. The interpreter and numpy (about 40 MiB) are outside any budget.

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

from .errors import NgramError
from .estimators.base import group_by_context
from .estimators.discounting import Discounted
from .io import FORMAT, FORMAT_VERSION, write_atomically
from .model import NAME_HASH
from .provenance import CorpusInfo
from .streaming import Budget, Scan, count_ngrams_to_disk
from .vocabulary import Vocabulary


def supports(estimator, prune=None, prune_entropy=None, weighted: bool = False) -> bool:
    """Whether ``estimate_to_file`` can fit ``estimator`` (else the counts must fit in memory)."""
    return (isinstance(estimator, Discounted) and not estimator.backoff and prune is None and prune_entropy is None
            and not weighted)


class _Runs:
    """One order's sorted arrays on disk, read in windows with plain reads (nothing mapped)."""

    def __init__(self, folder: Path, order: int, lengths: list[int], count_dtype):
        self.folder, self.order, self.lengths, self.count_dtype = folder, order, lengths, np.dtype(count_dtype)

    def path(self, what: str, n: int) -> Path:
        return self.folder / f"{what}{n}.bin"

    def dtype(self, what: str):
        return {"keys": np.int64, "counts": self.count_dtype, "adjusted": np.int64}.get(what, np.float64)

    def read(self, what: str, n: int) -> np.ndarray:
        return np.fromfile(self.path(what, n), self.dtype(what), self.lengths[n - 1])

    def windows(self, n: int, size: int, *what: str) -> Iterator[tuple[np.ndarray, ...]]:
        handles = [open(self.path(w, n), "rb") for w in what]
        try:
            left = self.lengths[n - 1]
            while left:
                take = min(size, left)
                left -= take
                yield tuple(np.fromfile(h, self.dtype(w), take) for h, w in zip(handles, what))
        finally:
            for h in handles:
                h.close()

    def context_windows(self, n: int, size: int, V: int, what: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(keys, values) windows of order n cut at context boundaries (a context's children,
        at most V, are never split)."""
        carry_k, carry_v = np.zeros(0, np.int64), np.zeros(0, self.dtype(what))
        for keys, values in self.windows(n, max(size, 2 * V), "keys", what):
            keys, values = np.concatenate((carry_k, keys)), np.concatenate((carry_v, values))
            cut = int(np.searchsorted(keys // V, keys[-1] // V, side="left"))
            carry_k, carry_v = keys[cut:], values[cut:]
            if cut:
                yield keys[:cut], values[:cut]
        if len(carry_k):
            yield carry_k, carry_v


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


def _adjusted_counts(runs: _Runs, V: int, window: int, adjusted: bool) -> list[list[int]]:
    """Write each order's counts as the estimator sees them (``adjusted{n}.bin``: distinct left
    neighbours below the top order, raw counts for the top order and start n-grams, as
    ``discounting.adjusted_counts``) and return their counts-of-counts n1..n4 per order."""
    N = runs.order
    result = []
    for n in range(1, N + 1):
        if n == N or not adjusted:
            values = None  # the raw counts, read as they are
        else:
            keys = runs.read("keys", n)
            left = np.zeros(len(keys), np.int64)
            for (above,) in runs.windows(n + 1, window, "keys"):
                suffix = np.minimum(np.searchsorted(keys, above % V**n), max(len(keys) - 1, 0))
                left += np.bincount(suffix, minlength=len(keys))
            if n >= 2:
                start = keys < V ** (n - 1)
                raw = runs.read("counts", n)
                left[start] = raw[start]
                del raw, start
            del keys
            values = left
        coc = np.zeros(4, np.int64)
        with open(runs.path("adjusted", n), "wb") as out:
            source = [(values,)] if values is not None else runs.windows(n, window, "counts")
            for (a,) in source:
                a = a.astype(np.int64, copy=False)
                coc += [np.count_nonzero(a == j) for j in (1, 2, 3, 4)]
                a.tofile(out)
        result.append([int(x) for x in coc])
        del values
    return result


def _check_whole_counts(runs: _Runs, window: int, name: str) -> None:
    if runs.count_dtype.kind in "iu":
        return
    for n in range(1, runs.order + 1):
        for (c,) in runs.windows(n, window, "counts"):
            if not np.array_equal(c, np.round(c)):
                raise NgramError(f"{name} needs whole-number counts; for fractional name weights use add-k, mle, witten-bell or jelinek-mercer")


def estimate_to_file(runs: _Runs, vocabulary: Vocabulary, estimator: Discounted, corpus: CorpusInfo, path, window: int) -> list[int]:
    """Fit ``estimator`` on the counts in ``runs`` and write the model file at ``path``
    (atomically). Returns the n-grams per order."""
    V, N, dt = vocabulary.size, runs.order, estimator.dtype
    _check_whole_counts(runs, window, estimator.name)
    cocs = _adjusted_counts(runs, V, window, estimator.adjusted)
    discounts, report = estimator.choose_discounts(cocs)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "vocabulary": vocabulary.to_json(), "order": N,
              "estimator": {"name": estimator.name, **estimator.get_params(), **({"report": report} if report else {})},
              "corpus": corpus.as_dict(), "name_hash": NAME_HASH}
    buckets = estimator.buckets

    def write(handle) -> None:
        out = _NpzWriter(handle)
        blob = np.frombuffer(json.dumps(header).encode("ascii"), dtype=np.uint8)
        out.member("header", np.uint8, len(blob), [blob])
        # Order 1: every symbol, in memory (V values).
        keys, a = runs.read("keys", 1), runs.read("adjusted", 1)
        d = discounts[0]
        bucket = np.minimum(a, buckets).astype(np.int8)
        denom = np.bincount(np.zeros(len(keys), np.int64), weights=a, minlength=1).astype(dt)
        per_bucket = np.bincount(bucket - 1, minlength=buckets).reshape(1, buckets)
        freed = np.zeros(1, dt)
        for j in range(1, buckets + 1):
            freed = freed + d[j] * per_bucket[:, j - 1].astype(dt)
        gamma = freed / denom
        u = a.astype(dt)
        u -= d[bucket]
        u /= denom[np.zeros(len(keys), np.int64)]
        p = np.zeros(V, dt)
        p[keys] = u
        p = p + dt(gamma[0]) * dt(1.0 / V)
        below_keys, below_p = np.arange(V, dtype=np.int64), p
        out.member("keys1", np.int64, V, [below_keys])
        out.member("logp1", np.float64, V, [np.log(p.astype(np.float64))])
        for n in range(2, N + 1):
            d = discounts[n - 1]
            below_bow = np.zeros(len(below_keys))
            length = runs.lengths[n - 1]
            prob_path = runs.path("p", n)
            with open(prob_path, "wb") as probs, open(runs.path("logp", n), "wb") as logps:
                for keys, a in runs.context_windows(n, window, V, "adjusted"):
                    contexts, owner = group_by_context(keys, V)
                    C = len(contexts)
                    denom = np.bincount(owner, weights=a, minlength=C).astype(dt)
                    bucket = np.minimum(a, buckets).astype(np.int8)
                    per_bucket = np.bincount(owner * buckets + (bucket - 1), minlength=C * buckets).reshape(C, buckets)
                    freed = np.zeros(C, dt)
                    for j in range(1, buckets + 1):
                        freed = freed + d[j] * per_bucket[:, j - 1].astype(dt)
                    gamma = freed / denom
                    u = a.astype(dt)
                    u -= d[bucket]
                    u /= denom[owner]
                    suffix = np.minimum(np.searchsorted(below_keys, keys % V ** (n - 1)), len(below_keys) - 1)
                    p = gamma[owner] * below_p[suffix]
                    if p.dtype == np.result_type(p, u):
                        p += u
                    else:
                        p = p + u
                    with np.errstate(divide="ignore"):
                        below_bow[np.searchsorted(below_keys, contexts)] = np.log(gamma.astype(np.float64, copy=False))
                    p.tofile(probs)
                    np.log(p.astype(np.float64, copy=False)).tofile(logps)
            out.member(f"bow{n - 1}", np.float64, len(below_keys), [below_bow])
            del below_bow, below_keys, below_p
            out.member(f"keys{n}", np.int64, length, (w for (w,) in runs.windows(n, window, "keys")))
            out.member(f"logp{n}", np.float64, length, (w for (w,) in runs.windows(n, window, "logp")))
            runs.path("logp", n).unlink()
            runs.path("adjusted", n - 1).unlink(missing_ok=True)
            below_keys = runs.read("keys", n)
            below_p = np.fromfile(prob_path, dt, length)
            prob_path.unlink()
        top = len(below_keys)  # (V at order 1)
        del below_keys, below_p
        out.member(f"bow{N}", np.float64, top, (np.zeros(min(window, top - i)) for i in range(0, top, window)))
        if corpus.fingerprints is not None:
            out.member("train_names", np.uint64, len(corpus.fingerprints), [corpus.fingerprints])
        out.close()

    write_atomically(path, write, "the model", replaces=(lambda head: head.startswith(b"PK\x03\x04"), "an ngram model file"))
    return list(runs.lengths)


def train_to_file(source, path, order: int, estimator: Discounted, vocabulary: Vocabulary, scan: Scan,
                  memory_bytes: "int | str | Budget", tmpdir=None, progress=None, lowercase: bool = False,
                  encoding: str = "utf-8", max_name_length: int = 0, weighted: bool = False) -> list[int]:
    """Count ``source`` (scanned already: ``scan``) within ``memory_bytes`` and write the fitted
    model to ``path`` without ever holding all counts or the model in memory. Returns the
    n-grams per order."""
    budget = Budget.of(memory_bytes)
    folder = Path(tempfile.mkdtemp(prefix="ngram-estimate-", dir=tmpdir))
    try:
        lengths, count_dtype, hashes = count_ngrams_to_disk(source, order, vocabulary, budget, folder, progress,
                                                            lowercase, encoding, max_name_length, weighted)
        runs = _Runs(folder, order, lengths, count_dtype)
        # Windows of about a sixteenth of the budget: the estimate's temporaries are ~12 arrays of one.
        window = budget.window_elements or max(4096, budget.memory_bytes // 16 // 8 // 12)
        return estimate_to_file(runs, vocabulary, estimator, scan.corpus_info(hashes), path, window)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
