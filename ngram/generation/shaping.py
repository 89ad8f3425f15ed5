"""Row shaping for sampling: temperature, top-k and nucleus (top-p) filtering, and the one check of
the sampling settings."""

from __future__ import annotations

import math

import numpy as np

from ngram.core.errors import NgramError

MAX_SAMPLE_SYMBOLS = 2**28  # ids held at once by one call of sample(): 2 GiB of int64


def adjust_rows(rows: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None) -> np.ndarray:
    """Temperature, top-k and nucleus (top-p) filtering, each row renormalised."""
    rows = np.array(rows, dtype=np.float64)
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logits = np.log(rows) / temperature
        logits -= logits.max(axis=1, keepdims=True)
        rows = np.exp(logits)
    if top_k is not None and top_k < rows.shape[1]:
        kth = -np.partition(-rows, top_k - 1, axis=1)[:, top_k - 1 : top_k]
        rows = np.where(rows >= kth, rows, 0.0)
    if top_p is not None and top_p < 1.0:
        rows = rows / rows.sum(axis=1, keepdims=True)
        order = np.argsort(-rows, axis=1)
        sorted_rows = np.take_along_axis(rows, order, axis=1)
        before = np.cumsum(sorted_rows, axis=1) - sorted_rows  # mass of strictly likelier symbols
        keep_sorted = before < top_p  # the smallest set whose mass reaches top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        rows = np.where(keep, rows, 0.0)
    return rows / rows.sum(axis=1, keepdims=True)


def check_shaping(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """One-line errors for settings that reshape the next-symbol rows."""
    if not (temperature > 0 and math.isfinite(temperature)):
        raise NgramError(f"temperature must be a positive finite number, got {temperature}")
    if top_k is not None and top_k < 1:
        raise NgramError(f"top-k must be at least 1, got {top_k}")
    if top_p is not None and not (0 < top_p <= 1):
        raise NgramError(f"top-p must be in (0, 1], got {top_p}")


def check_sampling_settings(n: int, temperature: float, top_k: int | None, top_p: float | None,
                            min_len: int, max_len: int) -> None:
    if n < 0:
        raise NgramError(f"number of samples must be 0 or more, got {n}")
    check_shaping(temperature, top_k, top_p)
    if min_len < 0 or max_len < 1 or min_len > max_len:
        raise NgramError(f"need 0 <= min-len <= max-len and max-len >= 1, got min-len {min_len}, max-len {max_len}")
    if n * max_len > MAX_SAMPLE_SYMBOLS:
        # One run holds an n × max-len array of ids; refuse before numpy overflows or the OS kills us.
        raise NgramError(f"{n} names of up to {max_len} characters is too much for one run "
                         f"(at most {MAX_SAMPLE_SYMBOLS:,} symbols); sample in several runs with different seeds")


