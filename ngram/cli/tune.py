"""The tune verb: choose order, estimator and settings on held-out data."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Optional

import typer

from ngram.formats import native as model_io
from ngram.core.corpus import read_names
from . import common
from .app import app


@app.command()
def tune(
    corpus: str = typer.Argument(..., help="Training names, one per line ('-' = stdin). The test file is never given here."),
    val: Optional[str] = typer.Option(None, "--val", help="Validation names (never the test file): tuning cross-validates over training + these names, or holds out these alone when they are at least a fold's worth; the saved model is refitted on both."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Hold out this share of the names instead (default: 5-fold cross-validation over all names given)."),
    folds: Optional[int] = typer.Option(None, "--folds", help="K-fold cross-validation over all names given, with this K (default 5)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out slice or the folds."),
    output: Path = common.output_option("best.ngram", "Where to write the best model, refitted on every name given (training + --val)."),
    orders: str = typer.Option("2-10", "--orders", help="Orders to try: a range (2-10), a list (3,5,7) or both (2-4,6)."),
    smoothing: Optional[str] = typer.Option(None, "--smoothing", "-s", help="Estimators to search, comma-separated (default: modified-kneser-ney; also add-k, witten-bell, absolute, kneser-ney, jelinek-mercer, modified-kneser-ney+strength, and modified-kneser-ney-4 / -5: four or five discounts per order)."),
    mixtures: Optional[bool] = typer.Option(None, "--mixtures/--no-mixtures", help="Order mixtures (modified KN, the --orders from 3 up) and the left-to-right + right-to-left whole-name mixture: tried by default and kept only if cross-fitted held-out NLL says so; --no-mixtures skips them."),
    fast: bool = typer.Option(False, "--fast", help="A quick pick: one held-out slice (or the --val file), modified KN only, no mixtures."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names first."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the files."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No table or progress bar."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw train and held-out NLL against order to this .png (needs matplotlib)."),
    neural: bool = typer.Option(False, "--neural", help="Also train a GRU (needs PyTorch: pip install 'ngram-names[neural]') and try its mixtures with the tuned counts on the held-out names (--val, or a seeded 10% of the names); the counts are kept unless a mixture beats them."),
    threads: Optional[int] = typer.Option(None, "--threads", help="--neural: CPU threads for training (default: PyTorch's)."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="--neural: stop training after this many seconds (the best epoch so far is kept)."),
    layers: int = typer.Option(1, "--layers", help="--neural: GRU layers (1 x 256 units: the English split trains in about 9 minutes on 2 cores)."),
    hidden: int = typer.Option(256, "--hidden", help="--neural: GRU units per layer."),
    epochs: int = typer.Option(30, "--epochs", help="--neural: at most this many passes over the training names (early stopping on the held-out names)."),
    network: Optional[Path] = typer.Option(None, "--network", help="--neural: mix this saved GRU (trained on the same training names, e.g. by an earlier run) instead of training one."),
):
    """Choose order, estimator, settings and mixtures by cross-fitted held-out NLL; refit on every name given and save.

    By default held-out evidence is 5-fold cross-validation over the training names plus the --val
    names; continuous settings are optimised with L-BFGS-B on the exact held-out NLL and kept only
    if they beat closed-form modified KN on names they were not fitted on.
    Example: ngram tune train.txt --val val.txt -o best.ngram
    """
    from ..tuning import TUNABLE, tune as tune_models

    order_list = common.parse_orders(orders)
    smoothings = common.parse_estimators(smoothing, known=TUNABLE)
    data = read_names(corpus, lowercase=lowercase, encoding=encoding)
    common.warn_if_table(data, corpus, encoding, quiet or as_json)
    val_names = read_names(val, lowercase=lowercase, encoding=encoding).names if val is not None else None
    if val_names is not None:
        from ngram.formats.validate import check_heldout
        from ngram.core.vocabulary import Vocabulary

        # Held-out names that share nothing with the training names would tune nothing: an error;
        # some unknown characters: say how many names carry them.
        outside = check_heldout(Vocabulary.from_names(data.names), val_names, f"--val {val}")
        if outside:
            common.note(f"warning: {outside} of {len(val_names)} names in {val} have characters the training names "
                        "do not", quiet or as_json)
    if neural:
        return _tune_neural(data, val, val_names, val_fraction, seed, output, orders=order_list, smoothings=smoothings,
                            mixtures=mixtures, fast=fast, as_json=as_json, quiet=quiet, threads=threads,
                            time_limit=time_limit, layers=layers, hidden=hidden, epochs=epochs, network=network)
    progress = None
    if common.progress_enabled(quiet or as_json):
        from tqdm import tqdm

        progress = lambda steps: tqdm(steps, desc="tuning", unit="stage", leave=False)  # noqa: E731
    result = tune_models(data.names, val_names=val_names, val_fraction=val_fraction, folds=folds, seed=seed,
                         orders=order_list, smoothings=smoothings, mixtures=mixtures, progress=progress,
                         source=data.source, fast=fast, train_nlls=plot is not None)
    model_io.save(result.model, output, progress=common.progress_counter("completion bounds", "state", quiet or as_json))
    if plot is not None:
        from ngram.evaluation.plots import plot_tuning

        plot_tuning(result.candidates, plot, title=f"ngram tune {Path(data.source).name}: train and held-out NLL")
    if as_json:
        common.emit_json({"train": data.source, "heldout": result.heldout, "model": str(output),
                          "best": _plain(result.best), "candidates": [_plain(c) for c in result.candidates],
                          "why": result.reasons, "refitted_on_names": result.refit_names, "seconds": result.seconds,
                          "stage_seconds": result.stage_seconds})
        return
    if quiet:
        return
    typer.echo(f"tuned on {data.source} ({len(data.names)} names); NLL in nats/symbol")
    typer.echo(f"  held-out: {result.heldout}")
    width = max(len(_kind_label(c)) for c in result.candidates)
    typer.echo(f"  {'':1} {'model':{width}} {'order':>5}  {'held-out NLL':>12}  {'cross-fitted':>12}  settings (all: --json)")
    for c in result.candidates:
        cv = f"{c['cv_nll']:.4f}" if c.get("cv_nll") is not None else "-"
        typer.echo(f"  {'*' if c['best'] else ' '} {_kind_label(c):{width}} {str(c['order']):>5}  {c['heldout_nll']:12.4f}  "
                   f"{cv:>12}  {_settings_brief(c)}")
    for reason in result.reasons:  # wrapped: a reason can run to 200 characters
        typer.echo(textwrap.fill(reason, width=LINE_WIDTH, subsequent_indent="  "))
    names_given = f"{len(data.names)} names of {data.source}" + (f" + {len(val_names)} of {val}" if val_names else "")
    typer.echo(f"saved {output}: refitted on all {result.refit_names} names given ({names_given}); {result.seconds:.1f} s")
    if val_names:
        typer.echo(textwrap.fill(f"  the {len(val_names)} names of {val} are now training data of {output}: its NLL on "
                                 "them is no held-out figure; measure it on a test file neither tune nor train saw",
                                 width=LINE_WIDTH, subsequent_indent="  "))
    typer.echo(f"  measure it with: ngram evaluate {output} TEST.txt")


LINE_WIDTH = 120  # characters of a line of tune's summary (the table's rows fit)
SETTINGS_WIDTH = 60  # characters of a candidate's settings on its line; --json has them all


def _settings_brief(candidate: dict) -> str:
    """A candidate's settings in a few words: tuned discounts by their highest order (the lower
    orders' are in --json), a mixture by its orders and weights."""
    text = str(candidate.get("description", ""))
    kind = candidate["kind"]
    if kind == "closed-form":
        return "closed-form discounts (KenLM's lmplz)"
    if kind == "order-mixture":
        text = text.split(": ", 1)[-1].split(", EM weights")[0] + ", EM weights by context"
    elif kind == "name-mixture":
        weights = re.findall(r"\d\.\d+", text)
        text = f"{weights[0]} x left-to-right + {weights[1]} x right-to-left" if len(weights) == 2 else text
    elif text.startswith("D1/D2/D3+ by order "):
        groups = text.removeprefix("D1/D2/D3+ by order ").split()
        lower = "order 1" if len(groups) == 2 else f"orders 1-{len(groups) - 1}"
        text = f"D1/D2/D3+ at order {len(groups)}: {groups[-1]}" + (f" ({lower}: --json)" if len(groups) > 1 else "")
    return text if len(text) <= SETTINGS_WIDTH else text[:SETTINGS_WIDTH - 1] + "…"


