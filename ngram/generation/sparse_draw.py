"""Plain draws from a back-off model without a V-wide row per state (for huge vocabularies).

The walk (``ngram.generation.walk``) keeps whole rows for the states it reaches; past
``automaton.WIDTH_LIMIT`` symbols that is too much memory per state, and this automaton draws from
each state's run of stored children and backs off, as described on ``SparseAutomaton``.
"""

from __future__ import annotations

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY
from ngram.lm.backoff import scoring
from ngram.lm.backoff.model import Model

PENDING_CELLS = 1 << 22  # (name, symbol) cells of whole rows the sparse walk's rare fallback makes at a time
KEPT_CELLS = 1 << 24  # (state, symbol) cells of whole rows kept for reshaped draws (12 bytes each)
LONG_RUN = 256  # sibling runs longer than this get their running sums one run at a time


class SparseAutomaton:
    """Sampling's automaton without a V-wide row per state.

    Most long contexts store one or two children, so instead of a dense row each state keeps
    its run of stored children (contiguous node ids, sorted by symbol) with their running sums.
    A plain draw at state h picks a stored child with probability A(h) / T(h) (A: stored mass,
    T: the row's total, <unk> left out of both) and otherwise backs off: it draws from the
    suffix state's whole distribution and rejects the symbols h stores, which gives exactly
    bow(h) * p(w | h') over the symbols h does not store. Since h's children are a subset of
    its suffix's (suffix closure), a symbol reached by backing off further can never be one h
    stores, so only the state just backed off from is checked. The drawn n-gram (stored
    context + w) is then the longest stored suffix of history + w, so the next state needs no
    search. It reads the structure of the model's lean automaton (``scoring.lean``) and numbers
    nodes as it does, so the whole rows kept for temperature, top-k, top-p and min-len (a bounded
    ``automaton.View``, made only when such a draw needs them) use the same state ids.
    """

    MAX_ROUNDS = 200  # rejection rounds per step before the few names left take the dense draw

    def __init__(self, model: Model):
        V, N, levels = model.V, model.order, model.levels
        sc = scoring.lean(model)  # (the load-time check has usually made it already)
        if sc is None:
            raise NgramError("model n-grams are not closed under prefixes and suffixes (walk the model's "
                             "automaton.states_model)")
        self.model, self.V = model, V
        offset = sc.order_offsets[1:]
        n_nodes, n_states = int(offset[N]), sc.n_states
        self.n_states = n_states
        # A run's start and length share one integer, as do a node's next state and symbol.
        self.shift = shift = int(V).bit_length()
        self.mask = (1 << shift) - 1
        index = np.int32 if (n_nodes << shift) < 2**31 else np.int64
        unk = model.vocabulary.unk_id
        symbol = sc.symbol
        suffix = sc.suffix.astype(index, copy=False)
        cum = np.zeros(n_nodes)  # running sums of the children's probabilities within each run
        run = np.zeros(n_states, index)
        shadow, total = np.zeros(n_states), np.zeros(n_states)
        below_p = None
        for n in range(1, N + 1):
            # Nodes of order n, children of the states of order n-1 (the empty context for n = 1).
            level, lo, hi = levels[n - 1], int(offset[n - 1]), int(offset[n])
            plo, phi = (0, 1) if n == 1 else (int(offset[n - 2]), int(offset[n - 1]))
            sym = symbol[lo:hi]
            p = np.exp(level.logp)
            if unk is not None:
                p[sym == unk] = 0.0  # <unk> is never drawn: its probability is left out of every sum
            # Children of one context are a contiguous run of the sorted keys: each context with
            # children, its run's start in the level and its length.
            held = scoring.child_counts(sc, plo, phi)
            states = plo + np.flatnonzero(held)
            run_start, run_len = sc.first[states].astype(np.int64) - lo, held[states - plo].astype(np.int64)
            run[states] = ((lo + run_start) << shift) | run_len
            c = cum[lo:hi]
            c[:] = p
            # The mass the suffix state gives the symbols h stores, which backing off from h
            # leaves out: summed along each run with the stored mass (reduceat is slow on runs
            # this short).
            shade = below_p[suffix[lo:hi] - plo] if n > 1 else None
            # Runs longer than LONG_RUN (a few, in a large vocabulary: the start's children) are
            # summed one at a time; the others one pass per position (the same floats either way).
            for at in np.flatnonzero(run_len > LONG_RUN):
                part = slice(int(run_start[at]), int(run_start[at] + run_len[at]))
                np.cumsum(c[part], out=c[part])
                if shade is not None:
                    np.cumsum(shade[part], out=shade[part])
            live = np.flatnonzero((run_len > 1) & (run_len <= LONG_RUN))
            k = 1
            while len(live):  # one pass per position in the runs (at most LONG_RUN)
                at = run_start[live] + k
                c[at] += c[at - 1]
                if shade is not None:
                    shade[at] += shade[at - 1]
                k += 1
                live = live[run_len[live] > k]
            last = run_start + run_len - 1
            stored = np.zeros(phi - plo)
            stored[states - plo] = c[last]
            if n == 1:
                total[0] = stored[0]
            else:
                # The row's total (<unk> left out) is the stored mass plus bow(h) times the rest
                # of the suffix's total.
                shadow[states] = shade[last]
                rest = np.maximum(total[suffix[plo:phi]] - shadow[plo:phi], 0.0)
                total[plo:phi] = stored + np.exp(levels[n - 2].bow) * rest
            below_p = p
        self.symbol, self.suffix, self.cum = symbol, suffix, cum
        self.run, self.shadow, self.total = run, shadow, total
        # What drawing a node emits: its symbol, and the next state (the node itself, or its
        # suffix at the full order); one random memory access instead of two, which is most
        # of a draw's time.
        emit = suffix.copy()
        emit[:n_states] = np.arange(n_states, dtype=index)
        emit <<= shift
        emit |= symbol
        self.emit = emit
        self.start = int(offset[0] + BOUNDARY) if N > 1 else 0
        self.masked = model.vocabulary.unk_id
        self._dense = None
        self._holes: dict = {}  # per state with a long run: its holes' positions (``_step_over_holes``)

    def _search(self, values: np.ndarray, states: np.ndarray, x: np.ndarray,
                strict: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per state, the first child in its run whose value is > x (strict) or >= x, and whether
        there is one."""
        run = self.run[states]  # one gather for both ends of the run
        lo, size = run >> self.shift, run & self.mask
        end = lo + size
        lo = _first_above(values, lo, size, x, strict)
        return lo, lo < end

    def _find(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Node of state + symbol where stored, else 0."""
        node, ok = self._search(self.symbol, states, symbols, strict=False)
        ok[ok] = self.symbol[node[ok]] == symbols[ok]
        return np.where(ok, node, 0)

    def next_of(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The state after each (state, symbol): the longest stored context of history + symbol."""
        states = np.asarray(states, np.int64).copy()
        symbols = np.asarray(symbols)
        node = self._find(states, symbols)
        miss = np.flatnonzero(node == 0)
        while len(miss):
            states[miss] = self.suffix[states[miss]]
            found = self._find(states[miss], symbols[miss])
            node[miss] = found
            miss = miss[found == 0]
        return self.emit[node] >> self.shift

    def draw(self, states: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One plain draw (<unk> left out) per state: the symbols and the next states.

        Each round, every pending name draws x in its current state's mass: below the stored
        children's running total it is one of them, above it the name backs off to the suffix
        state. Having backed off from ``p``, the symbols ``p`` stores are holes in the current
        run: the mass drawn in leaves them out and x steps over them in symbol order, so no draw
        is wasted. A name takes at most one round per order (plus, very rarely, one more when
        rounding takes a draw past the empty context's total).
        """
        states = np.asarray(states, np.int64)
        cum, suffix = self.cum, self.suffix
        # The first round, every name at its own state with nothing to leave out, without indexing.
        total = self.total[states]
        dead = total <= 0  # only <unk> left: the name ends here, as the dense draw does
        j, found = self._search(cum, states, rng.random(len(states)) * total, strict=True)
        node = np.where(found, j, 0)
        pending = np.flatnonzero(~(found | dead))
        c, p = states[pending], np.full(len(pending), -1, np.int64)
        up = c != 0
        p, c = np.where(up, c, p), np.where(up, suffix[c], c)
        for _ in range(self.MAX_ROUNDS):
            if not len(pending):
                break
            backed = np.flatnonzero(p >= 0)
            mass = self.total[c]
            if len(backed):
                pb = p[backed]
                mass[backed] -= self.shadow[pb]
            x = rng.random(len(pending)) * mass
            if len(backed):
                xb = x[backed]
                run = self.run[pb]
                start, size, cb = run >> self.shift, run & self.mask, self.run[c[backed]] >> self.shift
                long = size > LONG_RUN
                live = np.flatnonzero(~long)
                for p_long in np.unique(pb[long]) if long.any() else ():
                    at = np.flatnonzero(pb == p_long)
                    xb[at] = self._step_over_holes(int(p_long), int(cb[at[0]]), xb[at])
                k = 0
                while True:  # p's children in symbol order: their suffixes are the holes
                    live = live[size[live] > k]
                    if not len(live):
                        break
                    h = suffix[start[live] + k]
                    xl = xb[live]
                    # A hole starts where the child before it ends; a draw at or past that point
                    # moves up by the hole's mass and at least to the hole's end, so it can never
                    # land in it, whatever the rounding.
                    before, after = np.where(h > cb[live], cum[h - 1], 0.0), cum[h]
                    xb[live] = np.where(xl >= before, np.maximum(xl + (after - before), after), xl)
                    k += 1
                x[backed] = xb
            j, found = self._search(cum, c, x, strict=True)
            node[pending[found]] = j[found]
            if found.all():
                pending = pending[:0]
                break
            left = np.flatnonzero(~found)
            pending, c, p = pending[left], c[left], p[left]
            # Past the stored children: back off (the empty context has no back-off: a draw
            # rounded up to its total draws again there).
            up = c != 0
            p = np.where(up, c, p)
            c = np.where(up, suffix[c], c)
        emit = self.emit[node]
        symbol, nxt = emit & self.mask, emit >> self.shift
        symbol[dead] = BOUNDARY
        if len(pending):  # rare: a long run of redraws; the dense rows finish these exactly
            u = rng.random(len(pending))[:, None]
            block = max(1, PENDING_CELLS // self.V)  # (whole rows: a few at a time when V is large)
            for a in range(0, len(pending), block):
                some = pending[a : a + block]
                rows = self.dense().rows_of(states[some])
                if self.masked is not None:
                    rows[:, self.masked] = 0.0
                cdf = np.cumsum(rows, axis=1)
                symbol[some] = np.minimum((cdf <= u[a : a + block] * cdf[:, -1:]).sum(axis=1), self.V - 1)
            nxt[pending] = self.next_of(states[pending], symbol[pending])
        return symbol, nxt

    def _step_over_holes(self, p: int, cb: int, x: np.ndarray) -> np.ndarray:
        """``draw``'s walk over the holes of a long run at once: a draw passes hole k (in symbol
        order) when it is at least the mass before the hole less the holes before it, so the
        holes passed are a binary search away and the draw moves up by their mass (and at least
        to the last one's end, as the walk does)."""
        holes = self._holes.get(p)
        if holes is None:
            run = int(self.run[p])
            h = self.suffix[(run >> self.shift) + np.arange(run & self.mask)]
            before, after = np.where(h > cb, self.cum[h - 1], 0.0), self.cum[h]
            passed = np.concatenate(([0.0], np.cumsum(after - before)))
            holes = (before - passed[:-1], passed, after)
            self._holes[p] = holes
        start, passed, after = holes
        k = np.searchsorted(start, x, side="right")
        moved = x + passed[k]
        return np.where(k > 0, np.maximum(moved, after[np.maximum(k - 1, 0)]), x)

    def dense(self):
        """Dense rows (for temperature, top-k, top-p, min-len), made on first need."""
        if self._dense is None:
            from ngram.lm.backoff.automaton import View

            self._dense = View(self.model, keep=max(KEPT_CELLS // self.V, 64))
        return self._dense

    def rows_of(self, states: np.ndarray) -> np.ndarray:
        """Whole probability rows, asked of the bounded view a few states at a time (each
        brings its suffixes' rows along, and all of one request must fit at once)."""
        view = self.dense()
        step = max(1, (view.keep - view.pinned) // (self.model.order + 1))
        return np.concatenate([view.rows_of(states[a : a + step]) for a in range(0, len(states), step)]) \
            if len(states) > step else view.rows_of(states)


def _first_above(values: np.ndarray, lo: np.ndarray, size: np.ndarray, x: np.ndarray, strict: bool) -> np.ndarray:
    """In each sorted slice values[lo:lo+size], the first index whose value is > x (strict) or
    >= x, else lo+size: a binary search over all slices at once, in which a slice leaves as
    soon as its interval is empty (one pass for the one-child runs of long contexts)."""
    act = None  # the first pass covers every slice without indexing
    while True:
        s, at, xs = (size, lo, x) if act is None else (size[act], lo[act], x[act])
        half = s >> 1
        mid = at + half  # inside values: an empty slice starts at a node or at 0
        v = values[mid]
        go = (v <= xs) if strict else (v < xs)
        if act is None:
            go &= s > 0  # (later passes hold only non-empty slices)
        s = np.where(go, s - half - 1, half)
        if act is None:
            lo = np.where(go, mid + 1, at)
            size = s
            act = np.flatnonzero(s > 0)
        else:
            lo[act] = np.where(go, mid + 1, at)
            size[act] = s
            act = act[s > 0]
        if not len(act):
            return lo

