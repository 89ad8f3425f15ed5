"""The plain left-to-right walk: many names at once, each symbol drawn from the model's row.

A name is a walk over the model's context automaton (``ngram.lm.backoff.automaton.View``): at each
step every unfinished name draws its next symbol by inverse CDF on its state's running sums: the
guide cell its uniform draw falls in gives the symbol and the state after it when the cell lies
inside one symbol (most draws: one table read), else the search starts there (``View.step``);
rows, running sums and guides exist only for the states names reach, unless so many names walk
at once that they reach most states: then a back-off model's tables are made for every state in
one pass (``ngram.generation.table_walk``), the same draws without looking up slots. A
vocabulary too large for whole rows (``automaton.WIDTH_LIMIT``) walks the sparse automaton of
stored children instead (``ngram.generation.sparse_draw``); a model whose n-gram set is not closed
under prefixes and suffixes walks the view of its closed copy (``ngram.lm.backoff.closure``).

The walk is not a conditional distribution under length bounds (it cuts names at ``max_len``);
``ngram.generation.sampler`` uses it with exact rejection where that is faster.
"""

from __future__ import annotations

import numpy as np
import numpy.random  # noqa: F401  (numpy loads it on first use; here its import is not a draw's cost)

from ngram.core.vocabulary import BOUNDARY
from ngram.generation.shaping import adjust_rows, check_sampling_settings
from ngram.generation import table_walk
from ngram.generation.sparse_draw import SparseAutomaton
from ngram.lm.backoff import automaton as automata
from ngram.lm.protocol import LEVELS

MANY_WALKS = 256  # names walked at once from which an order mixture's components make their tables whole


def walker(model, mask_unk: bool = True):
    """What ``sample_walk`` walks for ``model`` (made once per model): the lazy view; for a huge
    vocabulary the sparse automaton (of the n-gram set closed under prefixes and suffixes, as the
    view's is). Only the view can draw <unk> (``mask_unk`` False); the sparse automaton leaves it out."""
    if LEVELS in model.capabilities and model.V > automata.WIDTH_LIMIT and model.order > 1:
        return automata.cached(model, "sparse", lambda: SparseAutomaton(automata.states_model(model)))
    return automata.view(model, mask_unk)


def sample_walk(model, n: int = 10, seed: int | None = None, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None, prefix: str = "",
                min_len: int = 0, max_len: int = 50, automaton=None) -> list[str]:
    """``n`` names walked left to right, each symbol drawn from the model's row (<unk> left out,
    renormalised, then temperature / top-k / top-p), the end masked before ``min_len`` and a name
    reaching ``max_len`` cut there."""
    return decode(walk_ids(model, n, seed, temperature, top_k, top_p, prefix, min_len, max_len, automaton),
                  model, prefix)


def walk_ids(model, n: int, seed=None, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, prefix: str = "", min_len: int = 0, max_len: int = 50,
             automaton=None) -> np.ndarray:
    """``sample_walk``'s names as an (n, steps) array of symbol ids, 0 after each name's end."""
    return walk_lengths(model, n, seed, temperature, top_k, top_p, prefix, min_len, max_len, automaton)[0]


def walk_lengths(model, n: int, seed=None, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, prefix: str = "", min_len: int = 0, max_len: int = 50,
                 automaton=None) -> tuple[np.ndarray, np.ndarray]:
    """``walk_ids`` and where each name's end symbol is in its row (the row's width: none)."""
    check_sampling_settings(n, temperature, top_k, top_p, min_len, max_len)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    auto = automaton if automaton is not None else walker(model)
    prefix_ids = model.vocabulary.encode_context(prefix, what="prefix")
    shaping = None if temperature == 1.0 and top_k is None and top_p is None else (temperature, top_k, top_p)
    steps = max(max_len - len(prefix_ids), 0)
    if isinstance(auto, automata.View):
        if shaping is None and min_len <= len(prefix_ids) and table_walk.wanted(auto, n):
            table = automata.cached(auto, "table", lambda: table_walk.WholeTable(auto))
            return table.walk(n, rng, prefix_ids, steps)
        return _walk_view(auto, n, rng, prefix_ids, min_len, steps, shaping)
    out = _walk_rows(auto, model, n, rng, prefix_ids, min_len, steps, shaping)
    return out, _lengths(out)


def _lengths(out: np.ndarray) -> np.ndarray:
    """Where each row's first end symbol is (the row's width when it has none)."""
    ended = np.concatenate((out, np.zeros((len(out), 1), out.dtype)), axis=1) == BOUNDARY
    return np.argmax(ended, axis=1)


def _walk_view(view, n: int, rng, prefix_ids, min_len: int, steps: int, shaping) -> tuple[np.ndarray, np.ndarray]:
    if n >= MANY_WALKS:
        # (an order mixture's rows, made a context at a time, cost about 50 us each on the English
        # default model; its components' tables made whole cost about 2,000 such rows, which a few
        # hundred names reach)
        view.expect_many_rows()
    slot = np.array([view.start], np.int32)
    for symbol in prefix_ids:
        slot = view.next_slots(slot, np.array([symbol]))
    # Each name still going is its slot's draw-table base (``View.step``), in the order of alive.
    bases = view.bases(np.full(n, slot[0], np.int64))
    alive = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    # One row per step, so each step writes one row; the smallest integer type that holds an id.
    out = np.zeros((steps, n), dtype=np.uint8 if view.V <= 256 else np.int64)
    used = 0  # steps taken: the rows after them are all end symbols, not worth decoding
    lengths = np.full(n, steps, np.int64)
    low = view.index(view.width - 1)
    for step in range(steps):
        if not len(alive):
            break
        used = step + 1
        u = rng.random(len(alive))
        if shaping is None and len(prefix_ids) + step >= min_len:
            packed = view.step(bases, u)
            symbol = packed & low
            going = symbol != BOUNDARY
            out[step, alive] = symbol
            if not going.all():
                lengths[alive[~going]] = step
                alive, packed = alive[going], packed[going]
            bases = view.bases_after(packed)
            continue
        slots = bases >> view.shift
        symbol = _pick_rows(view.rows_of(view.state[slots]), view.masked, len(prefix_ids) + step < min_len,
                            shaping, u)
        after = view.next_slots(slots, symbol)
        out[step, alive] = symbol
        going = symbol != BOUNDARY
        lengths[alive[~going]] = step
        alive, bases = alive[going], view.bases(after[going])
    return out[:used].T, np.minimum(lengths, used)


