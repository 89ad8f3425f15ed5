"""Discounted components computed where they are read: an order mixture's components from its counts.

An order mixture stores its n-gram counts once and each component's settings (``ngram.formats.native``).
Fitting every component again on loading makes each one's ln p and back-off weight for every
stored n-gram: sixteen near-copies of the tables for the default model, 30 MB, most of them never
read by a verb that asks about a few contexts. Here a discounted component (absolute, Kneser-Ney,
modified KN, interpolated form) keeps only its discounts; what every component reads of the counts
is kept once for the mixture, in the narrowest type that holds it exactly:

- per order n: the counts (raw, and lmplz's adjusted counts below the top order);
- per order n and form (raw or adjusted): each context's total count and how many of its children
  fall in each discount bucket, indexed by the context's place among the order n-1 n-grams.

From these, p_n(hw) = u(hw) + gamma(h) p_{n-1}(w | h') is made for the n-grams asked about by the
fit's own steps (``discounting.discount`` and ``interpolated.interpolate``, on those entries only:
both are entrywise), so the floats are the fit's to the bit (tested against the fit).
A level asked for a good share of its entries, or asked again and again, is made whole and kept
(then it costs what a fitted one does): loading the English default model holds 19 MB where the
sixteen fits held 52 MB (peak resident memory of ``ngram probs``: 93 -> 58 MB), and `top` or a
constrained sample, which read most rows, end as fast as with the fitted tables.

Rows sum to 1 without a check of tables: Σ_w u(hw) + gamma(h) = (Σ a - Σ D + Σ D + θ) / (Σ a + θ)
= 1 for every context, u >= 0 because every discount is clipped below its bucket's smallest count
(and every count is at least 1: a stored count was checked where it was read, an adjusted one is
checked here), and gamma >= 0 because discounts and strengths are not negative. Counts whose
totals a float64 cannot hold exactly are fitted instead (``exact_sums``), and the fit checks its rows.
"""

from __future__ import annotations

import numpy as np

from ngram.core.counting import Counts
from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from ngram.lm.backoff.model import Level, Model
from .discounting import BucketTotals, Discounted, adjusted_order, bucket_totals, discount
from .interpolated import interpolate

CHAINS = 8  # index arrays whose places below are remembered (the last few asked of every component)
WHOLE_SHARE = 4  # a level asked for 1/WHOLE_SHARE of its entries (in all) is made whole,
WHOLE_CALLS = 24  # and one asked this many times (a search or a plan making rows batch by batch)


def serves(estimator) -> bool:
    """Whether ``estimator``'s fit can be computed where read: the discounting family in its
    interpolated float64 form (lmplz's float32 arithmetic and the back-off form are fitted)."""
    return isinstance(estimator, Discounted) and not estimator.backoff and estimator.dtype == np.float64


def exact_sums(counts: Counts) -> bool:
    """Whether every order's counts are whole numbers whose total float64 holds exactly, so that
    each context's total is the same number however it is summed and no row can lose its mass
    to an overflow (other counts are fitted, and the fit checks its rows)."""
    for c in counts.counts:
        if c.dtype.kind == "f" and not np.array_equal(c, np.round(c)):
            return False
        if len(c) and float(c.sum(dtype=np.float64)) >= 2.0**53:
            return False
    return True


def made_here(model: Model) -> bool:
    """Whether ``model`` was made by ``fit_on_demand``."""
    return bool(model.levels) and isinstance(model.levels[0], OnDemandLevel)


def _narrow(values: np.ndarray) -> np.ndarray:
    """``values`` in the smallest unsigned type that holds them exactly (as they are if none does)."""
    if len(values) == 0:
        return values
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        return values
    top, low = values.max(), values.min()
    if low < 0:
        return values
    for t in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(t).max:
            return values.astype(t)
    return values


def _places_type(places: np.ndarray, size: int) -> np.ndarray:
    return places.astype(np.int32, copy=False) if size < 2**31 else places


