"""The report verb: one self-contained HTML page of where a model is surprised by held-out names."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional

import typer

from ngram.core.corpus import DEFAULT_MAX_NAME_LENGTH, read_names
from . import common
from .app import app


@app.command()
def report(
    model: Path = common.model_argument(),
    data: str = typer.Argument(..., help="Held-out names, one per line ('-' = stdin)."),
    output: Path = common.output_option("report.html", "The HTML page to write (self-contained: opens without network)."),
    max_names: int = typer.Option(2000, "--max-names", help="Draw the first this many names (at most 20,000); the summary counts all of them."),
    samples: int = typer.Option(10, "--samples", help="How many names to sample from the model (0: none; at most 10,000)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the samples."),
    train: Optional[str] = typer.Option(None, "--train", help="The training names: each sample is shown beside its nearest ones (edit distance)."),
    unknown: Optional[str] = typer.Option(None, "--unknown", help="Unknown characters: error (default), skip, or unk (models trained with --unk; their default)."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names first."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the data."),
    max_name_length: int = typer.Option(DEFAULT_MAX_NAME_LENGTH, "--max-name-length", help="Reject longer lines."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No summary line or notes."),
):
    """An HTML page of where the model is surprised: every held-out name's symbols coloured by
    -ln p, the next-symbol vector on hover, the H + KL split, the costliest contexts, samples.

    Example: ngram report model.ngram ../shared/data/italian-names-test.txt --train ../shared/data/italian-names-train.txt -o report.html
    """
    from ngram.evaluation import report as report_lib

    started = time.perf_counter()
    report_lib.check_request(max_names, samples)  # before any reading: the page's own size bounds them
    m = common.load_model(model)
    corpus = read_names(data, lowercase=lowercase, encoding=encoding, max_name_length=max_name_length)
    if corpus.blank_lines:
        common.note(f"warning: {corpus.source}: skipped {corpus.blank_lines} blank line(s)", quiet or as_json)
    train_names = train_source = None
    if train is not None:
        train_corpus = read_names(train, lowercase=lowercase, encoding=encoding, max_name_length=max_name_length)
        train_names, train_source = train_corpus.names, train_corpus.source
    bar = common.StageBar(report_lib.STAGES + 1, quiet or as_json)
    try:
        data_ = report_lib.build(m, corpus.names, source=corpus.source, unknown=unknown, line_numbers=corpus.line_numbers,
                                 max_names=max_names, samples=samples, seed=seed, train=train_names,
                                 train_source=train_source, model_label=str(model), progress=bar)
        bar("writing the page")
        size = report_lib.write(output, data_)
    finally:
        bar.close()
    summary = data_["summary"]
    if as_json:
        keys = ("names", "names_shown", "symbols", "oov", "unknown_policy", "total_nll_nats", "nll_nats_per_symbol",
                "cross_entropy_nats_per_symbol", "bits_per_symbol", "perplexity_per_symbol", "nll_nats_per_name")
        split = data_["split"] or {}
        # The page's data holds an infinite loss (a symbol of probability 0) as null; here it goes
        # back to infinity so that the JSON says why it is null, as every verb's does.
        numbers = {k: math.inf if summary[k] is None else summary[k] for k in keys}
        common.emit_json({"model": str(model), "data": corpus.source, "output": output, "bytes": size, **numbers,
                          "entropy_nats_per_symbol": split.get("entropy_nats_per_symbol"),
                          "kl_nats_per_symbol": split.get("kl_nats_per_symbol"),
                          "samples": len(data_["samples"]["items"]), "seconds": time.perf_counter() - started})
        return
    if quiet:
        return
    shown = "" if summary["names_shown"] == summary["names"] else f" (the first {summary['names_shown']} drawn)"
    nll = summary["nll_nats_per_symbol"]
    typer.echo(f"wrote {output} ({size / 1024:.0f} KiB): {summary['names']} names{shown}, "
               f"NLL {'inf' if nll is None else format(nll, '.4f')} nats/symbol on {corpus.source}")
    if data_["split_note"]:
        common.note(f"note: no H + KL split for this model: {data_['split_note']}", quiet)
