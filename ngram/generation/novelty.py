"""Which sampled names are training names (by fingerprint)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import text_code_points
from ngram.lm.backoff.model import hash_code_points, hash_names


@dataclass
class Novelty:
    samples: int
    in_training: int
    new: int
    distinct: int

    def summary(self) -> dict:
        return {"samples": self.samples, "in_training": self.in_training, "new": self.new, "distinct": self.distinct}


def novelty(model, names: list[str]) -> tuple[Novelty, np.ndarray]:
    """How many samples are training names (by fingerprint), and a mask of the new ones."""
    if model.train_names is None or len(model.train_names) == 0:
        raise NgramError("this model does not record its training names (e.g. imported from ARPA); novelty needs them")
    seen = _seen(model, hash_names(names))
    return Novelty(samples=len(names), in_training=int(seen.sum()), new=int((~seen).sum()),
                   distinct=len(set(names))), ~seen


# ----------------------------------------------------------------------------------------------
# Exact constrained generation: the model's automaton x the constraint's DFA
# ----------------------------------------------------------------------------------------------


def in_training(model, text: str) -> int:
    """How many of the names in ``text`` (each followed by a newline) are training names."""
    if not text:
        return 0
    # (sorted first: the searches then walk the fingerprints in order, and only the count matters)
    return int(_seen(model, np.sort(hash_code_points(text_code_points(text[:-1])))).sum())


def _seen(model, hashes: np.ndarray) -> np.ndarray:
    known = model.train_names  # sorted and distinct, as saved
    # searchsorted on the sorted fingerprints: np.isin hashes both arrays and is far slower.
    return known[np.minimum(np.searchsorted(known, hashes), len(known) - 1)] == hashes
