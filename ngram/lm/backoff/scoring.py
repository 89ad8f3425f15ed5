"""Scoring a whole corpus with a back-off automaton: the fast way to the same numbers.

``Model.logprob_keys`` answers any batch of windows with a binary search per order; over a big
corpus that is several searches per symbol. Here the model becomes a deterministic automaton
once: a state per stored context (plus the empty one), each context's children (a contiguous
run of nodes: its first child, and a table ``rank[state, w]`` giving w's place in the run, or 0
when "context + w" is not stored), each n-gram's longest stored proper suffix, and its log
probability. That structure is found once per model, in the lean form (``build_lean``: a node's
children found from its parent's set of child symbols or its run, no table), which the load-time
check, the streamed evaluation and every automaton view read; ``build`` adds the rank table to it. One byte a (state, symbol) while V < 256, where a table of node ids would
take four: the table is built and read four times faster. Every name then advances one symbol
per step, all names at once: a stored child gives ln p directly; otherwise the back-off weight
of the state is added and the state drops to its suffix until a child exists (the unigram level
stores every symbol). The next state is the child itself, or its suffix when it is a full-order
n-gram.

The back-off weights are added in the same order as ``logprob_keys`` adds them (longest context
first) and the n-gram's own log probability last, so the results are the same floats. It needs
the n-gram set closed under prefixes and suffixes (every counted model is, and ARPA import adds
the missing n-grams of imported ones: ``ngram.lm.backoff.closure``); for a model that is not,
``build`` returns None and callers use the general path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ngram.core.arrays import distinct  # noqa: F401  (the automaton reads it here too)
from ngram.core.pages import untouched_zeros
from ngram.core.vocabulary import BOUNDARY, Encoded

DENSE_CELLS = 1 << 28  # (state, symbol) cells of the dense child table: 256 MB at one byte each
LONG_NAME = 4096  # names longer than this are scored along their length, not a step per symbol
BLOCK = 1 << 20  # symbols of a long name scored at a time


@dataclass
class Scorer:
    V: int
    first: np.ndarray  # per state: node id of its first child (its children are consecutive nodes)
    rank: np.ndarray | None  # (states × V) flattened: 1 + the place of context+w among the children, or 0; None when sparse
    cells: np.ndarray | None  # when V is large: per node from 1, parent state × V + symbol (sorted), instead of ``rank
    suffix: np.ndarray  # per node: the node of its longest proper suffix (0 = the empty context)
    logp: np.ndarray  # per node: ln p of the n-gram
    bow: np.ndarray  # per state: ln back-off weight of the context
    n_states: int  # nodes below this id are states (the empty context and orders 1..N-1)
    order_offsets: np.ndarray  # where each order's node ids start: the empty context's, order 1's, ..., and the end
    start: int  # the state right after the start symbol
    symbol: np.ndarray | None = None  # lean form (``build_lean``): per node, its last symbol (V > 64)
    count: np.ndarray | None = None  # lean form: per state, how many children it has (V > 64)
    mask: np.ndarray | None = None  # lean form, V <= 64: per state, the set of its children's symbols, a bit each
    _after: np.ndarray | None = None

    def after(self) -> np.ndarray | None:
        """The state after each node: the node itself while it is a context, else its suffix (made
        once); None for the lean form, whose walk works it out at each step instead."""
        if self.mask is not None or self.symbol is not None:
            return None
        if self._after is None:
            self._after = self.suffix.copy()
            self._after[: self.n_states] = np.arange(self.n_states, dtype=self.suffix.dtype)
        return self._after

    def child(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The node of "state + symbol", or 0 where it is not stored (node 0 is nobody's child)."""
        if self.mask is not None:
            return self._mask_child(states, symbols)
        if self.symbol is not None:
            return self._run_child(states, symbols)
        if self.rank is None:
            return self._sparse_child(np.asarray(states, np.int64) * self.V + symbols)
        r = self.rank[states * self.V + symbols]
        return np.where(r != 0, self.first[states] + r.astype(self.first.dtype) - 1, 0)

    def _mask_child(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """``child`` from each state's set of child symbols: stored if w's bit is set, and then
        its place in the run is the number of bits below w's (one popcount)."""
        held = self.mask[states]
        bit = _BITS[held.dtype.type][symbols]  # (tables of 1 << w, not a shift of a converted copy per call)
        below = np.bitwise_count(held & (bit - held.dtype.type(1))).astype(self.first.dtype)
        below += self.first[states]
        return np.where(held & bit, below, 0).astype(self.first.dtype, copy=False)

    def _run_child(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """``child`` by a binary search of each state's own run of children (at most V nodes,
        sorted by symbol, side by side in memory): a few steps over a table of a byte a node."""
        lo = self.first[states].astype(np.int64)
        end = lo + self.count[states]
        hi = end.copy()
        symbol, last = self.symbol, len(self.symbol) - 1
        for _ in range(int(self.V).bit_length()):  # a run of at most V halves to nothing in this many steps
            mid = (lo + hi) >> 1
            below = symbol[np.minimum(mid, last)] < symbols
            below &= mid < hi
            lo = np.where(below, mid + 1, lo)
            hi = np.where(below, hi, mid)
        found = (lo < end) & (symbol[np.minimum(lo, last)] == symbols)
        return np.where(found, lo, 0).astype(self.first.dtype, copy=False)

    def _sparse_child(self, cell: np.ndarray) -> np.ndarray:
        """``child`` by binary search in ``cells``: node ids are 1 + places in it."""
        place = np.searchsorted(self.cells, cell)
        np.minimum(place, len(self.cells) - 1, out=place)
        return np.where(self.cells[place] == cell, place + 1, 0).astype(self.first.dtype, copy=False)


_BITS = {t: np.left_shift(t(1), np.arange(64 if t is np.uint64 else 32, dtype=t)) for t in (np.uint32, np.uint64)}


def with_suffixes(sc: Scorer, states: np.ndarray, missing=None) -> np.ndarray:
    """``states`` and the states of all their suffixes, down to the empty context, sorted and
    distinct: what a row built on its suffix's row needs first (shortest contexts have the lowest
    numbers). ``missing``: a boolean array by state; only those still missing are followed and kept."""
    keep = (lambda x: x) if missing is None else (lambda x: x[missing[x]])
    need = [keep(distinct(np.asarray(states, np.int64)))]
    while len(need[-1]):
        need.append(keep(distinct(sc.suffix[need[-1][need[-1] != 0]].astype(np.int64))))
    return distinct(np.concatenate(need))


def children(sc: Scorer, states: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored children of ``states`` in a lean automaton: (index in ``states``, symbol, node) of
    each, a state's children being consecutive nodes in the order of their symbols."""
    if sc.mask is not None:  # each state's set of child symbols, a bit each: its number of children
        count = np.bitwise_count(sc.mask[states]).astype(np.int64)
    else:
        count = sc.count[states].astype(np.int64)
    row = np.repeat(np.arange(len(states)), count)
    node = np.arange(len(row)) + np.repeat(sc.first[states].astype(np.int64) - (np.cumsum(count) - count), count)
    return row, sc.symbol[node], node


def child_counts(sc: Scorer, a: int, b: int) -> np.ndarray:
    """How many stored children each state a..b-1 of a lean automaton has (a state's children are
    the consecutive nodes from its ``first``)."""
    return np.bitwise_count(sc.mask[a:b]) if sc.mask is not None else sc.count[a:b]


def parents(sc: Scorer, n: int) -> np.ndarray:
    """The state (node of its context) of each order-``n`` node of a lean automaton, in node order:
    the states of order n-1, each repeated for its children."""
    lo, hi = int(sc.order_offsets[n - 1]), int(sc.order_offsets[n])
    return np.repeat(np.arange(lo, hi, dtype=np.int64), child_counts(sc, lo, hi))


def build(model) -> Scorer | None:
    """The automaton of ``model`` in its rank-table form, or None if its n-gram set is not prefix-
    and suffix-closed: the lean automaton (``lean``, whose structure and numbers it reads) with a
    table ``rank[state, w]`` a (state, symbol), which the walk reads in one step where the lean
    form counts bits or searches a run. Made for scoring a big input (``Model.logprob_encoded``)."""
    sc = lean(model)
    if sc is None:
        return None
    V, n_states = sc.V, sc.n_states
    N = len(sc.order_offsets) - 2
    # A dense table costs a cell per (state, symbol); past DENSE_CELLS (a large vocabulary: with
    # 200,000 symbols, even 1,000 states would be 800 MB) the children are found by binary
    # search in one sorted array of a cell per stored n-gram instead.
    sparse = n_states * V > DENSE_CELLS
    # 0 marks a missing child; np.zeros lets the kernel hand over zeroed pages.
    rank = None if sparse else np.zeros(n_states * V, np.uint8 if V < 256 else (np.uint16 if V < 65536 else np.uint32))
    cells = np.empty(int(sc.order_offsets[N + 1]) - 1, np.int64) if sparse else None
    for n in range(1, N + 1):
        lo, hi = int(sc.order_offsets[n]), int(sc.order_offsets[n + 1])
        parent = parents(sc, n)
        cell = parent * V + sc.symbol[lo:hi]
        if sparse:
            cells[lo - 1 : hi - 1] = cell
        else:  # 1 + the child's place in its parent's run
            rank[cell] = np.arange(lo + 1, hi + 1, dtype=np.int64) - sc.first[parent]
    return Scorer(V=V, first=sc.first, rank=rank, cells=cells, suffix=sc.suffix, logp=sc.logp, bow=sc.bow,
                  n_states=n_states, start=sc.start, order_offsets=sc.order_offsets)


LEAN_CHUNK = 1 << 16  # n-grams whose suffix ``build_lean`` looks up at a time


def lean(model) -> Scorer | None:
    """``build_lean(model)``, made once per model: the load-time check, evaluation and the lazy
    automaton view share it. Kept while the model's levels hold the same arrays (a level whose
    arrays were replaced gets a new one)."""
    scorer = _kept(model, "_lean")
    if scorer is False:
        scorer = build_lean(model, share=True)
        model._lean = (_held(model), scorer)
    return scorer


def structure(model) -> Scorer | None:
    """The lean automaton's structure alone (children, suffixes, symbols; no ln p or back-off
    weights), for a view whose rows come from elsewhere (an order mixture's, mixed from its
    components' shared levels): the lean automaton itself where it is made already. Made once
    per model, like ``lean``; it spares two floats a node the view never reads."""
    made = _kept(model, "_lean")
    if made is not False:
        return made
    scorer = _kept(model, "_structure")
    if scorer is False:
        scorer = build_lean(model, values=model.compact is not None)  # (a compact file's trie decodes them anyway)
        model._structure = (_held(model), scorer)
    return scorer


def _held(model) -> tuple:
    return tuple(x for level in model.levels for x in vars(level).values() if isinstance(x, np.ndarray))


def _kept(model, key: str):
    """What ``key`` holds for ``model`` while its levels hold the same arrays; False if nothing."""
    cached = vars(model).get(key)
    held = _held(model)
    if cached is not None and len(cached[0]) == len(held) and all(a is b for a, b in zip(cached[0], held)):
        return cached[1]
    return False


def _share(level, logp: np.ndarray, bow: np.ndarray | None) -> None:
    """Let a level read its probabilities (and back-off weights) from the automaton's arrays,
    which hold the same numbers: one copy in memory instead of two. (A level whose arrays are
    not its own attributes, as a compact file's, is left as it is.)"""
    own = vars(level)
    if isinstance(own.get("logp"), np.ndarray) and np.array_equal(own["logp"], logp):
        level.logp = logp
    if bow is not None and isinstance(own.get("bow"), np.ndarray) and np.array_equal(own["bow"], bow):
        level.bow = bow


def build_lean(model, share: bool = False, values: bool = True) -> Scorer | None:
    """The automaton of ``model`` in its lean form, or None if its n-gram set is not prefix- and
    suffix-closed: the walk's floats from a few numbers a node and a state, where the rank-table
    form (``build``) adds a table cell a (state, symbol). A child is found from its parent's set of child symbols, one bit a symbol (V <= 64),
    or else by a binary search of the parent's run of children (a byte a node).

    The levels are read one at a time: a model that can give its trie directly (a compact
    file's ``trie_level``) is read without making its int64 keys at all, and its file's pages
    are given back as each level is read; the model keeps nothing it did not hold before.
    ``share``: each level then reads its probabilities and weights from the automaton's arrays
    (``_share``), as soon as they are copied there, so the two copies never all coexist.
    """
    V, N = model.V, model.order
    sizes = model.n_ngrams()
    offset = np.cumsum([1] + sizes)
    n_nodes, n_states = int(offset[N]), int(offset[N - 1])
    index = np.int32 if n_nodes < 2**31 else np.int64
    bits = (np.uint32 if V <= 32 else np.uint64) if V <= 64 and hasattr(np, "bitwise_count") else None
    suffix = np.zeros(n_nodes, index)
    logp = bow = None  # (``values`` False: the structure alone)
    if values:
        own = [vars(level) for level in model.levels]
        # A file read for this model alone lays its levels' numbers out as these arrays (one
        # each, ``native._places_in_the_automaton``): taken over as they are, not copied.
        logp = (_laid_out([o.get("logp") for o in own], offset, n_nodes) if share else None)
        bow = (_laid_out([o.get("bow") for o in own[:-1]], offset, n_states) if share else None)
        del own  # (it would keep the keys the levels give up below)
        logp = np.empty(n_nodes) if logp is None else logp
        bow = np.zeros(n_states) if bow is None else bow
        logp[0], bow[0] = np.nan, 0.0
    first = np.zeros(n_states, index)
    first[0] = offset[0]
    mask = count = None
    # Each node's last symbol (a byte a node while V < 256): a state's children listed without a
    # table cell a (state, symbol) (``children``), and, past 64 symbols, its children searched.
    symbol = np.zeros(n_nodes, np.min_scalar_type(V))
    if bits is not None:
        mask = np.zeros(n_states, bits)
        mask[0] = bits((1 << V) - 1) if V < 64 else np.iinfo(np.uint64).max
    else:
        count = np.zeros(n_states, np.min_scalar_type(V))
        count[0] = V
    scorer = Scorer(V=V, first=first, rank=None, cells=None, suffix=suffix, logp=logp, bow=bow, n_states=n_states,
                    order_offsets=np.concatenate(([0], offset)), start=int(offset[0] + BOUNDARY) if N > 1 else 0,
                    symbol=symbol, count=count, mask=mask)
    for n in range(1, N + 1):
        lo, hi = int(offset[n - 1]), int(offset[n])
        parts = model.trie_level(n, logp[lo:hi]) if values else None  # (probabilities decoded in place)
        if parts is None:
            parts = _trie_of_keys(model, n, values)
            if parts is None:
                return None
            if share:  # the keys of order n - 1 (and of the top order) are read no more
                if n > 1:
                    model.keys_held_by(scorer, n - 1)
                if n == N:
                    model.keys_held_by(scorer, n)
        children, last, level_logp, level_bow = parts
        if values and not np.may_share_memory(level_logp, logp[lo:hi]):
            logp[lo:hi] = level_logp
        if values and n < N and level_bow is not None and not np.may_share_memory(level_bow, bow[lo:hi]):
            bow[lo:hi] = level_bow
        del parts, level_logp, level_bow
        if share and values:
            _share(model.levels[n - 1], logp[lo:hi], bow[lo:hi] if n < N else None)
        symbol[lo:hi] = last
        if n == 1:
            if not np.array_equal(last, np.arange(V)):
                return None
            continue
        plo, phi = int(offset[n - 2]), int(offset[n - 1])
        starts = first[plo:phi]
        np.cumsum(children, dtype=index, out=starts)
        starts -= children  # in place: each parent's first child, counted from the level's start
        if mask is not None:
            # Siblings have distinct symbols, so the OR of their bits is their sum: differences of a
            # running sum (wrapping) give each parent's set.
            # (a parent without children gets the difference of one sum with itself: 0)
            total = untouched_zeros(hi - lo + 1, bits)  # (a level's size: kept out of the heap, ``pages``)
            np.left_shift(bits(1), last, out=total[1:], dtype=bits)
            np.cumsum(total, out=total)
            for a in range(0, phi - plo, LEAN_CHUNK):  # (a chunk at a time: no temporaries a level's size)
                at = starts[a : a + LEAN_CHUNK]
                mask[plo + a : plo + a + len(at)] = total[at + children[a : a + LEAN_CHUNK]] - total[at]
            del total
        else:
            count[plo:phi] = children
        starts += lo
        del children
        # h'w, the longest proper suffix of each hw, is w's child of h' (the suffix of h), one order down.
        for start in range(0, hi - lo, LEAN_CHUNK):
            stop = min(start + LEAN_CHUNK, hi - lo)
            # each n-gram's parent: the parents whose runs of children meet the chunk, each repeated
            # for its children in it
            a = int(np.searchsorted(starts, lo + start, side="right")) - 1
            b = int(np.searchsorted(starts, lo + stop - 1, side="right"))
            edges = np.concatenate((np.maximum(starts[a:b], lo + start), [lo + stop]))
            parents = np.repeat(np.arange(plo + a, plo + b, dtype=index), np.diff(edges))
            found = scorer.child(suffix[parents], last[start:stop])
            if not np.all(found):
                return None
            suffix[lo + start : lo + stop] = found
        del last
    return scorer


def _laid_out(arrays: list, offset: np.ndarray, size: int) -> np.ndarray | None:
    """The one float64 array of ``size`` numbers whose slices from ``offset[i]`` to
    ``offset[i + 1]`` the ``arrays`` are (a level's each); None if they are not that."""
    if not arrays or not all(isinstance(a, np.ndarray) for a in arrays):  # (a level without arrays of its own)
        return None
    base = arrays[0].base
    if not (isinstance(base, np.ndarray) and base.dtype == np.float64 and base.shape == (size,) and base.flags.writeable):
        return None
    start = base.__array_interface__["data"][0]
    for i, a in enumerate(arrays):
        if (a.base is not base or len(a) != int(offset[i + 1] - offset[i])
                or a.__array_interface__["data"][0] != start + 8 * int(offset[i])):
            return None
    return base


def _trie_of_keys(model, n: int, values: bool = True):
    """(children of each (n-1)-gram, last symbol of each n-gram, ln p, back-off weights) of order
    ``n`` from its sorted keys, or None if a context is not stored; without ``values``, None for
    ln p and the weights (a level that makes them where read is not asked for them all)."""
    V, level = model.V, model.levels[n - 1]
    keys = level.keys
    logp, bow = (level.logp, level.bow) if values else (None, None)
    if n == 1:
        return None, keys % V, logp, bow
    below = model.levels[n - 2].keys
    children = np.zeros(len(below), np.min_scalar_type(V))  # (at most V each: a byte a context while V < 256)
    last = np.empty(len(keys), np.min_scalar_type(V - 1))
    for start in range(0, len(keys), LEAN_CHUNK):  # (a chunk at a time: int64 temporaries stay small)
        chunk = keys[start : start + LEAN_CHUNK]
        contexts, symbols = np.divmod(chunk.view(np.uint64), np.uint64(V))  # (keys are non-negative: unsigned divides faster)
        contexts = contexts.view(np.int64)
        # Siblings are consecutive keys: each run's context is searched for once, not each n-gram's.
        starts = np.flatnonzero(np.concatenate(([True], contexts[1:] != contexts[:-1])))
        heads = contexts[starts]
        place = np.searchsorted(below, heads)
        if place[-1] >= len(below) or not np.array_equal(below[place], heads):
            return None
        # (distinct places: a run split by the chunk adds twice; a run is at most V siblings)
        children[place] += np.diff(starts, append=len(chunk)).astype(children.dtype)
        last[start : start + len(chunk)] = symbols
    return children, last, logp, bow


def score(scorer: Scorer, encoded: Encoded) -> np.ndarray:
    """ln p of every target of ``encoded`` (as ``Model.logprob_encoded``), one step per position."""
    out = np.empty(encoded.n_targets)
    order, long = _split_long(encoded)
    for position, _, node, backoff in _walk(scorer, encoded, order):
        # The n-gram's ln p after the back-off weights, as logprob_keys adds them (+ 0.0 makes
        # a -0.0 the +0.0 it gives).
        out[position - 1] = scorer.logp[node] + (0.0 if backoff is None else backoff)
    for name in long:
        start, length = int(encoded.starts[name]), int(encoded.symbols_per_name()[name])
        for first, steps in _along(scorer, encoded.symbols, start, length):
            out[start + first : start + first + len(steps)] = steps + 0.0
    return out


def name_totals(scorer: Scorer, encoded: Encoded) -> np.ndarray:
    """ln p of each name of ``encoded``, its symbols' ln p added in order: what evaluation needs,
    without writing every symbol's ln p to memory and reading it back."""
    order, long = _split_long(encoded)
    totals = np.zeros(len(order))
    step_buf = np.empty(len(order))
    for _, alive, node, backoff in _walk(scorer, encoded, order):
        step = np.take(scorer.logp, node, out=step_buf[:alive], mode="clip")
        if backoff is not None:
            step += backoff
        totals[:alive] += step  # the names still going are a prefix
    result = np.empty(encoded.n_names)
    result[order] = totals
    for name in long:
        total = np.zeros(1)
        for _, steps in _along(scorer, encoded.symbols, int(encoded.starts[name]), int(encoded.symbols_per_name()[name])):
            # added one after another, from 0, as the walk adds them (cumsum is sequential)
            total = np.cumsum(np.concatenate((total, steps)))[-1:]
        result[name] = total[0]
    return result


def _split_long(encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """The names the walk takes (``_longest_first``) and the long ones (``_along`` takes those):
    the walk costs a step per symbol of its longest name, whatever the number of names."""
    lengths = encoded.symbols_per_name()
    long = np.flatnonzero(lengths > LONG_NAME)
    if not len(long):
        return _longest_first(encoded), long
    short = np.flatnonzero(lengths <= LONG_NAME)
    order = short[_longest_first_of(lengths[short])]
    return order, long


def _along(scorer: Scorer, ids: np.ndarray, start: int, length: int):
    """The ln p of each symbol of one name (its ``length`` targets after the boundary at
    ``start``), BLOCK symbols at a time, each block one vectorised pass per order instead of a
    step per symbol: (index of the block's first target, their ln p).

    node_k(j), the stored n-gram of the last k symbols up to target j (boundary included), is
    the child of node_{k-1}(j - 1) by symbol j: the set is closed under prefixes and suffixes,
    so the longest context stored before j is the largest k with node_k(j - 1), and j is scored
    by the longest n-gram stored, after the back-off weights of the contexts longer than its
    own, added longest first: the same floats as the walk.
    """
    N = len(scorer.order_offsets) - 2
    dtype = scorer.first.dtype
    # node_k(-1), the n-grams ending at the start boundary: only the boundary's unigram.
    carry = np.zeros(N + 1, np.int64)
    if N > 1:
        carry[1] = scorer.start
    for first in range(0, length, BLOCK):
        w = ids[start + 1 + first : start + 1 + min(first + BLOCK, length)].astype(np.int64)
        m = len(w)
        nodes = np.zeros((N + 1, m + 1), np.int64)  # nodes[k, j + 1] = node_k(first + j); column 0: the block before
        nodes[:, 0] = carry
        nodes[1, 1:] = scorer.child(np.zeros(m, dtype), w)  # every unigram is stored
        for k in range(2, N + 1):
            before = nodes[k - 1, :-1]
            found = scorer.child(before.astype(dtype, copy=False), w)
            nodes[k, 1:] = np.where(before != 0, found, 0)
        carry = nodes[:, -1].copy()
        context = nodes[: N, :-1]  # contexts of orders 0..N-1 before each target
        longest = np.zeros(m, np.int64)  # order of the n-gram that scores each target
        for k in range(1, N + 1):
            longest = np.where(nodes[k, 1:] != 0, k, longest)
        node = nodes[longest, np.arange(1, m + 1)]
        backoff = np.zeros(m)
        for k in range(N - 1, 0, -1):  # the contexts backed off from, longest first
            use = (context[k] != 0) & (k >= longest)
            backoff += np.where(use, scorer.bow[np.where(use, context[k], 0)], 0.0)
        yield first, scorer.logp[node] + backoff


def _longest_first(encoded: Encoded) -> np.ndarray:
    """Name indices, longest names first and names of one length in corpus order."""
    return _longest_first_of(encoded.symbols_per_name())


def _longest_first_of(lengths: np.ndarray) -> np.ndarray:
    # Stable sorts of 16-bit integers are radix sorts: a few milliseconds for a big corpus.
    return np.argsort(-lengths.astype(np.int16) if lengths.max(initial=0) < 2**15 else -lengths, kind="stable")


def _walk(scorer: Scorer, encoded: Encoded, order: np.ndarray):
    """Step through every name at once, in ``order`` (``_longest_first``): at each step, the
    positions of the names still going, how many they are, the node of the n-gram each one's
    symbol there is scored by, and the back-off weights added before it (None: none at all).

    Longest names first, so the names still going are always a prefix of the arrays (slicing
    instead of compressing them every step); names of one length stay in corpus order
    (neighbouring names share contexts, which keeps the table lookups in cache).
    """
    V = scorer.V
    # Symbols (as ``encode`` made them: the narrowest type that holds them) and positions in
    # int32: the per-step gathers then read from a corpus a fraction the size, which stays in cache.
    ids = encoded.symbols
    rank, suffix, bow = scorer.rank, scorer.suffix, scorer.bow
    before_first = scorer.first - 1 if rank is not None else None  # + rank is the child's node
    after = scorer.after()
    lengths = encoded.symbols_per_name()[order]
    if len(lengths) == 0:
        return
    position = (encoded.starts[order] + 1).astype(np.int32 if len(ids) < 2**31 else np.int64)
    going = np.searchsorted(-lengths, -np.arange(1, int(lengths[0]) + 1), side="right")
    state = np.full(len(position), scorer.start, suffix.dtype)
    # Each step's arrays live in buffers made once (the first ``alive`` of each): no allocation
    # (and no fresh pages to fault in) per step. ``take`` with mode="clip" writes straight into
    # them; every index is valid, so clipping never changes one.
    symbol_buf = np.empty(len(position), ids.dtype)
    cell_buf = np.empty(len(position), np.int64 if rank is None or len(rank) >= 2**31 else np.int32)
    rank_buf = np.empty(len(position), np.uint8 if rank is None else rank.dtype)
    node_buf = np.empty(len(position), scorer.first.dtype)
    for alive in going:  # how many names have a symbol at this step
        if alive < len(position):
            position, state = position[:alive], state[:alive]
        w = np.take(ids, position, out=symbol_buf[:alive], mode="clip")
        if rank is None:  # a large vocabulary: children by binary search
            node = scorer.child(state, w)
            miss = np.flatnonzero(node == 0)
        else:
            cell = np.multiply(state, V, out=cell_buf[:alive])
            cell += w
            r = np.take(rank, cell, out=rank_buf[:alive], mode="clip")
            node = np.take(before_first, state, out=node_buf[:alive], mode="clip")
            node += r  # (where r is 0 this is not a node; those are all redone below)
            miss = np.flatnonzero(r == 0)
        backoff = None
        if len(miss):
            backoff = np.zeros(len(position))
            s_miss, w_miss = state[miss], w[miss]
            while len(miss):
                backoff[miss] += bow[s_miss]
                s_miss = suffix[s_miss]
                if rank is None:
                    found = scorer.child(s_miss, w_miss)
                    ok = found != 0
                    node[miss[ok]] = found[ok]
                else:
                    r = rank[s_miss * V + w_miss]
                    ok = r != 0
                    node[miss[ok]] = before_first[s_miss[ok]] + r[ok]
                miss, s_miss, w_miss = miss[~ok], s_miss[~ok], w_miss[~ok]
        yield position, int(alive), node, backoff
        if after is None:
            np.copyto(state, np.where(node < scorer.n_states, node, suffix[node]))
        else:
            np.take(after, node, out=state, mode="clip")
        position += 1


def next_states(sc: Scorer, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """The state after each (state, symbol): the longest stored context of history + symbol."""
    states = np.asarray(states, sc.first.dtype)
    symbols = np.asarray(symbols)
    node = sc.child(states, symbols)
    miss = np.flatnonzero(node == 0)
    s_miss, w_miss = states[miss], symbols[miss]
    while len(miss):
        s_miss = sc.suffix[s_miss]
        found = sc.child(s_miss, w_miss)
        ok = found != 0
        node[miss[ok]] = found[ok]
        miss, s_miss, w_miss = miss[~ok], s_miss[~ok], w_miss[~ok]
    return np.where(node < sc.n_states, node, sc.suffix[node])
