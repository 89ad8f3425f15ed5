"""Modified Kneser-Ney with K discounts per order (D1, ..., D(K-1), DK+; MITLM's KN with N discounts):
every distribution sums to 1 (all contexts enumerated), an independent slow reference, the
closed form, K = 3 unchanged to the byte, and the tuning family's exact held-out NLL."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest

from conftest import TUNING_HELD, TUNING_TRAIN

import ngram
from ngram import NgramError, Vocabulary, make_estimator
from ngram.formats import native as model_io
from ngram.cli import main
from ngram.core.counting import Counts, count_ngrams
from ngram.estimators.discounting import estimate_discounts
from ngram.tuning import FAMILIES, fit_family, fold_stats, position_logprobs, tune

CORPUS, HELD = TUNING_TRAIN, TUNING_HELD


def every_context(model) -> tuple[np.ndarray, np.ndarray, int]:
    """(window keys, histories) of every context an order-N model can see, enumerated: each
    sequence of N-1 symbols, each start of a name followed by 0..N-2 symbols, and the empty one."""
    V, N = model.V, model.order
    keys, histories = [0], [0]
    for length in range(N - 1):  # start symbol (id 0) then `length` symbols
        for ids in itertools.product(range(1, V), repeat=length):
            key = 0
            for i in (0, *ids):
                key = key * V + i
            keys.append(key)
            histories.append(length + 1)
    if N > 1:
        for ids in itertools.product(range(1, V), repeat=N - 1):
            key = 0
            for i in ids:
                key = key * V + i
            keys.append(key)
            histories.append(N - 1)
    context = np.array(keys, np.int64)
    window = (context[:, None] * V + np.arange(V)[None, :]).ravel()
    return window, np.repeat(np.array(histories), V), len(context)


@pytest.mark.parametrize("buckets", [1, 2, 4, 5, 8])
@pytest.mark.parametrize("settings", [{}, {"backoff": True}, {"unk": True}], ids=["interpolated", "backoff", "unk"])
def test_every_distribution_sums_to_one_over_every_context(buckets, settings):
    settings = dict(settings)
    unk = settings.pop("unk", False)
    for order in (1, 2, 3, 4):
        model = ngram.train(CORPUS, order, make_estimator("modified-kneser-ney", buckets=buckets, **settings), unk=unk)
        window, history, rows = every_context(model)
        p = np.exp(model.logprob_keys(window, history)).reshape(rows, model.V)
        assert rows == 1 + sum((model.V - 1) ** m for m in range(order - 1)) + (order > 1) * (model.V - 1) ** (order - 1)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12, err_msg=f"K={buckets} order {order}")
        assert (p > 0).all()


@pytest.mark.slow
def test_names_of_bounded_length_never_hold_more_than_all_the_mass():
    # Brute force over names: p(names of length <= L) + p(longer) = 1, the second from prefix masses.
    model = ngram.train(CORPUS[:8], 3, make_estimator("modified-kneser-ney", buckets=4))
    chars = [s for s in model.vocabulary.symbols[1:]]
    total, longer = 0.0, 0.0
    for length in range(0, 5):
        for name in itertools.product(chars, repeat=length):
            text = "".join(name)
            total += math.exp(model.logprob(text))
            if length == 4:  # the mass of going on past 4 characters
                longer += math.exp(model.logprob(text)) * (1 - model.probs(text)[0]) / model.probs(text)[0]
    assert abs(total + longer - 1) < 1e-12


# ----- an independent, slow, dictionary-based reference --------------------------------------
class Reference:
    """Interpolated modified KN with K discounts, textbook formulas over Python dicts: lmplz's
    adjusted counts, Dk = k - (k+1) Y n(k+1)/nk from their counts-of-counts."""

    def __init__(self, names, order, buckets, discounts=None):
        self.N, self.K = order, buckets
        chars = sorted(set("".join(names)))
        self.targets = ["</s>"] + chars
        self.V = len(self.targets)
        raw = [defaultdict(int) for _ in range(order + 1)]
        for text in names:
            seq = ["<s>"] + list(text) + ["</s>"]
            for t in range(1, len(seq)):
                for n in range(1, order + 1):
                    if t - n + 1 >= 0:
                        raw[n][tuple(seq[t - n + 1:t + 1])] += 1
        self.counts = [None]
        for n in range(1, order + 1):
            if n == order:
                self.counts.append(dict(raw[n]))
                continue
            left = defaultdict(set)
            for gram in raw[n + 1]:
                left[gram[1:]].add(gram[0])
            self.counts.append({g: (c if g[0] == "<s>" and n > 1 else len(left[g])) for g, c in raw[n].items()})
        self.children = [None] + [defaultdict(dict) for _ in range(order)]
        for n in range(1, order + 1):
            for gram, c in self.counts[n].items():
                self.children[n][gram[:-1]][gram[-1]] = c
        self.discounts = [None] + [discounts[n - 1] if discounts and n <= len(discounts) else self.closed_form(n)
                                   for n in range(1, order + 1)]

    def closed_form(self, n):
        values = list(self.counts[n].values())
        nk = [sum(1 for v in values if v == j) for j in range(1, max(self.K, 3) + 2)]

        def formula(K):
            if 0 in nk[:max(K, 2)]:
                return None
            y = nk[0] / (nk[0] + 2 * nk[1])
            d = [y] if K == 1 else [k - (k + 1) * y * nk[k] / nk[k - 1] for k in range(1, K + 1)]
            return d if all(0 < x <= k for k, x in enumerate(d, start=1)) else None

        d = formula(self.K)
        if d is None and self.K > 3:
            d = formula(3)
            d = d and d + [d[2]] * (self.K - 3)
        if d is None:
            d = ([0.5, 1.0, 1.5] + [1.5] * self.K)[:self.K]
        return [min(x, math.nextafter(k, 0)) for k, x in enumerate(d, start=1)]

    def prob(self, w, h):
        h = tuple(h)[-(self.N - 1):] if self.N > 1 else ()
        n = len(h) + 1
        lower = self.prob(w, h[1:]) if n > 1 else 1 / self.V
        if h not in self.children[n]:
            return lower
        kids = self.children[n][h]
        d = self.discounts[n]
        take = {x: d[min(c, self.K) - 1] for x, c in kids.items()}
        total = sum(kids.values())
        return (kids.get(w, 0) - take.get(w, 0)) / total + sum(take.values()) / total * lower


@pytest.mark.parametrize("buckets", [1, 2, 4, 5, 7])
@pytest.mark.parametrize("names", ["tiny", "shipped"])
def test_matches_slow_reference(buckets, names, shipped):
    names = CORPUS if names == "tiny" else shipped[::12]
    for order in (1, 2, 3, 4):
        model = ngram.train(names, order, make_estimator("modified-kneser-ney", buckets=buckets))
        ref = Reference(names, order, buckets)
        for n in range(1, order + 1):  # the closed form, fallbacks included
            np.testing.assert_allclose(model.estimator["report"]["discounts"][str(n)], ref.discounts[n], rtol=1e-12)
        for prefix, at_start in [("", True), ("a", True), ("an", True), ("ann", True), ("bob", False), ("nn", False),
                                 ("ma", True), ("ri", False)]:
            if not set(prefix) <= set(ref.targets):
                continue
            got = model.probs(prefix, at_start=at_start)
            h = (["<s>"] if at_start else []) + list(prefix)
            want = [ref.prob(ref.targets[i], h) for i in range(model.V)]
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14, err_msg=f"K={buckets} order {order} {h}")


def test_given_discounts_match_the_reference():
    given = [[0.3, 0.6, 0.9, 1.2], [0.4, 1.2, 2.5, 0.1], [0.7, 1.0, 1.1, 3.9]]
    model = ngram.train(CORPUS, 4, make_estimator("modified-kneser-ney", buckets=4, discounts=given))
    ref = Reference(CORPUS, 4, 4, discounts=given)
    for prefix in ("", "a", "ann", "bo", "nan"):
        want = [ref.prob(t, ["<s>", *prefix]) for t in ref.targets]
        np.testing.assert_allclose(model.probs(prefix), want, rtol=1e-9, atol=1e-14)
    report = model.estimator["report"]["discounts"]
    assert report["1"] == given[0] and len(report["4"]) == 4


# ----- K = 3 is today's estimator; K = 1 is Kneser-Ney --------------------------------------------
def saved_bytes(model, path) -> bytes:
    model_io.save(model, path)
    return path.read_bytes()


@pytest.mark.parametrize("settings", [{}, {"backoff": True}, {"discounts": [[0.3, 0.6, 0.9], [0.4, 1.2, 2.5]]}, {"kenlm_compat": True}])
def test_three_buckets_is_the_default_model_to_the_byte(settings, shipped, tmp_path):
    default = ngram.train(shipped, 5, make_estimator("modified-kneser-ney", **settings))
    three = ngram.train(shipped, 5, make_estimator("modified-kneser-ney", buckets=3, **settings))
    assert "buckets" not in three.estimator
    assert saved_bytes(default, tmp_path / "a.ngram") == saved_bytes(three, tmp_path / "b.ngram")


def test_one_bucket_is_kneser_ney(shipped):
    kn = ngram.train(shipped, 4, make_estimator("kneser-ney"))
    one = ngram.train(shipped, 4, make_estimator("modified-kneser-ney", buckets=1))
    for a, b in zip(kn.levels, one.levels):
        assert np.array_equal(a.keys, b.keys) and np.array_equal(a.logp, b.logp) and np.array_equal(a.bow, b.bow)


def test_closed_form_generalises_chen_and_goodman():
    # n1..n6 = 100, 40, 20, 12, 8, 5: Y = 100/180, Dk = k - (k+1) Y n(k+1)/nk.
    n = [100, 40, 20, 12, 8, 5]
    y = 100 / 180
    want = [k - (k + 1) * y * n[k] / n[k - 1] for k in range(1, 6)]
    np.testing.assert_allclose(estimate_discounts(n, 5, np.float64), want, rtol=1e-15)
    # The first three are modified KN's, bit for bit (also lmplz's float32 arithmetic).
    for dt in (np.float32, np.float64):
        assert estimate_discounts(n, 5, dt)[:3] == estimate_discounts(n[:4], 3, dt)
    assert estimate_discounts([100, 40, 20, 0, 8, 5], 5, np.float64) is None  # n4 = 0: no D4


def test_an_order_without_usable_higher_discounts_falls_back_to_three_and_says_so():
    model = ngram.train(CORPUS * 3, 3, make_estimator("modified-kneser-ney", buckets=5))
    report = model.estimator["report"]
    assert model.estimator["buckets"] == 5
    assert "0.5/1/1.5/1.5/1.5" in report["fallback"]
    # Order 2 has no n5 (no D4 of its own): modified KN's three discounts, D3+ from 3 up.
    cocs = [[100, 40, 20, 12, 8, 5], [100, 40, 20, 12, 0, 5]]
    chosen, report = make_estimator("modified-kneser-ney", buckets=5).choose_discounts(cocs)
    three, _ = make_estimator("modified-kneser-ney").choose_discounts([c[:4] for c in cocs])
    assert report["three_discounts"].startswith("order 2:") and "fallback" not in report
    assert list(chosen[1][1:]) == list(three[1][1:]) + [three[1][3]] * 2
    assert list(chosen[0][1:4]) == list(three[0][1:]) and chosen[0][4] != chosen[0][3]


@pytest.mark.parametrize("settings", [{"buckets": 0}, {"buckets": 2.5}, {"buckets": True}, {"buckets": 21},
                                      {"buckets": "4"}, {"buckets": 4, "kenlm_compat": True},
                                      {"buckets": 4, "discounts": [[0.1, 0.2, 0.3]]},
                                      {"buckets": 4, "discounts": [0.1, 0.2, 0.3, 0.4, 0.5]}])
def test_bad_bucket_settings_are_one_line_errors(settings):
    with pytest.raises(NgramError) as err:
        make_estimator("modified-kneser-ney", **settings)
    assert "\n" not in str(err.value)


def test_an_engine_counting_four_counts_of_counts_refuses_more_discounts_in_one_line():
    estimator = make_estimator("modified-kneser-ney", buckets=4)
    with pytest.raises(NgramError, match="n1..n5.*n1..n4 only"):
        estimator.choose_discounts([[5, 3, 2, 1]] * 3)
    # Given discounts need no counts-of-counts.
    given = make_estimator("modified-kneser-ney", buckets=4, discounts=[[0.5, 1, 1.5, 2]] * 3)
    assert len(given.choose_discounts([[5, 3, 2, 1]] * 3)[0]) == 3


# ----- the tuning family ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["modified-kneser-ney-4", "modified-kneser-ney-5"])
def test_the_search_starts_from_the_estimators_closed_form(name):
    vocabulary = Vocabulary.from_names(CORPUS + HELD)
    counts = count_ngrams(vocabulary.encode(CORPUS), 4, vocabulary.size)
    family = FAMILIES[name]
    stats = fold_stats(CORPUS, HELD, vocabulary, 4, counts, buckets=family.buckets)
    for order in (2, 3, 4):
        sub = Counts(order, vocabulary.size, counts.keys[:order], counts.counts[:order])
        model = make_estimator("modified-kneser-ney", buckets=family.per_order).fit(sub, vocabulary)
        closed = [d for n in range(1, order + 1) for d in model.estimator["report"]["discounts"][str(n)]]
        # (the search keeps each discount 1e-4 inside its bucket's bounds)
        np.testing.assert_allclose(family.initial(counts, order), closed, rtol=0, atol=1.001e-4)


def test_more_buckets_in_the_statistics_change_nothing_for_three(shipped):
    names, held = shipped[:600], shipped[600:700]
    vocabulary = Vocabulary.from_names(names + held)
    counts = count_ngrams(vocabulary.encode(names), 5, vocabulary.size)
    three = fold_stats(names, held, vocabulary, 5, counts)
    five = fold_stats(names, held, vocabulary, 5, counts, buckets=5)
    family = FAMILIES["modified-kneser-ney"]
    x = family.initial(counts, 5) * 0.9
    a, ga = position_logprobs(family, x, 5, three, gradient=True)
    b, gb = position_logprobs(family, x, 5, five, gradient=True)
    assert np.array_equal(a, b) and np.array_equal(ga, gb)
    with pytest.raises(NgramError):
        position_logprobs(FAMILIES["modified-kneser-ney-4"], np.ones(20) * 0.5, 5, three)


def test_four_discounts_never_fit_worse_than_three_in_sample(shipped):
    # K = 4 with D4+ = D3 is the three-discount model, so its optimum can only be lower.
    names, held = shipped[:1500], shipped[1500:1800]
    vocabulary = Vocabulary.from_names(names + held)
    counts = count_ngrams(vocabulary.encode(names), 4, vocabulary.size)
    stats = fold_stats(names, held, vocabulary, 4, counts, buckets=4).by_depth()
    three = fit_family("modified-kneser-ney", 4, [stats], counts)
    four = fit_family("modified-kneser-ney-4", 4, [stats], counts)
    assert four.heldout_nll <= three.heldout_nll + 1e-6
    assert four.settings["buckets"] == 4 and all(len(g) == 4 for g in four.settings["discounts"])


@pytest.mark.slow
def test_tune_searches_more_discounts_only_when_asked_and_saves_a_model_that_says_so(shipped, tmp_path):
    names = shipped[:500]
    result = tune(names, val_fraction=0.2, orders=[3, 4], smoothings=["modified-kneser-ney-4"], mixtures=False)
    rows = [c for c in result.candidates if c["kind"] == "single"]
    assert {c["estimator"] for c in rows} == {"modified-kneser-ney-4"}
    assert rows[0]["description"].startswith("D1/D2/D3/D4+ by order")
    default = tune(names, val_fraction=0.2, orders=[3, 4], mixtures=False)
    assert {c["estimator"] for c in default.candidates if c["kind"] == "single"} == {"modified-kneser-ney"}
    train, out = tmp_path / "train.txt", tmp_path / "m.ngram"
    train.write_text("\n".join(names) + "\n", encoding="utf-8")
    assert main(["tune", str(train), "--fast", "--orders", "3-4", "-s", "modified-kneser-ney-5,modified-kneser-ney+strength",
                 "--no-mixtures", "-o", str(out), "-q"]) == 0
    model = model_io.load(out)
    assert model.estimator["name"] == "modified-kneser-ney"
    window, history, rows = every_context(model)
    np.testing.assert_allclose(np.exp(model.logprob_keys(window, history)).reshape(rows, model.V).sum(axis=1), 1, atol=1e-12)
    assert main(["tune", str(train), "--fast", "-s", "modified-kneser-ney-9", "-o", str(out), "-q"]) == 1
