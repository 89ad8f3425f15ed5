"""Exact constrained generation: a next-symbol model's automaton x a constraint's DFA.

``Plan`` computes backward masses over (remaining length, context state, constraint state) and
draws names left to right from the exactly conditioned next-symbol distribution; ``SparsePlan``
is the same for a back-off model too large for dense rows. Both give the best-first search
(``ngram.generation.search``) its exact bounds.
"""

from __future__ import annotations

import numpy as np

from ngram.core.arrays import FEW_VALUES, distinct
from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY
from ngram.generation.search import best_first, in_order
from ngram.generation.shaping import adjust_rows
from ngram.lm.backoff.automaton import BackoffRows, too_large
from ngram.lm.backoff.automaton import build as build_context_automaton
from ngram.lm.protocol import LEVELS, SEQUENTIAL

MIN_MASS = 1e-300  # a constraint with less mass than this (under the shaped rows) is refused
CHUNK = 1 << 19  # names drawn at once (also the rejection draws' largest batch)

class Plan:
    """One next-symbol model under one constraint DFA: backward masses over (remaining length,
    state, constraint state), then names drawn left to right from the exactly conditioned
    next-symbol distribution.

    ``B[r][s, q]`` = total probability (under the generation rows) of the ways to finish a name
    from context state s and constraint state q with at most r more characters, the end symbol
    allowed only in an accepting q and at a position >= min_len (the position is max_len - r).
    The mass of the constraint set is B[max_len][start, q0] under the model's own rows.
    """

    def __init__(self, model, dfa, min_len: int, max_len: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None):
        self.model, self.dfa = model, dfa
        self.min_len, self.max_len = min_len, max_len
        self.auto = auto = build_context_automaton(model)
        raw = np.exp(auto.logrows)
        unk = model.vocabulary.unk_id
        self.shaped = temperature != 1.0 or top_k is not None or top_p is not None
        if self.shaped:
            rows = raw.copy()
            if unk is not None:
                rows[:, unk] = 0.0
            dead = rows.sum(axis=1) <= 0
            rows[dead, BOUNDARY] = 1.0
            rows = adjust_rows(rows, temperature, top_k, top_p)
        else:
            rows = raw
        self.rows, self.raw = rows, raw
        self._B = self._max = self._mass = self._reach = None

    @property
    def B(self) -> list[np.ndarray]:
        if self._B is None:
            self._B = self._backward(self.rows, np.add)
        return self._B

    @property
    def gen_mass(self) -> float:
        """The constraint's mass under the generation rows (after temperature, top-k, top-p)."""
        return float(self.B[-1][self.auto.start, self.dfa.start])

    @property
    def mass(self) -> float:
        """The constraint's mass under the model's own rows."""
        if self._mass is None:
            self._mass = float(self._backward(self.raw, np.add)[-1][self.auto.start, self.dfa.start]) \
                if self.shaped else self.gen_mass
        return self._mass

    def _reachable(self) -> list[np.ndarray | None]:
        """Per position t = 0..max_len, the context states a name can be in after t characters
        (None: nearly all of them). Early positions only reach contexts that start at the start of
        the name, a small part of the automaton, so the backward tables are computed there only."""
        if self._reach is None:
            S = self.auto.n_states
            reach, now = [], np.array([self.auto.start])
            for t in range(self.max_len + 1):
                if now is None or len(now) > S // 2:
                    now = None
                reach.append(now)
                if now is not None:
                    now = distinct(self.auto.next[now, 1:])
            self._reach = reach
        return self._reach

    def _backward(self, rows: np.ndarray, combine) -> list[np.ndarray]:
        """B[0..max_len] as above (``combine`` np.add: masses; np.maximum: log max-masses, ``rows``
        then being ln-rows). B[r] is needed at the states reachable at position max_len - r only
        (where ``draw`` and ``best`` read it), and is computed there."""
        S, Q, L = self.auto.n_states, self.dfa.n_states, self.max_len
        add = combine is np.add
        # Only the live constraint states (1..Q-1): the dead state 0 has mass 0 whatever follows.
        acc, delta, nxt = self.dfa.accept[1:], self.dfa.delta[None, 1:, 1:], self.auto.next
        with np.errstate(divide="ignore"):
            ending = rows[:, BOUNDARY, None] * acc[None, :] if add else np.where(acc[None, :], rows[:, BOUNDARY, None],
                                                                                   -np.inf)
        empty = 0.0 if add else -np.inf
        reach = self._reachable()
        tables: list[np.ndarray] = []
        full: list[bool] = []
        for r in range(L + 1):
            states = reach[L - r]
            can_end = L - r >= self.min_len
            if r >= 2 and full[-1] and full[-2] and can_end == (L - r + 1 >= self.min_len) \
                    and np.array_equal(tables[-1], tables[-2]):
                # A fixed point of the recursion (same end term, same input: bit for bit the same
                # output), computed on every state: it stays the same from here on.
                tables.append(tables[-1])
                full.append(True)
                continue
            table = np.full((S, Q), empty)
            at = slice(None) if states is None else states
            here = ending[at] if can_end else np.full((S if states is None else len(states), Q - 1), empty)
            if r > 0:
                # One live constraint state at a time: its successor under each character is
                # fixed, so the successors' values are one gather from the previous table laid
                # out constraint state by constraint state (no (states x Q x V) index to build).
                previous = np.ascontiguousarray(tables[-1].T).ravel()
                successors, weights = nxt[at, 1:].astype(np.int64), rows[at, 1:]
                here = here.copy()
                for j in range(Q - 1):
                    after = previous[successors + delta[0, j] * S]
                    if add:
                        here[:, j] += np.einsum("sc,sc->s", weights, after)
                    else:
                        here[:, j] = np.maximum(here[:, j], (weights + after).max(axis=1))
            table[at, 1:] = here
            tables.append(table)
            full.append(states is None)
        return tables

    def max_tables(self) -> list[np.ndarray]:
        """ln of the largest probability of one valid completion, per (remaining, state, constraint
        state): the exact (so admissible) bound of best-first search, under the model's rows."""
        if self._max is None:
            self._max = self._backward(self.auto.logrows, np.maximum)
        return self._max

    def draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` names as an (m, max_len) array of ids, 0 after each name's end."""
        L, V = self.max_len, self.model.V
        out = np.zeros((m, max(L, 1)), np.uint8 if V <= 256 else np.int64)
        s = np.full(m, self.start_state, np.int64)
        q = np.full(m, self.dfa.start, np.int64)
        alive = np.arange(m)
        for t in range(L + 1):
            if not len(alive):
                break
            symbol, after = self._step(t, s, q, rng.random(len(alive)))
            if t < L:
                out[alive, t] = symbol
            going = symbol != BOUNDARY
            s = after[going].astype(np.int64)
            q = self.dfa.delta[q[going], symbol[going]].astype(np.int64)
            alive = alive[going]
        return out

    @property
    def start_state(self) -> int:
        return self.auto.start

    def _step(self, t: int, s: np.ndarray, q: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One symbol for each name at position t in context state s and constraint state q
        (``u`` uniform draws), from the exactly conditioned distribution, and the states after it."""
        L, Q = self.max_len, self.dfa.n_states
        r = L - t
        w = np.zeros((len(s), self.auto.V))
        if t >= self.min_len:
            w[:, BOUNDARY] = self.rows[s, BOUNDARY] * self.dfa.accept[q]
        if r > 0:
            after = self.B[r - 1].ravel()[self.auto.next[s, 1:].astype(np.int64) * Q + self.dfa.delta[q, 1:]]
            w[:, 1:] = self.rows[s, 1:] * after
        symbol = _pick(w, u)
        return symbol, self.auto.next[s, symbol]

    def best_logp(self) -> float | None:
        """ln p of the most probable valid name under the model's own rows (-inf: none), from
        the max tables, which hold ln p and so never underflow where a mass does."""
        return float(self.max_tables()[self.max_len][self.auto.start, self.dfa.start])

    def best(self):
        """The valid names in order of decreasing probability (under the model's rows), as (ids,
        ln p): ``search.best_first`` with the max tables as its exact bound."""
        H = self.max_tables()
        L, auto, dfa = self.max_len, self.auto, self.dfa

        def expand(node, upcoming):
            s, q, t = node
            row = auto.logrows[s]
            end = row[BOUNDARY] if t >= self.min_len and dfa.accept[q] else -np.inf
            if t >= L:
                return end, ()
            nxt, nq = auto.next[s, 1:], dfa.delta[q, 1:]
            bound = row[1:] + H[L - t - 1][nxt, nq]
            live = np.flatnonzero(np.isfinite(bound))
            return end, in_order((live + 1).tolist(), [(int(nxt[c]), int(nq[c]), t + 1) for c in live],
                                 row[live + 1].tolist(), bound[live].tolist())

        yield from best_first((auto.start, dfa.start, 0), float(H[L][auto.start, dfa.start]), expand)


# The reachable product's children and tables (pairs x symbols): past either bound a constrained
# question is refused in one line, before the position that would pass it is expanded, rather than
# run out of memory. The children are 4 bytes a cell (2^28 cells: 1 GB in all); expanding one
# position takes about 30 bytes a cell at its peak (2^25 cells: 1 GB).
LAZY_TABLE_CELLS = 1 << 28
STEP_CELLS = 1 << 25
# (present states x present constraint states) up to which distinct pairs are found by marking a
# table, not by sorting; past it a table at most MARK_RATIO times the pairs is still marked (a
# sparse table's page faults cost more than a sort: 62M cells for 1M pairs took 0.43 s, 0.05 s sorted)
MARK_CELLS = 1 << 22
MARK_RATIO = 1
BLOCK_CELLS = 1 << 22  # (pair, symbol) cells of a position made into keys at a time
MARK_WINDOW = 1 << 26  # values marked at a time when a crowded position's distinct pairs are counted (bytes)
MARK_WINDOWS = 8  # ... in at most this many passes over its keys (else they are sorted)
SAMPLE_TIMES = 2  # a crowded position's keys sampled for a lower bound: this many times its limit
SORT_KEYS = 1 << 32  # (s x q) tables up to which a key packs with its index into 64 bits for the sort
SPARSE_TABLE_CELLS = 80_000_000  # states x constraint states x (max-len + 1) of the sparse path's tables (640 MB)
ROW_CACHE = 32  # whole rows kept by the sparse path (each V floats and V next states)
CURSOR = 64  # candidates a best-first expansion of the sparse path holds at a time


class Budget:
    """The cells the plans of one question have counted, shared by them: a whole-name mixture's
    components hold their tables at once, so together they keep within ``LAZY_TABLE_CELLS`` (each
    on its own took up to twice the memory: a regex refused after 3.9 s and 1.9 GB, its two
    components counting side by side), and once one is refused the others stop at their next
    position."""

    def __init__(self) -> None:
        import threading

        self.used, self.refused = 0, ""  # (refused: the refusal's line, once a plan gives one)
        self._lock = threading.Lock()

    def take(self, cells: int) -> int:
        """Count ``cells`` more; the total so far."""
        with self._lock:
            self.used += cells
            return self.used


# top-k / top-p on the sparse path: walks before giving up when none met the constraints, and in all
# per name asked for (each walk makes a whole row per new state it stands in: slow at large V)
REACH_STATES = 2048  # top-k / top-p on the sparse path: exact tables when the reshaped rows reach at most these
REACH_KEPT = 1 << 21  # ... and keep at most this many symbols in all
REJECTION_FIRST_WALKS = 256
REJECTION_WALKS_PER_NAME = 64


class SparsePlan(Plan):
    """``Plan`` for a back-off model too large for dense rows (``automaton.too_large``): the same
    backward masses, each step's sums over next symbols done by ``automaton.BackoffRows``'s
    back-off recursion over stored n-grams, and the whole row of a state made only where a draw
    or the best-first search stands (the same rows as the dense path).

    Temperature keeps a row's back-off form (p*^(1/T), bow^(1/T), then divided by the total), so
    it is exact here too. Top-k and top-p do not (which symbols a row keeps depends on the whole
    row): with them names are drawn by walking the reshaped rows and keeping the ones that meet
    the constraints, which is exact (rejection), after the prefix every valid name shares
    (read off the DFA) is walked once; if almost no walk meets them the draw is refused.
    """

    def __init__(self, model, dfa, min_len: int, max_len: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None):
        self.model, self.dfa = model, dfa
        self.min_len, self.max_len = min_len, max_len
        self.shaping = (temperature, top_k, top_p)
        self.shaped = temperature != 1.0 or top_k is not None or top_p is not None
        self.raw = BackoffRows(model)
        self.rejection = top_k is not None or top_p is not None
        unk = model.vocabulary.unk_id
        self.gen = BackoffRows(model, temperature, unk) if self.shaped and not self.rejection else self.raw
        self.V, self.start = model.V, self.raw.start
        # the tables B (the mass under a temperature holds two more at a time)
        cells = self.raw.n_states * dfa.n_states * (max_len + 1 + (2 if self.gen is not self.raw else 0))
        if cells > SPARSE_TABLE_CELLS:
            raise NgramError(f"exact generation on this model ({self.raw.n_states:,} context states, {model.V:,} "
                             f"symbols) with {dfa.n_states - 1} constraint states and --max-len {max_len} needs "
                             f"{cells:,} table cells (at most {SPARSE_TABLE_CELLS:,}); lower --max-len or prune it")
        self._B = self._max = self._mass = None
        self._rows: dict = {}
        self._kept_rows: dict = {}
        self._shaped_tables = None  # top-k / top-p: per position, the reached states and their masses

    # ----- tables ------------------------------------------------------------------------------
    @property
    def B(self) -> list[np.ndarray]:
        if self._B is None:
            self._B = self._sparse_backward(self.gen, add=True)
        return self._B

    @property
    def gen_mass(self) -> float:
        if self.rejection:
            tables = self._exact_shaped()
            # (without tables a draw that finds no name says so)
            return float(tables[0][1][0, self.dfa.start]) if tables else self.mass
        return float(self.B[-1][self.start, self.dfa.start])

    @property
    def mass(self) -> float:
        if self._mass is None:
            tables = self.B if self.gen is self.raw else self._sparse_backward(self.raw, add=True, keep=False)
            self._mass = float(tables[-1][self.start, self.dfa.start])
        return self._mass

    def max_tables(self) -> list[np.ndarray]:
        if self._max is None:
            self._max = self._sparse_backward(self.raw, add=False)
        return self._max

    def _sparse_backward(self, rows, add: bool, keep: bool = True) -> list[np.ndarray]:
        """B[0..max_len] (``add``), or upper bounds of the ln max-masses (not ``add``), every state;
        without ``keep`` only B[max_len] (a mass: two tables in memory at a time)."""
        S, Q, L = rows.n_states, self.dfa.n_states, self.max_len
        acc, sym, after = self.dfa.accept, rows.symbol, rows.after
        chars = sym != BOUNDARY
        chars[0] = False
        with np.errstate(divide="ignore"):
            ending = rows.end[:, None] * acc[None, 1:] if add else np.where(acc[None, 1:], np.log(rows.end)[:, None], -np.inf)
        empty = 0.0 if add else -np.inf
        tables: list[np.ndarray] = []
        for r in range(L + 1):
            table = np.full((S, Q), empty)
            if L - r >= self.min_len:
                table[:, 1:] = ending
            if r > 0:
                previous = tables[-1]
                for j in range(1, Q):
                    g = previous[after, self.dfa.delta[j, sym]]
                    if add:
                        v = np.where(chars, rows.u * g, 0.0)
                        F = rows.backoff_sum(v)
                        if rows.shaped:
                            F = np.where(rows.dead, 0.0, F / np.where(rows.dead, 1.0, rows.Z))
                        table[:, j] += np.maximum(F, 0.0)
                    else:
                        table[:, j] = np.maximum(table[:, j], rows.backoff_max(np.where(chars, rows.logu + g, -np.inf)))
            if not keep and tables:
                tables.pop()
            tables.append(table)
        return tables

    # ----- whole rows where needed ---------------------------------------------------------------
    def _row(self, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the model's ln-row, the generation row, the next states) of state s, a few kept."""
        if s not in self._rows:
            if len(self._rows) >= ROW_CACHE:
                self._rows.pop(next(iter(self._rows)))
            logrow, nxt = self.raw.row(s)
            rows = np.exp(logrow)
            if self.shaped:
                unk = self.model.vocabulary.unk_id
                if unk is not None:
                    rows[unk] = 0.0
                if rows.sum() <= 0:
                    rows[BOUNDARY] = 1.0
                rows = adjust_rows(rows[None, :], *self.shaping)[0]
            self._rows[s] = (logrow, rows, nxt)
        return self._rows[s]

    def draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        if not self.rejection:
            return super().draw(m, rng)
        return self._draw_exact_shaped(m, rng) if self._exact_shaped() else self._draw_by_rejection(m, rng)

    # ----- top-k / top-p: exact on the states the reshaped rows reach, else by rejection ---------
    def _kept(self, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The characters the reshaped row of state s keeps, their probabilities, the states after
        them, and the probability of the end."""
        if s not in self._kept_rows:
            _, rows, nxt = self._row(s)
            chars = np.flatnonzero(rows[1:]) + 1
            self._kept_rows[s] = (chars, rows[chars], nxt[chars].astype(np.int64), float(rows[BOUNDARY]))
        return self._kept_rows[s]

    def _exact_shaped(self):
        """Per position t = 0..max_len, (the states a name can stand in there, sorted; their B
        table over constraint states) under the reshaped rows, found forward and summed backward
        as ``Plan._backward`` does; None when they reach more than REACH_STATES states or keep
        more than REACH_KEPT symbols in all (then names are drawn by rejection)."""
        if self._shaped_tables is None:
            self._shaped_tables = self._shaped_backward() or False
        return self._shaped_tables or None

    def _shaped_backward(self):
        L, Q, acc, delta = self.max_len, self.dfa.n_states, self.dfa.accept, self.dfa.delta
        levels, reached, kept = [np.array([self.start], np.int64)], 1, 0
        for _ in range(L):
            after = [self._kept(int(x))[2] for x in levels[-1]]
            level = distinct(np.concatenate(after)) if after else np.zeros(0, np.int64)
            reached += len(level)
            kept += sum(map(len, after))
            if reached > REACH_STATES or kept > REACH_KEPT:
                return None
            levels.append(level)
        tables: list = [None] * (L + 1)
        for t in range(L, -1, -1):
            states = levels[t]
            table = np.zeros((len(states), Q))
            for i, x in enumerate(states.tolist()):
                chars, p, nxt, end = self._kept(x)
                if t >= self.min_len:
                    table[i, 1:] = end * acc[1:]
                if t < L and len(chars):
                    below, masses = tables[t + 1]
                    rows = np.searchsorted(below, nxt)
                    for j in range(1, Q):
                        table[i, j] += np.dot(p, masses[rows, delta[j, chars]])
            tables[t] = (states, table)
        return tables

    def _draw_exact_shaped(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """``Plan.draw`` on the reached states' tables (``_exact_shaped``)."""
        L, acc, delta = self.max_len, self.dfa.accept, self.dfa.delta
        tables = self._exact_shaped()
        out = np.zeros((m, max(L, 1)), np.int64)
        s, q = np.full(m, self.start, np.int64), np.full(m, self.dfa.start, np.int64)
        alive = np.arange(m)
        for t in range(L + 1):
            if not len(alive):
                break
            u = rng.random(len(alive))
            symbol, after = np.zeros(len(alive), np.int64), np.zeros(len(alive), np.int64)
            for members, state, cq in _groups(s, q):
                chars, p, nxt, end = self._kept(state)
                w = np.zeros(len(chars) + 1)
                if t >= self.min_len:
                    w[0] = end * acc[cq]
                if t < L and len(chars):
                    below, masses = tables[t + 1]
                    w[1:] = p * masses[np.searchsorted(below, nxt), delta[cq, chars]]
                got = _pick(w, u[members])
                symbol[members] = np.where(got > 0, np.append(0, chars)[got], BOUNDARY)
                after[members] = np.append(0, nxt)[got]
            if t < L:
                out[alive, t] = symbol
            going = symbol != BOUNDARY
            s, q = after[going], delta[q[going], symbol[going]].astype(np.int64)
            alive = alive[going]
        return out

    @property
    def start_state(self) -> int:
        return self.start

    def _step(self, t: int, s: np.ndarray, q: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Plan._step``, a whole row made per distinct (state, constraint state)."""
        r = self.max_len - t
        symbol, after = np.zeros(len(s), np.int64), np.zeros(len(s), np.int64)
        for members, state, cq in _groups(s, q):
            _, rows, nxt = self._row(state)
            w = np.zeros(self.V)
            if t >= self.min_len:
                w[BOUNDARY] = rows[BOUNDARY] * self.dfa.accept[cq]
            if r > 0:
                w[1:] = rows[1:] * self.B[r - 1][nxt[1:], self.dfa.delta[cq, 1:]]
            symbol[members] = got = _pick(w, u[members])
            after[members] = nxt[got]
        return symbol, after

    def _forced_prefix(self) -> list[int]:
        """The symbols every name the DFA accepts begins with (a --prefix, say)."""
        delta, acc, q, ids = self.dfa.delta, self.dfa.accept, self.dfa.start, []
        while not acc[q] and len(ids) < self.max_len:
            live = np.flatnonzero(delta[q, 1:]) + 1
            if len(live) != 1:
                break
            ids.append(int(live[0]))
            q = int(delta[q, live[0]])
        return ids

    def _draw_by_rejection(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` names walked from the reshaped rows, kept when they meet the constraints."""
        L, acc, delta = self.max_len, self.dfa.accept, self.dfa.delta
        forced = self._forced_prefix()
        s0, q0 = self.start, self.dfa.start
        for c in forced:
            _, rows, nxt = self._row(s0)
            if not rows[c] > 0:
                self._refuse_shaped()
            s0, q0 = int(nxt[c]), int(delta[q0, c])
        kept: list[np.ndarray] = []
        found, tried = 0, 0
        while found < m:
            if (tried >= REJECTION_FIRST_WALKS and not found) or tried >= REJECTION_WALKS_PER_NAME * max(m, 64):
                self._refuse_shaped(found, tried)
            rate = found / tried if found else 1 / 64
            k = int(min(max(1.2 * (m - found) / rate + 16, 64), CHUNK, REJECTION_FIRST_WALKS if not found else CHUNK))
            out = np.zeros((k, max(L, 1)), np.int64)
            out[:, : len(forced)] = forced
            s, q = np.full(k, s0, np.int64), np.full(k, q0, np.int64)
            alive, ok = np.arange(k), np.zeros(k, bool)
            for t in range(len(forced), L + 1):
                if not len(alive):
                    break
                u = rng.random(len(alive))
                symbol, nxt_state = np.zeros(len(alive), np.int64), np.zeros(len(alive), np.int64)
                for members, state, _ in _groups(s, np.zeros_like(s)):
                    _, rows, nxt = self._row(state)
                    if t == len(forced):
                        # Every walk stands in this one state: leaving out the symbols that fail at
                        # once divides every kept walk's probability by one number, so it is exact.
                        end = rows[BOUNDARY] if t >= self.min_len and acc[q0] else 0.0
                        rows = rows * (delta[q0] != 0)
                        rows[BOUNDARY] = end
                        if not rows.sum() > 0:
                            self._refuse_shaped()
                    symbol[members] = got = _pick(rows, u[members])
                    nxt_state[members] = nxt[got]
                ended = symbol == BOUNDARY
                ok[alive[ended]] = (t >= self.min_len) & acc[q[ended]]
                q = np.where(ended, 0, delta[q, symbol]).astype(np.int64)
                going = ~ended & (q != 0) & (t < L)
                if t < L:
                    out[alive[going], t] = symbol[going]
                s, q, alive = nxt_state[going], q[going], alive[going]
            tried += k
            kept.append(out[ok])
            found += int(ok.sum())
        return np.concatenate(kept)[:m]

    def _refuse_shaped(self, found: int = 0, tried: int = 0):
        what = f" ({found} of {tried:,} walks met them)" if tried else ""
        raise NgramError(f"after top-k / top-p almost no name meets the constraints{what}; on a vocabulary of "
                         f"{self.V:,} symbols such names are drawn by walking the reshaped rows and keeping those "
                         "that meet them: loosen the constraints or the top-k / top-p")

    def best_logp(self) -> float | None:
        """None: the sparse max tables are bounds, not the most probable name's ln p."""
        return None

    def best(self):
        """As ``Plan.best``, each expansion's children taken from a whole row in order of their
        bound, a few at a time (``_children``: only a cursor is kept between them)."""
        if not self.mass > 0:
            return
        H = self.max_tables()
        L, dfa = self.max_len, self.dfa

        def expand(node, upcoming):
            s, q, t = node
            logrow = self._row(s)[0]
            end = logrow[BOUNDARY] if t >= self.min_len and dfa.accept[q] else -np.inf
            return end, (self._children(H, node) if t < L else ())

        yield from best_first((self.start, dfa.start, 0), float(H[L][self.start, dfa.start]), expand)

    def _children(self, H, node):
        """A node's children in order of (bound descending, symbol), a few computed at a time."""
        s, q, t = node
        cursor = (0.0, s, q, t, (), np.inf, -1)
        while True:
            item = self._next_children(H, cursor)
            if item is None:
                return
            (_, (logp, s2, q2, t2, ids)), (_, cursor) = item
            yield ids[-1], (s2, q2, t2), logp, cursor[5]  # (the cursor holds the bound of the child just taken)

    def _next_children(self, H, cursor):
        """The next child of an expansion in order of (bound descending, symbol), and the cursor
        for the ones after it (its priority is the next bound), or None when none is left."""
        g, s, q, t, ids, last_bound, last_c = cursor
        logrow, _, nxt = self._row(s)
        r = self.max_len - t - 1
        bound = logrow[1:] + H[r][nxt[1:], self.dfa.delta[q, 1:]]
        c = np.arange(1, self.V)
        after = np.isfinite(bound) & ((bound < last_bound) | ((bound == last_bound) & (c > last_c)))
        c, bound = c[after], bound[after]
        if not len(c):
            return None
        if len(c) > CURSOR:
            top = np.argpartition(-bound, CURSOR - 1)[:CURSOR]
            keep = bound >= bound[top].min()
            c, bound = c[keep], bound[keep]
        order = np.lexsort((c, -bound))
        c0, b0 = int(c[order[0]]), float(bound[order[0]])
        child = (g + float(logrow[c0]), int(nxt[c0]), int(self.dfa.delta[q, c0]), t + 1, ids + (c0,))
        if len(order) > 1:
            nb = float(bound[order[1]])
            return (g + b0, child), (g + nb, (g, s, q, t, ids, b0, c0))
        return (g + b0, child), (g + b0, (g, s, q, t, ids, b0, c0))


