"""Estimators: one class per smoothing family, each compiling counts into the one Model."""

from ngram.core.defaults import AUTO, AUTO_MAX_NAMES, AUTO_MIN_NAMES, DEFAULT_ESTIMATOR, DEFAULT_ORDER

from .additive import MLE, AddK
from .base import Estimator
from .discounting import AbsoluteDiscounting, KneserNey, ModifiedKneserNey
from .jelinek_mercer import JelinekMercer
from .witten_bell import WittenBell

ESTIMATORS = {
    "mle": MLE,
    "add-k": AddK,
    "witten-bell": WittenBell,
    "absolute": AbsoluteDiscounting,
    "kneser-ney": KneserNey,
    "modified-kneser-ney": ModifiedKneserNey,
    "jelinek-mercer": JelinekMercer,
}

# The defaults (AUTO, DEFAULT_ORDER, DEFAULT_ESTIMATOR, ...) are set once, in ngram.core.defaults.
DEFAULT_SETTINGS: dict = {}  # closed-form discounts from the corpus's counts-of-counts


def make_estimator(name: str, **settings) -> Estimator:
    from ngram.core.errors import NgramError

    if name not in ESTIMATORS:
        raise NgramError(f"unknown smoothing {name!r}; choose one of {', '.join(ESTIMATORS)}")
    try:
        return ESTIMATORS[name](**settings)
    except TypeError:
        # A setting another smoothing takes (e.g. --k with kneser-ney): say so in one line.
        import inspect

        accepted = [p for p in inspect.signature(ESTIMATORS[name]).parameters]
        given = ", ".join(sorted(set(settings) - set(accepted)) or sorted(settings))  # name only the ones it refuses
        raise NgramError(f"{name} does not take {given}; it takes {', '.join(accepted) or 'no settings'}") from None


def default_estimator() -> Estimator:
    """The closed-form estimator used wherever none is named and nothing is tuned (the shared default)."""
    return make_estimator(DEFAULT_ESTIMATOR)


__all__ = [
    "Estimator", "MLE", "AddK", "WittenBell", "AbsoluteDiscounting", "KneserNey", "ModifiedKneserNey",
    "JelinekMercer", "ESTIMATORS", "make_estimator", "default_estimator", "DEFAULT_ORDER", "DEFAULT_ESTIMATOR", "DEFAULT_SETTINGS",
    "AUTO", "AUTO_MIN_NAMES", "AUTO_MAX_NAMES",
]