def _pick_rows(rows: np.ndarray, masked, no_end: bool, shaping, u: np.ndarray) -> np.ndarray:
    """A draw per row from whole rows: <unk> left out, the end too while names are shorter than
    --min-len, a row with nothing left ending the name, then temperature / top-k / top-p."""
    if masked is not None:
        rows[:, masked] = 0.0
    if no_end:
        rows[:, BOUNDARY] = 0.0
    dead = rows.sum(axis=1) <= 0
    if dead.any():  # only masked symbols left: end the name here
        rows[dead, BOUNDARY] = 1.0
    if shaping is not None:
        rows = adjust_rows(rows, *shaping)
    cdf = np.cumsum(rows, axis=1)
    symbol = np.minimum((cdf <= (u * cdf[:, -1])[:, None]).sum(axis=1), rows.shape[1] - 1)
    bad = rows[np.arange(len(rows)), symbol] <= 0  # (rounding at the very top: the last positive one)
    if bad.any():
        symbol[bad] = rows.shape[1] - 1 - np.argmax(rows[bad][:, ::-1] > 0, axis=1)
    return symbol


def _walk_rows(auto, model, n: int, rng, prefix_ids, min_len: int, steps: int, shaping) -> np.ndarray:
    """The walk over the sparse automaton (a plain draw without whole rows) or the dense one."""
    state = auto.start
    for symbol in prefix_ids:
        state = int(auto.next_of(np.array([state]), np.array([symbol]))[0])
    states = np.full(n, state, dtype=np.int64)
    out = np.zeros((steps, n), dtype=np.uint8 if model.V <= 256 else np.int64)
    alive = np.arange(n)
    sparse = isinstance(auto, SparseAutomaton)
    used = 0
    for step in range(steps):
        if not len(alive):
            break
        used = step + 1
        if sparse and shaping is None and len(prefix_ids) + step >= min_len:
            symbol, states = auto.draw(states, rng)
            out[step, alive] = symbol
            going = symbol != BOUNDARY
            states, alive = states[going], alive[going]
            continue
        symbol = _pick_rows(np.array(auto.rows_of(states)), model.vocabulary.unk_id, len(prefix_ids) + step < min_len,
                            shaping, rng.random(len(alive)))
        out[step, alive] = symbol
        going = symbol != BOUNDARY
        states = auto.next_of(states[going], symbol[going])
        alive = alive[going]
    return out[:used].T


def decode(out: np.ndarray, model, prefix: str = "", lengths: np.ndarray | None = None) -> list[str]:
    """Each row's symbols up to its first end symbol as text (``prefix`` before each)."""
    text = decode_text(out, model, lengths)
    names = text.split("\n")[:-1]
    return [prefix + name for name in names] if prefix else names


def decode_text(out: np.ndarray, model, lengths: np.ndarray | None = None) -> str:
    """Each row's symbols up to its first end symbol (at ``lengths``, found when not given), each
    followed by a newline, as one text: all rows in one decode."""
    vocab = model.vocabulary
    points = _code_points(model)
    if lengths is None:
        lengths = _lengths(out)
    width = out.shape[1]
    ended = out if len(out) == 0 or lengths.max() < width else np.concatenate(
        (out, np.zeros((len(out), 1), out.dtype)), axis=1)  # (a name without its end symbol gets one)
    keep = np.arange(ended.shape[1])[None, :] <= lengths[:, None]
    if vocab.unk:
        keep &= ended != vocab.unk_id
    if points.max() < 128:  # an ASCII alphabet: one byte a character to write and decode
        return points.astype(np.uint8)[ended[keep]].tobytes().decode("ascii")
    return points[ended[keep]].tobytes().decode("utf-32-le", "surrogatepass")


def _code_points(model) -> np.ndarray:
    """Each symbol's character as a code point: the boundary a newline that splits the names,
    <unk> (never written) 0."""
    vocab = model.vocabulary
    return np.array([10] + [ord(c) for c in vocab.characters] + ([0] if vocab.unk else []), dtype=np.uint32)


def walk_text(model, n: int, rng, max_len: int, automaton,
              expected: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """``n`` plain walks from the start (no prefix, no --min-len, no reshaping) of at most
    ``max_len`` symbols, straight as ASCII text where the whole table walks them
    (``table_walk.WholeTable.walk_bytes``: the names ``walk_lengths`` draws for the same ``rng``);
    None where the names go through ``walk_lengths`` and ``decode_text`` instead. ``expected``:
    the walks the whole request will make, of which these are a block (a request of a million
    names drawn in growing blocks walks the table from its first block: the same names)."""
    if not isinstance(automaton, automata.View) or not table_walk.wanted(automaton, max(n, expected)):
        return None
    points = _code_points(model)
    if points.max() >= 128:
        return None
    table = automata.cached(automaton, "table", lambda: table_walk.WholeTable(automaton))
    return table.walk_bytes(n, rng, [], max_len, points.astype(np.uint8), model.vocabulary.unk_id)
