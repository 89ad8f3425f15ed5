"""Per-symbol mixtures of left-to-right next-symbol models of any kind (count or neural).

Both combine the components' whole next-symbol vectors after the same prefix, so every row is
still a distribution over the vocabulary:

- ``LinearSymbolMixture`` (kind ``symbol-linear``): p(w | h) = Σ_k λ_k p_k(w | h), one weight per
  component (the order mixtures of ``ngram.lm.mixtures.models`` bucket theirs by context, which
  needs every component to have bounded contexts; a neural one has not).
- ``LogLinearMixture`` (kind ``loglinear``): p(w | h) ∝ Π_k p_k(w | h)^{a_k}, renormalised over
  the vocabulary (a product of experts): where both models are sure, the product is sharper than
  either; where one is unsure it defers to the other. With one exponent 1 and the rest 0 it is
  that component.

A component is a bounded-context model (its rows from ``logprob_keys``) or a ``SEQUENTIAL`` one
(its rows from its own recurrence); the mixture answers ``start_state`` / ``step`` for exact
generation by drawing symbol after symbol (``ngram.generation.rejection``), and ``row_logprobs``
for every target of a corpus at once (each component in one batch).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import Encoded
from ngram.lm.base import NameModel, logsumexp
from ngram.lm.protocol import BOUNDED_CONTEXT, NEXT_SYMBOL, SEQUENTIAL, LanguageModel

FLOOR = -745.0  # ln of the smallest double: a zero probability times a zero exponent stays 0, not NaN


class BoundedSteps:
    """``start_state`` / ``step`` for a bounded-context model: the state is each name's packed last
    ``order - 1`` symbols (start boundary included) and their count, as ``context_key`` packs them."""

    def __init__(self, model: LanguageModel):
        self.model = model
        self.width = max(model.order - 1, 0)
        self.modulus = model.V ** self.width

    def start_state(self, n: int):
        return np.zeros(n, np.int64), np.zeros(n, np.int64)

    def step(self, state, symbols: np.ndarray):
        key, history = state
        V = self.model.V
        key = (key * V + np.asarray(symbols, np.int64)) % self.modulus
        history = np.minimum(history + 1, self.width)
        windows = (key[:, None] * V + np.arange(V, dtype=np.int64)[None, :]).ravel()
        rows = self.model.logprob_keys(windows, np.repeat(history, V)).reshape(len(key), V)
        return (key, history), rows


def steps_of(model: LanguageModel):
    """What draws a left-to-right model's rows symbol by symbol: itself (``SEQUENTIAL``) or a
    ``BoundedSteps`` over its packed contexts."""
    if SEQUENTIAL in model.capabilities:
        return model
    if BOUNDED_CONTEXT in model.capabilities:
        return BoundedSteps(model)
    raise NgramError(f"{model.describe()}: not a left-to-right next-symbol model (a whole-name mixture cannot be "
                     "a component of a per-symbol mixture)")


class SymbolMixture(NameModel):
    """What both per-symbol mixtures share: components, provenance, the per-row combination."""

    capabilities = frozenset({SEQUENTIAL, NEXT_SYMBOL})

    def __init__(self, components: Sequence[LanguageModel], weights, estimator: dict, corpus: dict | None,
                 train_names: np.ndarray | None):
        self.components = list(components)
        if len(self.components) < 1:
            raise NgramError("a mixture needs at least one component")
        self.vocabulary = self.components[0].vocabulary
        if any(m.vocabulary != self.vocabulary for m in self.components[1:]):
            raise NgramError("mixture components must share one vocabulary")
        self._steps = [steps_of(m) for m in self.components]
        self.weights = self._check(np.asarray(weights, np.float64))
        self.order = max(m.order for m in self.components)
        self.estimator = estimator
        self.corpus = corpus or dict(self.components[0].corpus)
        self.train_names = train_names if train_names is not None else self.components[0].train_names

    def _check(self, weights: np.ndarray) -> np.ndarray:
        if weights.shape != (len(self.components),) or not np.isfinite(weights).all() or (weights < 0).any():
            raise NgramError(f"mixture weights must be {len(self.components)} finite non-negative numbers, "
                             f"got {weights.tolist()}")
        return weights

    def combine(self, logrows: np.ndarray) -> np.ndarray:
        """ln-rows of the mixture from the components' (K, ..., V) ln-rows."""
        raise NotImplementedError

    # ----- the protocol ------------------------------------------------------------------------
    def logprobs(self, context: str = "", at_start: bool = True) -> np.ndarray:
        return self.combine(np.stack([m.logprobs(context, at_start) for m in self.components]))

    def row_logprobs(self, encoded: Encoded) -> np.ndarray:
        return self.combine(np.stack([m.row_logprobs(encoded) for m in self.components]))

    def logprob_encoded(self, encoded: Encoded) -> np.ndarray:
        rows = self.row_logprobs(encoded)
        return rows[np.arange(len(rows)), encoded.ids[1:]]

    def name_logprobs(self, encoded: Encoded) -> np.ndarray:
        logp = self.logprob_encoded(encoded)
        return np.add.reduceat(logp, encoded.starts) if len(logp) else np.zeros(encoded.n_names)

    def start_state(self, n: int):
        return [s.start_state(n) for s in self._steps]

    def step(self, state, symbols: np.ndarray):
        out = [s.step(st, symbols) for s, st in zip(self._steps, state)]
        return [o[0] for o in out], self.combine(np.stack([o[1] for o in out]))

    def n_ngrams(self) -> list[int]:
        counted = [m.n_ngrams() for m in self.components]
        return max(counted, key=len) if counted else []

    def _parts(self) -> str:
        return "; ".join(f"{w:.3f} x {m.describe()}" for w, m in zip(self.weights, self.components))


