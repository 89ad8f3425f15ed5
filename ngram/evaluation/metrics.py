"""Metrics: the cross-entropy loss is the negative log-likelihood in disguise.

Averaged over held-out symbols, -ln p(next | context) is the cross-entropy between the one-hot
next-symbol labels and the model's probability vectors. Grouping the positions by context turns
the one-hot labels into each context's empirical next-symbol distribution p̂ (soft labels), and
the same number splits into H(p̂) (the data's own uncertainty) + KL(p̂ ‖ q) (the model's error).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ngram.lm.backoff import scoring
from ngram.core.corpus import DEFAULT_MAX_NAME_LENGTH, Corpus, read_names, source_label
from ngram.core.arrays import distinct
from ngram.core.errors import NgramError
from ngram.lm.backoff.model import FAST_SCORING_TARGETS
from ngram.lm.protocol import BOUNDED_CONTEXT, LEVELS, LanguageModel, gives_rows
from ngram.core.vocabulary import BOUNDARY, Encoded

EVALUATE_BLOCK_BYTES = 1 << 18  # bytes of a file read, encoded and scored at a time by ``evaluate_file``


def cross_entropy(targets: np.ndarray, probs: np.ndarray) -> float:
    """Mean over rows of -Σ_v t[v] ln q[v], in nats.

    ``targets`` may be integer labels (shape M), one-hot rows or soft label distributions
    (shape M×V); ``probs`` are the model's rows (M×V). With labels this is mean(-ln q[y]).
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    if probs.ndim != 2:
        raise ValueError("probs must be a 2-D array of probability rows")
    if targets.ndim == 1:
        if not np.issubdtype(targets.dtype, np.integer):
            raise ValueError("1-D targets must be integer labels")
        with np.errstate(divide="ignore"):
            return float(-np.log(probs[np.arange(len(targets)), targets]).mean())
    if targets.shape != probs.shape:
        raise ValueError("soft targets must have the same shape as probs")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(targets > 0, -targets * np.log(probs), 0.0)
    return float(terms.sum(axis=1).mean())


def entropy_and_kl(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise H(p) and KL(p ‖ q) in nats; H(p) + KL(p ‖ q) = cross-entropy(p, q)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(p > 0, -p * np.log(p), 0.0).sum(axis=-1)
        kl = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0).sum(axis=-1)
    return h, kl


@dataclass
class Evaluation:
    """How well a model predicts a set of names. NLL is in nats per predicted symbol."""

    data: str
    names: int
    symbols: int  # characters + one end symbol per name
    oov: int
    total_nll: float  # nats, summed over symbols
    per_name_nll: np.ndarray | None = None
    per_name_symbols: np.ndarray | None = None
    weighted: bool = False  # names counted by their weights; symbols and total_nll are weighted sums
    blank_lines: int = 0  # blank lines skipped in the file (``evaluate_file``)

    @property
    def nll(self) -> float:
        return self.total_nll / self.symbols if self.symbols else float("nan")

    @property
    def cross_entropy(self) -> float:
        return self.nll  # the same number, by definition: see the module docstring

    @property
    def bits(self) -> float:
        return self.nll / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll) if self.nll < 700 else float("inf")

    def summary(self) -> dict:
        return {
            "data": self.data,
            "names": self.names,
            "symbols": self.symbols,
            "oov": self.oov,
            "nll_nats_per_symbol": self.nll,
            "cross_entropy_nats_per_symbol": self.cross_entropy,
            "bits_per_symbol": self.bits,
            "perplexity_per_symbol": self.perplexity,
            **({"weighted": True} if self.weighted else {}),
        }


def evaluate(model: LanguageModel, names: Sequence[str] | Corpus, unknown: str | None = None, data: str = "<names>",
             line_numbers: Sequence[int] | None = None, weights: Sequence[float] | None = None) -> Evaluation:
    """Average NLL of ``names`` under ``model``: -Σ ln p / Σ scored symbols (micro-average).

    ``weights`` (a weighted test set, one count per name) count each name that many times, so
    ``symbols`` and ``total_nll`` are then weighted sums. ``names`` may be a ``Corpus``, read
    from its text without a Python string per name.
    """
    if len(names) == 0:
        raise NgramError(f"{data}: no names to evaluate")
    codes = names.code_points() if isinstance(names, Corpus) else None
    encoded = model.vocabulary.encode(() if codes is not None else names, unknown=unknown, line_numbers=line_numbers, source=data, codes=codes)
    per_name = -model.name_logprobs(encoded)
    symbols = encoded.symbols_per_name()
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(names),):
            raise NgramError(f"{data}: {len(w)} weights for {len(names)} names")
        total_symbols = float(w @ symbols)
        total = float(w @ per_name)
        return Evaluation(
            data=data, names=len(names), symbols=int(total_symbols) if total_symbols.is_integer() else total_symbols,
            oov=encoded.oov, total_nll=total, per_name_nll=per_name, per_name_symbols=symbols, weighted=True,
        )
    return Evaluation(
        data=data, names=len(names), symbols=int(symbols.sum()), oov=encoded.oov,
        total_nll=float(per_name.sum()), per_name_nll=per_name, per_name_symbols=symbols,
    )


