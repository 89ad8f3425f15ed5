"""What every model kind shares, written once: the parts of ``ngram.lm.protocol.LanguageModel`` that
follow from a few questions each kind answers itself.

- ``NameModel``: any distribution over names. From ``name_logprobs`` (ln p of whole names) and
  ``logprobs`` (the next-symbol vector after a prefix) it gives ``probs``, ``score``, ``logprob``
  and the default ``name_components``. A whole-name mixture is one of these.
- ``NextSymbolModel``: a model whose next-symbol row depends on the last ``order - 1`` symbols
  only, answering ``logprob_keys(window_keys, history)`` for packed windows. From that one
  question it gives every per-symbol answer: ``logprob_encoded``, ``row_logprobs``,
  ``name_logprobs``, ``logprobs``. Back-off models and order mixtures are these.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ngram.lm.protocol import BOUNDED_CONTEXT
from ngram.core.vocabulary import BOUNDARY, Encoded


def logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """ln Σ exp(a) along ``axis``, stable, and -inf (not nan) where every entry is -inf."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(a - top), axis=axis))


class NameModel:
    """Shared behaviour of every model kind (see the module docstring)."""

    capabilities: frozenset = frozenset()

    @property
    def V(self) -> int:
        return self.vocabulary.size

    def probs(self, context: str = "", at_start: bool = True) -> np.ndarray:
        """p(next symbol | context) over the whole vocabulary (index 0 = end of name); sums to 1."""
        return np.exp(self.logprobs(context, at_start))

    def score(self, names: Sequence[str], unknown: str = "error") -> tuple[np.ndarray, np.ndarray]:
        """Total ln p and scored symbols per name, all names in one vectorised pass."""
        encoded = self.vocabulary.encode(names, unknown=unknown)
        return self.name_logprobs(encoded), encoded.symbols_per_name()

    def logprob(self, name: str) -> float:
        """ln p(name), end symbol included."""
        return float(self.score([name])[0][0])

    def name_components(self) -> list:
        """One whole-name component: the model itself, read left to right."""
        return [(1.0, self, False)]


class NextSymbolModel(NameModel):
    """A bounded-context next-symbol model: everything from ``logprob_keys`` (see the module docstring)."""

    capabilities = frozenset({BOUNDED_CONTEXT})

    def _power(self, n: int) -> int:
        return self.V**n

    def window_keys(self, encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """Packed windows (target lowest, then up to order-1 preceding symbols) and histories for
        every target position of an encoded corpus."""
        ids = encoded.ids
        targets = np.arange(1, len(ids), dtype=np.int64)
        keys = np.zeros(len(targets), dtype=np.int64)
        for i in range(self.order):
            keys += ids[np.maximum(targets - i, 0)] * self._power(i)
        return keys, encoded.history()

    def logprob_encoded(self, encoded: Encoded) -> np.ndarray:
        """ln p of every target symbol (characters and end symbols) of an encoded corpus."""
        return self.logprob_keys(*self.window_keys(encoded))

    def name_logprobs(self, encoded: Encoded) -> np.ndarray:
        """ln p of each name of an encoded corpus (its symbols' ln p added in order)."""
        logp = self.logprob_encoded(encoded)
        return np.add.reduceat(logp, encoded.starts) if len(logp) else np.zeros(encoded.n_names)

    def row_logprobs(self, encoded: Encoded) -> np.ndarray:
        """The whole next-symbol ln-vector at every target position, shape (targets, V)."""
        keys, history = self.window_keys(encoded)
        windows = ((keys // self.V)[:, None] * self.V + np.arange(self.V, dtype=np.int64)[None, :]).ravel()
        return self.logprob_keys(windows, np.repeat(history, self.V)).reshape(len(keys), self.V)

    def context_key(self, context_ids: np.ndarray, at_start: bool = True) -> tuple[int, int]:
        """Packed key and history length of the model's view of a context.

        With ``at_start`` the context begins a name, so the start symbol precedes it.
        """
        ids = [int(i) for i in context_ids]
        if at_start:
            ids = [BOUNDARY] + ids
        ids = ids[max(0, len(ids) - (self.order - 1)) :] if self.order > 1 else []
        key = 0
        for i in ids:
            key = key * self.V + i
        return key, len(ids)

    def logprobs(self, context: str = "", at_start: bool = True) -> np.ndarray:
        """ln p(next symbol | context) for every symbol, shape (V,)."""
        key, history = self.context_key(self.vocabulary.encode_context(context), at_start)
        window = key * self.V + np.arange(self.V, dtype=np.int64)
        return self.logprob_keys(window, np.full(self.V, history))
