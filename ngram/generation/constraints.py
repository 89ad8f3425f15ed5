"""Constraints on generated names as one deterministic finite automaton over the model's symbols.

Each constraint is a small DFA over the vocabulary's character ids (a prefix, a suffix, a substring
that must or must not occur, a regular expression the whole name must match); ``Constraints.dfa``
is their product, trimmed so that every live state can still reach acceptance (the rest is one
dead state, 0). Lengths are not in the DFA: generation tracks the position itself. ``<unk>`` and
the boundary never move a DFA anywhere but to the dead state.

Regular expressions: a documented subset, compiled here by a Thompson construction and the subset
construction (no dependency): literal characters, ``.`` (any character), classes ``[abc]``,
``[a-z]``, ``[^...]``, escapes ``\\.`` ``\\[`` etc., grouping ``( )``, alternation ``|``, and
the repeats ``*`` ``+`` ``?`` ``{m}`` ``{m,}`` ``{m,n}``. The whole name must match (as
``re.fullmatch``); anchors, lookarounds and backreferences are not supported and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY

DEFAULT_MAX_LEN = 50


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

    @property
    def n_states(self) -> int:
        return len(self.accept)

    def run(self, ids) -> int:
        q = self.start
        for c in ids:
            q = int(self.delta[q, int(c)])
        return q

    def reversed(self) -> "DFA":
        """A DFA accepting the reversed strings (subset construction over the reversed edges)."""
        Q, V = self.delta.shape
        # preimages[c][q] = states that go to q on c
        start = frozenset(np.flatnonzero(self.accept).tolist())
        return _determinize(start, lambda S, c: frozenset(np.flatnonzero(np.isin(self.delta[:, c], list(S))).tolist()),
                            lambda S: self.start in S, V)


def _reachable(start, step, dead, V: int) -> tuple[list, list]:
    """The states reachable from ``start`` (``dead`` first, numbered 0, then ``start`` unless it is
    dead) and each one's row of next-state numbers; ``step(S, c)`` is the state after symbol c
    (c = 1..V-1; the boundary column stays 0)."""
    index, order = {dead: 0}, [dead]
    if start != dead:
        index[start] = 1
        order.append(start)
    rows = []
    i = 0
    while i < len(order):
        S = order[i]
        row = np.zeros(V, np.int32)
        if S != dead:
            for c in range(1, V):
                T = step(S, c)
                if T not in index:
                    index[T] = len(order)
                    order.append(T)
                row[c] = index[T]
        rows.append(row)
        i += 1
    return order, rows


def _determinize(start: frozenset, step, accepting, V: int) -> DFA:
    """Subset construction: ``step(S, c)`` is the set after symbol c (c = 1..V-1), the empty set dead."""
    order, rows = _reachable(start, step, frozenset(), V)
    accept = np.array([bool(S) and accepting(S) for S in order])
    return trim(DFA(np.array(rows, np.int32).reshape(len(order), V), accept, 1 if start else 0))


def trim(dfa: DFA) -> DFA:
    """Merge every state that cannot reach acceptance into the dead state 0 and renumber."""
    Q = dfa.n_states
    alive = dfa.accept.copy()
    while True:  # co-reachable states
        more = alive | alive[dfa.delta].any(axis=1)
        more[0] = bool(dfa.accept[0])
        if (more == alive).all():
            break
        alive = more
    alive[0] = False
    new = np.zeros(Q, np.int32)
    kept = np.flatnonzero(alive)
    new[kept] = np.arange(1, len(kept) + 1)
    delta = np.zeros((len(kept) + 1, dfa.delta.shape[1]), np.int32)
    delta[1:] = new[dfa.delta[kept]]
    delta[:, BOUNDARY] = 0
    accept = np.zeros(len(kept) + 1, bool)
    accept[1:] = dfa.accept[kept]
    return DFA(delta, accept, int(new[dfa.start]))


def product(dfas: Sequence[DFA], V: int) -> DFA:
    """The DFA accepting what every one of ``dfas`` accepts (states reachable from the start only)."""
    if not dfas:
        return DFA(np.ones((2, V), np.int32) * np.array([0, 1])[:, None] * (np.arange(V) != BOUNDARY)[None, :],
                   np.array([False, True]), 1)
    start = tuple(d.start for d in dfas)
    if 0 in start:
        return DFA(np.zeros((1, V), np.int32), np.array([False]), 0)

    def step(S, c):
        T = tuple(int(d.delta[q, c]) for d, q in zip(dfas, S))
        return None if 0 in T else T  # any dead component: the product is dead

    order, rows = _reachable(start, step, None, V)
    accept = np.array([False] + [all(d.accept[q] for d, q in zip(dfas, S)) for S in order[1:]])
    return trim(DFA(np.array(rows, np.int32), accept, 1))


def _kmp(pattern: list[int], V: int) -> np.ndarray:
    """Transitions over states 0..m (characters of the pattern matched so far), from state m too:
    the longest prefix of the pattern that is a suffix of what was read."""
    m = len(pattern)
    delta = np.zeros((m + 1, V), np.int32)
    for j in range(m + 1):
        for c in range(1, V):
            text = pattern[:j] + [c]
            k = min(m, len(text))
            while k > 0 and pattern[:k] != text[len(text) - k :]:
                k -= 1
            delta[j, c] = k
    return delta


def _shift(delta: np.ndarray, accept: np.ndarray, start: int, dead_states=()) -> DFA:
    """A DFA over states numbered from 0 with no dead state: add the dead state 0 in front."""
    Q, V = delta.shape
    full = np.zeros((Q + 1, V), np.int32)
    full[1:] = delta + 1
    for d in dead_states:
        full[d + 1] = 0
        full[:, :][full == d + 1] = 0
    full[:, BOUNDARY] = 0
    return trim(DFA(full, np.concatenate(([False], accept)), start + 1))


def prefix_dfa(pattern: list[int], V: int) -> DFA:
    m = len(pattern)
    delta = np.full((m + 1, V), -1, np.int32)  # -1 + 1 = 0: dead
    for j, c in enumerate(pattern):
        delta[j, c] = j + 1
    delta[m, :] = m
    accept = np.zeros(m + 1, bool)
    accept[m] = True
    return _shift(delta, accept, 0)


def suffix_dfa(pattern: list[int], V: int) -> DFA:
    accept = np.zeros(len(pattern) + 1, bool)
    accept[-1] = True
    return _shift(_kmp(pattern, V), accept, 0)


def contains_dfa(pattern: list[int], V: int) -> DFA:
    delta = _kmp(pattern, V)
    delta[-1, :] = len(pattern)  # found: stays found
    accept = np.zeros(len(pattern) + 1, bool)
    accept[-1] = True
    return _shift(delta, accept, 0)


def exclude_dfa(pattern: list[int], V: int) -> DFA:
    delta = _kmp(pattern, V)
    accept = np.ones(len(pattern) + 1, bool)
    accept[-1] = False
    return _shift(delta, accept, 0, dead_states=[len(pattern)])


# ----------------------------------------------------------------------------------------------
# Regular expressions (the subset in the module docstring)
# ----------------------------------------------------------------------------------------------
class _Regex:
    """Thompson NFA: nodes with ε-edges and character-set edges."""

    def __init__(self, text: str, vocabulary):
        self.text, self.i, self.vocab = text, 0, vocabulary
        self.chars = list(vocabulary.characters)
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[frozenset, int]]] = []

    def node(self) -> int:
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def fail(self, why: str):
        raise NgramError(f"--regex {self.text!r}: {why} (at position {self.i})")

    def peek(self):
        return self.text[self.i] if self.i < len(self.text) else None

    def parse(self):
        start, end = self.alternation()
        if self.i != len(self.text):
            self.fail("unbalanced ')'")
        return start, end

    def alternation(self):
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        if len(branches) == 1:
            return branches[0]
        s, e = self.node(), self.node()
        for a, b in branches:
            self.eps[s].append(a)
            self.eps[b].append(e)
        return s, e

    def sequence(self):
        s = e = self.node()
        while self.peek() not in (None, "|", ")"):
            a, b = self.repeat()
            self.eps[e].append(a)
            e = b
        return s, e

    def repeat(self):
        atom_at = self.i
        a, b = self.atom()
        atom_end = self.i
        while self.peek() in ("*", "+", "?", "{"):
            op = self.text[self.i]
            self.i += 1
            if op == "{":
                close = self.text.find("}", self.i)
                if close < 0:
                    self.fail("'{' without '}'")
                spec = self.text[self.i : close]
                self.i = close + 1
                try:
                    lo, _, hi = spec.partition(",")
                    lo = int(lo)
                    hi = lo if "," not in spec else (int(hi) if hi.strip() else None)
                except ValueError:
                    self.fail(f"bad repeat {{{spec}}}")
                if hi is not None and hi < lo:
                    self.fail(f"bad repeat {{{spec}}}")
                a, b = self.counted(atom_at, atom_end, lo, hi)
                continue
            if op == "*":
                s, e = self.node(), self.node()
                self.eps[s] += [a, e]
                self.eps[b] += [a, e]
            elif op == "+":
                s, e = self.node(), self.node()
                self.eps[s].append(a)
                self.eps[b] += [a, e]
            else:
                s, e = self.node(), self.node()
                self.eps[s] += [a, e]
                self.eps[b].append(e)
            a, b = s, e
        return a, b

    def counted(self, at: int, end: int, lo: int, hi):
        """The atom text[at:end] repeated lo..hi times (hi None: unbounded), re-parsed per copy."""
        saved = self.i
        copies = lo if hi is None else hi
        s = e = self.node()
        for k in range(max(copies, 1 if hi is None else 0)):
            self.i = at
            a, b = self.atom()
            if k >= lo:  # optional copy
                skip = self.node()
                self.eps[e] += [a, skip]
                self.eps[b].append(skip)
                e = skip
            else:
                self.eps[e].append(a)
                e = b
        if hi is None:
            self.i = at
            a, b = self.atom()
            loop_s, loop_e = self.node(), self.node()
            self.eps[loop_s] += [a, loop_e]
            self.eps[b] += [a, loop_e]
            self.eps[e].append(loop_s)
            e = loop_e
        self.i = saved
        return s, e

    def atom(self):
        c = self.peek()
        if c is None:
            self.fail("pattern ends where a character was expected")
        if c == "(":
            self.i += 1
            if self.text.startswith("?:", self.i):
                self.i += 2
            a, b = self.alternation()
            if self.peek() != ")":
                self.fail("'(' without ')'")
            self.i += 1
            return a, b
        if c in "*+?{":
            self.fail(f"nothing to repeat before {c!r}")
        if c in "^$":
            self.fail("anchors are not supported (the whole name must match anyway)")
        self.i += 1
        if c == ".":
            chars = frozenset(self.chars)
        elif c == "[":
            chars = self.char_class()
        elif c == "\\":
            chars = frozenset(self.escape())
        else:
            chars = frozenset(c)
        s, e = self.node(), self.node()
        self.edges[s].append((chars, e))
        return s, e

    def escape(self) -> str:
        c = self.peek()
        if c is None:
            self.fail("trailing backslash")
        self.i += 1
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

    def closure(self, nodes) -> frozenset:
        stack, seen = list(nodes), set(nodes)
        while stack:
            for t in self.eps[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)


def regex_dfa(text: str, vocabulary) -> DFA:
    rx = _Regex(text, vocabulary)
    start, end = rx.parse()
    V = vocabulary.size
    symbol_of = {ch: i + 1 for i, ch in enumerate(vocabulary.characters)}

    def step(S, c):
        ch = vocabulary.characters[c - 1] if c - 1 < len(vocabulary.characters) else None
        if ch is None:
            return frozenset()
        return rx.closure([t for n in S for chars, t in rx.edges[n] if ch in chars])

    del symbol_of
    return _determinize(rx.closure([start]), step, lambda S: end in S, V)


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
                raise NgramError(f"--{what} {text!r} is {len(text)} characters, longer than --max-len {self.max_len}")
        for text in self.contains:
            if not text:
                raise NgramError("--contains needs a non-empty string")
            if len(text) > self.max_len:
                raise NgramError(f"--contains {text!r} is {len(text)} characters, longer than --max-len {self.max_len}")
        for text in self.exclude:
            if not text:
                raise NgramError("--exclude needs a non-empty string (an empty one excludes every name)")
        for a in self.exclude:
            for b in (self.prefix, self.suffix, *self.contains):
                if a in b:
                    raise NgramError(f"--exclude {a!r} conflicts with the required {b!r}, which contains it")

    def is_length_only(self) -> bool:
        return not (self.prefix or self.suffix or self.contains or self.exclude or self.regex)

    def describe(self) -> str:
        parts = []
        if self.prefix:
            parts.append(f"starting with {self.prefix}-")
        if self.suffix:
            parts.append(f"ending in -{self.suffix}")
        parts += [f"containing {c!r}" for c in self.contains]
        parts += [f"without {c!r}" for c in self.exclude]
        if self.regex is not None:
            parts.append(f"matching /{self.regex}/")
        parts.append(f"of {self.min_len} to {self.max_len} characters" if self.min_len != self.max_len
                     else f"of {self.min_len} characters")
        return "names " + ", ".join(parts)

    def dfa(self, vocabulary) -> DFA:
        """The product DFA over ``vocabulary``'s ids; a string with a character the vocabulary
        lacks, or constraints no string meets, is a one-line error naming them."""
        self.check()
        V = vocabulary.size

        def ids(text, what):
            missing = sorted({c for c in text if c not in vocabulary.characters})
            if missing:
                raise NgramError(f"--{what} {text!r}: {', '.join(map(repr, missing))} not in the model's vocabulary, "
                                 "so no name it makes can contain it")
            return [vocabulary.characters.index(c) + 1 for c in text]

        parts = []
        if self.prefix:
            parts.append(prefix_dfa(ids(self.prefix, "prefix"), V))
        if self.suffix:
            parts.append(suffix_dfa(ids(self.suffix, "suffix"), V))
        parts += [contains_dfa(ids(c, "contains"), V) for c in self.contains]
        for c in self.exclude:
            if all(ch in vocabulary.characters for ch in c):
                parts.append(exclude_dfa(ids(c, "exclude"), V))  # (one the model cannot write is always met)
        if self.regex is not None:
            parts.append(regex_dfa(self.regex, vocabulary))
        dfa = product(parts, V)
        if dfa.start == 0:
            raise NgramError(f"no name meets these constraints together ({self.describe()})")
        if vocabulary.unk:
            dfa.delta[:, vocabulary.unk_id] = 0
        return dfa
