"""Metrics: the cross-entropy loss is the negative log-likelihood in disguise.

Averaged over held-out symbols, -ln p(next | context) is the cross-entropy between the one-hot
next-symbol labels and the model's probability vectors. Grouping the positions by context turns
the one-hot labels into each context's empirical next-symbol distribution p̂ (soft labels), and
the same number splits into H(p̂) (the data's own uncertainty) + KL(p̂ ‖ q) (the model's error).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .corpus import Corpus
from .errors import NgramError
from .model import Model
from .vocabulary import Encoded


def cross_entropy(targets: np.ndarray, probs: np.ndarray) -> float:
    """Mean over rows of -Σ_v t[v] ln q[v], in nats.

    ``targets`` may be integer labels (shape M), one-hot rows or soft label distributions
    (shape M×V); ``probs`` are the model's rows (M×V). With labels this is mean(-ln q[y]).
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    if probs.ndim != 2:
        raise ValueError("probs must be a 2-D array of probability rows")
    if targets.ndim == 1:
        if not np.issubdtype(targets.dtype, np.integer):
            raise ValueError("1-D targets must be integer labels")
        with np.errstate(divide="ignore"):
            return float(-np.log(probs[np.arange(len(targets)), targets]).mean())
    if targets.shape != probs.shape:
        raise ValueError("soft targets must have the same shape as probs")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(targets > 0, -targets * np.log(probs), 0.0)
    return float(terms.sum(axis=1).mean())


def entropy_and_kl(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise H(p) and KL(p ‖ q) in nats; H(p) + KL(p ‖ q) = cross-entropy(p, q)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(p > 0, -p * np.log(p), 0.0).sum(axis=-1)
        kl = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0).sum(axis=-1)
    return h, kl


@dataclass
class Evaluation:
    """How well a model predicts a set of names. NLL is in nats per predicted symbol."""

    data: str
    names: int
    symbols: int  # characters + one end symbol per name
    oov: int
    total_nll: float  # nats, summed over symbols
    per_name_nll: np.ndarray | None = None
    per_name_symbols: np.ndarray | None = None
    weighted: bool = False  # names counted by their weights; symbols and total_nll are weighted sums

    @property
    def nll(self) -> float:
        return self.total_nll / self.symbols if self.symbols else float("nan")

    @property
    def cross_entropy(self) -> float:
        return self.nll  # the same number, by definition: see the module docstring

    @property
    def bits(self) -> float:
        return self.nll / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll) if self.nll < 700 else float("inf")

    def summary(self) -> dict:
        return {
            "data": self.data,
            "names": self.names,
            "symbols": self.symbols,
            "oov": self.oov,
            "nll_nats_per_symbol": self.nll,
            "cross_entropy_nats_per_symbol": self.cross_entropy,
            "bits_per_symbol": self.bits,
            "perplexity": self.perplexity,
            **({"weighted": True} if self.weighted else {}),
        }


def evaluate(model: Model, names: Sequence[str] | Corpus, unknown: str = "error", data: str = "<names>",
             line_numbers: Sequence[int] | None = None, weights: Sequence[float] | None = None) -> Evaluation:
    """Average NLL of ``names`` under ``model``: -Σ ln p / Σ scored symbols (micro-average).

    ``weights`` (a weighted test set, one count per name) count each name that many times, so
    ``symbols`` and ``total_nll`` are then weighted sums. ``names`` may be a ``Corpus``, read
    from its text without a Python string per name.
    """
    if len(names) == 0:
        raise NgramError(f"{data}: no names to evaluate")
    codes = names.code_points() if isinstance(names, Corpus) else None
    encoded = model.vocabulary.encode(() if codes is not None else names, unknown=unknown, line_numbers=line_numbers, source=data, codes=codes)
    per_name = -model.name_logprobs(encoded)
    symbols = encoded.symbols_per_name()
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(names),):
            raise NgramError(f"{data}: {len(w)} weights for {len(names)} names")
        total_symbols = float(w @ symbols)
        total = float(w @ per_name)
        return Evaluation(
            data=data, names=len(names), symbols=int(total_symbols) if total_symbols.is_integer() else total_symbols,
            oov=encoded.oov, total_nll=total, per_name_nll=per_name, per_name_symbols=symbols, weighted=True,
        )
    return Evaluation(
        data=data, names=len(names), symbols=int(symbols.sum()), oov=encoded.oov,
        total_nll=float(per_name.sum()), per_name_nll=per_name, per_name_symbols=symbols,
    )


@dataclass
class Explanation:
    """The context-grouped view of the same cross-entropy."""

    contexts: int
    cross_entropy: float  # Σ_c w_c H(p̂_c, q_c), nats per symbol
    entropy: float  # Σ_c w_c H(p̂_c): the data's own uncertainty given the model's contexts
    kl: float  # Σ_c w_c KL(p̂_c ‖ q_c): what the model gets wrong
    top: list[dict]  # the contexts that cost the most

    def summary(self) -> dict:
        return asdict(self)


def explain(model: Model, encoded: Encoded, top: int = 10) -> Explanation:
    """Group held-out positions by the model's context; compare soft labels with model rows.

    A context here is what the model conditions on: up to N-1 preceding symbols, cut at the
    start of the name. Each group's weight is its share of the scored positions.
    """
    keys, history = model.window_keys(encoded)
    history = np.minimum(history, model.order - 1)
    V = model.V
    context = keys // V % (V ** (model.order - 1)) if model.order > 1 else np.zeros_like(keys)
    # Only the first `history` symbols are real context: mask the rest so equal contexts group.
    context = context % (np.int64(V) ** history)
    group_key = context * model.order + history
    groups, owner = np.unique(group_key, return_inverse=True)
    targets = keys % V
    empirical = np.zeros((len(groups), V))
    np.add.at(empirical, (owner, targets), 1.0)
    weight = empirical.sum(axis=1) / len(keys)
    empirical /= empirical.sum(axis=1, keepdims=True)
    g_context, g_history = groups // model.order, groups % model.order
    windows = (g_context[:, None] * V + np.arange(V)[None, :]).ravel()
    rows = np.exp(model.logprob_keys(windows, np.repeat(g_history, V))).reshape(len(groups), V)
    h, kl = entropy_and_kl(empirical, rows)
    ce = h + kl
    order = np.argsort(-(weight * kl))[:top]
    symbols = model.vocabulary.symbols
    described = []
    for g in order:
        ids = []
        c, n = int(g_context[g]), int(g_history[g])
        for _ in range(n):
            ids.append(c % V)
            c //= V
        text = "".join("^" if (i == 0) else symbols[i] for i in reversed(ids))
        described.append({"context": text, "weight": float(weight[g]), "entropy": float(h[g]), "kl": float(kl[g])})
    return Explanation(
        contexts=len(groups),
        cross_entropy=float((weight * ce).sum()),
        entropy=float((weight * h).sum()),
        kl=float((weight * kl).sum()),
        top=described,
    )
