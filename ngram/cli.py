"""The command line: a thin typer layer that parses, calls the library and formats.

Every user error is one line on stderr and a non-zero exit (1 for bad data or files, 2 for bad
usage), never a traceback. Numbers say their unit and the data they were measured on.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

try:  # typer >= 0.20 carries its own copy of click; older releases use click itself
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_exceptions

from . import io as model_io
from .corpus import DEFAULT_MAX_NAME_LENGTH, default_corpus_path, read_names
from .errors import NgramError
from .estimators import ESTIMATORS, make_estimator
from .metrics import evaluate as evaluate_model
from .metrics import explain as explain_model
from .training import train as train_model

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Character-level n-gram language models for lists of names: train, evaluate, sample.",
)

WHY_SAME = "cross-entropy = NLL: averaged over held-out symbols, -ln p(next | context) is the cross-entropy between the one-hot next-symbol labels and the model's probability vectors."


def _progress_enabled(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _emit_json(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(type(value).__name__)


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        typer.echo(message, err=True)


def _settings(k, discounts, weights, backoff) -> dict:
    settings = {}
    if k is not None:
        settings["k"] = k
    if discounts is not None:
        try:
            settings["discounts"] = [float(x) for x in discounts.replace(",", " ").split()]
        except ValueError:
            raise NgramError(f"--discounts takes numbers separated by commas, got {discounts!r}") from None
    if weights is not None:
        try:
            settings["weights"] = [float(x) for x in weights.replace(",", " ").split()]
        except ValueError:
            raise NgramError(f"--weights takes numbers separated by commas, got {weights!r}") from None
    if backoff:
        settings["backoff"] = True
    return settings


@app.command()
def train(
    corpus: Optional[str] = typer.Argument(None, help="Name list, one per line ('-' = stdin). Default: the shipped Italian first names."),
    output: Path = typer.Option(Path("model.ngram"), "--output", "-o", help="Where to write the model."),
    order: int = typer.Option(4, "--order", "-N", help="n-gram order: the model sees order-1 symbols of context."),
    smoothing: str = typer.Option("add-k", "--smoothing", "-s", help=f"Estimator: {', '.join(ESTIMATORS)}."),
    k: Optional[float] = typer.Option(None, "--k", help="Pseudo-count for add-k (default 0.1; Laplace is 1)."),
    discounts: Optional[str] = typer.Option(None, "--discounts", help="Discounts for discounting estimators, comma-separated."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Per-order interpolation weights (Jelinek-Mercer), comma-separated."),
    backoff: bool = typer.Option(False, "--backoff", help="Back-off (Katz-style) instead of interpolated form, where supported."),
    unk: bool = typer.Option(False, "--unk/--no-unk", help="Add an <unk> class that unknown characters map to at evaluation."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names before training."),
    weighted: bool = typer.Option(False, "--weighted", help="Lines are name<TAB>count: each name counts that much (fractional counts only for add-k, mle, witten-bell, jelinek-mercer)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the corpus."),
    max_name_length: int = typer.Option(DEFAULT_MAX_NAME_LENGTH, "--max-name-length", help="Reject longer lines (guards against non-name files)."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Count within this much memory (e.g. 1G, 512M): the corpus is read in blocks and sorted counts spill to disk; the same model as in memory. With --engine dask: memory per counting task."),
    engine: Optional[str] = typer.Option(None, "--engine", help="memory (the default), streaming (the default with --memory) or dask (a Dask cluster counts; pip install 'ngram[dask]')."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="With --engine dask: the scheduler, tcp://host:port. Default: a local cluster of 2 worker processes."),
    tmpdir: Optional[Path] = typer.Option(None, "--tmpdir", help="Folder for the streaming engine's spilled counts (default: the system's temporary folder)."),
    prune: Optional[str] = typer.Option(None, "--prune", help="Count cutoffs per order from 1, as lmplz: --prune '0 1 1' drops 2-grams and longer seen at most once (unigrams are never pruned)."),
    prune_entropy: Optional[float] = typer.Option(None, "--prune-entropy", help="Drop n-grams whose removal raises perplexity by less than this relative amount (Stolcke 1998), e.g. 1e-7."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary or progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the summary."),
):
    """Train a model and save it.

    Example: ngram train data/italian-first-names.txt --order 4 --k 0.1 -o model.ngram
    """
    started = time.perf_counter()
    source = corpus if corpus is not None else str(default_corpus_path())
    engine = _engine(engine, memory, scheduler)
    from .pruning import parse_thresholds

    prune = parse_thresholds(prune, order)  # a bad list is an error before any reading
    if engine != "memory":
        _train_out_of_core(source, engine, output, order, make_estimator(smoothing, **_settings(k, discounts, weights, backoff)),
                           unk, lowercase, encoding, max_name_length, memory, scheduler, tmpdir, prune, prune_entropy,
                           quiet, as_json, started, weighted)
        return
    data = read_names(source, lowercase=lowercase, encoding=encoding, max_name_length=max_name_length, weighted=weighted)
    if data.blank_lines:
        _note(f"warning: {data.source}: skipped {data.blank_lines} blank line(s)", quiet)
    estimator = make_estimator(smoothing, **_settings(k, discounts, weights, backoff))
    progress = None
    if _progress_enabled(quiet):
        from tqdm import tqdm

        progress = lambda it: tqdm(it, desc="counting n-grams", unit="order", leave=False)  # noqa: E731
    model = train_model(data, order=order, estimator=estimator, unk=unk, weights=data.weights, source=data.source, progress=progress,
                        prune=prune, prune_entropy=prune_entropy)
    model_io.save(model, output)
    elapsed = time.perf_counter() - started
    if quiet and not as_json:
        return  # the summary's training NLL costs a full scoring pass; nobody would see it
    fit = evaluate_model(model, data, data=data.source, weights=data.weights)
    result = {
        "model": str(output),
        "corpus": data.source,
        "names": len(data.names),
        "symbols": fit.symbols,
        "vocabulary_size": model.V,
        "order": model.order,
        "estimator": model.estimator,
        "ngrams_per_order": model.n_ngrams(),
        "train_nll_nats_per_symbol": fit.nll,
        "seconds": elapsed,
    }
    _report_training(
        model, result, as_json, quiet,
        corpus=f"{data.source}: {len(data.names)} names, {fit.symbols:.12g} symbols (characters + one end symbol per name"
               f"{', each name counted by its weight' if weighted else ''})",
        closing=[f"  training NLL  {fit.nll:.4f} nats/symbol on {data.source} (the training data itself; evaluate on held-out names)",
                 f"  saved         {output} in {elapsed:.2f} s"],
    )


def _report_training(model, result: dict, as_json: bool, quiet: bool, corpus: str, closing: list[str],
                     engine_line: str | None = None) -> None:
    """The training summary every engine prints (or its JSON object)."""
    if as_json:
        _emit_json(result)
        return
    if quiet:
        return
    typer.echo(f"trained {model.describe()}")
    typer.echo(f"  corpus        {corpus}")
    typer.echo(f"  vocabulary    {model.V} symbols: '.' (start/end) + {''.join(model.vocabulary.characters)!r}" + (" + <unk>" if model.vocabulary.unk else ""))
    if engine_line:
        typer.echo(f"  engine        {engine_line}")
    settings = {key: value for key, value in model.estimator.items() if key not in ("name", "report")}
    typer.echo(f"  estimator     {model.estimator.get('name')} {settings if settings else ''}".rstrip())
    for line in _report_lines(model.estimator.get("report")):
        typer.echo(f"  note          {line}")
    for line in closing:
        typer.echo(line)


ENGINES = ("memory", "streaming", "dask")


def _engine(engine: str | None, memory: str | None, scheduler: str | None) -> str:
    engine = engine or ("streaming" if memory else "memory")
    if engine not in ENGINES:
        raise NgramError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "memory" and memory:
        raise NgramError("--memory is for the streaming and dask engines; drop --engine memory")
    if scheduler and engine != "dask":
        raise NgramError("--scheduler is for --engine dask")
    return engine


def _train_out_of_core(source, engine, output, order, estimator, unk, lowercase, encoding, max_name_length, memory,
                       scheduler, tmpdir, prune, prune_entropy, quiet, as_json, started, weighted) -> None:
    """Train with the streaming or dask engine: the corpus is never held in memory, so the summary
    has no training NLL (it would need the corpus again; run ngram evaluate)."""
    progress = None
    if _progress_enabled(quiet):
        from tqdm import tqdm

        progress = lambda total, desc: tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)  # noqa: E731
    settings = dict(order=order, estimator=estimator, unk=unk, memory_bytes=memory or "1G", lowercase=lowercase,
                    encoding=encoding, max_name_length=max_name_length, progress=progress, prune=prune,
                    prune_entropy=prune_entropy, tmpdir=tmpdir, weighted=weighted)
    if engine == "dask":
        from .dask_engine import train_dask

        model, scan = train_dask(source, scheduler=scheduler, **settings)
    else:
        from .streaming import train_streaming

        model, scan = train_streaming(source, **settings)
    if scan.blank_lines:
        _note(f"warning: {scan.source}: skipped {scan.blank_lines} blank line(s)", quiet or as_json)
    model_io.save(model, output)
    elapsed = time.perf_counter() - started
    result = {
        "model": str(output), "corpus": scan.source, "names": scan.names, "symbols": scan.symbols,
        "vocabulary_size": model.V, "order": model.order, "estimator": model.estimator,
        "ngrams_per_order": model.n_ngrams(), "engine": engine, "memory": memory, "seconds": elapsed,
    }
    _report_training(
        model, result, as_json, quiet,
        corpus=f"{scan.source}: {scan.names} names, {scan.symbols} symbols (characters + one end symbol per name)",
        engine_line=engine + (f", memory {memory}" if memory else "") + (f", scheduler {scheduler}" if scheduler else ""),
        closing=[f"  saved         {output} in {elapsed:.2f} s (training NLL not computed: run ngram evaluate {output} <held-out names>)"],
    )


def _report_lines(report) -> list[str]:
    if not report:
        return []
    if isinstance(report, dict):
        lines = report.get("notes")
        if lines:
            return [str(x) for x in lines]
        return [f"{key}: {_compact(value)}" for key, value in report.items()]
    return [str(report)]


def _compact(value) -> str:
    """Report values for people: floats to 4 decimals, per-order dicts as 'order: values'."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "/".join(_compact(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"order {k}: {_compact(v)}" if str(k).isdigit() else f"{k}: {_compact(v)}" for k, v in value.items())
    return str(value)


