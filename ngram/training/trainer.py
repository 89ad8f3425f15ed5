"""Training in one call: names -> vocabulary -> encoded array -> counts -> estimator -> Model.

``train`` fits names held in memory; ``train_file`` trains on a file with the engine it chooses
(in memory, streaming within a memory budget, or a Dask cluster) and says which and why.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ngram.core.corpus import COMPRESSED_SUFFIXES, DEFAULT_MAX_NAME_LENGTH, Corpus, read_names
from ngram.core.counting import check_order, count_ngrams
from ngram.training.dask_engine import train_dask
from ngram.core.errors import NgramError
from ngram.training.external import supports, train_to_file
from ngram.formats.native import save
from ngram.estimators import AUTO, AUTO_MAX_NAMES, AUTO_MIN_NAMES, AddK, Estimator
from ngram.lm.backoff.model import Model
from ngram.formats.provenance import CorpusInfo, finish, fingerprint_of_code_points
from ngram.lm.backoff.pruning import prune_model
from ngram.training.streaming import Budget, Scan, parse_size, scan_corpus, train_streaming
from ngram.core.vocabulary import Vocabulary, code_points


def corpus_fingerprint(names: Sequence[str]) -> str:
    """sha256 of the names, each followed by a newline (one update: a loop per name is slow)."""
    return fingerprint_of_code_points(code_points(names), len(names))


def train(
    names: Sequence[str] | Corpus,
    order: int = 4,
    estimator: Estimator | None = None,
    unk: bool = False,
    weights: Sequence[float] | None = None,
    source: str = "<names>",
    vocabulary: Vocabulary | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    prune: Sequence[int] | str | None = None,
    prune_entropy: float | None = None,
) -> Model:
    """Fit an order-``order`` model on ``names`` (add-k, k = 0.1, unless told otherwise).

    ``prune`` (count thresholds per order, as lmplz's --prune) and ``prune_entropy`` (Stolcke's
    relative-entropy threshold) shrink the model; see ``ngram.lm.backoff.pruning``.

    ``unk`` adds an ``<unk>`` class that unknown characters map to at evaluation time.
    ``weights`` gives one count per name (weighted corpora).
    ``names`` may be a ``Corpus`` (``read_names``): its text is then read without making a
    Python string per name.
    """
    estimator = estimator if estimator is not None else AddK(0.1)
    n_names = len(names)
    # The code points are made once: vocabulary, encoding and both fingerprints read them.
    codes = names.code_points() if isinstance(names, Corpus) else code_points(names)
    vocabulary = vocabulary or Vocabulary.from_names((), unk=unk, codes=codes)
    check_order(order, vocabulary.size)
    if weights is not None and len(weights) != n_names:
        raise NgramError(f"{len(weights)} weights for {n_names} names; give one weight per name")
    encoded = vocabulary.encode((), codes=codes)
    info = CorpusInfo.of_names(names, source, weights, codes)  # (a Corpus has a len too)
    del codes
    counts = count_ngrams(encoded, order, vocabulary.size, None if weights is None else np.asarray(weights, float), progress)
    del encoded  # the encoded corpus (8 bytes a symbol) is not needed while estimating: lower peak memory
    counts.release_after_use = prune is None  # count cutoffs read the counts after the fit
    model = prune_model(estimator.fit(counts, vocabulary), counts, prune, prune_entropy)
    return finish(model, info)


# ----- one entry point for every engine -------------------------------------------------------

ENGINES = ("auto", "memory", "streaming", "dask")
# Peak resident memory of the in-memory engine per byte of an uncompressed corpus file (the text,
# its code points, the encoded ids, the counting windows and their sort), measured with
# scripts/scale_benchmark.py on the 100 MB corpus; and what any run needs besides.
IN_MEMORY_BYTES_PER_BYTE = 14
BASELINE_BYTES = 64 << 20
MEMORY_SHARE = 4  # with no --memory, a run takes at most 1/MEMORY_SHARE of the machine's memory


@dataclass
class TrainingSummary:
    """What ``train_file`` did: the engine and memory budget it chose and why, and the corpus.

    ``corpus`` is the ``Corpus`` read by the in-memory engine (None for the others: the corpus
    was never held), so a caller can score the training names without reading them again.
    """

    engine: str
    memory_bytes: int | None
    reason: str
    source: str
    names: int
    symbols: int
    blank_lines: int
    seconds: float = 0.0
    scheduler: str | None = None
    ngrams_per_order: list[int] = field(default_factory=list)
    corpus: Corpus | None = field(default=None, repr=False)
    choice: list[str] = field(default_factory=list)  # with estimator "auto": what was chosen and why

    def as_dict(self) -> dict:
        """JSON-ready (units in the keys)."""
        return {"engine": self.engine, "memory_bytes": self.memory_bytes, "engine_reason": self.reason,
                **({"estimator_choice": list(self.choice)} if self.choice else {}),
                "corpus": self.source, "names": self.names, "symbols": self.symbols, "blank_lines": self.blank_lines,
                "ngrams_per_order": list(self.ngrams_per_order), "seconds": self.seconds, **({"scheduler": self.scheduler} if self.scheduler else {})}


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


def choose_engine(source, engine: str = "auto", memory: int | str | None = None, scheduler: str | None = None,
                  machine: tuple[int, int] | None = None) -> tuple[str, int | None, str]:
    """(engine, memory budget in bytes or None, why) for training on ``source``.

    ``memory`` given: the streaming engine within it (or Dask's tasks, with ``engine="dask"``).
    ``engine="auto"`` and no ``memory``: the budget is a quarter of the machine's memory (less if
    less is available); the in-memory engine when its expected peak (about
    ``IN_MEMORY_BYTES_PER_BYTE`` times the file) fits, the streaming engine within the budget
    otherwise (and for standard input and compressed files, whose size is unknown).
    ``machine``: (total, available) bytes, for tests; read from the system otherwise.
    """
    if engine not in ENGINES:
        raise NgramError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if scheduler and engine not in ("dask", "auto"):
        raise NgramError("a scheduler is for the dask engine")
    if scheduler:
        engine = "dask"
    budget = None if memory is None else memory.memory_bytes if isinstance(memory, Budget) else parse_size(memory)
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


# ----- the default: a model chosen on the corpus itself ---------------------------------------


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


def train_auto(data: Corpus, orders: Sequence[int], unk: bool = False,
               progress: Callable[[Iterable], Iterable] | None = None) -> tuple[object, list[str]]:
    """The model ``ngram tune`` would choose on these names alone: order, discounts and mixtures
    (left to right, right to left, both) picked by 5-fold cross-validation, refitted on all names.
    Returns the model and the reasons, one sentence each."""
    from ngram.tuning import tune

    result = tune(data.names, orders=orders, unk=unk, progress=progress, source=data.source)
    return result.model, [f"Held-out evidence: {result.heldout}."] + result.reasons


def train_file(source, order: int | None = None, estimator: Estimator | str | None = None, *, engine: str = "auto",
               memory: int | str | None = None, unk: bool = False, lowercase: bool = False, encoding: str = "utf-8",
               max_name_length: int = DEFAULT_MAX_NAME_LENGTH, weighted: bool = False,
               prune: Sequence[int] | str | None = None, prune_entropy: float | None = None,
               tmpdir: str | os.PathLike | None = None, scheduler: str | None = None, client=None,
               progress: Callable | None = None, count_progress: Callable[[Iterable], Iterable] | None = None,
               machine: tuple[int, int] | None = None, output: str | os.PathLike | None = None,
               workers_read: bool | None = None, backoff_only: bool = False) -> tuple[Model | None, TrainingSummary]:
    """Train on a corpus file (``"-"`` = standard input) with the engine ``choose_engine`` picks.

    Every engine gives the same model to the last bit. Returns the model (corpus recorded by
    ``finish``) and a ``TrainingSummary`` saying which engine and budget were used and why.
    ``progress`` is a tqdm-like factory ``progress(total=, desc=)`` for the streaming and Dask
    engines' reading; ``count_progress`` wraps the in-memory engine's loop over orders.
    ``client`` (a ``distributed.Client``) or ``scheduler`` selects the dask engine's cluster;
    ``workers_read`` says whether its workers read their own byte ranges of the file (shared
    storage; see ``dask_engine.train_dask``).

    ``output``: also write the model file there. With the streaming engine and an estimator of the
    discounting family (absolute, Kneser-Ney, modified Kneser-Ney; interpolated, no pruning) the
    whole run then stays within the budget: counts stay on disk, the estimator reads them order
    by order and the file is written as the model is made (``ngram.training.external``), and the model is
    not returned (None; load the file to use it). Otherwise the final counts and the model must
    fit in memory besides the budget, and the summary says so.

    ``estimator``: an ``Estimator``, None (add-k as ``train``), or ``"auto"``: the model
    ``train_auto`` tunes on the corpus (orders 2 to ``order``, default 10), unless ``auto_blocker``
    gives a reason to fall back to closed-form modified KN of ``order`` (default 6), KenLM's
    model. ``backoff_only``: the caller needs one back-off table (e.g. for the compact form).
    The summary's ``choice`` says what was chosen and why.
    """
    from ngram.estimators import DEFAULT_ESTIMATOR, DEFAULT_ORDER, make_estimator

    started = time.perf_counter()
    chosen, budget, reason = choose_engine(source, "dask" if client is not None and engine == "auto" else engine,
                                           memory, scheduler, machine)
    choice: list[str] = []
    auto = isinstance(estimator, str) and estimator == AUTO

    def closed_form(blocker: str) -> Estimator:
        choice.append(f"Closed-form modified KN order {DEFAULT_ORDER if order is None else order} (KenLM's model), "
                      f"not a tuned one: {blocker}.")
        return make_estimator(DEFAULT_ESTIMATOR)

    if auto:
        blocker = auto_blocker(chosen, None, weighted, prune is not None or prune_entropy is not None, backoff_only, order)
        if blocker is not None:
            estimator, auto = closed_form(blocker), False
    elif isinstance(estimator, str):
        estimator = make_estimator(estimator)
    if chosen == "memory":
        data = read_names(source, lowercase=lowercase, encoding=encoding, max_name_length=max_name_length, weighted=weighted)
        blocker = auto_blocker(chosen, len(data), weighted, False, backoff_only, order) if auto else None
        if auto and blocker is None:
            model, choice = train_auto(data, range(2, (10 if order is None else order) + 1), unk=unk, progress=count_progress)
        else:
            if auto:
                estimator = closed_form(blocker)
            model = train(data, order=DEFAULT_ORDER if order is None else order, estimator=estimator, unk=unk,
                          weights=data.weights, source=data.source, progress=count_progress, prune=prune,
                          prune_entropy=prune_entropy)
        summary = TrainingSummary("memory", None, reason, data.source, len(data), int(model.corpus["symbols"]),
                                  data.blank_lines, corpus=data, ngrams_per_order=model.n_ngrams(), choice=choice)
    else:
        order = DEFAULT_ORDER if order is None else order
        settings = dict(order=order, estimator=estimator, unk=unk, memory_bytes=memory if isinstance(memory, Budget) else budget, lowercase=lowercase,
                        encoding=encoding, max_name_length=max_name_length, progress=progress, prune=prune,
                        prune_entropy=prune_entropy, tmpdir=tmpdir, weighted=weighted)
        ngrams = None
        if chosen == "dask":
            model, scan = train_dask(source, scheduler=scheduler, client=client, workers_read=workers_read, **settings)
        elif output is not None and supports(estimator, prune, prune_entropy, weighted):
            model, (scan, ngrams) = None, _train_streaming_to_file(source, output, settings)
            reason += "; counts, estimate and model file on disk: the budget holds for the whole run"
        else:
            model, scan = train_streaming(source, **settings)
            reason += "; the budget bounds reading and counting (this estimator needs the final counts in memory)"
        summary = TrainingSummary(chosen, budget, reason, scan.source, scan.names, scan.symbols, scan.blank_lines,
                                  scheduler=scheduler, ngrams_per_order=ngrams or model.n_ngrams(), choice=choice)
    if model is not None and output is not None:
        save(model, output)
    summary.seconds = time.perf_counter() - started
    return model, summary


def _train_streaming_to_file(source, output, settings: dict) -> tuple[Scan, list[int]]:
    """The streaming engine with counts and estimate on disk (``ngram.training.external``)."""
    budget = Budget.of(settings["memory_bytes"])
    text = {key: settings[key] for key in ("lowercase", "encoding", "max_name_length", "weighted")}
    scan = scan_corpus(source, budget.block_bytes, tmpdir=settings["tmpdir"], progress=settings["progress"],
                       line_budget=budget.longest_line(settings["order"]), **text)
    try:
        vocabulary = Vocabulary(scan.characters, unk=settings["unk"])
        check_order(settings["order"], vocabulary.size)
        ngrams = train_to_file(scan.copy or source, output, settings["order"], settings["estimator"], vocabulary, scan,
                               budget, settings["tmpdir"], settings["progress"], **text)
    finally:
        if scan.copy is not None:
            scan.copy.unlink(missing_ok=True)
    return scan, ngrams
