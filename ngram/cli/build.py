"""Verbs that make a model file: train, import, mix, prune."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ngram.formats import native as model_io
from ngram.core.corpus import (DEFAULT_MAX_NAME_LENGTH, SHIPPED_CORPORA, default_corpus_path, read_names, shipped_corpus_path,
                               shipped_stand_in)
from ngram.core.errors import NgramError, indefinite
from ngram.core.defaults import AUTO_MAX_NAMES, AUTO_MIN_NAMES, DEFAULT_ORDER
from ngram.estimators import ESTIMATORS
from ngram.evaluation.metrics import evaluate as evaluate_model
from . import common
from .app import app

COMPACT_HELP = "Write the compact form: a trie loaded by memory-mapping, several times smaller (back-off models only)."
QUANTISE_HELP = ("With --compact implied: probabilities and back-off weights in 8 or 16 bits with a per-order codebook, "
                 "as KenLM's -q/-b: '8', '16', or '8,16' (probabilities, back-off weights).")


def _file_format(compact: bool, quantise: str | None) -> dict:
    """``ngram.formats.native.save``'s file-format settings from --compact and --quantise."""
    if quantise is None:
        return {"compact": compact}
    parts = quantise.replace(" ", "").split(",")
    if len(parts) > 2 or any(p not in ("8", "16") for p in parts):
        raise NgramError(f"--quantise takes 8, 16 or two of them separated by a comma (probabilities, back-off weights), got {quantise!r}")
    return {"compact": True, "logp_bits": int(parts[0]), "bow_bits": int(parts[-1])}



