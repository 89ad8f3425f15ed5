"""Sampling names, many at once.

The back-off model is turned into a deterministic automaton: one state per stored context
(n-grams of order < N), each with its full next-symbol row and, per symbol, the state of the
longest stored suffix of the extended history. Sampling is then a vectorised categorical draw
over all unfinished names per step, and one gather for the next states, with no Python loop per
name. This relies on the model's n-gram set being closed under prefixes and suffixes, which
counting guarantees and ``Model.closed()`` restores for imported files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import NgramError
from .model import Model, hash_names
from .vocabulary import BOUNDARY

MAX_SAMPLE_SYMBOLS = 2**28  # ids held at once by one call of sample(): 2 GiB of int64


@dataclass
class Automaton:
    rows: np.ndarray  # states × V probabilities (float64)
    next_state: np.ndarray  # states × V int64
    start: int  # the state right after the start symbol

    # The interface ``sample`` walks, shared with the lazily built ``scoring.LazyRows``.
    def rows_of(self, states: np.ndarray) -> np.ndarray:
        return self.rows[states]

    def next_of(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        return self.next_state[states, symbols]


def build_automaton(model: Model) -> Automaton:
    V, N = model.V, model.order
    if N == 1:
        row = np.exp(model.levels[0].logp)[None, :]
        return Automaton(rows=row, next_state=np.zeros((1, V), np.int64), start=0)
    # States: every stored n-gram of order 1..N-1, numbered order by order.
    offsets = np.cumsum([0] + [len(model.levels[n]) for n in range(N - 1)])
    n_states = int(offsets[-1])
    logrows = np.empty((n_states, V))
    next_state = np.empty((n_states, V), np.int64)
    symbols = np.arange(V, dtype=np.int64)
    for n in range(1, N):
        level = model.levels[n - 1]
        lo, hi = offsets[n - 1], offsets[n]
        keys = level.keys
        # Row of context h: stored children take p*(hw); the rest back off to h's suffix row.
        if n == 1:
            base = np.broadcast_to(model.levels[0].logp, (len(keys), V))
        else:
            suffix_index, ok = model.levels[n - 2].find(keys % V ** (n - 1))
            if not ok.all():
                raise NgramError("model n-grams are not suffix-closed; load it through ngram so it is repaired")
            base = logrows[offsets[n - 2] + suffix_index]
        rows = level.bow[:, None] + base
        children = model.levels[n]
        child_context = children.keys // V
        owner, has_owner = level.find(child_context)
        rows[owner[has_owner], children.keys[has_owner] % V] = children.logp[has_owner]
        logrows[lo:hi] = rows
        # Transitions: h+w if that is a stored context, else the suffix state's transition.
        if n == 1:
            fallback = np.broadcast_to(symbols, (len(keys), V))  # unigram states are ids
        else:
            fallback = next_state[offsets[n - 2] + suffix_index]
        if n + 1 <= N - 1:
            extended = keys[:, None] * V + symbols[None, :]
            index, stored = model.levels[n].find(extended.ravel())
            index, stored = index.reshape(len(keys), V), stored.reshape(len(keys), V)
            next_state[lo:hi] = np.where(stored, offsets[n] + index, fallback)
        else:
            # A longest context extended drops its oldest symbol, which is what the suffix
            # state's own transition already computes.
            next_state[lo:hi] = fallback
    return Automaton(rows=np.exp(logrows), next_state=next_state, start=int(offsets[0] + BOUNDARY))


def adjust_rows(rows: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None) -> np.ndarray:
    """Temperature, top-k and nucleus (top-p) filtering, each row renormalised."""
    rows = np.array(rows, dtype=np.float64)
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logits = np.log(rows) / temperature
        logits -= logits.max(axis=1, keepdims=True)
        rows = np.exp(logits)
    if top_k is not None and top_k < rows.shape[1]:
        kth = -np.partition(-rows, top_k - 1, axis=1)[:, top_k - 1 : top_k]
        rows = np.where(rows >= kth, rows, 0.0)
    if top_p is not None and top_p < 1.0:
        rows = rows / rows.sum(axis=1, keepdims=True)
        order = np.argsort(-rows, axis=1)
        sorted_rows = np.take_along_axis(rows, order, axis=1)
        before = np.cumsum(sorted_rows, axis=1) - sorted_rows  # mass of strictly likelier symbols
        keep_sorted = before < top_p  # the smallest set whose mass reaches top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        rows = np.where(keep, rows, 0.0)
    return rows / rows.sum(axis=1, keepdims=True)


def check_sampling_settings(n: int, temperature: float, top_k: int | None, top_p: float | None,
                            min_len: int, max_len: int) -> None:
    if n < 0:
        raise NgramError(f"number of samples must be 0 or more, got {n}")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise NgramError(f"temperature must be a positive finite number, got {temperature}")
    if top_k is not None and top_k < 1:
        raise NgramError(f"top-k must be at least 1, got {top_k}")
    if top_p is not None and not (0 < top_p <= 1):
        raise NgramError(f"top-p must be in (0, 1], got {top_p}")
    if min_len < 0 or max_len < 1 or min_len > max_len:
        raise NgramError(f"need 0 <= min-len <= max-len and max-len >= 1, got min-len {min_len}, max-len {max_len}")
    if n * max_len > MAX_SAMPLE_SYMBOLS:
        # One run holds an n × max-len array of ids; refuse before numpy overflows or the OS kills us.
        raise NgramError(f"{n} names of up to {max_len} characters is too much for one run "
                         f"(at most {MAX_SAMPLE_SYMBOLS:,} symbols); sample in several runs with different seeds")


def sample(model: Model, n: int = 10, seed: int | None = None, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, prefix: str = "",
           min_len: int = 0, max_len: int = 50, automaton: Automaton | None = None) -> list[str]:
    """Draw ``n`` names. Reproducible for a given ``seed``.

    ``prefix`` starts every name; ``min_len``/``max_len`` bound the length in characters (the end
    symbol is masked before ``min_len``; a name reaching ``max_len`` is ended there).
    """
    check_sampling_settings(n, temperature, top_k, top_p, min_len, max_len)
    if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise NgramError(f"seed must be a whole number 0 or more, got {seed!r}")
    if not isinstance(model, Model):  # mixtures (ngram.mixture) sample themselves
        return model.sample(n=n, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix,
                            min_len=min_len, max_len=max_len)
    rng = np.random.default_rng(seed)
    auto = automaton or _automaton(model)
    prefix_ids = model.vocabulary.encode_context(prefix, what="prefix")
    state = auto.start
    for symbol in prefix_ids:
        state = int(auto.next_of(np.array([state]), np.array([symbol]))[0])
    states = np.full(n, state, dtype=np.int64)  # of the names still going, in the order of alive
    steps = max(max_len - len(prefix_ids), 0)
    # One row per step, so each step writes one row; the smallest integer type that holds an id.
    out = np.zeros((steps, n), dtype=np.uint8 if model.V <= 256 else np.int64)
    alive = np.arange(n)
    # Without reshaping, the automaton's cached running sums (<unk> left out) are the draw's CDF.
    plain = (hasattr(auto, "cdf_of") and getattr(auto, "masked", None) == model.vocabulary.unk_id
             and temperature == 1.0 and top_k is None and top_p is None)
    for step in range(steps):
        if len(alive) == 0:
            break
        cdf = auto.cdf_of(states) if plain and len(prefix_ids) + step >= min_len else None
        if cdf is None or not np.all(cdf[:, -1] > 0):  # (a row with only <unk> takes the long way)
            rows = auto.rows_of(states)
            if model.vocabulary.unk:
                rows = rows.copy()
                rows[:, model.vocabulary.unk_id] = 0.0  # <unk> is not a character to write down
            if len(prefix_ids) + step < min_len:
                rows = rows.copy()
                rows[:, BOUNDARY] = 0.0
            dead_rows = rows.sum(axis=1) <= 0
            if dead_rows.any():  # only masked symbols left: end the name here
                rows = rows.copy()
                rows[dead_rows, BOUNDARY] = 1.0
            rows = adjust_rows(rows, temperature, top_k, top_p)
            cdf = np.cumsum(rows, axis=1)
        u = rng.random(len(alive))[:, None] * cdf[:, -1:]
        symbol = np.minimum((cdf <= u).sum(axis=1), model.V - 1)
        out[step, alive] = symbol
        going = symbol != BOUNDARY
        states = auto.next_of(states[going], symbol[going])
        alive = alive[going]
    return _decode_rows(out.T, model, prefix)


def _automaton(model: Model):
    """Rows made on demand for the states sampling reaches; all of them up front only for a
    model whose n-gram set is not closed (then ``scoring.build`` declines)."""
    from .scoring import LazyRows, build

    scorer = build(model)
    return LazyRows(scorer, masked=model.vocabulary.unk_id) if scorer is not None else build_automaton(model)


def _decode_rows(out: np.ndarray, model: Model, prefix: str) -> list[str]:
    """Each row's symbols up to its first end symbol as text, all rows in one decode."""
    vocab = model.vocabulary
    # The boundary becomes a newline that splits the names; <unk> (never drawn) writes nothing.
    points = np.array([10] + [ord(c) for c in vocab.characters] + ([0] if vocab.unk else []), dtype=np.uint32)
    ended = np.concatenate((out, np.full((len(out), 1), BOUNDARY, out.dtype)), axis=1)
    first_end = np.argmax(ended == BOUNDARY, axis=1)
    keep = np.arange(ended.shape[1])[None, :] <= first_end[:, None]
    if vocab.unk:
        keep &= ended != vocab.unk_id
    text = points[ended[keep]].tobytes().decode("utf-32-le", "surrogatepass")
    names = text.split("\n")[:-1]
    return [prefix + name for name in names] if prefix else names


@dataclass
class Novelty:
    samples: int
    in_training: int
    new: int
    distinct: int

    def summary(self) -> dict:
        return {"samples": self.samples, "in_training": self.in_training, "new": self.new, "distinct": self.distinct}


def novelty(model: Model, names: list[str]) -> tuple[Novelty, np.ndarray]:
    """How many samples are training names (by fingerprint), and a mask of the new ones."""
    if model.train_names is None or len(model.train_names) == 0:
        raise NgramError("this model does not record its training names (e.g. imported from ARPA); novelty needs them")
    hashes, known = hash_names(names), model.train_names  # sorted and distinct, as saved
    # searchsorted on the sorted fingerprints: np.isin hashes both arrays and is far slower.
    seen = known[np.minimum(np.searchsorted(known, hashes), len(known) - 1)] == hashes
    return Novelty(samples=len(names), in_training=int(seen.sum()), new=int((~seen).sum()),
                   distinct=len(set(names))), ~seen