def evaluate_file(model: LanguageModel, source, unknown: str | None = None, lowercase: bool = False, encoding: str = "utf-8",
                  max_name_length: int = DEFAULT_MAX_NAME_LENGTH, each_block=None,
                  block_bytes: int | None = None) -> Evaluation:
    """``evaluate`` of the names in a file (standard input for "-"), read, encoded and scored a
    block of lines at a time: a back-off model needs memory for itself, a block and two numbers a
    name, not for the file's names, their encoding or an automaton. The figures are the ones
    ``evaluate(model, read_names(source))`` gives, to the last bit, names in file order.

    ``each_block(names, symbols, nll)``, if given, sees each block's names (a list), their scored
    symbols and their total NLL in nats as soon as they are scored (per-name output without
    keeping the names). Another kind of model, or a text encoding that is not ASCII-compatible,
    is read whole and scored by ``evaluate``.
    """
    from ngram.training.streaming import check_streamable, iter_name_chunks

    label = source_label(source)
    try:
        check_streamable(encoding)
        streamed = LEVELS in model.capabilities
    except NgramError:
        streamed = False
    if not streamed:
        corpus = read_names(source, lowercase=lowercase, encoding=encoding, max_name_length=max_name_length)
        result = evaluate(model, corpus, unknown=unknown, data=corpus.source, line_numbers=corpus.line_numbers)
        result.blank_lines = corpus.blank_lines
        if each_block is not None:
            each_block(corpus.names, result.per_name_symbols, result.per_name_nll)
        return result
    # On a whole corpus ``Model.name_logprobs`` walks the automaton (adding each name's ln p in
    # order) from this many targets on, and adds with ``np.add.reduceat`` below it: blocks wait
    # until the file is known to be that big, and a smaller file is scored as one corpus.
    threshold = max(FAST_SCORING_TARGETS, sum(model.n_ngrams()) // 4)
    waiting: list[tuple[Corpus, Encoded]] = []
    waiting_targets, scorer, walk = 0, None, None
    results = _PerName(_lines_in(source))
    names = oov = blank = 0

    def scored(corpora: list[Corpus], block: Encoded, nll: np.ndarray) -> None:
        counts = block.symbols_per_name()
        results.add(nll, counts)
        if each_block is not None:  # (only then a Python string a name: 2 MB a block)
            each_block([name for corpus in corpora for name in corpus.names], counts, nll)

    for corpus, blank_here, _ in iter_name_chunks(source, block_bytes or EVALUATE_BLOCK_BYTES, lowercase, encoding, max_name_length):
        blank += blank_here
        if not len(corpus):
            continue
        block = model.vocabulary.encode((), unknown=unknown, line_numbers=corpus.line_numbers, source=label, codes=corpus.code_points())
        names += block.n_names
        oov += block.oov
        if walk:
            scored([corpus], block, -scoring.name_totals(scorer, block))
            continue
        waiting.append((corpus, block))
        waiting_targets += block.n_targets
        if walk is None and waiting_targets >= threshold:
            scorer = scoring.lean(model)  # None: the whole corpus is scored at the end, as evaluate would
            walk = scorer is not None
            if walk:
                for corpus, block in waiting:
                    scored([corpus], block, -scoring.name_totals(scorer, block))
                waiting = []
    if not names:
        raise NgramError(f"{label}: no names to read ({'only blank lines' if blank else 'no lines'})")
    if waiting:  # a small file (or a model the automaton cannot serve): one corpus, as evaluate scores it
        whole = _joined([block for _, block in waiting])
        scored([corpus for corpus, _ in waiting], whole, -model.name_logprobs(whole))
    nll, counts = results.arrays()
    return Evaluation(data=label, names=names, symbols=int(counts.sum()), oov=oov, total_nll=float(nll.sum()),
                      per_name_nll=nll, per_name_symbols=counts, blank_lines=blank)


def _lines_in(source) -> int | None:
    """How many lines a regular, uncompressed file has at most (newlines + 1), counted in a quick
    pass over its bytes; None for standard input or a compressed file."""
    from ngram.core.corpus import COMPRESSED_SUFFIXES

    path = Path(str(source))
    if str(source) == "-" or path.suffix.lower() in COMPRESSED_SUFFIXES or not path.is_file():
        return None
    lines = 1
    try:
        with open(path, "rb", buffering=0) as handle:
            buffer = bytearray(1 << 18)  # (one buffer read into again and again: no 1 MB object a read)
            while read := handle.readinto(buffer):
                lines += buffer.count(b"\n", 0, read)
    except OSError:
        return None  # the reader says why, in its own words
    return lines


class _PerName:
    """Each name's NLL and scored symbols, in arrays made once when the number of names is
    known beforehand (a bound: the file's lines), else grown as names come."""

    def __init__(self, capacity: int | None):
        self.nll = np.empty(capacity or 1024)
        self.symbols = np.empty(capacity or 1024, np.int32)
        self.filled = 0

    def add(self, nll: np.ndarray, symbols: np.ndarray) -> None:
        end = self.filled + len(nll)
        if end > len(self.nll):
            size = max(end, 2 * len(self.nll))
            self.nll = np.concatenate((self.nll[: self.filled], np.empty(size - self.filled)))
            self.symbols = np.concatenate((self.symbols[: self.filled], np.empty(size - self.filled, np.int32)))
        self.nll[self.filled : end] = nll
        self.symbols[self.filled : end] = symbols
        self.filled = end

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.nll[: self.filled], self.symbols[: self.filled]


def _joined(blocks: list[Encoded]) -> Encoded:
    """Encoded blocks of consecutive names as one (each ends with the boundary the next begins with)."""
    if len(blocks) == 1:
        return blocks[0]
    ids = np.concatenate([b.symbols[:-1] for b in blocks[:-1]] + [blocks[-1].symbols])
    offsets = np.cumsum([0] + [b.n_targets for b in blocks[:-1]])
    starts = np.concatenate([b.starts + offset for b, offset in zip(blocks, offsets)])
    return Encoded(ids=ids, starts=starts, oov=sum(b.oov for b in blocks))


@dataclass
class Explanation:
    """The context-grouped view of the same cross-entropy."""

    contexts: int
    cross_entropy: float  # Σ_c w_c H(p̂_c, q_c), nats per symbol
    entropy: float  # Σ_c w_c H(p̂_c): the data's own uncertainty given the model's contexts
    kl: float  # Σ_c w_c KL(p̂_c ‖ q_c): what the model gets wrong
    top: list[dict]  # the contexts that cost the most

    def summary(self) -> dict:
        return asdict(self)


EXPLAIN_CELLS = 1 << 21  # (context, symbol) cells of one block of ``explain`` (16 MB an array)


def explain(model: LanguageModel, encoded: Encoded, top: int = 10, progress: Callable[[str], None] | None = None,
            rows: np.ndarray | None = None) -> Explanation:
    """Group held-out positions by the model's context; compare soft labels with model rows.

    A context here is what the model conditions on: for a bounded-context model up to N-1
    preceding symbols, cut at the start of the name; for any other model (a whole-name mixture)
    the whole prefix of the name. Each group's weight is its share of the scored positions.
    ``progress(stage)``, if given, is told each stage's name as it starts; ``rows``, if the caller
    has them, are the model's next-symbol ln-vectors at every target of ``encoded``.
    """
    if not gives_rows(model):
        raise NgramError(f"explain: {model.describe()} gives no next-symbol vectors to compare with the held-out contexts")
    stage = progress or (lambda name: None)
    stage("grouping contexts")
    if BOUNDED_CONTEXT in model.capabilities:
        group_key, width = _bounded_contexts(model, encoded)
    else:
        group_key, width = _prefix_contexts(encoded), None
    groups, first, owner = np.unique(group_key, return_index=True, return_inverse=True)
    del group_key
    V = model.V
    targets = encoded.ids[1:]
    # A block of contexts at a time, in the order of their first positions (so that each block's
    # rows are those of a run of consecutive names, each name's made once in all): the block's
    # empirical and model vectors are (contexts, V), and memory stays a few tens of MB whatever
    # the number of names and contexts and the vocabulary.
    by_group = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[by_group], np.arange(len(groups) + 1))
    seen = np.argsort(first, kind="stable")
    block = max(EXPLAIN_CELLS // V, 1)
    weight, h, kl = (np.empty(len(groups)) for _ in range(3))
    stage("next-symbol vectors")
    for lo in range(0, len(groups), block):
        these = seen[lo : lo + block]
        counts = bounds[these + 1] - bounds[these]
        local = np.repeat(np.arange(len(these)), counts)
        at = by_group[np.repeat(bounds[these], counts) + np.arange(len(local)) - np.repeat(np.cumsum(counts) - counts, counts)]
        empirical = np.zeros((len(these), V))
        np.add.at(empirical, (local, targets[at]), 1.0)
        weight[these] = counts / len(targets)
        empirical /= counts[:, None]
        q = np.exp(rows[first[these]] if rows is not None else _rows_at(model, encoded, first[these]))
        h[these], kl[these] = entropy_and_kl(empirical, q)
        del empirical, q
    ce = h + kl
    order = np.argsort(-(weight * kl))[:top]
    symbols = model.vocabulary.symbols
    history = encoded.history()
    described = []
    for g in order:
        at = int(first[g]) + 1  # the position in encoded.ids of the group's first target
        length = int(history[first[g]]) if width is None else int(min(history[first[g]], width))
        window = encoded.ids[at - length:at]
        text = "".join(symbols[int(i)] for i in window)
        # "context" is for people ('.' = start); a literal '.' in a name makes it ambiguous, so the
        # characters alone and whether the context begins at the start of the name travel beside it.
        at_start = bool(length) and int(window[0]) == BOUNDARY
        described.append({"context": text, "characters": model.vocabulary.decode(window), "at_start": at_start,
                          "weight": float(weight[g]), "entropy": float(h[g]), "kl": float(kl[g])})
    return Explanation(
        contexts=len(groups),
        cross_entropy=float((weight * ce).sum()),
        entropy=float((weight * h).sum()),
        kl=float((weight * kl).sum()),
        top=described,
    )


def _bounded_contexts(model: LanguageModel, encoded: Encoded) -> tuple[np.ndarray, int]:
    """A key per target position naming its last min(history, N-1) symbols, and N-1."""
    keys, history = model.window_keys(encoded)
    history = np.minimum(history, model.order - 1)
    V = model.V
    context = keys // V % (V ** (model.order - 1)) if model.order > 1 else np.zeros_like(keys)
    # Only the first `history` symbols are real context: mask the rest so equal contexts group.
    context = context % (np.int64(V) ** history)
    return context * model.order + history, model.order - 1


def _prefix_contexts(encoded: Encoded) -> np.ndarray:
    """A key per target position naming the whole prefix of its name before it (equal prefixes,
    equal keys): numbered one depth at a time, each prefix = (its parent prefix, its last symbol)."""
    ids, history = encoded.ids, encoded.history()
    base = int(ids.max(initial=0)) + 1
    key = np.zeros(len(history), np.int64)  # depth 1 (just the start of a name): key 0
    used = 1
    for depth in range(2, int(history.max(initial=1)) + 1):
        at = np.flatnonzero(history == depth)  # targets with `depth` symbols before them
        _, inverse = np.unique(key[at - 1] * base + ids[at], return_inverse=True)  # (parent prefix, symbol added)
        key[at] = used + inverse
        used += int(inverse.max(initial=-1)) + 1
    return key


def _rows_at(model: LanguageModel, encoded: Encoded, positions: np.ndarray) -> np.ndarray:
    """The model's next-symbol ln-vectors at some target positions, asking it only about the
    names those positions are in."""
    starts = encoded.starts
    ends = np.append(starts[1:], encoded.n_targets)  # position in ids of each name's end symbol
    name = np.searchsorted(starts, positions, side="right") - 1  # target t is ids[t + 1]
    names = distinct(name)
    pieces = [encoded.ids[starts[k]:ends[k]] for k in names]
    sub = Encoded(ids=np.concatenate(pieces + [np.zeros(1, np.int64)]), starts=np.cumsum([0] + [len(p) for p in pieces[:-1]]))
    offset = sub.starts[np.searchsorted(names, name)] - starts[name]
    return model.row_logprobs(sub)[positions + offset]
