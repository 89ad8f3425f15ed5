"""Exact constrained generation for models with no finite state (``SEQUENTIAL``: a neural model,
or a per-symbol mixture holding one).

Count models get exact constrained sampling from backward tables over (context state, constraint
state, length) (``ngram.generation.sampling.Plan``); a recurrent model's context is its whole
prefix, so there is no such table. Instead:

- a prefix is read directly: the symbols the constraint's DFA forces from its start (a
  ``--prefix``, or a regex that begins with fixed text) are fed to the model, their probability
  is exact (the chain rule), and drawing starts after them;
- every other constraint is met by rejection: names are drawn symbol by symbol from the model's
  (shaped) next-symbol rows, many at once, a draw is dropped as soon as the DFA says no name can
  finish it (a dead state, or past ``max_len``) and kept if it ends in an accepting state at a
  length of at least ``min_len``. The kept names are distributed exactly as the model restricted
  to the constraint (the proposal is the model itself);
- the constraint's mass is P(prefix) x (the share of draws kept): an estimate, reported with its
  standard error, and refined by every draw made;
- a constraint too rare to meet within ``MAX_DRAWS`` draws or ``MAX_SECONDS`` is a one-line error.

``best()`` (``ngram top``) is a best-first search over prefixes: ln p of a prefix only falls as it
grows, so the names come out in exactly decreasing probability.
"""

from __future__ import annotations

import heapq
import math
import time
from typing import Callable

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY

PILOT_DRAWS = 1024  # draws of the first mass estimate (a mixture weighs its components by it)
MAX_DRAWS = 1 << 20  # draws one request may make before a rare constraint is refused ...
MAX_SECONDS = 60.0  # ... or seconds of drawing (a large network draws far fewer per second) ...
MIN_SHARE = 1e-3  # ... while keeping fewer than this share of its draws
BATCH = 4096  # names drawn at once
MAX_EXPANSIONS = 200_000  # prefixes the best-first search may open before it gives up


def take(state, index):
    """The states of the names ``index`` (a model's state: an array with names on axis 0, or a
    list / tuple of such)."""
    if isinstance(state, np.ndarray):
        return state[index]
    return type(state)(take(s, index) for s in state)


