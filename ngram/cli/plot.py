"""Pictures: plot heatmap, plot orders."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ngram.core.corpus import read_names
from ngram.core.errors import NgramError
from ..estimators import ESTIMATORS
from . import common
from .app import plot_app


@plot_app.command("heatmap")
def plot_heatmap_(
    model: Path = common.model_argument(),
    output: Path = common.output_option("bigram.png", "Image file (.png, .svg or .pdf)."),
    dpi: int = typer.Option(80, "--dpi", help="Resolution of a PNG (dots per inch, 10-1200)."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No report."),
):
    """The bigram table p(next | previous symbol) as a labelled heatmap (higher orders: their order-2 view).

    Example: ngram plot heatmap model.ngram -o bigram.png
    """
    from ngram.evaluation.plots import plot_heatmap

    _check_dpi(dpi)
    m = common.load_model(model)
    plot_heatmap(m, output, dpi=dpi)
    if as_json:
        common.emit_json({"model": str(model), "image": str(output), "dpi": dpi})
        return
    common.note(f"wrote {output}", quiet)


@plot_app.command("orders")
def plot_orders_(
    corpus: str = typer.Argument(..., help="Training names, one per line."),
    val: Optional[str] = typer.Option(None, "--val", help="Held-out names (not the test set)."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Without --val: hold out this seeded share of the training names."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --val-fraction split."),
    output: Path = common.output_option("nll.png", "Image file (.png, .svg or .pdf)."),
    orders: str = typer.Option("1-8", "--orders", help="Orders to try: a range (1-8), a list (2,3,5) or both (2-4,6)."),
    smoothing: str = typer.Option("add-k,witten-bell,kneser-ney,modified-kneser-ney", "--smoothing", "-s", "--estimators",
                                  help=f"Estimators, comma-separated, default settings each; any of {', '.join(ESTIMATORS)}."),
    unknown: str = typer.Option("error", "--unknown", help="Characters of --val not in the training names: error or skip."),
    dpi: int = typer.Option(100, "--dpi", help="Resolution of a PNG (dots per inch, 10-1200)."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("Only the image, no table."),
):
    """Training and held-out NLL against order, one line per estimator, the best held-out point marked.

    Example: ngram plot orders train.txt --val val.txt -o nll.png   (or --val-fraction 0.1 --seed 0)
    """
    from ngram.evaluation.plots import _matplotlib, order_curve, plot_tuning
    from ..tuning import make_splits

    _check_dpi(dpi)
    _matplotlib()  # say matplotlib is missing before spending time on training
    order_list = common.parse_orders(orders)
    names = common.parse_estimators(smoothing)
    if (val is None) == (val_fraction is None):
        raise NgramError("give held-out names with --val FILE or hold out part of the training names with --val-fraction")
    train_data = read_names(corpus)
    val_names = read_names(val).names if val is not None else None
    splits, val_label = make_splits(train_data.names, val_names=val_names, val_fraction=val_fraction, seed=seed)
    split = splits[0]
    results = order_curve(split.train, split.heldout, order_list, names, unknown=unknown, val_source=val_label)
    plot_tuning(results, output, title=f"NLL against order on {Path(train_data.source).name}: training (dashed), held-out (solid)", dpi=dpi)
    best = min(results, key=lambda r: r["val_nll"])
    rows = [_row(r) for r in results]
    if as_json:
        common.emit_json({"train": train_data.source, "heldout": val_label, "image": str(output), "results": rows,
                          "best": _row(best)})
        return
    if not quiet:
        typer.echo(f"NLL in nats/symbol; train = {train_data.source} ({len(split.train)} names), held-out = {val_label} ({len(split.heldout)} names)")
        typer.echo(f"  {'estimator':22} {'order':>5} {'train':>8} {'held-out':>9}")
        for r in results:
            mark = "  <- best held-out" if r is best else ""
            typer.echo(f"  {r['estimator']:22} {r['order']:5d} {r['train_nll']:8.4f} {r['val_nll']:9.4f}{mark}")
    common.note(f"wrote {output}", quiet)


def _row(r: dict) -> dict:
    keys = {"train_nll": "train_nll_nats_per_symbol", "val_nll": "heldout_nll_nats_per_symbol"}
    return {keys.get(k, k): v for k, v in r.items()}


def _check_dpi(dpi: int) -> None:
    if not 10 <= dpi <= 1200:
        raise NgramError(f"--dpi must be between 10 and 1200, got {dpi}")