def _pick(w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Symbols drawn from the weights ``w`` (one row, or a row per draw) by uniform draws ``u``:
    the first whose running sum passes u times the total."""
    V = w.shape[-1]
    if w.ndim == 1:
        cdf = np.cumsum(w)
        symbol = np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), V - 1)
        bad = w[symbol] <= 0  # (rounding can land on a zero weight only at the very top: the last positive one)
        if bad.any():
            symbol[bad] = np.flatnonzero(w > 0)[-1]
        return symbol
    cdf = np.cumsum(w, axis=1)
    u = u * cdf[:, -1]
    symbol = np.minimum((cdf <= u[:, None]).sum(axis=1), V - 1)
    bad = w[np.arange(len(w)), symbol] <= 0
    if bad.any():
        symbol[bad] = V - 1 - np.argmax(w[bad][:, ::-1] > 0, axis=1)
    return symbol


def _groups(s: np.ndarray, q: np.ndarray):
    """(positions, state, constraint state) of each distinct (s, q) pair."""
    key = s * (int(q.max(initial=0)) + 1) + q
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    cuts = np.flatnonzero(np.concatenate(([True], sorted_key[1:] != sorted_key[:-1]), ))
    ends = np.append(cuts[1:], len(order))
    for a, b in zip(cuts, ends):
        i = order[a]
        yield order[a:b], int(s[i]), int(q[i])


def _ranks(values: np.ndarray, size: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values, sorted; each value's place among them), for values below ``size``;
    ``_PastBudget`` as soon as more than ``limit`` are distinct (before any place is found)."""
    found = distinct(values, size)
    if limit is not None and len(found) > limit:
        raise _PastBudget(len(found))
    rank = np.zeros(size, np.int32 if len(found) < 2**31 else np.int64)  # (pages never written cost nothing)
    rank[found] = np.arange(len(found))
    return found, rank[values]


class TooLarge(NgramError):
    """The constraints' reachable product past a plan's budget: no exact tables for them."""


class _PastBudget(Exception):
    """More distinct pairs than a position may hold (``args[0]``: how many; ``args[1]``: whether
    that is only a lower bound, counted among some of the keys)."""


def _lower_bound_past(key: np.ndarray, limit: int) -> int | None:
    """The distinct keys among an evenly spaced sample of about ``SAMPLE_TIMES * limit`` of them,
    where ``key`` holds many more than that and the sample alone holds more than ``limit``
    distinct keys (a subset's distinct keys are a lower bound on the whole's), else None: the
    refusal of a crowded position sorts a part of its keys, not all of them (14 one-letter
    --contains on the English default model: a third of 7.6 million keys)."""
    step = len(key) // max(SAMPLE_TIMES * limit, 1)
    if step < 2:
        return None
    sample = np.sort(key[::step])
    count = 1 + int(np.count_nonzero(sample[1:] != sample[:-1]))
    return count if count > limit else None


def _count_marked(key: np.ndarray, size: int) -> int | None:
    """How many distinct values ``key`` holds (all below ``size``), counted by marking them in a
    table of at most ``MARK_WINDOW`` cells, a window of values at a time; None where that would
    take more than ``MARK_WINDOWS`` passes over the keys. A position's keys come mostly in order
    of their parents' states, so the marks fall near each other: ten one-letter --contains on the
    English default model, 11.4 million keys of 64 million values, 0.09 s where sorting them took
    0.65 s."""
    windows = -(-size // MARK_WINDOW)
    if windows > MARK_WINDOWS:
        return None
    marks = np.zeros(min(size, MARK_WINDOW), bool)
    count = 0
    for lo in range(0, size, MARK_WINDOW):
        part = key if windows == 1 else key[(key >= lo) & (key < lo + MARK_WINDOW)] - lo
        marks[part] = True
        count += int(np.count_nonzero(marks))
        marks[part] = False
    return count


def _sorted_ranks(key: np.ndarray, limit: int | None, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``_ranks`` for 32-bit keys too many to mark: each key packed with its index into one 64-bit
    word and the words sorted (a plain sort, several times faster than the argsort of
    ``np.unique``'s inverse). Where the keys outnumber ``limit``, the distinct ones are first
    counted (``_count_marked``, else by sorting the keys alone, half the bytes), so a refusal
    costs that count only (where they are at most twice ``limit``, most likely to fit, not: the
    count would be made twice)."""
    if limit is not None and len(key) > 2 * limit:
        count = _count_marked(key, size)
        if count is None:
            alone = np.sort(key)
            count = 1 + int(np.count_nonzero(alone[1:] != alone[:-1])) if len(alone) else 0
            del alone
        if count > limit:
            raise _PastBudget(count)
    packed = key.astype(np.uint64) << np.uint64(32)
    packed |= np.arange(len(key), dtype=np.uint64)
    packed.sort()
    sorted_key = (packed >> np.uint64(32)).astype(np.uint32)
    new = np.empty(len(key), bool)
    new[:1] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    count = int(np.count_nonzero(new))
    if limit is not None and count > limit:
        raise _PastBudget(count)
    inverse = np.empty(len(key), np.int32 if count < 2**31 else np.int64)
    inverse[(packed & np.uint64(0xFFFFFFFF)).astype(np.int64)] = np.cumsum(new) - 1
    return sorted_key[new].astype(np.int64), inverse


def _renumbered(table: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct non-negative values of ``table``, sorted; the table with each such value
    replaced by its place among them, -1 left as it is), in 32 bits."""
    values = distinct(table[table >= 0], size)
    if table.size * FEW_VALUES < size:
        return values, np.where(table >= 0, np.searchsorted(values, table), -1).astype(np.int32)
    rank = np.full(size + 1, -1, np.int32)  # (the last entry: what -1 reads)
    rank[values] = np.arange(len(values))
    return values, rank[table]


def _distinct_pairs(key: np.ndarray, n_s: int, n_q: int,
                    limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct pairs (s, q) among ``key`` = s * n_q + q (s below ``n_s``, q below ``n_q``), in
    order of (s, q), and each key's place among them; ``_PastBudget`` past ``limit`` pairs,
    counted before the places (a refusal skips the costly part). Found by marking an (s x q)
    table, linear, while it is small; else by sorting."""
    size = n_s * n_q
    marked = size <= max(MARK_CELLS, MARK_RATIO * len(key))
    if limit is not None and not marked and (past := _lower_bound_past(key, limit)) is not None:
        raise _PastBudget(past, True)
    if marked:
        unique, inverse = _ranks(key, size, limit)
    elif size <= SORT_KEYS and len(key) <= 2**32:
        unique, inverse = _sorted_ranks(key, limit, size)
    else:
        unique, inverse = np.unique(key, return_inverse=True)
        if limit is not None and len(unique) > limit:
            raise _PastBudget(len(unique))
    return (unique // n_q).astype(np.int64), (unique % n_q).astype(np.int64), inverse.reshape(-1)


def make_plan(model, dfa, min_len: int, max_len: int, temperature: float = 1.0, top_k: int | None = None,
              top_p: float | None = None, progress=None, budget: Budget | None = None, searched: bool = False):
    """``LazyPlan``; ``SparsePlan`` for a back-off model whose dense rows would be too large; for a
    model with no finite state (SEQUENTIAL: a neural model or a mixture holding one), the
    rejection plan: a prefix read directly, the rest met by drawing. Under a long length bound,
    a constraint that only a few names meet (a forced name of hundreds of characters) lists
    them instead, for any model (``few_names``). ``searched``: the plan only searches (``top
    --rank per-symbol``'s one a length), so lengths alone get the lazy plan too, whose search
    needs no tables with the exact-length bounds (``automaton.length_bounds``)."""
    from ngram.generation import few_names

    shaped = temperature != 1.0 or top_k is not None or top_p is not None
    if not shaped and max_len >= few_names.LONG:
        names = few_names.list_names(dfa, min_len, max_len, model.V, model.vocabulary.unk_id)
        if names is not None:
            return few_names.FewNamesPlan(model, names, max_len)
    if not searches_lazily(model):
        return _other_plan(model, dfa, min_len, max_len, temperature, top_k, top_p, shaped)
    if LEVELS in model.capabilities and dfa.n_states <= 2 and not searched:
        # Lengths alone (a model with <unk>, or reshaped rows): every context is reachable, so the
        # reachable product is the whole automaton at every position; the dense tables hold it once.
        return Plan(model, dfa, min_len, max_len, temperature, top_k, top_p)
    return LazyPlan(model, dfa, min_len, max_len, temperature, top_k, top_p, progress, budget)


def searches_lazily(model) -> bool:
    """Whether a plan of ``model`` can be the lazy one (``LazyPlan``), whose search a question's
    exact-length bounds serve: a finite-state model whose rows a view makes (not a neural model,
    nor a back-off model too large for dense rows)."""
    return SEQUENTIAL not in model.capabilities and not (LEVELS in model.capabilities and too_large(model))


def _other_plan(model, dfa, min_len: int, max_len: int, temperature, top_k, top_p, shaped: bool):
    if SEQUENTIAL in model.capabilities:
        from ngram.generation.rejection import RejectionPlan

        return RejectionPlan(model, dfa, min_len, max_len,
                             (lambda rows: adjust_rows(rows, temperature, top_k, top_p)) if shaped else None)
    return SparsePlan(model, dfa, min_len, max_len, temperature, top_k, top_p)


ROW_BATCH = 1 << 14  # context states whose rows a plan makes at a time once its product is known
FEW_PAIRS = 8  # a position with at most this many pairs has its next pairs found directly
FEW_COLUMNS = 4  # a position whose pairs go on with at most V / 4 symbols (end included) reads only those
BLOCK_PAIRS = 1 << 15  # (state, constraint state) pairs whose whole rows are read at a time


class LazyPlan:
    """``Plan`` over only the part of the product a name can reach: from (start state, start
    constraint state), position by position up to ``max_len``, the pairs (context state,
    constraint state) the characters lead to, leaving out constraint states that cannot accept
    in the characters left. Rows come from the model's lazy view (``automaton.View``), so an
    order mixture mixes rows only at the contexts the constraint lets names reach, and a model
    whose automaton is large costs what the question reaches.

    ``B[t][i]`` is the generation rows' total probability of the ways to finish a name from pair
    i of position t (the end allowed in an accepting constraint state from ``min_len`` on);
    ``children[t][i, c - 1]`` the pair at t + 1 after character c (-1: none).
    """

    def __init__(self, model, dfa, min_len: int, max_len: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, progress=None, budget: Budget | None = None):
        from ngram.lm.backoff.automaton import view

        self.model, self.dfa, self.progress = model, dfa, progress
        self.budget = budget if budget is not None else Budget()  # (shared by the plans of one question)
        self.min_len, self.max_len = min_len, max_len
        self.view = view(model)
        self.shaping = (temperature, top_k, top_p)
        self.shaped = temperature != 1.0 or top_k is not None or top_p is not None
        self._levels = self._children = self._counted = self._probs = None
        self._B = self._max = self._mass = None

    # ----- the reachable product ---------------------------------------------------------------
    def check(self) -> None:
        """The one-line refusal of a product past the budget, if it is one (counted, no row made)."""
        self._count()

    def _explore(self) -> None:
        """The reachable product (``_count``), then the rows of the states it reaches."""
        if self._levels is not None:
            return
        levels, children = self._count()
        view, L, V = self.view, self.max_len, self.model.V
        if sum(len(states) for states, _ in levels) >= ROW_BATCH:
            # (the product fits, and its rows come in batches: an order mixture's tables are made
            # whole at once; a small product, e.g. one long forced name, reads only its entries)
            view.expect_many_rows()
        # With the model's own rows (reshaping needs whole rows), a position whose pairs can go on
        # with only a few symbols (at the length bound: none, only the end) reads just those
        # columns of its states' rows, the same floats (``View.logcolumns``), and a state reached
        # only at such positions gets no row: a suffix constraint leaves few symbols live near
        # the bound, where most states are reached (the English default model's -ina at --max-len
        # 8: 52,000 states at position 5, each needing 3 symbols of 27).
        self._columns = [None] * (L + 1)
        if not self.shaped:
            few = {}
            for t in range(L + 1):
                live = np.flatnonzero((children[t] >= 0).any(axis=0)) + 1 if t < L else np.zeros(0, np.int64)
                if (len(live) + 1) * FEW_COLUMNS <= V:
                    few[t] = np.concatenate(([BOUNDARY], live))
            if few:  # (the columns of every such position in one pass over their states' suffixes)
                states = distinct(np.concatenate([levels[t][0] for t in few]), view.scorer.n_states)
                symbols = distinct(np.concatenate(list(few.values())))
                logp = view.logcolumns(states, symbols)
                # (each position's places found in one search: a long --max-len has thousands of such positions)
                at = np.split(np.searchsorted(states, np.concatenate([levels[t][0] for t in few])),
                              np.cumsum([len(levels[t][0]) for t in few])[:-1])
                column = np.full(V, -1, np.int64)
                column[symbols] = np.arange(len(symbols))
                for (t, mine), rows in zip(few.items(), at):
                    self._columns[t] = (mine, logp[rows[:, None], column[mine][None, :]])
        whole = [states for t, (states, _) in enumerate(levels) if self._columns[t] is None]
        reached = distinct(np.concatenate(whole), view.scorer.n_states) if whole else np.zeros(0, np.int64)
        for a in range(0, len(reached), ROW_BATCH):
            view.slots_of(reached[a : a + ROW_BATCH])
        slots = {}  # (positions that share their pairs share their slots too)
        self._levels = [(slots.setdefault(id(states), view.slot[states].astype(np.int64)), qs) for states, qs in levels]
        self._children = children
        # Each made row in probabilities once: a row is read at every position its state is
        # reached at (the same floats: exp is entrywise), and exp of the same rows position after
        # position was a quarter of a long --max-len plan's time.
        self._probs = np.exp(view.logrows[: view.used]) if len(reached) else None

    def _count(self) -> tuple[list, list]:
        """The reachable product on the model's context states: per position its pairs (states,
        constraint states) and each pair's children, or a one-line refusal at the first position
        past the budget. No row is made here, so a refusal costs transitions only (kept: the rows
        are made once the whole product is known to fit, in a few large batches, which an order
        mixture's rows cost least)."""
        if self._counted is not None:
            return self._counted
        view, dfa, L = self.view, self.dfa, self.max_len
        Q, V = dfa.n_states, self.model.V
        need = dfa.remaining()  # per constraint state, the fewest characters to accept
        need_of = None  # (the same as a list, for positions of a few pairs)
        n_states = view.scorer.n_states
        states, qs = np.array([view.start_state], np.int64), np.array([dfa.start], np.int64)
        levels, children, fixed = [], [], None
        bar = _bar(self.progress, L, "finding the names' reachable states")

        def live_present(t: int, qs: np.ndarray) -> np.ndarray:
            # per constraint state present, whether it can still accept in the characters left
            present = distinct(qs, Q)
            return (need[present] <= L - t - 1) & (present != 0)

        for t in range(L + 1):
            levels.append((states, qs))
            if t == L:
                break
            bar.update(1)
            if self.budget.refused:  # (another component's plan for this question is refused: the same line)
                bar.close()
                raise TooLarge(self.budget.refused)
            cells = self.budget.take(len(states) * V)  # this position's children and table, before any is made
            if cells > LAZY_TABLE_CELLS or len(states) * V > STEP_CELLS:
                bar.close()
                self._refuse(len(states), t)
            if fixed is not None and np.array_equal(fixed[0], live_present(t, qs)):
                # A step that led its pairs to themselves, with the same constraint states live,
                # leads them there again: its children serve each such step (a long --max-len
                # repeats the whole reachable set for many positions).
                children.append(fixed[1])
                continue
            if len(states) <= FEW_PAIRS:
                # A handful of pairs (one long forced name, a narrow constraint far into a long
                # --max-len): their cells read one by one as Python numbers, without the
                # renumbering that pays off on many or array calls that cost more than the cells
                # (2,000 positions of one pair each took 0.8 ms a position, then 85 us).
                if need_of is None:
                    need_of = need.tolist()
                left = L - t - 1
                keys = [[s * Q + q if q and need_of[q] <= left else -1 for s, q in zip(row_s, row_q)]
                        for row_s, row_q in zip(view.transitions(states)[:, 1:].tolist(), dfa.delta[qs, 1:].tolist())]
                pairs = sorted({k for row in keys for k in row if k >= 0})  # (in order of state, then constraint state)
                place = {k: i for i, k in enumerate(pairs)}
                place[-1] = -1
                pairs = np.array(pairs, np.int64)
                after_states, after_qs = pairs // Q, pairs % Q
                child = np.array([[place[k] for k in row] for row in keys], np.int32).reshape(len(states), V - 1)
            else:
                live = need <= L - t - 1  # constraint states that can still accept in the characters left
                live[0] = False
                present = distinct(qs, Q)
                # Both coordinates are renumbered among the values this step can reach before any
                # cell is read (on the small tables: the distinct states' next states, the present
                # constraint states' rows), so each cell costs gathers of 32-bit numbers only.
                first = np.flatnonzero(np.diff(states, prepend=-1))  # (the pairs are in order of state)
                place = np.repeat(np.arange(len(first)), np.diff(np.append(first, len(states))))
                if n_states * Q <= MARK_CELLS:
                    # (a pair's number fits as it is, state x constraint state, and the marking
                    # that finds the distinct pairs is linear: renumbering the next states first
                    # would cost a third of the count, a gather of every cell)
                    distinct_s, next_s = None, view.transitions(states[first])[:, 1:]
                else:
                    distinct_s, next_s = _renumbered(view.transitions(states[first])[:, 1:], n_states)
                n_s = n_states if distinct_s is None else len(distinct_s)
                rows_q = dfa.delta[present, 1:]
                distinct_q, next_q = _renumbered(np.where(live[rows_q], rows_q, -1), Q)
                by_q = np.full(Q, -1, np.int32)
                by_q[present] = np.arange(len(present))
                # Each live cell's pair as one number, made a block of pairs at a time (the cells whose
                # constraint state cannot accept in time first, then the numbers), so that no whole
                # step's temporaries are held at once: only the mask and the numbers.
                width = len(distinct_q)
                kind = np.int32 if n_s * width < 2**31 else np.int64
                rows = max(BLOCK_CELLS // (V - 1), 1)
                going = np.empty((len(states), V - 1), bool)
                blocks = []  # (each block's numbers, then one array: twice the numbers at the peak, not more)
                for a in range(0, len(states), rows):
                    after_q = next_q[by_q[qs[a : a + rows]]]
                    np.greater_equal(after_q, 0, out=going[a : a + rows])
                    block = next_s.astype(kind, copy=False)[place[a : a + rows]]
                    block *= kind(width)
                    block += after_q
                    blocks.append(block[going[a : a + rows]])
                    del after_q, block
                key = np.concatenate(blocks) if len(blocks) > 1 else blocks[0] if blocks else np.zeros(0, kind)
                del blocks
                # The next position's pairs past what the checks above allow (it is not the last) are
                # refused as soon as they are counted, before their places and children are made.
                limit = None if t + 1 == L else min(STEP_CELLS, LAZY_TABLE_CELLS - cells) // V
                try:
                    pair_s, pair_q, inverse = _distinct_pairs(key, n_s, width, limit)
                except _PastBudget as past:
                    bar.close()
                    self._refuse(past.args[0], t + 1, at_least=len(past.args) > 1)
                del key
                after_states = pair_s if distinct_s is None else distinct_s[pair_s]
                after_qs = distinct_q[pair_q]
                child = np.full((len(states), V - 1), -1, np.int32 if len(after_states) < 2**31 else np.int64)
                child[going] = inverse
            children.append(child)
            fixed = None
            if np.array_equal(after_states, states) and np.array_equal(after_qs, qs):
                fixed = (live_present(t, qs), child)
                after_states, after_qs = states, qs  # (one array for every such position)
            states, qs = after_states, after_qs
        bar.close()
        self._counted = (levels, children)
        return self._counted

    def _level_rows(self, t: int, slots: np.ndarray, at, raw: bool) -> np.ndarray:
        """Rows (probabilities) of the pairs ``at`` of position t: whole, or, where the position
        reads only a few columns, those (the others 0: no pair goes on with them)."""
        if self._columns[t] is None:
            return self._rows(slots[at], raw)
        symbols, logp = self._columns[t]
        rows = np.zeros((len(slots[at]), self.model.V))
        rows[:, symbols] = np.exp(logp[at])
        return rows

    def _level_logrows(self, t: int, slots: np.ndarray, at) -> np.ndarray:
        """``_level_rows`` in logs, of the model's own rows (-inf where a column is not read)."""
        if self._columns[t] is None:
            return self.view.logrows[slots[at]]
        symbols, logp = self._columns[t]
        rows = np.full((len(slots[at]), self.model.V), -np.inf)
        rows[:, symbols] = logp[at]
        return rows

    def _refuse(self, pairs: int, t: int, at_least: bool = False):
        self.budget.refused = self._refusal(pairs, t, at_least)
        raise TooLarge(self.budget.refused)

    def _refusal(self, pairs: int, t: int, at_least: bool) -> str:
        # ("in all": every plan of the question together, a whole-name mixture's both directions)
        return (f"the constraints reach too many (context, constraint state) pairs for this model within --max-len "
                f"{self.max_len} ({'at least ' if at_least else ''}{pairs:,} pairs at position {t}, "
                f"{self.dfa.n_states:,} constraint states; more than {STEP_CELLS:,} cells a position or "
                f"{LAZY_TABLE_CELLS:,} in all); lower --max-len or simplify the constraints")

    def _rows(self, slots: np.ndarray, raw: bool) -> np.ndarray:
        """Probability rows (the model's, or the generation rows after temperature / top-k / top-p)."""
        rows = self._probs[slots] if self._probs is not None else np.exp(self.view.logrows[slots])
        if raw or not self.shaped:
            return rows
        unk = self.model.vocabulary.unk_id
        if unk is not None:
            rows[:, unk] = 0.0
        rows[rows.sum(axis=1) <= 0, BOUNDARY] = 1.0
        return adjust_rows(rows, *self.shaping)

    def _backward(self, raw: bool, add: bool) -> list[np.ndarray]:
        """Per position, B (``add``: masses) or the ln of the best completion's probability."""
        self._explore()
        L, acc = self.max_len, self.dfa.accept
        tables: list = [None] * (L + 1)
        bar = _bar(self.progress, L + 1, "constraint masses" if add else "best-name bounds")
        for t in range(L, -1, -1):
            bar.update(1)
            slots, qs = self._levels[t]
            out = np.empty(len(slots) + 1)  # and, last, what a missing child (-1) reads
            out[-1] = 0.0 if add else -np.inf
            for a in range(0, len(slots), BLOCK_PAIRS):
                part = slice(a, a + BLOCK_PAIRS)
                rows = self._level_rows(t, slots, part, raw) if add else self._level_logrows(t, slots, part)
                ends = acc[qs[part]] & (t >= self.min_len)
                if add:
                    value = np.where(ends, rows[:, BOUNDARY], 0.0)
                    if t < L:
                        child = self._children[t][part]
                        value += np.einsum("pc,pc->p", rows[:, 1:], tables[t + 1][child])
                else:
                    value = np.where(ends, rows[:, BOUNDARY], -np.inf)
                    if t < L:
                        child = self._children[t][part]
                        value = np.maximum(value, (rows[:, 1:] + tables[t + 1][child]).max(axis=1, initial=-np.inf))
                out[a : a + len(value)] = value
            tables[t] = out
        bar.close()
        return tables

    @property
    def B(self) -> list[np.ndarray]:
        if self._B is None:
            self._B = self._backward(raw=False, add=True)
        return self._B

    @property
    def gen_mass(self) -> float:
        return float(self.B[0][0])

    @property
    def mass(self) -> float:
        if self._mass is None:
            self._mass = float(self._backward(raw=True, add=True)[0][0]) if self.shaped else self.gen_mass
        return self._mass

    def max_tables(self) -> list[np.ndarray]:
        if self._max is None:
            self._max = self._backward(raw=True, add=False)
        return self._max

    def best_logp(self) -> float | None:
        """As ``Plan.best_logp``: the start pair's entry of the max tables."""
        return float(self.max_tables()[0][0])

    # ----- drawing and the best names ------------------------------------------------------------
    def draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` names as an (m, max_len) array of ids, 0 after each name's end."""
        B, L, acc = self.B, self.max_len, self.dfa.accept
        out = np.zeros((m, max(L, 1)), np.uint8 if self.model.V <= 256 else np.int64)
        pair, alive = np.zeros(m, np.int64), np.arange(m)
        for t in range(L + 1):
            if not len(alive):
                break
            slots, qs = self._levels[t]
            rows = self._level_rows(t, slots, pair, raw=False)
            w = np.zeros_like(rows)
            if t >= self.min_len:
                w[:, BOUNDARY] = rows[:, BOUNDARY] * acc[qs[pair]]
            if t < L:
                child = self._children[t][pair]
                w[:, 1:] = rows[:, 1:] * B[t + 1][child]
            symbol = _pick(w, rng.random(len(alive)))
            if t < L:
                out[alive, t] = symbol
            going = symbol != BOUNDARY
            if t < L:
                pair = self._children[t][pair[going], symbol[going] - 1].astype(np.int64)
            alive = alive[going]
        return out

    def best(self):
        """The valid names in order of decreasing probability under the model's rows, as (ids, ln p).

        First without tables: every symbol's ln p is at most 0, so 0 is an admissible bound of any
        completion, and the search expands only the prefixes more probable than the names it
        yields (with the constraint states that cannot accept in the characters left cut off).
        Past ``SEARCH_EXPANSIONS`` expansions (names far down the distribution, or a constraint
        with little mass) it goes on with the exact bounds of the max tables over the reachable
        product, leaving out the names already yielded.

        A crowded question (``crowded``: constraint states enough to carry the product far past
        its budget) has its product counted after ``SEARCH_FIRST`` expansions: one past the
        budget is refused then, in the time of that short try and the counting (each expansion
        far down makes rows: 20,000 of them took seconds before the table path refused), and
        one within it goes on as above, the counting reused by the tables. So a question past
        the budget is answered only if the short try finds its names. With the model file's
        completion bounds the search needs no tables: it goes on, counting only where it falls
        back on them; and a question ``PACKED`` times past the budget is counted before it starts."""
        yielded = set()
        for item in self._best_without_tables():
            if item is None:
                self.fell_back = True
                break
            yielded.add(item[0])
            yield item
        else:
            return
        for ids, logp in self._best_with_tables():
            if ids not in yielded:
                yield ids, logp

    def _best_without_tables(self):
        view, dfa, L = self.view, self.dfa, self.max_len
        need = dfa.remaining()  # per constraint state, the fewest characters to accept
        H, bounded = self._bounds()
        E = self._length_bounds() if self.min_len > len(H) - 1 else None
        expansions = [0]

        def expand(node, upcoming):
            state, q, t, g = node
            expansions[0] += 1
            if expansions[0] > SEARCH_EXPANSIONS:
                raise _TooFar
            if expansions[0] == SEARCH_FIRST:
                # (a one-line refusal if the product is past the budget; a bounded search needs
                # no tables, so it goes on, and its product is counted only if it runs past
                # SEARCH_EXPANSIONS and falls back on them: five one-letter --contains on the
                # English default model, refused after 7.4 s, are answered in 1.2 s)
                if self.crowded() and not bounded:
                    self._count()
                if self.crowded() or bounded:
                    view.expect_many_rows()
            mine = float(H[min(max(int(need[q]), self.min_len - t), len(H) - 1), state])  # (the start's, as a child's)
            if view.slot[state] < 0:
                floor = g + mine - AHEAD_NATS
                self._rows_ahead([node] + upcoming(floor), floor, need, H, E)
            slot = view.slot[state]
            row = view.logrows[slot]
            end = row[BOUNDARY] if t >= self.min_len and dfa.accept[q] else -np.inf
            if t >= L:
                return end, ()
            nq = dfa.delta[q, 1:]
            live = np.flatnonzero((nq != 0) & (need[nq] <= L - t - 1) & np.isfinite(row[1:]))
            after = view.follow[slot, live + 1]
            bound = row[live + 1] + self._ahead(H, E, after, np.maximum(need[nq[live]], self.min_len - t - 1), L - t - 1)
            if max(end, bound.max(initial=-np.inf)) > mine + BOUND_SLACK * (1 + abs(mine)):
                raise NgramError("the model's stored completion bounds are below a completion the model makes; "
                                 "the file is damaged (save the model again)")
            # in_order's order (bound down, then symbol up) sorted in numpy; the search takes a
            # child or two of most nodes, so each child's tuple is made only when it is taken
            ranked = np.lexsort((live, -bound))
            return end, _children_in_order((live[ranked] + 1).tolist(), row[live[ranked] + 1].tolist(),
                                           bound[ranked].tolist(), after[ranked].tolist(), nq[live[ranked]].tolist(),
                                           t + 1, g)

        if need[dfa.start] > L:
            return
        if self.crowded(PACKED):
            # (so crowded that its search would reach the count anyway, after rows it may not need:
            # counted first, a refusal is as quick as the count)
            self._count()
        if not self.crowded() and not bounded:
            # a search makes rows batch after batch (with bounds, a short search makes a few
            # hundred: a long one makes the tables whole after SEARCH_FIRST expansions); a
            # crowded question's search may end in its count, and a refusal
            view.expect_many_rows()
        try:
            start = self._ahead(H, E, np.array([view.start_state]), np.array([max(need[dfa.start], self.min_len)]), L)
            yield from best_first((view.start_state, dfa.start, 0, 0.0), float(start[0]), expand)
        except _TooFar:
            yield None

    @staticmethod
    def _ahead(H: np.ndarray, E: np.ndarray | None, states: np.ndarray, fewest: np.ndarray, left) -> np.ndarray:
        """An upper bound of ln p of the best completion from each of ``states`` that needs at
        least ``fewest`` more characters and has at most ``left`` left (arrays that broadcast):
        the stored bounds' row for that many (the last row for more), and, where the exact-length
        bounds are made, the best of those over the lengths allowed."""
        bound = H[np.minimum(fewest, len(H) - 1), states]
        if E is not None and states.size:
            j = np.arange(len(E)).reshape((-1,) + (1,) * states.ndim)
            allowed = (j >= fewest) & (j <= left)
            bound = np.minimum(bound, np.where(allowed, E[:, states], -np.inf).max(axis=0))
        return bound

    def _length_bounds(self) -> np.ndarray | None:
        """``automaton.length_bounds`` for this plan's lengths where they are made (a search
        over many lengths makes them first: ``Sampler._by_symbol``)."""
        from ngram.lm.backoff.automaton import length_bounds

        return length_bounds(self.model, self.max_len, make=False)

    def _bounds(self) -> tuple[np.ndarray, bool]:
        """Per context state, an upper bound of ln p of its best completion: the model file's
        (``automaton.completion_bounds``), else 0 (every ln p is at most 0); and which."""
        from ngram.lm.backoff.automaton import completion_bounds

        n = self.view.scorer.n_states
        H = completion_bounds(self.model)
        if H is None:
            return np.zeros((1, n), np.float32), False
        if H.shape[1] != n:
            raise NgramError(f"the model's stored completion bounds are for {H.shape[1]:,} states, its automaton has "
                             f"{n:,}; the file is damaged (save the model again)")
        return H, True

    def _rows_ahead(self, nodes: list, floor: float, need: np.ndarray, H: np.ndarray, E: np.ndarray | None) -> None:
        """Rows, in one batch a depth, for the nodes waiting with a bound (ln p so far plus the
        completion bound) at least ``floor`` and every prefix below them down to ``floor``: the
        search expands prefixes in order of that bound, so these are the rows it asks for next
        (asked one frontier at a time they came 20 a batch, and a batch of an order mixture's
        rows costs about as much for 20 states as for a thousand). At most ``AHEAD_ROWS`` a
        call: a floor far below the names sought would make rows never read."""
        view, dfa, L = self.view, self.dfa, self.max_len
        state = np.array([n[0] for n in nodes], np.int64)
        q = np.array([n[1] for n in nodes], np.int64)
        t = np.array([n[2] for n in nodes], np.int64)
        g = np.array([n[3] for n in nodes], np.float64)
        made = 0
        while len(state) and made < AHEAD_ROWS:
            new = int(np.count_nonzero(view.slot[state] < 0))
            if new >= MANY_ROWS:  # (an order mixture's rows come faster from whole tables, made once)
                view.expect_many_rows()
            made += new
            slots = view.slots_of(state)
            going = t < L
            state, q, t, g, slots = state[going], q[going], t[going], g[going], slots[going]
            if not len(state):
                break
            nq = dfa.delta[q, 1:]
            child_g = g[:, None] + view.logrows[slots, 1:]
            follow = view.follow[slots, 1:]
            fewest = np.maximum(need[nq], self.min_len - t[:, None] - 1)
            bound = child_g + self._ahead(H, E, follow, fewest, (L - t - 1)[:, None])  # (as ``expand`` bounds them)
            row, c = np.nonzero((bound >= floor) & (nq != 0) & (need[nq] <= (L - t - 1)[:, None]))
            state = follow[row, c].astype(np.int64)
            q, t, g = nq[row, c], t[row] + 1, child_g[row, c]

    def crowded(self, times: int | None = None) -> bool:
        """Whether the constraint states could carry the reachable product far past its budget:
        every context state with every live constraint state would be more than ``times``
        times a position's cells (one-letter --contains make 2^k constraint states; a few
        make a product that fits, and their search often needs thousands of expansions)."""
        return self.crowding() > (CROWDED if times is None else times)

    def crowding(self) -> float:
        """Every context state with every live constraint state, in positions' cells
        (``STEP_CELLS``): how far past the budget the constraint states could carry the product."""
        return self.view.scorer.n_states * (self.dfa.n_states - 1) * self.model.V / STEP_CELLS

    def _best_with_tables(self):
        H, L, acc = self.max_tables(), self.max_len, self.dfa.accept

        def expand(node, upcoming):
            t, i = node
            slots, qs = self._levels[t]
            row = self._level_logrows(t, slots, [i])[0]
            end = row[BOUNDARY] if t >= self.min_len and acc[qs[i]] else -np.inf
            if t >= L:
                return end, ()
            child = self._children[t][i]
            live = np.flatnonzero(child >= 0)
            bound = row[live + 1] + H[t + 1][child[live]]
            return end, in_order((live + 1).tolist(), [(t + 1, int(child[c])) for c in live], row[live + 1].tolist(),
                                 bound.tolist())

        yield from best_first((0, 0), float(H[0][0]), expand)


def _children_in_order(symbols: list, logps: list, bounds: list, states: list, qs: list, t: int, g: float):
    for symbol, logp, bound, state, q in zip(symbols, logps, bounds, states, qs):
        yield symbol, (state, q, t, g + logp), logp, bound


SEARCH_EXPANSIONS = 20_000  # prefixes the table-free search expands before it takes the max tables
AHEAD_NATS = 1.0  # the table-free search makes the rows of the prefixes within this of the one it needs
BOUND_SLACK = 1 / 128  # how far (relative) a row may pass its state's stored completion bound (float16 rounding: 1/1024) before the file is called damaged
AHEAD_ROWS = 1 << 13
MANY_ROWS = 256  # rows the search makes in one batch from which it has its model's tables made whole first  # ... at most this many at a time
SEARCH_FIRST = 200  # expansions of a crowded question's table-free search before its product is counted
CROWDED = 4  # ... crowded: context states x constraint states x symbols past this many times STEP_CELLS
PACKED = 64  # ... and from this many times, counted before the search starts


class _TooFar(Exception):
    """The table-free search passed its budget."""


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(progress, total: int, stage: str):
    return progress(total=total, desc=stage) if progress is not None else _NoBar()

