"""Next-symbol answers of a whole-name mixture, for every prefix of a batch of names at once.

A whole-name mixture p(name) = Σ_i w_i p_i(name) gives, after a prefix s,

    p(c | s) = Σ_i w_i P_i(s·c…) / Σ_i w_i P_i(s…),      p(end | s) = Σ_i w_i p_i(s) / Σ_i w_i P_i(s…),

with P_i(s…) the total probability component i gives to names that start with s. Everything here
is computed for all prefixes of all names of a batch in a few vectorised passes, never a Python
loop per prefix.

- A left-to-right component: P(s…) is the product of its conditionals along s, and
  P(s·c…) = P(s…) p(c | s): its own batched ``logprob_encoded`` and ``row_logprobs``.
- A right-to-left component reads names reversed, so the names that start with s are the readings
  that END with z = s reversed. Over its context states q (the stored contexts: its automaton's
  states) with v(q) the expected visits of q by a reading, and D(x) the states whose context ends
  in x (x and every state whose suffix chain passes through it):

  * if z is a stored context, every history ending in z sits in a state of D(z), and every visit
    of such a state has a history ending in z, so P(s…) = Σ_{q∈D(z)} v(q) p(end | q) = T[z, end];
  * else let x be the longest stored prefix of z (at most N-1 symbols) and y the symbol after it.
    No stored context contains x·y (the stored contexts are closed under substrings), so from a
    state of D(x), y leads to the one state its history's stored suffix names, with mass
    Σ_{q∈D(x)} v(q) p(y | q) = T[x, y]; the rest of z and the end are then read from contexts
    inside z, whose conditionals multiply (one batched lookup for all of them).

  T[x, ·] = Σ_{q∈D(x)} v(q) p(· | q) is a sum over the subtree of x in the suffix tree of the
  states (a state's parent is its context without the oldest symbol): one bottom-up pass over
  the automaton's rows, made once per component and kept (``SuffixTable``).

Exactness: every sum has positive terms only (no cancellation). The visits are summed until the
mass of unfinished readings is below 1e-16 (``ngram.lm.backoff.automaton.TAIL_MASS``), so a row,
divided by the sum of its entries, sums to 1 to rounding, and ``logprob_encoded`` telescopes:
a name's entries add up to ln Σ_i w_i p_i(name) - ln 1, the mixture's own ``name_logprobs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ngram.core.arrays import distinct
from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY, Encoded, reverse_encoded
from ngram.lm.base import logsumexp


# Queries (prefix x symbol) answered per pass: bounds the padded matrices to a few tens of MB.
QUERY_BLOCK = 200_000
# Past this many (state, symbol) lookups for one batch's T entries, the whole table is made once
# from the automaton instead (a few seconds for an order-10 mixture of 30,000 names' n-grams).
FULL_TABLE_LOOKUPS = 2_000_000
# A model file keeps T[x, ·] of every state x whose D(x) has more states than this (a few thousand
# rows for an order-10 model of 30,000 names), so that no answer sums over more states than this.
HEAVY_STATES = 32
PACKED_LIMIT = 2**62  # reversed contexts are sorted as one int64 below this, else column by column


@dataclass
class ForwardMasses:
    """A right-to-left component's stored forward masses (see ``SuffixTable.forward_masses``)."""

    visits: np.ndarray  # expected visits of each context state by a reading, (states,)
    heavy: np.ndarray  # increasing state indices whose T rows are kept
    heavy_logt: np.ndarray  # ln T[heavy, ·], (len(heavy), V)


# ----------------------------------------------------------------------------------------------
# Packed windows over padded prefix matrices
# ----------------------------------------------------------------------------------------------
def _window_keys(Z: np.ndarray, rows: np.ndarray, at: np.ndarray, order: int, V: int) -> np.ndarray:
    """Packed windows (target lowest) ending at column ``at`` of rows ``rows`` of Z (zero-padded, so
    the column after a row's last symbol is the end symbol; columns before 0 are padding)."""
    key = np.zeros(len(rows), np.int64)
    for d in range(order - 1, -1, -1):
        col = at - d
        key = key * V + np.where(col >= 0, Z[rows, np.maximum(col, 0)], 0)
    return key


