"""Where each stored n-gram's context and suffix sit: the links that scoring, sampling and the
load-time check all need, found once per model without a binary search per n-gram.

Nodes are numbered as in an automaton: node 0 is the empty context, then the n-grams of order 1,
2, ... (order n's nodes start at ``offset[n-1]``). In a model whose n-gram set is closed under
prefixes and suffixes (every counted model) each stored n-gram hw has its context h and its
longest proper suffix h'w stored too. The children of one context are a contiguous run of the
sorted keys, so a context is known by its run; and h'w is a child of h', the suffix of h, one
order down, so its node is the first child of h' plus the number of h''s children whose symbol
is below w. With V <= 64 the set of a context's child symbols is one machine word and that
count is one popcount; otherwise a binary search finds h'w.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ONE = np.uint64(1)


@dataclass
class Links:
    offset: np.ndarray  # node where each order starts (offset[0] = 1), then the node count
    run_start: list[np.ndarray]  # per order n (index n-1): index in the level of each run of siblings
    run_length: list[np.ndarray]  # per order n: how many siblings each run holds
    run_state: list[np.ndarray]  # per order n: node of each run's context (0, the empty context, at order 1)
    suffix: np.ndarray  # per node: the node of its longest proper suffix (0 for order 1 and node 0)
    symbol: np.ndarray  # per node: its last symbol, in the smallest unsigned type that holds V
    first: np.ndarray  # per context node (orders 0..N-1): its first child's node, 0 if it has none

    @property
    def n_states(self) -> int:
        return len(self.first)

    def run_lengths(self, n: int) -> np.ndarray:
        return self.run_length[n - 1]

    def parents(self, n: int) -> np.ndarray:
        """The node of each order-n n-gram's context."""
        return np.repeat(self.run_state[n - 1], self.run_lengths(n))

    def up_to(self, order: int) -> "Links":
        """The links of the same n-grams' orders 1..``order``: each order's links are found from
        the orders below it only, so they are a prefix of these (views, no copy)."""
        if order == len(self.run_start):
            return self
        top = int(self.offset[order])
        return Links(offset=self.offset[: order + 1], run_start=self.run_start[:order],
                     run_length=self.run_length[:order], run_state=self.run_state[:order],
                     suffix=self.suffix[:top], symbol=self.symbol[:top], first=self.first[: int(self.offset[order - 1])])


def links(model) -> Links | None:
    """The links of ``model``, or None when its n-gram set is not closed (an imported ARPA file
    can leave out a context or a suffix); cached on the model for as long as its key arrays are
    the same objects."""
    keys = tuple(level.keys for level in model.levels)
    cached = vars(model).get("_links")
    if cached is not None and len(cached[0]) == len(keys) and all(a is b for a, b in zip(cached[0], keys)):
        return cached[1]
    shared = vars(model).get("_links_of")  # (set by share_links: a prefix of that model's links)
    if shared is not None and all(a is b for a, b in zip(shared[1], keys)):
        full = links(shared[0])
        found = None if full is None else full.up_to(model.order)
    else:
        found = _find_links(model.V, model.order, model.levels)
    model._links = (keys, found)
    return found


def share_links(models) -> None:
    """Let models whose levels hold the same key arrays up to their orders (an order mixture's
    components, fitted on one set of counts) share one set of links, found when first asked for:
    each lower-order model's are a prefix of the highest's."""
    models = sorted(models, key=lambda m: m.order)
    if not models:
        return
    top = models[-1]
    for model in models[:-1]:
        # (Each fit makes its own unigram keys, 0..V-1; the higher orders' are the counts' arrays.)
        same = all(a.keys is b.keys or np.array_equal(a.keys, b.keys) for a, b in zip(model.levels, top.levels))
        if same:
            model._links_of = (top, tuple(level.keys for level in model.levels))


def _find_links(V: int, N: int, levels) -> Links | None:
    if not np.array_equal(levels[0].keys, np.arange(V)):
        return None
    offset = np.cumsum([1] + [len(level) for level in levels])
    n_nodes, n_states = int(offset[N]), int(offset[N - 1])
    index = np.int32 if n_nodes < 2**31 else np.int64
    suffix = np.zeros(n_nodes, index)
    symbol = np.zeros(n_nodes, np.min_scalar_type(V))
    symbol[offset[0] : offset[1]] = levels[0].keys
    first = np.zeros(n_states, index)
    first[0] = offset[0]
    words = V <= 64 and hasattr(np, "bitwise_count")  # numpy >= 2.0
    # Each context's set of child symbols, one bit a symbol.
    symbols = np.zeros(n_states, np.uint64) if words else None
    if words:
        symbols[0] = np.bitwise_or.reduce(_ONE << levels[0].keys.astype(np.uint64))
    run_start, run_state, run_length = [np.zeros(1, np.int64)], [np.zeros(1, index)], [np.array([V])]
    for n in range(2, N + 1):
        keys, lo, hi, plo = levels[n - 1].keys, int(offset[n - 1]), int(offset[n]), int(offset[n - 2])
        # One division for both (keys are non-negative; unsigned gives the shifts' type directly).
        contexts, w = np.divmod(keys.view(np.uint64), np.uint64(V))
        contexts = contexts.view(np.int64)
        symbol[lo:hi] = w
        starts = np.flatnonzero(np.concatenate(([len(keys) > 0], contexts[1:] != contexts[:-1])))
        lengths = np.diff(np.append(starts, hi - lo))
        heads = contexts[starts]
        below = levels[n - 2].keys
        states = context_positions(below, heads, V)
        if states is None:
            return None
        states = (states + plo).astype(index)
        h_suffix = np.repeat(suffix[states], lengths)  # h' for each n-gram hw
        if words:
            held = symbols[h_suffix]
            if not np.all((held >> w) & _ONE):
                return None
            suffix[lo:hi] = first[h_suffix] + np.bitwise_count(held & ((_ONE << w) - _ONE)).astype(index)
            if n < N:
                # Siblings have distinct symbols, so the OR of their bits is their sum: a running
                # sum (wrapping, which differences undo) is much faster than reduceat over short runs.
                total = np.cumsum(_ONE << w, dtype=np.uint64)
                ends = starts + lengths - 1
                symbols[states] = total[ends] - np.concatenate(([np.uint64(0)], total[ends[:-1]]))
        else:
            tails = keys % V ** (n - 1)
            where = np.searchsorted(below, tails)
            if len(where) and (where.max() >= len(below) or not np.array_equal(below[where], tails)):
                return None
            suffix[lo:hi] = where + plo
        first[states] = lo + starts
        run_start.append(starts)
        run_state.append(states)
        run_length.append(lengths)
    return Links(offset=offset, run_start=run_start, run_length=run_length, run_state=run_state, suffix=suffix,
                 symbol=symbol, first=first)


def context_positions(below: np.ndarray, heads: np.ndarray, V: int) -> np.ndarray | None:
    """Where each of the sorted context keys ``heads`` sits among the sorted (n-1)-gram keys
    ``below``, None if one is missing.

    In counts of whole names every stored (n-1)-gram that does not end with the end symbol is
    followed by something, so (from order 3 on) the contexts are exactly those keys: one pass
    finds them, and checking that it did is cheaper than a binary search per context.
    """
    guess = np.flatnonzero(below % V != 0)
    if len(guess) == len(heads) and np.array_equal(below[guess], heads):
        return guess
    found = np.searchsorted(below, heads)  # sorted queries: cache-friendly
    if len(found) and (found.max() >= len(below) or not np.array_equal(below[found], heads)):
        return None
    return found
