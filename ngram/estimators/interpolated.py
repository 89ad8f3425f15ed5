"""Interpolated smoothing, compiled into the back-off Model; the Katz-style back-off variant too.

Every method here (Witten-Bell, Jelinek-Mercer, absolute discounting, Kneser-Ney, modified KN)
has the same shape. For each order n, a counted n-gram hw gets a discounted part u(hw) and each
context h a weight gamma(h) for the next lower order, with sum_w u(hw) + gamma(h) = 1:

    p_n(w | h) = u(hw) + gamma(h) * p_{n-1}(w | h')        p_1(w) = u(w) + gamma() / V

For an unseen w, u(hw) = 0, so storing p_n for the counted n-grams and ln gamma(h) as the back-off
weight of h is this distribution exactly (as lmplz writes it). A subclass only supplies u and
gamma per order (``_parts``); this module compiles them, so each method is written once for both
forms. The counted n-gram set is closed under prefixes and suffixes, so every context and every
suffix looked up below is stored.

Back-off form (``backoff=True``): seen n-grams keep only u(hw), and the left-over mass gamma(h)
is spread over the unseen symbols in proportion to the lower order, which the back-off weight
gamma(h) / (1 - sum over seen w of p_{n-1}(w | h')) normalises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ngram.core.counting import Counts
from ngram.core.errors import NgramError
from ngram.lm.backoff.model import Level, Model
from ngram.lm.backoff.normalise import unseen_mass
from ngram.core.vocabulary import Vocabulary
from .base import Estimator, context_positions, group_by_context, lookup


@dataclass
class OrderParts:
    """u and gamma of one order: ``u`` aligned to ``keys``, ``gamma`` to ``contexts``."""

    keys: np.ndarray
    u: np.ndarray
    contexts: np.ndarray
    gamma: np.ndarray
    owner: np.ndarray  # context index of each n-gram


def context_owners(keys: np.ndarray, V: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Context keys and each n-gram's context index; at order 1 all symbols share the one
    empty context."""
    if order == 1:
        return np.zeros(1, np.int64), np.zeros(len(keys), np.int64)
    return group_by_context(keys, V)


def split_by_context(keys: np.ndarray, values: np.ndarray, V: int, order: int) -> tuple:
    """Context keys, child owner index, child count and value total per context."""
    contexts, owner = context_owners(keys, V, order)
    children = np.bincount(owner, minlength=len(contexts))
    totals = np.bincount(owner, weights=values, minlength=len(contexts))
    return contexts, owner, children, totals


