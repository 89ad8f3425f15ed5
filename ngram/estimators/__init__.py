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

# ``ngram train``'s default estimator, AUTO, is not one estimator but a choice made on the corpus
# (``ngram.training.trainer.train_auto``: what ``ngram tune`` picks by cross-validation). On seeded 90/10
# splits of the shipped Italian corpus no single back-off model came within 0.02 nats/symbol of
# that choice every time (closed-form modified KN order 6 trails by 0.022-0.030, tuned discounts
# by 0.015-0.023, a left-to-right order mixture by 0.011-0.022: the right-to-left direction is
# what the rest needs). See docs/quality.md.
AUTO = "auto"
# Below this many names no fold holds enough held-out names to choose anything on.
AUTO_MIN_NAMES = 50
# Above this many names, cross-validated tuning takes minutes (90,000 ten-character words: 110 s
# of CPU, 1.7 GB) while its gain over closed-form modified KN shrinks with the data (0.010
# nats/symbol on the 31,032 English names): the closed form is then the default, and
# ``ngram tune`` is one command away.
AUTO_MAX_NAMES = 50_000
# Where AUTO cannot tune (streamed, weighted, pruned or compact output, too few or too many
# names) and wherever an estimator is named without an order: closed-form modified KN (what
# KenLM's lmplz builds) at order 6, the best of orders 2-10 on those splits.
DEFAULT_ORDER = 6
DEFAULT_ESTIMATOR = "modified-kneser-ney"
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


__all__ = [
    "Estimator", "MLE", "AddK", "WittenBell", "AbsoluteDiscounting", "KneserNey", "ModifiedKneserNey",
    "JelinekMercer", "ESTIMATORS", "make_estimator", "DEFAULT_ORDER", "DEFAULT_ESTIMATOR", "DEFAULT_SETTINGS",
    "AUTO", "AUTO_MIN_NAMES", "AUTO_MAX_NAMES",
]
