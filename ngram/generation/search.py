"""Best-first search for the most probable names, exactly: one search for every plan.

A plan gives its start node with an upper bound of the best completion's ln p, and expands a node
into the ln p of ending there and its children in order of decreasing bound: (symbol, child node,
ln p of the symbol, bound of the child = ln p of the symbol + an upper bound of the child's best
completion). The heap orders partial names by ln p so far + bound, so each complete name popped
is the next most probable one (A* with an admissible heuristic). Children are taken one at a
time: the heap holds the next child and "the rest" (whose priority is the bound of the child after
it), so a plan over a large vocabulary can give them lazily, a few at a time.
"""

from __future__ import annotations

import heapq
import itertools
import math

from ngram.core.errors import NgramError

_NAME, _NODE, _REST = 0, 1, 2
# Partial names the search may hold at once (each with its children waiting, a few KB: about
# 1 GB at this bound). Far down the distribution every name found leaves several more behind, so
# a search for very many names stops here, in one line, rather than grow without end.
MAX_FRONTIER = 250_000


def best_first(root, root_bound: float, expand):
    """(ids, ln p) of the names in order of decreasing probability. ``expand(node, upcoming)``
    returns (ln p of ending at the node or -inf, an iterable of (symbol, child, ln p of the
    symbol, child's bound) in order of decreasing bound); ``upcoming(floor)`` lists the nodes
    waiting with a bound at least ``floor`` (for children not yet taken, the node they are of),
    likely to be expanded soon (a plan may make their rows, and their children's, in one batch)."""
    if not math.isfinite(root_bound):
        return
    heap = [(-root_bound, 0, 0.0, root, (), _NODE)]
    counter = itertools.count(1)

    def push_next(g: float, ids: tuple, children, parent) -> None:
        item = next(children, None)
        if item is None:
            return
        symbol, child, logp, bound = item
        heapq.heappush(heap, (-(g + bound), next(counter), g + logp, child, ids + (symbol,), _NODE))
        after = next(children, None)  # the rest, ranked by the bound of the child after this one
        if after is not None:
            heapq.heappush(heap, (-(g + after[3]), next(counter), g, (after, children, parent), ids, _REST))

    def upcoming(floor: float):  # nodes waiting with a bound at least ``floor``; for a rest, the node it is of
        return [entry[3] if entry[5] == _NODE else entry[3][2] for entry in heap
                if entry[5] != _NAME and -entry[0] >= floor]

    found = 0
    while heap:
        if len(heap) > MAX_FRONTIER:
            raise NgramError(f"the search for the most probable names holds more than {MAX_FRONTIER:,} partial names "
                             f"after {found:,} names (about 1 GB); ask for fewer names, or draw names with ngram sample")
        _, _, g, data, ids, kind = heapq.heappop(heap)
        if kind == _NAME:
            found += 1
            yield ids, g
        elif kind == _NODE:
            end, children = expand(data, upcoming)
            if math.isfinite(end):
                heapq.heappush(heap, (-(g + end), next(counter), g + end, None, ids, _NAME))
            push_next(g, ids, iter(children), data)
        else:
            item, children, parent = data
            push_next(g, ids, itertools.chain([item], children), parent)


def in_order(symbols, children, logps, bounds):
    """Children as ``best_first`` takes them: decreasing bound, then increasing symbol; only
    those with a finite bound."""
    order = sorted((-b, s, c, lp) for s, c, lp, b in zip(symbols, children, logps, bounds) if math.isfinite(b))
    return [(s, c, lp, -nb) for nb, s, c, lp in order]
