"""More than three discounts per order (MITLM's Kneser-Ney with N discounts): is it worth it?

Modified KN with K = 3, 4, 5 discounts per order, each tuned the way ``ngram tune`` tunes modified
KN (L-BFGS-B on the exact held-out NLL over the same held-out data: 5-fold cross-validation, or
the folds ``tune`` picks for train + val), at every order; then, at each family's best order, its
*cross-fitted* held-out NLL (discounts searched on the other folds, scored on the fold left out),
and only after that the test NLL of each family's best model refitted on every name given.

    python scripts/discounts_experiment.py italian   # italian-names-train.txt, 5-fold CV
    python scripts/discounts_experiment.py english   # english-names-train.txt + --val english-names-val.txt
    python scripts/discounts_experiment.py italian --mixture   # also inside the left-to-right order mixture

The reference corpora live in ../shared/data (beside the repository). One run at a time: it uses
one core for a few minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ngram import read_names  # noqa: E402
from ngram.core.counting import count_ngrams  # noqa: E402
from ngram.evaluation.metrics import evaluate  # noqa: E402
from ngram.lm.mixtures.models import FOLLOWER_BINS, n_buckets  # noqa: E402
from ngram.tuning import FAMILIES, build, fit_family, fit_logprobs  # noqa: E402
from ngram.tuning.mixture_search import cross_fitted  # noqa: E402
from ngram.tuning.pipeline import choose_heldout  # noqa: E402
from ngram.tuning.search import candidate_row, cross_fitted_nll  # noqa: E402
from ngram.tuning.statistics import concat_folds, fold_stats, position_groups  # noqa: E402
from ngram.core.vocabulary import Vocabulary  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
SPLITS = {
    "italian": ("italian-names-train.txt", None, "italian-names-test.txt"),
    "english": ("english-names-train.txt", "english-names-val.txt", "english-names-test.txt"),
}
FAMILY_NAMES = ("modified-kneser-ney", "modified-kneser-ney-4", "modified-kneser-ney-5")


def mixture_nll(fits, pooled, groups, mixture_orders) -> float:
    """Cross-fitted held-out NLL of the left-to-right order mixture of these fits (``tune``'s
    recipe: EM weights by longest seen context, split by distinct followers if that is better)."""
    components = [f for f in fits if f.order in mixture_orders]
    logp = np.stack([fit_logprobs(f, pooled) for f in components], axis=1)
    top = max(f.order for f in components)
    best = None
    for bins in (None, FOLLOWER_BINS):
        held = cross_fitted(logp, pooled.mixture_buckets(top, bins), n_buckets(top, bins), groups)
        best = min(best if best is not None else float("inf"), float(-held.mean()))
    return best


def run(split: str, orders: list[int], families: tuple[str, ...], seed: int = 0, mixture: bool = False) -> dict:
    train, val, test = (SHARED / f if f else None for f in SPLITS[split])
    names = read_names(train).names
    val_names = read_names(val).names if val else None
    everything, splits, heldout = choose_heldout(names, val_names, None, None, seed, fast=False)
    vocabulary = Vocabulary.from_names(everything)
    max_order = max(orders)
    buckets = max(FAMILIES[f].buckets for f in families)
    started = time.process_time()
    stats, first_counts = [], None
    for s in splits:
        counts = count_ngrams(vocabulary.encode(s.train), max_order, vocabulary.size)
        first_counts = first_counts or counts  # tune's closed-form starts come from the first fold's counts
        stats.append(fold_stats(s.train, s.heldout, vocabulary, max_order, counts, buckets=buckets))
    pooled = concat_folds(stats)
    deep = pooled.by_depth()
    groups = position_groups(stats, seed)
    out = {"split": split, "heldout": heldout, "symbols": pooled.symbols, "count_cpu_s": time.process_time() - started,
           "families": {}}
    for name in families:
        t0 = time.process_time()
        fits, previous = [], None
        for order in orders:
            previous = fit_family(name, order, [deep], first_counts, start=previous)
            fits.append(previous)
        search_s = time.process_time() - t0
        best = min(fits, key=lambda f: f.heldout_nll)
        t0 = time.process_time()
        cv = cross_fitted_nll(best, pooled, groups, first_counts)
        cv_s = time.process_time() - t0
        if mixture:
            t0 = time.process_time()
            mix = mixture_nll(fits, pooled, groups, [o for o in orders if o >= 3])
            print(f"{split} {name}: order mixture {mix:.5f} ({time.process_time() - t0:.1f} s CPU)", file=sys.stderr, flush=True)
        out["families"][name] = {
            **({"order_mixture_cross_fitted": mix} if mixture else {}),
            "by_order": {f.order: {"tuned": f.heldout_nll, "closed_form": f.start_nll} for f in fits},
            "best_order": best.order, "heldout": best.heldout_nll, "cross_fitted": cv,
            "settings": best.settings, "search_cpu_s": search_s, "cross_fit_cpu_s": cv_s, "fit": best,
        }
        print(f"{split} {name}: best order {best.order}, held-out {best.heldout_nll:.5f}, cross-fitted {cv:.5f} "
              f"(search {search_s:.1f} s CPU, cross-fit {cv_s:.1f} s CPU)", file=sys.stderr, flush=True)
    # Tuning is over: refit each family's best on every name given, then read the test file once.
    models = {name: build(candidate_row("single", name, r["fit"].order, r["fit"].settings, r["heldout"]), everything,
                          vocabulary, source=str(train)) for name, r in out["families"].items()}
    closed_order = min(out["families"][families[0]]["by_order"].items(), key=lambda kv: kv[1]["closed_form"])[0]
    closed = build(candidate_row("closed-form", "modified-kneser-ney", closed_order, {}, 0.0), everything, vocabulary)
    test_names = read_names(test).names
    for name, model in models.items():
        out["families"][name]["test"] = evaluate(model, test_names, unknown="skip").nll
        del out["families"][name]["fit"]
    out["closed_form"] = {"order": closed_order, "test": evaluate(closed, test_names, unknown="skip").nll,
                          "heldout": out["families"][families[0]]["by_order"][closed_order]["closed_form"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("split", choices=sorted(SPLITS))
    parser.add_argument("--orders", default="2-10", help="orders searched (default 2-10, as ngram tune)")
    parser.add_argument("--families", default=",".join(FAMILY_NAMES))
    parser.add_argument("--mixture", action="store_true",
                        help="also the cross-fitted NLL of each family's left-to-right order mixture (orders 3 up)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    lo, _, hi = args.orders.partition("-")
    orders = list(range(int(lo), int(hi or lo) + 1))
    result = run(args.split, orders, tuple(args.families.split(",")), mixture=args.mixture)
    base = result["families"][FAMILY_NAMES[0]] if FAMILY_NAMES[0] in result["families"] else None
    print(f"{result['split']}: held-out = {result['heldout']} ({result['symbols']} symbols); nats/symbol")
    print(f"  {'family':24} {'order':>5} {'held-out':>9} {'cross-fit':>9} {'vs K=3':>8} {'test':>8} {'vs K=3':>8}  CPU s")
    for name, r in result["families"].items():
        dcv = f"{r['cross_fitted'] - base['cross_fitted']:+.4f}" if base else ""
        dtest = f"{r['test'] - base['test']:+.4f}" if base else ""
        print(f"  {name:24} {r['best_order']:>5} {r['heldout']:9.4f} {r['cross_fitted']:9.4f} {dcv:>8} {r['test']:8.4f} "
              f"{dtest:>8}  {r['search_cpu_s'] + r['cross_fit_cpu_s']:.1f}")
    if args.mixture:
        for name, r in result["families"].items():
            d = r["order_mixture_cross_fitted"] - base["order_mixture_cross_fitted"] if base else 0.0
            print(f"  {name:24} order mixture {r['order_mixture_cross_fitted']:.4f} cross-fitted ({d:+.4f} vs K=3)")
    c = result["closed_form"]
    print(f"  {'closed-form K=3 (lmplz)':24} {c['order']:>5} {c['heldout']:9.4f} {'':9} {'':8} {c['test']:8.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
