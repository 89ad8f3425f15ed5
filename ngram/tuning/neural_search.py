"""``tune --neural``: the counts ``tune`` chooses, a GRU, and their mixtures, judged on held-out names.

Held-out names: the validation file, or else a seeded 10% of the names given (``val_fraction``).
Everything that is mixed is trained on the other names only, so the held-out names can judge
and weigh the mixtures:

1. ``tune`` chooses the count model as it always does (``ngram.tuning.pipeline``); its
   left-to-right part (the chosen model, or the left-to-right order mixture of a whole-name
   mixture) and right-to-left order mixture are refitted on the training part;
2. a GRU is trained on the training part, stopping early on the held-out names
   (``ngram.lm.neural.fit``);
3. candidates: the counts alone, the GRU alone, the per-symbol linear and the log-linear
   (renormalised) mixtures of the GRU and the left-to-right counts, and each of those two in a
   whole-name mixture with the right-to-left counts. Weights are fitted on the held-out names and
   judged cross-fitted (fitted on one half of the held-out names, scored on the other, both ways),
   so a mixture wins only by what generalises.

The counts win unless a neural candidate is better by at least ``MIN_GAIN`` nats/symbol and by two
standard errors of the gain (over held-out names); otherwise the
saved model is exactly what ``tune`` saves (refitted on every name given), so ``tune --neural`` is
never worse on held-out names than ``tune``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from ngram.lm.provenance import CorpusInfo
from ngram.lm.mixtures.linear import em_weights
from ngram.lm.mixtures.loglinear import LinearSymbolMixture, LogLinearMixture, fit_loglinear
from ngram.lm.mixtures.wholename import SequentialNameMixture
from ngram.lm.neural.fit import NeuralSettings, TrainingLog, train_neural
from ngram.tuning.mixture_search import build_order_mixture
from ngram.tuning.pipeline import UNIT, build, tune
from ngram.tuning.splits import make_splits

MIN_GAIN = 0.002  # nats/symbol a neural candidate must gain over the counts (cross-fitted) ...
STANDARD_ERRORS = 2.0  # ... and this many standard errors of that gain
HALVES_SEED = 12345  # the two halves of the held-out names for cross-fitting weights


@dataclass
class NeuralTuningResult:
    """The candidates (plain rows), the chosen model and why, and the count tuning behind it."""

    candidates: list[dict]
    best: dict
    model: object
    count_result: object  # the ``TuningResult`` of the count search
    heldout: str
    training: TrainingLog | None
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unit: str = UNIT


def _nll(per_name: np.ndarray, symbols: np.ndarray) -> float:
    return float(-per_name.sum() / symbols.sum())


def _halves(n: int) -> np.ndarray:
    return np.random.default_rng(HALVES_SEED).permutation(n) % 2


def _count_parts(count_result, train: list[str], vocabulary: Vocabulary, source: str):
    """(left-to-right count model, right-to-left order mixture or None), refitted on ``train``."""
    rows = {(r["kind"], r["settings"].get("direction")): r for r in count_result.candidates}
    best = count_result.best
    if best["kind"] in ("single", "closed-form") or (best["kind"], best["settings"].get("direction")) == ("order-mixture", "l2r"):
        ltr = build(best, train, vocabulary, source=source)
    elif ("order-mixture", "l2r") in rows:
        ltr = build_order_mixture(rows[("order-mixture", "l2r")]["settings"], train, vocabulary, source)
    else:
        ltr = build(min((r for r in count_result.candidates if r["kind"] in ("single", "closed-form")),
                        key=lambda r: r["heldout_nll"]), train, vocabulary, source=source)
    rtl_row = rows.get(("order-mixture", "r2l"))
    rtl = build_order_mixture(rtl_row["settings"], train, vocabulary, source) if rtl_row else None
    return ltr, rtl


class _Judge:
    """Held-out evidence for every candidate: per-name ln p with weights fitted on all held-out
    names (for the saved model) and cross-fitted over two halves (for the choice)."""

    def __init__(self, encoded, half: np.ndarray):
        self.encoded, self.half = encoded, half
        self.symbols = encoded.symbols_per_name()
        self.name_of = np.repeat(np.arange(encoded.n_names), self.symbols)

    def per_symbol(self, fit: Callable, score: Callable) -> tuple[object, np.ndarray]:
        """``fit(mask over targets) -> weights``, ``score(weights) -> ln p per target``: (weights
        on all, cross-fitted ln p per held-out name)."""
        target_half = self.half[self.name_of]
        held = np.empty(len(self.name_of))
        for h in (0, 1):
            weights = fit(target_half != h)
            held[target_half == h] = score(weights)[target_half == h]
        return fit(np.ones(len(self.name_of), bool)), np.bincount(self.name_of, weights=held, minlength=len(self.symbols))

    def per_name(self, logp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole-name weights of (names, K) ln p: (weights on all, cross-fitted ln p per name)."""
        held = np.empty(len(logp))
        for h in (0, 1):
            w = em_weights(logp[self.half != h], symbols=int(self.symbols[self.half != h].sum()), tolerance=1e-9).weights
            with np.errstate(divide="ignore"):
                held[self.half == h] = _lse(logp[self.half == h] + np.log(w))
        w = em_weights(logp, symbols=int(self.symbols.sum()), tolerance=1e-9).weights
        return w, held