def interpolate(u: np.ndarray, gamma: np.ndarray, owner: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """p(w | h) = u(hw) + gamma(h) p(w | h'): each n-gram's share plus its context's freed mass
    spread by the lower order (``lower``: p of each n-gram's suffix)."""
    p = gamma[owner] * lower
    if p.dtype == np.result_type(p, u):
        p += u  # in place: one order-sized temporary fewer at the memory peak (a + b == b + a)
    else:
        p = p + u
    return p


ROW_TOLERANCE = 1e-6  # how far from 1 a row's Σ u + gamma may be (float32 arithmetic: about 1e-7)


def _check_parts(part: OrderParts, n: int, name: str) -> None:
    """Every row of order n sums to 1: for a context h, Σ_w p(w | h) = Σ_{w seen} u(hw) + gamma(h) ·
    Σ_w p(w | h'), and the lower order's rows sum to 1 (checked first), so Σ u + gamma = 1 is the
    row's sum; with u >= 0 and gamma >= 0 no probability is negative. Cheap (one sum per
    context), and what lets a model fitted again from stored counts skip a check of its tables."""
    sums = np.bincount(part.owner, weights=part.u, minlength=len(part.gamma)) + part.gamma
    bad = ~(np.abs(sums - 1.0) <= ROW_TOLERANCE)
    if bad.any() or not ((part.u >= 0).all() and (part.gamma >= 0).all()):
        where = f"sum to {float(sums[bad][0]):.6g}" if bad.any() else "hold a negative probability"
        raise NgramError(f"{name}: order-{n} rows {where}, not 1 (the counts or settings are not valid for it)")


class Interpolated(Estimator):
    """Base of the interpolated family: subclasses implement ``_parts``."""

    def __init__(self, backoff: bool = False):
        if not isinstance(backoff, (bool, np.bool_)):
            raise NgramError(f"backoff must be true or false, got {backoff!r}")
        self.backoff = bool(backoff)

    def get_params(self) -> dict:
        return {"backoff": self.backoff} if self.backoff else {}

    def checks_its_rows(self) -> bool:
        return not self.backoff  # (the back-off form renormalises differently: checked as any table)

    # float32 reproduces lmplz's arithmetic (modified KN with kenlm_compat); otherwise float64.
    dtype = np.float64

    def _parts(self, counts: Counts, vocabulary: Vocabulary) -> tuple[list[OrderParts], dict]:
        raise NotImplementedError

    def _levels(self, counts: Counts, vocabulary: Vocabulary):
        parts, report = self._parts(counts, vocabulary)
        V, dt = vocabulary.size, self.dtype
        # ``parts`` may be a list or an iterator; each order's parts and probabilities are needed
        # once, so dropping them as the levels are built keeps peak memory near the model's size.
        parts = iter(parts)
        first = next(parts)
        if not self.backoff:
            _check_parts(first, 1, self.name)
        # Symbols never counted (<unk>) still get the uniform share.
        p = np.zeros(V, dt)
        p[first.keys] = first.u
        p = p + dt(first.gamma[0]) * dt(1.0 / V)
        probs = [p]
        levels = [Level(np.arange(V, dtype=np.int64), np.log(p.astype(np.float64)), np.zeros(V))]
        first = None
        for n, part in enumerate(parts, start=2):
            below = levels[n - 2]
            # Where each n-gram's suffix sits below: counting knows it when these are its keys. The
            # unigram level holds every symbol (counted or not), so a bigram's suffix is its symbol id.
            if n == 2:
                suffix = part.keys % V
            elif part.keys is counts.keys[n - 1]:
                suffix = counts.suffixes(n)
            else:
                suffix = lookup(below.keys, part.keys % V ** (n - 1))[0]
            lower = probs[n - 2][suffix]
            suffix = None
            counts.release("suffix_index", n)
            if part.keys is counts.keys[n - 1]:
                ctx_index = counts.remembered(("positions", n), lambda: context_positions(below.keys, part.contexts, V))
            else:
                ctx_index = context_positions(below.keys, part.contexts, V)
            if ctx_index is None:  # (counts are prefix-closed, so only parts of another shape get here)
                ctx_index = lookup(below.keys, part.contexts)[0]
            if not self.backoff:
                _check_parts(part, n, self.name)
                p = interpolate(part.u, part.gamma, part.owner, lower)
                with np.errstate(divide="ignore"):
                    bow = np.log(part.gamma.astype(np.float64, copy=False))
            else:
                lower_model = Model(vocabulary=vocabulary, order=n - 1, levels=levels[: n - 1])
                p, bow = self._katz(part, lower.astype(np.float64), V, lower_model)
            below.bow[ctx_index] = bow
            probs[n - 2] = None
            probs.append(p)
            levels.append(Level(part.keys, np.log(p.astype(np.float64, copy=False)), np.zeros(len(part.keys))))
            part = lower = None  # before the next order's parts are made
        # The highest order's n-grams are no one's context: one read-only zero stands for all
        # their back-off weights (3.7 MB of the English default model's 16 components).
        top = levels[-1]
        if len(levels) > 1 and not top.bow.any():
            top.bow = np.broadcast_to(np.float64(0.0), top.bow.shape)
        if self.backoff:
            report = {**report, "form": "back-off (Katz-style, normalised by back-off weights)"}
        return levels, report

    @staticmethod
    def _katz(part: OrderParts, lower: np.ndarray, V: int, lower_model: Model) -> tuple[np.ndarray, np.ndarray]:
        u = part.u.astype(np.float64)
        n_contexts = len(part.contexts)
        children = np.bincount(part.owner, minlength=n_contexts)
        gamma = part.gamma.astype(np.float64)
        # When the seen symbols hold nearly all the lower order's mass, 1 - sum keeps no correct
        # digit (a discount clipped just below its count leaves p ~ 1e-16), and the back-off
        # weight would inflate the row past 1: unseen_mass sums the unseen symbols' lower
        # probabilities instead there.
        unseen = np.maximum(unseen_mass(lower_model, part.contexts, part.keys, part.owner, lower, eligible=children < V), 0.0)
        # A context followed by every symbol (or whose unseen symbols get nothing below) has
        # nothing to back off to: its seen symbols keep all the mass instead.
        full = (children >= V) | (unseen <= 0)
        if full.any():
            total = np.bincount(part.owner, weights=u, minlength=n_contexts)
            u = np.where(full[part.owner], u / total[part.owner], u)
        with np.errstate(divide="ignore", invalid="ignore"):
            bow = np.where(full, np.where(children >= V, 0.0, -np.inf), np.log(gamma) - np.log(unseen))
        return u, bow
