"""Sampling names, many at once.

The back-off model is turned into a deterministic automaton: one state per stored context
(n-grams of order < N), each with its full next-symbol row and, per symbol, the state of the
longest stored suffix of the extended history. Sampling is then a vectorised categorical draw
over all unfinished names per step, and one gather for the next states, with no Python loop per
name. This relies on the model's n-gram set being closed under prefixes and suffixes, which
counting guarantees and ARPA import (``ngram.formats.arpa.read_arpa``) restores for imported files.

Exact constrained generation (``Plan``) reads dense rows; a back-off model too large for them
(``automaton.too_large``: a large vocabulary) takes ``SparsePlan``, the same tables computed by the
back-off recursion over stored n-grams, with a whole row made only where a draw stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.random  # noqa: F401  (numpy loads it on first use; here its import is not a draw's cost)

from ngram.lm.backoff.automaton import Automaton, build_automaton, name_components
from ngram.lm.backoff.automaton import build as build_context_automaton
from ngram.generation.constraints import Constraints
from ngram.core.errors import NgramError
from ngram.lm.backoff.links import links
from ngram.lm.backoff.model import Model, hash_names
from ngram.core.vocabulary import BOUNDARY
from ngram.lm.protocol import SEQUENTIAL

PENDING_CELLS = 1 << 22  # (name, symbol) cells of whole rows the sparse walk's rare fallback makes at a time
LONG_RUN = 256  # sibling runs longer than this get their running sums one run at a time
MAX_SAMPLE_SYMBOLS = 2**28  # ids held at once by one call of sample(): 2 GiB of int64


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
    search. Nodes are numbered as in ``scoring.build``, so the dense rows kept for temperature,
    top-k, top-p and min-len (``scoring.LazyRows``, made only when such a draw needs them) use
    the same state ids.
    """

    MAX_ROUNDS = 200  # rejection rounds per step before the few names left take the dense draw

    def __init__(self, model: Model):
        V, N, levels = model.V, model.order, model.levels
        linked = links(model)  # (the load-time check has usually found them already)
        if linked is None:
            raise _NotClosed
        self.model, self.V = model, V
        offset = linked.offset
        n_nodes, n_states = int(offset[N]), int(offset[N - 1])
        self.n_states = n_states
        # A run's start and length share one integer, as do a node's next state and symbol.
        self.shift = shift = int(V).bit_length()
        self.mask = (1 << shift) - 1
        index = np.int32 if (n_nodes << shift) < 2**31 else np.int64
        unk = model.vocabulary.unk_id
        symbol = linked.symbol
        suffix = linked.suffix.astype(index, copy=False)
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
            # Children of one context are a contiguous run of the sorted keys.
            run_start, run_len, states = linked.run_start[n - 1], linked.run_lengths(n), linked.run_state[n - 1]
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
            from ngram.lm.backoff.scoring import LazyRows, build

            self._dense = LazyRows(build(self.model), masked=self.masked)
        return self._dense

    def rows_of(self, states: np.ndarray) -> np.ndarray:
        return self.dense().rows_of(states)


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


class _NotClosed(Exception):
    """The model's n-gram set is not closed under prefixes and suffixes."""


def adjust_rows(rows: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None) -> np.ndarray:
    """Temperature, top-k and nucleus (top-p) filtering, each row renormalised."""
    rows = np.array(rows, dtype=np.float64)
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logits = np.log(rows) / temperature
        logits -= logits.max(axis=1, keepdims=True)
        rows = np.exp(logits)
    if top_k is not None and top_k < rows.shape[1]:
        kth = -np.partition(-rows, top_k - 1, axis=1)[:, top_k - 1 : top_k]
        rows = np.where(rows >= kth, rows, 0.0)
    if top_p is not None and top_p < 1.0:
        rows = rows / rows.sum(axis=1, keepdims=True)
        order = np.argsort(-rows, axis=1)
        sorted_rows = np.take_along_axis(rows, order, axis=1)
        before = np.cumsum(sorted_rows, axis=1) - sorted_rows  # mass of strictly likelier symbols
        keep_sorted = before < top_p  # the smallest set whose mass reaches top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        rows = np.where(keep, rows, 0.0)
    return rows / rows.sum(axis=1, keepdims=True)


