"""The plain walk over draw tables made for every state of a back-off model at once.

The lazy ``View`` makes a state's row, running sums and guide cells when a name first reaches it,
which costs a search for the missing states and their suffixes at every step and a lookup of each
state's slot. Many names (about as many as the model has states) reach most states anyway; then
making every state's tables in one pass, order by order (a row is its suffix's, one order
shorter, plus its stored children), is cheaper, and a guide entry can hold the next state's
table base itself: a certain draw is one read, with nothing else to look up.

The floats are the view's (the same ln-rows, the same ``automaton.draw_tables``), so a seed draws
the same names on either path.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ngram.core.vocabulary import BOUNDARY
from ngram.core.parallel import Helper, processors as _processors, side_by_side
from ngram.lm.backoff.automaton import TABLE_CELLS, View, backoff_rows, draw_tables, guided_draw

LANE_NAMES = 1 << 14  # names going in each lane from which a walk step is split over two threads
SHARE = 4  # names per call from which the whole table is made: at least n_states / SHARE of them


def wanted(view: View, n: int) -> bool:
    """Whether ``n`` names walked at once should walk the whole table of ``view``'s model: a
    back-off model's own rows (an order mixture mixes each row it needs, lazily) and enough
    names to reach most states, or the table already made."""
    return view.own_rows and (n * SHARE >= view.scorer.n_states or "table" in vars(view).get("_automata", {}))


class WholeTable:
    """Every state's running sums, next states and guide cells, by state (``scoring.Scorer``
    numbering). A state's base is ``state << shift`` (``shift`` = log2 of the guide cells a
    state), the first of its guide cells; a certain guide entry is the next state's base plus the
    symbol, an uncertain one ``-1 - s`` for the first symbol the cell holds (``View.step``)."""

    def __init__(self, view: View):
        sc, V, G = view.scorer, view.V, view.guides
        S = sc.n_states
        self.V, self.width, self.guides = V, view.width, G
        self.shift = G.bit_length() - 1
        index = np.int32 if S * G < 2**31 else np.int64
        self.cdf = np.empty((S, V))
        self.follow = np.empty((S, V), index)
        self.guide = np.empty((S, G), index)
        self.start = int(sc.start)
        bounds = np.minimum(np.asarray(sc.order_offsets, np.int64), S)
        block = max(TABLE_CELLS // view.width, 1)
        # The blocks of one order are independent (each reads only the order below): with two
        # processors every other block is made in a second thread (numpy lets go of the
        # interpreter in the array work, nearly all of it), each thread with its own scratch rows.
        lanes = min(_processors(), 2)
        scratch = [np.empty((block, V)) for _ in range(lanes)]
        below = None  # the ln-rows of the order below (the suffixes of this order's states)

        def make(order: int, a: int, b: int, rows_here, lane: int) -> None:
            for lo in range(a + lane * block, b, lanes * block):
                hi = min(lo + block, b)
                # each row made in its place (no copies: these are most of the build's passes)
                rows = rows_here[lo - a : hi - a] if rows_here is not None else scratch[lane][: hi - lo]
                follow = self.follow[lo:hi]
                if order:  # (the empty context stores every symbol)
                    suffix = sc.suffix[lo:hi].astype(np.int64)
                    np.take(below, suffix - int(bounds[order - 1]), axis=0, out=rows)
                    np.take(self.follow, suffix, axis=0, out=follow)
                backoff_rows(sc, np.arange(lo, hi), rows, follow, view.after)
                # entries hold the next state's base: shifted by log2(G), not the view's log2(width)
                self.guide[lo:hi] = draw_tables(rows, follow, view.masked, self.shift, G, self.cdf[lo:hi])[1]

        for order, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
            if a >= b:
                continue
            # (the longest contexts are no state's suffix: their rows are not kept)
            rows_here = np.empty((b - a, V)) if b < S else None
            side_by_side(make, [(order, a, b, rows_here, lane) for lane in range(lanes if b - a > block else 1)])
            below = rows_here

    def walk(self, n: int, rng, prefix_ids, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` plain walks of at most ``steps`` symbols after ``prefix_ids``: as ``walk._walk_view``,
        the (names, steps) symbol ids (0 after each end) and each name's length."""
        lengths, drawn = self._run(n, rng, prefix_ids, steps)
        out = np.zeros((len(drawn), n), dtype=np.uint8 if self.V <= 256 else np.int64)
        for step, parts in enumerate(drawn):
            for alive, symbol in parts:
                out[step, alive] = symbol
        return out.T, lengths

    def walk_bytes(self, n: int, rng, prefix_ids, steps: int, byte_of: np.ndarray,
                   unk: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The same walks as ``walk`` (the same names for the same ``rng``) written straight as
        text: each name's characters (``byte_of``: a byte per symbol, a newline for the end)
        followed by a newline, as one byte array; each name's length; and which names hold
        ``unk`` (None without it). Each character is written once, where the (names, steps) array
        would be written and then read again across all its cells; each lane's names by its
        own thread (they are written to places of their own)."""
        lengths, drawn = self._run(n, rng, prefix_ids, steps)
        starts = np.cumsum(lengths + 1)
        text = np.empty(int(starts[-1]) if n else 0, np.uint8)
        starts -= lengths + 1
        held = np.zeros(n, bool) if unk is not None else None

        def write(lane: int) -> None:
            for step, parts in enumerate(drawn):
                alive, symbol = parts[lane]
                text[np.take(starts, alive) + step] = np.take(byte_of, symbol)  # (the end symbol writes the newline)
                if held is not None:
                    held[alive[symbol == unk]] = True

        if drawn and len(drawn[0]) == 2:
            with Helper() as helper:
                helper.both(lambda: write(0), lambda: write(1))
        elif drawn:
            write(0)
        cut = np.flatnonzero(lengths == len(drawn))  # (names cut at ``steps``: no end symbol drawn)
        if len(cut):
            text[starts[cut] + lengths[cut]] = 10
        return text, lengths, held

    def _run(self, n: int, rng, prefix_ids, steps: int) -> tuple[np.ndarray, list]:
        """The walks: each name's length and, step by step, per lane the names still going (their
        places) with the symbols they drew.

        The draws are reads scattered over tables far larger than the caches, so most of a
        step waits on memory: with two processors and enough names, they walk in two lanes
        (the first half and the second), one in a second thread, side by side. Each step's
        uniform draws are made here for all the names going, in their order, and cut between
        the lanes, so a seed draws the same names in one lane or two."""
        state = self.start
        for symbol in prefix_ids:
            state = int(self.follow[state, symbol])
        index = self.guide.dtype.type
        low, high = index(self.width - 1), index(~(self.guides - 1))
        small = np.uint8 if self.V <= 256 else np.int64
        place = np.int32 if n < 2**31 else np.int64
        lanes = 2 if n >= 2 * LANE_NAMES and _processors() >= 2 else 1
        cuts = [n * i // lanes for i in range(lanes + 1)]
        # per lane: its names still going (places) and their states' bases
        going_now = [(np.arange(a, b, dtype=place), np.full(b - a, state << self.shift, index))
                     for a, b in zip(cuts[:-1], cuts[1:])]
        lengths = np.full(n, steps, np.int64)
        drawn = []

        def advance(lane: int, u: np.ndarray, step: int, parts: list) -> None:
            alive, bases = going_now[lane]
            packed = self.draw(bases, u)
            symbol = (packed & low).astype(small)
            parts[lane] = (alive, symbol)
            going = symbol != BOUNDARY
            if not going.all():
                lengths[alive[~going]] = step
                alive, packed = alive[going], packed[going]
            going_now[lane] = (alive, packed & high)

        with Helper() if lanes == 2 else contextlib.nullcontext() as helper:
            for step in range(steps):
                sizes = [len(alive) for alive, _ in going_now]
                total = sum(sizes)
                if not total:
                    break
                u = rng.random(total)
                parts: list = [None] * lanes
                if lanes == 2 and min(sizes) >= LANE_NAMES:
                    helper.both(lambda: advance(0, u[: sizes[0]], step, parts),
                                lambda: advance(1, u[sizes[0] :], step, parts))
                else:  # (few names left: handing them over would cost more than their draws)
                    at = 0
                    for lane, size in enumerate(sizes):
                        advance(lane, u[at : at + size], step, parts)
                        at += size
                drawn.append(parts)
        np.minimum(lengths, len(drawn), out=lengths)
        return lengths, drawn

    def draw(self, bases: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A plain draw from each state (given by its base) for uniform draws ``u``: the next
        state's base plus the symbol (``View.step``, without the slots)."""
        return guided_draw(self.guide.reshape(-1), self.cdf.reshape(-1), self.follow.reshape(-1), bases, u,
                           self.shift, self.guides, self.V)