class LinearSymbolMixture(SymbolMixture):
    """p(w | h) = Σ_k λ_k p_k(w | h)."""

    kind = "symbol-linear"

    def __init__(self, components, weights, estimator: dict | None = None, corpus: dict | None = None,
                 train_names: np.ndarray | None = None):
        super().__init__(components, weights, estimator or {"name": "symbol-linear"}, corpus, train_names)

    def _check(self, weights: np.ndarray) -> np.ndarray:
        weights = super()._check(weights)
        if abs(weights.sum() - 1.0) > 1e-9:
            raise NgramError(f"per-symbol linear weights must sum to 1, got {weights.tolist()}")
        return weights

    def combine(self, logrows: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logw = np.log(self.weights).reshape((-1,) + (1,) * (logrows.ndim - 1))
        return logsumexp(logrows + logw, axis=0)

    def describe(self) -> str:
        return f"per-symbol linear mixture: {self._parts()}"


class LogLinearMixture(SymbolMixture):
    """p(w | h) ∝ Π_k p_k(w | h)^{a_k}, renormalised over the vocabulary."""

    kind = "loglinear"

    def __init__(self, components, weights, estimator: dict | None = None, corpus: dict | None = None,
                 train_names: np.ndarray | None = None):
        super().__init__(components, weights, estimator or {"name": "loglinear"}, corpus, train_names)
        if not self.weights.sum() > 0:
            raise NgramError("log-linear exponents must not all be 0")

    def combine(self, logrows: np.ndarray) -> np.ndarray:
        a = self.weights.reshape((-1,) + (1,) * (logrows.ndim - 1))
        score = np.sum(a * np.maximum(logrows, FLOOR), axis=0)
        # A symbol some component with a positive exponent rules out stays ruled out.
        score = np.where(np.any((a > 0) & ~np.isfinite(logrows), axis=0), -np.inf, score)
        return score - logsumexp(score, axis=-1)[..., None]

    def describe(self) -> str:
        return f"log-linear mixture (renormalised): {self._parts()}"


def fit_loglinear(logrows: np.ndarray, targets: np.ndarray, upper: float = 4.0) -> tuple[np.ndarray, float]:
    """Exponents minimising the NLL of ``targets`` under the renormalised product of the
    components' rows ``logrows`` (K, rows, V); returns (exponents, NLL in nats/symbol). Convex in
    the exponents, so L-BFGS-B from all-ones finds the optimum."""
    from scipy.optimize import minimize

    rows = np.maximum(logrows, FLOOR)
    picked = rows[:, np.arange(rows.shape[1]), targets]  # (K, rows)

    def nll(a):
        score = np.tensordot(a, rows, axes=1)
        log_z = logsumexp(score, axis=-1)
        q = np.exp(score - log_z[:, None])
        value = float(np.mean(log_z - a @ picked))
        grad = np.mean(np.einsum("rv,krv->kr", q, rows) - picked, axis=1)
        return value, grad

    k = rows.shape[0]
    result = minimize(nll, np.ones(k), jac=True, method="L-BFGS-B", bounds=[(0.0, upper)] * k)
    return np.asarray(result.x, np.float64), float(result.fun)

