"""Mixtures that tuning builds: order mixtures with context-bucketed weights, and whole-name mixtures.

``ContextMixture``: models of several orders trained on the same names (left to right), mixed with
weights that depend on the length of the longest context of the history that was seen in
training (its "bucket"):

    p(w | h) = Σ_k λ_{b(h), k} p_k(w | h)

The bucket depends on the context only, so every row is still a distribution over the vocabulary
and the mixture is a next-symbol model (``probs``, ``score``, ``evaluate --explain``, sampling all
work). It could be compiled into the one back-off form (``ngram.mixing.compile_mixture`` shows
how, with dense rows) but with orders up to 10 that is millions of stored n-grams (tens of MB per
file and gigabytes for the sampling automaton), so it is kept as components + weights: one file,
a few hundred kB.

``NameMixture``: a mixture of whole-name distributions, p(name) = Σ_k w_k p_k(name), where a
component may read names right to left (a model trained on reversed names). Each component is a
proper distribution over names (characters + end), so the mixture is one too: scoring works, and
sampling draws a component by weight, then a name from it. It has no next-symbol vector per
context: p(next | prefix) under a right-to-left component needs a sum over every completion of
the prefix, which is not feasible, so ``probs`` and ``evaluate --explain`` refuse it with a
one-line error, and ``evaluate`` reports the same per-name and per-symbol NLL as for any model.

Both are saved as one ``.ngram`` file (format ``ngram-mixture``: a JSON header plus each
component's arrays under a prefix, loaded without pickle by ``ngram.io.load``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import NgramError
from .mixing import mixture_logprobs
from .model import Model
from .vocabulary import BOUNDARY, Encoded, Vocabulary

FORMAT = "ngram-mixture"
FORMAT_VERSION = 1


# ----------------------------------------------------------------------------------------------
# EM with weights per bucket
# ----------------------------------------------------------------------------------------------
@dataclass
class BucketEM:
    weights: np.ndarray  # buckets × components, each row on the simplex
    nll: list[float] = field(default_factory=list)  # held-out nats/symbol: start, then each iteration
    iterations: int = 0


def em_bucketed(logp: np.ndarray, buckets: np.ndarray | None = None, n_buckets: int | None = None,
                max_iterations: int = 500, tolerance: float = 1e-8, symbols: int | None = None) -> BucketEM:
    """EM for mixture weights λ[b, k] over held-out rows ``logp`` (rows × components).

    Rows in bucket b are explained by Σ_k λ[b, k] p_k; each bucket's weights are an independent
    EM problem, so one iteration over all buckets never increases the total held-out NLL. A bucket
    with no rows keeps uniform weights. ``symbols`` divides the NLL (default: the number of rows,
    i.e. per symbol; pass the symbol count when rows are whole names).
    """
    logp = np.asarray(logp, dtype=np.float64)
    T, K = logp.shape
    if T == 0:
        raise NgramError("no held-out symbols to fit mixture weights on")
    buckets = np.zeros(T, np.int64) if buckets is None else np.asarray(buckets, np.int64)
    B = int(n_buckets if n_buckets is not None else buckets.max() + 1)
    top = logp.max(axis=1, keepdims=True)
    if not np.isfinite(top).all():
        raise NgramError("a held-out symbol has probability 0 under every component; no mixture can score it")
    shifted = np.exp(logp - top)  # rows scaled by their best component, so nothing underflows
    offset = float(top.sum())
    per = symbols or T
    weights = np.full((B, K), 1.0 / K)
    sizes = np.bincount(buckets, minlength=B).astype(np.float64)

    def mixed_by(w):
        return (shifted * w[buckets]).sum(axis=1)

    mixed = mixed_by(weights)
    result = BucketEM(weights=weights, nll=[-(np.log(mixed).sum() + offset) / per])
    used = sizes > 0
    for iteration in range(1, max_iterations + 1):
        share = shifted / mixed[:, None]
        totals = np.stack([np.bincount(buckets, weights=share[:, k], minlength=B) for k in range(K)], axis=1)
        weights = weights.copy()
        weights[used] = weights[used] * totals[used] / sizes[used, None]
        weights /= weights.sum(axis=1, keepdims=True)  # only rounding moves a row off the simplex
        mixed = mixed_by(weights)  # also the next E-step's denominators
        result.nll.append(-(np.log(mixed).sum() + offset) / per)
        result.iterations = iteration
        if result.nll[-2] - result.nll[-1] < tolerance:
            break
    result.weights = weights
    return result


# ----------------------------------------------------------------------------------------------
# Buckets of an order mixture
# ----------------------------------------------------------------------------------------------
FOLLOWER_BINS = (2, 3, 6)  # distinct followers of the longest seen context: 1, 2, 3-5, 6+


def bucket_of(longest: np.ndarray, followers: np.ndarray, follower_bins: Sequence[int] | None) -> np.ndarray:
    """Bucket = longest seen context length, split by how many distinct symbols followed that
    context in training (few followers: the long context is sharp or just rare)."""
    if not follower_bins:
        return np.asarray(longest, np.int64)
    width = len(follower_bins) + 1
    bins = np.where(longest > 0, np.digitize(followers, follower_bins), 0)
    return np.asarray(longest, np.int64) * width + bins


def n_buckets(order: int, follower_bins: Sequence[int] | None) -> int:
    return order * (len(follower_bins) + 1 if follower_bins else 1)


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
def reverse_encoded(encoded: Encoded) -> Encoded:
    """The same names with each name's characters in reverse order (boundaries stay put)."""
    ids = encoded.ids
    positions = np.arange(len(ids))
    is_boundary = ids == BOUNDARY
    start = np.maximum.accumulate(np.where(is_boundary, positions, 0))
    end = np.minimum.accumulate(np.where(is_boundary, positions, len(ids))[::-1])[::-1]
    source = np.where(is_boundary, positions, start + end - positions)
    return Encoded(ids=ids[source], starts=encoded.starts, oov=encoded.oov)


