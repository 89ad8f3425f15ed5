"""Training in one call: names -> vocabulary -> encoded array -> counts -> estimator -> Model."""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable, Sequence

import numpy as np

from .counting import check_order, count_ngrams
from .errors import NgramError
from .estimators import AddK, Estimator
from .model import Model, name_fingerprints
from .vocabulary import Vocabulary


def corpus_fingerprint(names: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def train(
    names: Sequence[str],
    order: int = 4,
    estimator: Estimator | None = None,
    unk: bool = False,
    weights: Sequence[float] | None = None,
    source: str = "<names>",
    vocabulary: Vocabulary | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> Model:
    """Fit an order-``order`` model on ``names`` (add-k, k = 0.1, unless told otherwise).

    ``unk`` adds an ``<unk>`` class that unknown characters map to at evaluation time.
    ``weights`` gives one count per name (weighted corpora).
    """
    estimator = estimator if estimator is not None else AddK(0.1)
    vocabulary = vocabulary or Vocabulary.from_names(names, unk=unk)
    check_order(order, vocabulary.size)
    encoded = vocabulary.encode(names)
    if weights is not None and len(weights) != len(names):
        raise NgramError(f"{len(weights)} weights for {len(names)} names; give one weight per name")
    counts = count_ngrams(encoded, order, vocabulary.size, None if weights is None else np.asarray(weights, float), progress)
    model = estimator.fit(counts, vocabulary)
    model.corpus = {
        "source": source,
        "names": len(names),
        "symbols": int(encoded.n_targets),
        "sha256": corpus_fingerprint(names),
        **({"total_weight": float(np.sum(weights))} if weights is not None else {}),
    }
    model.train_names = name_fingerprints(names)
    return model
