"""Estimators: one class per smoothing family, each compiling counts into the one Model."""

from .additive import MLE, AddK
from .base import Estimator

ESTIMATORS = {"mle": MLE, "add-k": AddK}


def make_estimator(name: str, **settings) -> Estimator:
    from ..errors import NgramError

    if name not in ESTIMATORS:
        raise NgramError(f"unknown smoothing {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](**settings)


__all__ = ["Estimator", "MLE", "AddK", "ESTIMATORS", "make_estimator"]
