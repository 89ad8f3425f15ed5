"""Training in one call: names -> vocabulary -> encoded array -> counts -> estimator -> Model."""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable, Sequence

import numpy as np

from .counting import check_order, count_ngrams
from .errors import NgramError
from .estimators import AddK, Estimator
from .model import Model, name_fingerprints
from .pruning import prune_model
from .vocabulary import Vocabulary, code_points


def corpus_fingerprint(names: Sequence[str]) -> str:
    """sha256 of the names, each followed by a newline (one update: a loop per name is slow)."""
    if not names:
        return hashlib.sha256().hexdigest()
    return hashlib.sha256(("\n".join(names) + "\n").encode("utf-8", "surrogatepass")).hexdigest()


def train(
    names: Sequence[str],
    order: int = 4,
    estimator: Estimator | None = None,
    unk: bool = False,
    weights: Sequence[float] | None = None,
    source: str = "<names>",
    vocabulary: Vocabulary | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    prune: Sequence[int] | str | None = None,
    prune_entropy: float | None = None,
) -> Model:
    """Fit an order-``order`` model on ``names`` (add-k, k = 0.1, unless told otherwise).

    ``prune`` (count thresholds per order, as lmplz's --prune) and ``prune_entropy`` (Stolcke's
    relative-entropy threshold) shrink the model; see ``ngram.pruning``.

    ``unk`` adds an ``<unk>`` class that unknown characters map to at evaluation time.
    ``weights`` gives one count per name (weighted corpora).
    """
    estimator = estimator if estimator is not None else AddK(0.1)
    codes = code_points(names)  # made once: the vocabulary and the encoding both read them
    vocabulary = vocabulary or Vocabulary.from_names(names, unk=unk, codes=codes)
    check_order(order, vocabulary.size)
    encoded = vocabulary.encode(names, codes=codes)
    del codes
    if weights is not None and len(weights) != len(names):
        raise NgramError(f"{len(weights)} weights for {len(names)} names; give one weight per name")
    counts = count_ngrams(encoded, order, vocabulary.size, None if weights is None else np.asarray(weights, float), progress)
    symbols = int(encoded.n_targets)
    del encoded  # the encoded corpus (8 bytes a symbol) is not needed while estimating: lower peak memory
    model = prune_model(estimator.fit(counts, vocabulary), counts, prune, prune_entropy)
    model.corpus = {
        "source": source,
        "names": len(names),
        "symbols": symbols,
        "sha256": corpus_fingerprint(names),
        **({"total_weight": float(np.sum(weights))} if weights is not None else {}),
    }
    model.train_names = name_fingerprints(names)
    return model