class SharedCounts:
    """What the components of one order mixture read of its counts, made once for all of them."""

    def __init__(self, counts: Counts):
        self.V = counts.vocab_size
        self.order = counts.order
        self.keys = list(counts.keys)
        self.raw = list(counts.counts)
        self._counts = counts
        self._adjusted: dict[int, np.ndarray] = {}
        self._stats: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._chains: dict[tuple, _Chain] = {}
        self._places: dict[tuple, np.ndarray] = {}  # (every n-gram's context and suffix places, by order: 4 bytes each)
        for what, known in (("suffixes", counts.suffix_index), ("contexts", counts.context_index)):
            for n in range(3, min(len(known), self.order) + 1):  # (places a reader found while checking them)
                if known[n - 1] is not None:
                    self._places[what, n] = _places_type(known[n - 1], len(self.keys[n - 2]))

    def settle(self, components: list[Model]) -> None:
        """Make everything ``components`` (made by ``fit_on_demand`` on these counts) will read,
        then let go of the counts' by-products (left neighbours, suffix places)."""
        for model in components:
            c = model.levels[0]._component
            for n in range(1, c.order + 1):
                self.stats(n, c.raw(n), c.buckets)
        self._counts = None

    def values(self, n: int, raw: bool) -> np.ndarray:
        """Order n's counts as a component reads them: raw, or adjusted (below the top order)."""
        if raw:
            return self.raw[n - 1]
        if n not in self._adjusted:
            adjusted = adjusted_order(self._counts, n, self.V)
            if len(adjusted) and adjusted.min() < 1:
                # (counting gives every n-gram below the top a left neighbour or the start: counts
                # without one were not made by counting, and a row of them would not sum to 1)
                raise NgramError(f"an order-{n} n-gram has no left neighbour, so no adjusted count")
            self._adjusted[n] = _narrow(adjusted)
        return self._adjusted[n]

    def contexts_of(self, n: int, index: np.ndarray | None) -> np.ndarray:
        """Place among the order n-1 n-grams of each (asked) order-n n-gram's context (0 at order 1);
        for all of them, found once (the components made whole read the same)."""
        if index is None and n > 2:
            return self._whole_places("contexts", n, lambda: self.contexts_of(n, np.arange(len(self.keys[n - 1]))))
        if index is not None and ("contexts", n) in self._places:  # (found once: read, not searched again)
            return self._places["contexts", n][index]
        keys = self.keys[n - 1] if index is None else self.keys[n - 1][index]
        if n == 1:
            return np.zeros(len(keys), np.int64)
        if n == 2:
            return keys // self.V  # the unigram level holds every symbol at its id
        return np.searchsorted(self.keys[n - 2], keys // self.V)

    def suffixes_of(self, n: int, index: np.ndarray | None) -> np.ndarray:
        """Place among the order n-1 n-grams of each (asked) order-n n-gram's suffix (for all of
        them: found once)."""
        if index is None and n > 2:
            return self._whole_places("suffixes", n, lambda: self.suffixes_of(n, np.arange(len(self.keys[n - 1]))))
        if index is not None and ("suffixes", n) in self._places:
            return self._places["suffixes", n][index]
        keys = self.keys[n - 1] if index is None else self.keys[n - 1][index]
        if n == 2:
            return keys % self.V  # the unigram level holds every symbol at its id
        return np.searchsorted(self.keys[n - 2], keys % self.V ** (n - 1))

    def _whole_places(self, what: str, n: int, make) -> np.ndarray:
        key = (what, n)
        if key not in self._places:
            self._places[key] = _places_type(make(), len(self.keys[n - 2]))
        return self._places[key]

    def has_children(self, n: int) -> np.ndarray:
        """Whether each order-n n-gram is the context of an order n+1 one."""
        if ("children", n) not in self._places:
            has = np.zeros(self.V if n == 1 else len(self.keys[n - 1]), bool)
            has[self.contexts_of(n + 1, None)] = True
            self._places["children", n] = has
        return self._places["children", n]

    def chain(self, n: int, index: np.ndarray) -> "_Chain":
        """The places below order n's n-grams at ``index``, found once for every component that
        asks of the same array (a mixture asks each of its components in turn)."""
        key = (n, id(index))
        made = self._chains.get(key)
        if made is None or made.index is not index:
            if len(self._chains) >= CHAINS:
                self._chains.clear()
            made = self._chains[key] = _Chain(self, n, index)
        return made

    def stats(self, n: int, raw: bool, buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """Each context's total count and its children per bucket (order n, one form): what
        ``discounting.bucket_totals`` finds, indexed by context place (a single context at order 1)."""
        key = (n, raw, buckets)
        if key not in self._stats:
            C = 1 if n == 1 else self.V if n == 2 else len(self.keys[n - 2])
            # the fit's own totals (the same sums in the same order), by context place, kept narrow
            totals = bucket_totals(self.values(n, raw), self.contexts_of(n, None), C, buckets, np.float64)
            self._stats[key] = (_narrow(totals.denom), _narrow(totals.per_bucket.ravel()).reshape(C, buckets))
        return self._stats[key]


class _Chain:
    """For n-grams of order n at ``index``: each order j's n-grams along their suffixes (j = n..1),
    and their contexts' places, with what the components read there, gathered once."""

    def __init__(self, shared: SharedCounts, n: int, index: np.ndarray):
        self.shared, self.index, self.n = shared, index, n
        self.at = {n: np.asarray(index, np.int64)}
        for j in range(n, 1, -1):
            self.at[j - 1] = shared.suffixes_of(j, self.at[j])
        self._place: dict[int, np.ndarray] = {}
        self._gathered: dict[tuple, tuple] = {}

    def place(self, j: int) -> np.ndarray:
        if j not in self._place:
            self._place[j] = self.shared.contexts_of(j, self.at[j])
        return self._place[j]

    def gathered(self, j: int, raw: bool, buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the counts, each context's total, its children per bucket) at order j's n-grams."""
        key = (j, raw, buckets)
        if key not in self._gathered:
            denom, per_bucket = self.shared.stats(j, raw, buckets)
            place = self.place(j)
            self._gathered[key] = (self.shared.values(j, raw)[self.at[j]], denom[place], per_bucket[place])
        return self._gathered[key]


class _Component:
    """One discounted component's arithmetic over the shared counts."""

    def __init__(self, shared: SharedCounts, estimator: Discounted, order: int, discounts: list[np.ndarray]):
        self.shared, self.order, self.buckets = shared, order, estimator.buckets
        self.adjusted = estimator.adjusted
        self.d = discounts
        self.theta = [estimator.strength(n) for n in range(1, order + 1)]
        self.dt = np.float64
        self.whole: dict[int, np.ndarray] = {}  # p of the orders made whole
        self.gammas: dict[int, np.ndarray] = {}  # and gamma of their contexts, until read
        self.p1 = self._unigrams()

    def raw(self, n: int) -> bool:
        return not self.adjusted or n == self.order

    def discount(self, n: int, a: np.ndarray, owner: np.ndarray, denom: np.ndarray,
                 per_bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """u of n-grams with counts ``a`` (``owner``: each one's context among those given) and
        gamma of contexts with totals ``denom`` and children per bucket ``per_bucket``: the fit's
        own ``discounting.discount``, on these entries only (entrywise: the same floats)."""
        dt = self.dt
        totals = BucketTotals(denom.astype(dt), np.minimum(a, self.buckets).astype(np.int8), per_bucket)
        with np.errstate(invalid="ignore", divide="ignore"):  # (a place without children: 0 / 0, never read)
            return discount(a, owner, len(denom), self.d[n - 1], self.buckets, dt, self.theta[n - 1], totals)

    def gamma(self, n: int, place: np.ndarray | None) -> np.ndarray:
        """gamma(h) of order n's contexts at ``place`` (all: None)."""
        if place is None and n in self.gammas:
            return self.gammas.pop(n)  # (read once, by the back-off weights made whole)
        denom, per_bucket = self.shared.stats(n, self.raw(n), self.buckets)
        if place is not None:
            denom, per_bucket = denom[place], per_bucket[place]
        return self.discount(n, np.zeros(0, np.int64), np.zeros(0, np.int64), denom, per_bucket)[1]

    def _unigrams(self) -> np.ndarray:
        V, keys = self.shared.V, self.shared.keys[0]
        denom, per_bucket = self.shared.stats(1, self.raw(1), self.buckets)
        u, gamma = self.discount(1, self.shared.values(1, self.raw(1)), np.zeros(len(keys), np.int64), denom, per_bucket)
        p = np.zeros(V, self.dt)
        p[keys] = u
        return p + self.dt(gamma[0]) * self.dt(1.0 / V)

    def p(self, n: int, index: np.ndarray | None) -> np.ndarray:
        """p_n(w | h) of order n's n-grams at ``index`` (all: None, then kept: the orders above
        read it instead of going down again)."""
        if n == 1:
            return self.p1 if index is None else self.p1[index]
        if n in self.whole:
            return self.whole[n] if index is None else self.whole[n][index]
        if index is None:
            # each context's gamma once, then read by its children (as the fit does: C < N)
            shared = self.shared
            place = shared.contexts_of(n, None)
            u, gamma = self.discount(n, shared.values(n, self.raw(n)), place,
                                     *shared.stats(n, self.raw(n), self.buckets))
            p = interpolate(u, gamma, place, self.p(n - 1, shared.suffixes_of(n, None)))
            self.whole[n], self.gammas[n] = p, gamma  # (gamma: for the back-off weights, made whole next)
            return p
        # Down the suffixes to the first order known whole, or small enough beside the question to
        # be made whole at once (cheaper than its entries one by one, and kept for the next asks).
        low = n
        while low > 1 and low not in self.whole and len(self.shared.keys[low - 1]) > WHOLE_SHARE * len(index):
            low -= 1
        if low == n and low > 1:
            return self.p(n, None)[index]
        chain = self.shared.chain(n, index)
        p = self.p(low, chain.at[low])
        for j in range(low + 1, n + 1):
            a, denom, per_bucket = chain.gathered(j, self.raw(j), self.buckets)
            each = np.arange(len(a))  # (each entry its own context: gathered one to one)
            u, gamma = self.discount(j, a, each, denom, per_bucket)
            p = interpolate(u, gamma, each, p)
        return p

    def p_above(self, n: int, index: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """p_n of order n's n-grams at ``index`` from ``lower``, p_{n-1} of their suffixes: the
        last step of ``p``'s way up (the same floats), for a reader that has the order below."""
        if n == 1 or n in self.whole:
            return self.p(n, index)
        shared, raw = self.shared, self.raw(n)
        denom, per_bucket = shared.stats(n, raw, self.buckets)
        place = shared.contexts_of(n, index)
        each = np.arange(len(index))  # (each entry its own context, as ``p`` gathers them)
        u, gamma = self.discount(n, shared.values(n, raw)[index], each, denom[place], per_bucket[place])
        return interpolate(u, gamma, each, lower)

    def logp(self, n: int, index: np.ndarray | None) -> np.ndarray:
        return np.log(self.p(n, index))  # (entrywise: the same floats whole or in part)

    def bow(self, n: int, index: np.ndarray | None) -> np.ndarray:
        """ln gamma of order n's n-grams at ``index`` as contexts of order n+1 (0 where one has no child)."""
        size = (self.shared.V if n == 1 else len(self.shared.keys[n - 1])) if index is None else len(index)
        if n >= self.order:
            return np.zeros(size)
        has = self.shared.has_children(n)
        has = has if index is None else has[index]
        out = np.zeros(size)
        at = np.flatnonzero(has)
        gamma = self.gamma(n + 1, None)[at] if index is None else self.gamma(n + 1, index[at])
        with np.errstate(divide="ignore"):
            out[at] = np.log(gamma)
        return out


class OnDemandLevel(Level):
    """A level whose ln p and back-off weights are made where asked (``logp_at``/``bow_at``); the
    whole arrays, when something reads them, are made once and kept (outside the level's own
    attributes, which caches of structure compare: the structure is the keys' alone)."""

    steps_up = True

    def __init__(self, keys: np.ndarray, component: _Component, n: int):
        self.keys, self._component, self._n = keys, component, n
        self._made: dict[str, np.ndarray] = {}
        self._asked = self._calls = 0

    def _whole(self, size: int) -> bool:
        # Asked for a share of the level, in one call or over many, or asked again and again (a
        # search making rows batch by batch, each call a few small array operations an order):
        # made whole from then on, so the work stays within a few times the fit's.
        self._asked += size
        self._calls += 1
        return self._asked * WHOLE_SHARE >= len(self.keys) or self._calls >= WHOLE_CALLS

    @property
    def logp(self) -> np.ndarray:
        if "logp" not in self._made:
            self._made["logp"] = self._component.logp(self._n, None)
        return self._made["logp"]

    @logp.setter
    def logp(self, value) -> None:
        self._made["logp"] = value

    @property
    def bow(self) -> np.ndarray:
        if "bow" not in self._made:
            bow = self._component.bow(self._n, None)
            top = self._n >= self._component.order
            self._made["bow"] = np.broadcast_to(np.float64(0.0), bow.shape) if top else bow
        return self._made["bow"]

    @bow.setter
    def bow(self, value) -> None:
        self._made["bow"] = value

    def make_whole(self) -> None:
        component, n = self._component, self._n
        component.p(n, None)  # (kept by the component: p, not ln p, one array)
        if n < component.order:
            component.p(n + 1, None)  # (its contexts' gamma, made with it, then serve the back-off weights)
        self.bow  # noqa: B018  (made and kept)

    def logp_at(self, index: np.ndarray) -> np.ndarray:
        if "logp" in self._made:
            return self._made["logp"][index]
        if self._whole(len(index)):
            self._component.p(self._n, None)  # (kept by the component: p, not ln p, one array)
        return self._component.logp(self._n, np.asarray(index, np.int64))

    def context_places(self, below: np.ndarray, V: int) -> np.ndarray:
        if self._n > 2 and below is self._component.shared.keys[self._n - 2]:
            return self._component.shared.contexts_of(self._n, None)  # (found once for every component)
        return super().context_places(below, V)

    def p_at(self, index: np.ndarray) -> np.ndarray:
        # (from the component's p, whole or in part, never from ln p: the same floats either way)
        if self._whole(len(index)):
            self._component.p(self._n, None)
        return self._component.p(self._n, np.asarray(index, np.int64))

    def p_above(self, index: np.ndarray, lower: np.ndarray) -> np.ndarray:
        if self._whole(len(index)):
            self._component.p(self._n, None)
        return self._component.p_above(self._n, np.asarray(index, np.int64), lower)

    def bow_at_many(self, levels: list, index: np.ndarray) -> np.ndarray:
        components = _alike(levels)
        if components is None:
            return super().bow_at_many(levels, index)
        n, shared = self._n, self._component.shared
        out = np.zeros((len(levels), len(index)))  # (0: a context without children, or the top order's)
        live = []
        for i, (level, c) in enumerate(zip(levels, components)):
            if "bow" in level._made or level._whole(len(index)):
                out[i] = level.bow[index]  # (made whole: read)
            elif n < c.order:
                live.append(i)
        at = np.flatnonzero(shared.has_children(n)[index]) if live else ()
        if len(at):
            # gamma of these contexts as each component's ``gamma(n + 1, place)`` makes it
            for rows, _, gamma in _discounted([components[i] for i in live], n + 1, None, index[at], None):
                with np.errstate(divide="ignore"):
                    out[np.ix_([live[r] for r in rows], at)] = np.log(gamma)
        return out

    def p_above_many(self, levels: list, index: np.ndarray, lower: np.ndarray | None) -> np.ndarray:
        components = _alike(levels)
        if components is None or self._n == 1 or lower is None:
            return super().p_above_many(levels, index, lower)
        n = self._n
        index = np.asarray(index, np.int64)
        out = np.empty((len(levels), len(index)))
        live = []
        for i, (level, c) in enumerate(zip(levels, components)):
            if level._whole(len(index)):
                c.p(n, None)  # (asked for much, or often: made whole, as ``p_at`` makes it)
            if n in c.whole:
                out[i] = c.whole[n][index]
            else:
                live.append(i)
        if live:
            place = self._component.shared.contexts_of(n, index)
            for rows, u, gamma in _discounted([components[i] for i in live], n, index, place, np.arange(len(index))):
                mine = [live[r] for r in rows]
                p = gamma * lower[mine]  # (``interpolate``, each entry its own context: the same floats)
                p += u
                out[mine] = p
        return out

    def bow_at(self, index: np.ndarray) -> np.ndarray:
        if "bow" in self._made or self._whole(len(index)):
            return self.bow[index]
        return self._component.bow(self._n, np.asarray(index, np.int64))


def _alike(levels: list) -> list[_Component] | None:
    """The components behind ``levels`` when every one is made where read, of one order, over
    the same counts with the same buckets: their arithmetic then runs once for all."""
    if not all(isinstance(level, OnDemandLevel) for level in levels):
        return None
    first = levels[0]._component
    if any(level._n != levels[0]._n or level._component.shared is not first.shared
           or level._component.buckets != first.buckets for level in levels):
        return None
    return [level._component for level in levels]


def _discounted(components: list[_Component], n: int, index: np.ndarray | None, place: np.ndarray,
                owner: np.ndarray | None):
    """Each component's ``discount`` at order n, of the n-grams at ``index`` (None: none, only the
    contexts' gamma) whose contexts are at ``place`` (``owner``: each n-gram's among them), run
    together for those reading the same form of the counts: (their positions, u, gamma) per form."""
    first = components[0]
    shared, buckets, dt = first.shared, first.buckets, first.dt
    for raw in (True, False):
        rows = [i for i, c in enumerate(components) if c.raw(n) == raw]
        if not rows:
            continue
        d = np.stack([components[i].d[n - 1] for i in rows])
        theta = np.array([components[i].theta[n - 1] for i in rows], dt)
        denom, per_bucket = shared.stats(n, raw, buckets)
        a = shared.values(n, raw)[index] if index is not None else np.zeros(0, np.int64)
        totals = BucketTotals(denom[place].astype(dt), np.minimum(a, buckets).astype(np.int8), per_bucket[place])
        with np.errstate(invalid="ignore", divide="ignore"):  # (as ``_Component.discount``)
            u, gamma = discount(a, np.zeros(0, np.int64) if owner is None else owner, len(place), d, buckets, dt,
                                theta, totals)
        yield rows, u, gamma


def fit_on_demand(estimator: Discounted, shared: SharedCounts, order: int, vocabulary: Vocabulary) -> Model:
    """``estimator.fit`` on the first ``order`` orders of the shared counts, its tables made where read."""
    values = [shared.values(n, not estimator.adjusted or n == order) for n in range(1, order + 1)]
    discounts, report = estimator._choose_discounts(values)
    component = _Component(shared, estimator, order, discounts)
    # (the unigram level holds every symbol, counted or not, at its id, as the fit's does)
    levels = [OnDemandLevel(np.arange(shared.V, dtype=np.int64) if n == 1 else shared.keys[n - 1], component, n)
              for n in range(1, order + 1)]
    return Model(vocabulary=vocabulary, order=order, levels=levels,
                 estimator={"name": estimator.name, **estimator.get_params(), **({"report": report} if report else {})})
