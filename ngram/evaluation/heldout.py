"""Evaluating a names file: read whole or a block at a time, whichever the question allows.

A plain evaluation streams the file (``metrics.evaluate_file``: memory for the model and a block,
not for the file). Two questions need every name at once: a weighted test set (its weights are
scaled over the whole file) and the explanation by context (it groups every position of the
file). The choice is made here, once, for the command line and any other caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ngram.core.corpus import DEFAULT_MAX_NAME_LENGTH, read_names
from ngram.core.defaults import unknown_policy
from ngram.evaluation.metrics import Evaluation, Explanation, evaluate, evaluate_file, explain
from ngram.lm.protocol import LanguageModel


@dataclass
class HeldOut:
    """An evaluation of a file: the figures, the unknown-character policy used, and the
    explanation by context when asked for."""

    result: Evaluation
    policy: str
    explanation: Explanation | None = None


def evaluate_names_file(model: LanguageModel, source, unknown: str | None = None, weighted: bool = False,
                        explained: bool = False, lowercase: bool = False, encoding: str = "utf-8",
                        max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
                        each_block: Callable | None = None,
                        progress: Callable[[str], None] | None = None) -> HeldOut:
    """Evaluate the names in ``source`` ("-" = standard input) under ``model``.

    ``unknown`` None: the shared default policy (``unk`` for a model with ``<unk>``, else
    ``error``). ``weighted``: lines are name<TAB>count. ``explained``: also the loss grouped by
    context. ``each_block(names, symbols, nll)`` sees the names and their scored symbols and
    NLL (nats) in file order, a block at a time when streamed, all at once otherwise.
    ``progress(stage)`` is told each stage's name as it starts (scoring, then the explanation's).
    """
    policy = unknown_policy(unknown, model.vocabulary.unk)
    if not (weighted or explained):
        result = evaluate_file(model, source, unknown=policy, lowercase=lowercase, encoding=encoding,
                               max_name_length=max_name_length, each_block=each_block)
        return HeldOut(result, policy)
    if progress is not None:
        progress("scoring names")
    corpus = read_names(source, lowercase=lowercase, encoding=encoding, max_name_length=max_name_length, weighted=weighted)
    result = evaluate(model, corpus, unknown=policy, data=corpus.source, line_numbers=corpus.line_numbers,
                      weights=corpus.weights)
    result.blank_lines = corpus.blank_lines
    if each_block is not None:
        each_block(corpus.names, result.per_name_symbols, result.per_name_nll)
    explanation = None
    if explained:
        encoded = model.vocabulary.encode(corpus.names, unknown=policy, line_numbers=corpus.line_numbers, source=corpus.source)
        explanation = explain(model, encoded, progress=progress)
    return HeldOut(result, policy, explanation)
