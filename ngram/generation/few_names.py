"""Constraints that only a few names meet, answered by listing those names.

A forced name (`--contains` of 2,000 characters with `--max-len 2000`), a small finite `--regex`
under a long length bound: the names the constraint automaton accepts within the length bounds
are listed from the automaton alone and scored by the model in one call, and the plan interface
(``gen_mass``, ``mass``, ``draw``, ``best``, ``best_logp``) is read off that list: exact for
every model kind, in the time of listing the automaton's names, where the product tables would
walk every position of the length bound four times (counting, rows, sums, maxima) with a fixed
cost each (a forced name of 2,000 characters: 0.7 s of tables per direction). Under a shorter
bound those tables cost little, and the listing is not tried.
"""

from __future__ import annotations

import math

import numpy as np

from ngram.core.vocabulary import Encoded

LONG = 100  # length bounds from which a constraint's names are listed where they are few
FEW_NAMES = 256  # a constraint met by at most this many names is answered by listing them
FEW_PREFIXES = 4096  # ... found while at most this many prefixes at a length can still be completed


def list_names(dfa, min_len: int, max_len: int, V: int, unk: int | None, limit: int | None = None,
               prefixes: int | None = None) -> list[np.ndarray] | None:
    """Every name (symbol ids, in the automaton's reading order) of ``min_len`` to ``max_len``
    characters that ``dfa`` accepts, none holding <unk>; None when there are more than ``limit``
    or, at some length, more than ``prefixes`` prefixes that can still reach an accepting state
    within the length bound (most constraints: their answer is the product tables, and this
    try costs the few lengths it takes to pass the bound). Prefixes are kept as a parent and a
    symbol per length, the names read back from them at the end."""
    limit = FEW_NAMES if limit is None else limit
    prefixes = FEW_PREFIXES if prefixes is None else prefixes
    symbols = np.array([x for x in range(1, V) if x != unk], np.int64)
    delta = dfa.delta[:, symbols]  # (state 0: dead)
    need = dfa.remaining()
    states = np.array([dfa.start], np.int64)
    if need[dfa.start] > max_len:
        return []
    parents, written, ends = [], [], []
    found = 0
    for t in range(max_len + 1):
        if t >= min_len:
            at = np.flatnonzero(dfa.accept[states] & (states != 0))
            found += len(at)
            if found > limit:
                return None
            ends.append((t, at))
        if t == max_len:
            break
        nxt = delta[states]
        row, col = np.nonzero((nxt != 0) & (need[nxt] <= max_len - t - 1))
        if len(row) > prefixes:
            return None
        if not len(row):
            break
        parents.append(row)
        written.append(symbols[col])
        states = nxt[row, col]
    names = []
    for t, at in ends:
        for i in at.tolist():
            name = np.empty(t, np.int64)
            for j in range(t - 1, -1, -1):
                name[j] = written[j][i]
                i = int(parents[j][i])
            names.append(name)
    return names


class FewNamesPlan:
    """The plan interface over a listed set of names (``list_names``), each scored once by the
    model (``name_logprobs``): the mass is their sum, a draw picks one by its probability, and
    ``best`` gives them sorted. Only for the model's own rows (temperature 1, no top-k/top-p)."""

    fell_back = False

    def __init__(self, model, names: list[np.ndarray], max_len: int):
        self.max_len = max_len
        self.names = names
        if names:
            lengths = np.array([len(x) for x in names])
            starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
            ids = np.zeros(int(lengths.sum()) + len(names) + 1, np.int64)
            for start, name in zip(starts.tolist(), names):
                ids[start + 1 : start + 1 + len(name)] = name
            self.logp = np.asarray(model.name_logprobs(Encoded(ids, starts)), np.float64)
        else:
            self.logp = np.zeros(0)
        self.order = sorted(range(len(names)), key=lambda i: (-self.logp[i], tuple(names[i])))

    def check(self) -> None:
        """Nothing to refuse: the names are listed."""

    @property
    def gen_mass(self) -> float:
        return self.mass

    @property
    def mass(self) -> float:
        return float(np.exp(self.logp).sum()) if len(self.logp) else 0.0

    @property
    def mass_error(self) -> float:
        return 0.0

    def best_logp(self) -> float:
        return float(self.logp.max()) if len(self.logp) else -math.inf

    def draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` names as an (m, max_len) array of ids, 0 after each end."""
        p = np.exp(self.logp - self.logp.max())
        picked = rng.choice(len(self.names), size=m, p=p / p.sum())
        out = np.zeros((m, self.max_len), np.int64)
        for row, i in enumerate(picked.tolist()):
            name = self.names[i]
            out[row, : len(name)] = name
        return out

    def best(self):
        """The names in order of decreasing probability, as (ids, ln p)."""
        for i in self.order:
            yield tuple(self.names[i].tolist()), float(self.logp[i])
