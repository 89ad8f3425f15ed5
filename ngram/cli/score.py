"""Verbs that read a model and answer questions: evaluate, probs, info, export, classify."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from ngram.core.corpus import DEFAULT_MAX_NAME_LENGTH, read_names
from ngram.core.errors import NgramError, indefinite
from ngram.evaluation.heldout import evaluate_names_file
from ngram.formats.native import file_form, is_model_path
from . import common
from .app import app

INFO_SYMBOLS = 200  # symbols `info` lists on its vocabulary line


@app.command()
def evaluate(
    model: Path = common.model_argument(),
    data: str = typer.Argument(..., help="Held-out names, one per line ('-' = stdin)."),
    unknown: Optional[str] = typer.Option(None, "--unknown", help="Unknown characters: error (default), skip, or unk (models trained with --unk; their default)."),
    per_name: bool = typer.Option(False, "--per-name", help="Each name's symbols and total NLL (nats): TSV, or a list under --json."),
    explain: bool = typer.Option(False, "--explain", help="Show the loss grouped by context: H(empirical) + KL(empirical || model)."),
    weighted: bool = typer.Option(False, "--weighted", help="Lines are name<TAB>count: a weighted test set (NLL = weighted average per symbol)."),
    lowercase: bool = typer.Option(False, "--lowercase", help="Lowercase names first."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of the data."),
    max_name_length: int = typer.Option(DEFAULT_MAX_NAME_LENGTH, "--max-name-length", help="Reject longer lines."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No warnings."),
):
    """Average negative log-likelihood (= cross-entropy) of held-out names.

    Example: ngram evaluate model.ngram ../shared/data/italian-names-test.txt
    """
    m = common.load_model(model)
    if weighted and explain:
        raise NgramError("--explain does not support --weighted test sets yet")
    out = {"model": str(model)}
    rows: list | None = [] if per_name and as_json else None
    if per_name and not as_json:
        typer.echo("name\tsymbols\tnll_nats")
        each = _per_name_lines
    elif per_name:
        each = lambda names, symbols, nll: rows.extend(_per_name_rows(names, symbols, nll))  # noqa: E731
    else:
        each = None
    explain = explain and not (per_name and not as_json)  # the TSV of --per-name is all that is printed then
    bar = common.StageBar(3 if explain else 1, quiet or as_json)
    try:
        held = evaluate_names_file(m, data, unknown, weighted, explain, lowercase, encoding, max_name_length,
                                   each_block=each, progress=bar)
    finally:
        bar.close()
    result, policy, explanation = held.result, held.policy, held.explanation
    if result.blank_lines:
        common.note(f"warning: {result.data}: skipped {result.blank_lines} blank line(s)", quiet or as_json)
    if per_name and not as_json:
        return
    out.update({**result.summary(), "unknown_policy": policy})
    if rows is not None:
        out["per_name"] = rows
    if explanation is not None:
        out["explain"] = common.json_explanation(explanation)
    if as_json:
        common.emit_json(out)
        return
    typer.echo(f"evaluated {model} on {result.data}: {result.names} names, {result.symbols:.12g} symbols (characters + one end symbol per name{', each name counted by its weight' if weighted else ''})")
    if result.oov:
        typer.echo(f"  OOV           {result.oov} character(s) outside the vocabulary ({'scored as <unk>' if policy == 'unk' else 'skipped, not scored'})")
    typer.echo(f"  NLL           {result.nll:.4f} nats/symbol")
    typer.echo(f"  cross-entropy {result.cross_entropy:.4f} nats/symbol  ({common.WHY_SAME})")
    typer.echo(f"  bits          {result.bits:.4f} bits/symbol")
    typer.echo(f"  perplexity    {result.perplexity:.4f} (per symbol)")
    if explanation is not None:
        e = explanation
        typer.echo(f"  by context    {e.contexts} distinct contexts in {result.data}; weighting each context's cross-entropy between its")
        typer.echo("                empirical next-symbol distribution (soft labels) and the model's vector by how often it occurs:")
        typer.echo(f"                cross-entropy {e.cross_entropy:.4f} = H(empirical) {e.entropy:.4f} + KL(empirical || model) {e.kl:.4f} nats/symbol")
        typer.echo("                (H is the data's own uncertainty given these contexts; KL is what the model gets wrong)")
        typer.echo(f"  costliest contexts ({common.boundary_note(m.vocabulary)}): context, share of positions, H, KL (nats)")
        for row in e.top:
            typer.echo(f"    {common.show_context(row):14} {row['weight']:.4f} {row['entropy']:.4f} {row['kl']:.4f}")


def _per_name_lines(names, symbols, nll) -> None:
    """--per-name as TSV lines: name, scored symbols, total NLL in nats."""
    for name, count, value in zip(names, symbols, nll):
        typer.echo(f"{name}\t{count}\t{value:.6f}")


def _per_name_rows(names, symbols, nll) -> list[dict]:
    return [{"name": name, "symbols": int(count), "nll_nats": float(value)} for name, count, value in zip(names, symbols, nll)]


@app.command()
def probs(
    model: Path = common.model_argument(),
    context: str = typer.Argument("", help="The start of a name; the model predicts the next symbol."),
    top: Optional[int] = typer.Option(None, "--top", help="Show only the TOP likeliest symbols."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("Only the table, no heading."),
):
    """The model's probability vector for the next symbol after a context: the lookup table, made visible.

    Example: ngram probs model.ngram mar --top 10
    """
    m = common.load_model(model)
    p = m.probs(context)
    order = np.argsort(-p, kind="stable")
    if top is not None:
        if top < 1:
            raise NgramError(f"--top must be at least 1, got {top}")
        order = order[:top]
    if as_json:
        common.emit_json({"model": str(model), "context": context,
                          "probability": {common.json_symbol(m.vocabulary, i): float(p[i]) for i in order},
                          "sum": float(p.sum()), "symbols": "a character is itself; </s> = end of name"
                          + ("; <unk> = unknown character" if m.vocabulary.unk else "")})
        return
    if not quiet:
        typer.echo(f"p(next symbol | {context!r} at the start of a name), {m.describe()}; the vector sums to {p.sum():.12f}"
                   f" ({common.boundary_note(m.vocabulary)})")
    for i in order:
        nats = -math.log(p[i]) if p[i] > 0 else float("inf")
        typer.echo(f"  {common.show_symbol(m.vocabulary, i):8} {p[i]:.6f}  {nats:7.4f} nats")


@app.command()
def info(
    model: Path = common.model_argument(),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("Only the one-line description."),
):
    """What a model file holds: order, vocabulary, estimator, training corpus, n-gram counts.

    Example: ngram info model.ngram
    """
    m = common.load_model(model)
    out = {
        "model": str(model), "description": m.describe(), "order": m.order, "vocabulary": common.json_symbols(m.vocabulary),
        "vocabulary_size": m.V, "estimator": m.estimator, "corpus": m.corpus, "ngrams_per_order": m.n_ngrams(),
        "capabilities": sorted(m.capabilities), "file": file_form(m, model),
    }
    if as_json:
        common.emit_json(out)
        return
    typer.echo(m.describe())
    if quiet:
        return
    shown = min(m.V, INFO_SYMBOLS)  # (an alphabet of thousands: the first ones, the rest counted; --json has all)
    rest = f" … ({m.V - shown:,} more: --json)" if shown < m.V else ""
    typer.echo(f"  vocabulary  {' '.join(common.show_symbol(m.vocabulary, i) for i in range(shown))}{rest}"
               f"  ({common.boundary_note(m.vocabulary)})")
    typer.echo(f"  estimator   {_readable_settings(m.estimator)}")
    typer.echo(f"  corpus      {_readable_corpus(m.corpus)}")
    form = out["file"]
    if form["form"] == "compact":
        bits = form["quantisation_bits"]
        quantised = ("exact values (not quantised)" if bits["logp"] is None and bits["bow"] is None else
                     f"quantised: probabilities {bits['logp'] or 'exact'}, back-off weights {bits['bow'] or 'exact'} bits")
        widths = ", ".join(f"{kind} {lo}" if lo == hi else f"{kind} {lo}-{hi}" for kind, (lo, hi) in _width_ranges(form["field_width_bits"]).items())
        typer.echo(f"  file        compact, memory-mapped (format version {form['version']}), {form['file_bytes']:,} bytes; {quantised}")
        typer.echo(f"  widths      bits per stored value: {widths}")
    else:
        typer.echo(f"  file        ordinary model file ({form['file_bytes']:,} bytes; ngram train --compact writes the memory-mapped form)")


def _readable(value, longest: int = 12) -> str:
    """A setting for people: 4 significant digits, a list as a/b/c, a list of lists (one per order)
    as groups separated by spaces; more than ``longest`` numbers, 3 groups or 3 entries, or 60
    characters of text are cut with a pointer to --json."""
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:59] + "…"
    if isinstance(value, bool) or not isinstance(value, (float, list, tuple, dict)):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        shown = ", ".join(f"order {k}: {_readable(v, longest)}" if str(k).isdigit() else f"{k} {_readable(v, longest)}"
                          for k, v in list(value.items())[:3])
        return shown + (f" … ({len(value)} entries: --json)" if len(value) > 3 else "")
    if any(isinstance(v, (list, tuple)) for v in value):
        shown = [_readable(v, longest) for v in value[:3]]
        return " ".join(shown) + (f" … ({len(value)} groups: --json)" if len(value) > 3 else "")
    shown = "/".join(_readable(v) for v in value[:longest])
    return shown + (f"/… ({len(value)} numbers: --json)" if len(value) > longest else "")


def _readable_settings(estimator: dict) -> str:
    """``name (setting value; ...)``: no Python dict, no 17-digit floats."""
    rest = {k: v for k, v in estimator.items() if k != "name"}
    return str(estimator.get("name", "?")) + (f" ({'; '.join(f'{k} {_readable(v)}' for k, v in rest.items())})" if rest else "")


def _readable_corpus(corpus: dict) -> str:
    """What the model was trained on, in words; the fingerprint shortened (whole in --json)."""
    known = {"source", "names", "symbols", "sha256", "longest_name", "total_weight"}
    parts = [f"{corpus.get('source', '?')}: {corpus.get('names', 0):,} names, {corpus.get('symbols', 0):,} symbols"]
    if corpus.get("longest_name") is not None:
        parts.append(f"longest {corpus['longest_name']} characters")
    if corpus.get("total_weight") is not None:
        parts.append(f"total weight {_readable(float(corpus['total_weight']))}")
    parts += [f"{k} {_readable(v)}" for k, v in corpus.items() if k not in known]
    if corpus.get("sha256"):
        parts.append(f"sha256 {corpus['sha256'][:12]}…")
    return ", ".join(parts)


def _width_ranges(widths: dict) -> dict:
    """Field widths grouped by kind (``last3`` and ``last4`` are both ``last``): the narrowest and widest."""
    out: dict = {}
    for name, width in widths.items():
        kind = name.rstrip("0123456789")
        lo, hi = out.get(kind, (width, width))
        out[kind] = (min(lo, width), max(hi, width))
    return out


@app.command(name="export")
def export_(
    model: Path = common.model_argument(),
    output: Path = typer.Option(Path("model.arpa"), "--output", "-o", "--arpa", help="Where to write the ARPA file. Default: model.arpa."),
    component: Optional[int] = typer.Option(None, "--component", help="For a mixture: write its component number COMPONENT (1 = first) instead."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No report."),
):
    """Write the model as a standard ARPA file (log10, back-off weights, <s> </s> <unk>, space as <sp>).

    Example: ngram export model.ngram -o model.arpa
    """
    from ngram.formats.arpa import write_arpa
    from ngram.lm.protocol import LEVELS, MIXED_CONTEXTS, require

    m = common.load_model(model)
    what = m
    if component is not None:
        parts = m.name_components()
        if not 1 <= component <= len(parts):
            raise NgramError(f"export: --component must be between 1 and {len(parts)} for {m.describe()}, got {component}")
        what = parts[component - 1][1]
    if len(what.name_components()) > 1:
        why = ("an ARPA file holds one back-off table and no exact one exists for a mixture; write one of its "
               "whole-name components with --component N (see ngram info)")
    elif MIXED_CONTEXTS in what.capabilities:
        why = "an ARPA file holds one back-off table, and its weights per context have no ARPA form"
    else:
        why = "an ARPA file holds a back-off table of n-gram probabilities, and this model has none"
    require(what, LEVELS, "export", f"{model} is {indefinite(what.describe())}: {why}")
    write_arpa(what, output)
    if as_json:
        common.emit_json({"model": str(model), "output": str(output), "format": "arpa", "component": component,
                          "order": what.order, "ngrams_per_order": what.n_ngrams()})
        return
    common.note(f"wrote {output}", quiet)


@app.command()
def classify(
    files: List[str] = typer.Argument(..., help="Two or more .ngram models, one per source corpus, then the names file ('-' = stdin); with --eval the names file may be left out."),
    priors: Optional[str] = typer.Option(None, "--priors", help="Prior probability of each model's corpus, comma-separated (default: equal)."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Label of each model, comma-separated (default: the model files' stems)."),
    eval_file: Optional[str] = typer.Option(None, "--eval", help="Labelled names, name<TAB>label per line: print accuracy and a confusion matrix."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No notes."),
):
    """Most likely source corpus of each name by Bayes rule: log prior + log p(name) under each model.

    Example: ngram classify it.ngram en.ngram names.txt --priors 0.5,0.5
    """
    from ngram.evaluation.classifier import assess, read_labelled
    from ngram.evaluation.classifier import classify as classify_names

    names_file = files[-1] if not (eval_file is not None and is_model_path(files[-1])) else None
    model_files = files[:-1] if names_file is not None else files
    if len(model_files) < 2:
        raise NgramError("give at least two model files, then the names file (see ngram classify --help)")
    models = [common.load_model(Path(m)) for m in model_files]
    tags = [x.strip() for x in labels.split(",")] if labels is not None else [Path(m).stem for m in model_files]
    out: dict = {"models": model_files, "labels": tags}
    if names_file is not None:
        corpus = read_names(names_file)
        result = classify_names(models, corpus.names, priors=common.parse_numbers(priors, "--priors"), labels=tags)
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
                common.note(f"note: {impossible} name(s) have probability 0 under every model (characters none of them knows); shown as '-'", quiet)
    if eval_file is not None:
        names, gold = read_labelled(eval_file)
        result = classify_names(models, names, priors=common.parse_numbers(priors, "--priors"), labels=tags)
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
        common.emit_json(out)


def _finite(value: float):
    return None if math.isnan(value) else float(value)
