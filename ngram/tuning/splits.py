"""Held-out data: a validation file, a seeded held-out slice, or K folds of the names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ngram.core.errors import NgramError


# ----------------------------------------------------------------------------------------------
@dataclass
class Split:
    train: list[str]
    heldout: list[str]


def make_splits(names: Sequence[str], val_names: Sequence[str] | None = None, val_fraction: float | None = None,
                folds: int | None = None, seed: int = 0) -> tuple[list[Split], str]:
    """The (training part, held-out part) pairs tuning uses, and a description of the held-out data."""
    names = list(names)
    chosen = sum(x is not None for x in (val_names, val_fraction, folds))
    if chosen > 1:
        raise NgramError("choose one kind of held-out data: a validation file, a held-out fraction, or folds")
    if val_names is not None:
        if not val_names:
            raise NgramError("the validation file holds no names")
        return [Split(names, list(val_names))], f"the validation names ({len(val_names)})"
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    if folds is not None:
        if not (2 <= folds <= len(names)):
            raise NgramError(f"--folds must be between 2 and the number of names ({len(names)}), got {folds}")
        parts = np.array_split(order, folds)
        splits = []
        for i in range(folds):
            held = set(parts[i].tolist())
            splits.append(Split([names[j] for j in order if j not in held], [names[j] for j in parts[i]]))
        return splits, f"{folds}-fold cross-validation inside the training names (seed {seed})"
    fraction = 0.1 if val_fraction is None else float(val_fraction)
    if not (0 < fraction < 1):
        raise NgramError(f"--val-fraction must be between 0 and 1, got {fraction}")
    n_held = max(1, int(round(fraction * len(names))))
    if n_held >= len(names):
        raise NgramError(f"too few names ({len(names)}) to hold out {fraction:g} of them")
    held = set(order[:n_held].tolist())
    return ([Split([names[j] for j in order if j not in held], [names[j] for j in order[:n_held]])],
            f"a held-out slice of {n_held} training name{'s' if n_held != 1 else ''} ({fraction:g}, seed {seed})")
