"""Training in one call: names -> vocabulary -> encoded array -> counts -> estimator -> Model."""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable, Sequence

import numpy as np

from .counting import check_order, count_ngrams
from .errors import NgramError
from .estimators import AddK, Estimator
from .corpus import Corpus
from .model import Model, fingerprints_of_hashes, hash_code_points
from .pruning import prune_model
from .vocabulary import Vocabulary, code_points


def corpus_fingerprint(names: Sequence[str]) -> str:
    """sha256 of the names, each followed by a newline (one update: a loop per name is slow)."""
    return _fingerprint_of_code_points(code_points(names), len(names))


def _fingerprint_of_code_points(codes: np.ndarray, n_names: int) -> str:
    """``corpus_fingerprint`` of the ``n_names`` names whose ``code_points`` these are."""
    if n_names == 0:  # (no names and one empty name have the same code points)
        return hashlib.sha256().hexdigest()
    if codes.dtype == np.uint8:  # ASCII: the code points are the UTF-8 bytes
        return hashlib.sha256(codes[1:]).hexdigest()
    text = codes[1:].tobytes().decode("utf-32-le", "surrogatepass")
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def train(
    names: Sequence[str] | Corpus,
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
    ``names`` may be a ``Corpus`` (``read_names``): its text is then read without making a
    Python string per name.
    """
    estimator = estimator if estimator is not None else AddK(0.1)
    n_names = len(names)
    # The code points are made once: vocabulary, encoding and both fingerprints read them.
    codes = names.code_points() if isinstance(names, Corpus) else code_points(names)
    vocabulary = vocabulary or Vocabulary.from_names((), unk=unk, codes=codes)
    check_order(order, vocabulary.size)
    if weights is not None and len(weights) != n_names:
        raise NgramError(f"{len(weights)} weights for {n_names} names; give one weight per name")
    encoded = vocabulary.encode((), codes=codes)
    corpus = {
        "source": source,
        "names": n_names,
        "symbols": int(encoded.n_targets),
        "sha256": _fingerprint_of_code_points(codes, n_names),
        **({"total_weight": float(np.sum(weights))} if weights is not None else {}),
    }
    fingerprints = fingerprints_of_hashes(hash_code_points(codes) if n_names else np.zeros(0, np.uint64))
    del codes
    counts = count_ngrams(encoded, order, vocabulary.size, None if weights is None else np.asarray(weights, float), progress)
    del encoded  # the encoded corpus (8 bytes a symbol) is not needed while estimating: lower peak memory
    counts.release_after_use = prune is None  # count cutoffs read the counts after the fit
    model = prune_model(estimator.fit(counts, vocabulary), counts, prune, prune_entropy)
    model.corpus = corpus
    model.train_names = fingerprints
    return model
