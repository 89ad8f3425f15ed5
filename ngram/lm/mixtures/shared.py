"""Back-off components that store the same n-grams, looked up once for all of them.

The components of an order mixture are trained on the same names: each stores every n-gram of
its orders that training saw, so at every order the components that have it hold the same sorted
keys (their probabilities and back-off weights differ). A window is then found once per order in
those keys, and each component's answer is read from its own arrays at the same index, with the
back-off recursion written over the indices:

    ln p_k(w | h) = ln p*_k(h'w) + Σ ln bow_k(g)   over the contexts g of h longer than h',

h' the longest suffix of h (at most o_k - 1 symbols) with h'w stored, g only those stored. This
is what each component's own ``logprob_keys`` computes, one search per order instead of one per
order and component.
"""

from __future__ import annotations

import numpy as np

from ngram.core.errors import NgramError
from ngram.lm.protocol import LEVELS

BLOCK = 500_000  # windows per pass: bounds the per-order index arrays to about 40 MB
TOGETHER_CELLS = 1 << 21  # (component, context, symbol) cells from which context rows are made a component at a time


class SharedLevels:
    """The components' levels, when every order's keys are the same in each component that has it."""

    def __init__(self, components, top):
        self.components = components
        self.top = top
        self.V = top.V

    @classmethod
    def of(cls, components) -> "SharedLevels | None":
        """The shared view, or None when some component is not a back-off table or stores other keys."""
        if not all(LEVELS in c.capabilities for c in components):
            return None
        top = max(components, key=lambda c: c.order)
        for c in components:
            for n in range(c.order):
                mine, theirs = c.levels[n].keys, top.levels[n].keys
                if mine is not theirs and not np.array_equal(mine, theirs):
                    return None
        return cls(components, top)

    def make_whole(self) -> None:
        """Every component's tables made whole (components fitted on loading have them already)."""
        for c in self.components:
            for level in c.levels:
                level.make_whole()

    def logprobs(self, window_keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        """ln p_k(target | context) of every window under every component: (windows, components)."""
        out = np.empty((len(window_keys), len(self.components)))
        for lo in range(0, len(window_keys), BLOCK):
            part = slice(lo, lo + BLOCK)
            out[part] = self._block(window_keys[part], history[part])
        return out

    def _block(self, keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        V, levels = self.V, self.top.levels
        N = self.top.order
        n = len(keys)
        history = np.minimum(history, N - 1)
        # Longest stored n-gram ending in the target (stored sets are suffix-closed, so a miss at
        # one length is a miss at every longer one) and the index at each length.
        gram = np.zeros((N, n), np.int64)
        longest = np.full(n, -1, np.int64)
        active = np.arange(n)
        for m in range(N):  # n-grams of m + 1 symbols
            active = active[history[active] >= m]
            index, stored = levels[m].find(keys[active] % V ** (m + 1))
            active = active[stored]
            gram[m, active] = index[stored]
            longest[active] = m
            if len(active) == 0:
                break
        if (longest < 0).any():
            raise NgramError("model is missing unigram entries; the model file is damaged")
        # Stored contexts of each length (their back-off weights), the same way.
        context = np.zeros((N, n), np.int64)
        has_context = np.zeros((N, n), bool)
        active = np.arange(n)
        for m in range(1, N):  # contexts of m symbols, at level m - 1
            active = active[history[active] >= m]
            index, stored = levels[m - 1].find((keys[active] // V) % V**m)
            active = active[stored]
            context[m, active] = index[stored]
            has_context[m, active] = True
            if len(active) == 0:
                break
        # Whether a component adds the back-off weight of the context of m symbols depends on it
        # only through its order: the row's longest stored n-gram is shorter than m + 1, the
        # history holds m symbols, and the context is stored. Added longest first, as each
        # component's own recursion does (the same floats).
        K = len(self.components)
        orders = [c.order for c in self.components]
        backoff = np.zeros((n, K))
        # (each place array is made once and asked of every component: a level made where read
        # then finds what lies below those places once)
        for m in range(N - 1, 0, -1):
            at = np.flatnonzero((longest < m) & (history >= m) & has_context[m])
            live = [k for k in range(K) if m <= orders[k] - 1]
            if live and len(at):
                below = [self.components[k].levels[m - 1] for k in live]
                backoff[np.ix_(at, live)] += below[0].bow_at_many(below, context[m, at]).T
        out = np.empty((n, K))
        if all(c.levels[0].steps_up for c in self.components):
            # Levels made where read: each window's n-gram at every length up to the longest it
            # reads, one interpolation step up from the length below (``Level.p_above``), every
            # component at once, not each component's n-gram alone the whole way from below.
            p_below = None  # (K, n) p of each window's n-gram one length down, where made
            for m in range(N):
                at = np.flatnonzero(longest >= m)
                live = [k for k in range(K) if m <= orders[k] - 1]
                if not len(at) or not live:
                    break
                here = [self.components[k].levels[m] for k in live]
                lower = None if p_below is None else p_below[np.ix_(live, at)]
                p_here = np.full((K, n), np.nan)
                p_here[np.ix_(live, at)] = here[0].p_above_many(here, gram[m, at], lower)
                for k in live:  # (component k reads its longest n-gram, cut at its order)
                    mine = at[longest[at] == m] if m < orders[k] - 1 else at
                    out[mine, k] = np.log(p_here[k, mine]) + backoff[mine, k]  # (``logp_at``: ln of p)
                p_below = p_here
            return out
        # The n-gram each component reads: its longest stored one, cut at the component's order.
        by_longest = np.argsort(longest, kind="stable")
        bounds = np.searchsorted(longest[by_longest], np.arange(N + 1))
        reads = {}
        for k, c in enumerate(self.components):
            top = orders[k] - 1
            for m in range(top + 1):
                if (m, m == top) not in reads:
                    at = by_longest[bounds[m]:bounds[m + 1]] if m < top else by_longest[bounds[top]:]
                    reads[m, m == top] = (at, gram[m, at])
                at, grams = reads[m, m == top]
                out[at, k] = c.levels[m].logp_at(grams) + backoff[at, k]
        return out

    def context_rows(self, states: np.ndarray, scorer, columns: np.ndarray | None = None):
        """Each component's next-symbol probabilities at each of ``states`` (nodes of the
        highest-order component's automaton ``scorer``, distinct), as (component index, rows); the rows
        are one array, filled again for the next component (read each before asking for the next).

        A component of order o reads a state's context cut to its last o - 1 symbols: that suffix
        is a node too (stored sets are suffix-closed). Its row there is its stored children's p
        and, for every other symbol, the context's back-off weight times the suffix's row (the
        recursion of each component's own automaton, in probabilities: within a few ulps of its
        ln-rows), over the states' suffix closure, with each (node, symbol)'s child found once for
        every component. ``columns``: only these symbols' entries (each the same float as in the
        whole row: every step is entrywise)."""
        from ngram.lm.backoff import scoring

        V = self.V
        columns = np.arange(V) if columns is None else np.asarray(columns, np.int64)
        place = np.full(V, -1, np.int64)
        place[columns] = np.arange(len(columns))
        states = np.asarray(states, np.int64)
        closure = scoring.with_suffixes(scorer, states)
        offsets = scorer.order_offsets  # the contexts of m symbols are the nodes from offsets[m]
        length = np.searchsorted(offsets, closure, side="right") - 1
        bounds = np.searchsorted(length, np.arange(len(offsets)))
        # Every stored child of the closure's nodes (a node's children are a run of nodes from its first).
        row, symbol, child = scoring.children(scorer, closure)
        column = place[symbol]
        if len(columns) < V:
            wanted = column >= 0
            row, column, child = row[wanted], column[wanted], child[wanted]
        stored = (row, column)
        cuts = np.searchsorted(row, bounds)  # the stored children of each length's contexts
        suffix_at = np.searchsorted(closure, scorer.suffix[closure].astype(np.int64))
        at = np.searchsorted(closure, states)
        state_length = length[at]
        # Each length's contexts and stored children as places in their levels: the same arrays
        # asked of every component (a level made where read finds what lies below them once).
        parts = [slice(int(bounds[m]), int(bounds[m + 1])) for m in range(len(bounds) - 1)]
        contexts = [closure[part] - int(offsets[m]) for m, part in enumerate(parts)]
        mines = [slice(int(cuts[m]), int(cuts[m + 1])) for m in range(len(bounds) - 1)]
        children = [child[mine] - int(offsets[m + 1]) for m, mine in enumerate(mines)]
        stored_at = stored[0] * len(columns) + stored[1]  # (the stored entries as flat places)
        # each stored child's entry in its context's suffix row: the same symbol's child one order
        # down (stored sets are suffix-closed), p of the suffix n-gram, where the next order's
        # interpolation starts (``Level.p_above``: one step up, not the whole way from below)
        lower_at = suffix_at[stored[0]] * len(columns) + stored[1]
        # All components in one pass (longest first) where their rows together are few (a walk's
        # few states: each order's arithmetic once for all of them, not once a component), else
        # one at a time, the arrays a pass fills made once and reused by the next (fresh ones of
        # this size cost as much in page faults as the arithmetic).
        cells = len(closure) * len(columns)
        tops = [min(c.order - 1, len(bounds) - 2) for c in self.components]  # the longest context each reads
        longest = sorted(range(len(tops)), key=lambda k: -tops[k])
        groups = [longest] if len(tops) * cells <= TOGETHER_CELLS else [[k] for k in range(len(tops))]
        size = len(groups[0])
        rows = np.empty((size, len(closure), len(columns)))
        widest = max((part.stop - part.start for part in parts[1:]), default=0)
        scratch = np.empty(size * widest * len(columns))
        out = np.empty((len(states), len(columns)))
        for group in groups:
            flat = rows.reshape(size, -1)
            for m in range(tops[group[0]] + 1):
                part = parts[m]
                if part.start == part.stop:
                    continue
                live = sum(tops[k] >= m for k in group)  # (a prefix: longest first)
                if m == 0:
                    rows[:live, part] = 0.0
                else:
                    below_levels = [self.components[k].levels[m - 1] for k in group[:live]]
                    gamma = np.exp(below_levels[0].bow_at_many(below_levels, contexts[m]))
                    below = scratch[: live * (part.stop - part.start) * len(columns)]
                    below = below.reshape(live, part.stop - part.start, len(columns))
                    if live == 1:  # (one component's arrays as such: a 2-d take, 1-d gathers, faster)
                        np.take(rows[0], suffix_at[part], axis=0, out=below[0])
                    else:
                        np.take(rows[:live], suffix_at[part], axis=1, out=below)
                    np.multiply(gamma[:, :, None], below, out=rows[:live, part])
                levels = [self.components[k].levels[m] for k in group[:live]]
                lower = None if not m else flat[0][lower_at[mines[m]]][None] if live == 1 else flat[:live, lower_at[mines[m]]]
                made = levels[0].p_above_many(levels, children[m], lower)
                if live == 1:
                    flat[0][stored_at[mines[m]]] = made[0]
                else:
                    flat[:live, stored_at[mines[m]]] = made
            for k in sorted(group):  # (in the components' order: a caller adds them up in it)
                i = group.index(k)
                # Each state's context cut to this component's longest: its suffix of that length.
                mine = at.copy()
                cut = np.flatnonzero(state_length > tops[k])
                while len(cut):
                    mine[cut] = suffix_at[mine[cut]]
                    cut = cut[length[mine[cut]] > tops[k]]
                yield k, np.take(rows[i], mine, axis=0, out=out)
