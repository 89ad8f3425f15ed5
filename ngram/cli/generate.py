"""Verbs that generate names: sample, top."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ngram.core.errors import NgramError
from ngram.generation.constraints import DEFAULT_MAX_LEN, percent_of_mass
from ngram.generation.plans import TooLarge
from . import common
from .app import app


# ----- the constraint options, spelled once for both verbs ------------------------------------------
def _prefix():
    return typer.Option("", "--prefix", help="Every name starts with this.")


def _suffix():
    return typer.Option("", "--suffix", help="Every name ends with this.")


def _contains():
    return typer.Option(None, "--contains", help="Every name contains this (repeatable: all of them).")


def _exclude():
    return typer.Option(None, "--exclude", help="No name contains this (repeatable).")


def _regex():
    return typer.Option(None, "--regex", help="The whole name matches this pattern: characters, ., [a-z], [^..], "
                        "( ), |, *, +, ?, {m,n} (see docs/generation.md).")


def _min_len():
    return typer.Option(1, "--min-len", help="Minimum length in characters (names are never cut: the model ends them).")


def _max_len():
    return typer.Option(None, "--max-len", help="Maximum length in characters (longer names are left out, not cut). "
                        "Default: the longest training name, as the model records it (50 if it does not).")


def _length_cap(model, max_len, min_len: int | None = None):
    """The default --max-len: names no longer than the longest the model was trained on. A
    --min-len above it is refused here, saying where the maximum came from (the user set none)."""
    if max_len is not None:
        return max_len
    longest = _recorded_longest(model)
    cap = DEFAULT_MAX_LEN if longest is None else longest
    if min_len is not None and min_len > cap:
        source = (f"the longest training name, {cap} characters" if longest is not None else
                  f"{cap}, as the model records no longest training name")
        raise NgramError(f"--min-len {min_len} is above the default --max-len, {source}; give --max-len too "
                         f"(e.g. --max-len {min_len + 5})")
    return cap


def _recorded_longest(model) -> int | None:
    longest = model.corpus.get("longest_name") if isinstance(model.corpus, dict) else None
    return longest if isinstance(longest, int) and not isinstance(longest, bool) and 1 <= longest <= 10_000 else None


def _novel_only():
    return typer.Option(False, "--novel-only", help="Only names not in the training set.")


def _constraints(prefix, suffix, contains, exclude, regex, min_len, max_len, novel_only, unique=False):
    from ngram.generation.constraints import Constraints

    return Constraints(min_len=min_len, max_len=max_len, prefix=prefix, suffix=suffix, contains=tuple(contains or ()),
                       exclude=tuple(exclude or ()), regex=regex, novel_only=novel_only, unique=unique)


def _default(c, m) -> bool:
    return c.is_length_only() and c.min_len == 1 and c.max_len == _length_cap(m, None)


def _mass(sampler, walked: bool = False) -> tuple[float | None, float | None, str | None]:
    """The constraint's mass and its standard error (None: exact), or None and why where its
    exact tables are past the budget (the names were found without them: the answer stands,
    only the mass is not known). Names drawn by walking (``walked``) for a crowded question
    estimate it from the walks instead: counting its product could take seconds to refuse."""
    estimate = sampler.walk_estimate() if walked and sampler.crowded() else None
    if estimate is not None:
        return estimate[0], estimate[1], None
    try:
        return sampler.mass, sampler.mass_error, None
    except TooLarge as exc:
        return None, None, str(exc)


def _no_mass_line(c, why: str) -> str:
    return f"{c.describe()}: the model's mass of these names is not computed ({why})"


def _mass_line(c, mass: float, error: float | None = None) -> str:
    if error is not None:  # a model with no finite state: the mass is estimated by drawing
        return (f"{c.describe()}: {percent_of_mass(mass)} ± {percent_of_mass(error)} (estimate, standard error) "
                "of the model's mass")
    return f"{c.describe()}: {percent_of_mass(mass)} of the model's mass"


@app.command()
def sample(
    model: Path = common.model_argument(),
    n: int = typer.Option(10, "-n", "--num", help="How many names (always exactly this many, or an error)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same names)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Below 1: safer names; above 1: wilder."),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Draw only from the k likeliest next symbols."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Draw only from the smallest set of symbols holding this much probability."),
    prefix: str = _prefix(),
    suffix: str = _suffix(),
    contains: Optional[List[str]] = _contains(),
    exclude: Optional[List[str]] = _exclude(),
    regex: Optional[str] = _regex(),
    min_len: int = _min_len(),
    max_len: int = _max_len(),
    novel_only: bool = _novel_only(),
    unique: bool = typer.Option(False, "--unique", help="No name twice."),
    output: Optional[Path] = common.output_option(None, "Write the names to this file instead of standard output."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No constraint mass or novelty report."),
):
    """Sample names exactly from the model's distribution restricted to the names meeting every
    constraint. Names go to stdout (or -o), the constraint's mass and the novelty report to stderr.

    Example: ngram sample model.ngram -n 20 --seed 0 --suffix ina --max-len 8
    """
    from ngram.core.files import write_atomically
    from ngram.generation.novelty import in_training as count_in_training
    from ngram.generation.sampler import Sampler

    m = common.load_model(model)
    c = _constraints(prefix, suffix, contains, exclude, regex, min_len, _length_cap(m, max_len, min_len), novel_only, unique)
    sampler = Sampler(m, c, temperature=temperature, top_k=top_k, top_p=top_p,
                      progress=_progress(quiet or as_json))
    knows_training = m.train_names is not None and len(m.train_names) > 0
    counts_training = knows_training and not novel_only and (as_json or not quiet)  # (-q prints no novelty line)
    in_training = [0]
    kept: list[str] = []

    def blocks():
        # text blocks, each name followed by a newline: written as they come (one write a block)
        for text, _ in sampler.text_chunks(n, seed):
            if counts_training:
                in_training[0] += count_in_training(m, text)
            if as_json:
                kept.extend(text.split("\n")[:-1])
            yield text

    if output is not None:
        write_atomically(output, lambda f: [f.write(text.encode("utf-8")) for text in blocks()], "names")
    elif as_json:
        for _ in blocks():
            pass
    else:
        out = sys.stdout
        for text in blocks():
            out.write(text)
        out.flush()
    mass, error, why = _mass(sampler, walked=True) if (as_json or not (quiet or _default(c, m))) else (None, None, None)
    novelty_report = None
    if knows_training:
        novelty_report = {"samples": n + sampler.rejected, "in_training": in_training[0] if not novel_only else None,
                          "rejected_draws": sampler.rejected}
    if as_json:
        common.emit_json({"model": str(model), "seed": seed, "constraint": c.describe(), "probability": mass,
                          "probability_standard_error": error, "probability_not_computed_because": why,
                          "probability_is": "the model's mass of the names meeting the constraints (before "
                                            "temperature, top-k, top-p; --novel-only and --unique not counted)",
                          "names": kept, "output": output, "novelty": novelty_report})
        return
    if not quiet:
        if mass is not None:
            shaped = " (before temperature / top-k / top-p)" if sampler.shaped else ""
            common.note(_mass_line(c, mass, error) + shaped, quiet)
        elif why is not None:
            common.note(_no_mass_line(c, why), quiet)
        if knows_training and not novel_only:
            common.note(f"novelty: {n - in_training[0]} of {n} samples are not in the training set "
                        f"({in_training[0]} are)", quiet)
        elif novel_only or unique:
            common.note(f"left out {sampler.rejected} draw{'' if sampler.rejected == 1 else 's'} ({'training names' if novel_only else ''}"
                        f"{' / ' if novel_only and unique else ''}{'repeats' if unique else ''})", quiet)


@app.command()
def top(
    model: Path = common.model_argument(),
    n: int = typer.Option(20, "-n", "--num", help="How many names."),
    prefix: str = _prefix(),
    suffix: str = _suffix(),
    contains: Optional[List[str]] = _contains(),
    exclude: Optional[List[str]] = _exclude(),
    regex: Optional[str] = _regex(),
    min_len: int = _min_len(),
    max_len: int = _max_len(),
    novel_only: bool = _novel_only(),
    rank: str = typer.Option("probability", "--rank", help="probability (default): the most probable names, "
                             "which favours short ones; per-symbol: the lowest NLL per symbol (end included)."),
    output: Optional[Path] = common.output_option(None, "Write the table to this file instead of standard output."),
    as_json: bool = common.json_option(),
    quiet: bool = common.quiet_option("No constraint mass."),
):
    """The n most probable names (exactly, by best-first search), with probability and NLL per symbol,
    under the same constraints as sample; --rank per-symbol orders by NLL per symbol instead. Rows
    are written as they are found.

    Example: ngram top model.ngram -n 20 --suffix ina --novel-only
    """
    from ngram.core.files import write_atomically
    from ngram.generation.sampler import Sampler

    m = common.load_model(model)
    c = _constraints(prefix, suffix, contains, exclude, regex, min_len, _length_cap(m, max_len, min_len), novel_only)
    sampler = Sampler(m, c, progress=_progress(quiet or as_json))
    best = sampler.iter_top(n, rank)  # (checks n and rank before anything is written)

    # The search has no total but the names it is asked for: counted as they are found.
    counter = common.progress_counter("top: finding the most probable names", "name", quiet or as_json)
    found = counter(n) if counter is not None and n > 0 else None

    def rows():
        for name, lp in best:
            if found is not None:
                found(1)
            yield {"name": name, "probability": math.exp(lp), "nll_nats_per_symbol": -lp / (len(name) + 1)}

    if as_json:
        names = list(rows())
        mass, error, why = _mass(sampler)
        common.emit_json({"model": str(model), "constraint": c.describe(), "rank": rank, "probability": mass,
                          "probability_standard_error": error, "probability_not_computed_because": why,
                          "names": names, "output": output})
        if output is not None:
            write_atomically(output, lambda f: [f.write(x.encode("utf-8")) for x in lines_of(names)], "the table")
        return
    if output is not None:
        write_atomically(output, lambda f: [f.write(x.encode("utf-8")) for x in lines_of(rows())], "the table")
    else:
        out = sys.stdout
        for line in lines_of(rows()):  # streamed: memory bounded by the search, not by -n
            out.write(line)
        out.flush()
    if not (quiet or _default(c, m)):  # (the default constraint's mass needs every state: not worth its time)
        mass, error, why = _mass(sampler)
        common.note(_mass_line(c, mass, error) if mass is not None else _no_mass_line(c, why), quiet)


def lines_of(rows):
    header = f"{'name':<20} {'probability':>12} {'nats/symbol':>11}\n"
    for r in rows:  # (the header with the first row: a request no name meets is an error, not an empty table)
        if header:
            yield header
            header = ""
        yield f"{r['name']:<20} {r['probability']:>12.4e} {r['nll_nats_per_symbol']:>11.4f}\n"
    if header:
        yield header


def _progress(off: bool):
    """A tqdm factory naming each stage, on a terminal only (never with -q or --json)."""
    if not common.progress_enabled(off):
        return None
    from tqdm import tqdm

    return lambda total, desc: tqdm(total=total, desc=desc, unit="step", leave=False)
