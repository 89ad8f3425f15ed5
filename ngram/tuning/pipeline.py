"""``tune``: choose order, estimator, settings and mixtures by held-out NLL, then refit on every name given.

Held-out evidence. The names given are the training names plus the ``val_names`` (a validation
file). By default the choice is made by K-fold cross-validation over all of them: every name is
held out once, so a validation file of a few dozen names no longer decides continuous settings on
its own (the issue that made tuned discounts lose to closed-form ones on small lists). A
validation file is used as the only held-out data when it is at least as large as one fold;
``folds`` and ``val_fraction`` set the held-out data explicitly.

Stages (each named on the progress bar): counting the folds; searching each estimator family at
each order (L-BFGS-B on the exact held-out NLL, see ``search``); cross-fitting the best tuned
single model (settings searched on the other folds only) against closed-form modified KN, the
KenLM model, which has nothing to fit; the order mixtures of each direction and the whole-name
mixture of the two (weights cross-fitted); the refit of the winner on every name given.

The winner has the lowest *cross-fitted* held-out NLL, so a candidate with more settings wins
only where those settings generalise to names they were not fitted on. ``TuningResult.summary``
says what was chosen, why, and that the model was refitted on all the names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from threadpoolctl import threadpool_limits

from ngram.core.counting import Counts, check_order, count_ngrams, max_order_for
from ngram.lm.provenance import CorpusInfo, finish
from ngram.core.errors import NgramError
from ..estimators import make_estimator
from ngram.core.vocabulary import Vocabulary
from .families import FAMILIES
from ngram.lm.mixtures import name_rows
from ngram.tuning.mixture_search import build_mixture, name_mixture, order_mixture
from .search import Fit, candidate_row, cross_fitted_nll, fit_family
from .splits import Split, make_splits
from .statistics import concat_folds, fold_stats, position_groups

UNIT = "nats/symbol"
TUNABLE = ("add-k", "witten-bell", "absolute", "kneser-ney", "modified-kneser-ney", "jelinek-mercer",
           "modified-kneser-ney+strength", "modified-kneser-ney-4", "modified-kneser-ney-5")
# Searched unless ``smoothings`` says otherwise: on every list we measured the others never came
# within 0.01 nats/symbol of tuned modified KN, and they cost most of the search time.
DEFAULT_ESTIMATORS = ("modified-kneser-ney",)
# Held-out symbols beyond which more folds add time, not reliability (the English split's
# 31,032 names give ~44,000 per fold): further folds are left out.
MAX_HELDOUT_SYMBOLS = 60_000
DEFAULT_ORDERS = tuple(range(2, 11))
MIXTURE_ORDERS = tuple(range(3, 11))
DEFAULT_FOLDS = 5
CLOSED_FORM = "closed-form"  # the kind of the closed-form modified-KN rows (KenLM's model)


@dataclass
class TuningResult:
    """Every candidate tried (plain data, for tables and plots), the chosen one and why."""

    candidates: list[dict]  # kind, estimator, order, settings, train_nll, heldout_nll, cv_nll, best
    best: dict
    heldout: str  # what the held-out NLL was measured on
    unit: str = UNIT
    model: object = None  # the best candidate refitted on every name given
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)  # what was chosen and why, one sentence each
    refit_names: int = 0  # how many names the saved model was refitted on
    stage_seconds: dict = field(default_factory=dict)

    def summary(self) -> str:
        return " ".join(self.reasons)


def _train_nll(model, names: Sequence[str]) -> float:
    totals, symbols = model.score(names)
    return float(-totals.sum() / symbols.sum())


def choose_heldout(names: list[str], val_names: Sequence[str] | None, val_fraction: float | None, folds: int | None,
                   seed: int, fast: bool) -> tuple[list[str], list[Split], str]:
    """All names given, the held-out splits over them, and a description of that choice."""
    if val_names is not None and not val_names:
        raise NgramError("the validation file holds no names")
    everything = names + list(val_names or [])
    if folds is not None or val_fraction is not None:
        if val_names is not None:
            raise NgramError("choose one kind of held-out data: a validation file, a held-out fraction, or folds")
        splits, text = make_splits(everything, val_fraction=val_fraction, folds=folds, seed=seed)
        return everything, splits, text
    k = DEFAULT_FOLDS if len(everything) >= 2 * DEFAULT_FOLDS else None
    if val_names is not None and (fast or k is None or len(val_names) >= len(everything) / k):
        splits, text = make_splits(names, val_names=val_names)
        return everything, splits, text
    if fast or k is None:
        splits, text = make_splits(everything, val_fraction=0.1, seed=seed)
        return everything, splits, text
    splits, text = make_splits(everything, folds=k, seed=seed)
    # Large lists: the first folds already hold plenty of held-out symbols.
    per_fold = sum(len(n) + 1 for n in splits[0].heldout)
    used = max(1, min(k, -(-MAX_HELDOUT_SYMBOLS // max(per_fold, 1))))
    if used < k:
        splits = splits[:used]
        text = (f"{used} of {k} cross-validation folds over all {len(everything)} names given "
                f"({sum(len(s.heldout) for s in splits)} held-out names, seed {seed})")
    if val_names is not None:
        text = (f"{k}-fold cross-validation over all {len(everything)} names (training + validation, seed {seed}): "
                f"more held-out names than the {len(val_names)} of the validation file alone")
    return everything, splits, text


def tune(
    names: Sequence[str],
    val_names: Sequence[str] | None = None,
    val_fraction: float | None = None,
    folds: int | None = None,
    seed: int = 0,
    orders: Iterable[int] = DEFAULT_ORDERS,
    smoothings: Sequence[str] | None = None,
    mixtures: bool | None = None,
    mixture_orders: Iterable[int] | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    refit: bool = True,
    source: str = "<names>",
    fast: bool = False,
    train_nlls: bool = False,
    unk: bool = False,
) -> TuningResult:
    """Choose the model with the lowest cross-fitted held-out NLL and refit it on every name given.

    Held-out data (see the module docstring): by default K-fold cross-validation over ``names`` +
    ``val_names``; ``folds`` or ``val_fraction`` choose it explicitly. ``mixtures``: None (default)
    tries the order mixtures and the two-direction whole-name mixture and keeps one only if the
    cross-fitted NLL says so; False skips them. ``mixture_orders``: their components' orders
    (default: the searched orders from 3 up). ``fast``: one 10% held-out slice (or the
    validation file), modified KN only, no mixtures. ``progress`` wraps the list of stages (the
    CLI passes a tqdm bar; a bar with ``set_description`` is told each stage's name).
    ``train_nlls``: also refit every single-model row on all names and record its training NLL
    (for the plot of NLL against order; the chosen model's is always recorded). ``unk``: the
    vocabulary gets an ``<unk>`` class for characters the names never show.
    """
    started = time.perf_counter()
    names = list(names)
    if not names:
        raise NgramError("no training names to tune on")
    smoothings = _tunable(smoothings)
    try_mixtures = (not fast) if mixtures is None else bool(mixtures)
    everything, splits, heldout = choose_heldout(names, val_names, val_fraction, folds, seed, fast)
    # One vocabulary for every fold and the refit: all characters of the names given.
    vocabulary = Vocabulary.from_names(everything, unk=unk)
    orders, mixture_orders, skipped, limit = _searched_orders(orders, mixture_orders, vocabulary)
    max_order = max(orders + (mixture_orders if try_mixtures else []))
    check_order(max_order, vocabulary.size)
    steps = _stages(smoothings, try_mixtures, refit)
    state: dict = {"heldout": heldout, "train_nlls": train_nlls, "smoothings": smoothings, "skipped": skipped,
                   "limit": limit}
    stage_seconds = _run_stages(progress(steps) if progress else steps, state, splits=splits, vocabulary=vocabulary,
                                max_order=max_order, orders=orders, mixture_orders=mixture_orders, seed=seed,
                                everything=everything, source=source)
    result = state["result"] if refit else _choose(state)
    result.stage_seconds = stage_seconds
    result.seconds = time.perf_counter() - started
    return result


def _tunable(smoothings: Sequence[str] | None) -> list[str]:
    """The smoothing families to search (the default ones when None), each checked."""
    smoothings = list(smoothings or DEFAULT_ESTIMATORS)
    for s in smoothings:
        if s not in TUNABLE:
            raise NgramError(f"cannot tune smoothing {s!r}; choose from {', '.join(TUNABLE)}")
    return smoothings


def _searched_orders(orders: Iterable[int], mixture_orders: Iterable[int] | None,
                     vocabulary: Vocabulary) -> tuple[list[int], list[int], list[int], int]:
    """(single-model orders, mixture component orders, orders skipped, the highest order allowed)."""
    orders = sorted(set(int(o) for o in orders))
    # Orders stop where packed keys would overflow (large alphabets: 2,311 CJK characters allow 5).
    limit = max_order_for(vocabulary.size)
    skipped = [o for o in orders if o > limit]
    orders = [o for o in orders if o <= limit] or orders  # none left: check_order says why
    if mixture_orders is None:  # the searched orders from 3 up (orders 2-10: the mixture of 3-10)
        mixture_orders = [o for o in orders if o >= min(MIXTURE_ORDERS)] or orders
    mixture_orders = sorted(set(int(o) for o in mixture_orders))
    mixture_orders = [o for o in mixture_orders if o <= limit] or mixture_orders
    return orders, mixture_orders, skipped, limit


def _stages(smoothings: list[str], try_mixtures: bool, refit: bool) -> list[tuple[str, str, str | None]]:
    """The stages of a tuning run: (label for the progress bar, step, its argument)."""
    steps = [("counting the held-out folds", "count", None)]
    steps += [(f"searching {s} settings", "fit", s) for s in smoothings]
    steps += [("cross-fitting the best settings against closed-form modified KN", "check", None)]
    if try_mixtures:
        steps += [("order mixture, left to right", "mixture", "l2r"), ("order mixture, right to left", "mixture", "r2l"),
                  ("whole-name mixture of both directions", "name-mixture", None)]
    if refit:
        steps += [("refitting the choice on every name given", "refit", None)]
    return steps


def _run_stages(bar, state: dict, **settings) -> dict:
    """Run each stage (``bar``: the stages, maybe wrapped in a progress bar) and return the
    seconds each took, by label."""
    stage_seconds: dict = {}
    # One BLAS thread: the searches make thousands of tiny BLAS calls (inside L-BFGS-B), and BLAS
    # threads waiting on each other made them 3-4 times slower on a busy 2-core machine. scipy
    # brings its own BLAS, so it is loaded first for the limit to reach it.
    import scipy.optimize  # noqa: F401

    with threadpool_limits(limits=1, user_api="blas"):
        for label, step, arg in bar:
            if hasattr(bar, "set_description"):
                bar.set_description(label)
            t0 = time.perf_counter()
            _run_stage(step, arg, state, **settings)
            stage_seconds[label] = time.perf_counter() - t0
    return stage_seconds


def _run_stage(step: str, arg, state: dict, *, splits, vocabulary, max_order, orders, mixture_orders, seed, everything,
               source):
    if step == "count":
        stats, counts = [], None
        buckets = max([3] + [FAMILIES[s].buckets for s in state["smoothings"] if s in FAMILIES])
        for split in splits:
            counts = count_ngrams(vocabulary.encode(split.train), max_order, vocabulary.size)
            stats.append(fold_stats(split.train, split.heldout, vocabulary, max_order, counts, buckets=buckets))
            state.setdefault("fold_counts", counts)
        state.update(stats=stats, pooled=concat_folds(stats), fits=[], closed=[])
        state["deep"] = state["pooled"].by_depth()
    elif step == "fit":
        previous = None
        for order in orders:
            # Each order's search starts from the order below's result (closed-form for the new
            # top order): the lower orders' best discounts move little, so it converges sooner.
            fit = fit_family(arg, order, [state["deep"]], state["fold_counts"], start=previous)
            previous = fit
            state["fits"].append(fit)
            if arg == "modified-kneser-ney":
                # Closed-form discounts (counts-of-counts, as KenLM's lmplz): the search's start.
                state["closed"].append(Fit(arg, order, {}, fit.start_nll, 0, fit.start_nll))
    elif step == "check":
        _check_settings(state, seed)
    elif step == "mixture":
        state.setdefault("mixtures", {})[arg] = order_mixture(
            arg, splits, vocabulary, state["stats"] if arg == "l2r" else None, state["fits"], mixture_orders,
            tuned=state["tuned_wins"], seed=seed)
    elif step == "name-mixture":
        m = state["mixtures"]
        state["name_mixture"] = name_mixture(m["l2r"], m["r2l"], state["pooled"].symbols)
    elif step == "refit":
        result = _choose(state)
        model = build(result.best, everything, vocabulary, source=source)
        too_large = name_rows.reversed_too_large(model)
        if too_large:
            # Its answers after a prefix (probs, --explain, report, heatmap) would need forward
            # masses it cannot have: the best model that reads left to right only serves every verb.
            result = _choose(state, left_to_right=True)
            result.reasons.insert(-1, f"The {'whole-name mixture' if len(model.components) > 1 else 'right-to-left model'} "
                                      f"was set aside: {too_large}.")
            model = build(result.best, everything, vocabulary, source=source)
        state["result"] = result
        result.model = model
        result.refit_names = len(everything)
        result.best["train_nll"] = _train_nll(result.model, everything)
        result.reasons.append(f"The saved model was refitted on all {len(everything)} names given.")
        if state["train_nlls"]:
            counts = count_ngrams(vocabulary.encode(everything), max(orders), vocabulary.size)
            for row in result.candidates:
                if row["kind"] in ("single", CLOSED_FORM) and row is not result.best:
                    row["train_nll"] = _train_nll(build(row, everything, vocabulary, counts=counts), everything)


def _check_settings(state: dict, seed: int) -> None:
    """Cross-fit the best tuned single model; closed-form modified KN has nothing to fit, so its
    held-out NLL is already honest. The winner decides whether mixture components are tuned."""
    pooled = state["pooled"]
    groups = position_groups(state["stats"], seed)
    fits = [f for f in state["fits"] if f.evaluations > 1]
    state["tuned_best"] = tuned = min(fits, key=lambda f: f.heldout_nll) if fits else None
    state["closed_best"] = closed = min(state["closed"], key=lambda f: f.heldout_nll) if state["closed"] else None
    if tuned is not None:
        state["tuned_cv"] = cross_fitted_nll(tuned, pooled, groups, state["fold_counts"])
    state["tuned_wins"] = closed is None or (tuned is not None and state["tuned_cv"] < closed.heldout_nll)


def _describe(fit: Fit) -> str:
    if fit.estimator == "add-k":
        return f"k = {fit.settings['k']:.4g}"
    return FAMILIES[fit.estimator].describe(fit.settings) if fit.settings else ""


def _choose(state: dict, left_to_right: bool = False) -> TuningResult:
    """Rows for every candidate; the best by cross-fitted NLL where one was measured (of those
    that read names left to right only, with ``left_to_right``)."""
    rows = []
    for fit in state["fits"]:
        row = candidate_row("single", fit.estimator, fit.order, fit.settings, fit.heldout_nll,
                            description=_describe(fit), start=fit.start_nll)
        if fit is state.get("tuned_best"):
            row["cv_nll"] = state["tuned_cv"]
        rows.append(row)
    for fit in state["closed"]:
        row = candidate_row(CLOSED_FORM, fit.estimator, fit.order, {}, fit.heldout_nll,
                            description="closed-form discounts from counts-of-counts (KenLM's lmplz)")
        row["cv_nll"] = fit.heldout_nll  # nothing fitted on the held-out names
        rows.append(row)
    for direction in ("l2r", "r2l"):
        if direction in state.get("mixtures", {}):
            rows.append(state["mixtures"][direction][0])
    if "name_mixture" in state:
        rows.append(state["name_mixture"])
    allowed = [r for r in rows if not (left_to_right and _reads_right_to_left(r))]
    judged = [r for r in allowed if r.get("cv_nll") is not None]
    if not judged:  # estimators without a closed form or a search (e.g. witten-bell alone)
        judged = allowed
    best = min(judged, key=lambda r: r.get("cv_nll", r["heldout_nll"]))
    for row in rows:  # (the mixtures' rows are kept between choices: one chosen, the last)
        row["best"] = False
    best["best"] = True
    result = TuningResult(candidates=rows, best=best, heldout=state["heldout"])
    result.reasons = _reasons(state, best)
    return result


def _reads_right_to_left(row: dict) -> bool:
    if row["kind"] == "order-mixture":
        return row["settings"]["direction"] == "r2l"
    return row["kind"] == "name-mixture"


def _reasons(state: dict, best: dict) -> list[str]:
    reasons = []
    if state.get("skipped"):
        reasons.append(f"Orders {', '.join(map(str, state['skipped']))} skipped: {state['limit']} is the highest whose "
                       "n-grams of this alphabet fit a 64-bit key.")
    tuned, closed = state.get("tuned_best"), state.get("closed_best")
    if tuned is not None and closed is not None:
        verdict = "kept" if state["tuned_wins"] else "dropped: closed-form generalises better"
        reasons.append(f"Tuned {tuned.estimator} order {tuned.order}: {state['tuned_cv']:.4f} nats/symbol with settings "
                       f"fitted on other held-out names, against {closed.heldout_nll:.4f} for closed-form modified KN "
                       f"order {closed.order}; tuned settings {verdict}.")
    for r in [state.get("mixtures", {}).get(d, (None,))[0] for d in ("l2r", "r2l")] + [state.get("name_mixture")]:
        if r is not None:
            what = "whole-name mixture" if r["kind"] == "name-mixture" else r["description"].split(":")[0] + " order mixture"
            reasons.append(f"{what.capitalize()}: {r['cv_nll']:.4f} (cross-fitted weights).")
    label = {"single": f"tuned {best['estimator']}", CLOSED_FORM: "closed-form modified KN", "order-mixture": "the order mixture",
             "name-mixture": "the whole-name mixture"}[best["kind"]]
    reasons.append(f"Chose {label} (order {best['order']}): the lowest cross-fitted held-out NLL, "
                   f"{best.get('cv_nll', best['heldout_nll']):.4f} nats/symbol.")
    return reasons


def build(candidate: dict, names: Sequence[str], vocabulary: Vocabulary, source: str = "<names>",
          counts: Counts | None = None):
    """Fit a candidate (a row of ``TuningResult.candidates``) on ``names``."""
    if candidate["kind"] not in ("single", CLOSED_FORM):
        return build_mixture(candidate, names, vocabulary, source=source)
    order = candidate["order"]
    family = FAMILIES.get(candidate["estimator"])
    estimator = make_estimator(getattr(family, "estimator", candidate["estimator"]), **candidate["settings"])
    if counts is None or counts.order < order:
        counts = count_ngrams(vocabulary.encode(names), order, vocabulary.size)
    sub = Counts(order, counts.vocab_size, counts.keys[:order], counts.counts[:order])
    model = estimator.fit(sub, vocabulary)
    model.estimator["tuned"] = candidate["kind"] == "single"
    return finish(model, CorpusInfo.of_names(names, source))