def _sample_rows(model, n: int, seed, temperature: float, top_k, top_p, prefix: str, min_len: int, max_len: int) -> list[str]:
    """Sampling from any next-symbol model by asking it for whole rows, all names at once per step."""
    from .sampling import adjust_rows, check_sampling_settings

    check_sampling_settings(n, temperature, top_k, top_p, min_len, max_len)
    rng = np.random.default_rng(seed)
    V = model.V
    prefix_ids = list(model.vocabulary.encode_context(prefix, what="prefix"))
    width = model.order - 1
    history = [BOUNDARY] + prefix_ids
    # Packed last `width` symbols of each name's history, and how many of them are real.
    key = 0
    for s in history[-width:] if width else []:
        key = key * V + s
    keys = np.full(n, key, np.int64)
    depth = np.full(n, min(len(history), width), np.int64)
    steps = max(max_len - len(prefix_ids), 0)
    out = np.zeros((n, steps), np.int64)
    alive = np.arange(n)
    symbols = np.arange(V, dtype=np.int64)
    for step in range(steps):
        if len(alive) == 0:
            break
        window = (keys[alive, None] * V + symbols[None, :]).ravel()
        rows = np.exp(model.logprob_keys(window, np.repeat(depth[alive], V))).reshape(len(alive), V)
        if model.vocabulary.unk:
            rows[:, model.vocabulary.unk_id] = 0.0
        if len(prefix_ids) + step < min_len:
            rows[:, BOUNDARY] = 0.0
        dead = rows.sum(axis=1) <= 0
        rows[dead, BOUNDARY] = 1.0
        rows = adjust_rows(rows, temperature, top_k, top_p)
        cdf = np.cumsum(rows, axis=1)
        u = rng.random(len(alive))[:, None] * cdf[:, -1:]
        symbol = np.minimum((cdf <= u).sum(axis=1), V - 1)
        out[alive, step] = symbol
        if width:
            keys[alive] = (keys[alive] * V + symbol) % V**width
            depth[alive] = np.minimum(depth[alive] + 1, width)
        alive = alive[symbol != BOUNDARY]
    chars = np.array([""] + model.vocabulary.characters + ([""] if model.vocabulary.unk else []), dtype=object)
    names = []
    for row in out:
        end = np.flatnonzero(row == BOUNDARY)
        row = row[: end[0]] if len(end) else row
        names.append(prefix + "".join(chars[row]))
    return names


def _check_components(models: Sequence) -> Vocabulary:
    if len(models) < 1:
        raise NgramError("a mixture needs at least one component")
    vocabulary = models[0].vocabulary
    for m in models[1:]:
        if m.vocabulary != vocabulary:
            raise NgramError("mixture components must share one vocabulary")
    return vocabulary


def _check_weights(weights, shape) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != shape or (weights < 0).any() or not np.allclose(weights.sum(axis=-1), 1.0, atol=1e-9):
        raise NgramError(f"mixture weights must be non-negative, of shape {shape}, and sum to 1, got {weights.tolist()}")
    return weights


