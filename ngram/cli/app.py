"""The typer application every verb module registers on, with -h/--help and --version."""

from __future__ import annotations

import typer

from ngram.core import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Character-level n-gram language models for lists of names: train, evaluate, sample.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ngram {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version, is_eager=True),
) -> None:
    """Character-level n-gram language models for lists of names: train, evaluate, sample."""


plot_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]},
    help="Pictures (needs matplotlib: pip install 'ngram-names[plot]'): the bigram heatmap, NLL against order.",
)
app.add_typer(plot_app, name="plot")