def check_shaping(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """One-line errors for settings that reshape the next-symbol rows."""
    if not (temperature > 0 and math.isfinite(temperature)):
        raise NgramError(f"temperature must be a positive finite number, got {temperature}")
    if top_k is not None and top_k < 1:
        raise NgramError(f"top-k must be at least 1, got {top_k}")
    if top_p is not None and not (0 < top_p <= 1):
        raise NgramError(f"top-p must be in (0, 1], got {top_p}")


def check_sampling_settings(n: int, temperature: float, top_k: int | None, top_p: float | None,
                            min_len: int, max_len: int) -> None:
    if n < 0:
        raise NgramError(f"number of samples must be 0 or more, got {n}")
    check_shaping(temperature, top_k, top_p)
    if min_len < 0 or max_len < 1 or min_len > max_len:
        raise NgramError(f"need 0 <= min-len <= max-len and max-len >= 1, got min-len {min_len}, max-len {max_len}")
    if n * max_len > MAX_SAMPLE_SYMBOLS:
        # One run holds an n × max-len array of ids; refuse before numpy overflows or the OS kills us.
        raise NgramError(f"{n} names of up to {max_len} characters is too much for one run "
                         f"(at most {MAX_SAMPLE_SYMBOLS:,} symbols); sample in several runs with different seeds")


def sample_walk(model: Model, n: int = 10, seed: int | None = None, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None, prefix: str = "",
                min_len: int = 0, max_len: int = 50, automaton: Automaton | None = None) -> list[str]:
    """The plain left-to-right walk of a back-off model: ``n`` names, each symbol drawn from the
    model's row (<unk> left out, renormalised), the end masked before ``min_len`` and a name
    reaching ``max_len`` cut there. Not a conditional distribution (``sample`` is): ``sample`` uses
    it, with exact rejection of the names it would cut, where that is faster."""
    check_sampling_settings(n, temperature, top_k, top_p, min_len, max_len)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    auto = automaton or _automaton(model)
    prefix_ids = model.vocabulary.encode_context(prefix, what="prefix")
    state = auto.start
    for symbol in prefix_ids:
        state = int(auto.next_of(np.array([state]), np.array([symbol]))[0])
    states = np.full(n, state, dtype=np.int64)  # of the names still going, in the order of alive
    steps = max(max_len - len(prefix_ids), 0)
    # One row per step, so each step writes one row; the smallest integer type that holds an id.
    out = np.zeros((steps, n), dtype=np.uint8 if model.V <= 256 else np.int64)
    alive = np.arange(n)
    # Without reshaping, a plain draw (<unk> left out) needs no dense row: the sparse automaton's
    # draw, or a cached CDF row (``scoring.LazyRows``).
    plain = (getattr(auto, "masked", None) == model.vocabulary.unk_id
             and temperature == 1.0 and top_k is None and top_p is None)
    used = 0  # steps taken: the rows after them are all end symbols, not worth decoding
    for step in range(steps):
        if len(alive) == 0:
            break
        used = step + 1
        if plain and hasattr(auto, "draw") and len(prefix_ids) + step >= min_len:
            symbol, states = auto.draw(states, rng)
            out[step, alive] = symbol
            going = symbol != BOUNDARY
            states, alive = states[going], alive[going]
            continue
        plain_cdf = plain and hasattr(auto, "cdf_of")
        cdf = auto.cdf_of(states) if plain_cdf and len(prefix_ids) + step >= min_len else None
        if cdf is None or not np.all(cdf[:, -1] > 0):  # (a row with only <unk> takes the long way)
            rows = auto.rows_of(states)
            if model.vocabulary.unk:
                rows = rows.copy()
                rows[:, model.vocabulary.unk_id] = 0.0  # <unk> is not a character to write down
            if len(prefix_ids) + step < min_len:
                rows = rows.copy()
                rows[:, BOUNDARY] = 0.0
            dead_rows = rows.sum(axis=1) <= 0
            if dead_rows.any():  # only masked symbols left: end the name here
                rows = rows.copy()
                rows[dead_rows, BOUNDARY] = 1.0
            rows = adjust_rows(rows, temperature, top_k, top_p)
            cdf = np.cumsum(rows, axis=1)
        u = rng.random(len(alive))[:, None] * cdf[:, -1:]
        symbol = np.minimum((cdf <= u).sum(axis=1), model.V - 1)
        out[step, alive] = symbol
        going = symbol != BOUNDARY
        states = auto.next_of(states[going], symbol[going])
        alive = alive[going]
    return _decode_rows(out[:used].T, model, prefix)


def _automaton(model: Model):
    """The sparse automaton; dense rows for every state up front only for a unigram model or one
    whose n-gram set is not closed."""
    if model.order > 1 and np.array_equal(model.levels[0].keys, np.arange(model.V)):
        try:
            return SparseAutomaton(model)
        except _NotClosed:
            pass
    return build_automaton(model)


def _decode_rows(out: np.ndarray, model: Model, prefix: str) -> list[str]:
    """Each row's symbols up to its first end symbol as text, all rows in one decode."""
    vocab = model.vocabulary
    # The boundary becomes a newline that splits the names; <unk> (never drawn) writes nothing.
    points = np.array([10] + [ord(c) for c in vocab.characters] + ([0] if vocab.unk else []), dtype=np.uint32)
    ended = np.concatenate((out, np.full((len(out), 1), BOUNDARY, out.dtype)), axis=1)
    first_end = np.argmax(ended == BOUNDARY, axis=1)
    keep = np.arange(ended.shape[1])[None, :] <= first_end[:, None]
    if vocab.unk:
        keep &= ended != vocab.unk_id
    if points.max() < 128:  # an ASCII alphabet: one byte a character to write and decode
        text = points.astype(np.uint8)[ended[keep]].tobytes().decode("ascii")
    else:
        text = points[ended[keep]].tobytes().decode("utf-32-le", "surrogatepass")
    names = text.split("\n")[:-1]
    return [prefix + name for name in names] if prefix else names


@dataclass
class Novelty:
    samples: int
    in_training: int
    new: int
    distinct: int

    def summary(self) -> dict:
        return {"samples": self.samples, "in_training": self.in_training, "new": self.new, "distinct": self.distinct}


def novelty(model: Model, names: list[str]) -> tuple[Novelty, np.ndarray]:
    """How many samples are training names (by fingerprint), and a mask of the new ones."""
    if model.train_names is None or len(model.train_names) == 0:
        raise NgramError("this model does not record its training names (e.g. imported from ARPA); novelty needs them")
    hashes, known = hash_names(names), model.train_names  # sorted and distinct, as saved
    # searchsorted on the sorted fingerprints: np.isin hashes both arrays and is far slower.
    seen = known[np.minimum(np.searchsorted(known, hashes), len(known) - 1)] == hashes
    return Novelty(samples=len(names), in_training=int(seen.sum()), new=int((~seen).sum()),
                   distinct=len(set(names))), ~seen


# ----------------------------------------------------------------------------------------------
# Exact constrained generation: the model's automaton x the constraint's DFA
# ----------------------------------------------------------------------------------------------
CHUNK = 1 << 17  # names drawn at once: memory stays bounded whatever n is
MAX_NAMES = 1 << 32  # names in one run (hours of drawing; memory is bounded by CHUNK, not by this)
MIN_MASS = 1e-300  # a constraint with less mass than this (under the shaped rows) is refused
NO_PROGRESS_ROUNDS = 30  # novel-only / unique: rounds without one new name before giving up


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
        self._B = self._max = self._mass = None

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
        if getattr(self, "_reach", None) is None:
            S = self.auto.n_states
            reach, now = [], np.array([self.auto.start])
            for t in range(self.max_len + 1):
                if now is None or len(now) > S // 2:
                    now = None
                reach.append(now)
                if now is not None:
                    now = np.unique(self.auto.next[now, 1:])
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

    def best(self):
        """The valid names in order of decreasing probability (under the model's rows), as (ids,
        ln p): best-first search whose priority (ln p so far + the max table) is exact, so each
        name popped is the next most probable one."""
        import heapq

        H = self.max_tables()
        L, auto, dfa = self.max_len, self.auto, self.dfa
        first = H[L][auto.start, dfa.start]
        if not np.isfinite(first):
            return
        heap = [(-first, 0, 0.0, auto.start, dfa.start, 0, (), False)]
        counter = 1
        while heap:
            _, _, g, s, q, t, ids, ended = heapq.heappop(heap)
            if ended:
                yield ids, g
                continue
            row = auto.logrows[s]
            if t >= self.min_len and dfa.accept[q] and np.isfinite(row[BOUNDARY]):
                heapq.heappush(heap, (-(g + row[BOUNDARY]), counter, g + row[BOUNDARY], s, q, t, ids, True))
                counter += 1
            if t < L:
                r = L - t - 1
                nxt, nq = auto.next[s, 1:], dfa.delta[q, 1:]
                bound = row[1:] + H[r][nxt, nq]
                for c in np.flatnonzero(np.isfinite(bound)) + 1:
                    heapq.heappush(heap, (-(g + bound[c - 1]), counter, g + row[c], int(nxt[c - 1]), int(nq[c - 1]),
                                          t + 1, ids + (int(c),), False))
                    counter += 1


SPARSE_TABLE_CELLS = 80_000_000  # states x constraint states x (max-len + 1) of the sparse path's tables (640 MB)
ROW_CACHE = 32  # whole rows kept by the sparse path (each V floats and V next states)
CURSOR = 64  # candidates a best-first expansion of the sparse path holds at a time
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
        from ngram.lm.backoff.automaton import BackoffRows

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
            level = np.unique(np.concatenate(after)) if after else np.zeros(0, np.int64)
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

    def best(self):
        """As ``Plan.best``, each expansion's children taken from a whole row in order of their
        bound, a few at a time (the bound is an upper bound: names still come out in order)."""
        import heapq

        if not self.mass > 0:
            return
        H = self.max_tables()
        L, dfa = self.max_len, self.dfa
        first = H[L][self.start, dfa.start]
        if not np.isfinite(first):
            return
        # entries: (-priority, counter, kind, data); kind 0 a prefix to expand, 1 a whole name,
        # 2 the rest of an expansion's children (from its last one taken, in order of bound)
        heap = [(-first, 0, 0, (0.0, self.start, dfa.start, 0, ()))]
        counter = 1
        while heap:
            _, _, kind, data = heapq.heappop(heap)
            if kind == 1:
                yield data
                continue
            if kind == 0:
                g, s, q, t, ids = data
                logrow = self._row(s)[0]
                if t >= self.min_len and dfa.accept[q] and np.isfinite(logrow[BOUNDARY]):
                    heapq.heappush(heap, (-(g + logrow[BOUNDARY]), counter, 1, (ids, g + logrow[BOUNDARY])))
                    counter += 1
                if t >= L:
                    continue
                cursor = (g, s, q, t, ids, np.inf, -1)
            else:
                cursor = data
            item = self._next_children(H, cursor)
            if item is None:
                continue
            (priority, child), rest = item
            heapq.heappush(heap, (-priority, counter, 0, child))
            heapq.heappush(heap, (-rest[0], counter + 1, 2, rest[1]))
            counter += 2

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


def make_plan(model, dfa, min_len: int, max_len: int, temperature: float = 1.0, top_k: int | None = None,
              top_p: float | None = None) -> Plan:
    """``Plan``, or ``SparsePlan`` for a back-off model whose dense rows would be too large."""
    from ngram.lm.backoff.automaton import too_large

    if SEQUENTIAL in model.capabilities:  # no finite state: a prefix read directly, the rest by rejection
        from ngram.generation.rejection import RejectionPlan

        shaped = temperature != 1.0 or top_k is not None or top_p is not None
        return RejectionPlan(model, dfa, min_len, max_len,
                             (lambda rows: adjust_rows(rows, temperature, top_k, top_p)) if shaped else None)
    if _levels_or_none(model) is not None and too_large(model):
        return SparsePlan(model, dfa, min_len, max_len, temperature, top_k, top_p)
    return Plan(model, dfa, min_len, max_len, temperature, top_k, top_p)


@dataclass
class Generation:
    """What ``generate`` returns: the names and how much of the model's mass the constraint holds."""

    names: list[str]
    sampler: "Sampler"
    rejected: int = 0  # draws left out by --novel-only / --unique

    @property
    def mass(self) -> float:
        """The model's probability of the constraint set (before temperature; novelty not counted),
        computed on first use (the length-only fast path does not need it to draw)."""
        return self.sampler.mass

    @property
    def description(self) -> str:
        return self.sampler.description

    def summary(self) -> dict:
        return {"names": len(self.names), "constraint": self.description, "probability": self.mass,
                "rejected_draws": self.rejected}


class Sampler:
    """Exact constrained sampling from any model of the protocol: ``mass``, then ``chunks(n, seed)``.

    A whole-name mixture draws each name's component with probability wᵢ Zᵢ / Σ wᵢ Zᵢ (Zᵢ: the
    constraint's mass under component i, a right-to-left component seeing the reversed DFA), then
    the name from that component. A model without <unk>, with only length constraints and no
    temperature / top-k / top-p, draws with the fast walk and rejects the names it would cut or
    that are too short (exact: the walk gives every complete name its probability)."""

    def __init__(self, model, constraints=None, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None):
        c = constraints if constraints is not None else Constraints()
        check_shaping(temperature, top_k, top_p)
        self.model, self.constraints = model, c
        self.shaping = (temperature, top_k, top_p)
        self.shaped = temperature != 1.0 or top_k is not None or top_p is not None
        dfa = c.dfa(model.vocabulary)
        self.parts = []  # (weight, model, reverse, dfa)
        reversed_dfa = None
        for weight, component, reverse in name_components(model):
            if weight <= 0:
                continue
            if reverse and reversed_dfa is None:
                reversed_dfa = dfa.reversed()
            self.parts.append((float(weight), component, bool(reverse), reversed_dfa if reverse else dfa))
        self._plans: dict[int, Plan] = {}
        self._walkers: dict = {}  # the fast walk's automaton per component
        self._slow: set[int] = set()  # components whose walk rejected too much: the exact path
        self.description = c.describe()

    def plan(self, i: int) -> Plan:
        if i not in self._plans:
            _, component, _, dfa = self.parts[i]
            t, k, p = self.shaping
            self._plans[i] = make_plan(component, dfa, self.constraints.min_len, self.constraints.max_len, t, k, p)
        return self._plans[i]

    def _fast(self, i: int) -> bool:
        _, component, _, _ = self.parts[i]
        c = self.constraints
        return (i not in self._slow and not self.shaped and c.is_length_only() and c.min_len <= 1 and component.vocabulary.unk_id is None
                and _levels_or_none(component) is not None)

    @property
    def mass(self) -> float:
        return float(sum(w * self.plan(i).mass for i, (w, *_) in enumerate(self.parts)))

    @property
    def mass_error(self) -> float | None:
        """The standard error of ``mass`` where a component's mass is estimated by drawing (a model
        with no finite state, ``ngram.generation.rejection``); None where it is exact."""
        errors = [w * self.plan(i).mass_error for i, (w, component, *_) in enumerate(self.parts)
                  if SEQUENTIAL in component.capabilities]
        return math.sqrt(sum(e * e for e in errors)) if errors else None

    def _component_weights(self) -> np.ndarray:
        if len(self.parts) == 1:
            return np.ones(1)  # (its draw checks the mass when it needs the tables)
        gen = np.array([w * self.plan(i).gen_mass for i, (w, *_) in enumerate(self.parts)])
        if not gen.sum() > MIN_MASS:
            self._refuse()
        return gen / gen.sum()

    def _refuse(self):
        if not self.mass > 0:
            raise NgramError(f"no name the model can make meets the constraints ({self.description})")
        if self.shaped:
            raise NgramError(f"after temperature / top-k / top-p no name meets the constraints ({self.description}: "
                             f"{self.mass:.3g} of the model's own mass)")
        raise NgramError(f"the constraints leave too little mass to sample from ({self.description}: "
                         f"{self.mass:.3g} of the model's mass)")

    def _draw_part(self, i: int, m: int, rng: np.random.Generator) -> list[str]:
        _, component, reverse, _ = self.parts[i]
        names = self._draw_fast(i, m, rng) if self._fast(i) else None
        if names is None:
            plan = self.plan(i)
            if not plan.gen_mass > MIN_MASS:
                self._refuse()
            names = _decode_rows(plan.draw(m, rng), component, "")
        return [x[::-1] for x in names] if reverse else names

    def _draw_fast(self, i: int, m: int, rng: np.random.Generator) -> list[str] | None:
        """``m`` names by the walk with exact rejection, or None (and the exact path from then on)
        when it rejects more than a third of its draws."""
        c, component = self.constraints, self.parts[i][1]
        got: list[str] = []
        auto = self._walkers.get(i) or self._walkers.setdefault(i, _automaton(component))
        while len(got) < m:
            need = m - len(got)
            ask = need + need // 8 + 16
            drawn = sample_walk(component, ask, seed=rng, min_len=0, max_len=c.max_len + 1, automaton=auto)
            kept = [x for x in drawn if c.min_len <= len(x) <= c.max_len]
            if len(kept) < ask * 2 // 3:
                self._slow.add(i)
                return None
            got += kept[:need]
        return got

    def chunks(self, n: int, seed=None, chunk: int = CHUNK):
        """``n`` names, a list of at most ``chunk`` at a time (reproducible for a seed)."""
        if n < 0:
            raise NgramError(f"number of samples must be 0 or more, got {n}")
        if n > MAX_NAMES:
            raise NgramError(f"{n} names is too much for one run (at most {MAX_NAMES:,}); sample in several runs "
                             "with different seeds")
        if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
            raise NgramError(f"seed must be a whole number 0 or more, got {seed!r}")
        rng = np.random.default_rng(seed)
        weights = self._component_weights() if n else None
        c = self.constraints
        novel = c.novel_only
        if novel and (self.model.train_names is None or len(self.model.train_names) == 0):
            raise NgramError("--novel-only: this model does not record its training names (e.g. imported from ARPA)")
        seen: set[str] | None = set() if c.unique else None
        self.rejected = 0
        left, stalled = n, 0
        while left > 0:
            m = min(chunk, left)
            counts = rng.multinomial(m, weights)
            names: list[str] = []
            for i, k in enumerate(counts):
                if k:
                    names += self._draw_part(i, int(k), rng)
            if len(self.parts) > 1:
                names = [names[j] for j in rng.permutation(len(names))]
            kept = names
            if novel:
                _, new = novelty(self.model, names)
                kept = [x for x, ok in zip(names, new) if ok]
            if seen is not None:
                fresh = []
                for x in kept:
                    if x not in seen:
                        seen.add(x)
                        fresh.append(x)
                kept = fresh
            self.rejected += len(names) - len(kept)
            stalled = 0 if kept else stalled + 1
            if stalled >= NO_PROGRESS_ROUNDS:
                what = "new" if novel and seen is None else ("distinct" if not novel else "new distinct")
                raise NgramError(f"found only {n - left} {what} names of the {n} asked for: the constraints leave "
                                 f"too few ({self.description})")
            kept = kept[:left]
            left -= len(kept)
            if kept:
                yield kept

    def generate(self, n: int, seed=None) -> Generation:
        names: list[str] = []
        for part in self.chunks(n, seed):
            names += part
        return Generation(names=names, sampler=self, rejected=getattr(self, "rejected", 0))

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` most probable valid names (ln p under the model), most probable first."""
        if k < 0:
            raise NgramError(f"number of names must be 0 or more, got {k}")
        novel = self.constraints.novel_only
        if novel and (self.model.train_names is None or len(self.model.train_names) == 0):
            raise NgramError("--novel-only: this model does not record its training names (e.g. imported from ARPA)")
        streams = []
        for i, (w, component, reverse, _) in enumerate(self.parts):
            streams.append(_named(self.plan(i).best(), component, reverse, self.model if novel else None))
        if len(streams) == 1 and self.parts[0][0] == 1.0:
            return [x for _, x in zip(range(k), streams[0])]
        # Threshold algorithm over the components' best-first streams: a name none of them has
        # yielded yet has pᵢ <= (the last pᵢ stream i yielded) for every i, so its mixture
        # probability is at most Σᵢ wᵢ lastᵢ; stop once k found names reach that bound.
        weights = np.array([w for w, *_ in self.parts])
        last = np.zeros(len(streams))
        done = np.zeros(len(streams), bool)
        found: dict[str, float] = {}
        while True:
            for i, stream in enumerate(streams):
                if done[i]:
                    continue
                item = next(stream, None)
                if item is None:
                    done[i], last[i] = True, 0.0
                    continue
                name, logp = item
                last[i] = math.exp(logp)
                if name not in found:
                    found[name] = float(self.model.logprob(name))
            ranked = sorted(found.items(), key=lambda kv: -kv[1])
            bound = float(weights @ last)
            if done.all() or (len(ranked) >= k and math.exp(ranked[k - 1][1]) >= bound) or k == 0:
                return ranked[:k]


def _named(stream, component, reverse: bool, novel_model):
    """(name as read left to right, ln p) from a plan's (ids, ln p) stream, training names left out
    when ``novel_model`` is given."""
    chars = component.vocabulary.characters
    for ids, logp in stream:
        name = "".join(chars[i - 1] for i in ids)
        if reverse:
            name = name[::-1]
        if novel_model is not None and not novelty(novel_model, [name])[1][0]:
            continue
        yield name, logp


def _levels_or_none(model):
    try:
        return model.levels
    except (NgramError, AttributeError):
        return None


def _constraints_of(constraints, prefix, suffix, contains, exclude, regex, min_len, max_len, novel_only, unique):
    if constraints is not None:
        return constraints
    return Constraints(min_len=min_len, max_len=max_len, prefix=prefix, suffix=suffix, contains=contains,
                       exclude=exclude, regex=regex, novel_only=novel_only, unique=unique)


def generate(model, n: int = 10, seed=None, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, prefix: str = "", min_len: int = 1, max_len: int = 50, suffix: str = "",
             contains=(), exclude=(), regex: str | None = None, novel_only: bool = False, unique: bool = False,
             constraints=None) -> Generation:
    """``n`` names drawn exactly from the model's distribution restricted to the names meeting every
    constraint (renormalised), with the constraint's mass. Any model kind of the protocol."""
    c = _constraints_of(constraints, prefix, suffix, contains, exclude, regex, min_len, max_len, novel_only, unique)
    return Sampler(model, c, temperature, top_k, top_p).generate(n, seed)


def sample(model, n: int = 10, seed=None, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, prefix: str = "", min_len: int = 1, max_len: int = 50, **more) -> list[str]:
    """``generate(...).names``: the names only."""
    return generate(model, n, seed, temperature, top_k, top_p, prefix, min_len, max_len, **more).names


def top(model, k: int = 20, prefix: str = "", min_len: int = 1, max_len: int = 50, suffix: str = "",
        contains=(), exclude=(), regex: str | None = None, novel_only: bool = False,
        constraints=None) -> list[tuple[str, float]]:
    """The ``k`` most probable names meeting the constraints, exactly, as (name, ln p)."""
    c = _constraints_of(constraints, prefix, suffix, contains, exclude, regex, min_len, max_len, novel_only, False)
    return Sampler(model, c).top(k)
