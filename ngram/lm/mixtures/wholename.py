"""A whole-name mixture whose left-to-right components may have no finite state (a neural model,
or a per-symbol mixture holding one), kind ``name-sequential``.

p(name) = Σ_k w_k p_k(name), as ``ngram.lm.mixtures.models.NameMixture`` (whose scoring, sampling
by component and file form it shares). Its next-symbol vectors need each component's prefix
masses P_k(s…) (the probability of the names that start with s):

- a left-to-right component: the chain rule along s, P_k(s…) = Π p_k(s_i | s_<i), and the vector
  after s is P_k(s…) p_k(c | s); read from the component's own rows, for every name of a corpus
  in one batch (a neural component has no automaton to walk);
- a right-to-left count component: the automaton's expected visits, as ``NameMixture`` does.

p(c | s) = Σ_k w_k P_k(s·c…) / Σ_k w_k P_k(s…), p(end | s) = Σ_k w_k p_k(s) / Σ_k w_k P_k(s…).
"""

from __future__ import annotations

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY, Encoded
from ngram.lm.backoff.automaton import _prefix_walk  # the right-to-left prefix masses, one name at a time
from ngram.lm.mixtures.loglinear import _logsumexp, steps_of
from ngram.lm.mixtures.models import NameMixture
from ngram.lm.protocol import SEQUENTIAL


class SequentialNameMixture(NameMixture):
    """``NameMixture`` with next-symbol answers for left-to-right components of any kind."""

    kind = "name-sequential"
    capabilities = frozenset()

    def __init__(self, components, reverse, weights, estimator: dict | None = None, corpus: dict | None = None,
                 train_names: np.ndarray | None = None):
        super().__init__(components, reverse, weights, estimator, corpus, train_names)
        for m, r in zip(self.components, self.reverse):
            if r and SEQUENTIAL in m.capabilities:
                raise NgramError(f"a right-to-left component must be a count model, not a {m.describe()}")
            if not r:
                steps_of(m)  # a left-to-right next-symbol model, or a one-line refusal

    def _walks(self, encoded: Encoded, vectors: bool):
        """Per component (log weight, before, after, rows): ln P_k of each target's prefix before and
        after it (the end target's 'after' is ln p_k(name)), and with ``vectors`` ln P_k(prefix·c…)
        for every symbol c at every target."""
        lengths = encoded.symbols_per_name()
        first = np.repeat(encoded.starts, lengths)
        targets = encoded.ids[1:]
        for w, m, r in zip(self.weights, self.components, self.reverse):
            if w <= 0:
                continue
            if not r:
                rows = m.row_logprobs(encoded)
                logp = rows[np.arange(len(rows)), targets]
                total = np.concatenate(([0.0], np.cumsum(logp)))
                j = np.arange(len(logp))
                before = total[j] - total[first]
                after = total[j + 1] - total[first]
                yield np.log(w), before, after, (before[:, None] + rows if vectors else None)
                continue
            before, after = np.empty(len(targets)), np.empty(len(targets))
            rows = np.empty((len(targets), self.V)) if vectors else None
            for k in range(encoded.n_names):
                lo = int(encoded.starts[k])
                hi = lo + int(lengths[k])
                ids = [int(x) for x in targets[lo : hi - 1]]
                walk, end = _prefix_walk(m, ids, True, vectors)
                masses = np.array([x for x, _ in walk])
                before[lo:hi] = masses
                after[lo:hi] = np.append(masses[1:], end)
                if vectors:
                    rows[lo:hi] = np.stack([x for _, x in walk])
            yield np.log(w), before, after, rows

    def logprob_encoded(self, encoded: Encoded) -> np.ndarray:
        parts = list(self._walks(encoded, vectors=False))
        before = _logsumexp(np.stack([lw + b for lw, b, _, _ in parts]), axis=0)
        after = _logsumexp(np.stack([lw + a for lw, _, a, _ in parts]), axis=0)
        return after - before

    def row_logprobs(self, encoded: Encoded) -> np.ndarray:
        rows = _logsumexp(np.stack([lw + v for lw, _, _, v in self._walks(encoded, vectors=True)]), axis=0)
        return rows - _logsumexp(rows, axis=1)[:, None]

    def logprobs(self, context: str = "", at_start: bool = True) -> np.ndarray:
        if not at_start:
            raise NgramError("a whole-name mixture answers next-symbol questions after the start of a name only "
                             "(its components read whole names)")
        ids = self.vocabulary.encode_context(context)
        encoded = Encoded(ids=np.concatenate(([BOUNDARY], ids, [BOUNDARY])).astype(np.int64),
                          starts=np.zeros(1, np.int64))
        return self.row_logprobs(encoded)[-1]