def _tail_logprob(model, Z: np.ndarray, lengths: np.ndarray, first: np.ndarray, from_start: bool) -> np.ndarray:
    """Per row i: Σ_{j=first_i..len_i} ln p(Z[i, j] | the symbols of row i before j), Z[i, len_i]
    being the end; with ``from_start`` the reading begins a name (the start symbol precedes it)."""
    count = np.maximum(lengths - first + 1, 0)
    rows = np.repeat(np.arange(len(Z)), count)
    if len(rows) == 0:
        return np.zeros(len(Z))
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    at = first[rows] + offset
    N, V = model.order, model.V
    keys = _window_keys(Z, rows, at, N, V)
    history = np.minimum(at + 1 if from_start else at, N - 1)
    logp = model.logprob_keys(keys, history)
    return np.bincount(rows, weights=logp, minlength=len(Z))


# ----------------------------------------------------------------------------------------------
# A right-to-left component: subtree sums over its context states
# ----------------------------------------------------------------------------------------------
def _state_levels(model):
    """The back-off levels whose stored contexts are the model's states (``automaton.states_model``)."""
    from ngram.lm.backoff.automaton import states_model

    base = states_model(model)
    return base.levels, base.order


class SuffixTable:
    """T[x, y] = Σ_{q∈D(x)} v(q) p(y | q) for the context states x of a next-symbol model (see the
    module docstring), answered from the expected visits v: for a few (x, y) by summing over the
    states of D(x) (contiguous once the states are sorted by their reversed contexts), for many
    by making the whole table once from the model's automaton."""

    def __init__(self, model, stored: "ForwardMasses | None" = None):
        self.model = model
        self.V = model.V
        levels, order = _state_levels(model)
        self.order = order
        self.levels = levels[: max(order - 1, 0)]
        self.offsets = np.cumsum([0] + [len(level) for level in self.levels])
        self.stored = stored
        self._logT = None
        self._sorted = None
        self._heavy_row = None

    @property
    def n_states(self) -> int:
        return int(self.offsets[-1]) or 1

    def _automaton(self):
        from ngram.lm.backoff import automaton

        if automaton.too_large(self.model):
            S = self.n_states
            raise NgramError(f"this whole-name mixture's right-to-left component has {S:,} context states x {self.V:,} "
                             f"symbols, more than the {automaton.MAX_CELLS:,} cells the masses of names after a prefix "
                             "are made from; for these answers train a left-to-right model (ngram train FILE -N 6, "
                             "or ngram tune, which sets such a mixture aside)")
        return automaton.build(self.model)  # numbered as here: order 1's n-grams, then order 2's, ...

    def forward_masses(self) -> "ForwardMasses | None":
        """What a model file keeps so that answers need no automaton: the visits, and the rows T[x, ·]
        of the states whose D(x) holds more than ``HEAVY_STATES`` states. None when the automaton
        they come from is past its size bound (the file then keeps none; answers refuse in one line)."""
        from ngram.lm.backoff import automaton

        if self.stored is None and automaton.too_large(self.model):
            return None
        if self.stored is None:
            table = self._table()
            heavy = np.flatnonzero(self._subtrees()[2] > HEAVY_STATES)
            self.stored = ForwardMasses(self._visits, heavy, table[heavy])
        return self.stored

    def check(self, label: str) -> None:
        """One-line refusal of stored forward masses that do not fit this model's states."""
        f, S = self.stored, self.n_states
        ok = (f.visits.shape == (S,) and np.isfinite(f.visits).all() and (f.visits >= 0).all()
              and f.heavy.ndim == 1 and f.heavy_logt.shape == (len(f.heavy), self.V)
              and (len(f.heavy) == 0 or (f.heavy[0] >= 0 and f.heavy[-1] < S and (np.diff(f.heavy) > 0).all()))
              and not np.isnan(f.heavy_logt).any() and not np.isposinf(f.heavy_logt).any())
        if not ok:
            raise NgramError(f"{label}: the stored forward masses do not fit the right-to-left component; the file is damaged")

    def _parents(self, n: int) -> np.ndarray:
        """Index (in level n - 1) of the suffix of every state of n symbols."""
        parent, ok = self.levels[n - 2].find(self.levels[n - 1].keys % self.V ** (n - 1))
        if not ok.all():
            raise NgramError("model n-grams are not suffix-closed; load it through ngram so it is repaired")
        return int(self.offsets[n - 2]) + parent

    def _table(self) -> np.ndarray:
        """Every T[x, ·] at once: each state's v(q) p(· | q), added into its suffix, longest first."""
        if self._logT is None:
            auto = self._automaton()
            self._visits = self.stored.visits if self.stored is not None else auto.visits()
            T = self._visits[:, None] * np.exp(auto.logrows)
            for n in range(len(self.levels), 1, -1):
                lo, hi = int(self.offsets[n - 1]), int(self.offsets[n])
                np.add.at(T, self._parents(n), T[lo:hi])
            with np.errstate(divide="ignore"):
                self._logT = np.log(T)
        return self._logT

    def _subtrees(self):
        """The states sorted by their contexts read backwards (so D(x) is a run starting at x), each
        state's place in that order and the length of its run."""
        if self._sorted is None:
            S, width, V = self.n_states, max(self.order - 1, 1), self.V
            # Each context read newest symbol first, as digits 1..V (0 past its start): sorting
            # these puts every state right before the states whose contexts end in it. Made a
            # level at a time, so that no whole-size temporary is held beside the packed digits.
            if not self.levels:
                by_rank = np.zeros(1, np.int64)
            elif (V + 1) ** width < PACKED_LIMIT:
                packed = np.empty(S, np.int64)
                for n, level in enumerate(self.levels, start=1):
                    rest, digits = level.keys.copy(), np.zeros(len(level), np.int64)
                    for d in range(width):
                        digits *= V + 1
                        if d < n:
                            digits += rest % V + 1
                            rest //= V
                    packed[int(self.offsets[n - 1]) : int(self.offsets[n])] = digits
                by_rank = np.argsort(packed, kind="stable")
                del packed
            else:
                backwards = np.zeros((S, width), np.int64)
                for n, level in enumerate(self.levels, start=1):
                    rest, part = level.keys.copy(), backwards[int(self.offsets[n - 1]) : int(self.offsets[n])]
                    for d in range(n):
                        part[:, d] = rest % V + 1
                        rest //= V
                by_rank = np.lexsort(backwards.T[::-1])
                del backwards
            index = np.int32 if S < 2**31 else np.int64  # (kept with the model: half the memory)
            by_rank = by_rank.astype(index)
            rank = np.empty(S, index)
            rank[by_rank] = np.arange(S, dtype=index)
            size = np.ones(S, index)
            for n in range(len(self.levels), 1, -1):
                lo, hi = int(self.offsets[n - 1]), int(self.offsets[n])
                size += np.bincount(self._parents(n), weights=size[lo:hi], minlength=S).astype(size.dtype)
            self._sorted = (by_rank, rank, size)
        return self._sorted

    def _keys_of(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(context key, length) of each state, read from its level."""
        length = np.searchsorted(self.offsets, states, side="right")
        keys = np.zeros(len(states), np.int64)
        for n in distinct(length).tolist():
            if 1 <= n <= len(self.levels):
                at = length == n
                keys[at] = self.levels[n - 1].keys[states[at] - int(self.offsets[n - 1])]
        return keys, length

    def log_t(self, state: np.ndarray, y: np.ndarray) -> np.ndarray:
        """ln T[state, y] for arrays of states and symbols."""
        if self._logT is not None or self.stored is None or self.order == 1:
            return self._table()[state, y]
        stored = self.stored
        if self._heavy_row is None:
            self._heavy_row = np.full(self.n_states, -1, np.int32 if len(stored.heavy) < 2**31 else np.int64)
            self._heavy_row[stored.heavy] = np.arange(len(stored.heavy))
        row = self._heavy_row[state]
        out = np.empty(len(state))
        heavy = row >= 0
        out[heavy] = stored.heavy_logt[row[heavy], y[heavy]]
        light = np.flatnonzero(~heavy)
        if len(light) == 0:
            return out
        V = self.V
        pairs, inverse = np.unique(state[light] * V + y[light], return_inverse=True)
        by_rank, rank, size = self._subtrees()
        first, count = rank[pairs // V], size[pairs // V]
        if int(count.sum()) > FULL_TABLE_LOOKUPS:  # cheaper to make every row once
            return self._table()[state, y]
        ends = np.cumsum(count)
        at = np.arange(int(ends[-1])) - np.repeat(ends - count, count) + np.repeat(first, count)
        members = by_rank[at]
        symbol = np.repeat(pairs % V, count)
        keys, length = self._keys_of(members)
        logp = self.model.logprob_keys(keys * V + symbol, length)
        with np.errstate(divide="ignore"):
            sums = np.log(np.add.reduceat(stored.visits[members] * np.exp(logp), ends - count))
        out[light] = sums[inverse.ravel()]
        return out

    def logmass(self, Z: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """ln of the mass of readings that end with row i's first ``lengths[i]`` symbols of Z
        (read left to right as the model reads), then end: ln P(s…) for s = that string reversed."""
        n, V = len(Z), self.V
        state = np.zeros(n, np.int64)  # an order-1 model has one state (the empty context)
        m = np.zeros(n, np.int64)
        if self.order > 1:
            key = np.zeros(n, np.int64)
            alive = np.flatnonzero(lengths >= 1)
            for j in range(1, min(self.order - 1, Z.shape[1]) + 1):
                alive = alive[lengths[alive] >= j]
                key[alive] = key[alive] * V + Z[alive, j - 1]
                index, stored = self.levels[j - 1].find(key[alive])
                alive, index = alive[stored], index[stored]
                m[alive] = j
                state[alive] = int(self.offsets[j - 1]) + index
                if len(alive) == 0:
                    break
        y = Z[np.arange(n), m]  # the symbol after the longest stored prefix (0: the end)
        out = self.log_t(state, y)
        return out + _tail_logprob(self.model, Z, lengths, m + 1, from_start=False)


# ----------------------------------------------------------------------------------------------
# Prefixes of a batch of names
# ----------------------------------------------------------------------------------------------
def reversed_too_large(model) -> str:
    """Why a right-to-left component of ``model`` (a whole-name mixture) cannot have the forward
    masses its answers after a prefix need (its dense automaton past ``automaton.MAX_CELLS``); ""
    when none is too large or the model has none."""
    from ngram.lm.backoff import automaton

    if model.kind != "name":
        return ""
    for component, reverse in zip(model.components, model.reverse):
        if reverse and automaton.too_large(component):
            levels, order = _state_levels(component)
            states = sum(len(level) for level in levels[: max(order - 1, 0)])
            return (f"its right-to-left component has {states:,} context states x {component.V:,} symbols, more than "
                    f"the {automaton.MAX_CELLS:,} cells its forward masses are made from, so it could not answer "
                    "after a prefix (probs, --explain, report, heatmap)")
    return ""


def _reversed_prefixes(encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """For every target position: the name's prefix before it, reversed (row t: the symbol just
    before t first), zero-padded with at least one zero column after the longest; and its length."""
    ids = np.asarray(encoded.ids, np.int64)
    lengths = encoded.history() - 1
    width = int(lengths.max(initial=0)) + 1
    t = np.arange(encoded.n_targets)
    Z = np.zeros((len(t), width), np.int64)
    for d in range(width - 1):
        here = np.flatnonzero(lengths > d)
        Z[here, d] = ids[here - d]  # target t is ids[t + 1]; the symbol d before it is ids[t - d]
    return Z, lengths


def _forward_masses(model, encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """A left-to-right component: ln P(prefix…) before every target (the conditionals along the
    prefix added) and ln p(name) per name."""
    logp = model.logprob_encoded(encoded)
    before = np.concatenate(([0.0], np.cumsum(logp)[:-1]))
    mass = before - np.repeat(before[np.asarray(encoded.starts)], encoded.symbols_per_name())
    return mass, np.add.reduceat(logp, encoded.starts)


def _component_masses(model, reverse: bool, encoded: Encoded, table) -> tuple[np.ndarray, np.ndarray]:
    """One component's ln P(prefix…) before every target and ln p(name) per name."""
    if not reverse:
        return _forward_masses(model, encoded)
    Z, lengths = _reversed_prefixes(encoded)
    mass = np.zeros(len(Z))
    inner = np.flatnonzero(lengths > 0)
    for lo in range(0, len(inner), QUERY_BLOCK):
        part = inner[lo:lo + QUERY_BLOCK]
        mass[part] = table.logmass(Z[part], lengths[part])
    return mass, model.name_logprobs(reverse_encoded(encoded))


