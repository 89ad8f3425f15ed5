"""The quality table: our tuned models against KenLM's modified Kneser-Ney, in nats per symbol.

Every setting (estimator, order, discounts, mixture weights) is chosen on held-out data inside the
training names (cross-validation folds) or on a validation file; the test file is read only after
tuning has finished, to measure the chosen model once.

    python scripts/quality_table.py            # all three corpora (about 5 minutes on 2 cores)
    python scripts/quality_table.py --quick    # the shipped corpus only

The reference corpora live in ../shared/data (beside the repository); missing ones are skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ngram import read_names  # noqa: E402
from ngram.evaluation.metrics import evaluate  # noqa: E402
from ngram.tuning import build, tune  # noqa: E402
from ngram.core.vocabulary import Vocabulary  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
# KenLM lmplz modified KN (--discount_fallback), the order that is best on held-out data, test NLL.
KENLM = {"italian": ("order 6", 1.6239), "english": ("order 6", 1.9406)}
BARS = {"italian": (1.6139, 1.6139), "english": (1.930, 1.92)}


def measure(label: str, train: Path, test: Path, val: Path | None = None, folds: int | None = None, seed: int = 0,
            orders=range(2, 11), mixture_orders=range(3, 11), smoothings=None) -> dict:
    """Tune on ``train`` (+ ``val`` or folds), then, and only then, read ``test`` and score the chosen model."""
    started = time.perf_counter()
    names = read_names(train).names
    val_names = read_names(val).names if val is not None else None
    result = tune(names, val_names=val_names, folds=None if val is not None else folds, seed=seed, orders=orders,
                  smoothings=smoothings, mixtures=True, mixture_orders=mixture_orders, source=str(train))
    tuned = time.perf_counter() - started
    test_names = read_names(test).names  # first read of the test file: tuning is over
    vocabulary = result.model.vocabulary
    everything = names + (val_names or [])  # what the saved model was refitted on
    singles = [c for c in result.candidates if c["kind"] == "single"]
    best_single = min(singles, key=lambda c: c["heldout_nll"])
    l2r = next(c for c in result.candidates if c["kind"] == "order-mixture" and c["settings"]["direction"] == "l2r")
    steps = {}
    for key, candidate in (("best single", best_single), ("order mixture", l2r)):
        model = result.model if candidate is result.best else build(candidate, everything, vocabulary, source=str(train))
        steps[key] = evaluate(model, test_names).nll
    # What lmplz would give: modified KN with its closed-form discounts, at the order whose
    # held-out NLL is lowest, trained on the same names.
    closed = min((c for c in result.candidates if c["kind"] == "closed-form"), key=lambda c: c["heldout_nll"])
    lmplz = build(closed, everything, vocabulary, source=str(train))
    steps["lmplz"] = (closed["order"], evaluate(lmplz, test_names).nll)
    return {
        "corpus": label, "train": str(train), "test": str(test), "heldout": result.heldout, "names": len(everything),
        "test_names": len(test_names), "test_nll": evaluate(result.model, test_names).nll, "best": result.best,
        "best_single": best_single, "steps": steps, "seconds_tuning": tuned, "result": result,
    }


def describe_best(row: dict) -> str:
    best = row["best"]
    if best["kind"] in ("single", "closed-form"):
        return f"{best['estimator']} order {best['order']}: {best['description']}"
    s = best["settings"]
    if best["kind"] == "order-mixture":
        return f"order mixture {best['order']} ({s['direction']})"
    w = s["weights"]
    return f"{w[0]:.3f} L2R + {w[1]:.3f} R2L; each an order mixture of modified KN orders {best['order']} with tuned discounts"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the shipped corpus")
    args = parser.parse_args(argv)
    rows = []
    shipped = REPO / "data" / "italian-first-names.txt"
    # The shipped corpus has no split: a seeded 90/10 split written to a scratch folder.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        names = read_names(shipped).names
        order = np.random.default_rng(0).permutation(len(names))
        cut = int(round(0.9 * len(names)))
        train, test = Path(tmp) / "train.txt", Path(tmp) / "test.txt"
        train.write_text("".join(names[i] + "\n" for i in order[:cut]), encoding="utf-8")
        test.write_text("".join(names[i] + "\n" for i in order[cut:]), encoding="utf-8")
        rows.append(("shipped", measure("shipped data/italian-first-names.txt (seeded 90/10 split, seed 0)", train, test, folds=5)))
    if not args.quick:
        if (SHARED / "italian-names-train.txt").is_file():
            rows.append(("italian", measure("Italian blog split", SHARED / "italian-names-train.txt", SHARED / "italian-names-test.txt", folds=5)))
        else:
            print(f"skipped the Italian blog split: {SHARED} not present", file=sys.stderr)
        if (SHARED / "english-names-train.txt").is_file():
            rows.append(("english", measure("English split", SHARED / "english-names-train.txt", SHARED / "english-names-test.txt",
                                            val=SHARED / "english-names-val.txt")))
        else:
            print(f"skipped the English split: {SHARED} not present", file=sys.stderr)
    print("Test NLL in nats/symbol (lower is better); settings chosen on held-out data only.\n")
    print("| corpus | tuned on | modified KN, closed-form discounts (= lmplz) | best tuned single model | + order mixture | chosen: L2R+R2L name mixture | KenLM MKN | must / stretch | met |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, row in rows:
        kenlm = KENLM.get(key)
        bar = BARS.get(key)
        single = row["best_single"]
        met = "-"
        if bar:
            met = "must: " + ("yes" if row["test_nll"] <= bar[0] else "no") + ", stretch: " + ("yes" if row["test_nll"] <= bar[1] else "no")
        lmplz_order, lmplz_nll = row["steps"]["lmplz"]
        print(f"| {row['corpus']} | {row['heldout']} | order {lmplz_order}: {lmplz_nll:.4f} "
              f"| {single['estimator']} {single['order']}: {row['steps']['best single']:.4f} "
              f"| {row['steps']['order mixture']:.4f} | **{row['test_nll']:.4f}** "
              f"| {f'{kenlm[1]:.4f} ({kenlm[0]})' if kenlm else '-'} | {f'{bar[0]} / {bar[1]}' if bar else '-'} | {met} |")
    print("\nChosen settings:")
    for key, row in rows:
        print(f"- {row['corpus']}: {describe_best(row)}; tuning took {row['seconds_tuning']:.0f} s")
        best = row["best"]
        if best["kind"] == "name-mixture":
            for comp in best["settings"]["components"]:
                d = comp["discounts"]
                top = str(max(int(k) for k in d))
                if d[top] is None:
                    print(f"  - {comp['direction']}: closed-form discounts")
                    continue
                buckets = "longest seen context x distinct followers (1, 2, 3-5, 6+)" if comp.get("follower_bins") else "longest seen context"
                print(f"  - {comp['direction']}: EM weights by {buckets}; order-{top} discounts D1/D2/D3+ by order "
                      + " ".join("/".join(f"{v:.2f}" for v in g) for g in d[top]))
        s = row["best_single"]
        print(f"  - best single model: {s['estimator']} order {s['order']}, {s['description']}")
    return 0


if __name__ == "__main__":
    import _script  # (scripts/ is on the path when a script runs)

    sys.exit(_script.run(main))