def _draw_symbols(rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One symbol per row (probabilities) by the inverse CDF at ``u``."""
    cdf = np.cumsum(rows, axis=1)
    symbol = (cdf < (u * cdf[:, -1])[:, None]).sum(axis=1)
    return np.minimum(symbol, rows.shape[1] - 1)


class RejectionPlan:
    """The ``Plan`` interface (``gen_mass``, ``mass``, ``draw``, ``best``) for a model with
    ``start_state`` / ``step`` under a constraint DFA (see the module docstring)."""

    def __init__(self, model, dfa, min_len: int, max_len: int, shape: Callable[[np.ndarray], np.ndarray] | None = None):
        """``shape``: temperature / top-k / top-p applied to rows of probabilities (None: the
        model's own rows)."""
        self.model, self.dfa = model, dfa
        self.min_len, self.max_len = min_len, max_len
        self.shaping = shape
        self.shaped = shape is not None
        self.unk = model.vocabulary.unk_id
        self.prefix = self._forced_prefix()
        state = model.start_state(1)
        state, rows = model.step(state, np.array([BOUNDARY]))
        q, raw_mass, gen_mass = dfa.start, 0.0, 0.0
        for c in self.prefix:
            raw_mass += float(rows[0, c])
            with np.errstate(divide="ignore"):
                gen_mass += float(np.log(self._shape(rows)[0, c]))
            state, rows = model.step(state, np.array([c]))
            q = int(dfa.delta[q, c])
        self._after = (state, rows, q)
        self.log_prefix = {False: raw_mass, True: gen_mass}
        self.tally = {False: [0, 0], True: [0, 0]}  # shaped? -> [draws, kept]

    def _forced_prefix(self) -> list[int]:
        """The symbols every accepted name starts with: from the start, while the state is not
        accepting and exactly one character leads to a live state."""
        dfa, out, q = self.dfa, [], self.dfa.start
        while len(out) < self.max_len and not dfa.accept[q]:
            live = np.flatnonzero(dfa.delta[q, 1:] != 0) + 1
            if len(live) != 1:
                break
            out.append(int(live[0]))
            q = int(dfa.delta[q, live[0]])
        return out

    def _shape(self, logrows: np.ndarray) -> np.ndarray:
        rows = np.exp(logrows)
        if self.unk is not None:
            rows[:, self.unk] = 0.0
        return self.shaping(rows) if self.shaped else rows

    # ----- drawing -----------------------------------------------------------------------------
    def _walk(self, m: int, rng: np.random.Generator, shaped: bool) -> tuple[np.ndarray, np.ndarray]:
        """``m`` draws: (ids (m, max_len), which were kept)."""
        state, rows, q0 = self._after
        L = self.max_len
        out = np.zeros((m, max(L, 1)), np.uint8 if self.model.V <= 256 else np.int64)
        t = len(self.prefix)
        out[:, :t] = self.prefix
        kept = np.zeros(m, bool)
        alive = np.arange(m)
        state, rows = take(state, np.zeros(m, np.int64)), np.repeat(rows, m, axis=0)
        q = np.full(m, q0, np.int64)
        dfa = self.dfa
        while len(alive):
            p = self._shape(rows) if shaped else np.exp(rows)
            symbol = _draw_symbols(p, rng.random(len(alive)))
            end = symbol == BOUNDARY
            kept[alive[end]] = dfa.accept[q[end]] & (t >= self.min_len)
            nq = dfa.delta[q, symbol].astype(np.int64)
            going = ~end & (nq != 0) & (t < L)
            if not going.any():
                break
            out[alive[going], t] = symbol[going]
            alive, q = alive[going], nq[going]
            state, rows = self.model.step(take(state, going), symbol[going])
            t += 1
        tally = self.tally[shaped]
        tally[0] += m
        tally[1] += int(kept.sum())
        return out, kept

    def _estimate(self, shaped: bool) -> tuple[float, float]:
        draws, kept = self.tally[shaped]
        rng = np.random.default_rng(0)  # the estimate does not depend on the sampling seed
        started = time.perf_counter()
        while kept == 0 and draws < MAX_DRAWS and time.perf_counter() - started < MAX_SECONDS:  # none met yet
            self._walk(PILOT_DRAWS if draws == 0 else BATCH, rng, shaped)
            draws, kept = self.tally[shaped]
        if kept == 0:
            raise NgramError(f"the constraints are too rare to meet by drawing from this model: none of {draws:,} draws "
                             f"met them (their mass is below about {3 / draws * math.exp(self.log_prefix[shaped]):.2g}); "
                             "loosen them, or give the fixed start as --prefix (read directly)")
        share = kept / draws
        scale = math.exp(self.log_prefix[shaped])
        return scale * share, scale * math.sqrt(share * (1 - share) / draws)

    @property
    def gen_mass(self) -> float:
        """The constraint's mass under the generation rows (estimated; exact for the prefix part)."""
        return self._estimate(self.shaped)[0]

    @property
    def mass(self) -> float:
        """The constraint's mass under the model's own rows (estimated)."""
        return self._estimate(False)[0]

    @property
    def mass_error(self) -> float:
        """The standard error of ``mass``."""
        return self._estimate(False)[1]

    @property
    def draws(self) -> int:
        return self.tally[False][0]

    def draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` names meeting the constraint, as an (m, max_len) array of ids, 0 after each end."""
        got, tried, found = [], 0, 0
        started = time.perf_counter()
        while found < m:
            spent = tried >= MAX_DRAWS or time.perf_counter() - started > MAX_SECONDS
            if spent and found < MIN_SHARE * tried:  # a long request at a fair share kept goes on
                draws, kept = self.tally[self.shaped]
                raise NgramError(f"the constraints are too rare to meet by drawing from this model: {found} of "
                                 f"{tried:,} draws met them (about {kept / max(draws, 1):.2g} of the draws after the "
                                 "prefix); loosen them, or give the fixed start as --prefix (read directly)")
            share = max(self.tally[self.shaped][1] / max(self.tally[self.shaped][0], 1), 1e-3)
            batch = int(min(BATCH, max(64, (m - found) / share * 1.1 + 16)))
            out, kept = self._walk(batch, rng, self.shaped)
            tried += batch
            got.append(out[kept][: m - found])
            found += int(kept.sum())
        return np.concatenate(got)[:m]

    # ----- best-first ------------------------------------------------------------------------
    def best_logp(self) -> float | None:
        """None: a model with no finite state has no max tables to read it from."""
        return None

    def best(self):
        """Valid names in order of decreasing probability under the model's own rows, as (ids, ln p)."""
        state, rows, q0 = self._after
        dfa, L = self.dfa, self.max_len
        g0 = self.log_prefix[False]
        heap = [(-g0, 0, g0, tuple(self.prefix), q0, state, rows[0], False)]
        counter, opened = 1, 0
        while heap:
            _, _, g, ids, q, state, row, ended = heapq.heappop(heap)
            if ended:
                yield ids, g
                continue
            opened += 1
            if opened > MAX_EXPANSIONS:
                raise NgramError(f"the best-first search opened {MAX_EXPANSIONS:,} prefixes without finishing; "
                                 "ask for fewer names or tighter constraints")
            t = len(ids)
            if t >= self.min_len and dfa.accept[q] and np.isfinite(row[BOUNDARY]):
                heapq.heappush(heap, (-(g + row[BOUNDARY]), counter, g + row[BOUNDARY], ids, q, None, None, True))
                counter += 1
            if t >= L:
                continue
            live = [c for c in np.flatnonzero(dfa.delta[q, 1:] != 0) + 1 if np.isfinite(row[c]) and c != self.unk]
            if not live:
                continue
            batch = np.array(live)
            states, next_rows = self.model.step(take(state, np.zeros(len(live), np.int64)), batch)
            for i, c in enumerate(live):
                heapq.heappush(heap, (-(g + row[c]), counter, g + float(row[c]), ids + (int(c),), int(dfa.delta[q, c]),
                                      take(states, np.array([i])), next_rows[i], False))
                counter += 1
