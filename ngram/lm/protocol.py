"""The one protocol every language model over names implements.

Like ``nltk.lm``'s one declared scoring method, everything a verb asks of a model derives from a few
questions: the next-symbol vector after a prefix, ln p of names (batched), and what the model is
made of for generation and export. Back-off models (trained, imported, pruned, compiled mixtures),
order mixtures and whole-name mixtures all answer them, so no verb or library function needs to
ask which class it holds; a verb that needs a capability a model lacks checks ``capabilities`` and
refuses in one line (``require``).

The answers that follow from others are written once in ``ngram.lm.base`` (``NameModel`` for any
distribution over names, ``NextSymbolModel`` for bounded-context models); ``ngram.formats.native`` stores
every kind by its ``kind``.

Symbol ids: 0 is the boundary (the start padding in contexts, the end of the name as a target),
then the characters, then ``<unk>`` if the vocabulary has it. Every next-symbol vector has V
entries and sums to 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

from ngram.core.errors import NgramError

if TYPE_CHECKING:  # typing only: the protocol imports nothing else of the package
    import numpy as np

    from ngram.core.vocabulary import Encoded, Vocabulary

# What a model can additionally be used for, beyond the protocol's questions.
LEVELS = "levels"  # one back-off table in ``model.levels`` (ARPA export, pruning)
# The next-symbol row depends only on the last ``order - 1`` symbols (start padding included), and
# ``stored_keys(n)`` lists the n-symbol contexts where the row can change: ``window_keys`` and
# ``logprob_keys`` answer packed windows (linear mixing, compiling, the context-grouped explain).
BOUNDED_CONTEXT = "bounded-context"
# Per-symbol answers after any prefix that begins a name (``logprob_encoded``, ``row_logprobs``,
# ``logprobs``), though the row may depend on the whole prefix (a whole-name mixture whose
# right-to-left components have context states). Every BOUNDED_CONTEXT model has them too.
NEXT_SYMBOL = "next-symbol"
# An order mixture: a bounded-context model whose rows mix ``model.components``, the highest-order
# one's stored contexts determining every row (its automaton's states are that component's).
MIXED_CONTEXTS = "mixed-contexts"
# The next-symbol row depends on the whole prefix through a recurrent state (a neural model, or a
# mixture holding one): there is no finite context automaton, so exact generation draws symbol by
# symbol (``step``), a prefix is read directly and other constraints are met by rejection
# (``ngram.generation.rejection``). Such a model answers ``start_state(n)`` and
# ``step(state, symbols) -> (state, ln-rows)`` for n names at once.
SEQUENTIAL = "sequential"


@runtime_checkable
class LanguageModel(Protocol):
    vocabulary: "Vocabulary"
    order: int  # the longest context it reads + 1 (a whole-name mixture: the largest of its components')
    estimator: dict  # {"name": ..., settings ...}: how it was made
    corpus: dict  # what it was trained on (file, names, fingerprint)
    train_names: "np.ndarray | None"  # sorted fingerprints of the training names (novelty), or None
    capabilities: frozenset  # subset of {LEVELS, BOUNDED_CONTEXT, NEXT_SYMBOL, MIXED_CONTEXTS, SEQUENTIAL}
    kind: str  # what model files call this kind: "model" (back-off), "context" (order mixture), "name"

    @property
    def V(self) -> int: ...

    def logprobs(self, context: str = "", at_start: bool = True) -> "np.ndarray":
        """ln p(next symbol | context) for every symbol, shape (V,); its exp sums to 1."""

    def probs(self, context: str = "", at_start: bool = True) -> "np.ndarray": ...

    def logprob_encoded(self, encoded: "Encoded") -> "np.ndarray":
        """ln p(symbol | the name's prefix before it) for every target symbol (chain rule: a name's
        entries add up to its ``name_logprobs``)."""

    def row_logprobs(self, encoded: "Encoded") -> "np.ndarray":
        """The whole next-symbol ln-vector at every target position, shape (targets, V)."""

    def name_logprobs(self, encoded: "Encoded") -> "np.ndarray":
        """ln p(name) of every name, end symbol included."""

    def score(self, names: Sequence[str], unknown: str = "error") -> "tuple[np.ndarray, np.ndarray]":
        """(ln p per name, scored symbols per name), all names at once."""

    def logprob(self, name: str) -> float: ...

    def name_components(self) -> "list[tuple[float, LanguageModel, bool]]":
        """The model as a mixture of whole-name distributions: (weight, next-symbol model, reads
        right to left). A next-symbol model returns [(1.0, self, False)]; generation and exact
        prefix masses are built from this."""

    def n_ngrams(self) -> "list[int]":
        """Stored n-grams by order (of the largest component for a mixture): a size, for reports."""

    def describe(self) -> str: ...


def gives_rows(model: LanguageModel) -> bool:
    """Whether the model answers per-symbol questions (next-symbol vectors after a name's prefixes)."""
    return bool({NEXT_SYMBOL, BOUNDED_CONTEXT} & model.capabilities)


def require(model: LanguageModel, capability: str, verb: str, why: str) -> None:
    """One-line refusal (``verb: why``) for a verb that needs a capability this model lacks."""
    if capability not in model.capabilities:
        raise NgramError(f"{verb}: {why}")
