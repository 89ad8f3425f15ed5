"""The one model representation every estimator compiles into: back-off form, as in ARPA files.

For each order n there are sorted packed n-gram keys (see ``counting``) with two arrays:
``logp`` (natural log of p(w | h) for the stored n-gram hw) and ``bow`` (natural log of the
back-off weight of the n-gram used as a context; 0 where it is not one). Then

    p(w | h) = p*(hw)                 if hw is stored
             = bow(h) * p(w | h')     otherwise (bow(h) = 1 when h is not stored)

where h' drops the oldest symbol of h. Interpolated estimators (Kneser-Ney, Witten-Bell, ...)
and add-k compile into this form exactly, so scoring, sampling, saving and ARPA export are
written once. The unigram level stores every symbol, so every lookup ends somewhere.

Conventions: id 0 as a target is the end of the name, as the first symbol of a context it is
the start; the start symbol is never predicted, so each probability vector has V entries,
boundary(=end) + characters (+ <unk>), and sums to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ngram.lm.backoff import scoring
from ngram.lm.base import NextSymbolModel
from ngram.core.arrays import distinct
from ngram.core.errors import NgramError
from ngram.lm.protocol import BOUNDED_CONTEXT, LEVELS
from ngram.core.vocabulary import Encoded, Vocabulary, code_points


@dataclass
class Level:
    keys: np.ndarray  # int64, sorted, unique
    logp: np.ndarray  # float64, natural log
    bow: np.ndarray  # float64, natural log

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each query key in this level and whether it is stored."""
        return lookup(self.keys, query)

    # Whether ``p_above`` is one interpolation step from the order below (a level made where
    # read), so that a reader going up the orders does less than asking each order alone.
    steps_up = False

    # What reads a few entries asks through these: a level whose tables are made where read
    # (``ngram.estimators.on_demand``) then makes only those.
    def logp_at(self, index: np.ndarray) -> np.ndarray:
        return self.logp[index]

    def bow_at(self, index: np.ndarray) -> np.ndarray:
        return self.bow[index]

    def context_places(self, below: np.ndarray, V: int) -> np.ndarray:
        """Where each n-gram's context (its key // V) sits in the sorted keys ``below`` of the
        order under (clipped to a valid index; a level that knows them already says so)."""
        return np.minimum(np.searchsorted(below, self.keys // V), max(len(below) - 1, 0))

    def p_at(self, index: np.ndarray) -> np.ndarray:
        """The probabilities themselves (a level that keeps them, not their logs, reads them
        without a log and an exp)."""
        return np.exp(self.logp_at(index))

    def p_above(self, index: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """``p_at(index)``, told ``lower``: p of each n-gram's suffix one order down under the
        same model (a level made where read then takes one interpolation step, not the whole
        way down; a stored level has no use for it)."""
        return self.p_at(index)

    # The same answers for several models' levels of one order at once (this level first): a
    # reader mixing many components' rows asks each order once, and levels that can share the
    # arithmetic (``ngram.estimators.on_demand``) do it in one pass; a (levels, index) array.
    def bow_at_many(self, levels: list, index: np.ndarray) -> np.ndarray:
        return np.stack([level.bow_at(index) for level in levels])

    def p_above_many(self, levels: list, index: np.ndarray, lower: np.ndarray | None) -> np.ndarray:
        """``p_above`` of each level, ``lower`` a row per level (None at order 1: no order below)."""
        return np.stack([level.p_at(index) if lower is None else level.p_above(index, lower[i])
                         for i, level in enumerate(levels)])

    def make_whole(self) -> None:
        """Nothing to do: a level's arrays are whole (one made where read makes them now)."""


def lookup(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each query would sit in ``sorted_keys`` (clipped to a valid index), and whether it is there."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), np.int64), np.zeros(len(query), bool)
    index = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
    return index, sorted_keys[index] == query


# Model files record which name hash their fingerprints use; one with another (or none: the
# per-name blake2b of earlier versions) loads without fingerprints rather than with wrong ones.
NAME_HASH = "position-table-sum-1"
_HASH_BLOCK = 1 << 14  # names per block: little memory, and arrays small enough to stay in cache
_HASH_CHARS = 1 << 20  # characters per block (about): a block's arrays take 40 bytes a character


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _hash_block(codes: np.ndarray) -> np.ndarray:
    """Hashes of the names in ``codes``: code points of names, each followed by a newline."""
    ends = np.flatnonzero(codes == 10)
    lengths = np.diff(ends, prepend=-1) - 1
    position = np.arange(len(codes), dtype=np.int64)
    position -= np.repeat(ends - lengths, lengths + 1)
    # Sum over characters of (code + 1) times a pseudo-random odd number for its position, then
    # mixed with the length: vectorised over every character at once.
    table = _mix64(np.arange(int(lengths.max()) + 1, dtype=np.uint64)) | np.uint64(1)
    values = (codes.astype(np.uint64) + np.uint64(1)) * table[position]
    values[ends] = 0
    total = np.cumsum(values, dtype=np.uint64)
    sums = total[ends] - np.concatenate(([np.uint64(0)], total[ends[:-1]]))
    return _mix64(sums + lengths.astype(np.uint64) * np.uint64(0x632BE59BD9B4E019))


def hash_code_points(codes: np.ndarray) -> np.ndarray:
    """A 64-bit hash per name of a corpus given as ``vocabulary.code_points`` (its leading
    newline included), a block of names at a time so a big corpus needs little memory: at most
    _HASH_BLOCK names and about _HASH_CHARS characters a block, a longer name alone and in pieces."""
    codes = codes[1:]
    ends = np.flatnonzero(codes == 10)
    if len(ends) == 0:
        return np.zeros(0, np.uint64)
    after = ends + 1
    starts = np.concatenate(([0], after[:-1]))
    # cut every _HASH_BLOCK names, where a name passes a multiple of _HASH_CHARS characters, and
    # before a long name (which then passes one: it is alone in its block)
    crossing = after // _HASH_CHARS != starts // _HASH_CHARS
    cut = np.zeros(len(ends), bool)
    cut[_HASH_BLOCK - 1 :: _HASH_BLOCK] = True
    cut |= crossing
    long = after - starts > _HASH_CHARS
    cut[np.flatnonzero(long) - 1] = True  # (index -1 is the last name: always a cut)
    cuts = [0, *after[cut].tolist()]
    if cuts[-1] != len(codes):
        cuts.append(len(codes))
    return np.concatenate([_hash_long(codes[a:b]) if b - a > _HASH_CHARS and np.count_nonzero(codes[a:b] == 10) == 1
                           else _hash_block(codes[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])


def _hash_long(codes: np.ndarray) -> np.ndarray:
    """``_hash_block`` of one long name (its code points and the newline), _HASH_CHARS characters
    at a time (the sum wraps modulo 2**64 either way: the same hash)."""
    length = len(codes) - 1
    total = np.zeros(1, np.uint64)
    for a in range(0, length, _HASH_CHARS):
        piece = codes[a : min(a + _HASH_CHARS, length)].astype(np.uint64) + np.uint64(1)
        piece *= _mix64(np.arange(a, a + len(piece), dtype=np.uint64)) | np.uint64(1)
        total += piece.sum(dtype=np.uint64)
    return _mix64(total + np.full(1, length, np.uint64) * np.uint64(0x632BE59BD9B4E019))


def hash_names(names: Sequence[str]) -> np.ndarray:
    """A 64-bit hash per name, over all names at once (no Python loop per name or character)."""
    return hash_code_points(code_points(names)) if len(names) else np.zeros(0, np.uint64)


def fingerprints_of_hashes(hashes: np.ndarray) -> np.ndarray:
    return distinct(hashes)


def name_fingerprints(names: Sequence[str]) -> np.ndarray:
    """Sorted unique name hashes: enough to tell sampled names from training names without
    shipping the training set inside the model file."""
    return fingerprints_of_hashes(hash_names(names))


FAST_SCORING_TARGETS = 20_000  # from here on ``logprob_encoded`` scores with ``scoring``'s automaton


@dataclass
class Model(NextSymbolModel):
    """A trained character n-gram model in back-off form. Every estimator produces one of these;
    ARPA import, pruning and compiled mixtures too."""

    vocabulary: Vocabulary
    order: int
    levels: list[Level]
    estimator: dict = field(default_factory=dict)  # {"name": ..., settings..., report...}
    corpus: dict = field(default_factory=dict)  # what it was trained on (file, names, fingerprint)
    train_names: np.ndarray | None = None  # name_fingerprints of the training names
    # Loaded from a compact file: its format version, quantisation and field widths (what
    # ``ngram.formats.native.file_form`` reports); None for a model in memory or an ordinary file.
    compact: dict | None = field(default=None, repr=False, compare=False)

    kind = "model"
    capabilities = frozenset({LEVELS, BOUNDED_CONTEXT})

    # ----- shape -------------------------------------------------------------------------
    def n_ngrams(self) -> list[int]:
        return [len(level) for level in self.levels]

    def stored_keys(self, n: int) -> list[np.ndarray]:
        """Keys of the stored n-grams of length n (none beyond the order): the contexts whose
        row may differ from their suffix's."""
        return [self.levels[n - 1].keys] if self.order >= n else []

    def trie_level(self, n: int, logp_out: np.ndarray | None = None):
        """Order ``n`` as a trie (child counts, last symbols, ln p, back-off weights) where the
        storage holds one without int64 keys (a compact file); None: read it from ``levels``."""
        return None

    def keys_held_by(self, scorer, n: int) -> None:
        """The lean automaton ``scorer`` (being made by ``scoring.build_lean``) now holds order
        ``n``'s n-grams and no longer reads the level's keys: a model whose levels are its own
        alone may give them up (``FileModel``); one made in memory keeps them."""

    # ----- the one scoring path ----------------------------------------------------------
    def logprob_keys(self, window_keys: np.ndarray, history: np.ndarray) -> np.ndarray:
        """ln p(target | context) for many positions at once.

        ``window_keys[i]`` packs the target (lowest digit) and up to N-1 preceding symbols;
        ``history[i]`` says how many of those preceding symbols are real context. Digits beyond
        the history are ignored, so callers need not clean them.
        """
        window_keys = np.asarray(window_keys, dtype=np.int64)
        history = np.minimum(np.asarray(history, dtype=np.int64), self.order - 1)
        result = np.empty(len(window_keys), dtype=np.float64)
        backoff = np.zeros(len(window_keys), dtype=np.float64)
        pending = np.arange(len(window_keys))
        for m in range(self.order - 1, -1, -1):  # context length, longest first
            rows = pending[history[pending] >= m]
            if len(rows) == 0:
                continue
            keys = window_keys[rows]
            index, stored = self.levels[m].find(keys % self._power(m + 1))
            hit = rows[stored]
            result[hit] = self.levels[m].logp_at(index[stored]) + backoff[hit]
            missed = rows[~stored]
            if m > 0 and len(missed):
                ctx_index, ctx_stored = self.levels[m - 1].find((window_keys[missed] // self.V) % self._power(m))
                backoff[missed[ctx_stored]] += self.levels[m - 1].bow_at(ctx_index[ctx_stored])
            done = np.zeros(len(window_keys), bool)
            done[hit] = True
            pending = pending[~done[pending]]
        if len(pending):
            raise NgramError("model is missing unigram entries; the model file is damaged")
        return result

    # ----- big inputs: the same floats through the back-off automaton ----------------------
    def logprob_encoded(self, encoded: Encoded) -> np.ndarray:
        """ln p of every target symbol (characters and end symbols) of an encoded corpus."""
        scorer = self._scorer_for(encoded)
        return scoring.score(scorer, encoded) if scorer is not None else super().logprob_encoded(encoded)

    def name_logprobs(self, encoded: Encoded) -> np.ndarray:
        """ln p of each name of an encoded corpus (its symbols' ln p added in order)."""
        scorer = self._scorer_for(encoded)
        return scoring.name_totals(scorer, encoded) if scorer is not None else super().name_logprobs(encoded)

    def _scorer_for(self, encoded: Encoded):
        """The back-off automaton when the input is big enough to be worth building it (the
        same floats, several times faster), else None; None too for a model it cannot serve
        (n-grams not closed under prefixes and suffixes)."""
        if encoded.n_targets < max(FAST_SCORING_TARGETS, sum(self.n_ngrams()) // 4):
            return None
        return scoring.build(self)

    def describe(self) -> str:
        est = self.estimator.get("name", "?")
        sizes = ", ".join(f"{n + 1}:{c}" for n, c in enumerate(self.n_ngrams()))
        return f"order {self.order} {est} model, V = {self.V} symbols, stored n-grams by order {sizes}"


class FileModel(Model):
    """A back-off model read from a file: its training-name fingerprints are read from the file
    the first time they are asked for (scoring never needs them; a word list's are 4 MB), and
    its levels' keys are given up to the lean automaton the load check makes, and made again
    from it only if read (``KeysFromTrie``: 8 bytes an n-gram that scoring never reads)."""

    def keys_held_by(self, scorer, n: int) -> None:
        level = self.levels[n - 1]
        if type(level) is Level:  # (a compact file's levels decode their own keys)
            self.levels[n - 1] = KeysFromTrie(level, scorer, n, self.levels[n - 2] if n > 1 else None)

    @property
    def train_names(self):
        read = self.__dict__.pop("_read_names", None)
        if read is not None:
            self.__dict__["_train_names"] = read()
        return self.__dict__.get("_train_names")

    @train_names.setter
    def train_names(self, value):
        self.__dict__.pop("_read_names", None)
        self.__dict__["_train_names"] = value


class KeysFromTrie(Level):
    """A level whose int64 keys were given up once a lean automaton held its n-grams: made again
    from it the first time they are read (each n-gram's key is its parent's times V plus its last
    symbol; its parent's are those of the level below), and kept then."""

    def __init__(self, level: Level, scorer, n: int, below: Level | None):
        self.logp, self.bow = level.logp, level.bow
        self._count, self._scorer, self._n, self._below = len(level), scorer, n, below
        # (in a dict, not an array attribute: the automaton's cache keys on the levels' arrays)
        self._made: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self._count

    @property
    def keys(self) -> np.ndarray:
        if "keys" not in self._made:
            sc, n = self._scorer, self._n
            lo, hi = (int(x) for x in sc.order_offsets[n : n + 2])
            symbols = sc.symbol[lo:hi].astype(np.int64)
            if self._below is None:
                self._made["keys"] = symbols
            else:
                parents = int(sc.order_offsets[n - 1])
                keys = np.repeat(self._below.keys, scoring.child_counts(sc, parents, lo).astype(np.intp))
                keys *= sc.V
                keys += symbols
                self._made["keys"] = keys
        return self._made["keys"]
