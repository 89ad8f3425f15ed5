"""The search: minimise the held-out NLL of one estimator at one order with L-BFGS-B."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ngram.core.counting import Counts
from .families import FAMILIES, addk_logprobs, position_logprobs
from .statistics import FoldStats


# ----------------------------------------------------------------------------------------------
@dataclass
class Fit:
    estimator: str
    order: int
    settings: dict
    heldout_nll: float
    evaluations: int = 0
    start_nll: float | None = None  # closed-form / default settings, before the search


def _total_symbols(folds: Sequence[FoldStats]) -> int:
    return sum(f.symbols for f in folds)


def fit_family(name: str, order: int, folds: Sequence[FoldStats], counts: Counts, search: bool = True,
               start: Fit | None = None) -> Fit:
    """Minimise the held-out NLL (summed over folds) of one estimator at one order.

    The search starts from the closed-form settings, or from ``start``'s for the orders it covers;
    ``start_nll`` is always the closed-form settings' held-out NLL; ``search=False`` returns those
    settings (closed-form modified KN is what KenLM builds).
    """
    from scipy.optimize import minimize  # deferred: scipy's import costs start-up time for other verbs

    total = _total_symbols(folds)
    if name == "add-k":
        def objective(z):
            k = math.exp(z[0])
            values = [addk_logprobs(k, order, f, gradient=True) for f in folds]
            return -sum(v[0].sum() for v in values) / total, np.array([-sum(v[1] for v in values) * k / total])

        z0 = np.array([math.log(start.settings["k"] if start else 0.1)])
        start_nll = objective(np.array([math.log(0.1)]))[0]
        if not search:
            return Fit(name, order, {"k": 0.1}, float(start_nll), 1, float(start_nll))
        res = minimize(objective, z0, jac=True, method="L-BFGS-B", bounds=[(math.log(1e-6), math.log(100.0))])
        return Fit(name, order, {"k": float(math.exp(res.x[0]))}, float(res.fun), int(res.nfev), float(start_nll))
    family = FAMILIES[name]
    closed = family.initial(counts, order)
    x0 = closed.copy()
    if start is not None:  # its settings for the orders it has (a lower-order fit: the orders below)
        given = settings_vector(start.settings, name, start.order)[: len(x0)]
        x0[: len(given)] = given

    def objective(x):
        logp_sum, grad = 0.0, np.zeros(len(x))
        for f in folds:
            logp, g = position_logprobs(family, x, order, f, gradient=True)
            logp_sum += logp.sum()
            grad += g
        return -logp_sum / total, -grad / total

    start_nll = objective(closed)[0]
    if family.per_order == 0 or not search:
        return Fit(name, order, family.settings(closed, order), float(start_nll), 1, float(start_nll))
    bounds = [b for n in range(1, order + 1) for b in family.bounds(n)]
    res = minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    return Fit(name, order, family.settings(res.x, order), float(res.fun), int(res.nfev), float(start_nll))


def fit_logprobs(fit: Fit, fold: FoldStats) -> np.ndarray:
    """ln p at every held-out position of ``fold`` under a fitted candidate."""
    if fit.estimator == "add-k":
        return addk_logprobs(fit.settings["k"], fit.order, fold)[0]
    family = FAMILIES[fit.estimator]
    x = settings_vector(fit.settings, fit.estimator, fit.order)
    return position_logprobs(family, x, fit.order, fold)[0]


def settings_vector(settings: dict, name: str, order: int) -> np.ndarray:
    return FAMILIES[name].vector(settings, order) if name in FAMILIES else np.zeros(0)


def candidate_row(kind: str, estimator: str, order, settings: dict, heldout: float, train: float | None = None,
               description: str = "", start: float | None = None) -> dict:
    return {"kind": kind, "estimator": estimator, "order": order, "settings": settings, "train_nll": train,
            "heldout_nll": heldout, "description": description, "start_nll": start, "best": False}


def cross_fitted_nll(fit: Fit, stats: FoldStats, groups: np.ndarray, counts: Counts) -> float:
    """Held-out NLL of ``fit``'s family and order with settings searched on the other groups only.

    ``groups`` gives each held-out position's group (its fold, or a seeded group of held-out
    names): the figure is then held out from the settings too, and comparable with a family that
    has nothing to fit (closed-form discounts).
    """
    if len(np.unique(groups)) < 2:  # one held-out name: nothing to cross-fit with
        return fit.heldout_nll
    total = 0.0
    for g in np.unique(groups):
        here = groups == g
        other = fit_family(fit.estimator, fit.order, [stats.take(~here).by_depth()], counts, start=fit)
        total += fit_logprobs(other, stats.take(here)).sum()
    return float(-total / stats.symbols)
