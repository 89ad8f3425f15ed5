"""The tune verb: choose order, estimator and settings on held-out data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import io as model_io
from ..corpus import read_names
from . import common
from .app import app


@app.command()
def tune(
    corpus: str = typer.Argument(..., help="Training names, one per line ('-' = stdin). The test file is never given here."),
    val: Optional[str] = typer.Option(None, "--val", help="Held-out names to tune on (a validation file, never the test file)."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Hold out this share of the training names (default 0.1 when neither --val nor --folds)."),
    folds: Optional[int] = typer.Option(None, "--folds", help="K-fold cross-validation inside the training names instead."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out slice or the folds."),
    output: Path = common.output_option("best.ngram", "Where to write the best model, refitted on all training names."),
    orders: str = typer.Option("2-10", "--orders", help="Orders to try: a range (2-10), a list (3,5,7) or both (2-4,6)."),
    smoothing: Optional[str] = typer.Option(None, "--smoothing", "-s", help="Estimators to try, comma-separated (default: add-k, witten-bell, absolute, kneser-ney, modified-kneser-ney, jelinek-mercer)."),
    mixtures: bool = typer.Option(False, "--mixtures/--no-mixtures", help="Also try an order mixture (modified KN orders 3-10, EM weights by longest seen context) and its whole-name mixture with a right-to-left twin; kept only if held-out NLL says so."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names first."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the files."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No table or progress bar."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw train and held-out NLL against order to this .png (needs matplotlib)."),
):
    """Choose order, estimator and settings by held-out NLL; refit the best on all training names and save it.

    Continuous settings (add-k's k, per-order discounts, Jelinek-Mercer weights) are optimised with
    L-BFGS-B on the exact held-out NLL. Example: ngram tune train.txt --val val.txt -o best.ngram
    """
    from ..tuning import tune as tune_models

    order_list = common.parse_orders(orders)
    smoothings = common.parse_estimators(smoothing)
    data = read_names(corpus, lowercase=lowercase, encoding=encoding)
    val_names = read_names(val, lowercase=lowercase, encoding=encoding).names if val is not None else None
    progress = None
    if common.progress_enabled(quiet or as_json):
        from tqdm import tqdm

        progress = lambda steps: tqdm(steps, desc="tuning", unit="candidate", leave=False)  # noqa: E731
    result = tune_models(data.names, val_names=val_names, val_fraction=val_fraction, folds=folds, seed=seed,
                         orders=order_list, smoothings=smoothings, mixtures=mixtures, progress=progress,
                         source=data.source)
    model_io.save(result.model, output)
    if plot is not None:
        from ..plots import plot_tuning

        plot_tuning(result.candidates, plot, title=f"ngram tune {Path(data.source).name}: train and held-out NLL")
    if as_json:
        common.emit_json({"train": data.source, "heldout": result.heldout, "model": str(output),
                          "best": _plain(result.best), "candidates": [_plain(c) for c in result.candidates],
                          "seconds": result.seconds})
        return
    if quiet:
        return
    typer.echo(f"tuned on {data.source} ({len(data.names)} names); held-out NLL measured on {result.heldout}, in nats/symbol")
    typer.echo(f"  {'':1} {'estimator':20} {'order':>5}  {'train NLL':>9}  {'held-out NLL':>12}  settings")
    for c in result.candidates:
        train_nll = f"{c['train_nll']:.4f}" if c["train_nll"] is not None else "-"
        typer.echo(f"  {'*' if c['best'] else ' '} {_kind_label(c):20} {str(c['order']):>5}  {train_nll:>9}  {c['heldout_nll']:12.4f}  {c['description']}")
    best = result.best
    typer.echo(f"best (*): {_kind_label(best)} order {best['order']}, held-out NLL {best['heldout_nll']:.4f} nats/symbol on {result.heldout}")
    typer.echo(f"saved {output}: refitted on all {len(data.names)} names of {data.source} ({result.seconds:.1f} s); "
               f"measure it on a test file with: ngram evaluate {output} TEST.txt")


def _kind_label(candidate: dict) -> str:
    return {"single": candidate["estimator"], "order-mixture": "order mixture" + (" (R2L)" if candidate["settings"].get("direction") == "r2l" else ""),
            "name-mixture": "L2R+R2L name mixture"}[candidate["kind"]]


_KEYS = {"train_nll": "train_nll_nats_per_symbol", "heldout_nll": "heldout_nll_nats_per_symbol",
         "start_nll": "start_heldout_nll_nats_per_symbol"}


def _plain(candidate: dict) -> dict:
    """A candidate row for JSON: one key per quantity, units in the names."""
    settings = {k: v for k, v in candidate.get("settings", {}).items() if k != "em_nll"}
    return {_KEYS.get(k, k): v for k, v in candidate.items() if k != "settings"} | {"settings": settings}
