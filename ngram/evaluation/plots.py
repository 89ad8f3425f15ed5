"""Pictures: the model's averaged next-symbol table as a heatmap, and NLL against order (train and held-out).

matplotlib is optional (``pip install ".[plot]"``) and imported only when a picture is drawn.
Figures are built on matplotlib's object API with the Agg canvas, never pyplot, so plotting
touches no global state and needs no display. Images are written atomically like model files.
"""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass
from typing import Sequence
import warnings

import numpy as np

from ngram.core.errors import NgramError, indefinite
from ngram.core.files import write_atomically
from ngram.core.vocabulary import BOUNDARY
from ngram.lm.protocol import BOUNDED_CONTEXT, LanguageModel, require

LABELLED_CELLS = 60  # symbols per side up to which the heatmap's cells show their bigram and probability
SHOWN_FROM = 0.02  # probabilities from which a cell is labelled (the faint rest: colour only)
MISSING = "plotting needs matplotlib, which is not installed: pip install \"ngram-names[plot]\" (or pip install matplotlib)"


def _matplotlib():
    """The Figure class and colour helpers, or a one-line error when matplotlib is missing."""
    try:
        from matplotlib import colors
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NgramError(MISSING) from None
    return Figure, FigureCanvasAgg, colors


def _save(figure, path: str | os.PathLike, dpi: int) -> None:
    path = Path(path)
    if not (isinstance(dpi, (int, float)) and 10 <= dpi <= 1200):  # 0 or less makes matplotlib fail deep inside
        raise NgramError(f"dpi must be between 10 and 1200, got {dpi!r}")
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise NgramError(f"{path}: choose a .png, .svg or .pdf file name")
    # The one atomic writer the model and ARPA files use: a failed draw leaves any old image intact,
    # and devices, folders and files that are not images are never replaced.
    with warnings.catch_warnings():
        # (a symbol the font has no glyph for is drawn as a box; matplotlib would warn once a
        # symbol, a line each on the terminal, for what the picture shows anyway)
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        write_atomically(
            path,
            lambda handle: figure.savefig(handle, format=path.suffix[1:].lower(), dpi=dpi),
            "the image",
            replaces=(_looks_like_image, "an image"),
        )


def _looks_like_image(head: bytes) -> bool:
    return head.startswith((b"\x89PNG", b"%PDF", b"<?xml", b"<svg"))


DRAWN_SYMBOLS = 80  # rows (and columns) a heatmap draws at most: past it, the characters that occur most
SAMPLED_NAMES = 2000  # names drawn (per whole-name component) when the model's own context frequencies weight the rows
LONGEST_WALK = 64  # characters: a drawn name still running here stops (its rows so far count)
ROWS_PER_BATCH = 1 << 20  # next-symbol probabilities (rows x V) scored at once: bounds the memory


@dataclass
class Heatmap:
    """The heatmap's matrix and what it means.

    ``table[r]`` is the model's own next-symbol distribution after the row's previous symbol,
    averaged over the contexts that end in that symbol, each weighted by how often it occurs
    (``weighting`` says in what). Row ids: 0 = the start of a name, then the characters; column
    ids: 0 = the end of the name, then the characters (and ``<unk>``). ``occurrences[r]`` is the
    weight behind row r (a row whose symbol never occurs is NaN)."""

    table: np.ndarray
    row_ids: list[int]
    col_ids: list[int]
    occurrences: np.ndarray
    weighting: str
    title: str


def recorded_training_names(model: LanguageModel) -> list[str] | None:
    """The model's training names when the file its corpus record names is still there and holds
    exactly those names (same sha256), else None."""
    from ngram.core.corpus import read_names
    from ngram.lm.provenance import CorpusInfo

    source = str(model.corpus.get("source", ""))
    if not source or source.startswith("<") or not Path(source).is_file() or model.corpus.get("total_weight") is not None:
        return None
    try:
        names = read_names(source).names
    except NgramError:
        return None
    return names if CorpusInfo.of_names(names).sha256 == model.corpus.get("sha256") else None


