"""Linear mixtures of models: weights fitted by EM on held-out names, compiled into one Model.

A linear mixture of next-symbol models is itself a next-symbol model,

    p(w | h) = Σ_i λ_i p_i(w | h),      λ_i >= 0, Σ λ_i = 1,

so it fits the one back-off representation exactly. The compiled model stores, for every
context some component can tell apart from its shorter suffix, the whole mixed row (all V
children). A context no component stores is one where every component answers as for its
suffix, so the mixture does too: back-off weight 1 is then exact, and the stored back-off
weights are all 1 (log 0). "Tell apart" means: stored in some component as an n-gram (it may
carry a back-off weight there even without children), so the contexts are the union of the
components' n-gram sets, which is closed under prefixes and suffixes like each of them.

EM on held-out symbols (the one EM of the package: ``mix`` and the order and whole-name
mixtures of ``ngram.tuning`` all fit with ``em_weights``): with P[t, i] = p_i(symbol t | its
context), one iteration sets λ_i <- mean_t λ_i P[t, i] / Σ_j λ_j P[t, j]. Each iteration never
increases the held-out NLL (EM's monotonicity), and the weights stay on the simplex. With
buckets (weights that depend on the context's bucket, as an order mixture's do) each bucket is
the same problem over its own rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ngram.core.arrays import distinct
from ngram.core.errors import NgramError, indefinite
from ngram.lm.backoff.model import Level, Model
from ngram.lm.protocol import BOUNDED_CONTEXT, LanguageModel, require
from ngram.core.vocabulary import BOUNDARY, Encoded


@dataclass
class EMResult:
    weights: np.ndarray  # (components,) on the simplex; with buckets (buckets, components), each row on it
    nll: list[float] = field(default_factory=list)  # held-out nats/symbol: start, then after each iteration
    iterations: int = 0
    converged: bool = False
    symbols: int = 0  # held-out symbols the NLL is averaged over
    component_nll: list[float] = field(default_factory=list)  # each component alone, nats/symbol


def check_compatible(models: Sequence[LanguageModel], verb: str = "mix") -> None:
    """Components must be next-symbol models of one bounded context over one vocabulary (the
    same symbol ids); orders may differ."""
    if len(models) < 2:
        raise NgramError(f"a mixture needs at least two models, got {len(models)}")
    for i, m in enumerate(models, start=1):
        require(m, BOUNDED_CONTEXT, verb, f"model {i} is {indefinite(m.describe())}; it has no next-symbol rows of a bounded "
                "context to mix linearly (mix its left-to-right components instead)")
    first = models[0].vocabulary
    for i, m in enumerate(models[1:], start=2):
        if m.vocabulary != first:
            extra = sorted(set(m.vocabulary.characters) ^ set(first.characters))
            what = f"characters {''.join(extra)!r} are in one but not the other" if extra else "one has <unk> and the other not"
            raise NgramError(f"model {i} has a different vocabulary from model 1 ({what}); a mixture needs models with one shared vocabulary")


def component_logprobs(models: Sequence[LanguageModel], encoded: Encoded) -> np.ndarray:
    """ln p_i of every held-out symbol under each component: shape (symbols, components)."""
    return np.stack([m.logprob_encoded(encoded) for m in models], axis=1)


def mixture_logprobs(logp: np.ndarray, weights: np.ndarray, buckets: np.ndarray | None = None) -> np.ndarray:
    """ln Σ_i λ_i p_i per row, computed stably from the components' log-probabilities; with
    ``buckets``, row t uses the weights ``weights[buckets[t]]``."""
    weights = np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    a = logp + (log_weights[None, :] if buckets is None else log_weights[buckets])
    top = a.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    return safe + np.log(np.exp(a - safe[:, None]).sum(axis=1))


def em_weights(logp: np.ndarray, buckets: np.ndarray | None = None, n_buckets: int | None = None,
               initial: Sequence[float] | None = None, max_iterations: int = 1000, tolerance: float = 1e-7,
               symbols: int | None = None) -> EMResult:
    """Fit mixture weights by EM to per-row component log-probabilities ``logp`` (T × K).

    Without ``buckets`` one weight vector (K,) explains every row. With ``buckets`` (a bucket id
    per row, ``n_buckets`` of them) the rows of bucket b are explained by their own weights
    λ[b, :]: each bucket is an independent EM problem, so an iteration over all of them never
    raises the total held-out NLL either; a bucket with no rows keeps its starting weights.
    ``symbols`` divides the NLL (default: the number of rows, i.e. per symbol; pass the symbol
    count when rows are whole names). Stops when an iteration lowers the held-out NLL by less than
    ``tolerance`` nats/symbol.
    """
    if not (tolerance >= 0 and math.isfinite(tolerance)):  # NaN or < 0 would never stop early
        raise NgramError(f"tolerance must be a finite number >= 0 (nats/symbol), got {tolerance}")
    logp = np.asarray(logp, dtype=np.float64)
    T, K = logp.shape
    if T == 0:
        raise NgramError("no held-out symbols to fit mixture weights on")
    weights = np.full(K, 1.0 / K) if initial is None else np.asarray(initial, dtype=np.float64)
    if weights.shape != (K,) or (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
        raise NgramError(f"initial weights must be {K} non-negative numbers summing to 1")
    top = logp.max(axis=1)
    if not np.isfinite(top).all():
        bad = int(np.flatnonzero(~np.isfinite(top))[0])
        raise NgramError(f"held-out symbol {bad + 1} has probability 0 under every model; no mixture can score it")
    bucketed = buckets is not None
    buckets = np.zeros(T, np.int64) if buckets is None else np.asarray(buckets, np.int64)
    B = int(n_buckets if n_buckets is not None else buckets.max() + 1)
    weights = np.tile(weights, (B, 1))
    # Rows sorted by bucket: each bucket's sums are then one contiguous reduction.
    by_bucket = np.argsort(buckets, kind="stable")
    logp, buckets = logp[by_bucket], buckets[by_bucket]
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    present = buckets[starts]
    rows_per_bucket = np.diff(np.r_[starts, T])
    sizes = rows_per_bucket.astype(np.float64)
    # Scale each row by its best component so the E-step never underflows.
    top = logp.max(axis=1)
    shifted = np.exp(logp - top[:, None])
    offset = float(top.sum())
    per = symbols or T
    share = np.empty_like(shifted)

    def mixed_by(w):
        return np.einsum("tk,tk->t", shifted, np.repeat(w[present], rows_per_bucket, axis=0))

    mixed = mixed_by(weights)
    result = EMResult(weights=weights, symbols=per, component_nll=[float(-logp[:, i].sum() / per) for i in range(K)])
    result.nll.append(float(-(np.log(mixed).sum() + offset) / per))
    for iteration in range(1, max_iterations + 1):
        np.divide(shifted, mixed[:, None], out=share)
        totals = np.add.reduceat(share, starts, axis=0)
        weights = weights.copy()
        weights[present] = weights[present] * totals / sizes[:, None]
        weights /= weights.sum(axis=1, keepdims=True)  # only rounding moves a row off the simplex
        mixed = mixed_by(weights)  # also the next E-step's denominators
        result.nll.append(float(-(np.log(mixed).sum() + offset) / per))
        result.iterations = iteration
        if result.nll[-2] - result.nll[-1] < tolerance:
            result.converged = True
            break
    result.weights = weights if bucketed else weights[0]
    return result


def fit_weights(models: Sequence[LanguageModel], names: Sequence[str], unknown: str = "error", source: str = "<names>",
                line_numbers: Sequence[int] | None = None, max_iterations: int = 1000, tolerance: float = 1e-7) -> EMResult:
    """EM mixture weights for ``models`` on held-out ``names``."""
    check_compatible(models)
    encoded = models[0].vocabulary.encode(names, unknown=unknown, line_numbers=line_numbers, source=source)
    return em_weights(component_logprobs(models, encoded), max_iterations=max_iterations, tolerance=tolerance)


COMPILE_TOLERANCE = 1e-9  # nats: the most the compiled model may differ from the mixture on a held-out symbol


@dataclass
class Mixed:
    """What ``mix`` made: the compiled model, the EM fit, and the check that they agree."""

    model: Model  # the mixture compiled into one back-off model
    fit: EMResult  # weights, held-out NLL per iteration, each component alone
    validation: str  # where the held-out names came from
    names: int  # held-out names
    max_abs_logprob_gap: float  # nats, compiled model vs the mixture over every held-out symbol


def mix(models: Sequence[LanguageModel], names: Sequence[str], unknown: str = "error", source: str = "<names>",
        line_numbers: Sequence[int] | None = None, max_iterations: int = 1000, tolerance: float = 1e-7) -> Mixed:
    """Fit EM weights for ``models`` on held-out ``names``, compile the mixture into one back-off
    model, and verify it: the compiled model must give every held-out symbol the mixture's ln p
    within ``COMPILE_TOLERANCE`` nats (else an NgramError: that would be a bug, not bad input)."""
    if max_iterations < 1:
        raise NgramError(f"iterations must be at least 1, got {max_iterations}")
    check_compatible(models)
    encoded = models[0].vocabulary.encode(names, unknown=unknown, line_numbers=line_numbers, source=source)
    logp = component_logprobs(models, encoded)
    fit = em_weights(logp, max_iterations=max_iterations, tolerance=tolerance)
    mixed = compile_mixture(models, fit.weights)
    mixed.corpus["validation"] = source
    gap = float(np.max(np.abs(mixed.logprob_encoded(encoded) - mixture_logprobs(logp, fit.weights))))
    if not gap <= COMPILE_TOLERANCE:
        raise NgramError(f"internal error: the compiled mixture differs from the mixture by {gap:g} nats on {source}")
    return Mixed(model=mixed, fit=fit, validation=source, names=len(names), max_abs_logprob_gap=gap)


def _context_set(models: Sequence[LanguageModel], m: int, V: int) -> np.ndarray:
    """Contexts of length m that get a dense row: every m-gram stored in some component.

    Beyond length 1 an m-gram ending in the boundary ends a name, so nothing follows it and it
    needs no row; nor does one with a boundary inside, which no history can hold.
    """
    keys = [k for model in models for k in model.stored_keys(m)]
    union = distinct(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
    if m == 1:
        return np.arange(V, dtype=np.int64)
    digits_ok = np.ones(len(union), bool)
    rest = union.copy()
    for _ in range(m - 1):  # every symbol but the first must be a real character
        digits_ok &= rest % V != BOUNDARY
        rest //= V
    return union[digits_ok]


def compile_mixture(models: Sequence[LanguageModel], weights: Sequence[float]) -> Model:
    """The mixture Σ λ_i p_i as one back-off Model (order = the highest component order).

    Components are any models with ``BOUNDED_CONTEXT`` (back-off models, order mixtures): their
    rows change only at the contexts ``stored_keys`` lists, so every row is compiled exactly.
    """
    check_compatible(models)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(models),) or (weights < 0).any() or not np.isclose(weights.sum(), 1.0, atol=1e-9):
        raise NgramError(f"mixture weights must be {len(models)} non-negative numbers summing to 1, got {list(weights)}")
    V = models[0].V
    order = max(m.order for m in models)
    symbols = np.arange(V, dtype=np.int64)
    keep = weights > 0

    def mixed(window: np.ndarray, history: int) -> np.ndarray:
        logp = np.stack([m.logprob_keys(window, np.full(len(window), history)) for m, k in zip(models, keep) if k], axis=1)
        return mixture_logprobs(logp, weights[keep])

    # Order 1: the row of the empty context, which only an order-1 query reaches.
    levels = [Level(symbols.copy(), mixed(symbols, 0), np.zeros(V))]
    for n in range(2, order + 1):
        contexts = _context_set(models, n - 1, V)
        keys = (contexts[:, None] * V + symbols[None, :]).ravel()
        # Dense children make the row of every stored context exact; contexts are sorted, so keys are.
        levels.append(Level(keys, mixed(keys, n - 1), np.zeros(len(keys))))
    names = [m.train_names for m in models if m.train_names is not None]
    return Model(
        vocabulary=models[0].vocabulary,
        order=order,
        levels=levels,
        estimator={
            "name": "mixture",
            "weights": [float(w) for w in weights],
            "components": [{"order": m.order, "estimator": m.estimator.get("name"), "corpus": m.corpus.get("source")} for m in models],
        },
        corpus={"source": " + ".join(dict.fromkeys(str(m.corpus.get("source", "?")) for m in models))},
        train_names=distinct(np.concatenate(names)) if names else None,
    )
