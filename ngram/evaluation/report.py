"""A self-contained HTML report of where a model is surprised by held-out names.

``build(model, names, ...)`` computes everything the page shows as one plain dict (numbers only
as finite floats or None, so it is strict JSON); ``render(data)`` puts it into the page template
(``report_page.html``: styles and a small script, no external resource); ``write(path, data)``
saves the page atomically. The page draws every shown name as a strip of cells, one per scored
symbol (its characters and the end symbol), coloured by the surprisal -ln p(symbol | context);
hovering or focusing a cell shows the context, the top of the next-symbol vector and the true
symbol's probability. Totals are computed over all names; only the first ``max_names`` are drawn.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from typing import Callable, Sequence

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.files import write_atomically
from ngram.evaluation.metrics import evaluate, explain
from ngram.lm.protocol import BOUNDED_CONTEXT, LanguageModel, gives_rows
from ngram.core.vocabulary import Encoded

DEFAULT_MAX_NAMES = 2000
MAX_DRAWN_NAMES = 20_000  # names drawn on one page: about 12 MB of page for names of 7 characters
MAX_SAMPLES = 10_000  # samples shown on one page
STAGES = 4  # what ``build`` tells its ``progress``: scoring, contexts, vectors, samples
TOP_SYMBOLS = 5  # entries of the next-symbol vector shown on hover
TOP_CONTEXTS = 25  # contexts in the "cost most" chart
SCALE_MAX_NATS = 6.0  # the colour scale runs from 0 to this surprisal; above it, the darkest colour
WHY_SAME = ("averaged over held-out symbols, -ln p(next | context) is the cross-entropy between the one-hot "
            "next-symbol labels and the model's probability vectors, so the two are one number.")


def next_symbol_rows(model: LanguageModel, encoded: Encoded) -> np.ndarray | None:
    """The whole next-symbol ln-vector at every target position (targets x V), or None when the
    model gives no next-symbol vectors (then the page shows only the true symbol's probability)."""
    if not gives_rows(model):
        return None
    return np.asarray(model.row_logprobs(encoded), dtype=np.float64)


def check_request(max_names: int, samples: int) -> None:
    """Refuse, before any work, what the page cannot hold: its size grows with the names drawn
    and the samples shown, so both have a cap (the summary counts every name whatever is drawn)."""
    if max_names < 1:
        raise NgramError(f"--max-names must be at least 1, got {max_names}")
    if max_names > MAX_DRAWN_NAMES:
        raise NgramError(f"--max-names must be at most {MAX_DRAWN_NAMES:,} (a page drawing more names is too large for a "
                         f"browser; the summary counts every name anyway), got {max_names:,}")
    if samples < 0:
        raise NgramError(f"--samples must be 0 or more, got {samples}")
    if samples > MAX_SAMPLES:
        raise NgramError(f"--samples must be at most {MAX_SAMPLES:,} (each is shown on the page beside its nearest "
                         f"training names), got {samples:,}")


def _finite(value: float) -> float | None:
    """A number for strict JSON: infinity (a symbol of probability 0) becomes None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _finite_list(values: np.ndarray, digits: int) -> list:
    values = np.round(np.asarray(values, dtype=np.float64), digits)
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def _distances_to(word: str, table: np.ndarray) -> np.ndarray:
    """Levenshtein distance from ``word`` to every row of ``table`` (code points of candidates
    that all have the same length), vectorised over the candidates."""
    width = table.shape[1]
    previous = np.broadcast_to(np.arange(width + 1, dtype=np.int64), (len(table), width + 1)).copy()
    for i, ch in enumerate(word, start=1):
        current = np.empty_like(previous)
        current[:, 0] = i
        cost = (table != ord(ch)).astype(np.int64)
        for j in range(1, width + 1):
            current[:, j] = np.minimum(np.minimum(previous[:, j] + 1, current[:, j - 1] + 1), previous[:, j - 1] + cost[:, j - 1])
        previous = current
    return previous[:, width]


class _ByLength:
    """Candidates grouped by length, each group a table of code points."""

    def __init__(self, candidates: Sequence[str]):
        groups: dict[int, list[str]] = {}
        for c in candidates:
            groups.setdefault(len(c), []).append(c)
        self.groups = {n: (words, np.array([[ord(ch) for ch in w] for w in words], np.int64).reshape(len(words), n))
                       for n, words in groups.items()}

    def nearest(self, word: str, keep: int) -> tuple[int | None, list[str]]:
        """The smallest distance from ``word`` to a candidate and up to ``keep`` candidates at it.
        Groups are visited by length difference, which bounds the distance from below, so most
        of them are never computed."""
        best, near = None, []
        for n in sorted(self.groups, key=lambda n: (abs(n - len(word)), n)):
            if best is not None and abs(n - len(word)) > best:
                break
            words, table = self.groups[n]
            d = _distances_to(word, table)
            low = int(d.min())
            if best is None or low < best:
                best, near = low, []
            if low == best:
                near += [words[i] for i in np.flatnonzero(d == low)[: keep - len(near)]]
        return best, sorted(near)


def edit_distances(word: str, candidates: Sequence[str]) -> np.ndarray:
    """Levenshtein distance from ``word`` to every candidate."""
    out = np.zeros(len(candidates), np.int64)
    lengths = np.fromiter((len(c) for c in candidates), np.int64, len(candidates))
    for n in np.unique(lengths):
        rows = np.flatnonzero(lengths == n)
        table = np.array([[ord(ch) for ch in candidates[i]] for i in rows], np.int64).reshape(len(rows), int(n))
        out[rows] = _distances_to(word, table)
    return out


def nearest_names(samples: Sequence[str], train: Sequence[str], keep: int = 3) -> list[dict]:
    """For each sample, its smallest edit distance to a training name and up to ``keep`` names at it
    (sorted)."""
    groups = _ByLength(sorted(set(train)))
    out = []
    for name in samples:
        best, near = groups.nearest(name, keep)
        out.append({"distance": best, "nearest": near})
    return out


def build(model: LanguageModel, names: Sequence[str], *, source: str = "<names>", unknown: str | None = None,
          line_numbers: Sequence[int] | None = None, max_names: int = DEFAULT_MAX_NAMES, samples: int = 10,
          seed: int | None = 0, train: Sequence[str] | None = None, train_source: str | None = None,
          model_label: str = "model", progress: Callable[[str], None] | None = None) -> dict:
    """Everything the report shows, as strict-JSON data (finite floats or None).

    ``progress(stage)``, if given, is told each stage's name as it starts (a progress bar)."""
    check_request(max_names, samples)
    names = list(names)
    if not names:
        raise NgramError(f"{source}: no names to report on")
    stage = progress or (lambda name: None)
    policy = unknown or ("unk" if model.vocabulary.unk else "error")
    stage("scoring names")
    result = evaluate(model, names, unknown=policy, data=source, line_numbers=line_numbers)
    encoded_all = model.vocabulary.encode(names, unknown=policy, line_numbers=line_numbers, source=source)
    shown = names[:max_names]
    stage("next-symbol vectors")
    # Every name drawn (the usual case): one set of rows serves the page and the split.
    rows_all = next_symbol_rows(model, encoded_all) if len(shown) == len(names) else None
    stage("grouping contexts (H + KL)")
    split, split_note = _split(model, encoded_all, rows_all)
    encoded = encoded_all if rows_all is not None else \
        model.vocabulary.encode(shown, unknown=policy, line_numbers=line_numbers, source=source)
    positions, notes = _positions(model, encoded, rows_all if rows_all is not None else next_symbol_rows(model, encoded))
    data = {
        "title": f"Where {model_label} is surprised by {source}",
        "model": {"file": model_label, "description": model.describe(), "order": model.order, "V": model.V},
        "heldout": source,
        "symbols": model.vocabulary.symbols,
        "summary": _summary(result, len(shown), policy),
        "split": split,
        "split_note": split_note,
        "scale": {"max_nats": SCALE_MAX_NATS},
        "names": {
            "text": shown,
            "nll_nats": [_finite(v) for v in result.per_name_nll[: len(shown)]],  # full precision: the page rounds as the CLI does
            "symbols": [int(s) for s in result.per_name_symbols[: len(shown)]],
        },
        "positions": positions,
        **notes,
    }
    stage("sampling names")
    data["samples"] = _samples(model, samples, seed, train, train_source)
    return data


def _summary(result, shown: int, policy: str) -> dict:
    return {
        "names": result.names,
        "names_shown": shown,
        "symbols": result.symbols,
        "oov": result.oov,
        "unknown_policy": policy,
        "total_nll_nats": _finite(result.total_nll),
        "nll_nats_per_symbol": _finite(result.nll),
        "cross_entropy_nats_per_symbol": _finite(result.cross_entropy),
        "bits_per_symbol": _finite(result.bits),
        "perplexity_per_symbol": _finite(result.perplexity),
        "nll_nats_per_name": _finite(result.total_nll / result.names),
        "why_same": WHY_SAME,
    }


def _no_rows_note(model: LanguageModel) -> str:
    return f"{model.describe()} gives no next-symbol vectors"


def _split(model: LanguageModel, encoded: Encoded, rows: np.ndarray | None) -> tuple[dict | None, str | None]:
    """The H + KL split over every name, or why there is none (a model without next-symbol vectors)."""
    if not gives_rows(model):
        return None, _no_rows_note(model)
    explanation = explain(model, encoded, top=TOP_CONTEXTS, rows=rows)
    positions = encoded.n_targets
    return {
        "contexts": explanation.contexts,
        "cross_entropy_nats_per_symbol": _finite(explanation.cross_entropy),
        "entropy_nats_per_symbol": _finite(explanation.entropy),
        "kl_nats_per_symbol": _finite(explanation.kl),
        "top": [{
            "context": row["context"],
            "count": int(round(row["weight"] * positions)),
            "share": _finite(row["weight"]),
            "entropy_nats": _finite(row["entropy"]),
            "kl_nats": _finite(row["kl"]),
            # What the context adds to the file's nats/symbol: its share times H, and times KL.
            "entropy_contribution": _finite(row["weight"] * row["entropy"]),
            "kl_contribution": _finite(row["weight"] * row["kl"]),
        } for row in explanation.top],
    }, None


def _positions(model: LanguageModel, encoded: Encoded, rows: np.ndarray | None) -> tuple[dict, dict]:
    """Per drawn position: its symbol, surprisal, context length and the top of its next-symbol
    vector (hover, from ``rows``); and the notes saying what a model without per-symbol answers
    leaves out."""
    if rows is not None:
        surprisal = -np.asarray(model.logprob_encoded(encoded), dtype=np.float64)  # adds up to each name's NLL
        notes = {"symbols_note": None, "rows_note": None}
    else:
        surprisal = None
        notes = {"symbols_note": f"this model gives no per-symbol probabilities ({_no_rows_note(model)}); "
                                 "each name's total is exact", "rows_note": None}
    history = encoded.history()  # the context shown on hover: the model's window, or the whole prefix
    if BOUNDED_CONTEXT in model.capabilities:
        history = np.minimum(history, max(model.order - 1, 0))
    k = min(TOP_SYMBOLS, model.V)
    top_ids = top_p = None
    if rows is not None:
        part = np.argpartition(-rows, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(rows, part, axis=1), axis=1, kind="stable")
        top_ids = np.take_along_axis(part, order, axis=1)
        top_p = np.exp(np.take_along_axis(rows, top_ids, axis=1))
    return {
        "symbol": [int(i) for i in encoded.ids[1:]],
        "surprisal_nats": _finite_list(surprisal, 5) if surprisal is not None else None,
        "history": [int(h) for h in history],
        "top_ids": top_ids.ravel().tolist() if top_ids is not None else None,
        "top_p": _finite_list(top_p.ravel(), 6) if top_p is not None else None,
        "top_k": k,
    }, notes


def _samples(model, n: int, seed, train, train_source) -> dict:
    if n == 0:
        return {"seed": seed, "items": [], "note": "no samples asked for"}
    from ngram.generation.sampling import sample

    drawn = sample(model, n=n, seed=seed)
    encoded = model.vocabulary.encode(drawn, unknown="unk" if model.vocabulary.unk else "skip")
    nll = -model.name_logprobs(encoded) / encoded.symbols_per_name()
    items = [{"name": name, "nll_nats_per_symbol": _finite(v)} for name, v in zip(drawn, nll)]
    if train is not None:
        for item, near in zip(items, nearest_names(drawn, train)):
            item.update(near)
        note = f"nearest training names by edit distance, among the {len(set(train))} distinct names of {train_source}"
    else:
        note = ("the model keeps only fingerprints of its training names, so no nearest names are shown; "
                "give the training names (--train FILE) to see them")
    return {"seed": seed, "items": items, "note": note}


def _template() -> str:
    return resources.files("ngram.evaluation").joinpath("report_page.html").read_text(encoding="utf-8")


PLACEHOLDER = re.compile(r"\{\{(TITLE|DATA)\}\}")


def render(data: dict) -> str:
    """The page: the template with the data as one JSON blob (safe inside a script element).

    The template's placeholders are filled in one pass over the template alone, so text that
    comes from names or file names (a file called ``{{DATA}}.txt``) is never read as one."""
    blob = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    blob = blob.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    title = data["title"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    values = {"TITLE": title, "DATA": blob}
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], _template())


def write(path, data: dict) -> int:
    """Write the page atomically; returns its size in bytes."""
    page = render(data).encode("utf-8")
    write_atomically(path, lambda handle: handle.write(page), "the report",
                     replaces=(lambda head: head.lstrip().lower().startswith(b"<!doctype html"), "an HTML page"))
    return len(page)