def _component_rows(model, reverse: bool, encoded: Encoded, table, at: np.ndarray) -> np.ndarray:
    """One component's [ln p(prefix as a name), ln P(prefix·c…) for each character c] at the
    target positions ``at``."""
    if not reverse:
        mass, _ = _forward_masses(model, encoded)
        return model.row_logprobs(encoded)[at] + mass[at, None]
    Z, lengths = _reversed_prefixes(encoded)
    Z, lengths = Z[at], lengths[at]
    V = model.V
    vectors = np.empty((len(Z), V))
    # The prefix itself as a whole name: read (reversed) from the start, then the end.
    vectors[:, BOUNDARY] = _tail_logprob(model, Z, lengths, np.zeros(len(Z), np.int64), from_start=True)
    step = max(1, QUERY_BLOCK // max(V - 1, 1))
    for lo in range(0, len(Z), step):
        part = slice(lo, lo + step)
        block, block_lengths = Z[part], lengths[part]
        k = len(block)
        # z = c then the reversed prefix, for every character c
        Zc = np.zeros((k * (V - 1), block.shape[1] + 1), np.int64)
        Zc[:, 0] = np.tile(np.arange(1, V), k)
        Zc[:, 1:] = np.repeat(block, V - 1, axis=0)
        vectors[part, 1:] = table.logmass(Zc, np.repeat(block_lengths + 1, V - 1)).reshape(k, V - 1)
    return vectors


def _weighted(model):
    """(ln weight, component, reverse, its suffix table or None) of every component with weight."""
    tables = model.suffix_tables()
    return [(float(np.log(w)), c, r, tables.get(i)) for i, (w, c, r) in enumerate(model.name_components()) if w > 0]


def logprob_encoded(model, encoded: Encoded) -> np.ndarray:
    """ln p(symbol | the name's prefix) at every target: ln M(prefix·symbol…) - ln M(prefix…), with
    M = Σ_i w_i P_i and, for the end, ln Σ_i w_i p_i(name). A name's entries telescope to the
    mixture's ln p(name) (M of the empty prefix is 1: each P_i("…") is 1)."""
    if encoded.n_targets == 0:
        return np.zeros(0)
    parts = [(w, _component_masses(c, r, encoded, table)) for w, c, r, table in _weighted(model)]
    mass = logsumexp(np.stack([w + m for w, (m, _) in parts]), axis=0)
    starts = np.asarray(encoded.starts)
    mass[starts] = 0.0
    name = logsumexp(np.stack([w + n for w, (_, n) in parts]), axis=0)
    after = np.append(mass[1:], 0.0)  # the mass after a character target is the next position's
    ends = np.append(starts[1:], encoded.n_targets) - 1
    after[ends] = name
    return after - mass


def row_logprobs(model, encoded: Encoded, at: np.ndarray | None = None) -> np.ndarray:
    """The whole next-symbol ln-vector at every target position (or those of ``at``), each divided
    by the sum of its entries (Σ_i w_i P_i(prefix…), to the visits' tail bound)."""
    at = np.arange(encoded.n_targets) if at is None else np.asarray(at, np.int64)
    if len(at) == 0:
        return np.zeros((0, model.V))
    mixed = logsumexp(np.stack([w + _component_rows(c, r, encoded, table, at) for w, c, r, table in _weighted(model)]), axis=0)
    return mixed - logsumexp(mixed, axis=1)[:, None]


def context_logprobs(model, context: str, at_start: bool = True) -> np.ndarray:
    """ln p(next symbol | context) for a context that begins a name."""
    if not at_start:
        raise NgramError("a whole-name mixture answers next-symbol questions after the start of a name only "
                         "(its right-to-left components read whole names)")
    ids = np.asarray(model.vocabulary.encode_context(context), np.int64)
    encoded = Encoded(ids=np.concatenate(([BOUNDARY], ids, [BOUNDARY])), starts=np.zeros(1, np.int64))
    return row_logprobs(model, encoded, at=[len(ids)])[0]
