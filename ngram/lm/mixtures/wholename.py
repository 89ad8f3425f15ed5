"""A whole-name mixture whose left-to-right components may have no finite state (a neural model,
or a per-symbol mixture holding one), kind ``name-sequential``.

p(name) = Σ_k w_k p_k(name), exactly ``ngram.lm.mixtures.models.NameMixture`` (scoring, the
batched next-symbol answers of ``name_rows``, sampling by component, the file form): a
left-to-right component's prefix masses come from its own rows by the chain rule, which a neural
model answers for a whole batch, and only a right-to-left component needs context states. What
this kind adds is the check that the right-to-left components are count models.
"""

from __future__ import annotations

import numpy as np

from ngram.core.errors import NgramError, indefinite
from ngram.lm.mixtures.loglinear import steps_of
from ngram.lm.mixtures.models import NameMixture
from ngram.lm.protocol import SEQUENTIAL


class SequentialNameMixture(NameMixture):
    """``NameMixture`` whose left-to-right components may be of any next-symbol kind."""

    kind = "name-sequential"

    def __init__(self, components, reverse, weights, estimator: dict | None = None, corpus: dict | None = None,
                 train_names: np.ndarray | None = None):
        super().__init__(components, reverse, weights, estimator, corpus, train_names)
        for m, r in zip(self.components, self.reverse):
            if r and SEQUENTIAL in m.capabilities:
                raise NgramError(f"a right-to-left component must be a count model, not {indefinite(m.describe())}")
            if not r:
                steps_of(m)  # a left-to-right next-symbol model, or a one-line refusal
