"""Best-first search for the most probable names, exactly: one search for every plan.

A plan gives its start node with an exact upper bound of the best completion's ln p (its max
tables), and expands a node into the ln p of ending there and its children: (symbol, child node,
ln p of the symbol, bound of the child = ln p of the symbol + the child's max table). The heap
orders partial names by ln p so far + bound, so each complete name popped is the next most
probable one (A* with an exact heuristic: no name is ever passed over).
"""

from __future__ import annotations

import heapq
import math


def best_first(root, root_bound: float, expand, ahead: int = 0):
    """(ids, ln p) of the names in order of decreasing probability. ``expand(node, upcoming)``
    returns (ln p of ending at the node or -inf, iterable of (symbol, child, ln p of the symbol,
    child's bound)); ``upcoming()`` lists up to ``ahead`` nodes near the top of the heap, likely
    next to be expanded (a plan may make their rows in one batch)."""
    if not math.isfinite(root_bound):
        return
    heap = [(-root_bound, 0, 0.0, root, (), False)]
    counter = 1
    while heap:
        _, _, g, node, ids, ended = heapq.heappop(heap)
        if ended:
            yield ids, g
            continue
        end, children = expand(node, lambda: [entry[3] for entry in heap[:ahead] if not entry[5]])
        if math.isfinite(end):
            heapq.heappush(heap, (-(g + end), counter, g + end, None, ids, True))
            counter += 1
        for symbol, child, logp, bound in children:
            heapq.heappush(heap, (-(g + bound), counter, g + logp, child, ids + (symbol,), False))
            counter += 1
