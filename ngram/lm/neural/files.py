"""The neural model's entry in a model file: a JSON description and named float arrays.

``ngram.formats.native`` owns the file (an uncompressed npz, read without pickle, member sizes
checked before anything is allocated); this module says what a ``neural`` entry holds and checks
it on load: its own format version, the cell, the shape of every array against the declared
vocabulary, layers, hidden and embedding sizes, and finite values. A file that passes gives
rows that sum to 1 by construction (a log-softmax), so no further distribution check is needed.
"""

from __future__ import annotations

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from ngram.lm.neural.model import CELL, GRUModel, GRUWeights

VERSION = 1
MAX_UNITS = 1 << 14  # hidden or embedding size: far above any model this trains, low enough to refuse a hostile header
MAX_LAYERS = 16


def describe(model: GRUModel, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    w = model.weights
    arrays = {f"{prefix}nn_embedding": w.embedding, f"{prefix}nn_out_w": w.out_w, f"{prefix}nn_out_b": w.out_b}
    for l in range(w.layers):
        arrays[f"{prefix}nn_w_ih{l}"] = w.w_ih[l]
        arrays[f"{prefix}nn_w_hh{l}"] = w.w_hh[l]
        arrays[f"{prefix}nn_b_ih{l}"] = w.b_ih[l]
        arrays[f"{prefix}nn_b_hh{l}"] = w.b_hh[l]
    arrays = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}
    description = {"version": VERSION, "cell": CELL, "vocabulary": model.vocabulary.to_json(), "layers": w.layers,
                   "hidden": w.hidden, "embedding": int(w.embedding.shape[1])}
    return description, arrays


def read(description: dict, arrays: dict[str, np.ndarray], prefix: str, label: str,
         train_names: np.ndarray | None) -> GRUModel:
    if description.get("version") != VERSION:
        raise NgramError(f"{label}: neural model version {description.get('version')!r} is not supported "
                         f"(this ngram reads version {VERSION})")
    if description.get("cell") != CELL:
        raise NgramError(f"{label}: neural cell {description.get('cell')!r} is not supported (only {CELL!r})")
    try:
        vocabulary = Vocabulary.from_json(description["vocabulary"])
        sizes = [description[k] for k in ("layers", "hidden", "embedding")]
        if any(type(s) is not int for s in sizes):
            raise ValueError
    except (KeyError, TypeError, ValueError, NgramError):
        raise NgramError(f"{label}: neural model header has a bad vocabulary or sizes; the file is damaged") from None
    layers, hidden, embedding = sizes
    if not (1 <= layers <= MAX_LAYERS and 1 <= hidden <= MAX_UNITS and 1 <= embedding <= MAX_UNITS):
        raise NgramError(f"{label}: neural model sizes out of range (layers {layers}, hidden {hidden}, "
                         f"embedding {embedding}); the file is damaged")
    V, H = vocabulary.size, hidden

    def take(name: str, shape: tuple) -> np.ndarray:
        key = f"{prefix}nn_{name}"
        array = arrays.get(key)
        if array is None:
            raise NgramError(f"{label}: array {key} is missing; the file is damaged")
        if array.dtype != np.float64 or array.shape != shape:
            raise NgramError(f"{label}: array {key} has shape {array.shape} ({array.dtype}), expected {shape} float64; "
                             "the file is damaged")
        if not np.isfinite(array).all():
            raise NgramError(f"{label}: array {key} holds NaN or infinite values; the file is damaged")
        return array

    weights = GRUWeights(
        embedding=take("embedding", (V, embedding)),
        w_ih=[take(f"w_ih{l}", (3 * H, embedding if l == 0 else H)) for l in range(layers)],
        w_hh=[take(f"w_hh{l}", (3 * H, H)) for l in range(layers)],
        b_ih=[take(f"b_ih{l}", (3 * H,)) for l in range(layers)],
        b_hh=[take(f"b_hh{l}", (3 * H,)) for l in range(layers)],
        out_w=take("out_w", (V, H)),
        out_b=take("out_b", (V,)),
    )
    return GRUModel(vocabulary, weights, description.get("estimator") or {}, description.get("corpus") or {}, train_names)
