"""Every default the library and the command line share, set once.

``ngram.train(names)`` in Python and ``ngram train names.txt`` read these same values, so both
give the same kind of model; ``ngram.training.policy`` makes the decisions that depend on the
corpus (tune or fall back to the closed form, which engine). Constants only: this module sits in
core so that every room may read it.
"""

from __future__ import annotations

# The default estimator, AUTO, is not one estimator but a choice made on the corpus
# (``ngram.training.trainer.train_auto``: what ``ngram tune`` picks by cross-validation). On seeded
# 90/10 splits of the shipped Italian corpus no single back-off model came within 0.02 nats/symbol
# of that choice every time (closed-form modified KN order 6 trails by 0.022-0.030, tuned discounts
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
# AUTO tunes orders 2 to this (or to the order asked for).
AUTO_MAX_ORDER = 10
# Where AUTO cannot tune (streamed, weighted, pruned or compact output, too few or too many
# names) and wherever an estimator is left out but an order given: closed-form modified KN (what
# KenLM's lmplz builds) at order 6, the best of orders 2-10 on those splits.
DEFAULT_ORDER = 6
DEFAULT_ESTIMATOR = "modified-kneser-ney"

# Training engines; "auto" picks in memory when the corpus fits the default budget.
ENGINES = ("auto", "memory", "streaming", "dask")
DEFAULT_ENGINE = "auto"
# With no memory budget given, a run takes at most 1/MEMORY_SHARE of the machine's memory.
MEMORY_SHARE = 4

# What happens to characters outside a model's vocabulary at evaluation.
UNKNOWN_POLICIES = ("error", "skip", "unk")


def unknown_policy(unknown: str | None, has_unk: bool) -> str:
    """The unknown-character policy to use: the one asked for, else ``unk`` for a model with an
    ``<unk>`` class (it was trained to score them) and ``error`` for one without."""
    if unknown is not None:
        return unknown
    return "unk" if has_unk else "error"
