"""Absolute discounting, Kneser-Ney and modified Kneser-Ney: one discounting core.

All three subtract a discount D from each count c(hw) and give the freed mass to the lower order:

    u(hw) = (a(hw) - D[bucket(a)]) / sum_w a(hw)      gamma(h) = sum_w D[bucket(a(hw))] / sum_w a(hw)

They differ only in the counts a and the number of buckets:

- ``absolute``: raw counts, one D per order (D = n1 / (n1 + 2 n2)).
- ``kneser-ney``: KenLM's adjusted counts below the highest order, one D per order.
- ``modified-kneser-ney``: adjusted counts, three discounts D1, D2, D3+ per order (Chen & Goodman);
  ``buckets=K`` gives K discounts D1, ..., D(K-1), DK+ per order (MITLM's Kneser-Ney with N
  discounts), K = 3 being the default and the same model bit for bit.

The adjusted counts follow lmplz exactly (so our figures can be checked against KenLM): below the
highest order an n-gram's count is its number of distinct left neighbours, the start symbol being
a neighbour like any other; n-grams that begin with the start symbol have no left neighbour and
keep their raw counts. The counts-of-counts n1..n4 behind the discounts are taken over these same
counts, start n-grams included. On small alphabets the formula fails (no unigram is seen after a
single distinct left neighbour), so that order falls back to lmplz's 0.5 / 1 / 1.5 and the report
says which orders did. With K > 3 discounts the closed form is Chen & Goodman's, one bucket
further each time: Dk = k - (k+1) Y n(k+1) / nk, Y = n1 / (n1 + 2 n2), from n1..n(K+1); an order
where it fails takes the three-discount values with D3+ for every bucket from 3 up (that order is
then plain modified KN), and the report says so.

``discounts`` sets them by hand, orders 1, 2, ... in turn: a string ``"D1,D2,D3 D1,D2,D3 ..."``
(one group per order, groups split by spaces or ``;``), a list of groups (each a number or a
list of numbers), or a flat list of numbers (``--discounts`` on the command line), read as one
number per order, or for modified KN as consecutive groups of K (D1, D2, D3+ when K = 3) per
order. Orders after the last group are estimated as usual;
groups beyond the model's order are left unused (and the report says so).

``strengths`` (optional, one number theta >= 0 per order from 1) adds a Pitman-Yor-style strength:
u(hw) = (a(hw) - D) / (sum_w a(hw) + theta), gamma(h) = (sum_w D + theta) / (sum_w a(hw) + theta).
Without it (or with theta = 0) the arithmetic is unchanged, bit for bit.
A group is one number (every bucket) or, for modified KN, K numbers. Every discount is
clipped to 0 <= D < its bucket's smallest count (so no counted n-gram loses all its mass), and
the report lists what was clipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ngram.core.counting import Counts
from ngram.core.checks import number_list
from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from .base import starts_with_boundary
from .interpolated import Interpolated, OrderParts, context_owners

FALLBACK = (0.5, 1.0, 1.5)  # lmplz's --discount_fallback defaults


def adjusted_counts(counts: Counts, V: int) -> list[np.ndarray]:
    """lmplz's counts per order: distinct left neighbours below the highest order, raw counts
    for the highest order and for n-grams that begin with the start symbol."""
    result = []
    for n in range(1, counts.order + 1):
        keys, raw = counts.of(n)
        if n == counts.order:
            result.append(raw)
            continue
        result.append(counts.remembered(("adjusted", n), lambda: adjusted_order(counts, n, V)))
    return result


def adjusted_order(counts: Counts, n: int, V: int) -> np.ndarray:
    keys, raw = counts.of(n)
    adjusted = counts.left_neighbours(n).astype(np.result_type(raw.dtype, np.int64))  # a copy: changed below
    if n >= 2:
        start = starts_with_boundary(keys, n, V)
        adjusted[start] = raw[start]
    return adjusted


def counts_of_counts(values: np.ndarray, upto: int = 4) -> list[int]:
    """n_1..n_upto: how many n-grams have count exactly 1, 2, ..., upto (n1..n4 by default)."""
    return [int(np.count_nonzero(values == j)) for j in range(1, upto + 1)]


def needed_counts_of_counts(buckets: int) -> int:
    """How many counts-of-counts n1, n2, ... the closed-form discounts of ``buckets`` buckets read."""
    return max(4, buckets + 1)


def estimate_discounts(n: list[int], buckets: int, dt) -> list | None:
    """Chen & Goodman's estimates from counts-of-counts, None where they fail.

    Dk = k - (k+1) Y n(k+1) / nk for k = 1..buckets (with one bucket, D = Y). The arithmetic is
    lmplz's, step by step, so that with float32 the results are its bits.
    """
    if len(n) < needed_counts_of_counts(buckets):
        raise NgramError(f"{buckets} discounts per order need counts-of-counts n1..n{buckets + 1}, got {len(n)}")
    n1, n2 = n[0], n[1]
    if n1 == 0 or n2 == 0 or (buckets >= 3 and 0 in n[2:buckets]):
        return None
    y = dt(dt(n1) / dt(float(n1) + 2.0 * float(n2)))
    if buckets == 1:
        values = [y]
    else:
        values = [dt(j) - dt(dt(dt(j + 1) * y) * dt(n[j])) / dt(n[j - 1]) for j in range(1, buckets + 1)]
    # D = 0 would leave a context whose counts all fall in that bucket no mass for unseen
    # symbols (probability 0, infinite loss), which a smoothed model must not do.
    if any(not (0 < d <= j) for j, d in enumerate(values, start=1)):
        return None
    return values


def closed_form_discounts(n: list[int], buckets: int, dt) -> tuple[list, str | None]:
    """The closed-form discounts of one order and, where the estimate failed, what stood in.

    Returns (discounts, None), (discounts, "fallback") for lmplz's 0.5/1/1.5, or with more than
    three buckets (discounts, "three") for the three-discount values with D3+ in every bucket
    from 3 up (or "fallback", lmplz's values extended the same way).
    """
    d = estimate_discounts(n, buckets, dt)
    if d is not None:
        return d, None
    if buckets > 3:
        three = estimate_discounts(n, 3, dt)
        if three is not None:
            return three + [three[2]] * (buckets - 3), "three"
    values = [dt(x) for x in FALLBACK[: buckets]]
    return values + [values[-1]] * (buckets - len(values)), "fallback"


def bucket_names(buckets: int) -> str:
    """D1,D2,D3+ for three buckets; D1,...,DK+ in general."""
    return ",".join(f"D{j}" for j in range(1, buckets)) + ("," if buckets > 1 else "") + f"D{buckets}+"


def parse_discounts(value, buckets: int) -> list[list[float]]:
    """User discounts as one group of ``buckets`` floats per order (see the module docstring)."""
    if value is None:
        return []
    if isinstance(value, str):
        number_list(value, "discounts", "--discounts")  # refuses text in one line
    if isinstance(value, (int, float)):
        groups = [[value]]
    elif any(isinstance(g, (list, tuple, np.ndarray)) for g in value):
        groups = [list(g) if isinstance(g, (list, tuple, np.ndarray)) else [g] for g in value]
    else:
        # A flat list (what the CLI passes): one number per order, or three for modified KN.
        value = list(value)
        if len(value) % buckets:
            raise NgramError(f"give {buckets} discounts ({bucket_names(buckets)}) per order, got {len(value)} numbers")
        groups = [value[i : i + buckets] for i in range(0, len(value), buckets)]
    parsed = []
    for group in groups:
        try:
            numbers = [float(x) for x in group]
        except (TypeError, ValueError):
            raise NgramError(f"discounts must be numbers, got {group!r}") from None
        if not all(math.isfinite(x) for x in numbers):
            raise NgramError(f"discounts must be finite numbers, got {group!r}")
        if len(numbers) == 1:
            numbers = numbers * buckets
        if len(numbers) != buckets:
            raise NgramError(f"each order takes {f'1 or {buckets} discounts' if buckets > 1 else '1 discount'}, got {len(numbers)}: {group!r}")
        parsed.append(numbers)
    return parsed


def parse_strengths(value) -> list[float]:
    """Pitman-Yor-style strengths theta >= 0, one per order from 1 (missing orders: 0)."""
    if value is None:
        return []
    numbers = number_list(value, "strengths (one per order)", "--strengths")
    if not all(math.isfinite(x) and x >= 0 for x in numbers):
        raise NgramError(f"strengths must be finite and at least 0, got {value!r}")
    return numbers


@dataclass
class BucketTotals:
    """What discounting reads of one order's counts, whatever the discounts: each context's total
    count, each n-gram's bucket and how many of a context's children fall in each bucket."""

    denom: np.ndarray
    bucket: np.ndarray
    per_bucket: np.ndarray


def bucket_totals(a: np.ndarray, owner: np.ndarray, C: int, buckets: int, dt) -> BucketTotals:
    # Totals are summed exactly (as integers when counts are) and rounded once, as lmplz does.
    denom = np.bincount(owner, weights=a, minlength=C).astype(dt)
    bucket = np.minimum(a, buckets).astype(np.int8)
    # How many children of each context fall in each bucket, in one pass.
    per_bucket = np.bincount(owner * buckets + (bucket - 1), minlength=C * buckets).reshape(C, buckets)
    # (a context has at most V children: 32 bits hold any count, a third of what loading an
    # order mixture keeps of these while its components are fitted)
    return BucketTotals(denom, bucket, per_bucket.astype(np.int32) if C and per_bucket.max() < 2**31 else per_bucket)


def discount(a: np.ndarray, owner: np.ndarray, C: int, d: np.ndarray, buckets: int, dt,
             theta: float = 0.0, totals: BucketTotals | None = None) -> tuple[np.ndarray, np.ndarray]:
    """u and gamma of the n-grams of ``C`` whole contexts (``owner``: each n-gram's context) with
    counts ``a`` and discounts ``d`` (by bucket): the one discounting step, shared by the
    in-memory estimators and the out-of-core pipeline (``ngram.training.external``), which call
    it on a whole order or on a window of whole contexts and so get the same floats.
    ``totals``: ``bucket_totals`` of the same counts, when several discounts are tried on them.
    ``d`` may also be (K, buckets + 1) and ``theta`` K numbers: K components' discounting of the
    same counts at once, u (K, n-grams) and gamma (K, C), each row the same floats as alone."""
    if totals is None:
        totals = bucket_totals(a, owner, C, buckets, dt)
    denom, bucket, per_bucket = totals.denom, totals.bucket, totals.per_bucket
    d = np.asarray(d)
    freed = np.zeros(d.shape[:-1] + (C,), dt)
    for j in range(1, buckets + 1):
        freed = freed + d[..., j, None] * per_bucket[:, j - 1].astype(dt)
    theta = np.asarray(theta, dt)
    if theta.any():
        # A strength theta (Pitman-Yor): (a - D) / (total + theta), (freed + theta) / (total + theta).
        # (a component without one adds 0.0: the same floats)
        freed, denom = freed + theta[..., None], denom + theta[..., None]
    gamma = freed / denom
    if d.ndim == 1:
        u = a.astype(dt)  # (a - D) / total, in place: fewer order-sized temporaries
        u -= d[bucket]
    else:
        u = np.empty((len(d), len(a)), dt)
        np.subtract(a.astype(dt), d[:, bucket], out=u, casting="same_kind")
    u /= denom[..., owner]
    return u, gamma


def check_whole_counts(counts: np.ndarray, name: str) -> None:
    """Counts-of-counts and count buckets mean nothing for fractional counts."""
    if not np.array_equal(counts, np.round(counts)):
        raise NgramError(f"{name} needs whole-number counts; for fractional name weights use add-k, mle, witten-bell or jelinek-mercer")


class Discounted(Interpolated):
    """The discounting core; subclasses set ``name``, ``adjusted`` and ``buckets``."""

    adjusted = False
    buckets = 1

    def __init__(self, discounts=None, backoff: bool = False, strengths=None):
        super().__init__(backoff=backoff)
        self.discounts = parse_discounts(discounts, self.buckets)
        self.strengths = parse_strengths(strengths)

    def strength(self, n: int) -> float:
        """The Pitman-Yor strength of order ``n`` (0: none)."""
        return self.strengths[n - 1] if n <= len(self.strengths) else 0.0

    def get_params(self) -> dict:
        return {**({"discounts": self.discounts} if self.discounts else {}),
                **({"strengths": self.strengths} if self.strengths else {}), **super().get_params()}

    def _choose_discounts(self, values: list[np.ndarray]) -> tuple[list[np.ndarray], dict]:
        upto = needed_counts_of_counts(self.buckets)
        # (orders whose discounts are given read no counts-of-counts)
        return self.choose_discounts([counts_of_counts(a, upto) if n >= len(self.discounts) else [0] * upto
                                      for n, a in enumerate(values)])

    def choose_discounts(self, counts_of_counts_per_order: list[list[int]]) -> tuple[list[np.ndarray], dict]:
        """Discounts per order (index 0 unused, then D1.. per bucket) and the report, from the
        counts-of-counts n1..n4 (n1..n(K+1) for K > 3 buckets) of each order's (adjusted) counts:
        all a streamed estimate needs."""
        dt = self.dtype
        values = counts_of_counts_per_order
        need = needed_counts_of_counts(self.buckets)
        if any(len(coc) < need for coc in values[len(self.discounts):]):
            raise NgramError(f"{self.buckets} discounts per order need counts-of-counts n1..n{need}, and this engine "
                             f"counts n1..n{min(len(coc) for coc in values)} only: train in memory (--engine memory)")
        chosen, fallback, three, clipped = [], [], [], []
        for n, coc in enumerate(values, start=1):
            if n <= len(self.discounts):
                d = [dt(x) for x in self.discounts[n - 1]]
            else:
                d, stand_in = closed_form_discounts(coc, self.buckets, dt)
                if stand_in == "fallback":
                    fallback.append(n)
                elif stand_in == "three":
                    three.append(n)
            # Bucket j holds counts >= j, so D < j keeps every counted n-gram's own mass positive.
            limits = [dt(j) for j in range(1, self.buckets + 1)]
            safe = [min(max(x, dt(0)), np.nextafter(lim, dt(0))) for x, lim in zip(d, limits)]
            for j, (x, y) in enumerate(zip(d, safe), start=1):
                if x != y:
                    clipped.append(f"order {n} D{j} {float(x):g} -> {float(y):.7g}")
            chosen.append(np.array([0.0] + safe, dt))
        report = {"discounts": {str(n): [float(x) for x in d[1:]] for n, d in enumerate(chosen, start=1)}}
        if fallback:
            shown = "/".join(f"{float(x):g}" for x in chosen[fallback[0] - 1][1:])
            report["fallback"] = (
                f"order{'s' if len(fallback) > 1 else ''} {', '.join(map(str, fallback))}: counts-of-counts gave no "
                f"usable discounts, used {shown} (set them with --discounts)"
            )
        if three:
            report["three_discounts"] = (
                f"order{'s' if len(three) > 1 else ''} {', '.join(map(str, three))}: counts-of-counts gave no usable "
                f"D4..D{self.buckets}+, used D3+ for every count from 3 (modified KN's three discounts)"
            )
        if clipped:
            report["clipped"] = "; ".join(clipped)
        if len(self.discounts) > len(values):
            # One setting can then serve models of several orders; still, say what went unused.
            report["unused"] = f"discounts for orders {len(values) + 1}..{len(self.discounts)} not used by an order-{len(values)} model"
        return chosen, report

    def _parts(self, counts: Counts, vocabulary: Vocabulary):
        V, dt = vocabulary.size, self.dtype
        if not counts.integer:
            for c in counts.counts:
                check_whole_counts(c, self.name)
        values = adjusted_counts(counts, V) if self.adjusted else [c for c in counts.counts]
        for n in range(1, counts.order + 1):  # from here on only ``values`` is read
            counts.release("left", n)
            counts.release("counts", n)
        discounts, report = self._choose_discounts(values)

        def parts():
            # One order at a time, as the caller asks: only one order's parts exist at once.
            for n, (keys, d) in enumerate(zip(counts.keys, discounts), start=1):
                a, values[n - 1] = values[n - 1], None
                contexts, owner = counts.remembered(("owners", n), lambda: context_owners(keys, V, n))
                # Raw or adjusted: a higher-order fit reads adjusted counts where this one reads raw.
                raw = not self.adjusted or n == counts.order
                totals = counts.remembered(("buckets", n, raw, self.buckets, np.dtype(dt).str),
                                           lambda: bucket_totals(a, owner, len(contexts), self.buckets, dt))
                u, gamma = discount(a, owner, len(contexts), d, self.buckets, dt, self.strength(n), totals)
                a = None
                yield OrderParts(keys, u, contexts, gamma, owner)

        return parts(), report


class AbsoluteDiscounting(Discounted):
    """Interpolated absolute discounting: raw counts, one discount per order.

    ``discounts``: see the module docstring (one number per order). ``backoff=True`` gives the
    back-off form.
    """

    name = "absolute"


class KneserNey(Discounted):
    """Interpolated Kneser-Ney with lmplz's adjusted counts and one discount per order.

    ``discounts``: see the module docstring (one number per order). ``backoff=True`` gives the
    back-off form.
    """

    name = "kneser-ney"
    adjusted = True


class ModifiedKneserNey(Discounted):
    """Modified Kneser-Ney (Chen & Goodman) following lmplz: three discounts per order.

    ``buckets``: discounts per order, K (default 3): D1, ..., D(K-1) for counts 1..K-1 and DK+ for
    counts of K and more (MITLM's Kneser-Ney with N discounts). ``buckets=3`` is the default model,
    bit for bit, and its saved settings do not mention it.
    ``discounts``: a group ``D1,D2,D3+`` (K numbers) per order (see the module docstring).
    ``kenlm_compat=True`` does the arithmetic in float32 exactly as lmplz does, so exported ARPA
    probabilities are lmplz's float32 values bit for bit (its ARPA then differs only by the last
    bit of some log10 roundings). The default float64 is what the sum-to-one guarantee is stated
    for; the two differ by about 1e-7 in probability.
    ``backoff=True`` gives the back-off form.
    """

    name = "modified-kneser-ney"
    adjusted = True
    buckets = 3

    MAX_BUCKETS = 20

    def __init__(self, discounts=None, backoff: bool = False, kenlm_compat: bool = False, strengths=None,
                 buckets: int = 3):
        if isinstance(buckets, (bool, np.bool_)) or not isinstance(buckets, (int, np.integer)) \
                or not 1 <= buckets <= self.MAX_BUCKETS:
            raise NgramError(f"buckets (discounts per order) must be a whole number from 1 to {self.MAX_BUCKETS}, got {buckets!r}")
        self.buckets = int(buckets)  # before the discounts are parsed: they come in groups of this size
        super().__init__(discounts=discounts, backoff=backoff, strengths=strengths)
        if kenlm_compat and self.backoff:
            raise NgramError("kenlm_compat reproduces lmplz's interpolated model; it cannot be combined with backoff")
        if kenlm_compat and self.buckets != 3:
            raise NgramError("kenlm_compat reproduces lmplz's three discounts per order; it cannot be combined with buckets")
        self.kenlm_compat = bool(kenlm_compat)
        self.dtype = np.float32 if self.kenlm_compat else np.float64

    def get_params(self) -> dict:
        return {**super().get_params(), **({"kenlm_compat": True} if self.kenlm_compat else {}),
                **({"buckets": self.buckets} if self.buckets != 3 else {})}