@app.command()
def train(
    corpus: Optional[str] = typer.Argument(None, help="Name list, one per line ('-' = stdin). Default: the shipped Italian first names."),
    output: Path = common.output_option("model.ngram", "Where to write the model."),
    shipped: Optional[str] = typer.Option(None, "--corpus", help=f"Train on a corpus shipped with the package, from any folder: {' or '.join(SHIPPED_CORPORA)} ({', '.join(SHIPPED_CORPORA.values())})."),
    order: Optional[int] = typer.Option(None, "--order", "-N", help=f"n-gram order: the model sees order-1 symbols of context. Default: chosen (2-10) by -s auto, else {DEFAULT_ORDER}."),
    smoothing: Optional[str] = typer.Option(None, "--smoothing", "-s", help=f"Estimator: auto (the default without --order: the model ngram tune would pick on this corpus, orders up to --order or 10, discounts and left-to-right / right-to-left mixtures chosen by 5-fold cross-validation; closed-form modified KN order {DEFAULT_ORDER} where the corpus is streamed, weighted, pruned, written compact, or under {AUTO_MIN_NAMES} or over {AUTO_MAX_NAMES:,} names), or one of {', '.join(ESTIMATORS)} (the default with --order: modified-kneser-ney)."),
    k: Optional[float] = typer.Option(None, "--k", help="Pseudo-count for add-k (default 0.1; Laplace is 1)."),
    discounts: Optional[str] = typer.Option(None, "--discounts", help="Discounts for discounting estimators, comma-separated."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Per-order interpolation weights (Jelinek-Mercer), comma-separated."),
    backoff: bool = typer.Option(False, "--backoff", help="Back-off (Katz-style) instead of interpolated form, where supported."),
    unk: bool = typer.Option(False, "--unk/--no-unk", help="Add an <unk> class that unknown characters map to at evaluation."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names before training."),
    weighted: bool = typer.Option(False, "--weighted", help="Lines are name<TAB>count: each name counts that much (fractional counts only for add-k, mle, witten-bell, jelinek-mercer)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the corpus."),
    max_name_length: int = typer.Option(DEFAULT_MAX_NAME_LENGTH, "--max-name-length", help="Reject longer lines (guards against non-name files)."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Memory budget for the whole run (e.g. 1G, 512M): the corpus is read in blocks, sorted counts spill to --tmpdir; the same model as in memory. With --engine dask: memory per counting task. Default: a quarter of this machine's memory."),
    engine: str = typer.Option("auto", "--engine", help="auto (in memory when it fits the default budget, else streaming), memory, streaming, or dask (a Dask cluster counts; pip install 'ngram-names[dask]')."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="With --engine dask: the scheduler, tcp://host:port. Default: a local cluster of 2 worker processes."),
    workers_read: Optional[bool] = typer.Option(None, "--workers-read/--ship-blocks", help="With --engine dask: workers read their own byte ranges of the corpus from shared storage (the default on a local cluster), or the driver ships blocks (the default with --scheduler)."),
    tmpdir: Optional[Path] = typer.Option(None, "--tmpdir", help="Folder for the streaming engine's spilled counts (default: the system's temporary folder)."),
    prune: Optional[str] = typer.Option(None, "--prune", help="Count cutoffs per order from 1, as lmplz: --prune '0 1 1' drops 2-grams and longer seen at most once (unigrams are never pruned)."),
    prune_entropy: Optional[float] = typer.Option(None, "--prune-entropy", help="Drop n-grams whose removal raises perplexity by less than this relative amount (Stolcke 1998), e.g. 1e-7."),
    compact: bool = typer.Option(False, "--compact", help=COMPACT_HELP),
    quantise: Optional[str] = typer.Option(None, "--quantise", help=QUANTISE_HELP),
    quiet: bool = common.quiet_option(),
    as_json: bool = common.json_option(),
):
    """Train a model and save it (default: the best model cross-validation finds on the corpus; the shipped Italian names).

    Example: ngram train data/italian-first-names.txt -o model.ngram   (KenLM's model: -s modified-kneser-ney -N 6;
    the blog's: -s add-k -N 4 --k 0.1)
    """
    from ngram.lm.backoff.pruning import check_thresholds
    from ngram.training.policy import check_engine, choose_estimator
    from ngram.training.trainer import Reading, Resources, train_file

    source = _corpus_source(corpus, shipped, quiet or as_json)
    check_engine(engine, scheduler)
    prune = check_thresholds(common.parse_numbers(prune, "--prune", whole=True), DEFAULT_ORDER if order is None else order)  # before any reading
    estimator = choose_estimator(order, smoothing, common.estimator_settings(k, discounts, weights, backoff))
    file_format = _file_format(compact, quantise)
    # The compact form is written from a model in memory, so train_file saves only the ordinary form.
    model, summary = train_file(
        source, order, estimator, unk=unk, prune=prune, prune_entropy=prune_entropy,
        reading=Reading(lowercase, encoding, max_name_length, weighted),
        resources=Resources(engine, common.parse_memory(memory), tmpdir, scheduler, workers_read=workers_read),
        progress=_training_progress(quiet or as_json), output=None if file_format["compact"] else output,
        backoff_only=file_format["compact"])
    if file_format["compact"]:
        model_io.save(model, output, **file_format)
    if summary.blank_lines:
        common.note(f"warning: {summary.source}: skipped {summary.blank_lines} blank line(s)", quiet or as_json)
    common.warn_if_table(None if weighted else summary.corpus, None if weighted else source, encoding, quiet or as_json)
    if quiet and not as_json:
        return  # the summary's training NLL costs a full scoring pass; nobody would see it
    _report_training(model_io.load(output) if model is None else model, summary, output, weighted, quiet, as_json)


def _training_progress(quiet: bool):
    """Training's progress bars (``ngram.training.trainer.Progress``): bytes read by the
    streaming and Dask engines, orders counted in memory; none off a terminal or when quiet."""
    from ngram.training.trainer import Progress

    if not common.progress_enabled(quiet):
        return Progress()
    from tqdm import tqdm

    def counting(steps):
        # Counting loops over orders; the default (auto) hands this bar to tuning, whose steps are
        # its named stages (label, step, argument), the unit `ngram tune` shows too.
        steps = list(steps)
        stages = bool(steps) and isinstance(steps[0], tuple)
        return tqdm(steps, desc="tuning" if stages else "counting n-grams", unit="stage" if stages else "order", leave=False)

    return Progress(reading=lambda total, desc: tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False),
                    counting=counting, saving=common.progress_counter("completion bounds", "state", quiet))


def _report_training(model, summary, output: Path, weighted: bool, quiet: bool, as_json: bool) -> None:
    """The training summary every engine prints (or its JSON object); ``model`` None: written
    straight to the file within the budget."""
    result = {"model": str(output), **summary.as_dict(), "vocabulary_size": model.V, "order": model.order,
              "estimator": model.estimator}
    closing = [f"  chosen        {line}" for line in summary.choice]
    if summary.corpus is not None:
        fit = evaluate_model(model, summary.corpus, data=summary.source, weights=summary.corpus.weights)
        result["train_nll_nats_per_symbol"] = fit.nll
        closing.append(f"  training NLL  {fit.nll:.4f} nats/symbol on {summary.source} (the training data itself; "
                       "evaluate on held-out names)")
        closing.append(f"  saved         {output} in {summary.seconds:.2f} s")
    else:
        closing.append(f"  saved         {output} in {summary.seconds:.2f} s (training NLL not computed: the corpus was "
                       f"not held in memory; run ngram evaluate {output} <held-out names>)")
    weighting = ", each name counted by its weight" if weighted else ""
    budget = f", budget {summary.memory_bytes / 2**20:.0f} MiB" if summary.memory_bytes else ""
    _print_training(
        model, result, as_json, quiet,
        corpus=f"{summary.source}: {summary.names} names, {summary.symbols:.12g} symbols (characters + one end symbol per name{weighting})",
        engine_line=f"{summary.engine}{budget} ({summary.reason})", closing=closing,
    )


def _corpus_source(corpus: str | None, shipped: str | None, quiet: bool) -> str:
    """The file to train on: the CORPUS argument, a shipped corpus by name (--corpus), or the
    default; a missing data/*-first-names.txt (the README's path, typed outside the repository)
    is the shipped copy, said on stderr."""
    if corpus is not None and shipped is not None:
        raise NgramError("give a corpus file or --corpus NAME, not both")
    if shipped is not None:
        return str(shipped_corpus_path(shipped))
    if corpus is None:
        return str(default_corpus_path())
    stand_in = shipped_stand_in(corpus)
    if stand_in is None:
        return corpus
    path = shipped_corpus_path(stand_in)
    common.note(f"note: {corpus} is not in this folder; training on the copy shipped with ngram ({path}; --corpus {stand_in})", quiet)
    return str(path)


def _print_training(model, result: dict, as_json: bool, quiet: bool, corpus: str, closing: list[str],
                     engine_line: str | None = None) -> None:
    """The training summary every engine prints (or its JSON object)."""
    if as_json:
        common.emit_json(result)
        return
    if quiet:
        return
    typer.echo(f"trained {model.describe()}")
    typer.echo(f"  corpus        {corpus}")
    typer.echo(f"  vocabulary    {model.V} symbols: '.' (start/end) + {''.join(model.vocabulary.characters)!r}"
               + (" + <unk>" if model.vocabulary.unk else ""))
    if engine_line:
        typer.echo(f"  engine        {engine_line}")
    settings = common.brief({key: value for key, value in model.estimator.items() if key not in ("name", "report")})
    typer.echo(f"  estimator     {model.estimator.get('name')} {settings if settings else ''}".rstrip())
    for line in common.report_lines(model.estimator.get("report")):
        typer.echo(f"  note          {line}")
    for line in closing:
        typer.echo(line)


@app.command(name="import")
def import_(
    arpa: Path = typer.Argument(..., help="An ARPA file (KenLM's, SRILM's or ours)."),
    output: Path = common.output_option("model.ngram", "Where to write the model."),
    compact: bool = typer.Option(False, "--compact", help=COMPACT_HELP),
    quantise: Optional[str] = typer.Option(None, "--quantise", help=QUANTISE_HELP),
    quiet: bool = common.quiet_option("No report."),
    as_json: bool = common.json_option(),
):
    """Read an ARPA file into an ngram model, so every verb works on it.

    Example: ngram import model.arpa -o model.ngram
    """
    from ngram.formats.arpa import read_arpa

    file_format = _file_format(compact, quantise)
    m = read_arpa(arpa)
    model_io.save(m, output, **file_format)
    if as_json:
        common.emit_json({"arpa": str(arpa), "model": str(output), "order": m.order, "vocabulary_size": m.V,
                          "ngrams_per_order": m.n_ngrams()})
        return
    common.note(f"imported {arpa}: {m.describe()}; saved {output}", quiet)


@app.command()
def mix(
    models: List[Path] = typer.Argument(..., help="Two or more .ngram model files sharing one vocabulary."),
    val: str = typer.Option(..., "--val", help="Held-out names the weights are fitted on (never the test set)."),
    output: Path = common.output_option("mixed.ngram", "Where to write the mixed model."),
    iterations: int = typer.Option(1000, "--iterations", help="At most this many EM iterations."),
    tolerance: float = typer.Option(1e-7, "--tolerance", help="Stop when an iteration gains less than this (nats/symbol)."),
    unknown: str = typer.Option("error", "--unknown", help="Unknown characters in --val: error, skip, or unk."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No report."),
):
    """Mix models linearly, p(w|h) = sum_i l_i p_i(w|h), with weights fitted by EM on held-out names; save one model.

    Example: ngram mix kn6.ngram wb3.ngram --val val.txt -o mixed.ngram
    """
    from ngram.lm.mixtures.linear import mix as mix_models

    loaded = [common.load_model(m) for m in models]
    corpus = read_names(val)
    made = mix_models(loaded, corpus.names, unknown=unknown, source=corpus.source, line_numbers=corpus.line_numbers,
                      max_iterations=iterations, tolerance=tolerance)
    mixed, fit, gap = made.model, made.fit, made.max_abs_logprob_gap
    model_io.save(mixed, output, progress=common.progress_counter("completion bounds", "state", quiet))
    if as_json:
        common.emit_json({
            "model": str(output), "components": [str(m) for m in models], "weights": fit.weights.tolist(),
            "validation": corpus.source, "symbols": fit.symbols, "nll_nats_per_symbol_by_iteration": fit.nll,
            "component_nll_nats_per_symbol": fit.component_nll, "iterations": fit.iterations, "converged": fit.converged,
            "max_abs_logprob_gap_nats": gap, "ngrams_per_order": mixed.n_ngrams(),
        })
        return
    if quiet:
        return
    typer.echo(f"mixing {len(models)} models on held-out {corpus.source}: {len(corpus.names)} names, {fit.symbols} symbols")
    for i, (path, m, nll) in enumerate(zip(models, loaded, fit.component_nll), start=1):
        typer.echo(f"  model {i}  {path}  (order {m.order} {m.estimator.get('name')})  alone {nll:.4f} nats/symbol")
    typer.echo("EM iterations (held-out NLL in nats/symbol; weights in model order):")
    last = len(fit.nll) - 1
    shown = [i for i in range(len(fit.nll)) if i <= 10 or (i <= 100 and i % 10 == 0) or i % 100 == 0 or i == last]
    for i in shown:
        typer.echo(f"  {i:4d}  {fit.nll[i]:.6f}")
    if len(shown) < len(fit.nll):
        typer.echo(f"  (iterations 0-10, every 10th to 100, every 100th and the last shown; --json lists all {len(fit.nll)})")
    stop = f"converged: last gain below {tolerance:g} nats/symbol" if fit.converged else f"stopped after --iterations {iterations}"
    typer.echo(f"weights       {'  '.join(f'{w:.4f}' for w in fit.weights)}  ({stop}; they sum to 1)")
    typer.echo(f"held-out NLL  {fit.nll[-1]:.4f} nats/symbol on {corpus.source} (best single model {min(fit.component_nll):.4f}); "
               "the weights were fitted on this file, so evaluate on a separate test file")
    typer.echo(f"saved         {output}: {mixed.describe()}; equals the mixture on every held-out symbol (max gap {gap:.1e} nats)")


@app.command(name="prune")
def prune_(
    model: Path = common.model_argument(),
    output: Path = common.output_option("pruned.ngram", "Where to write the pruned model."),
    entropy: float = typer.Option(..., "--entropy", help="Drop n-grams whose removal raises perplexity by less than this relative amount (Stolcke 1998), e.g. 1e-7."),
    compact: bool = typer.Option(False, "--compact", help=COMPACT_HELP),
    quantise: Optional[str] = typer.Option(None, "--quantise", help=QUANTISE_HELP),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No report."),
):
    """Shrink a saved model by relative-entropy pruning; back-off weights are recomputed so every
    context still sums to 1. (Count cutoffs need the counts: ngram train --prune.)

    Example: ngram prune model.ngram -o small.ngram --entropy 1e-7
    """
    from ngram.lm.protocol import LEVELS, require
    from ngram.lm.backoff.pruning import prune_by_entropy

    file_format = _file_format(compact, quantise)
    before = common.load_model(model)
    require(before, LEVELS, "prune", f"{model} is {indefinite(before.describe())}; pruning works on one back-off table "
            "(prune a component model before mixing, or train a single model)")
    after = prune_by_entropy(before, entropy)
    model_io.save(after, output, **file_format)
    sizes = {"ngrams_before": sum(before.n_ngrams()), "ngrams_after": sum(after.n_ngrams()),
             "ngrams_per_order": after.n_ngrams(), "bytes_before": model.stat().st_size, "bytes_after": output.stat().st_size}
    if as_json:
        common.emit_json({"model": str(model), "output": str(output), "entropy": entropy, **sizes})
        return
    if not quiet:
        typer.echo(f"pruned {model} (relative entropy threshold {entropy:g}): {sizes['ngrams_before']} -> {sizes['ngrams_after']} n-grams, "
                   f"{sizes['bytes_before']} -> {sizes['bytes_after']} bytes; by order {after.n_ngrams()}; saved {output}")
