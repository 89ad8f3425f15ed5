"""Verbs that generate names: sample."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import NgramError
from . import common
from .app import app


@app.command()
def sample(
    model: Path = common.model_argument(),
    n: int = typer.Option(10, "-n", "--num", help="How many names."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same names)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Below 1: safer names; above 1: wilder."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Draw only from the k likeliest next symbols."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Draw only from the smallest set of symbols holding this much probability."),
    prefix: str = typer.Option("", "--prefix", help="Every name starts with this."),
    min_len: int = typer.Option(0, "--min-len", help="Minimum length in characters."),
    max_len: int = typer.Option(50, "--max-len", help="Maximum length in characters."),
    novel_only: bool = typer.Option(False, "--novel-only", help="Keep only names not in the training set."),
    output: Optional[Path] = common.output_option(None, "Write the names to this file instead of standard output."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No novelty report."),
):
    """Sample new names. Names go to stdout, the novelty report to stderr.

    Example: ngram sample model.ngram -n 20 --seed 0 --temperature 0.8
    """
    from ..io import write_atomically
    from ..sampling import novelty as sample_novelty
    from ..sampling import sample as sample_names

    m = common.load_model(model)
    names = sample_names(m, n=n, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p,
                         prefix=prefix, min_len=min_len, max_len=max_len)
    report = None
    if m.train_names is not None and len(m.train_names):
        report, new = sample_novelty(m, names)
        if novel_only:
            names = [name for name, keep in zip(names, new) if keep]
    elif novel_only:
        raise NgramError(f"{model}: the model does not record its training names, so --novel-only cannot tell new names")
    if output is not None:
        text = "".join(name + "\n" for name in names).encode("utf-8")
        write_atomically(output, lambda f: f.write(text), "names")
    if as_json:
        common.emit_json({"model": str(model), "seed": seed, "names": names, "output": output,
                          "novelty": report.summary() if report else None})
        return
    if names and output is None:
        typer.echo("\n".join(names))  # one write: an echo per name costs seconds for 100,000 names
    if report and not quiet:
        kept = f"; kept the {len(names)} new ones" if novel_only else ""
        typer.echo(f"novelty: {report.new} of {report.samples} samples are not in the training set ({report.in_training} are){kept}",
                   err=True)
