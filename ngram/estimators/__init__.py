"""Estimators: one class per smoothing family, each compiling counts into the one Model."""

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

# The model ``ngram train`` builds when no estimator or order is given: closed-form modified KN
# (what KenLM's lmplz builds) at order 6, best of orders 2-10 on a seeded 90/10 split of the
# shipped Italian corpus (test 1.528 nats/symbol against 1.507 for ``ngram tune``'s whole-name
# mixture on the same split; the blog's add-k, order 4, k = 0.1: 1.743). See docs/quality.md.
DEFAULT_ORDER = 6
DEFAULT_ESTIMATOR = "modified-kneser-ney"
DEFAULT_SETTINGS: dict = {}  # closed-form discounts from the corpus's counts-of-counts


def make_estimator(name: str, **settings) -> Estimator:
    from ..errors import NgramError

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


__all__ = [
    "Estimator", "MLE", "AddK", "WittenBell", "AbsoluteDiscounting", "KneserNey", "ModifiedKneserNey",
    "JelinekMercer", "ESTIMATORS", "make_estimator", "DEFAULT_ORDER", "DEFAULT_ESTIMATOR", "DEFAULT_SETTINGS",
]