def heatmap_data(model: LanguageModel, names: Sequence[str] | None = None, source: str = "the training names",
                 samples: int = SAMPLED_NAMES, seed: int = 0, progress=None) -> Heatmap:
    """p(next | previous symbol) as the model itself gives it, averaged over contexts.

    With ``names`` (the training names, say) every position of every name is a context: the row
    of symbol c averages the model's next-symbol vectors at the positions after a c, the exact
    vectors of ``row_logprobs`` in batches of names. A model without bounded contexts (a
    whole-name mixture Σᵢ wᵢ pᵢ) has no cheap exact vector at an arbitrary prefix, so its rows are
    weighted by the model's own expected context frequencies instead (so is any model when no
    names are given). The mixture splits that exactly: Σ_h P(h…) p(x | h) over the prefixes h
    ending in c is the expected number of c→x bigrams in a name drawn from the model, Σᵢ wᵢ Eᵢ[c→x],
    and each Eᵢ is estimated from ``samples`` names drawn from component i, adding its exact
    next-symbol vector at every context a draw visits (``_rows_over_walks``; a right-to-left
    component's bigrams read backwards). An exact sum over every prefix was tried and is far
    slower: names spread their mass over millions of prefixes. ``progress(total)`` returns a
    callable advanced by steps done, or None.
    """
    V = model.V
    C = len(model.vocabulary.characters)
    bounded = BOUNDED_CONTEXT in model.capabilities
    shown = None  # the characters drawn: all, or a large alphabet's that occur most
    if names is not None and bounded:
        if C + 1 > DRAWN_SYMBOLS:  # (only their columns are asked of the model: a few percent of the work)
            shown = _occurring_most(model, names, DRAWN_SYMBOLS - 1)
        columns = np.arange(V) if shown is None else np.concatenate(([0], shown))
        counts = np.zeros((V, len(columns)))  # counts[c, j]: summed mass of columns[j] after c
        weight = np.zeros(V)  # and how many positions follow c
        _rows_over_names(model, names, counts, weight, columns, progress)
        weighting = f"contexts weighted by how often they occur in {source} ({len(names):,} names)"
    else:
        columns, counts = np.arange(V), np.zeros((V, V))  # counts[c, x]: expected mass of x after c
        parts = model.name_components() if not bounded else [(1.0, model, False)]
        tick = progress(samples * len(parts)) if progress else None
        for k, (share, component, reverse) in enumerate(parts):
            require(component, BOUNDED_CONTEXT, "plot heatmap", f"a component is {indefinite(component.describe())}, which has no bounded-context rows")
            own = np.zeros((V, V))
            _rows_over_walks(component, samples, seed + k, own, tick)
            counts += share * (own.T if reverse else own) / samples  # right to left: its c→x is our x→c
        weighting = (f"contexts weighted by the model's own expected frequencies, estimated from {samples:,} names "
                     f"drawn{' per component' if len(parts) > 1 else ''} (seed {seed})")
    rows = list(range(C + 1)) if shown is None else [0, *shown.tolist()]  # the start, then the characters; never <unk>
    # (whole rows: each position adds 1 to its row's sum; a few columns: the positions counted)
    occurrences = counts[rows].sum(axis=1) if shown is None else weight[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        table = counts[rows] / occurrences[:, None]
    name = model.estimator.get("name", "?")
    trained = Path(str(model.corpus.get("source", ""))).name
    what = f"order-{model.order} {name} model" if bounded else f"{name} ({model.kind} model)"
    what += f" on {trained}" if trained and not trained.startswith("<") else ""
    title = f"p(next | previous symbol) of the {what}, averaged over every context ending in the previous symbol;\n{weighting}"
    if shown is not None:
        title += _cut_note(len(shown), C)
    return most_frequent(Heatmap(table, rows, columns.tolist(), occurrences, weighting, title))


def _occurring_most(model: LanguageModel, names: Sequence[str], k: int) -> np.ndarray:
    """The ids of the ``k`` characters that occur most often in ``names`` (each occurrence is the
    previous symbol of one position), in id order."""
    encoded = model.vocabulary.encode(names, unknown="unk" if model.vocabulary.unk else "skip")
    C = len(model.vocabulary.characters)
    often = np.bincount(np.asarray(encoded.ids, np.int64), minlength=C + 1)[1 : C + 1]  # (ids 1..C: the characters)
    return np.sort(np.argsort(-often, kind="stable")[:k]) + 1


def _cut_note(shown: int, characters: int) -> str:
    return (f"; rows and columns: the start or end and the {shown:,} characters that occur most (of {characters:,}), "
            "so a row's shown cells need not sum to 1")


def most_frequent(data: Heatmap, limit: int | None = None) -> Heatmap:
    """``data`` as a picture can show it: past ``limit`` rows or columns (a vocabulary of
    thousands of characters would be an image of gigapixels, unreadable), the start and end and
    the ``limit - 1`` characters whose rows weigh most, the title saying so; else as it is."""
    limit = DRAWN_SYMBOLS if limit is None else limit
    if max(data.table.shape) <= limit:
        return data
    weight = np.nan_to_num(data.occurrences[1:], nan=0.0)
    chosen = np.sort(np.argsort(-weight, kind="stable")[: limit - 1]) + 1  # (row places: 0 is the start)
    symbols = [data.row_ids[i] for i in chosen]
    columns = [0] + [data.col_ids.index(c) for c in symbols]
    rows = np.concatenate(([0], chosen))
    return Heatmap(data.table[np.ix_(rows, columns)], [data.row_ids[i] for i in rows], [data.col_ids[j] for j in columns],
                   data.occurrences[rows], data.weighting, data.title + _cut_note(len(symbols), len(data.row_ids) - 1))


def _rows_over_names(model: LanguageModel, names: Sequence[str], counts: np.ndarray, weight: np.ndarray,
                     columns: np.ndarray, progress) -> None:
    """Add the model's next-symbol vector (its ``columns``) at every position of ``names`` to the
    row of the symbol before it (0 = the start), and 1 to that symbol's ``weight``. Positions
    sharing the model's context share one vector, scored once with its multiplicity; a batch of
    names at a time bounds the memory."""
    V, width = model.V, model.order - 1
    per_batch = max(1, ROWS_PER_BATCH // (len(columns) * 8))
    tick = progress(len(names)) if progress else None
    columns = np.asarray(columns, np.int64)
    for lo in range(0, len(names), per_batch):
        batch = names[lo:lo + per_batch]
        encoded = model.vocabulary.encode(batch, unknown="unk" if model.vocabulary.unk else "skip")
        previous = encoded.ids[:-1]
        if width:
            keys, history = model.window_keys(encoded)
            history = np.minimum(history, width)
            context = (keys // V) % (np.int64(V) ** history)  # digits beyond the history are not context
            group = context * (width + 1) + history
        else:  # order 1: one row everywhere, kept apart by previous symbol only
            context, history, group = np.zeros_like(previous), np.zeros_like(previous), previous
        _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
        times = np.bincount(inverse.ravel()).astype(float)
        windows = (context[first, None] * V + columns[None, :]).ravel()
        rows = np.exp(model.logprob_keys(windows, np.repeat(history[first], len(columns)))).reshape(len(first), -1)
        _add_by_previous(counts, previous[first], rows * times[:, None])
        np.add.at(weight, previous[first], times)
        if tick:
            tick(len(batch))


def _rows_over_walks(model: LanguageModel, n: int, seed: int, counts: np.ndarray, tick) -> None:
    """Draw ``n`` names from a bounded-context model, all at once one symbol a step, adding the
    model's exact next-symbol vector at every visited context to the row of the symbol before it
    (the vectors, not the drawn symbols, are averaged: far less noise for the same draws). The
    walk is the model's automaton view's (rows made once per context state; <unk> drawn like any
    symbol, since these are the model's own frequencies)."""
    from ngram.lm.backoff.automaton import view

    rng = np.random.default_rng(seed)
    auto = view(model, mask_unk=False)
    V = model.V
    bases = auto.bases(np.full(n, auto.start, np.int64))  # each walk's slot, as its draw-table base
    previous = np.zeros(n, np.int64)  # the symbol before (0: the start)
    for _ in range(LONGEST_WALK):
        # Draws in the same state after the same symbol share one vector (all of them at the start).
        group = (bases >> auto.shift).astype(np.int64) * V + previous
        unique, inverse = np.unique(group, return_inverse=True)
        rows = np.exp(auto.logrows[unique // V])
        _add_by_previous(counts, unique % V, rows * np.bincount(inverse.ravel(), minlength=len(unique))[:, None])
        packed = auto.step(bases, rng.random(len(bases)))  # the state after each draw, shifted, plus the symbol
        drawn = (packed & (auto.width - 1)).astype(np.int64)
        going = drawn != BOUNDARY
        if tick:
            tick(int(len(bases) - going.sum()))
        if not going.any():
            bases = bases[:0]
            break
        bases, previous = auto.bases_after(packed[going]), drawn[going]
    if tick and len(bases):
        tick(len(bases))  # names still running at LONGEST_WALK characters: their rows so far count


def _add_by_previous(counts: np.ndarray, previous: np.ndarray, rows: np.ndarray) -> None:
    """counts[c] += the sum of ``rows`` whose previous symbol is c (one sort, one reduceat)."""
    previous = np.asarray(previous, np.int64)
    order = np.argsort(previous, kind="stable")
    keys = previous[order]
    firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    if len(firsts):
        counts[keys[firsts]] += np.add.reduceat(rows[order], firsts, axis=0)


def bigram_table(model: LanguageModel, names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str], list[str]]:
    """``heatmap_data``'s matrix with display labels: rows '.' (the start) then the characters,
    columns '.' (the end) then every symbol."""
    data = heatmap_data(model, names)
    symbols = model.vocabulary.symbols
    return data.table, [symbols[i] for i in data.row_ids], [symbols[i] for i in data.col_ids]


def plot_heatmap(model: LanguageModel, path: str | os.PathLike, title: str | None = None, dpi: int = 60,
                 data: Heatmap | None = None) -> Heatmap:
    """The averaged next-symbol table (``heatmap_data``) as a labelled heatmap; returns what it drew."""
    Figure, Canvas, colors = _matplotlib()
    data = most_frequent(data or heatmap_data(model))
    table = np.nan_to_num(data.table, nan=0.0)  # a symbol that never occurs: an empty row
    symbols = model.vocabulary.symbols
    row_labels, col_labels = [symbols[i] for i in data.row_ids], [symbols[i] for i in data.col_ids]
    show = lambda s: {" ": "␣", "<unk>": "?"}.get(s, s)  # noqa: E731  a space would be an invisible label
    rows, cols = table.shape
    cell = 0.42 if max(rows, cols) <= LABELLED_CELLS else 0.2  # inches: room for a two-line label in every cell
    figure = Figure(figsize=(max(cell * cols + 2.4, 9.0), max(cell * rows + 1.8, 5.0)))  # small V: room for the title
    Canvas(figure)
    ax = figure.add_subplot()
    # A square-root colour scale keeps the many small probabilities visible next to the large ones.
    image = ax.imshow(table, cmap="Blues", norm=colors.PowerNorm(0.5, vmin=0, vmax=1), aspect="equal")
    # Two-line cell labels while they stay readable and quick to draw; beyond that, colour only. A
    # cell under 2% shows its colour only: most cells, and each label costs
    # milliseconds to draw.
    labelled = max(rows, cols) <= LABELLED_CELLS
    for i in range(rows if labelled else 0):  # loops over the table's cells: at most V² labels, not per n-gram
        for j in range(cols):
            p = table[i, j]
            if p < SHOWN_FROM:
                continue
            shown = f"{p:.2f}"[1:] if p < 0.995 else "1"
            ax.text(j, i, f"{show(row_labels[i])}{show(col_labels[j])}\n{shown}", ha="center", va="center",
                    fontsize=6, linespacing=1.1, color="white" if p > 0.3 else "#303030")
    ax.set_xticks(range(cols), [show(s) for s in col_labels])
    ax.set_yticks(range(rows), [show(s) for s in row_labels])
    ax.xaxis.tick_top()
    ax.set_xlabel("next symbol (. = end of name)")
    ax.set_ylabel("previous symbol (. = start of name)")
    ax.set_title(title or data.title, pad=28, fontsize=8)
    figure.colorbar(image, ax=ax, fraction=0.04, shrink=0.6, pad=0.02, label="probability")
    # Fixed margins (in inches, turned into fractions): tight_layout would draw every cell label twice.
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=0.9 / width, right=1 - 0.8 / width, top=1 - 1.3 / height, bottom=0.4 / height)
    _save(figure, path, dpi)
    return data


def _heldout(row: dict) -> float:
    value = row.get("val_nll", row.get("heldout_nll"))
    if value is None:
        raise NgramError("each result needs estimator, order and val_nll (or heldout_nll)")
    return float(value)


def _whole_order(value) -> int | None:
    """An order as an int, or None for a row that spans several orders (a mixture, "3-10")."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def plot_tuning(results: Sequence[dict], path: str | os.PathLike, title: str | None = None, dpi: int = 100) -> dict:
    """Held-out (solid) and training (dashed) NLL against order, one colour per estimator.

    ``results``: dicts with ``estimator``, ``order``, ``val_nll`` (or ``heldout_nll``, as
    ``ngram.tuning`` names it) and optionally ``train_nll``, ``settings``, ``kind`` and ``best``
    (nats/symbol). Where one estimator has several rows at an order (several settings tried),
    the one with the lowest held-out NLL is drawn. A row whose order is not one number (a mixture
    of orders, "3-10") is a horizontal dotted line. The chosen row (``best``, else the lowest
    held-out NLL) is marked with a star and labelled with its settings; its curve is always drawn
    (closed-form rows are a curve of their own, beside the tuned rows of the same estimator) and
    its star sits on it. Returns what was drawn: the curves' (order, held-out NLL) points, the
    dotted lines, and the star's (x, y).
    """
    Figure, Canvas, _ = _matplotlib()
    if not results:
        raise NgramError("nothing to plot: no results")
    best_per: dict[tuple[str, int], dict] = {}
    spans: list[dict] = []
    for row in results:
        if "estimator" not in row or "order" not in row:
            raise NgramError("each result needs estimator, order and val_nll (or heldout_nll)")
        nll = _heldout(row)
        order = _whole_order(row["order"])
        if order is None:
            spans.append(row)
            continue
        key = (_curve(row), order)
        if key not in best_per or nll < _heldout(best_per[key]):
            best_per[key] = row
    flagged = [r for r in results if r.get("best")]
    chosen = flagged[0] if flagged else min(results, key=_heldout)
    if _whole_order(chosen["order"]) is not None:  # the chosen row is the point its curve shows at its order
        best_per[(_curve(chosen), _whole_order(chosen["order"]))] = chosen
    curves: dict[str, list[tuple[int, float]]] = {}
    figure = Figure(figsize=(11.5, 4.8))
    Canvas(figure)
    ax = figure.add_subplot()
    estimators = list(dict.fromkeys(k[0] for k in best_per))
    for i, name in enumerate(estimators):
        colour = f"C{i % 10}"
        rows = sorted((r for k, r in best_per.items() if k[0] == name), key=lambda r: _whole_order(r["order"]))
        orders = [_whole_order(r["order"]) for r in rows]
        curves[name] = [(o, _heldout(r)) for o, r in zip(orders, rows)]
        ax.plot(orders, [_heldout(r) for r in rows], "o-", color=colour, label=f"{name} held-out")
        train = [(o, r.get("train_nll")) for o, r in zip(orders, rows) if r.get("train_nll") is not None]
        if train:
            ax.plot(*zip(*train), ".--", color=colour, alpha=0.6, label=f"{name} train")
    orders_shown = sorted({k[1] for k in best_per})
    for j, row in enumerate(spans):
        what = row.get("kind") or row["estimator"]
        ax.axhline(_heldout(row), color=f"C{(len(estimators) + j) % 10}", linestyle=":",
                   label=f"{what} (orders {row['order']}) held-out {_heldout(row):.4f}")
    # A row spanning orders has no x of its own: its star sits at the right edge.
    x_own = _whole_order(chosen["order"])
    x = x_own if x_own is not None else (orders_shown[-1] if orders_shown else 0)
    settings = chosen.get("settings")
    shown = ", ".join(f"{k}={_short(v)}" for k, v in settings.items()) if isinstance(settings, dict) and settings else ""
    ax.plot([x], [_heldout(chosen)], "*", markersize=18, color="gold", markeredgecolor="black", zorder=5,
            label=f"{'chosen' if flagged else 'best held-out'}: {_curve(chosen) if x_own is not None else chosen.get('kind') or chosen['estimator']} "
                  f"order {chosen['order']} "
                  f"({_heldout(chosen):.4f})")
    if shown:
        ax.annotate(shown, (x, _heldout(chosen)), textcoords="offset points", xytext=(8, -14), fontsize=7)
    ax.set_xlabel("order (symbols of context + 1)")
    ax.set_ylabel("NLL (nats/symbol)")
    if orders_shown:
        ax.set_xticks(orders_shown)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # outside: never over a curve
    ax.set_title(title or "NLL against order: training (dashed) and held-out (solid)")
    # Fixed margins: the legend sits outside the axes on the right, which tight_layout cannot fit.
    figure.subplots_adjust(left=0.08, right=0.6, top=0.9, bottom=0.12)
    _save(figure, path, dpi)
    return {"curves": curves, "lines": {f"{r.get('kind') or r['estimator']} {r['order']}": _heldout(r) for r in spans},
            "star": (x, _heldout(chosen))}


def _curve(row: dict) -> str:
    """The curve a row belongs to: its estimator, closed-form rows apart from tuned ones (so the
    chosen model's own curve is drawn and its star sits on it)."""
    return str(row["estimator"]) + (" (closed-form)" if row.get("kind") == "closed-form" else "")


def _short(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(_short(v)) for v in value[:3]) + (",…" if len(value) > 3 else "") + "]"
    return value


def order_curve(train_names: Sequence[str], val_names: Sequence[str], orders: Sequence[int],
                estimators: Sequence[str], unknown: str = "error", val_source: str = "<val>") -> list[dict]:
    """Training and held-out NLL for every (estimator, order) with default settings."""
    from ngram.estimators import make_estimator
    from ngram.evaluation.metrics import evaluate
    from ngram.training.trainer import train
    from ngram.core.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_names(train_names)
    results = []
    for name in estimators:
        for order in orders:  # one model per (estimator, order): a handful, not per n-gram
            model = train(train_names, order=order, estimator=make_estimator(name), vocabulary=vocabulary)
            results.append({
                "estimator": name, "order": order, "settings": {},
                "train_nll": evaluate(model, train_names).nll,
                "val_nll": evaluate(model, val_names, unknown=unknown, data=val_source).nll,
            })
    return results
