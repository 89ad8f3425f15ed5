"""Constraints on generated names as one deterministic finite automaton over the model's symbols.

Each constraint is a small DFA over the vocabulary's character ids (a prefix, a suffix, a substring
that must or must not occur, a regular expression the whole name must match); ``Constraints.dfa``
is their product, trimmed so that every live state can still reach acceptance within ``max_len``
characters (the rest is one dead state, 0). Generation tracks the position itself, so the DFA is
exact for names of at most ``max_len`` characters and says nothing about longer ones. ``<unk>``
and the boundary never move a DFA anywhere but to the dead state.

Size: a DFA can need exponentially many states (``(a|n)*a(a|n){20}`` remembers the last 21
characters; twenty ``--contains`` of one letter remember which have occurred), so every
construction here counts states as it builds them, breadth first, and stops with a one-line
error at ``MAX_STATES`` states (fewer for large vocabularies: at most ``MAX_CELLS`` transitions).
Breadth first means a state is first met at its shortest distance from the start; one that
cannot reach acceptance within the characters left is dead at once, so requests whose names
would be too long never grow (``a{99999999999}`` with ``--max-len 20`` matches nothing, found
without expanding the repeat). Substring automata are built from failure links in O(m·V).

Regular expressions: a documented subset, parsed to a tree and compiled by the position
(Glushkov) construction and a budgeted subset construction (no dependency): literal characters,
``.`` (any character), classes ``[abc]``, ``[a-z]``, ``[^...]``, escapes ``\\.`` ``\\[`` etc.,
grouping ``( )`` ``(?: )`` ``(?P<name> )``, alternation ``|``, and the repeats ``*`` ``+`` ``?``
``{m}`` ``{m,}`` ``{m,n}`` ``{,n}`` (a lazy ``?`` after a repeat is accepted: it does not change
which names match). The whole name must match (as ``re.fullmatch``), so the empty pattern
matches only the empty name. Anchors, lookarounds, backreferences, inline flags, possessive
repeats and class escapes such as ``\\d`` are refused by name.

Right-to-left models need the reversed automaton: ``Constraints.reversed_dfa`` builds it from the
reversed constraints (a prefix becomes a suffix, a regex is reversed as a tree), under the same
budget; ``DFA.reversed`` reverses any DFA by a budgeted subset construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ngram.core.arrays import distinct
from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY

DEFAULT_MAX_LEN = 50
MAX_STATES = 1 << 15  # constraint-automaton states built before refusing (the plan's tables grow with them)
MAX_CELLS = 1 << 23  # states x symbols: 32 MB of int32 transitions, the bound for large vocabularies
MIN_STATES = 128  # ... but never fewer (a 200,000-symbol vocabulary: 100 MB of transitions at most)
MAX_POSITIONS = 1 << 15  # regex positions once counted repeats are cut to --max-len
MAX_FOLLOW = 1 << 22  # regex position-to-position edges
REVERSAL_WORK = 1 << 26  # reversed states x symbol classes x forward states (about half a second of subset construction)
BATCH_BYTES = 1 << 24  # successor sets built at once (a batch of states x symbols x set bytes)
UNREACHABLE = np.iinfo(np.int64).max // 4
_HINT = "simplify it, combine fewer constraints or lower --max-len"


class TooManyStates(NgramError):
    """An automaton past its state budget (a one-line error like any other; a reversal that can be
    done another way catches it)."""


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width] + f"... ({len(text):,} characters)"


def _short(text: str, width: int = 40) -> str:
    return repr(text) if len(text) <= width else repr(text[:width]) + f"... ({len(text):,} characters)"


def state_limit(V: int) -> int:
    """The most states a constraint automaton over ``V`` symbols may have."""
    return max(MIN_STATES, min(MAX_STATES, MAX_CELLS // max(V, 1)))


def percent_of_mass(mass: float) -> str:
    """A constraint's share of the model's mass, one way everywhere: a percentage to 3 significant
    digits (4.48%, 0.0401%, 3.2e-05%)."""
    return f"{100 * mass:.3g}%"


@dataclass
class DFA:
    """States 0..Q-1, state 0 dead (never accepting, absorbing), ``start`` the initial state."""

    delta: np.ndarray  # Q x V int32
    accept: np.ndarray  # Q bool
    start: int
    max_len: int | None = None  # exact for strings of at most this many symbols (None: all)
    # ``remaining``, worked out once (a DFA's transitions are not changed once it is built; the one
    # place that changes them, ``Constraints._build``, drops it) and carried by trim and minimize
    _remaining: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_states(self) -> int:
        return len(self.accept)

    def run(self, ids) -> int:
        q = self.start
        for c in ids:
            q = int(self.delta[q, int(c)])
        return q

    def accepts(self, ids: np.ndarray, length: np.ndarray, reverse: bool = False) -> np.ndarray:
        """Whether each name is accepted: a row of ``ids`` holding ``length`` symbols (read from
        its last symbol where ``reverse``: a name walked right to left), all names a symbol at a
        time."""
        q = np.full(len(ids), self.start, np.int64)
        for t in range(int(np.minimum(length, ids.shape[1]).max(initial=0))):
            on = np.flatnonzero(length > t)
            column = length[on] - 1 - t if reverse else t
            q[on] = self.delta[q[on], ids[on, column]]
        return self.accept[q]

    def depths(self) -> np.ndarray:
        """Each state's distance (in symbols) from the start; ``UNREACHABLE`` if none."""
        depth = np.full(self.n_states, UNREACHABLE, np.int64)
        if self.start == 0:
            return depth
        depth[self.start] = 0
        frontier, d = np.array([self.start]), 0
        while len(frontier):
            d += 1
            nxt = _unvisited(self.delta[frontier].ravel(), depth)
            nxt = nxt[nxt != 0]
            depth[nxt] = d
            frontier = nxt
        return depth

    def remaining(self) -> np.ndarray:
        """Each state's fewest symbols to acceptance; ``UNREACHABLE`` if it cannot accept (read
        only: worked out once per DFA)."""
        if self._remaining is None:
            self._remaining = self._fewest_to_accept()
        self._remaining.flags.writeable = False
        return self._remaining

    def _fewest_to_accept(self) -> np.ndarray:
        Q, V = self.delta.shape
        rem = np.full(Q, UNREACHABLE, np.int64)
        target = self.delta.ravel()
        # (a stable sort of 16-bit numbers is a radix sort: several times faster)
        order = np.argsort(target.astype(np.uint16) if Q <= 1 << 16 else target, kind="stable")
        source = (order // V).astype(np.int64)  # predecessors grouped by target state
        bounds = np.searchsorted(target[order], np.arange(Q + 1))
        frontier = np.flatnonzero(self.accept)
        rem[frontier] = 0
        d = 0
        while len(frontier):
            if len(frontier) <= FEW_FRONTIER and Q * V <= FEW_EDGES:
                # A narrow frontier on a small automaton (a long literal: one state a step for
                # thousands of steps) costs array calls a step; the edges one by one cost less.
                return _fewest_one_by_one(rem, frontier.tolist(), d, source.tolist(), bounds.tolist())
            d += 1
            pred = _unvisited(source[_ranges(bounds[frontier], bounds[frontier + 1])], rem)
            pred = pred[pred != 0]
            rem[pred] = d
            frontier = pred
        return rem

    def reversed(self, max_len: int | None = None, what: str = "the constraints read right to left") -> "DFA":
        """A DFA accepting the reversed strings (of at most ``max_len`` symbols, by default the
        length this DFA is exact for): a subset construction over the reversed edges, refused at
        the same state budget."""
        Q, V = self.delta.shape
        depth = self.depths()  # a reversed set still needs its nearest member's distance from the start
        max_len = self.max_len if max_len is None else max_len
        limit = max_len if max_len is not None else UNREACHABLE
        columns = np.ascontiguousarray(self.delta.T)  # V x Q

        first, classes = _symbol_classes(columns)
        columns = columns[first]

        def expand(sets, d):  # T_c = {p : delta[p, c] in S}, per class of symbols, without hopeless p
            S = _unpack(sets, Q)
            return np.packbits(S[:, columns] & (depth + d <= limit)[None, None, :], axis=2, bitorder="little")

        def accepting(sets):
            return _unpack(sets, Q)[:, self.start]

        def remaining(sets):
            return np.where(_unpack(sets, Q), depth[None, :], UNREACHABLE).min(axis=1)

        start = np.zeros(Q, bool)
        start[1:] = self.accept[1:]
        # each reversed state costs (symbol classes x Q) bits to expand: a large DFA allows fewer
        affordable = max(MIN_STATES, REVERSAL_WORK // (len(first) * Q))
        reversed_dfa = _explore(np.packbits(start, bitorder="little"), expand, accepting, remaining, classes, limit,
                                what, width_bits=Q, limit=affordable,
                                need=f" for a reversal of {Q - 1:,} states" if affordable < MAX_STATES else "")
        reversed_dfa.max_len = max_len
        return minimize(reversed_dfa)


FEW_FRONTIER = 32  # states whose predecessors are found one by one, on an automaton of at most
FEW_EDGES = 1 << 18  # ... this many edges (then all of them cost about 0.1 s at most)


def _fewest_one_by_one(rem: np.ndarray, frontier: list, d: int, source: list, bounds: list) -> np.ndarray:
    """``_fewest_to_accept`` from the states ``frontier`` at distance ``d`` on: breadth first, a
    state at a time (the dead state 0 never counts)."""
    far = rem.tolist()
    unreachable = int(UNREACHABLE)
    while frontier:
        d += 1
        after = []
        for q in frontier:
            for p in source[bounds[q] : bounds[q + 1]]:
                if far[p] == unreachable and p != 0:
                    far[p] = d
                    after.append(p)
        frontier = after
    return np.array(far, np.int64)


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of arange(starts[i], stops[i]) for every i, without a Python loop."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total)


def _unvisited(values: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The distinct values among ``values`` (states) whose ``distance`` is still ``UNREACHABLE``,
    sorted: by marking where there are many, else by sorting (``np.unique`` hashes integers, far
    slower, and its first call imports ``numpy.ma``)."""
    values = distinct(values, len(distance))
    return values[distance[values] == UNREACHABLE]


def _unpack(sets: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(sets, axis=-1, count=n, bitorder="little").astype(bool)


def _symbol_classes(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symbols whose columns are equal move every state alike: (one representative symbol per
    class, each symbol's class). ``columns`` is V x anything."""
    flat = np.ascontiguousarray(columns.reshape(len(columns), -1))
    keys = flat.view(np.dtype((np.void, flat.shape[1] * flat.itemsize))).ravel()
    _, first, classes = np.unique(keys, return_index=True, return_inverse=True)
    return first, classes.reshape(-1)


def _explore(start: np.ndarray, expand: Callable, accepting: Callable, remaining: Callable, classes: np.ndarray,
             max_len: int, what: str, width_bits: int | None = None, limit: int | None = None,
             need: str = "") -> DFA:
    """Breadth-first construction of a DFA whose states are named by byte rows (a set of positions
    as bits, or a tuple of component states): ``expand(rows, d)`` gives each row's successor per
    symbol class (k x K x W) at depth d, an all-zero row being the dead state, and ``classes``
    each symbol's class; ``remaining(rows)`` is a lower bound on the symbols still needed to
    accept. A state first met at depth d with d + remaining > max_len is dead (breadth first, d
    is its shortest distance, so no string reaches it sooner). A set may likewise drop the
    positions it holds that cannot reach acceptance within max_len - d symbols, which keeps the
    sets that differ only in hopeless positions one state. More than ``state_limit(V)`` states
    is a one-line error naming ``what`` (fewer if ``limit`` says so; ``need``: what the whole
    automaton would take, for the message)."""
    V, K, W = len(classes), int(classes.max()) + 1, start.shape[0]
    limit = state_limit(V) if limit is None else min(limit, state_limit(V))
    # rows of at most 8 bytes compare as integers, which sort several times faster than bytes
    void = np.dtype(np.uint64) if W == 8 else np.dtype((np.void, W))
    if not start.any() or remaining(start[None])[0] > max_len:
        return DFA(np.zeros((1, V), np.int32), np.array([False]), 0)
    rows = np.zeros((64, W), np.uint8)
    rows[1] = start
    n = 2
    known = np.stack([rows[0], start]).view(void).ravel()  # sorted below, with each one's number
    numbers_known = np.array([0, 1], np.int32)
    order = np.argsort(known, kind="stable")
    known, numbers_known = known[order], numbers_known[order]
    delta = np.zeros((64, K), np.int32)
    level, depth = np.array([1]), 0
    depths = [1, 2]  # (states depths[d]..depths[d+1]-1 were first met at depth d: breadth first, their distance)
    batch = max(1, BATCH_BYTES // max(1, K * max(W, width_bits or 0)))
    while len(level):
        depth += 1
        found = []
        for i in range(0, len(level), batch):
            ids = level[i : i + batch]
            successors = np.ascontiguousarray(expand(rows[ids], depth).reshape(-1, W))
            unique, first, inverse = np.unique(successors.view(void).ravel(), return_index=True, return_inverse=True)
            at = np.minimum(np.searchsorted(known, unique), len(known) - 1)
            hit = known[at] == unique
            numbers = np.where(hit, numbers_known[at], 0).astype(np.int32)
            new = np.flatnonzero(~hit)
            if len(new):
                candidates = successors[first[new]]
                alive = candidates.any(axis=1) & (depth + remaining(candidates) <= max_len)
                fresh = new[alive]
                if n + len(fresh) > limit:
                    raise TooManyStates(f"{what}: the constraint automaton needs more than {limit:,} states over "
                                        f"{V:,} symbols (the limit{need}); {_HINT}")
                numbers[fresh] = np.arange(n, n + len(fresh))
                if n + len(fresh) > len(rows):
                    grown = max(2 * len(rows), n + len(fresh))
                    rows = np.concatenate([rows, np.zeros((grown - len(rows), W), np.uint8)])
                    delta = np.concatenate([delta, np.zeros((grown - len(delta), K), np.int32)])
                rows[n : n + len(fresh)] = candidates[alive]
                found.append(np.arange(n, n + len(fresh)))
                n += len(fresh)
                known = np.concatenate([known, unique[new]])
                numbers_known = np.concatenate([numbers_known, numbers[new]])
                order = np.argsort(known, kind="stable")
                known, numbers_known = known[order], numbers_known[order]
            delta[ids] = numbers[inverse.reshape(-1)].reshape(len(ids), K)
        level = np.concatenate(found) if found else np.zeros(0, np.int64)
        depths.append(n)
    delta = delta[:n][:, classes]
    delta[0] = 0
    delta[:, BOUNDARY] = 0
    accept = np.zeros(n, bool)
    if n > 1:
        accept[1:] = accepting(rows[1:n])
    depth = np.concatenate(([UNREACHABLE], np.repeat(np.arange(len(depths) - 1), np.diff(depths))))
    return trim(DFA(delta, accept, 1), max_len, depth)


def trim(dfa: DFA, max_len: int | None = None, depth: np.ndarray | None = None) -> DFA:
    """Merge every state that cannot reach acceptance (within ``max_len`` symbols of the start,
    if given) into the dead state 0 and renumber. ``depth``: each state's distance from the
    start, where the caller knows it (``DFA.depths``)."""
    Q = dfa.n_states
    if dfa.start == 0:
        return DFA(np.zeros((1, dfa.delta.shape[1]), np.int32), np.array([False]), 0)
    depth, rem = dfa.depths() if depth is None else depth, dfa.remaining()
    alive = (depth < UNREACHABLE) & (rem < UNREACHABLE)
    if max_len is not None:
        alive &= depth + rem <= max_len
    alive[0] = False
    new = np.zeros(Q, np.int32)
    kept = np.flatnonzero(alive)
    new[kept] = np.arange(1, len(kept) + 1)
    delta = np.zeros((len(kept) + 1, dfa.delta.shape[1]), np.int32)
    delta[1:] = new[dfa.delta[kept]]
    delta[:, BOUNDARY] = 0
    accept = np.zeros(len(kept) + 1, bool)
    accept[1:] = dfa.accept[kept]
    trimmed = DFA(delta, accept, int(new[dfa.start]))
    # (a kept state's shortest way to acceptance passes kept states only: the same counts)
    trimmed._remaining = np.concatenate(([UNREACHABLE], rem[kept]))
    return trimmed


MINIMIZE_ROUNDS = 64  # refinement rounds tried before a DFA is kept as built (correct, only larger)


def minimize(dfa: DFA) -> DFA:
    """The smallest DFA with the same language (Moore's partition refinement, one vectorised
    round per distinguishing length), or ``dfa`` itself if that takes more than MINIMIZE_ROUNDS
    rounds (a long chain of states, already near minimal). Generation's tables grow with the
    number of states, so every state saved is saved max_len times per model state."""
    if dfa.start == 0 or dfa.n_states <= 2:
        return dfa
    first, classes = _symbol_classes(np.ascontiguousarray(dfa.delta.T))
    moves = dfa.delta[:, first]
    # Equivalent states accept alike and need as many symbols to accept (the shortest word of one
    # language), so the first partition splits by both: the rounds then split only states alike
    # in that (14 one-letter --contains: 3 rounds, not 15). The dead state alone (every other
    # state can still accept: trimmed).
    rem = np.minimum(dfa.remaining(), dfa.n_states)
    _, block = np.unique(2 * rem + dfa.accept, return_inverse=True)
    block = block.reshape(-1).astype(np.int64) + 1
    block[0] = 0
    count = int(np.count_nonzero(np.bincount(block)))
    for _ in range(MINIMIZE_ROUNDS):
        signature = np.ascontiguousarray(np.column_stack([block, block[moves]]), dtype=np.int32)
        refined, refined_count = _row_classes(signature)
        if refined_count == count:
            break
        block, count = refined, refined_count
    else:
        return dfa
    if count == dfa.n_states:
        return dfa
    # blocks numbered in order of their first state (the dead state's block first: 0)
    _, first_state, block = np.unique(block, return_index=True, return_inverse=True)
    rank = np.empty(count, np.int64)
    rank[np.argsort(first_state)] = np.arange(count)
    block = rank[block.reshape(-1)]
    representative = np.zeros(count, np.int64)
    representative[block[::-1]] = np.arange(dfa.n_states)[::-1]  # the first state of each block
    delta = block[dfa.delta[representative]].astype(np.int32)
    smaller = DFA(delta, dfa.accept[representative], int(block[dfa.start]), dfa.max_len)
    if dfa._remaining is not None:  # (equivalent states need as many symbols)
        smaller._remaining = dfa._remaining[representative]
    return smaller


def _odd_multipliers(n: int) -> np.ndarray:
    """``n`` fixed pseudo-random odd 64-bit numbers (splitmix64's mixing of 1..n: importing
    numpy.random for them cost a refused request 25 ms)."""
    with np.errstate(over="ignore"):
        z = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) | np.uint64(1)


_ROW_HASH = _odd_multipliers(1024)


def _row_classes(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """A class number per row of a 2-D integer array, equal exactly for equal rows, and the number
    of classes: rows hashed to 64 bits and the hash classes checked row by row (sorting the rows
    themselves, as bytes, was most of minimize's time); a collision falls back to that sort."""
    if rows.shape[1] <= len(_ROW_HASH):
        h = np.zeros(len(rows), np.uint64)
        for j in range(rows.shape[1]):
            h += rows[:, j].astype(np.uint64) * _ROW_HASH[j]  # (wrapping: arithmetic modulo 2^64)
        _, first, classes = np.unique(h, return_index=True, return_inverse=True)
        classes = classes.reshape(-1)
        if np.array_equal(rows, rows[first[classes]]):
            return classes, len(first)
    keys = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel()
    _, classes = np.unique(keys, return_inverse=True)
    classes = classes.reshape(-1)
    return classes, int(classes.max()) + 1


def product(dfas: Sequence[DFA], V: int, max_len: int | None = None, what: str = "these constraints together") -> DFA:
    """The DFA accepting what every one of ``dfas`` accepts (states reachable from the start
    only, within the state budget)."""
    if not dfas:
        return DFA(np.ones((2, V), np.int32) * np.array([0, 1])[:, None] * (np.arange(V) != BOUNDARY)[None, :],
                   np.array([False, True]), 1)
    if any(d.start == 0 for d in dfas):
        return DFA(np.zeros((1, V), np.int32), np.array([False]), 0)
    if len(dfas) == 1:
        return dfas[0]  # (each part is trimmed to max_len as it is built)
    rems = [d.remaining() for d in dfas]
    sizes = [d.n_states for d in dfas]
    first, classes = _symbol_classes(np.concatenate([d.delta for d in dfas]).T)
    deltas = [d.delta[:, first] for d in dfas]
    if np.prod(np.array(sizes, float)) < 2.0**62:  # one integer per state tuple
        radix = np.cumprod([1] + sizes[:-1]).astype(np.uint64)
        contributions = [d.astype(np.uint64) * r for d, r in zip(deltas, radix)]
        dead = [d == 0 for d in deltas]

        def parts(rows):
            code = rows.view(np.uint64).ravel()
            return [(code // r % np.uint64(q)).astype(np.int64) for r, q in zip(radix, sizes)]

        def expand(rows, _):  # batch x classes x 8 bytes
            S = parts(rows)
            code, gone = contributions[0][S[0]], dead[0][S[0]]
            for i in range(1, len(S)):
                code += contributions[i][S[i]]
                gone |= dead[i][S[i]]
            code[gone] = 0  # any dead component: the product is dead
            return code[..., None].view(np.uint8)

        start = (np.array([d.start for d in dfas], np.uint64) * radix).sum(dtype=np.uint64)[None].view(np.uint8)
    else:
        narrow = np.uint8 if max(sizes) <= 255 else np.uint16 if max(sizes) <= 65535 else np.int32

        def parts(rows):
            S = rows.view(narrow)
            return [S[:, i].astype(np.int64) for i in range(len(dfas))]

        def expand(rows, _):
            T = np.stack([d[s] for d, s in zip(deltas, parts(rows))], axis=2).astype(narrow)
            T[(T == 0).any(axis=2)] = 0
            return np.ascontiguousarray(T).view(np.uint8)

        start = np.array([d.start for d in dfas], narrow).view(np.uint8)

    def accepting(rows):
        return np.all([d.accept[s] for d, s in zip(dfas, parts(rows))], axis=0)

    def remaining(rows):
        return np.max([r[s] for r, s in zip(rems, parts(rows))], axis=0)

    # (an upper bound known before building: one state per tuple of the parts' live states; k
    # one-letter --contains make exactly 2^k)
    bound = float(np.prod(np.array(sizes, float) - 1))
    return _explore(start, expand, accepting, remaining, classes, max_len if max_len is not None else UNREACHABLE,
                    what, need=f"; up to {bound:,.0f} as the product of its parts" if bound < 1e18 else
                    f"; up to {bound:.3g} as the product of its parts")


def _failure_automaton(pattern: list[int], V: int) -> np.ndarray:
    """Transitions over states 0..m (characters of the pattern matched so far), from state m too:
    the longest prefix of the pattern that is a suffix of what was read. Built from the failure
    links (Knuth-Morris-Pratt), one row copy per state: O(m V)."""
    m = len(pattern)
    delta = np.zeros((m + 1, V), np.int32)
    delta[0, pattern[0]] = 1
    fail = 0  # the state the text minus its first character reaches
    for j in range(1, m + 1):
        delta[j] = delta[fail]
        if j < m:
            delta[j, pattern[j]] = j + 1
            fail = int(delta[fail, pattern[j]])
    return delta


def _shift(delta: np.ndarray, accept: np.ndarray) -> DFA:
    """A DFA over states 0..m-1 starting at 0, where -1 means dead, with the dead state 0 put in
    front. The substring automata need no trimming: every state is at most m symbols from
    acceptance, and the constraints are checked to be at most max_len long."""
    m, V = delta.shape
    full = np.zeros((m + 1, V), np.int32)
    full[1:] = delta + 1
    full[:, BOUNDARY] = 0
    return DFA(full, np.concatenate(([False], accept)), 1)


def prefix_dfa(pattern: list[int], V: int) -> DFA:
    m = len(pattern)
    delta = np.full((m + 1, V), -1, np.int32)
    for j, c in enumerate(pattern):
        delta[j, c] = j + 1
    delta[m, :] = m
    accept = np.zeros(m + 1, bool)
    accept[m] = True
    return _shift(delta, accept)


def suffix_dfa(pattern: list[int], V: int) -> DFA:
    accept = np.zeros(len(pattern) + 1, bool)
    accept[-1] = True
    return _shift(_failure_automaton(pattern, V), accept)


def contains_dfa(pattern: list[int], V: int) -> DFA:
    delta = _failure_automaton(pattern, V)
    delta[-1, :] = len(pattern)  # found: stays found
    accept = np.zeros(len(pattern) + 1, bool)
    accept[-1] = True
    return _shift(delta, accept)


def exclude_dfa(pattern: list[int], V: int) -> DFA:
    m = len(pattern)
    delta = _failure_automaton(pattern, V)[:m]
    delta[delta == m] = -1  # the whole pattern read: dead
    return _shift(delta, np.ones(m, bool))


# ----------------------------------------------------------------------------------------------
# Regular expressions (the subset in the module docstring)
# ----------------------------------------------------------------------------------------------
# The tree: ("none",) matches nothing, ("empty",) the empty string, ("set", chars) one character
# of ``chars``, ("cat", parts), ("alt", branches), ("star", x), ("plus", x), ("opt", x), and
# ("repeat", x, lo, hi) with hi None for no upper bound.
NONE, EMPTY = ("none",), ("empty",)
MAX_NESTING = 100
_REPEAT_SPEC = re.compile(r"(\d*)(,?)(\d*)")
_GROUP_SYNTAX = {"?=": "lookaheads", "?!": "lookaheads", "?<=": "lookbehinds", "?<!": "lookbehinds",
                 "?P=": "backreferences", "?#": "comments", "?(": "conditional groups", "?>": "atomic groups"}


class _Parser:
    def __init__(self, text: str, characters: Sequence[str]):
        self.text, self.i, self.chars, self.depth = text, 0, list(characters), 0

    def fail(self, why: str):
        raise NgramError(f"--regex {_short(self.text)}: {why} (at position {self.i})")

    def peek(self):
        return self.text[self.i] if self.i < len(self.text) else None

    def parse(self):
        tree = self.alternation()
        if self.i != len(self.text):
            self.fail("unbalanced ')'")
        return tree

    def alternation(self):
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else ("alt", tuple(branches))

    def sequence(self):
        parts = []
        while self.peek() not in (None, "|", ")"):
            parts.append(self.repeat())
        return EMPTY if not parts else parts[0] if len(parts) == 1 else ("cat", tuple(parts))

    def repeat_spec(self):
        """``{m}``, ``{m,}``, ``{m,n}``, ``{,n}`` at self.i as (lo, hi), or None where the brace is a
        literal character (as Python's re reads ``a{x}``)."""
        close = self.text.find("}", self.i)
        spec = self.text[self.i + 1 : close] if close > 0 else ""
        match = _REPEAT_SPEC.fullmatch(spec)
        if close < 0 or not match or not (match.group(1) or match.group(3)):
            return None
        lo = int(match.group(1) or 0)
        hi = lo if not match.group(2) else (int(match.group(3)) if match.group(3) else None)
        if hi is not None and hi < lo:
            self.fail(f"bad repeat {{{spec}}}: the minimum exceeds the maximum")
        self.i = close + 1
        return lo, hi

    def repeat(self):
        tree = self.atom()
        repeated = False
        while self.peek() in ("*", "+", "?", "{"):
            op = self.peek()
            if repeated and op == "?":  # lazy: the same names match
                self.i += 1
                continue
            if repeated and op == "+":
                self.fail("possessive repeats are not supported")
            if op == "{":
                at = self.i
                spec = self.repeat_spec()
                if spec is None:
                    break  # a literal '{', read by atom()
                if repeated:
                    self.i = at
                    self.fail("multiple repeat (put the repeated part in a group)")
                tree = ("repeat", tree, *spec)
            else:
                if repeated:
                    self.fail("multiple repeat (put the repeated part in a group)")
                self.i += 1
                tree = ({"*": "star", "+": "plus", "?": "opt"}[op], tree)
            repeated = True
        return tree

    def atom(self):
        c = self.peek()
        if c is None:
            self.fail("pattern ends where a character was expected")
        if c == "(":
            return self.group()
        if c in "*+?" or (c == "{" and self.repeat_spec_at_atom()):
            self.fail(f"nothing to repeat before {c!r}")
        if c in "^$":
            self.fail("anchors are not supported (the whole name must match anyway)")
        self.i += 1
        if c == ".":
            return ("set", frozenset(self.chars))
        if c == "[":
            return ("set", self.char_class())
        if c == "\\":
            return ("set", frozenset(self.escape()))
        return ("set", frozenset(c))

    def repeat_spec_at_atom(self) -> bool:
        at = self.i
        spec = self.repeat_spec()
        self.i = at
        return spec is not None

    def group(self):
        self.i += 1
        if self.peek() == "?":
            for syntax, what in _GROUP_SYNTAX.items():
                if self.text.startswith(syntax, self.i):
                    self.fail(f"{what} ({'(' + syntax}...) are not supported")
            if self.text.startswith("?:", self.i):
                self.i += 2
            elif self.text.startswith("?P<", self.i) and self.text.find(">", self.i) > 0:
                self.i = self.text.find(">", self.i) + 1
            elif re.match(r"\?[aiLmsux-]", self.text[self.i :]):
                self.fail("inline flags such as (?i) are not supported")
            else:
                self.fail("this (?...) group is not supported")
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"groups nested more than {MAX_NESTING} deep")
        tree = self.alternation()
        self.depth -= 1
        if self.peek() != ")":
            self.fail("'(' without ')'")
        self.i += 1
        return tree

    def escape(self) -> str:
        c = self.peek()
        if c is None:
            self.fail("trailing backslash")
        self.i += 1
        if c.isdigit():
            self.fail(f"backreferences such as \\{c} are not supported")
        if c in "bBAZz":
            self.fail(f"anchors such as \\{c} are not supported (the whole name must match anyway)")
        if c.isalnum():
            self.fail(f"escape \\{c} is not supported (write the characters, or a class [...])")
        return c

    def char_class(self) -> frozenset:
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        members: set[str] = set()
        first = True
        while True:
            c = self.peek()
            if c is None:
                self.fail("'[' without ']'")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            self.i += 1
            if c == "\\":
                c = self.escape()
            if self.peek() == "-" and self.i + 1 < len(self.text) and self.text[self.i + 1] != "]":
                self.i += 1
                hi = self.text[self.i]
                self.i += 1
                if hi == "\\":
                    hi = self.escape()
                if ord(hi) < ord(c):
                    self.fail(f"bad range {c}-{hi}")
                members |= {x for x in self.chars if ord(c) <= ord(x) <= ord(hi)}
            else:
                members.add(c)
        return frozenset(x for x in self.chars if (x in members) != negate)


def _reverse(tree):
    kind = tree[0]
    if kind == "cat":
        return ("cat", tuple(_reverse(t) for t in reversed(tree[1])))
    if kind == "alt":
        return ("alt", tuple(_reverse(t) for t in tree[1]))
    if kind in ("star", "plus", "opt"):
        return (kind, _reverse(tree[1]))
    if kind == "repeat":
        return ("repeat", _reverse(tree[1]), tree[2], tree[3])
    return tree


def _shortest(tree, memo: dict) -> int | float:
    """The fewest characters a match has (inf: none)."""
    key = id(tree)
    if key not in memo:
        kind = tree[0]
        if kind == "none":
            value = float("inf")
        elif kind in ("empty", "star", "opt"):
            value = 0
        elif kind == "set":
            value = 1 if tree[1] else float("inf")
        elif kind == "cat":
            value = sum(_shortest(t, memo) for t in tree[1])
        elif kind == "alt":
            value = min(_shortest(t, memo) for t in tree[1])
        elif kind == "plus":
            value = _shortest(tree[1], memo)
        else:
            inner = _shortest(tree[1], memo)
            value = 0 if tree[2] == 0 else inner * tree[2]
        memo[key] = (value, tree)  # (holding the tree keeps its id from being reused)
    return memo[key][0]


def _shortest_nonempty(tree, memo: dict) -> int | float:
    """The fewest characters of a non-empty match (inf: none)."""
    key = ("+", id(tree))
    if key not in memo:
        kind, inf = tree[0], float("inf")
        if kind in ("none", "empty"):
            value = inf
        elif kind == "set":
            value = 1 if tree[1] else inf
        elif kind == "cat":
            shortest = [_shortest(t, memo) for t in tree[1]]
            total = sum(shortest)
            value = min((_shortest_nonempty(t, memo) + total - m for t, m in zip(tree[1], shortest)), default=inf)
        elif kind == "alt":
            value = min(_shortest_nonempty(t, memo) for t in tree[1])
        elif kind in ("star", "plus", "opt"):
            value = _shortest_nonempty(tree[1], memo)
        else:
            _, inner, lo, hi = tree
            value = inf if hi == 0 else _shortest_nonempty(inner, memo) + max(lo - 1, 0) * _shortest(inner, memo)
        memo[key] = (value, tree)  # (holding the tree keeps its id from being reused)
    return memo[key][0]


def _without_empty(tree, memo: dict):
    """The tree's matches minus the empty string (so that repeating it never links a copy to all
    the copies after it)."""
    kind = tree[0]
    if kind in ("none", "empty"):
        return NONE
    if kind == "set":
        return tree
    if kind == "alt":
        return ("alt", tuple(_without_empty(t, memo) for t in tree[1]))
    if kind == "cat":
        head, rest = tree[1][0], tree[1][1:]
        if not rest:
            return _without_empty(head, memo)
        rest = rest[0] if len(rest) == 1 else ("cat", rest)
        nonempty_head = ("cat", (_without_empty(head, memo), rest))
        return ("alt", (nonempty_head, _without_empty(rest, memo))) if _shortest(head, memo) == 0 else nonempty_head
    if kind in ("star", "plus"):
        return ("plus", _without_empty(tree[1], memo))
    if kind == "opt":
        return _without_empty(tree[1], memo)
    _, inner, lo, hi = tree
    if _shortest(inner, memo) == 0:
        return ("repeat", _without_empty(inner, memo), 1, hi) if hi != 0 else NONE
    return ("repeat", inner, max(lo, 1), hi)


class _Positions:
    """The position (Glushkov) automaton of a tree, with counted repeats cut to ``max_len``: one
    position per character set occurrence, ``follow`` edges between them, position 0 the start."""

    def __init__(self, what: str, max_len: int):
        self.what, self.max_len = what, max_len
        self.labels: list[frozenset] = [frozenset()]
        self.edges: list[tuple[np.ndarray, np.ndarray]] = []
        self.n_edges = 0
        self.memo: dict = {}

    def refuse(self, size: str):
        raise NgramError(f"{self.what}: needs {size}, more than the limit, even with repeats cut to --max-len "
                         f"{self.max_len}; {_HINT}")

    def link(self, last, first):
        if len(last) and len(first):
            self.n_edges += len(last) * len(first)
            if self.n_edges > MAX_FOLLOW:
                self.refuse(f"more than {MAX_FOLLOW:,} position links")
            self.edges.append((np.repeat(last, len(first)), np.tile(first, len(last))))

    def compile(self, tree):
        """(first positions, last positions, matches the empty string) of a fresh copy of ``tree``."""
        kind = tree[0]
        none = np.zeros(0, np.int64)
        if kind == "none":
            return none, none, False
        if kind == "empty":
            return none, none, True
        if kind == "set":
            if len(self.labels) >= MAX_POSITIONS:
                self.refuse(f"more than {MAX_POSITIONS:,} positions")
            self.labels.append(tree[1])
            p = np.array([len(self.labels) - 1])
            return p, p, False
        if kind == "alt":
            parts = [self.compile(t) for t in tree[1]]
            return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                    any(p[2] for p in parts))
        if kind == "cat":
            return self.concatenate([lambda t=t: self.compile(t) for t in tree[1]])
        if kind in ("star", "plus", "opt"):
            first, last, empty = self.compile(tree[1])
            if kind != "opt":
                self.link(last, first)
            return first, last, empty or kind != "plus"
        return self.repeat(*tree[1:])

    def concatenate(self, parts):
        first, last, empty = np.zeros(0, np.int64), np.zeros(0, np.int64), True
        for part in parts:
            f, l, e = part()
            self.link(last, f)
            if empty:
                first = np.concatenate([first, f])
            last = np.concatenate([l, last]) if e else l
            empty = empty and e
        return first, last, empty

    def repeat(self, tree, lo: int, hi):
        """``tree`` lo..hi times, keeping only the copies a name of at most max_len characters
        can use: every copy of a nullable tree may be empty, and a tree of at least m characters
        fits at most max_len // m times."""
        shortest = _shortest(tree, self.memo)
        if shortest == float("inf"):
            return self.compile(EMPTY if lo == 0 else NONE)
        if shortest == 0:
            # every copy may be empty, and a name of at most max_len characters splits into at most
            # max_len // m non-empty ones (m: the shortest non-empty match): past that, x{lo,hi} is x*
            nonempty = _shortest_nonempty(tree, self.memo)
            if nonempty == float("inf"):
                return self.compile(EMPTY)
            if hi is None or hi >= self.max_len // nonempty:
                return self.compile(("star", tree))
            return self.up_to(_without_empty(tree, self.memo), hi)
        else:
            fit = self.max_len // shortest
            if lo > fit:
                return self.compile(NONE)
        if hi is None:
            return self.concatenate([lambda: self.compile(tree)] * lo + [lambda: self.compile(("star", tree))])
        hi = min(hi, max(fit, lo))
        return self.concatenate([lambda: self.compile(tree)] * lo + [lambda: self.up_to(tree, hi - lo)])

    def up_to(self, tree, k: int):
        """``tree`` 0..k times as (x(x(x)?)?)?, built from the inside out without recursion, so
        each copy links only to the next."""
        first, last = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for _ in range(k):
            f, l, e = self.compile(tree)
            self.link(l, first)
            first = np.concatenate([f, first]) if e else f
            last = np.concatenate([l, last])
        return first, last, True


def _regex_tree(text: str, vocabulary, reverse: bool):
    tree = _Parser(text, vocabulary.characters).parse()
    return _reverse(tree) if reverse else tree


def regex_dfa(text: str, vocabulary, max_len: int | None = None, reverse: bool = False) -> DFA:
    """The DFA of names (of at most ``max_len`` characters) that match ``text`` whole, or read
    backwards, match it (``reverse``); refused at the state budget."""
    what = f"--regex {_short(text)}" + (" read right to left" if reverse else "")
    max_len = DEFAULT_MAX_LEN * 200 if max_len is None else max_len
    tree = _regex_tree(text, vocabulary, reverse)
    V = vocabulary.size
    positions = _Positions(what, max_len)
    if _shortest(tree, positions.memo) > max_len:
        return DFA(np.zeros((1, V), np.int32), np.array([False]), 0)
    first, last, empty = positions.compile(tree)
    N = len(positions.labels)  # position 0 is the start
    if V * N > 4 * MAX_CELLS:
        positions.refuse(f"{N:,} positions over {V:,} symbols")
    edges = [(np.zeros(len(first), np.int64), first)] + positions.edges
    source = np.concatenate([e[0] for e in edges]).astype(np.int64)
    target = np.concatenate([e[1] for e in edges]).astype(np.int64)
    order = np.argsort(source, kind="stable")
    source, target = source[order], target[order]
    bounds = np.searchsorted(source, np.arange(N + 1))
    label = np.zeros((V, N), bool)
    symbol = {ch: i + 1 for i, ch in enumerate(vocabulary.characters)}
    for p, chars in enumerate(positions.labels):
        ids = [symbol[ch] for ch in chars if ch in symbol]
        label[ids, p] = True
    final = np.zeros(N, bool)
    final[last] = True
    final[0] = empty
    # fewest characters from each position to a match: breadth first over the reversed links
    rem = np.full(N, UNREACHABLE, np.int64)
    back = np.argsort(target, kind="stable")
    back_bounds = np.searchsorted(target[back], np.arange(N + 1))
    frontier = np.flatnonzero(final)
    rem[frontier] = 0
    d = 0
    while len(frontier):
        d += 1
        pred = _unvisited(source[back[_ranges(back_bounds[frontier], back_bounds[frontier + 1])]], rem)
        rem[pred] = d
        frontier = pred

    first_symbols, classes = _symbol_classes(label)
    label = label[first_symbols]

    def expand(sets, d):
        S = _unpack(sets, N)
        rows, cols = np.nonzero(S)
        lengths = bounds[cols + 1] - bounds[cols]
        F = np.zeros_like(S)
        F[np.repeat(rows, lengths), target[_ranges(bounds[cols], bounds[cols + 1])]] = True
        F &= (rem + d <= max_len)[None, :]  # positions that cannot reach a match in time are left out
        return np.packbits(F[:, None, :] & label[None, :, :], axis=2, bitorder="little")

    def accepting(sets):
        return (_unpack(sets, N) & final[None, :]).any(axis=1)

    def remaining(sets):
        return np.where(_unpack(sets, N), rem[None, :], UNREACHABLE).min(axis=1)

    start = np.zeros(N, bool)
    start[0] = True
    return _explore(np.packbits(start, bitorder="little"), expand, accepting, remaining, classes, max_len, what,
                    width_bits=N)


# ----------------------------------------------------------------------------------------------
# What the user asks for
# ----------------------------------------------------------------------------------------------
@dataclass
class Constraints:
    min_len: int = 1
    max_len: int = DEFAULT_MAX_LEN
    prefix: str = ""
    suffix: str = ""
    contains: Sequence[str] = ()
    exclude: Sequence[str] = ()
    regex: str | None = None
    novel_only: bool = False
    unique: bool = False

    def __post_init__(self):
        self.contains = tuple(c for c in ([self.contains] if isinstance(self.contains, str) else self.contains))
        self.exclude = tuple(c for c in ([self.exclude] if isinstance(self.exclude, str) else self.exclude))

    def check(self) -> None:
        if self.min_len < 0 or self.max_len < 0 or self.min_len > self.max_len:
            raise NgramError(f"need 0 <= min-len <= max-len, got min-len {self.min_len}, max-len {self.max_len}")
        for what, text in (("prefix", self.prefix), ("suffix", self.suffix)):
            if len(text) > self.max_len:
                raise NgramError(f"--{what} {_short(text)} is {len(text)} characters, longer than --max-len {self.max_len}")
        for text in self.contains:
            if not text:
                raise NgramError("--contains needs a non-empty string")
            if len(text) > self.max_len:
                raise NgramError(f"--contains {_short(text)} is {len(text)} characters, longer than --max-len {self.max_len}")
        for text in self.exclude:
            if not text:
                raise NgramError("--exclude needs a non-empty string (an empty one excludes every name)")
        for a in self.exclude:
            for b in (self.prefix, self.suffix, *self.contains):
                if a in b:
                    raise NgramError(f"--exclude {_short(a)} conflicts with the required {_short(b)}, which contains it")

    def is_length_only(self) -> bool:
        return not (self.prefix or self.suffix or self.contains or self.exclude or self.regex is not None)

    def describe(self) -> str:
        parts = []  # (a string of thousands of characters is shown by its start and its length)
        if self.prefix:
            parts.append(f"starting with {_clip(self.prefix, 40)}-")
        if self.suffix:
            parts.append(f"ending in -{_clip(self.suffix, 40)}")
        parts += [f"containing {_short(c)}" for c in self.contains]
        parts += [f"without {_short(c)}" for c in self.exclude]
        if self.regex is not None:
            parts.append(f"matching /{_clip(self.regex, 40)}/")
        parts.append(f"of {self.min_len} to {self.max_len} characters" if self.min_len != self.max_len
                     else f"of {self.min_len} character{'' if self.min_len == 1 else 's'}")
        return "names " + ", ".join(parts)

    def dfa(self, vocabulary) -> DFA:
        """The product DFA over ``vocabulary``'s ids (exact for names of at most max_len
        characters); a string with a character the vocabulary lacks, constraints no name of an
        allowed length meets, or an automaton past the state budget is a one-line error."""
        return self._build(vocabulary, reverse=False)

    def reversed_dfa(self, vocabulary) -> DFA:
        """The DFA of the reversed names that ``dfa`` accepts (for right-to-left models), built from
        the reversed constraints under the same budget and with the same errors."""
        return self._build(vocabulary, reverse=True)

    def _build(self, vocabulary, reverse: bool) -> DFA:
        self.check()
        V, L = vocabulary.size, self.max_len
        symbol = {ch: i + 1 for i, ch in enumerate(vocabulary.characters)}

        def ids(text, what):
            missing = sorted({c for c in text if c not in symbol})
            if missing:
                raise NgramError(f"--{what} {_short(text)}: {', '.join(map(repr, missing))} not in the model's "
                                 "vocabulary, so no name it makes can contain it")
            return [symbol[c] for c in (text[::-1] if reverse else text)]

        parts = []
        if self.prefix:
            parts.append((suffix_dfa if reverse else prefix_dfa)(ids(self.prefix, "prefix"), V))
        if self.suffix:
            parts.append((prefix_dfa if reverse else suffix_dfa)(ids(self.suffix, "suffix"), V))
        parts += [contains_dfa(ids(c, "contains"), V) for c in self.contains]
        for c in self.exclude:
            # (one the model cannot write, or longer than any name, is always met)
            if all(ch in symbol for ch in c) and len(c) <= L:
                parts.append(exclude_dfa(ids(c, "exclude"), V))
        if self.regex is not None:
            parts.append(_regex_part(self.regex, vocabulary, L, reverse))
        what = f"these constraints together ({_clip(self.describe(), 160)})"
        dfa = product(parts, V, L, what)
        if dfa.start == 0 or not _accepts_a_length(dfa, self.min_len, L):
            why = ("; the empty pattern matches only the empty name" if self.regex == "" else "")
            raise NgramError(f"no name meets these constraints together ({_clip(self.describe(), 200)}){why}")
        if vocabulary.unk:
            dfa.delta[:, vocabulary.unk_id] = 0
            dfa._remaining = None
        dfa.max_len = L
        # (a prefix, suffix or substring automaton alone is minimal as built)
        return minimize(dfa) if self.regex is not None or len(parts) > 1 else dfa


def _regex_part(text: str, vocabulary, max_len: int, reverse: bool) -> DFA:
    """The regex's own automaton, read right to left if ``reverse``: from the reversed tree, or,
    where that is past the budget (a regex small forwards, exponential reversed), the forward
    automaton reversed within --max-len. Reversing each part, not the product, keeps the work
    proportional to the parts (reversing a product of 2^14 states took a minute)."""
    if not reverse:
        return regex_dfa(text, vocabulary, max_len)
    try:
        return regex_dfa(text, vocabulary, max_len, reverse=True)
    except TooManyStates as error:
        forward = regex_dfa(text, vocabulary, max_len)
        if forward.start == 0:
            return forward
        forward.max_len = max_len
        try:
            return minimize(forward).reversed(max_len, f"--regex {_short(text)} read right to left")
        except TooManyStates:
            raise error from None


def _accepts_a_length(dfa: DFA, min_len: int, max_len: int) -> bool:
    """Whether some string of min_len..max_len symbols is accepted: every such string passes a
    state reachable in exactly min_len steps, and from there needs its fewest symbols to accept.
    The reached sets repeat with some period, which cuts the walk short."""
    reached = np.zeros(dfa.n_states, bool)
    reached[dfa.start] = True
    sets, step_of = [reached], {reached.tobytes(): 0}
    for step in range(1, min_len + 1):
        reached = np.zeros_like(reached)
        reached[dfa.delta[sets[-1]].ravel()] = True
        reached[0] = False
        earlier = step_of.get(reached.tobytes())
        if earlier is not None:
            reached = sets[earlier + (min_len - earlier) % (step - earlier)]
            break
        step_of[reached.tobytes()] = step
        sets.append(reached)
    return bool((dfa.remaining()[reached] <= max_len - min_len).any())
