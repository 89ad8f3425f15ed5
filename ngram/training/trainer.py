"""Training in one call: names -> vocabulary -> encoded array -> counts -> estimator -> model.

``train`` fits names held in memory; ``train_file`` trains on a file with the engine it chooses
(in memory, streaming within a memory budget, or a Dask cluster) and says which and why. Both
share the command line's defaults (``ngram.core.defaults``) and decisions (``ngram.training.policy``):
with no order and no estimator the model is the one ``ngram tune`` would choose on the names.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from ngram.core.budget import Budget
from ngram.core.corpus import DEFAULT_MAX_NAME_LENGTH, Corpus, read_names
from ngram.core.counting import check_order, count_ngrams
from ngram.core.defaults import AUTO, AUTO_MAX_ORDER, DEFAULT_ENGINE, DEFAULT_ORDER
from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary, code_points
from ngram.estimators import Estimator
from ngram.formats.native import save
from ngram.lm.provenance import CorpusInfo, finish, fingerprint_of_code_points
from ngram.lm.backoff.model import Model
from ngram.lm.backoff.pruning import prune_model
from ngram.lm.protocol import LanguageModel
from ngram.training.dask_engine import train_dask
from ngram.training.external import supports, train_to_file
from ngram.training.policy import auto_blocker, choose_engine, choose_estimator, closed_form_instead
from ngram.training.streaming import Scan, scan_corpus, train_streaming


def corpus_fingerprint(names: Sequence[str]) -> str:
    """sha256 of the names, each followed by a newline (one update: a loop per name is slow)."""
    return fingerprint_of_code_points(code_points(names), len(names))


def train(
    names: Sequence[str] | Corpus,
    order: int | None = None,
    estimator: Estimator | str | None = None,
    unk: bool = False,
    weights: Sequence[float] | None = None,
    source: str = "<names>",
    vocabulary: Vocabulary | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    prune: Sequence[int] | None = None,
    prune_entropy: float | None = None,
) -> LanguageModel:
    """Fit a model on ``names``, with ``ngram train``'s defaults.

    Neither ``order`` nor ``estimator``: the model ``ngram tune`` would choose on these names
    (``estimator="auto"``: orders 2 to ``order`` or 10, discounts and left-to-right / right-to-left
    mixtures by 5-fold cross-validation), or closed-form modified KN order 6 where it cannot tune
    (``ngram.training.policy.auto_blocker``: too few or too many names, weights, pruning, a given
    vocabulary). An ``order`` alone: closed-form modified KN at that order. An ``Estimator`` (or
    its name): that estimator, e.g. ``train(names, 4, AddK(0.1))``, the blog's model.

    ``prune`` (count thresholds per order, as lmplz's --prune) and ``prune_entropy`` (Stolcke's
    relative-entropy threshold) shrink the model; see ``ngram.lm.backoff.pruning``.

    ``unk`` adds an ``<unk>`` class that unknown characters map to at evaluation time.
    ``weights`` gives one count per name (weighted corpora).
    ``names`` may be a ``Corpus`` (``read_names``): its text is then read without making a
    Python string per name.
    """
    return fit_names(names, order, estimator, unk, weights, source, vocabulary, progress, prune, prune_entropy)[0]


def fit_names(names: Sequence[str] | Corpus, order: int | None = None, estimator: Estimator | str | None = None,
              unk: bool = False, weights: Sequence[float] | None = None, source: str = "<names>",
              vocabulary: Vocabulary | None = None, progress: Callable[[Iterable], Iterable] | None = None,
              prune: Sequence[int] | None = None, prune_entropy: float | None = None,
              backoff_only: bool = False) -> tuple[LanguageModel, list[str]]:
    """``train``, also returning what was chosen and why (one sentence each; empty when the
    estimator was named). ``backoff_only``: the caller needs one back-off table."""
    estimator, choice = choose_estimator(order, estimator), []
    if estimator == AUTO:
        pruned = prune is not None or prune_entropy is not None
        blocker = ("a vocabulary was given (tuning makes its own)" if vocabulary is not None else
                   auto_blocker("memory", len(names), weights is not None, pruned, backoff_only, order))
        if blocker is None:
            return train_auto(names, range(2, (AUTO_MAX_ORDER if order is None else order) + 1), unk, progress, source)
        estimator, order, why = closed_form_instead(order, blocker)
        choice.append(why)
    model = _fit_counts(names, DEFAULT_ORDER if order is None else order, estimator, unk, weights, source, vocabulary,
                        progress, prune, prune_entropy)
    return model, choice


def _fit_counts(names, order: int, estimator: Estimator, unk: bool, weights, source: str, vocabulary, progress, prune,
                prune_entropy) -> Model:
    """Count, estimate, prune and record the corpus: one back-off model."""
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


def train_auto(names: Sequence[str] | Corpus, orders: Sequence[int], unk: bool = False,
               progress: Callable[[Iterable], Iterable] | None = None, source: str = "<names>") -> tuple[LanguageModel, list[str]]:
    """The model ``ngram tune`` would choose on these names alone: order, discounts and mixtures
    (left to right, right to left, both) picked by 5-fold cross-validation, refitted on all names.
    Returns the model and the reasons, one sentence each."""
    from ngram.tuning import tune

    if isinstance(names, Corpus):
        names, source = names.names, names.source
    result = tune(names, orders=orders, unk=unk, progress=progress, source=source)
    return result.model, [f"Held-out evidence: {result.heldout}."] + result.reasons


# ----- one entry point for every engine -------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """How a corpus file is read."""

    lowercase: bool = False
    encoding: str = "utf-8"
    max_name_length: int = DEFAULT_MAX_NAME_LENGTH
    weighted: bool = False  # lines are name<TAB>count

    def as_kwargs(self) -> dict:
        return {"lowercase": self.lowercase, "encoding": self.encoding, "max_name_length": self.max_name_length,
                "weighted": self.weighted}


@dataclass(frozen=True)
class Resources:
    """What a run may use: the engine (``ngram.core.defaults.ENGINES``), a memory budget in bytes
    (None: chosen from the machine), the folder for spilled counts, and a Dask cluster
    (``client`` or ``scheduler``; ``workers_read``: its workers read their own byte ranges of the
    file, see ``dask_engine.train_dask``). ``machine``: (total, available) bytes, for tests."""

    engine: str = DEFAULT_ENGINE
    memory: int | Budget | None = None
    tmpdir: str | os.PathLike | None = None
    scheduler: str | None = None
    client: object = None
    workers_read: bool | None = None
    machine: tuple[int, int] | None = None


@dataclass(frozen=True)
class Progress:
    """Progress bars: ``reading`` a tqdm-like factory ``reading(total=, desc=)`` for the streaming
    and Dask engines' passes over the file; ``counting`` wraps the in-memory engine's loop over
    orders (and tuning's stages)."""

    reading: Callable | None = None
    counting: Callable[[Iterable], Iterable] | None = None
    saving: Callable | None = None  # ``start(total) -> advance(steps)``: the model file's completion bounds


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


def train_file(source, order: int | None = None, estimator: Estimator | str | None = None, *, unk: bool = False,
               prune: Sequence[int] | None = None, prune_entropy: float | None = None, reading: Reading = Reading(),
               resources: Resources = Resources(), progress: Progress = Progress(), output: str | os.PathLike | None = None,
               backoff_only: bool = False) -> tuple[LanguageModel | None, TrainingSummary]:
    """Train on a corpus file (``"-"`` = standard input) with the engine ``choose_engine`` picks.

    Every engine gives the same model to the last bit. Returns the model (corpus recorded by
    ``finish``) and a ``TrainingSummary`` saying which engine and budget were used and why.

    ``output``: also write the model file there. With the streaming engine and an estimator of the
    discounting family (absolute, Kneser-Ney, modified Kneser-Ney; interpolated, no pruning) the
    whole run then stays within the budget: counts stay on disk, the estimator reads them order
    by order and the file is written as the model is made (``ngram.training.external``), and the model is
    not returned (None; load the file to use it). Otherwise the final counts and the model must
    fit in memory besides the budget, and the summary says so.

    ``order`` and ``estimator`` default as ``train``'s (``choose_estimator``): the model
    ``train_auto`` tunes on the corpus, unless ``auto_blocker`` gives a reason to fall back to
    closed-form modified KN (the corpus streamed, weighted, pruned, or ``backoff_only``: the caller
    needs one back-off table, e.g. for the compact form). The summary's ``choice`` says what was
    chosen and why.
    """
    started = time.perf_counter()
    engine = "dask" if resources.client is not None and resources.engine == DEFAULT_ENGINE else resources.engine
    chosen, budget, reason = choose_engine(source, engine, resources.memory, resources.scheduler, resources.machine)
    estimator, choice = choose_estimator(order, estimator), []
    if estimator == AUTO and chosen != "memory":
        pruned = prune is not None or prune_entropy is not None
        estimator, order, why = closed_form_instead(order, auto_blocker(chosen, None, reading.weighted, pruned, backoff_only, order))
        choice.append(why)
    if chosen == "memory":
        data = read_names(source, **reading.as_kwargs())
        model, choice = fit_names(data, order, estimator, unk, data.weights, data.source, None, progress.counting, prune,
                                  prune_entropy, backoff_only)
        summary = TrainingSummary("memory", None, reason, data.source, len(data), int(model.corpus["symbols"]),
                                  data.blank_lines, corpus=data, ngrams_per_order=model.n_ngrams(), choice=choice)
    else:
        settings = dict(order=DEFAULT_ORDER if order is None else order, estimator=estimator, unk=unk,
                        memory_bytes=resources.memory if isinstance(resources.memory, Budget) else budget,
                        progress=progress.reading, prune=prune, prune_entropy=prune_entropy, tmpdir=resources.tmpdir,
                        **reading.as_kwargs())
        model, scan, ngrams, reason = _train_out_of_memory(source, chosen, settings, resources, output, reason)
        summary = TrainingSummary(chosen, budget, reason, scan.source, scan.names, scan.symbols, scan.blank_lines,
                                  scheduler=resources.scheduler, ngrams_per_order=ngrams or model.n_ngrams(), choice=choice)
    if model is not None and output is not None:
        save(model, output, progress=progress.saving)
    summary.seconds = time.perf_counter() - started
    return model, summary


def _train_out_of_memory(source, chosen: str, settings: dict, resources: Resources, output,
                         reason: str) -> tuple[Model | None, Scan, list[int] | None, str]:
    """The streaming or Dask engine: (model or None when written straight to ``output``, the
    scan, n-grams per order when the model is not held, the engine's reason completed)."""
    if chosen == "dask":
        model, scan = train_dask(source, scheduler=resources.scheduler, client=resources.client,
                                 workers_read=resources.workers_read, **settings)
        return model, scan, None, reason
    if output is not None and supports(settings["estimator"], settings["prune"], settings["prune_entropy"], settings["weighted"]):
        scan, ngrams = _train_streaming_to_file(source, output, settings)
        return None, scan, ngrams, reason + "; counts, estimate and model file on disk: the budget holds for the whole run"
    model, scan = train_streaming(source, **settings)
    return model, scan, None, reason + "; the budget bounds reading and counting (this estimator needs the final counts in memory)"


def _train_streaming_to_file(source, output, settings: dict) -> tuple[Scan, list[int]]:
    """The streaming engine with counts and estimate on disk (``ngram.training.external``)."""
    budget = Budget.of(settings["memory_bytes"])
    text = {key: settings[key] for key in ("lowercase", "encoding", "max_name_length", "weighted")}
    scan = scan_corpus(source, budget.block_bytes, tmpdir=settings["tmpdir"], progress=settings["progress"],
                       line_budget=budget.line_budget(settings["order"], settings["encoding"]), **text)
    try:
        vocabulary = Vocabulary(scan.characters, unk=settings["unk"])
        check_order(settings["order"], vocabulary.size)
        ngrams = train_to_file(scan.copy or source, output, settings["order"], settings["estimator"], vocabulary, scan,
                               budget, settings["tmpdir"], settings["progress"], **text)
    finally:
        if scan.copy is not None:
            scan.copy.unlink(missing_ok=True)
    return scan, ngrams
