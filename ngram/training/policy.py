"""The decisions behind the shared defaults (``ngram.core.defaults``), made in one place for the
library's entry points and the command line alike: which estimator a run asks for, whether the
default (``auto``) can tune on this corpus or falls back to the closed form, and which engine and
memory budget train a corpus file.
"""

from __future__ import annotations

import os
from pathlib import Path

from ngram.core.budget import Budget
from ngram.core.corpus import COMPRESSED_SUFFIXES
from ngram.core.defaults import (AUTO, AUTO_MAX_NAMES, AUTO_MIN_NAMES, DEFAULT_ENGINE, DEFAULT_ESTIMATOR, DEFAULT_ORDER,
                                 ENGINES, MEMORY_SHARE)
from ngram.core.errors import NgramError
from ngram.estimators import Estimator, make_estimator

# Peak resident memory of the in-memory engine per byte of an uncompressed corpus file (the text,
# its code points, the encoded ids, the counting windows and their sort), measured with
# scripts/scale_benchmark.py on the 100 MB corpus; and what any run needs besides.
IN_MEMORY_BYTES_PER_BYTE = 14
BASELINE_BYTES = 64 << 20


def machine_memory() -> tuple[int, int]:
    """(total physical memory, memory available now) in bytes, from ``os.sysconf``; the kernel's
    MemAvailable (free + reclaimable cache) where /proc/meminfo has it, free pages otherwise."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = os.sysconf("SC_PHYS_PAGES") * page
    available = os.sysconf("SC_AVPHYS_PAGES") * page
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return total, min(available, total)


def _size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n}"


def _file_size(source) -> int | None:
    """Bytes of an uncompressed corpus file; None for standard input and compressed files."""
    if str(source) == "-":
        return None
    path = Path(source)
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return None
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def check_engine(engine: str, scheduler: str | None = None) -> None:
    """An engine of ``ENGINES``, and a scheduler only with the dask engine (or "auto", which it selects)."""
    if engine not in ENGINES:
        raise NgramError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if scheduler and engine not in ("dask", "auto"):
        raise NgramError("--scheduler is for --engine dask")


def choose_engine(source, engine: str = DEFAULT_ENGINE, memory: "int | Budget | None" = None, scheduler: str | None = None,
                  machine: tuple[int, int] | None = None) -> tuple[str, int | None, str]:
    """(engine, memory budget in bytes or None, why) for training on ``source``.

    ``memory`` given: the streaming engine within it (or Dask's tasks, with ``engine="dask"``).
    ``engine="auto"`` and no ``memory``: the budget is a quarter of the machine's memory (less if
    less is available); the in-memory engine when its expected peak (about
    ``IN_MEMORY_BYTES_PER_BYTE`` times the file) fits, the streaming engine within the budget
    otherwise (and for standard input and compressed files, whose size is unknown).
    ``machine``: (total, available) bytes, for tests; read from the system otherwise.
    """
    check_engine(engine, scheduler)
    if scheduler:
        engine = "dask"
    budget = None if memory is None else Budget.of(memory).memory_bytes
    if engine == "memory":
        if budget is not None:
            raise NgramError("a memory budget is for the streaming and dask engines; drop engine memory (or the budget)")
        return "memory", None, "asked for the in-memory engine"
    total, available = machine or machine_memory()
    share = max(16 << 20, min(total // MEMORY_SHARE, available // 2))
    share_why = f"a quarter of this machine's {_size_text(total)}" if share == total // MEMORY_SHARE else \
        f"half the {_size_text(available)} available now"
    if engine == "dask":
        if budget is not None:
            return "dask", budget, f"asked for the dask engine, {_size_text(budget)} per counting task"
        return "dask", min(share, 1 << 30), f"asked for the dask engine; {_size_text(min(share, 1 << 30))} per counting task"
    if engine == "streaming":
        if budget is not None:
            return "streaming", budget, f"streaming within the {_size_text(budget)} asked for"
        return "streaming", share, f"streaming within {_size_text(share)} ({share_why})"
    if budget is not None:
        return "streaming", budget, f"a memory budget was given: streaming within {_size_text(budget)}"
    size = _file_size(source)
    if size is None:
        return "streaming", share, f"corpus size unknown (standard input or compressed): streaming within {_size_text(share)} ({share_why})"
    need = size * IN_MEMORY_BYTES_PER_BYTE + BASELINE_BYTES
    if need <= share:
        return "memory", None, f"{_size_text(size)} corpus: in memory (about {_size_text(need)}, within {share_why})"
    return "streaming", share, (f"{_size_text(size)} corpus would need about {_size_text(need)} in memory, over {share_why}: "
                                f"streaming within {_size_text(share)}")


def auto_blocker(engine: str, names: int | None, weighted: bool, pruned: bool, backoff_only: bool,
                 order: int | None = None) -> str | None:
    """Why the ``auto`` estimator falls back to closed-form modified KN (None: it tunes)."""
    if order is not None and order < 2:
        return f"order {order} leaves nothing to choose"
    if engine != "memory":
        return "the corpus is not held in memory (tuning needs the names)"
    if weighted:
        return "a weighted corpus (tuning counts each name once)"
    if pruned:
        return "pruning works on one back-off table"
    if backoff_only:
        return "the compact file form holds one back-off table"
    if names is not None and names < AUTO_MIN_NAMES:
        return f"{names:,} names are too few to hold any out (tuning needs {AUTO_MIN_NAMES})"
    if names is not None and names > AUTO_MAX_NAMES:
        return f"{names:,} names, over {AUTO_MAX_NAMES:,}, where tuning takes minutes (ngram tune does it)"
    return None


def choose_estimator(order: int | None, estimator: "Estimator | str | None", settings: dict | None = None) -> "Estimator | str":
    """The estimator a run asks for: ``AUTO`` (tune on the corpus) when neither an order nor an
    estimator is given, closed-form ``DEFAULT_ESTIMATOR`` when only an order is (that order's
    KenLM model), an estimator named by text made with ``settings``. ``AUTO`` chooses its own
    settings, so settings beside it are refused."""
    if estimator is None:
        estimator = AUTO if order is None else DEFAULT_ESTIMATOR
    if not isinstance(estimator, str):
        return estimator
    if estimator == AUTO:
        if settings:
            given = ", ".join("--" + key for key in settings)
            raise NgramError(f"{given} sets an estimator's own setting: name the estimator with --smoothing "
                             "(the default, auto, chooses its settings)")
        return AUTO
    return make_estimator(estimator, **(settings or {}))


def closed_form_instead(order: int | None, blocker: str) -> tuple[Estimator, int, str]:
    """What ``AUTO`` falls back to where it cannot tune: (estimator, order, the sentence saying why)."""
    order = DEFAULT_ORDER if order is None else order
    return (make_estimator(DEFAULT_ESTIMATOR), order,
            f"Closed-form modified KN order {order} (KenLM's model), not a tuned one: {blocker}.")
