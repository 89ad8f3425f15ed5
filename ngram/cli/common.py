"""What every verb shares: strict JSON, notes on stderr, progress bars, options spelled once, parsers.

The CLI only parses, calls the library and formats; nothing here computes a result.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import typer

from ngram.formats import native as model_io
from ngram.core.errors import NgramError
from ..estimators import ESTIMATORS, make_estimator

WHY_SAME = ("cross-entropy = NLL: averaged over held-out symbols, -ln p(next | context) is the cross-entropy "
            "between the one-hot next-symbol labels and the model's probability vectors.")
PLOT_HINT = "pip install 'ngram-names[plot]' (or, in a clone, pip install '.[plot]')"


# ----- output ------------------------------------------------------------------------------------
def strict(value: Any) -> Any:
    """``value`` as strict JSON data: numpy scalars and arrays as plain numbers and lists, and a
    non-finite number as null with a ``<key>_null_reason`` beside it (JSON has no NaN or Infinity)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = strict(item)
            if isinstance(item, _NonFinite):
                out[str(key)] = None
                out[f"{key}_null_reason"] = item.reason
            else:
                out[str(key)] = item
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        return [None if isinstance(x, _NonFinite) else x for x in (strict(v) for v in value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value):
            return value
        return _NonFinite("not a number" if math.isnan(value) else
                          "infinite: a symbol has probability 0 under the model" if value > 0 else "minus infinity")
    if isinstance(value, Path):
        return str(value)
    return value


class _NonFinite:
    def __init__(self, reason: str):
        self.reason = reason


def emit_json(obj: dict) -> None:
    """Print one strict JSON object (parsable by any JSON reader, no NaN or Infinity)."""
    typer.echo(json.dumps(strict(obj), ensure_ascii=False, indent=2, allow_nan=False))


def note(message: str, quiet: bool) -> None:
    """A line for people on stderr, unless --quiet or --json."""
    if not quiet:
        typer.echo(message, err=True)


def warn_if_table(corpus, source, encoding: str, quiet: bool) -> None:
    """One line on stderr when a corpus looks like a table (name, then numbers): see
    ``ngram.core.corpus.table_warning``. ``source`` None: nothing to look at (e.g. --weighted)."""
    from ngram.core.corpus import table_warning_for

    if source is not None and not quiet:
        message = table_warning_for(corpus, source, encoding)
        if message:
            note(message, quiet)


def progress_enabled(quiet: bool) -> bool:
    """Bars only on a terminal, never with --quiet or --json."""
    return not quiet and sys.stderr.isatty()


def progress_counter(stage: str, unit: str, quiet: bool, delay: float = 2.0):
    """For library work that counts its steps: None when bars are off, else ``start(total)`` that
    opens a bar naming ``stage`` (shown only once the work has taken ``delay`` seconds, so quick
    runs stay silent) and returns ``advance(steps)``, which closes the bar at ``total``."""
    if not progress_enabled(quiet):
        return None

    def start(total: int):
        from tqdm import tqdm

        bar = tqdm(total=total, desc=stage, unit=unit, leave=False, delay=delay)

        def advance(steps: int) -> None:
            bar.update(steps)
            if bar.n >= total:
                bar.close()
        return advance
    return start


def load_model(path: Path):
    return model_io.load(path)


# ----- options spelled once ----------------------------------------------------------------------
def json_option():
    return typer.Option(False, "--json", help="Print one strict JSON object (no NaN or Infinity: null plus a reason).")


def quiet_option(what: str = "No summary, notes or progress bars."):
    return typer.Option(False, "--quiet", "-q", help=what)


def output_option(default: str | None, what: str):
    if default is None:
        return typer.Option(None, "--output", "-o", help=what)
    return typer.Option(Path(default), "--output", "-o", help=f"{what} Default: {default}.")


def model_argument():
    return typer.Argument(..., help="A .ngram model file.")


# ----- parsers: one each for orders, estimator lists, numbers ---------------------------------------
def parse_orders(text: str) -> list[int]:
    """``"2-10"``, ``"3,5,7"``, ``"2-4,6"`` or ``"6"`` -> sorted orders."""
    orders: set[int] = set()
    try:
        for part in str(text).replace(" ", ",").split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                orders.update(range(int(lo), int(hi) + 1))
            elif part:
                orders.add(int(part))
    except ValueError:
        raise NgramError(f"--orders takes a range such as 2-10, a list such as 3,5,7, or both (2-4,6), got {text!r}") from None
    if not orders or min(orders) < 1:
        raise NgramError(f"--orders must name orders of at least 1, got {text!r}")
    if max(orders) > 20:
        raise NgramError(f"--orders goes up to 20, got {max(orders)}")
    return sorted(orders)


def parse_estimators(text: str | None, known: Sequence[str] | None = None) -> list[str] | None:
    """A comma-separated estimator list, each name checked before any work (against ``known``
    when given, e.g. the tunable families, else against the estimators)."""
    if text is None:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise NgramError(f"--smoothing takes estimator names separated by commas ({', '.join(known or ESTIMATORS)}), got {text!r}")
    for name in names:
        if known is None:
            make_estimator(name)  # an unknown name is a one-line error here
        elif name not in known:
            raise NgramError(f"unknown smoothing {name!r}; choose one of {', '.join(known)}")
    return names


def parse_numbers(text: str | None, option: str, whole: bool = False) -> list[float] | list[int] | None:
    """The one parser of number lists ("0.5,0.7", "0 1 1"): separated by commas or spaces;
    ``whole``: whole numbers (counts). The library takes the numbers, never the text."""
    if text is None:
        return None
    try:
        values = [(int if whole else float)(x) for x in text.replace(",", " ").split()]
    except ValueError:
        if whole:
            raise NgramError(f"{option} takes whole-number count thresholds, one per order, e.g. '0 1 1'; got {text!r}") from None
        raise NgramError(f"{option} takes numbers separated by commas, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise NgramError(f"{option} takes finite numbers, got {text!r}")
    return values


def parse_memory(text: str | None) -> int | None:
    """--memory (e.g. 1G, 512M) in bytes: parsed here, at the boundary; the library takes numbers."""
    from ngram.core.budget import parse_size

    return None if text is None else parse_size(text)


def estimator_settings(k, discounts, weights, backoff) -> dict:
    settings = {}
    if k is not None:
        settings["k"] = k
    if discounts is not None:
        settings["discounts"] = parse_numbers(discounts, "--discounts")
    if weights is not None:
        settings["weights"] = parse_numbers(weights, "--weights")
    if backoff:
        settings["backoff"] = True
    return settings


def compact(value) -> str:
    """Report values for people: floats to 4 significant digits, per-order dicts as 'order: values'."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "/".join(compact(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"order {k}: {compact(v)}" if str(k).isdigit() else f"{k}: {compact(v)}" for k, v in value.items())
    return str(value)


def brief(settings: dict, longest: int = 16) -> dict:
    """Settings for a person to read: a list of more than ``longest`` numbers (an order mixture's
    weights per bucket, say) is replaced by how many there are; ``--json`` keeps them all."""
    def count(value) -> int:
        return sum(count(v) for v in value) if isinstance(value, (list, tuple)) else 1

    return {key: (f"<{count(value)} numbers: see --json>" if isinstance(value, (list, tuple)) and count(value) > longest
                  else brief(value, longest) if isinstance(value, dict) else value)
            for key, value in settings.items()}


def report_lines(report) -> list[str]:
    if not report:
        return []
    if isinstance(report, dict):
        lines = report.get("notes")
        if lines:
            return [str(x) for x in lines]
        return [f"{key}: {compact(value)}" for key, value in report.items()]
    return [str(report)]


# JSON spells symbols one way in every verb: a character is itself (always one character), so the
# reserved multi-character names below can never be mistaken for one (a name may contain '.').
JSON_END = "</s>"  # the boundary as a target: the end of the name
JSON_START = "<s>"  # the boundary in a context: the start of the name


def json_symbol(vocabulary, i: int, as_context: bool = False) -> str:
    """Symbol ``i`` as a JSON key or value: the character itself, ``</s>`` for the end of a name
    (``<s>`` for its start when ``as_context``), ``<unk>`` for the unknown class."""
    if i == 0:
        return JSON_START if as_context else JSON_END
    return vocabulary.symbols[i]


def json_symbols(vocabulary) -> list[str]:
    """Every symbol in id order as ``json_symbol`` spells it (index = symbol id)."""
    return [json_symbol(vocabulary, i) for i in range(vocabulary.size)]


def json_explanation(explanation) -> dict:
    """``--explain`` as JSON: each costly context as its characters plus whether it begins at the
    start of the name (the human form's leading '.' would clash with a literal '.')."""
    out = explanation.summary()
    out["top"] = [{"context": row["characters"], "at_start": row["at_start"],
                   **{k: v for k, v in row.items() if k not in ("context", "characters", "at_start")}}
                  for row in out["top"]]
    return out


def show_context(row: dict) -> str:
    """An ``--explain`` context as people read it: its characters quoted, after a bare . when it
    begins at the start of the name (so a literal '.' stays inside the quotes)."""
    chars = repr(row["characters"]) if row["characters"] else ""
    return (". " + chars).strip() if row["at_start"] else chars or "''"


def boundary_note(vocabulary) -> str:
    """How human output spells the special symbols, said once where they appear."""
    return "characters quoted; . = start/end of name" + (", <unk> = unknown character" if vocabulary.unk else "")


def show_symbol(vocabulary, i: int) -> str:
    """Symbol ``i`` as people read it: characters quoted (so a space or a literal '.' is visible),
    the boundary as a bare ., the unknown class as <unk>."""
    symbol = vocabulary.symbols[i]
    return symbol if i == 0 or i == vocabulary.unk_id else repr(symbol)


class StageBar:
    """A progress bar over a verb's named stages, shown on a terminal only (never with --quiet or
    --json, nor when stderr is piped), and only once the work has run for ``delay`` seconds.
    Called with each stage's name as it starts; ``close()`` when done."""

    def __init__(self, stages: int, quiet: bool, delay: float = 2.0):
        self.bar = None
        self.started = False
        if progress_enabled(quiet):
            from tqdm import tqdm

            self.bar = tqdm(total=stages, unit="stage", leave=False, delay=delay)

    def __call__(self, stage: str) -> None:
        if self.bar is None:
            return
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_description(stage)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
