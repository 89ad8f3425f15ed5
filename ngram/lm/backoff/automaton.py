"""A next-symbol model as a deterministic finite automaton over context states, and what it gives:
exact prefix masses (for left-to-right and right-to-left models) and so exact next-symbol vectors of
whole-name mixtures.

States are the model's stored contexts (the longest stored suffix of the history); from a state,
``next[state, symbol]`` is the state after the symbol and ``logrows[state]`` the next-symbol
ln-vector (V entries, index 0 = end of name). A back-off ``Model`` gives them directly from its
levels (``build_automaton``). An order mixture reads the same contexts as its highest-order
component (whose n-grams are the counted ones, a superset of every other component's, so its state
determines every component's longest stored context and the weight bucket): its automaton is that
component's transitions with the mixture's own rows, as its ``View`` makes them (one way to an order
mixture's rows, whether a question needs a few states or all of them).

The rows are dense (states x V), which is what generation and prefix masses read; ``MAX_CELLS``
bounds them. Past it (a large vocabulary) a back-off model is read as ``BackoffRows``: the same
automaton without a V-wide row per state, its sums over next symbols done by the back-off
recursion (a row is its context's stored children plus the back-off weight times its suffix's
row), and a whole row made only for the few states a draw or a search stands in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY
from ngram.lm.backoff import scoring
from ngram.lm.backoff.closure import closed
from ngram.lm.base import logsumexp
from ngram.lm.protocol import LEVELS, MIXED_CONTEXTS

MAX_CELLS = 60_000_000  # states x V of one dense automaton (about 1 GB for rows and transitions)
TAIL_MASS = 1e-16  # expected visits are summed until the mass of unfinished names is below this


@dataclass
class ContextAutomaton:
    logrows: np.ndarray  # states x V, ln p(symbol | state)
    next: np.ndarray  # states x V, int32: the state after each symbol (column 0 unused: the end)
    start: int  # the state right after the start symbol
    _visits: np.ndarray | None = field(default=None, repr=False)
    _inflow: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_states(self) -> int:
        return len(self.logrows)

    @property
    def V(self) -> int:
        return self.logrows.shape[1]

    def rows(self) -> np.ndarray:
        return np.exp(self.logrows)

    def walk(self, ids, state: int | None = None) -> int:
        state = self.start if state is None else state
        for symbol in ids:
            state = int(self.next[state, int(symbol)])
        return state

    def walk_all(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """From every state at once, reading ``ids``: the ln-probability of emitting them and the
        state reached."""
        states = np.arange(self.n_states)
        total = np.zeros(self.n_states)
        for symbol in ids:
            total += self.logrows[states, int(symbol)]
            states = self.next[states, int(symbol)]
        return total, states

    def visits(self) -> np.ndarray:
        """Expected number of visits of each state by a name drawn from the model (start included):
        v = Σ_t α_t with α_0 = the start state and α_{t+1} = α_t T (T: the transitions on characters,
        the end symbol leaving). The series is summed until Σ α_t, the probability that a name is
        longer than t characters, falls below ``TAIL_MASS``: every neglected term is a probability of
        some name longer than t, so any prefix mass computed from v is short by at most that much
        (an absolute bound, whatever the model)."""
        if self._visits is not None:
            return self._visits
        S, V = self.logrows.shape
        rows = np.exp(self.logrows[:, 1:])
        targets = self.next[:, 1:]
        alpha = np.zeros(S)
        alpha[self.start] = 1.0
        v = alpha.copy()
        for _ in range(100_000):
            live = np.flatnonzero(alpha)
            flow = alpha[live, None] * rows[live]
            alpha = np.bincount(targets[live].ravel(), weights=flow.ravel(), minlength=S)
            v += alpha
            if alpha.sum() < TAIL_MASS:
                break
        else:
            raise NgramError("the model's names do not end (mass of unfinished names stays above 1e-16)")
        self._visits = v
        return v

    def inflow(self) -> np.ndarray:
        """U (states x characters): U[q', c] = Σ over states q with next(q, c) = q' of v(q) p(c | q),
        the expected flow into q' on character c. A right-to-left model's prefix vectors are then
        one product per step: Σ_q v(q) p(c | q) g(next(q, c)) = Σ_q' U[q', c] g(q')."""
        if self._inflow is None:
            v, S = self.visits(), self.n_states
            flow = v[:, None] * np.exp(self.logrows[:, 1:])
            self._inflow = np.stack([np.bincount(self.next[:, c], weights=flow[:, c - 1], minlength=S)
                                     for c in range(1, self.V)], axis=1)
        return self._inflow


@dataclass
class Automaton:
    rows: np.ndarray  # states × V probabilities (float64)
    next_state: np.ndarray  # states × V int64
    start: int  # the state right after the start symbol

    # The interface ``sample`` walks (a whole automaton's, or the sparse one's).
    def rows_of(self, states: np.ndarray) -> np.ndarray:
        return self.rows[states]

    def next_of(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        return self.next_state[states, symbols]


def build_automaton(model) -> Automaton:
    """Every state's probability row and next states (``build``'s, in probabilities)."""
    auto = _build(model)
    return Automaton(rows=np.exp(auto.logrows), next_state=auto.next.astype(np.int64), start=auto.start)


def too_large(model) -> bool:
    """Whether the dense automaton of ``model`` would pass ``MAX_CELLS`` (states x V), from the
    sizes of its stored contexts (no automaton is made to find out)."""
    base = model if LEVELS in model.capabilities else states_model(model)
    states = sum(len(level) for level in base.levels[: base.order - 1]) or 1
    return states * model.V > MAX_CELLS


def build(model) -> ContextAutomaton:
    """The automaton of a next-symbol model (a back-off model or an order mixture)."""
    return cached(model, "context", lambda: _build(model))


def _build(model) -> ContextAutomaton:
    base = states_model(model)
    states = sum(len(level) for level in base.levels[: base.order - 1]) or 1
    if states * model.V > MAX_CELLS:
        raise NgramError(f"this model has {states:,} context states x {model.V:,} symbols, more than exact "
                         f"generation's dense tables hold ({MAX_CELLS:,} cells); prune it first (ngram prune)")
    # Every state's row and next states from a view of its own (the one view makes every row,
    # for a few states or all of them), numbered without the empty context: dense state i is the
    # view's node i + 1 (an order-1 model's one state is the empty context).
    whole = View(model)
    if base.order == 1:
        return ContextAutomaton(logrows=whole.logrows_of(np.zeros(1, np.int64)), next=np.zeros((1, model.V), np.int32),
                                start=0)
    slots = whole.slots_of(np.arange(1, states + 1))
    return ContextAutomaton(logrows=whole.logrows[slots], next=(whole.follow[slots] - 1).astype(np.int32),
                            start=whole.start_state - 1)


class BackoffRows:
    """A back-off model's automaton without a V-wide row per state (for large vocabularies).

    It reads the structure of the model's lean automaton (``scoring.lean``) and numbers states and
    nodes as it does: node 0 is the empty context, then the n-grams order by order; nodes below
    ``n_states`` (orders 0..N-1) are the states. Rows may be reshaped by a temperature T and a
    masked symbol (<unk>): the unnormalised row is
    u(s, c) = p*(sc)^(1/T) where sc is stored, else bow(s)^(1/T) u(suffix(s), c) (the masked
    symbol 0), and ``Z(s)`` its total; the row is u / Z. Without reshaping the rows are the
    model's own (Z = 1, not divided by).

    ``backoff_sum(v)``: for per-node values v_x = u_x g_x (g_x any value of the node's symbol and
    the state after it), every state's Σ_c u(s, c) g(s, c) at once. From a state s the next
    symbol c reaches the node of the longest stored n-gram ending in c, so for a symbol s does
    not store the term is bow(s) times its suffix's term, and

        F(s) = Σ_{x child of s} (v_x - bow(s) v_{suffix(x)}) + bow(s) F(suffix(s)),

    one pass per order (the suffix of an order-n state has order n-1). ``backoff_max`` is the
    same with max for sum and without the subtraction: an upper bound of max_c u(s, c) g(s, c)
    (the suffix's best symbol may be one s stores), which best-first search needs admissible
    only. ``row(s)`` is one state's whole ln-row and next states, made as ``build_automaton``
    makes rows (the same floats).
    """

    def __init__(self, model, temperature: float = 1.0, masked: int | None = None):
        sc = scoring.lean(model)  # (the load-time check has usually made it already)
        if sc is None:
            raise NgramError("model n-grams are not closed under prefixes and suffixes; load it through ngram "
                             "so it is repaired")
        V, N = model.V, model.order
        self.V, self.order = V, N
        offset = sc.order_offsets[1:]
        self.offset = offset
        n_nodes, S = int(offset[N]), sc.n_states
        self.n_states = S
        self.symbol = sc.symbol.astype(np.int64)
        self.suffix = sc.suffix.astype(np.int64)
        self.run_length = scoring.child_counts(sc, 0, S).astype(np.int64)
        self.parent = np.zeros(n_nodes, np.int64)  # (every node but the empty context is one state's child)
        self.parent[1:] = np.repeat(np.arange(S), self.run_length)
        self.logp = np.full(n_nodes, -np.inf)
        self.logp[1:] = sc.logp[1:]
        self.bow = sc.bow.copy()
        self.first = np.where(self.run_length > 0, sc.first, 0).astype(np.int64)
        self.after = self.suffix.copy()  # the state after a node: itself while it is a context
        self.after[:S] = np.arange(S)
        self.start = int(offset[0] + BOUNDARY) if N > 1 else 0
        self.shaped = temperature != 1.0 or masked is not None
        logu = self.logp / temperature
        if masked is not None:
            logu[self.symbol == masked] = -np.inf
            logu[0] = -np.inf
        self.logu, self.logbeta = logu, self.bow / temperature
        self.u, self.beta = np.exp(logu), np.exp(self.logbeta)
        self.u[0] = 0.0
        self.Z = np.maximum(self.backoff_sum(self.u), 0.0) if self.shaped else np.ones(S)
        # u(s, end) of every state: its own stored end, else bow times its suffix's
        end = np.zeros(S)
        end[0] = self.u[int(offset[0]) + BOUNDARY]
        ends = np.flatnonzero((self.symbol == BOUNDARY) & (np.arange(n_nodes) >= int(offset[1] if N > 1 else n_nodes)))
        own = np.full(S, -1, np.int64)
        own[self.parent[ends]] = ends
        for n in range(1, N):
            lo, hi = int(offset[n - 1]), int(offset[n])
            mine = own[lo:hi]
            end[lo:hi] = np.where(mine >= 0, self.u[np.maximum(mine, 0)], self.beta[lo:hi] * end[self.suffix[lo:hi]])
        self.dead = self.Z <= 0  # only the masked symbol left: such a row ends the name
        self.end = np.where(self.dead, 1.0, end / np.where(self.dead, 1.0, self.Z))

    def _by_order(self, values: np.ndarray, child: np.ndarray, combine) -> np.ndarray:
        out = np.empty(self.n_states)
        out[0] = child[0]
        for n in range(1, self.order):
            lo, hi = int(self.offset[n - 1]), int(self.offset[n])
            below = out[self.suffix[lo:hi]]
            out[lo:hi] = combine(child[lo:hi], self.beta[lo:hi] * below) if combine is np.add else \
                np.maximum(child[lo:hi], self.logbeta[lo:hi] + below)
        return out

    def backoff_sum(self, v: np.ndarray) -> np.ndarray:
        """Per state, Σ_c u(s, c) g(s, c) for node values v = u g (see the class docstring)."""
        d = v.copy()
        lo = int(self.offset[1]) if self.order > 1 else len(v)
        d[lo:] -= self.beta[self.parent[lo:]] * v[self.suffix[lo:]]
        d[0] = 0.0
        child = np.bincount(self.parent[1:], weights=d[1:], minlength=self.n_states)
        return self._by_order(v, child, np.add)

    def backoff_max(self, logv: np.ndarray) -> np.ndarray:
        """Per state, an upper bound of max_c ln(u(s, c) g(s, c)) for node values ln(u g)."""
        child = np.full(self.n_states, -np.inf)
        np.maximum.at(child, self.parent[1:], logv[1:])
        return self._by_order(logv, child, np.maximum)

    def children(self, s: int) -> slice:
        first = int(self.first[s])
        return slice(first, first + int(self.run_length[s])) if first else slice(0, 0)

    def chain(self, s: int) -> list[int]:
        """s, its suffix, ..., the empty context."""
        out = [int(s)]
        while out[-1] != 0:
            out.append(int(self.suffix[out[-1]]))
        return out

    def row(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """The model's ln-row of state s (V entries, unshaped) and the state after each symbol."""
        unigram = self.children(0)
        logrow = self.logp[unigram].copy()
        nxt = self.after[unigram].copy()
        for state in self.chain(s)[-2::-1]:
            logrow = self.bow[state] + logrow
            kids = self.children(state)
            logrow[self.symbol[kids]] = self.logp[kids]
            nxt[self.symbol[kids]] = self.after[kids]
        return logrow, nxt


def states_model(model):
    """The back-off table whose contexts are the automaton's states: the model's own (closed under
    prefixes and suffixes, ``closure.closed``: a copy with the same rows where it is not), or, for
    an order mixture, its highest-order component's."""
    if LEVELS in model.capabilities:
        return model if scoring.lean(model) is not None else cached(model, "closed", lambda: closed(model))
    if MIXED_CONTEXTS in model.capabilities:  # (fitted on one set of counts: closed as they are)
        return max(model.components, key=lambda m: m.order)
    raise NgramError(f"{model.describe()}: no context automaton (it is not a next-symbol model)")


def _store(model) -> dict:
    """What is made once per model, kept in the model's own dictionary (dropped with it)."""
    return vars(model).setdefault("_automata", {})


def cached(model, key: str, make):
    """``make()`` once per model (kept in the model's own dictionary, dropped with it)."""
    store = _store(model)
    if key not in store:
        store[key] = make()
    return store[key]


# ----------------------------------------------------------------------------------------------
# Prefix masses: P(s…) = total probability of the names that start with s
# ----------------------------------------------------------------------------------------------
def prefix_logmass(model, ids, reverse: bool) -> float:
    """ln P(s…) for the symbol ids ``s`` (characters, left to right as the user reads them).

    A left-to-right model: the product of its conditionals along s. A right-to-left model reads
    names reversed, so names starting with s end its reading with reversed s: Σ_q v(q) ·
    p(reversed s, then the end | q), over the expected visits v of each state (``visits``)."""
    auto = build(model)
    if not reverse:
        state, total = auto.start, 0.0
        for symbol in ids:
            total += auto.logrows[state, int(symbol)]
            state = int(auto.next[state, int(symbol)])
        return float(total)
    emit, reached = auto.walk_all(list(ids)[::-1])
    emit = emit + auto.logrows[reached, BOUNDARY]
    return _log_dot(auto.visits(), emit)


def next_prefix_logmasses(model, ids, reverse: bool) -> tuple[float, np.ndarray]:
    """(ln P(s…), a V-vector: ln P(s·c…) for every character c and, at index 0, ln p(s), the name s
    itself). The vector's entries add up to P(s…)."""
    auto = build(model)
    V = auto.V
    if not reverse:
        state, total = auto.start, 0.0
        for symbol in ids:
            total += auto.logrows[state, int(symbol)]
            state = int(auto.next[state, int(symbol)])
        return float(total), total + auto.logrows[state]
    # g(q) = p(reversed s, then the end | q); P(s·c…) = Σ_q v(q) p(c | q) g(next(q, c)).
    emit, reached = auto.walk_all(list(ids)[::-1])
    g = emit + auto.logrows[reached, BOUNDARY]
    out = np.empty(V)
    out[BOUNDARY] = g[auto.start]  # the name s itself: reversed s read from the start, then the end
    out[1:] = _flow_vector(auto, g)
    return _log_dot(auto.visits(), g), out


def _flow_vector(auto: ContextAutomaton, g: np.ndarray) -> np.ndarray:
    """ln Σ_q v(q) p(c | q) exp g(next(q, c)) for every character c (``ContextAutomaton.inflow``),
    scaled by the largest g so nothing overflows; an entry lost to underflow is summed in logs."""
    top = float(g.max())
    with np.errstate(divide="ignore"):
        # einsum, not a BLAS product: BLAS threads spin against each other on a busy machine and
        # made this 30 times slower for a product this small.
        out = top + np.log(np.einsum("qc,q->c", auto.inflow(), np.exp(g - top)))
    lost = np.flatnonzero(~np.isfinite(out))
    if len(lost):
        with np.errstate(divide="ignore"):
            logv = np.log(auto.visits())
        terms = logv[:, None] + auto.logrows[:, 1 + lost] + g[auto.next[:, 1 + lost]]
        out[lost] = logsumexp(terms, axis=0)
    return out


def _log_dot(v: np.ndarray, logx: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        return float(logsumexp(np.log(v) + logx, axis=0))


# ----------------------------------------------------------------------------------------------
# Whole-name mixtures: their components (the exact next-symbol vectors are ngram.lm.mixtures.name_rows)
# ----------------------------------------------------------------------------------------------
def name_components(model) -> list:
    """``model.name_components()`` (the protocol): (weight, next-symbol model, reads right to left)."""
    return model.name_components()


# ----------------------------------------------------------------------------------------------
# The one lazy view: rows only for the states asked about
# ----------------------------------------------------------------------------------------------
WIDTH_LIMIT = 1 << 12  # vocabularies up to this keep whole rows per state reached (else the sparse forms)
FEW_CONTEXTS = 4096  # an order mixture mixes fewer rows at once through its own answers, more through its components' views
ROW_CELLS = 1 << 28  # (state, symbol) cells a View reserves up front (address space: only rows made take memory)
GUIDES = 64  # guide cells per slot at least (``View.step``)
TABLE_CELLS = 1 << 17  # (slot, symbol) cells whose draw tables are made at a time: the temporaries stay in cache


class View:
    """A next-symbol model (a back-off model, or an order mixture read through its highest-order
    component's contexts) as an automaton whose rows are made only for the states asked about.

    States are the back-off table's stored contexts, numbered as ``scoring.Scorer`` numbers its
    nodes (node 0 the empty context, then order 1, 2, ...). A state asked about gets a slot: its
    ln-row; for plain draws (<unk> left out) its running sums of probabilities divided by their
    total and a guide table (``step``); and its next states (the state after each symbol, made with
    the row from its stored children and its suffix's next states, as ``build_automaton`` makes
    them). A slot's base is ``slot * width`` (``width``: a power of two >= V), and a guide entry
    a state times the width plus a symbol, split again with a shift and a mask.
    A back-off model's row is its stored children and, for every other symbol, its
    back-off weight plus its suffix's row (the same floats as ``build_automaton``); an order
    mixture's rows are its own answers at the state's context (``logprob_keys``), so only the
    contexts a question reaches are ever mixed. Slots are reserved for every state up front where
    that fits in ``ROW_CELLS`` (untouched memory costs nothing), else grown as needed.
    """

    def __init__(self, model, mask_unk: bool = True, keep: int | None = None):
        base = states_model(model)
        # (a back-off model's own lean automaton, the one its load-time check made; an order
        # mixture's rows come from its components' levels: the structure alone serves it)
        scorer = scoring.lean(base) if LEVELS in model.capabilities else scoring.structure(base)
        if scorer is None:
            raise NgramError("model n-grams are not closed under prefixes and suffixes; load it through ngram "
                             "so it is repaired")
        self.model, self.base, self.scorer = model, base, scorer
        # ``transitions``' rows, by state (made on demand, apart from the slots' next-symbol rows)
        self._trans_at = np.full(scorer.n_states, -1, np.int32 if scorer.n_states < 2**31 else np.int64)
        self._trans = np.empty((0, model.V), scorer.suffix.dtype)
        self._trans_used = 0
        self.own_rows = LEVELS in model.capabilities
        self.V = V = model.V
        self.width = W = 1 << int(V - 1).bit_length()  # draw-table cells per slot: a power of two >= V
        # Guide cells per slot (a power of two, a multiple of the width): most cells of a row lie
        # inside one symbol, and such a draw reads nothing but its guide cell.
        self.guides = max(W, GUIDES)
        # <unk> left out of plain draws (renormalised), or kept so that a caller can reject the names
        # that hold it, which conditions on names without it exactly
        self.masked = model.vocabulary.unk_id if mask_unk else None
        self.start_state = scorer.start
        self.slot = np.full(scorer.n_states, -1, np.int32)
        # state ids, slot bases and guide entries (a state id shifted by log2(width), plus a symbol)
        # in 32 bits where they fit
        self.index = np.int32 if scorer.n_states * self.guides < 2**31 else np.int64
        self.used, self.capacity = 0, 0
        # the slots below this have the plain draw's tables (``_draw_tables``): made for the rows
        # made so far when a walk steps, so rows a plan or a search makes after walks hold none
        self.drawn = 0
        # ``keep``: at most this many rows at a time, those made before the newest request
        # dropped when it needs room (for a vocabulary too large to keep a row for every state
        # a long walk reaches: the rows are read and copied at once, never held by slot)
        self.keep = keep
        self._grow(min(scorer.n_states, keep or max(ROW_CELLS // V, 64)))
        self.root = int(self.slots_of(np.zeros(1, np.int64))[0])
        self.start = int(self.slots_of(np.array([scorer.start]))[0])
        self.pinned = self.used  # (the root's and the start's rows are never dropped)

    # ----- slots -----------------------------------------------------------------------------
    def _grow(self, cap: int) -> None:
        V, G, used = self.V, self.guides, self.used

        def grown(a, shape, dtype, rows: int = used):
            out = np.empty(shape, dtype)
            if rows:
                out[: rows * (len(out) // cap)] = a[: rows * (len(out) // cap)]
            return out

        self.state = grown(self.state if used else None, cap, np.int64)
        self.logrows = grown(self.logrows if used else None, (cap, V), np.float64)
        self.follow = grown(self.follow if used else None, (cap, V), self.index)
        # (the draw tables hold only the rows walked so far: copying the rest would only touch
        # memory, 0.5 KB a row)
        self.cdf = grown(self.cdf if used else None, cap * V, np.float64, self.drawn)
        self.guide = grown(self.guide if used else None, cap * G, self.index, self.drawn)
        self.capacity = cap

    def slots_of(self, states: np.ndarray) -> np.ndarray:
        """The slot of each state, rows made for those without one (and their suffixes)."""
        states = np.asarray(states, np.int64)
        slots = self.slot[states]
        if (slots < 0).any():
            self._make(scoring.distinct(states[slots < 0]))
            slots = self.slot[states]
        return slots

    def _make(self, states: np.ndarray) -> None:
        need = self._missing(states)
        if self.used + len(need) > self.capacity and self.keep is not None:
            gone = self.state[self.pinned : self.used]
            self.slot[gone], self.used = -1, self.pinned
            self.drawn = min(self.drawn, self.pinned)
            need = self._missing(states)
            if self.used + len(need) > self.capacity:
                raise NgramError(f"{len(need):,} distinct context states at once need more whole rows of {self.V:,} "
                                 f"symbols than are kept in memory ({self.capacity:,})")
        if self.used + len(need) > self.capacity:
            self._grow(max(2 * self.capacity, self.used + len(need)))
        sc = self.scorer
        if not self.own_rows:  # an order mixture's rows: every context at once
            self._store(need, self._rows_of_contexts(need), self.transitions(need).astype(self.index, copy=False))
            return
        bounds = np.searchsorted(need, sc.order_offsets)
        for a, b in zip(bounds[:-1], bounds[1:]):  # one order at a time (a row needs its suffix's)
            group = need[a:b]
            if not len(group):
                continue
            if group[0] == 0:
                rows, follow = np.empty((1, self.V)), np.empty((1, self.V), self.index)
            else:
                below = self.slot[sc.suffix[group]]
                rows, follow = self.logrows[below], self.follow[below]
            backoff_rows(sc, group, rows, follow, self.after)
            self._store(group, rows, follow)

    def _missing(self, states: np.ndarray) -> np.ndarray:
        """The states without a row among ``states`` (distinct) and, where a row builds on its
        suffix's, their suffixes, shortest first."""
        sc = self.scorer
        if self.own_rows:
            return scoring.with_suffixes(sc, states, self.slot < 0)
        need = scoring.distinct(states)
        return need[self.slot[need] < 0]

    def transitions(self, states: np.ndarray) -> np.ndarray:
        """The state after every symbol from each of ``states``, a row per state, made without any
        next-symbol row: a stored child's own next state, else the suffix's (made first, shortest
        contexts first, and kept: a plan's frontier and a search ask for every symbol of the states
        they reach, and their suffixes are mostly reached too)."""
        states = np.asarray(states, np.int64)
        at = self._trans_at[states]
        if (at < 0).any():
            sc, V = self.scorer, self.V
            need = scoring.with_suffixes(sc, states[at < 0], self._trans_at < 0)
            used = self._trans_used
            if used + len(need) > len(self._trans):
                grown = np.empty((max(2 * len(self._trans), used + len(need)), V), self._trans.dtype)
                grown[:used] = self._trans[:used]
                self._trans = grown
            bounds = np.searchsorted(need, sc.order_offsets)
            for a, b in zip(bounds[:-1], bounds[1:]):  # shortest contexts first: a row starts from its suffix's
                if a == b:
                    continue
                group = need[a:b]
                rows = self._trans[used + a : used + b]
                if group[0] == 0:
                    rows[:] = 0  # (the empty context stores every symbol: each is set below)
                else:
                    rows[:] = self._trans[self._trans_at[sc.suffix[group].astype(np.int64)]]
                row, symbol, node = scoring.children(sc, group)
                rows[row, symbol] = self.after(node)
                self._trans_at[group] = np.arange(used + a, used + b)
            self._trans_used = used + len(need)
            at = self._trans_at[states]
        return self._trans[at]

    def after(self, nodes: np.ndarray) -> np.ndarray:
        """The state after each node: itself while it is a context, else its suffix (worked out
        here rather than kept: a table of it would be another int a node)."""
        sc = self.scorer
        return np.where(nodes < sc.n_states, nodes, sc.suffix[nodes]).astype(sc.suffix.dtype, copy=False)

    def logcolumns(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """ln p(symbol | state) for each of ``states`` and a few ``symbols``: the same floats as
        those entries of the states' rows (each step that makes a row is entrywise), made
        without a row or a slot, for questions that read one column of many states (the end
        of a name at the length bound)."""
        states, symbols = np.asarray(states, np.int64), np.asarray(symbols, np.int64)
        distinct, inverse = np.unique(states, return_inverse=True)
        if not self.own_rows:
            return self._rows_of_contexts(distinct, symbols)[inverse.ravel()]
        sc, V = self.scorer, self.V
        place = np.full(V, -1, np.int64)
        place[symbols] = np.arange(len(symbols))
        closure = scoring.with_suffixes(sc, distinct)
        suffix_at = np.searchsorted(closure, sc.suffix[closure].astype(np.int64))
        out = np.empty((len(closure), len(symbols)))
        bounds = np.searchsorted(closure, sc.order_offsets)
        for a, b in zip(bounds[:-1], bounds[1:]):  # shortest contexts first, as rows are made
            if a == b:
                continue
            group = closure[a:b]
            if group[0] != 0:
                out[a:b] = out[suffix_at[a:b]]
            backoff_rows(sc, group, out[a:b], place=place)
        return out[np.searchsorted(closure, distinct)][inverse.ravel()]

    def expect_many_rows(self) -> None:
        """Told by a caller about to make rows at many states (a search, a plan's tables): an
        order mixture's components whose tables are made where read make them whole now, once,
        rather than piece by piece (the same floats either way)."""
        shared = None if self.own_rows else self.model.shared_levels()
        if shared is not None:
            shared.make_whole()

    def _rows_of_contexts(self, states: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """An order mixture's ln-rows at the contexts of ``states`` (their stored n-grams' keys);
        ``columns``: only these symbols' entries (with the shared levels; else whole rows, cut)."""
        sc, V = self.scorer, self.V
        order = np.searchsorted(sc.order_offsets, states, side="right") - 1  # 0: the empty context
        keys = np.zeros(len(states), np.int64)
        for n in scoring.distinct(order[order > 0]).tolist():
            at = order == n
            keys[at] = self.base.levels[n - 1].keys[states[at] - int(sc.order_offsets[n])]
        model = self.model
        shared = model.shared_levels()
        if shared is not None and shared.top is self.base:
            weights = np.asarray(model.weights, np.float64)
            buckets = model.buckets(keys * V, order)
            total = np.zeros((len(states), V if columns is None else len(columns)))
            for i, rows in shared.context_rows(states, sc, columns):
                w = weights[buckets, i] if weights.ndim == 2 else np.full(len(states), weights[i])
                rows *= w[:, None]
                total += rows
            with np.errstate(divide="ignore"):
                return np.log(total)
        if columns is not None:
            return self._rows_of_contexts(states)[:, columns]
        if len(states) < FEW_CONTEXTS or not all(LEVELS in c.capabilities for c in model.components):
            window = (keys[:, None] * V + np.arange(V)[None, :]).ravel()
            return model.logprob_keys(window, np.repeat(order, V)).reshape(len(states), V)
        # Each component's row from its own view, at its longest stored context of the history
        # (one search per context and component, not per context and symbol), mixed with the
        # weights of the context's bucket.
        weights = np.asarray(model.weights, np.float64)
        buckets = model.buckets(keys * V, order)
        total = np.zeros((len(states), V))
        for i, component in enumerate(model.components):
            w = weights[buckets, i] if weights.ndim == 2 else np.full(len(states), weights[i])
            total += w[:, None] * component_view(component).rows_of(_context_nodes(component, keys, order))
        with np.errstate(divide="ignore"):
            return np.log(total)

    def _store(self, states: np.ndarray, logrows: np.ndarray, follow: np.ndarray) -> None:
        slots = slice(self.used, self.used + len(states))  # (new slots are consecutive: slices, not indices)
        self.slot[states] = np.arange(self.used, self.used + len(states))
        self.state[slots] = states
        self.logrows[slots] = logrows
        self.follow[slots] = follow
        self.used += len(states)

    def _draw_tables(self, slots: slice) -> None:
        """The plain draw's tables of the rows in ``slots`` (made when a walk steps, for the rows
        made since the last step: a view read only for its rows, as an order mixture's components
        are, never makes them, nor do the rows a plan makes after the walks of a request)."""
        rows = max(TABLE_CELLS // self.width, 1)
        for lo in range(slots.start, slots.stop, rows):
            self._draw_block(lo, min(lo + rows, slots.stop))

    def _draw_block(self, lo: int, hi: int) -> None:
        cdf, guide = draw_tables(self.logrows[lo:hi], self.follow[lo:hi], self.masked, self.shift, self.guides)
        self.cdf.reshape(-1, self.V)[lo:hi] = cdf
        self.guide.reshape(-1, self.guides)[lo:hi] = guide

    # ----- what the walks, plans and searches read ---------------------------------------------
    def logrows_of(self, states: np.ndarray) -> np.ndarray:
        return self.logrows[self.slots_of(states)]

    def rows_of(self, states: np.ndarray) -> np.ndarray:
        return np.exp(self.logrows_of(states))

    def logrows_after(self, context_keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        """The ln-row after each context (packed keys of ``history`` symbols each): its longest stored
        context's row, made once per distinct state however many contexts reach it."""
        pairs = np.stack([np.asarray(context_keys, np.int64), np.minimum(history, self.base.order - 1)], axis=1)
        unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
        nodes = _context_nodes(self.base, unique[:, 0], unique[:, 1])
        return self.logrows[self.slots_of(nodes)[inverse.ravel()]]

    def next_states(self, states: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The state after each (state, symbol): the longest stored context of history + symbol."""
        return scoring.next_states(self.scorer, states, symbols).astype(np.int64)

    def next_slots(self, slots: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The slot after each (slot, symbol)."""
        return self.slots_of(self.follow[slots, symbols])

    @property
    def shift(self) -> int:
        return self.width.bit_length() - 1

    def bases(self, slots: np.ndarray) -> np.ndarray:
        """Each slot's first draw-table cell (what ``step`` reads)."""
        return slots.astype(self.index) << self.shift

    def bases_after(self, packed: np.ndarray) -> np.ndarray:
        """The bases of the slots after ``step``'s draws (rows made for states reached first)."""
        states = packed >> self.shift
        slots = self.slot[states]
        if slots.min(initial=0) < 0:
            new = np.flatnonzero(slots < 0)
            slots[new] = self.slots_of(states[new])
        return slots.astype(self.index) << self.shift

    def step(self, bases: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A plain draw (<unk> left out, renormalised) per slot (given by its ``bases``) from
        uniform draws ``u`` (``guided_draw``): the state after the symbol, shifted, plus the
        symbol. The draw tables of the rows made since the last step are made first."""
        if self.drawn < self.used:
            self._draw_tables(slice(self.drawn, self.used))
            self.drawn = self.used
        return guided_draw(self.guide, self.cdf, self.follow.reshape(-1), bases, u, self.shift, self.guides, self.V)


def guided_draw(guide: np.ndarray, cdf: np.ndarray, follow: np.ndarray, bases: np.ndarray, u: np.ndarray,
                shift: int, G: int, V: int) -> np.ndarray:
    """The plain draw from tables laid out by ``draw_tables`` (flat: ``G`` guide cells, ``V``
    running sums and next states a slot), for slots given by their bases (slot << ``shift``) and
    uniform draws ``u``: the state after the symbol, shifted by ``shift``, plus the symbol. The
    guide cell u falls in most often lies inside one symbol and then holds the answer itself;
    otherwise the symbol is the first whose running sum passes u, searched from the one the cell
    starts in. (np.take, not fancy indexing: the same reads, a third faster, and free of the
    interpreter's lock for their whole length, so two threads' draws overlap.)"""
    cell = (u * G).astype(guide.dtype)
    cell += bases if 1 << shift == G else (bases >> shift) * G
    packed = np.take(guide, cell)
    unsure = np.flatnonzero(packed < 0)
    if len(unsure):
        row = np.take(bases, unsure).astype(np.int64)
        row >>= shift
        row *= V
        at = row - 1 - np.take(packed, unsure)
        v = np.take(u, unsure)
        ahead = np.flatnonzero(np.take(cdf, at) <= v)
        while len(ahead):
            at[ahead] += 1
            ahead = ahead[np.take(cdf, np.take(at, ahead)) <= np.take(v, ahead)]
        packed[unsure] = (np.take(follow, at) << shift) | (at - row).astype(packed.dtype)
    return packed


def backoff_rows(sc, group: np.ndarray, rows: np.ndarray, follow: np.ndarray | None = None, after=None,
                 place: np.ndarray | None = None) -> None:
    """The rows of ``group`` (states of one order, the lean automaton ``sc``'s) finished in place
    from their suffixes' rows, already in ``rows`` (and next states in ``follow``): the back-off
    weight added, then each stored child's own ln p (and the state after it, ``after(node)``).
    The one back-off recursion of every row made from a lean automaton: a few states' (the
    view), every state's (``table_walk``), or a few columns' (``place``: each symbol's column,
    -1 where it is not kept). The empty context (node 0) stores every symbol."""
    if group[0] != 0:
        rows += sc.bow[group][:, None]
    row, symbol, node = scoring.children(sc, group)
    if place is not None:
        column = place[symbol]
        kept = column >= 0
        row, symbol, node = row[kept], column[kept], node[kept]
    rows[row, symbol] = sc.logp[node]
    if follow is not None:
        follow[row, symbol] = after(node)


def draw_tables(logrows: np.ndarray, follow: np.ndarray, masked, shift: int, G: int,
                cdf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The plain draw's tables of some ln-rows (``View.step``; <unk> at ``masked`` left out): each
    row's running sums divided by their total (written into ``cdf`` where given), and its ``G``
    guide cells (in ``follow``'s type), an entry being the state after a symbol (``follow``)
    shifted by ``shift``, plus the symbol."""
    index = follow.dtype.type
    k, V = logrows.shape
    cdf = np.exp(logrows, out=cdf)
    if masked is not None:
        cdf[:, masked] = 0.0
    # The running sums in place, a column at a time: the additions np.cumsum makes along a row, in
    # the same order (the same floats), but a pass over many rows each instead of a short loop a row.
    for s in range(1, V):
        np.add(cdf[:, s - 1], cdf[:, s], out=cdf[:, s])
    total = cdf[:, -1:].copy()
    dead = total[:, 0] <= 0  # nothing but <unk>: such a row ends the name
    total[dead] = 1.0
    # From the last symbol with mass on the running sum is the total, so x / x: exactly 1, and a
    # draw u < 1 never passes that symbol.
    cdf /= total
    cdf[dead] = 1.0
    # Symbol s holds the draws u in [cdf[s-1], cdf[s]), so the guide cells j / G with
    # ceil(cdf[s-1] G) <= j < ceil(cdf[s] G) start in s (exact: G is a power of two): a run of
    # cells per symbol, in order, G in all. Every cell of a run but the last lies inside s (a
    # certain cell, whose entry is the state after s, shifted, plus s); the last may hold
    # later symbols too (an uncertain cell: -1 - s, where its search starts), except for the
    # first symbol whose running sum is 1, as a draw below 1 never passes it.
    ends = np.ceil(cdf * G)
    np.minimum(ends, G, out=ends)
    parts = np.empty((k, V, 2), index)  # per symbol: its certain cells, then its last one
    runs = parts[:, :, 1]
    runs[:, 0] = ends[:, 0]
    runs[:, 1:] = np.diff(ends, axis=1)
    np.subtract(runs, 1, out=parts[:, :, 0])
    np.maximum(parts[:, :, 0], 0, out=parts[:, :, 0])
    np.minimum(runs, 1, out=runs)
    entries = np.empty((k, V, 2), index)
    np.left_shift(follow, shift, out=entries[:, :, 0])
    entries[:, :, 0] |= np.arange(V, dtype=index)
    entries[:, :, 1] = -1 - np.arange(V, dtype=index)
    last = (cdf < 1.0).sum(axis=1)
    rows = np.arange(k)
    entries[rows, last, 1] = entries[rows, last, 0]
    return cdf, np.repeat(entries.ravel(), parts.ravel()).reshape(k, G)


def _context_nodes(model, keys: np.ndarray, history: np.ndarray) -> np.ndarray:
    """The node (``scoring.Scorer`` numbering) of the longest stored context of each history
    (``keys``, ``history`` symbols each) in the back-off model ``model``."""
    V = model.V
    offset = np.cumsum([1] + model.n_ngrams())
    node = np.zeros(len(keys), np.int64)  # the empty context unless a longer one is stored
    todo = np.ones(len(keys), bool)
    for m in range(min(model.order - 1, int(history.max(initial=0))), 0, -1):
        at = np.flatnonzero(todo & (history >= m))
        if not len(at):
            continue
        index, stored = model.levels[m - 1].find(keys[at] % V**m)
        node[at[stored]] = offset[m - 1] + index[stored]
        todo[at[stored]] = False
    return node


def component_view(model) -> "View":
    return view(model)


def view(model, mask_unk: bool = True) -> View:
    """The model's ``View``, made once per model (and once more with <unk> drawn, where asked)."""
    return cached(model, "view" if mask_unk else "view-unk", lambda: View(model, mask_unk))


# ----------------------------------------------------------------------------------------------
# Completion bounds: per state, an upper bound of ln p of the best way to finish a name
# ----------------------------------------------------------------------------------------------
BOUNDS_KEY = "completion-bounds"
BOUND_CELLS = 1 << 26  # states x V past which no bounds are made (their rows and next states would take > 512 MB)
BOUND_ROUNDS = 200  # rounds of the fixed point at most (any round's answer is a bound)
BOUND_BLOCK = 1 << 16  # states whose rows are made, and updated, at a time
AT_LEAST = 4  # bounds are kept for completions of at least 0, 1, ..., AT_LEAST characters


def completion_bounds(model, make: bool = False, progress=None) -> np.ndarray | None:
    """Upper bounds of ln p of the most probable completion from each context state of the
    model's ``View``: row k (k = 0 ... ``AT_LEAST``) over completions of at least k characters
    before the end (row 0: the end, or a character and a completion from the next state), in
    float16 rounded up. A best-first search for the most probable names takes them as its
    heuristic (the row for the characters its constraints still need), so it expands the
    prefixes of the names it gives and few more; without them, 0 bounds every completion and
    every prefix more probable than the last name given is expanded: thousands for an order
    mixture's ten best, each needing a mixed row. They need every state's row, so a model file
    stores them (made at save time, ``make``, ``progress`` told of the states whose rows are
    made) rather than a search making them."""
    store = _store(model)
    if make and BOUNDS_KEY not in store:
        store[BOUNDS_KEY] = _completion_bounds(model, progress)
    return store.get(BOUNDS_KEY)


def keep_completion_bounds(model, bounds: np.ndarray) -> None:
    """Bounds read from a model file (checked against the states when a view is made)."""
    _store(model)[BOUNDS_KEY] = bounds


def _completion_bounds(model, progress=None) -> np.ndarray | None:
    # Row 0 is the largest fixed point of H = max(end, max_c row_c + H[next_c]), by rounds from
    # H = 0: the map is monotone and 0 bounds every completion (ln p <= 0), so every round's H is
    # a bound; the rounds stop once nothing falls. Row k: max_c row_c + row k-1 [next_c].
    if _too_many_cells(model):
        return None
    rows, follow, end = _all_rows(model, progress)
    H = np.zeros(len(end))
    for _ in range(BOUND_ROUNDS):
        new = _best_step(rows, follow, H, end)
        done = np.all(H - new <= 1e-9)
        H = new
        if done:
            break
    out = [H]
    for _ in range(AT_LEAST):
        out.append(_best_step(rows, follow, out[-1]))
    return _rounded_up(np.array(out), np.float16)


def length_bounds(model, max_len: int, make: bool = True, progress=None) -> np.ndarray | None:
    """E[j, s]: an upper bound (float32, rounded up) of ln p of the most probable completion of
    exactly j characters (then the end) from context state s, j = 0 ... ``max_len``: for a
    search whose names must be long (``top --rank per-symbol`` searches one length at a time),
    where the stored bounds (at least 0 ... ``AT_LEAST`` characters) see no difference between a
    name that may end soon and one that must go on. It needs every state's row (about a second
    per 200,000 states), so it is made once per model (``make``) by a question that searches
    many lengths; None past ``BOUND_CELLS`` or, without ``make``, where not made. ``progress``:
    ``start(total) -> advance(states)`` for the states whose rows are made."""
    have = _store(model).get("length-bounds")
    if have is None or len(have) <= max_len:
        if not make or _too_many_cells(model):
            return None
        rows, follow, end = _all_rows(model, progress)
        # In float32 (half the memory traffic of float64 on a large model): each step's sum and
        # maximum may round down by half a float32 unit, so each row is raised by a margin past
        # what j steps of rounding can take (2^-20 of its size a step, 16 times the rounding).
        E = [_rounded_up(end, np.float32)]
        for _ in range(max_len):
            E.append(_best_step(rows, follow, E[-1]))
        E = np.array(E)
        margin = (np.arange(max_len + 1, dtype=np.float32)[:, None] + 1) * np.float32(2**-20) * (1 + np.abs(E))
        finite = np.isfinite(E)  # (-inf: no completion of that length; raised, it would be NaN)
        E[finite] += margin[finite]
        _store(model)["length-bounds"] = have = E
    return have[: max_len + 1]


def _too_many_cells(model) -> bool:
    return view(model).scorer.n_states * model.V > BOUND_CELLS


def _all_rows(model, progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every context state's characters' ln-rows (float32 rounded up: still bounds), next states
    and ln p of the end (float64), made a block at a time by a view of its own (the model's view
    keeps only the rows its questions reach)."""
    v = View(model, keep=BOUND_BLOCK + 2)  # (+ the root and start rows, kept)
    v.expect_many_rows()
    n, V = v.scorer.n_states, model.V
    rows = np.empty((n, V - 1), np.float32)
    follow = np.empty((n, V - 1), v.index)
    end = np.empty(n, np.float64)
    advance = progress(n) if progress is not None else None
    # A back-off model's row is made from its suffix's, so a block's rows need its suffixes' too:
    # blocks of BOUND_BLOCK / (number of orders) states, whose suffix closure the view can hold
    # (whole blocks asked for 97,477 rows of a view keeping 65,538 on the word-list model).
    step = max(BOUND_BLOCK // len(v.scorer.order_offsets), 1) if v.own_rows else BOUND_BLOCK
    for a in range(0, n, step):
        b = min(n, a + step)
        slots = v.slots_of(np.arange(a, b))
        exact = v.logrows[slots]
        rows[a:b] = _rounded_up(exact[:, 1:], np.float32)
        follow[a:b] = v.follow[slots, 1:]
        end[a:b] = exact[:, BOUNDARY]
        if advance is not None:
            advance(b - a)
    return rows, follow, end


def _best_step(rows: np.ndarray, follow: np.ndarray, H: np.ndarray, end: np.ndarray | None = None) -> np.ndarray:
    """max over characters of ln p(c | s) + H[next state] (and the end, where given), in blocks."""
    new = np.empty(len(H), H.dtype)
    for a in range(0, len(H), BOUND_BLOCK):
        b = min(len(H), a + BOUND_BLOCK)
        new[a:b] = (rows[a:b] + H[follow[a:b]]).max(axis=1)
        if end is not None:
            np.maximum(new[a:b], end[a:b], out=new[a:b])
    return new


def _rounded_up(x: np.ndarray, dtype) -> np.ndarray:
    out = x.astype(dtype)
    low = out < x
    out[low] = np.nextafter(out[low], dtype(np.inf))
    return out