def _lse(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def tune_neural(names: Sequence[str], val_names: Sequence[str] | None = None, val_fraction: float | None = None,
                seed: int = 0, settings: NeuralSettings | None = None, count_options: dict | None = None,
                progress: Callable[[str], None] | None = None, epoch_progress: Callable[[int], object] | None = None,
                source: str = "<names>", network=None) -> NeuralTuningResult:
    """Choose between the tuned counts and their mixtures with a GRU (see the module docstring).

    ``count_options``: passed to ``tune`` (orders, smoothings, mixtures, fast). ``progress(stage)``
    is told each stage; ``epoch_progress`` makes the per-epoch bar (``train_neural``). ``network``: a
    GRU already trained on the same training part (an earlier run's), mixed instead of training one."""
    started = time.perf_counter()
    say = progress or (lambda stage: None)
    names = list(names)
    if not names:
        raise NgramError("no training names to tune on")
    settings = settings or NeuralSettings(seed=seed)
    settings.check()
    if val_names is not None:
        if val_fraction is not None:
            raise NgramError("choose one kind of held-out data: a validation file or a held-out fraction")
        split, heldout_text = make_splits(names, val_names=val_names)
    else:
        split, heldout_text = make_splits(names, val_fraction=val_fraction if val_fraction is not None else 0.1, seed=seed)
    train, held = split[0].train, split[0].heldout
    everything = names + list(val_names or [])
    vocabulary = Vocabulary.from_names(everything)

    if network is not None:  # checked before any long work
        if network.kind != "neural" or network.vocabulary != vocabulary:
            raise NgramError("--network must be a neural model over the same characters as these names")
        if network.corpus.get("sha256") != CorpusInfo.of_names(train).sha256:
            raise NgramError(f"--network was not trained on the {len(train)} training names here (its corpus fingerprint "
                             "differs); weights fitted on held-out names it may have seen would be optimistic")

    say("choosing the count model (ngram tune)")
    options = dict(count_options or {})
    count_result = tune(names, val_names=val_names, val_fraction=val_fraction if val_names is None else None,
                        seed=seed, source=source, **options)
    counts_saved = count_result.model
    say("refitting the count models on the training part")
    count_alone = build(count_result.best, train, vocabulary, source=source)
    ltr, rtl = _count_parts(count_result, train, vocabulary, source)

    if network is not None:
        net, log = network, None
    else:
        say("training the GRU")
        net, log = train_neural(train, held, vocabulary=vocabulary, settings=settings, progress=epoch_progress,
                                source=source)

    say("weighing the mixtures on the held-out names")
    encoded = vocabulary.encode(held)
    judge = _Judge(encoded, _halves(encoded.n_names))
    targets = encoded.ids[1:]
    rows = np.stack([net.row_logprobs(encoded), ltr.row_logprobs(encoded)])
    picked = rows[:, np.arange(len(targets)), targets].T  # (targets, 2)
    symbols = judge.symbols
    candidates: list[dict] = []
    built: dict = {}  # kind -> the candidate model, weights fitted on every held-out name
    cross_fitted: dict = {}  # kind -> ln p per held-out name, weights fitted on the other half

    def row(kind: str, model, held: np.ndarray | None, description: str) -> dict:
        per_name = model.name_logprobs(encoded)
        held = per_name if held is None else held  # nothing fitted on the held-out names
        r = {"kind": kind, "heldout_nll": _nll(per_name, symbols), "cv_nll": _nll(held, symbols),
             "description": description, "best": False}
        candidates.append(r)
        built[kind], cross_fitted[kind] = model, held
        return r | {"model": model, "per_name": per_name}

    counts_row = row("counts", count_alone, None,
                     f"ngram tune's choice: {count_result.best['description'] or count_result.best['estimator']}")
    row("gru", net, None, net.describe())

    w, cv = judge.per_symbol(lambda mask: em_weights(picked[mask], tolerance=1e-9).weights,
                             lambda w: _lse(picked + np.log(np.maximum(w, 1e-300))))
    linear = row("symbol-linear", LinearSymbolMixture([net, ltr], w), cv,
                 f"per-symbol linear {w[0]:.3f} x GRU + {w[1]:.3f} x left-to-right counts")
    a, cv = judge.per_symbol(lambda mask: fit_loglinear(rows[:, mask], targets[mask])[0],
                             lambda a: LogLinearMixture([net, ltr], a).combine(rows)[np.arange(len(targets)), targets])
    loglinear = row("loglinear", LogLinearMixture([net, ltr], a), cv,
                    f"log-linear GRU^{a[0]:.3f} x left-to-right counts^{a[1]:.3f}, renormalised")
    if rtl is not None:
        backwards = rtl.name_logprobs(_reversed(encoded, vocabulary, held))
        for inner in (linear, loglinear):
            w, cv = judge.per_name(np.stack([inner["per_name"], backwards], axis=1))
            row(f"{inner['kind']}+r2l", SequentialNameMixture([inner["model"], rtl], [False, True], w), cv,
                f"whole-name {w[0]:.3f} x ({inner['description']}) + {w[1]:.3f} x right-to-left counts")

    best = min((r for r in candidates if r["kind"] != "counts"), key=lambda r: r["cv_nll"])
    reasons = [f"Held-out names: {heldout_text}; every mixed model was trained on the other {len(train)} names."]
    if log is not None:
        reasons.append(f"GRU: {log.best_nll:.4f} {UNIT} on the held-out names at epoch {log.best_epoch} of "
                       f"{len(log.heldout_nll)} ({log.stopped}; {log.seconds:.0f} s).")
    # The gain over the counts, per held-out name, and its standard error: a gain within the noise
    # of a short held-out list is no evidence.
    gains = cross_fitted[best["kind"]] - cross_fitted["counts"]
    gain = float(gains.sum() / symbols.sum())
    error = float(np.sqrt(len(gains)) * gains.std(ddof=1) / symbols.sum()) if len(gains) > 1 else float("inf")
    reasons.append(f"Best neural candidate ({best['kind']}): {gain:+.4f} ± {error:.4f} {UNIT} against the counts "
                   "(cross-fitted gain ± its standard error over held-out names).")
    if gain < MIN_GAIN or gain < STANDARD_ERRORS * error:
        best = candidates[0]  # the counts
        model = counts_saved
        reasons.append(f"Kept the counts: no neural candidate beat {counts_row['cv_nll']:.4f} {UNIT} by {MIN_GAIN} and "
                       "by two standard errors (cross-fitted); the saved model is ngram tune's, refitted on every name given.")
    else:
        model = built[best["kind"]]
        model.estimator = {"name": "neural-mixture", "kind": best["kind"], "description": best["description"]}
        reasons.append(f"Chose {best['description']}: {best['cv_nll']:.4f} {UNIT} cross-fitted against "
                       f"{counts_row['cv_nll']:.4f} for the counts alone.")
    best["best"] = True
    return NeuralTuningResult(candidates=candidates, best=best, model=model, count_result=count_result,
                              heldout=heldout_text, training=log, reasons=reasons,
                              seconds=time.perf_counter() - started)


def _reversed(encoded, vocabulary: Vocabulary, names: Sequence[str]):
    return vocabulary.encode([n[::-1] for n in names])