# ----------------------------------------------------------------------------------------------
# Order mixture
# ----------------------------------------------------------------------------------------------
class ContextMixture:
    """Σ_k λ[b(h), k] p_k(w | h), b(h) = length of the longest context of h seen in training,
    optionally split by that context's number of distinct followers (``follower_bins``)."""

    kind = "context"
    capabilities = frozenset()

    def __init__(self, components: Sequence[Model], weights, estimator: dict | None = None, corpus: dict | None = None,
                 train_names: np.ndarray | None = None, follower_bins: Sequence[int] | None = None):
        self.components = list(components)
        self.vocabulary = _check_components(self.components)
        self.order = max(m.order for m in self.components)
        self.follower_bins = [int(b) for b in follower_bins] if follower_bins else []
        self.weights = _check_weights(weights, (n_buckets(self.order, self.follower_bins), len(self.components)))
        self.estimator = estimator or {"name": "order-mixture"}
        self.corpus = corpus or dict(self.components[0].corpus)
        self.train_names = train_names if train_names is not None else self.components[0].train_names
        # Seen contexts of each length, from the highest-order component (its n-grams are the
        # counted ones, a superset of every other component's).
        top = max(self.components, key=lambda m: m.order)
        self._contexts = [np.unique(top.levels[n].keys // self.V, return_counts=True) for n in range(1, top.order)]

    @property
    def V(self) -> int:
        return self.vocabulary.size

    def _power(self, n: int) -> int:
        return self.V**n

    def n_ngrams(self) -> list[int]:
        top = max(self.components, key=lambda m: m.order)
        return top.n_ngrams()

    @property
    def levels(self):
        raise NgramError("an order mixture is stored as its component models and weights, not one back-off table; "
                         "export a component, or train a single model for ARPA")

    def buckets(self, window_keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Length of the longest seen context of each row's history (the weight bucket)."""
        context = np.asarray(window_keys, np.int64) // self.V
        history = np.minimum(np.asarray(history, np.int64), self.order - 1)
        longest = np.zeros(len(context), np.int64)
        followers = np.zeros(len(context), np.int64)
        for length, (seen, children) in enumerate(self._contexts, start=1):
            if len(seen) == 0:
                break
            query = context % self.V**length
            index = np.minimum(np.searchsorted(seen, query), len(seen) - 1)
            hit = (seen[index] == query) & (history >= length)
            longest[hit] = length
            followers[hit] = children[index[hit]]
        return bucket_of(longest, followers, self.follower_bins)

    def logprob_keys(self, window_keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        window_keys = np.asarray(window_keys, np.int64)
        history = np.asarray(history, np.int64)
        logp = np.stack([m.logprob_keys(window_keys, history) for m in self.components], axis=1)
        return mixture_logprobs_bucketed(logp, self.weights, self.buckets(window_keys, history))

    # The rest of the next-symbol interface is Model's, written once in terms of logprob_keys.
    window_keys = Model.window_keys
    logprob_encoded = Model.logprob_encoded
    name_logprobs = Model.name_logprobs
    _scorer_for = Model._scorer_for  # (None: a mixture is scored through logprob_keys)
    context_key = Model.context_key
    probs = Model.probs
    logprobs = Model.logprobs
    score = Model.score
    logprob = Model.logprob

    def sample(self, n: int = 10, seed=None, temperature: float = 1.0, top_k=None, top_p=None, prefix: str = "",
               min_len: int = 0, max_len: int = 50) -> list[str]:
        return _sample_rows(self, n, seed, temperature, top_k, top_p, prefix, min_len, max_len)

    def describe(self) -> str:
        orders = ",".join(str(m.order) for m in self.components)
        names = sorted({m.estimator.get("name", "?") for m in self.components})
        split = " x its distinct followers" if self.follower_bins else ""
        return (f"order mixture of {len(self.components)} {'/'.join(names)} models (orders {orders}), weights by "
                f"longest seen context{split}, V = {self.V} symbols")


# ----------------------------------------------------------------------------------------------
# Whole-name mixture
# ----------------------------------------------------------------------------------------------
class NameMixture:
    """p(name) = Σ_k w_k p_k(name); a component with ``reverse`` reads names right to left."""

    kind = "name"
    capabilities = frozenset()

    def __init__(self, components: Sequence, reverse: Sequence[bool], weights, estimator: dict | None = None,
                 corpus: dict | None = None, train_names: np.ndarray | None = None):
        self.components = list(components)
        self.reverse = [bool(r) for r in reverse]
        if len(self.reverse) != len(self.components):
            raise NgramError("give one direction per mixture component")
        self.vocabulary = _check_components(self.components)
        self.order = max(m.order for m in self.components)
        self.weights = _check_weights(weights, (len(self.components),))
        self.estimator = estimator or {"name": "name-mixture"}
        self.corpus = corpus or dict(self.components[0].corpus)
        self.train_names = train_names if train_names is not None else self.components[0].train_names

    @property
    def V(self) -> int:
        return self.vocabulary.size

    def n_ngrams(self) -> list[int]:
        return max(self.components, key=lambda m: m.order).n_ngrams()

    def _no_rows(self, what: str):
        raise NgramError(f"{what} needs next-symbol probabilities, and a whole-name mixture with a right-to-left "
                         "component has none (p(next | prefix) would need a sum over every completion); "
                         "use one of its left-to-right components")

    @property
    def levels(self):
        self._no_rows("a single back-off table (ARPA export)")

    def probs(self, context: str = "", at_start: bool = True):
        self._no_rows("ngram probs")

    def logprobs(self, context: str = "", at_start: bool = True):
        self._no_rows("ngram probs")

    def window_keys(self, encoded: Encoded):
        self._no_rows("this view (e.g. evaluate --explain)")

    def logprob_keys(self, window_keys, history):
        self._no_rows("this view")

    def name_logprobs(self, encoded: Encoded) -> np.ndarray:
        """ln p(name) under the mixture for every name of an encoded (left-to-right) corpus."""
        reversed_ = None
        per = []
        for model, rev in zip(self.components, self.reverse):
            if rev and reversed_ is None:
                reversed_ = reverse_encoded(encoded)
            per.append(model.name_logprobs(reversed_ if rev else encoded))
        return mixture_logprobs(np.stack(per, axis=1), self.weights)

    def logprob_encoded(self, encoded: Encoded) -> np.ndarray:
        """Per-symbol values whose sum over each name is ln p(name) under the mixture.

        There is no per-symbol probability here (see the module docstring): the whole name's ln p
        is put on its end symbol and 0 on its characters, so per-name and per-file NLL are exact.
        """
        totals = self.name_logprobs(encoded)
        out = np.zeros(encoded.n_targets)
        ends = np.append(encoded.starts[1:], encoded.n_targets) - 1
        out[ends] = totals
        return out

    def score(self, names: Sequence[str], unknown: str = "error") -> tuple[np.ndarray, np.ndarray]:
        encoded = self.vocabulary.encode(names, unknown=unknown)
        return self.name_logprobs(encoded), encoded.symbols_per_name()

    def logprob(self, name: str) -> float:
        return float(self.score([name])[0][0])

    def sample(self, n: int = 10, seed=None, temperature: float = 1.0, top_k=None, top_p=None, prefix: str = "",
               min_len: int = 0, max_len: int = 50) -> list[str]:
        """Draw a component per name by weight, then the name from it (reversed back if needed).

        Temperature, top-k and top-p act inside each component. A prefix cannot be imposed on a
        right-to-left component (it would constrain the end of its sampling), so it is refused.
        """
        from .sampling import check_sampling_settings, sample as sample_model

        check_sampling_settings(n, temperature, top_k, top_p, min_len, max_len)
        if prefix and any(r and w > 0 for r, w in zip(self.reverse, self.weights)):
            raise NgramError("--prefix is not supported by a whole-name mixture with a right-to-left component")
        rng = np.random.default_rng(seed)
        which = rng.choice(len(self.components), size=n, p=self.weights)
        names: list[str] = [""] * n
        for k, (model, rev) in enumerate(zip(self.components, self.reverse)):
            slots = np.flatnonzero(which == k)
            if len(slots) == 0:
                continue
            drawn = sample_model(model, n=len(slots), seed=int(rng.integers(2**63)), temperature=temperature,
                                 top_k=top_k, top_p=top_p, prefix=prefix, min_len=min_len, max_len=max_len)
            for slot, name in zip(slots, drawn):
                names[slot] = name[::-1] if rev else name
        return names

    def describe(self) -> str:
        parts = [f"{w:.3f} x {'right-to-left' if r else 'left-to-right'} {m.describe()}"
                 for m, r, w in zip(self.components, self.reverse, self.weights)]
        return "whole-name mixture: " + "; ".join(parts)


# ----------------------------------------------------------------------------------------------
# Files: one archive, the components' arrays under prefixes
# ----------------------------------------------------------------------------------------------
def to_arrays(model, prefix: str = "") -> tuple[dict, dict[str, np.ndarray]]:
    """A JSON-able description and the arrays of ``model`` (a Model or a mixture), names prefixed."""
    if isinstance(model, Model):
        header = {"type": "model", "vocabulary": model.vocabulary.to_json(), "order": model.order,
                  "estimator": model.estimator, "corpus": model.corpus}
        arrays = {}
        for n, level in enumerate(model.levels, start=1):
            arrays[f"{prefix}keys{n}"] = level.keys.astype(np.int64, copy=False)
            arrays[f"{prefix}logp{n}"] = level.logp.astype(np.float64, copy=False)
            arrays[f"{prefix}bow{n}"] = level.bow.astype(np.float64, copy=False)
        return header, arrays
    header = {"type": model.kind, "weights": model.weights.tolist(), "estimator": model.estimator, "corpus": model.corpus,
              "components": []}
    if model.kind == "name":
        header["reverse"] = model.reverse
    else:
        header["follower_bins"] = model.follower_bins
    arrays = {}
    for i, component in enumerate(model.components):
        sub, sub_arrays = to_arrays(component, f"{prefix}c{i}_")
        header["components"].append(sub)
        arrays.update(sub_arrays)
    return header, arrays


def save(model, path) -> None:
    """Write a mixture as one ``.ngram`` file, atomically (through ``ngram.io``)."""
    from . import io as model_io

    model_io.save(model, path)


def mixture_arrays(model) -> dict[str, np.ndarray]:
    """Everything ``ngram.io.save`` writes for a mixture: header first, then the arrays."""
    description, arrays = to_arrays(model)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "model": description, "name_hash": _name_hash()}
    out = {"header": np.frombuffer(json.dumps(header).encode("ascii"), dtype=np.uint8)}
    out.update(arrays)
    if model.train_names is not None:
        out["train_names"] = model.train_names.astype(np.uint64, copy=False)
    return out


def _name_hash():
    from . import model

    return getattr(model, "NAME_HASH", None)


def from_arrays(header: dict, arrays: dict[str, np.ndarray], label: str):
    """Rebuild a mixture from a loaded archive (``ngram.io.load`` calls this for mixture files)."""
    from . import io as model_io

    if header.get("version") != FORMAT_VERSION:
        raise NgramError(f"{label}: mixture format version {header.get('version')!r} is not supported")
    train_names = arrays.get("train_names")
    if train_names is not None and (train_names.ndim != 1 or train_names.dtype != np.uint64):
        raise NgramError(f"{label}: array train_names has the wrong shape or type; the file is damaged")
    if header.get("name_hash") != _name_hash():
        train_names = None  # fingerprints from another name hash would make novelty silently wrong

    def build(description, prefix: str, depth: int):
        if not isinstance(description, dict) or depth > 4:
            raise NgramError(f"{label}: mixture header is damaged")
        kind = description.get("type")
        model_io.check_metadata(description, label)
        try:
            if kind == "model":
                sub = {"header": np.frombuffer(json.dumps({
                    "format": model_io.FORMAT, "version": model_io.FORMAT_VERSION,
                    "vocabulary": description["vocabulary"], "order": description["order"],
                    "estimator": description.get("estimator") or {}, "corpus": description.get("corpus") or {},
                }).encode("ascii"), dtype=np.uint8)}
                sub.update({name[len(prefix):]: a for name, a in arrays.items()
                            if name.startswith(prefix) and "_" not in name[len(prefix):]})
                model = model_io._from_arrays(sub, label)
                model.train_names = train_names
                return model
            components = [build(c, f"{prefix}c{i}_", depth + 1) for i, c in enumerate(description["components"])]
            if kind == "context":
                return ContextMixture(components, description["weights"], description.get("estimator"),
                                      description.get("corpus"), train_names, description.get("follower_bins"))
            if kind == "name":
                return NameMixture(components, description["reverse"], description["weights"], description.get("estimator"),
                                   description.get("corpus"), train_names)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf) follower bins
            if isinstance(exc, NgramError):
                raise
            raise NgramError(f"{label}: mixture header is damaged ({type(exc).__name__})") from None
        raise NgramError(f"{label}: unknown mixture component type {kind!r}; the file is damaged")

    return build(header.get("model"), "", 0)


def mixture_logprobs_bucketed(logp: np.ndarray, weights: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """ln Σ_k λ[b, k] p_k per row, stably."""
    with np.errstate(divide="ignore"):
        a = logp + np.log(weights[buckets])
    top = a.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    return safe + np.log(np.exp(a - safe[:, None]).sum(axis=1))