def _load(model: Path):
    return model_io.load(model)


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="A .ngram model file."),
    data: str = typer.Argument(..., help="Held-out names, one per line ('-' = stdin)."),
    unknown: Optional[str] = typer.Option(None, "--unknown", help="Unknown characters: error (default), skip, or unk (models trained with --unk; their default)."),
    per_name: bool = typer.Option(False, "--per-name", help="Print name, symbols, total NLL (nats) as TSV."),
    explain: bool = typer.Option(False, "--explain", help="Show the loss grouped by context: H(empirical) + KL(empirical || model)."),
    weighted: bool = typer.Option(False, "--weighted", help="Lines are name<TAB>count: a weighted test set (NLL = weighted average per symbol)."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names first."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the data."),
    max_name_length: int = typer.Option(DEFAULT_MAX_NAME_LENGTH, "--max-name-length"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings."),
):
    """Average negative log-likelihood (= cross-entropy) of held-out names.

    Example: ngram evaluate model.ngram ../shared/data/italian-names-test.txt
    """
    m = _load(model)
    corpus = read_names(data, lowercase=lowercase, encoding=encoding, max_name_length=max_name_length, weighted=weighted)
    if corpus.blank_lines:
        _note(f"warning: {corpus.source}: skipped {corpus.blank_lines} blank line(s)", quiet or as_json)
    if weighted and explain:
        raise NgramError("--explain does not support --weighted test sets yet")
    policy = unknown or ("unk" if m.vocabulary.unk else "error")
    result = evaluate_model(m, corpus, unknown=policy, data=corpus.source, line_numbers=corpus.line_numbers, weights=corpus.weights)
    if per_name:
        typer.echo("name\tsymbols\tnll_nats")
        for name, symbols, nll in zip(corpus.names, result.per_name_symbols, result.per_name_nll):
            typer.echo(f"{name}\t{symbols}\t{nll:.6f}")
        return
    out = {"model": str(model), **result.summary(), "unknown_policy": policy}
    explanation = None
    if explain:
        encoded = m.vocabulary.encode(corpus.names, unknown=policy, line_numbers=corpus.line_numbers, source=corpus.source)
        explanation = explain_model(m, encoded)
        out["explain"] = explanation.summary()
    if as_json:
        _emit_json(out)
        return
    typer.echo(f"evaluated {model} on {corpus.source}: {result.names} names, {result.symbols:.12g} symbols (characters + one end symbol per name{', each name counted by its weight' if weighted else ''})")
    if result.oov:
        typer.echo(f"  OOV           {result.oov} character(s) outside the vocabulary ({'scored as <unk>' if policy == 'unk' else 'skipped, not scored'})")
    typer.echo(f"  NLL           {result.nll:.4f} nats/symbol")
    typer.echo(f"  cross-entropy {result.cross_entropy:.4f} nats/symbol  ({WHY_SAME})")
    typer.echo(f"  bits          {result.bits:.4f} bits/symbol")
    typer.echo(f"  perplexity    {result.perplexity:.4f} (per symbol)")
    if explanation is not None:
        e = explanation
        typer.echo(f"  by context    {e.contexts} distinct contexts in {corpus.source}; weighting each context's cross-entropy between its")
        typer.echo("                empirical next-symbol distribution (soft labels) and the model's vector by how often it occurs:")
        typer.echo(f"                cross-entropy {e.cross_entropy:.4f} = H(empirical) {e.entropy:.4f} + KL(empirical || model) {e.kl:.4f} nats/symbol")
        typer.echo("                (H is the data's own uncertainty given these contexts; KL is what the model gets wrong)")
        typer.echo("  costliest contexts (^ = start of name): context, share of positions, H, KL")
        for row in e.top:
            typer.echo(f"    {row['context']!r:14} {row['weight']:.4f} {row['entropy']:.4f} {row['kl']:.4f}")