def _tune_neural(data, val, val_names, val_fraction, seed, output, *, orders, smoothings, mixtures, fast, as_json, quiet,
                 threads, time_limit, layers, hidden, epochs, network):
    from ngram.lm.neural.fit import NeuralSettings
    from ngram.tuning.neural_search import tune_neural

    settings = NeuralSettings(layers=layers, hidden=hidden, max_epochs=epochs, threads=threads, time_limit=time_limit,
                              seed=seed)
    stage = epoch_bar = None
    if common.progress_enabled(quiet or as_json):
        from tqdm import tqdm

        stage = lambda name: tqdm.write(f"tune --neural: {name}", file=sys.stderr)  # noqa: E731
        epoch_bar = lambda total: tqdm(total=total, desc="training the GRU", unit="epoch", leave=False)  # noqa: E731
    net = model_io.load(network) if network is not None else None
    result = tune_neural(data.names, val_names=val_names, val_fraction=val_fraction, seed=seed, settings=settings,
                         count_options={"orders": orders, "smoothings": smoothings, "mixtures": mixtures, "fast": fast},
                         progress=stage, epoch_progress=epoch_bar, source=data.source, network=net)
    model_io.save(result.model, output, progress=common.progress_counter("completion bounds", "state", quiet or as_json))
    if as_json:
        log = result.training
        common.emit_json({"train": data.source, "heldout": result.heldout, "model": str(output),
                          "best": {k: v for k, v in result.best.items()},
                          "candidates": [{_KEYS.get(k, k): v for k, v in c.items()} for c in result.candidates],
                          "training": {"heldout_nll_nats_per_symbol_by_epoch": log.heldout_nll, "best_epoch": log.best_epoch,
                                       "stopped": log.stopped, "seconds": log.seconds} if log else None,
                          "why": result.reasons, "seconds": result.seconds})
        return
    if quiet:
        return
    typer.echo(f"tuned on {data.source} ({len(data.names)} names) with --neural; held-out NLL in nats/symbol on {result.heldout}")
    typer.echo(f"  {'':1} {'candidate':18} {'held-out NLL':>12}  {'cross-fitted':>12}  description")
    for c in result.candidates:
        typer.echo(f"  {'*' if c['best'] else ' '} {c['kind']:18} {c['heldout_nll']:12.4f}  {c['cv_nll']:12.4f}  {c['description']}")
    for reason in result.reasons:
        typer.echo(reason)
    typer.echo(f"saved {output}; {result.seconds:.1f} s; measure it on a test file with: ngram evaluate {output} TEST.txt")


def _kind_label(candidate: dict) -> str:
    return {"single": candidate["estimator"], "closed-form": candidate["estimator"] + " (closed-form)", "order-mixture": "order mixture" + (" (R2L)" if candidate["settings"].get("direction") == "r2l" else ""),
            "name-mixture": "L2R+R2L name mixture"}[candidate["kind"]]


_KEYS = {"train_nll": "train_nll_nats_per_symbol", "heldout_nll": "heldout_nll_nats_per_symbol",
         "start_nll": "start_heldout_nll_nats_per_symbol", "cv_nll": "cross_fitted_nll_nats_per_symbol"}


def _plain(candidate: dict) -> dict:
    """A candidate row for JSON: one key per quantity, units in the names."""
    settings = {k: v for k, v in candidate.get("settings", {}).items() if k != "em_nll"}
    return {_KEYS.get(k, k): v for k, v in candidate.items() if k != "settings"} | {"settings": settings}
