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
    names: Optional[str] = typer.Option(None, "--names", help="Weight the contexts by these names (default: the model's training file when it is still there unchanged)."),
    samples: int = typer.Option(2000, "--samples", help="Without training names (and always for a whole-name mixture): names drawn (per component) to weight the contexts by the model's own frequencies."),
    seed: int = typer.Option(0, "--seed", help="Seed of those draws."),
    dpi: int = typer.Option(80, "--dpi", help="Resolution of a PNG (dots per inch, 10-1200)."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No report or progress bar."),
):
    """The model's own p(next | previous symbol), averaged over every context ending in the previous symbol, as a heatmap.

    Each row averages the model's next-symbol vectors after that symbol over the contexts where it
    occurs, weighted by how often: in the training names when the model's training file is still
    there (or --names), else by the model's own expected frequencies; the title says which.
    Example: ngram plot heatmap model.ngram -o bigram.png
    """
    from ngram.evaluation.plots import _matplotlib, heatmap_data, plot_heatmap, recorded_training_names

    _check_dpi(dpi)
    if samples < 1:
        raise NgramError(f"--samples must be at least 1, got {samples}")
    _matplotlib()  # say matplotlib is missing before the work
    stage = common.StageBar(3, quiet or as_json)
    try:
        stage("heatmap: loading the model")
        m = common.load_model(model)
        if names is not None:
            weighting, source = read_names(names).names, Path(names).name
        else:
            weighting, source = recorded_training_names(m), f"the training file {Path(str(m.corpus.get('source', ''))).name}"
        stage("heatmap: averaging next-symbol vectors")
        data = heatmap_data(m, weighting, source=source, samples=samples, seed=seed)
        stage("heatmap: drawing")
        data = plot_heatmap(m, output, dpi=dpi, data=data)  # (what it drew: a large alphabet's most frequent part)
    finally:
        stage.close()
    if as_json:
        common.emit_json({"model": str(model), "image": str(output), "dpi": dpi, "drawn": data.title.replace("\n", " "),
                          "weighting": data.weighting,
                          "rows": [common.json_symbol(m.vocabulary, i, as_context=True) for i in data.row_ids],
                          "columns": [common.json_symbol(m.vocabulary, i) for i in data.col_ids],
                          "matrix": data.table, "row_occurrences": data.occurrences,
                          "symbols": "a character is itself; <s> = start of name (rows), </s> = end of name (columns)"})
        return
    common.note(f"wrote {output}: {data.title.replace(chr(10), ' ')}", quiet)


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
