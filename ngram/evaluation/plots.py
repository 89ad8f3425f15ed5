"""Pictures: the bigram table as a heatmap, and NLL against order (train and held-out).

matplotlib is optional (``pip install ".[plot]"``) and imported only when a picture is drawn.
Figures are built on matplotlib's object API with the Agg canvas, never pyplot, so plotting
touches no global state and needs no display. Images are written atomically like model files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.files import write_atomically
from ngram.lm.protocol import BOUNDED_CONTEXT, LanguageModel

LABELLED_CELLS = 60  # symbols per side up to which every cell of the heatmap shows its bigram and probability
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
    write_atomically(
        path,
        lambda handle: figure.savefig(handle, format=path.suffix[1:].lower(), dpi=dpi),
        "the image",
        replaces=(_looks_like_image, "an image"),
    )


def _looks_like_image(head: bytes) -> bool:
    return head.startswith((b"\x89PNG", b"%PDF", b"<?xml", b"<svg"))


def bigram_table(model: LanguageModel) -> tuple[np.ndarray, list[str], list[str]]:
    """p(next | previous symbol) as a matrix: the start row, then one row per character.

    For a model of order > 2 this is its order-2 view: each character row is the model's
    distribution after that single character (away from the start of a name). A model without a
    bounded context (a whole-name mixture) has no such view: its rows are the distributions after
    a name's first character (the prefix c at the start). The rows sum to 1.
    Returns (rows × V matrix, row labels, column labels); '.' is the start (rows) or end (columns).
    """
    symbols = model.vocabulary.symbols
    contexts = model.vocabulary.characters  # <unk> is never a useful row
    anywhere = BOUNDED_CONTEXT in model.capabilities
    rows = [model.probs("", at_start=True)] + [model.probs(c, at_start=not anywhere) for c in contexts]
    return np.array(rows), ["."] + list(contexts), list(symbols)


def plot_heatmap(model: LanguageModel, path: str | os.PathLike, title: str | None = None, dpi: int = 60) -> None:
    """The bigram probability table as a labelled heatmap (the picture makemore shows)."""
    Figure, Canvas, colors = _matplotlib()
    table, row_labels, col_labels = bigram_table(model)
    show = lambda s: {" ": "␣", "<unk>": "?"}.get(s, s)  # noqa: E731  a space would be an invisible label
    rows, cols = table.shape
    cell = 0.42 if max(rows, cols) <= LABELLED_CELLS else 0.2  # inches: room for a two-line label in every cell
    figure = Figure(figsize=(max(cell * cols + 2.4, 6.0), max(cell * rows + 1.4, 4.5)))  # small V: room for the title
    Canvas(figure)
    ax = figure.add_subplot()
    # A square-root colour scale keeps the many small probabilities visible next to the large ones.
    image = ax.imshow(table, cmap="Blues", norm=colors.PowerNorm(0.5, vmin=0, vmax=1), aspect="equal")
    # Two-line cell labels while they stay readable and quick to draw; beyond that, colour only.
    labelled = max(rows, cols) <= LABELLED_CELLS
    for i in range(rows if labelled else 0):  # loops over the table's cells: at most V² labels, not per n-gram
        for j in range(cols):
            p = table[i, j]
            shown = f"{p:.2f}"[1:] if p < 0.995 else "1"
            ax.text(j, i, f"{show(row_labels[i])}{show(col_labels[j])}\n{shown}", ha="center", va="center",
                    fontsize=6, linespacing=1.1, color="white" if p > 0.3 else "#303030")
    ax.set_xticks(range(cols), [show(s) for s in col_labels])
    ax.set_yticks(range(rows), [show(s) for s in row_labels])
    ax.xaxis.tick_top()
    ax.set_xlabel("next symbol (. = end of name)")
    ax.set_ylabel("previous symbol (. = start of name)")
    name = model.estimator.get("name", "?")
    source = Path(str(model.corpus.get("source", ""))).name
    source = "" if source.startswith("<") else source  # "<names>", "<stdin>": nothing to name
    ax.set_title(title or f"p(next | previous): order-{model.order} {name} model" + (f" on {source}" if source else ""), pad=28)
    figure.colorbar(image, ax=ax, fraction=0.04, shrink=0.6, pad=0.02, label="probability")
    # Fixed margins (in inches, turned into fractions): tight_layout would draw every cell label twice.
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=0.9 / width, right=1 - 0.8 / width, top=1 - 1.0 / height, bottom=0.4 / height)
    _save(figure, path, dpi)


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


def plot_tuning(results: Sequence[dict], path: str | os.PathLike, title: str | None = None, dpi: int = 100) -> None:
    """Held-out (solid) and training (dashed) NLL against order, one colour per estimator.

    ``results``: dicts with ``estimator``, ``order``, ``val_nll`` (or ``heldout_nll``, as
    ``ngram.tuning`` names it) and optionally ``train_nll``, ``settings``, ``kind`` and ``best``
    (nats/symbol). Where one estimator has several rows at an order (several settings tried),
    the one with the lowest held-out NLL is drawn. A row whose order is not one number (a mixture
    of orders, "3-10") is a horizontal dotted line. The chosen row (``best``, else the lowest
    held-out NLL) is marked with a star and labelled with its settings.
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
        key = (str(row["estimator"]), order)
        if key not in best_per or nll < _heldout(best_per[key]):
            best_per[key] = row
    flagged = [r for r in results if r.get("best")]
    chosen = flagged[0] if flagged else min(results, key=_heldout)
    figure = Figure(figsize=(9.5, 4.8))
    Canvas(figure)
    ax = figure.add_subplot()
    estimators = list(dict.fromkeys(k[0] for k in best_per))
    for i, name in enumerate(estimators):
        colour = f"C{i % 10}"
        rows = sorted((r for k, r in best_per.items() if k[0] == name), key=lambda r: _whole_order(r["order"]))
        orders = [_whole_order(r["order"]) for r in rows]
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
    x = _whole_order(chosen["order"])
    x = x if x is not None else (orders_shown[-1] if orders_shown else 0)
    settings = chosen.get("settings")
    shown = ", ".join(f"{k}={_short(v)}" for k, v in settings.items()) if isinstance(settings, dict) and settings else ""
    ax.plot([x], [_heldout(chosen)], "*", markersize=18, color="gold", markeredgecolor="black", zorder=5,
            label=f"{'chosen' if flagged else 'best held-out'}: {chosen.get('kind') or chosen['estimator']} order {chosen['order']} "
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
    figure.tight_layout()
    _save(figure, path, dpi)


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