@app.command()
def sample(
    model: Path = typer.Argument(..., help="A .ngram model file."),
    n: int = typer.Option(10, "-n", "--num", help="How many names."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same names)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Below 1: safer names; above 1: wilder."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Draw only from the k likeliest next symbols."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Draw only from the smallest set of symbols holding this much probability."),
    prefix: str = typer.Option("", "--prefix", help="Every name starts with this."),
    min_len: int = typer.Option(0, "--min-len", help="Minimum length in characters."),
    max_len: int = typer.Option(50, "--max-len", help="Maximum length in characters."),
    novel_only: bool = typer.Option(False, "--novel-only", help="Keep only names not in the training set."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No novelty report."),
):
    """Sample new names. Names go to stdout, the novelty report to stderr.

    Example: ngram sample model.ngram -n 20 --seed 0 --temperature 0.8
    """
    from .sampling import novelty as sample_novelty
    from .sampling import sample as sample_names

    m = _load(model)
    names = sample_names(m, n=n, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p,
                         prefix=prefix, min_len=min_len, max_len=max_len)
    report = None
    if m.train_names is not None and len(m.train_names):
        report, new = sample_novelty(m, names)
        if novel_only:
            names = [name for name, keep in zip(names, new) if keep]
    elif novel_only:
        raise NgramError(f"{model}: the model does not record its training names, so --novel-only cannot tell new names")
    if as_json:
        _emit_json({"model": str(model), "seed": seed, "names": names, "novelty": report.summary() if report else None})
        return
    if names:
        typer.echo("\n".join(names))  # one write: an echo per name costs seconds for 100,000 names
    if report and not quiet:
        kept = f"; kept the {len(names)} new ones" if novel_only else ""
        typer.echo(
            f"novelty: {report.new} of {report.samples} samples are not in the training set ({report.in_training} are){kept}",
            err=True,
        )


@app.command()
def probs(
    model: Path = typer.Argument(..., help="A .ngram model file."),
    context: str = typer.Argument("", help="The start of a name; the model predicts the next symbol."),
    top: Optional[int] = typer.Option(None, "--top", help="Show only the TOP likeliest symbols."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """The model's probability vector for the next symbol after a context: the lookup table, made visible.

    Example: ngram probs model.ngram mar --top 10
    """
    m = _load(model)
    p = m.probs(context)
    symbols = ["<end>"] + m.vocabulary.characters + (["<unk>"] if m.vocabulary.unk else [])
    order = np.argsort(-p, kind="stable")
    if top is not None:
        if top < 1:
            raise NgramError(f"--top must be at least 1, got {top}")
        order = order[:top]
    if as_json:
        _emit_json({"model": str(model), "context": context, "probs": {symbols[i]: float(p[i]) for i in order}, "sum": float(p.sum())})
        return
    typer.echo(f"p(next symbol | {context!r} at the start of a name), order-{m.order} model ({m.estimator.get('name')}); the vector sums to {p.sum():.12f}")
    for i in order:
        shown = repr(symbols[i]) if symbols[i] not in ("<end>", "<unk>") else symbols[i]
        typer.echo(f"  {shown:8} {p[i]:.6f}  {-math.log(p[i]) if p[i] > 0 else float('inf'):7.4f} nats")


@app.command()
def info(
    model: Path = typer.Argument(..., help="A .ngram model file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """What a model file holds: order, vocabulary, estimator, training corpus, n-gram counts.

    Example: ngram info model.ngram
    """
    m = _load(model)
    out = {
        "model": str(model), "order": m.order, "vocabulary": m.vocabulary.symbols, "estimator": m.estimator,
        "corpus": m.corpus, "ngrams_per_order": m.n_ngrams(),
    }
    if as_json:
        _emit_json(out)
        return
    typer.echo(m.describe())
    typer.echo(f"  vocabulary  {' '.join(repr(s) for s in m.vocabulary.symbols)}")
    typer.echo(f"  estimator   {m.estimator}")
    typer.echo(f"  corpus      {m.corpus}")


@app.command(name="export")
def export_(
    model: Path = typer.Argument(..., help="A .ngram model file."),
    arpa: Path = typer.Option(..., "--arpa", help="Write an ARPA file here."),
):
    """Write the model as a standard ARPA file (log10, back-off weights, <s> </s> <unk>, space as <sp>).

    Example: ngram export model.ngram --arpa model.arpa
    """
    from .arpa import write_arpa

    write_arpa(_load(model), arpa)
    typer.echo(f"wrote {arpa}", err=True)


@app.command(name="import")
def import_(
    arpa: Path = typer.Argument(..., help="An ARPA file (KenLM's, SRILM's or ours)."),
    output: Path = typer.Option(Path("model.ngram"), "--output", "-o", help="Where to write the model."),
):
    """Read an ARPA file into an ngram model, so every verb works on it.

    Example: ngram import model.arpa -o model.ngram
    """
    from .arpa import read_arpa

    m = read_arpa(arpa)
    model_io.save(m, output)
    typer.echo(f"imported {arpa}: {m.describe()}; saved {output}", err=True)


@app.command()
def mix(
    models: List[Path] = typer.Argument(..., help="Two or more .ngram model files sharing one vocabulary."),
    val: str = typer.Option(..., "--val", help="Held-out names the weights are fitted on (never the test set)."),
    output: Path = typer.Option(Path("mixed.ngram"), "--output", "-o", help="Where to write the mixed model."),
    iterations: int = typer.Option(1000, "--iterations", help="At most this many EM iterations."),
    tolerance: float = typer.Option(1e-7, "--tolerance", help="Stop when an iteration gains less than this (nats/symbol)."),
    unknown: str = typer.Option("error", "--unknown", help="Unknown characters in --val: error, skip, or unk."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No report."),
):
    """Mix models linearly, p(w|h) = sum_i l_i p_i(w|h), with weights fitted by EM on held-out names; save one model.

    Example: ngram mix kn6.ngram wb3.ngram --val val.txt -o mixed.ngram
    """
    from .mixing import check_compatible, compile_mixture, component_logprobs, em_weights, mixture_logprobs

    if iterations < 1:
        raise NgramError(f"--iterations must be at least 1, got {iterations}")
    loaded = [_load(m) for m in models]
    check_compatible(loaded)
    corpus = read_names(val)
    encoded = loaded[0].vocabulary.encode(corpus.names, unknown=unknown, line_numbers=corpus.line_numbers, source=corpus.source)
    logp = component_logprobs(loaded, encoded)
    fit = em_weights(logp, max_iterations=iterations, tolerance=tolerance)
    mixed = compile_mixture(loaded, fit.weights)
    mixed.corpus["validation"] = corpus.source
    # The compiled model must be the mixture itself: check it on every held-out symbol.
    gap = float(np.max(np.abs(mixed.logprob_encoded(encoded) - mixture_logprobs(logp, fit.weights))))
    if not gap <= 1e-9:
        raise NgramError(f"internal error: the compiled mixture differs from the mixture by {gap:g} nats on {corpus.source}")
    model_io.save(mixed, output)
    if as_json:
        _emit_json({
            "model": str(output), "components": [str(m) for m in models], "weights": fit.weights.tolist(),
            "validation": corpus.source, "symbols": fit.symbols, "nll_nats_per_symbol_by_iteration": fit.nll,
            "component_nll_nats_per_symbol": fit.component_nll, "iterations": fit.iterations, "converged": fit.converged,
            "max_abs_logprob_gap_compiled_vs_mixture": gap, "ngrams_per_order": mixed.n_ngrams(),
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


@app.command()
def classify(
    files: List[str] = typer.Argument(..., help="Two or more .ngram models, one per source corpus, then the names file ('-' = stdin); with --eval the names file may be left out."),
    priors: Optional[str] = typer.Option(None, "--priors", help="Prior probability of each model's corpus, comma-separated (default: equal)."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Label of each model, comma-separated (default: the model files' stems)."),
    eval_file: Optional[str] = typer.Option(None, "--eval", help="Labelled names, name<TAB>label per line: print accuracy and a confusion matrix."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Most likely source corpus of each name by Bayes rule: log prior + log p(name) under each model.

    Example: ngram classify it.ngram en.ngram names.txt --priors 0.5,0.5
    """
    import zipfile

    from .classifier import assess, read_labelled
    from .classifier import classify as classify_names

    names_file = files[-1] if not (eval_file is not None and zipfile.is_zipfile(files[-1])) else None
    model_files = files[:-1] if names_file is not None else files
    if len(model_files) < 2:
        raise NgramError("give at least two model files, then the names file (see ngram classify --help)")
    models = [_load(Path(m)) for m in model_files]
    tags = [x.strip() for x in labels.split(",")] if labels is not None else [Path(m).stem for m in model_files]
    out: dict = {"models": model_files, "labels": tags}
    if names_file is not None:
        corpus = read_names(names_file)
        result = classify_names(models, corpus.names, priors=priors, labels=tags)
        out["priors"] = np.exp(result.log_prior).tolist()
        predicted = result.predicted_labels()
        if as_json:
            out["names"] = [{"name": n, "label": lab, "posterior": dict(zip(tags, map(_finite, row)))}
                            for n, lab, row in zip(corpus.names, predicted, result.posterior)]
        else:
            typer.echo("name\tpredicted\t" + "\t".join(f"p({t})" for t in tags))
            for n, lab, row in zip(corpus.names, predicted, result.posterior):
                typer.echo(f"{n}\t{lab or '-'}\t" + "\t".join("-" if math.isnan(p) else f"{p:.4f}" for p in row))
            impossible = int((result.predicted < 0).sum())
            if impossible:
                _note(f"note: {impossible} name(s) have probability 0 under every model (characters none of them knows); shown as '-'", False)
    if eval_file is not None:
        names, gold = read_labelled(eval_file)
        result = classify_names(models, names, priors=priors, labels=tags)
        a = assess(result, gold, source=eval_file)
        out["eval"] = {"file": eval_file, **a.summary()}
        if not as_json:
            typer.echo(f"accuracy {a.accuracy:.4f} ({a.correct} of {a.total} labelled names in {eval_file}; "
                       f"always guessing the commonest label would score {a.majority_share:.4f})")
            first = max(len(t) for t in tags + ["true \\ predicted"]) + 2
            width = max(len(t) for t in tags + ["none", str(a.total)]) + 2
            typer.echo("confusion matrix (rows: true label, columns: predicted; none = no model can produce the name)")
            typer.echo("true \\ predicted".ljust(first) + "".join(t.rjust(width) for t in tags + ["none"]))
            for t, row in zip(tags, a.confusion):
                typer.echo(t.ljust(first) + "".join(str(int(v)).rjust(width) for v in row))
    if as_json:
        _emit_json(out)


def _finite(value: float):
    return None if math.isnan(value) else float(value)


@app.command()
def tune(
    corpus: str = typer.Argument(..., help="Training names, one per line ('-' = stdin). The test file is never given here."),
    val: Optional[str] = typer.Option(None, "--val", help="Held-out names to tune on (a validation file, never the test file)."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Hold out this share of the training names (default 0.1 when neither --val nor --folds)."),
    folds: Optional[int] = typer.Option(None, "--folds", help="K-fold cross-validation inside the training names instead."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out slice or the folds."),
    output: Path = typer.Option(Path("best.ngram"), "--output", "-o", help="Where to write the best model, refitted on all training names."),
    orders: str = typer.Option("2-10", "--orders", help="Orders to try: a range (2-10) or a list (3,5,7)."),
    smoothing: Optional[str] = typer.Option(None, "--smoothing", "-s", help="Estimators to try, comma-separated (default: add-k, witten-bell, absolute, kneser-ney, modified-kneser-ney, jelinek-mercer)."),
    mixtures: bool = typer.Option(False, "--mixtures/--no-mixtures", help="Also try an order mixture (modified KN orders 3-10, EM weights by longest seen context) and its whole-name mixture with a right-to-left twin; kept only if held-out NLL says so."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names first."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the files."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (every candidate, the best, the held-out data)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table or progress bar."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw train and held-out NLL against order to this .png (needs matplotlib)."),
):
    """Choose order, estimator and settings by held-out NLL; refit the best on all training names and save it.

    Continuous settings (add-k's k, per-order discounts, Jelinek-Mercer weights) are optimised with
    L-BFGS-B on the exact held-out NLL. Example: ngram tune train.txt --val val.txt -o best.ngram
    """
    from .tuning import parse_orders
    from .tuning import tune as tune_models

    data = read_names(corpus, lowercase=lowercase, encoding=encoding)
    val_names = read_names(val, lowercase=lowercase, encoding=encoding).names if val is not None else None
    progress = None
    if _progress_enabled(quiet or as_json):
        from tqdm import tqdm

        progress = lambda steps: tqdm(steps, desc="tuning", unit="candidate", leave=False)  # noqa: E731
    smoothings = [s.strip() for s in smoothing.split(",") if s.strip()] if smoothing else None
    result = tune_models(data.names, val_names=val_names, val_fraction=val_fraction, folds=folds, seed=seed,
                         orders=parse_orders(orders), smoothings=smoothings, mixtures=mixtures, progress=progress,
                         source=data.source)
    model_io.save(result.model, output)
    if plot is not None:
        from .plots import plot_tuning

        plot_tuning(result.candidates, plot, title=f"ngram tune {Path(data.source).name}: train and held-out NLL")
    if as_json:
        _emit_json({"train": data.source, "heldout": result.heldout, "unit": result.unit, "model": str(output),
                    "best": _plain(result.best), "candidates": [_plain(c) for c in result.candidates], "seconds": result.seconds})
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


def _plain(candidate: dict) -> dict:
    return {k: v for k, v in candidate.items() if k != "settings"} | {"settings": {k: v for k, v in candidate["settings"].items() if k != "em_nll"}}


plot_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="Pictures (needs matplotlib: pip install \"ngram[plot]\"): the bigram heatmap, NLL against order.",
)
app.add_typer(plot_app, name="plot")


@plot_app.command("heatmap")
def plot_heatmap_(
    model: Path = typer.Argument(..., help="A .ngram model file."),
    output: Path = typer.Option(Path("bigram.png"), "--output", "-o", help="Image file (.png, .svg or .pdf)."),
    dpi: int = typer.Option(80, "--dpi", help="Resolution of a PNG."),
):
    """The bigram table p(next | previous symbol) as a labelled heatmap (higher orders: their order-2 view).

    Example: ngram plot heatmap model.ngram -o bigram.png
    """
    from .plots import plot_heatmap

    plot_heatmap(_load(model), output, dpi=dpi)
    typer.echo(f"wrote {output}", err=True)


@plot_app.command("orders")
def plot_orders_(
    corpus: str = typer.Argument(..., help="Training names, one per line."),
    val: Optional[str] = typer.Option(None, "--val", help="Held-out names (not the test set)."),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Without --val: hold out this seeded share of the training names."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --val-fraction split."),
    output: Path = typer.Option(Path("nll.png"), "--output", "-o", help="Image file (.png, .svg or .pdf)."),
    orders: str = typer.Option("1-8", "--orders", help="Orders to try: a range 1-8 or a list 2,3,5."),
    estimators: str = typer.Option("add-k,witten-bell,kneser-ney,modified-kneser-ney", "--estimators",
                                   help=f"Comma-separated, default settings each; any of {', '.join(ESTIMATORS)}."),
    unknown: str = typer.Option("error", "--unknown", help="Characters of --val not in the training names: error or skip."),
    dpi: int = typer.Option(100, "--dpi", help="Resolution of a PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
):
    """Training and held-out NLL against order, one line per estimator, the best held-out point marked.

    Example: ngram plot orders train.txt --val val.txt -o nll.png   (or --val-fraction 0.1 --seed 0)
    """
    from .plots import _matplotlib, order_curve, plot_tuning

    _matplotlib()  # say matplotlib is missing before spending time on training
    order_list = _parse_orders(orders)
    names = [e.strip() for e in estimators.split(",") if e.strip()]
    for name in names:
        make_estimator(name)  # an unknown name is a one-line error before any training
    if (val is None) == (val_fraction is None):
        raise NgramError("give held-out names with --val FILE or hold out part of the training names with --val-fraction")
    train_data = read_names(corpus)
    if val is not None:
        val_data = read_names(val)
        fit_names, val_names, val_label = train_data.names, val_data.names, val_data.source
    else:
        fit_names, val_names = _seeded_split(train_data.names, val_fraction, seed)
        val_label = f"{val_fraction:g} of {train_data.source} (seed {seed})"
    results = order_curve(fit_names, val_names, order_list, names, unknown=unknown, val_source=val_label)
    plot_tuning(results, output, title=f"NLL against order on {Path(train_data.source).name}: training (dashed), held-out (solid)", dpi=dpi)
    best = min(results, key=lambda r: r["val_nll"])
    if as_json:
        _emit_json({"train": train_data.source, "val": val_label, "image": str(output), "results": results, "best": best})
        return
    typer.echo(f"NLL in nats/symbol; train = {train_data.source} ({len(fit_names)} names), held-out = {val_label} ({len(val_names)} names)")
    typer.echo(f"  {'estimator':22} {'order':>5} {'train':>8} {'held-out':>9}")
    for r in results:
        mark = "  <- best held-out" if r is best else ""
        typer.echo(f"  {r['estimator']:22} {r['order']:5d} {r['train_nll']:8.4f} {r['val_nll']:9.4f}{mark}")
    typer.echo(f"wrote {output}", err=True)


def _seeded_split(names: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    if not 0 < fraction < 1:
        raise NgramError(f"--val-fraction must be between 0 and 1, got {fraction}")
    order = np.random.default_rng(seed).permutation(len(names))
    cut = max(1, int(round(fraction * len(names))))
    if cut >= len(names):
        raise NgramError(f"--val-fraction {fraction} leaves no training names out of {len(names)}")
    return [names[i] for i in order[cut:]], [names[i] for i in order[:cut]]


def _parse_orders(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            result = list(range(lo, hi + 1))
        else:
            result = [int(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise NgramError(f"--orders takes a range like 1-8 or a list like 2,3,5, got {text!r}") from None
    if not result or min(result) < 1:
        raise NgramError(f"--orders must name orders of at least 1, got {text!r}")
    return result


@app.command(name="prune")
def prune_(
    model: Path = typer.Argument(..., help="A .ngram model file."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the pruned model."),
    entropy: float = typer.Option(..., "--entropy", help="Drop n-grams whose removal raises perplexity by less than this relative amount (Stolcke 1998), e.g. 1e-7."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Shrink a saved model by relative-entropy pruning; back-off weights are recomputed so every
    context still sums to 1. (Count cutoffs need the counts: ngram train --prune.)

    Example: ngram prune model.ngram -o small.ngram --entropy 1e-7
    """
    from .pruning import prune_by_entropy

    before = _load(model)
    after = prune_by_entropy(before, entropy)
    model_io.save(after, output)
    sizes = {"ngrams_before": sum(before.n_ngrams()), "ngrams_after": sum(after.n_ngrams()),
             "ngrams_per_order": after.n_ngrams(), "bytes_before": model.stat().st_size, "bytes_after": output.stat().st_size}
    if as_json:
        _emit_json({"model": str(model), "output": str(output), "entropy": entropy, **sizes})
        return
    typer.echo(f"pruned {model} (relative entropy threshold {entropy:g}): {sizes['ngrams_before']} -> {sizes['ngrams_after']} n-grams, "
               f"{sizes['bytes_before']} -> {sizes['bytes_after']} bytes; by order {after.n_ngrams()}; saved {output}")


def main(argv: List[str] | None = None) -> int:
    """Console entry point: one line on stderr for every user error, never a traceback."""
    command = typer.main.get_command(app)
    no_args = getattr(_click_exceptions, "NoArgsIsHelpError", ())
    try:
        command.main(args=argv, prog_name="ngram", standalone_mode=False)
    except NgramError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 1
    except no_args as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except _click_exceptions.UsageError as exc:
        verb = f"ngram {exc.ctx.info_name}" if exc.ctx is not None and exc.ctx.parent is not None else "ngram"
        message = " ".join(exc.format_message().split())
        typer.echo(f"error: {message} (see {verb} --help)", err=True)
        return 2
    except _click_exceptions.ClickException as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except (typer.Abort, EOFError):
        typer.echo("error: aborted", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except MemoryError:
        typer.echo("error: out of memory (try a lower order or a smaller corpus)", err=True)
        return 1
    except OSError as exc:
        typer.echo(f"error: {exc.filename + ': ' if getattr(exc, 'filename', None) else ''}{exc.strerror or exc}", err=True)
        return 1
    except Exception as exc:  # a bug in ngram, not the user's fault: still one line; the traceback on request
        if os.environ.get("NGRAM_TRACEBACK"):
            raise
        typer.echo(f"error: internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                   "this is a bug in ngram, please report it (NGRAM_TRACEBACK=1 shows where)", err=True)
        return 1
    return 0


def run() -> None:
    sys.exit(main())
