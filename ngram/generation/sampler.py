"""The sampling façade: exact constrained sampling and top names from any model of the protocol.

``Sampler`` splits a model into its whole-name components (``name_components``), draws each name's
component by weight (under a constraint: by weight times the constraint's mass under it), then
the name from that component: the plain walk (``ngram.generation.walk``) where only length bounds
apply, else the exact plan (``ngram.generation.plans``). ``top`` merges the components' best-first
streams (``ngram.generation.search``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.parallel import processors as _processors, side_by_side
from ngram.generation.constraints import Constraints, TooManyStates, percent_of_mass
from ngram.generation.novelty import novelty
from ngram.generation.plans import CHUNK, MIN_MASS, PACKED, Budget, LazyPlan, Plan, make_plan, searches_lazily
from ngram.generation.shaping import check_shaping
from ngram.lm.backoff.automaton import View, name_components
from ngram.lm.protocol import LEVELS, SEQUENTIAL

RANKS = ("probability", "per-symbol")  # what top orders names by
# Names top lists at most: each name found far down the distribution leaves several partial names
# waiting (a few KB each; ``search.MAX_FRONTIER`` bounds them), so a larger list is refused at once
# (on 30,000 English names, 20,000 names: modified KN order 6 4.7 s and 310 MB, the default
# model 58 s and 1 GB; 100,000: order 6 20 s and 1 GB).
MAX_TOP = 20_000
PER_SYMBOL_LENGTHS = 64  # lengths --rank per-symbol searches (one exact search each: ~0.3 s each on the English default model)
FIRST_CHUNK = 1 << 14  # names in the first block ``chunks`` draws (each next one twice as many)
MAX_NAMES = 1 << 32  # names in one run (hours of drawing; memory is bounded by CHUNK, not by this)
LEARN_SHARE = 1 << 16  # walks after which a request asks for as many as the share kept says
WALK_LIMIT = 20_000  # walks a request may still need, at the share kept, before the exact plans draw the rest
WALK_STATES = 64  # constraint states up to which a constraint other than length is met by walking first
CROWDED_WALK_LIMIT = 300_000  # ... or this many, for a constraint of more states whose plan is crowded
CROWDED_FIRST_WALKS = 10_000  # walks of a crowded question that keep none before its plan is counted
FEWEST_FIRST_WALKS = 200  # ... however packed its product
UNWALKED = 2 * PACKED  # crowded this many times past the budget: counted at once, never walked
NARROW_WALK_LIMIT = 2_000  # ... while the names still wanted need at most this many walks at the share kept
ASK_KEPT = 16  # names kept before a request's rounds ask for walks by the share kept
NO_PROGRESS_ROUNDS = 30  # novel-only / unique: rounds without one new name before giving up


@dataclass
class Generation:
    """What ``generate`` returns: the names and how much of the model's mass the constraint holds."""

    names: list[str]
    sampler: "Sampler"
    rejected: int = 0  # draws left out by --novel-only / --unique

    @property
    def mass(self) -> float:
        """The model's probability of the constraint set (before temperature; novelty not counted),
        computed on first use (the length-only fast path does not need it to draw)."""
        return self.sampler.mass

    @property
    def description(self) -> str:
        return self.sampler.description

    def summary(self) -> dict:
        return {"names": len(self.names), "constraint": self.description, "probability": self.mass,
                "rejected_draws": self.rejected}


class Sampler:
    """Exact constrained sampling from any model of the protocol: ``mass``, then ``chunks(n, seed)``.

    A whole-name mixture draws each name's component with probability wᵢ Zᵢ / Σ wᵢ Zᵢ (Zᵢ: the
    constraint's mass under component i, a right-to-left component seeing the reversed DFA), then
    the name from that component. A model without <unk>, with only length constraints and no
    temperature / top-k / top-p, draws with the fast walk and rejects the names it would cut or
    that are too short (exact: the walk gives every complete name its probability)."""

    def __init__(self, model, constraints=None, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, progress=None, budget: Budget | None = None, searched: bool = False):
        """``progress``: a tqdm-like factory ``progress(total=, desc=)`` for the stages of exact
        constrained generation (the reachable product, its tables), or None. ``budget``: the
        cells its plans count, shared with other samplers of one question (``_by_symbol``'s one
        a length), else its own; ``searched``: its plans only search (``make_plan``)."""
        c = constraints if constraints is not None else Constraints()
        self.progress = progress
        check_shaping(temperature, top_k, top_p)
        self.model, self.constraints = model, c
        self.shaping = (temperature, top_k, top_p)
        self.shaped = temperature != 1.0 or top_k is not None or top_p is not None
        self.dfa = dfa = c.dfa(model.vocabulary)
        # (weight, model, reverse, dfa); a right-to-left component's automaton (``dfa_of``) is built
        # when its plan is first needed: a question the left-to-right side refuses costs no reversal
        self.parts = [(float(weight), component, bool(reverse), None if reverse else dfa)
                      for weight, component, reverse in name_components(model) if weight > 0]
        self._plans: dict[int, Plan] = {}
        self._budget = budget if budget is not None else Budget()  # (the cells every component's plan counts, together)
        self._searched = searched
        self._walkers: dict = {}  # the fast walk's automaton per component
        self._slow: set[int] = set()  # components whose walk rejected too much: the exact path
        self._tables_ready = False  # every plan's tables made (``_tables_made``)
        self.description = c.describe()
        self.rejected = 0
        self._walked, self._valid = 0, 0  # walks so far and those the constraints kept
        self._crowded: bool | None = None  # (``_crowded_first``, once asked)
        self._requested = 0  # names the current request asks for (``_start``)

    def _ask(self, need: int) -> int:
        """How many walks should give ``need`` names that meet the constraints: at first an
        eighth more; while few have been kept, four times the walks so far; once many have been
        walked, as many as the share kept so far says plus a margin of a few standard deviations
        (a round that falls short asks again for the rest, and walks past what is needed are
        wasted)."""
        if not self._walked and self._crowded and self.dfa.n_states > WALK_STATES:
            # (a crowded question, walked because its plan could be past the budget: the walks
            # that tell whether it can be walked, at once; an order mixture makes the rows they
            # reach in a few large batches, where rounds growing from a few names took 3x longer)
            return max(need + need // 8 + 16, self._first_walks())
        if 0 < self._walked and (self._walked < LEARN_SHARE and self._valid < ASK_KEPT or not self._valid):
            # (few kept so far: the share is not known yet, and asking for an eighth more each
            # round would take hundreds of rounds at a share of 1%; four times the walks so far;
            # none kept of many: as many as a round may hold, not a few at a time)
            return min(max(need + need // 8 + 16, 4 * self._walked), WALK_LIMIT)
        if self._walked < LEARN_SHARE or not self._valid:
            return need + need // 8 + 16
        share = self._valid / self._walked
        return int(need / share + 4 * math.sqrt(need / share)) + 16

    def _walks_too_many(self, kept: int, walked: int, left: int) -> bool:
        """Whether the exact plans should draw the ``left`` names still wanted, after a round of
        ``walked`` walks kept ``kept``: when more than a third were rejected and the rest would
        take more than ``WALK_LIMIT`` walks at the share kept so far, for lengths alone, or
        ``NARROW_WALK_LIMIT`` for any other constraint (walks are cheap, a plan costs the
        reachable product: 20 names of at least 8 characters from the English default model took
        4.6 s by its plans, a few hundred walks by rejection)."""
        if kept >= walked * 2 // 3 or left <= 0:
            return False
        if self.constraints.is_length_only():
            share = self._valid / self._walked if self._walked else kept / max(walked, 1)
            return share <= 0 or left / share > WALK_LIMIT
        # A walk that reaches new states makes their draw tables (about 80 us a walk on modified KN
        # order 6 of the English names), so a narrow constraint is left to the plans soon: the
        # walks still needed are judged at a share a little above the one seen (none kept of 38
        # walks may well be a share of 1%, which two thousand walks meet; none of 190 is not).
        kept_so_far, walked_so_far = (self._valid, self._walked) if self._walked else (kept, max(walked, 1))
        if self.dfa.n_states > WALK_STATES:
            # A crowded question (``_crowded_first``) whose plan could take seconds to count and
            # then refuse: walks go on while they keep names at a share that needs at most
            # CROWDED_WALK_LIMIT more; none kept of its first round (``_first_walks``: a share
            # under about 1/10,000), its plan is counted, and most likely refused.
            if not kept_so_far:
                return walked_so_far >= self._first_walks()
            return left * walked_so_far > CROWDED_WALK_LIMIT * kept_so_far
        return left * walked_so_far > NARROW_WALK_LIMIT * (2 * kept_so_far + 1)

    def names_possible(self) -> float:
        """How many distinct names meet the constraints (characters the model can write, lengths
        within the bounds), counted on the constraint's automaton: at most what --unique can give."""
        # (read forwards whatever the components' direction: a reversal maps the names of each
        # length one to one)
        dfa, c, V = self.dfa, self.constraints, self.model.V
        unk = self.model.vocabulary.unk_id
        delta = dfa.delta[:, [x for x in range(1, V) if x != unk]]
        counts = np.zeros(dfa.n_states)
        counts[dfa.start] = 1.0
        total = 0.0
        for t in range(c.max_len + 1):
            if t >= c.min_len:
                total += counts[dfa.accept].sum()
            if t == c.max_len or total > 1e300 or not counts.any():
                break
            counts = np.bincount(delta.ravel(), weights=np.repeat(counts, delta.shape[1]), minlength=dfa.n_states)
            counts[0] = 0.0  # the dead state
        return total

    def dfa_of(self, i: int):
        """Component i's constraint automaton (the reversed one for a right-to-left component)."""
        if self.parts[i][3] is None:
            reversed_dfa = _reversed(self.constraints, self.dfa, self.model.vocabulary)
            self.parts = [(w, m, r, reversed_dfa if r else d) for w, m, r, d in self.parts]
        return self.parts[i][3]

    def plan(self, i: int) -> Plan:
        if i not in self._plans:
            _, component, _, _ = self.parts[i]
            dfa = self.dfa_of(i)
            t, k, p = self.shaping
            self._plans[i] = make_plan(component, dfa, self.constraints.min_len, self.constraints.max_len, t, k, p,
                                       progress=self.progress, budget=self._budget, searched=self._searched)
        return self._plans[i]

    def _tables_made(self) -> None:
        """Every component's plan and its tables (``gen_mass``), or the first refusal. A
        whole-name mixture's components (left to right, right to left) are independent questions
        of about the same size: with two processors the later ones are made beside the first
        (numpy lets go of the interpreter in the array work, most of a plan's time); where the
        first's reachable product could be past the budget (``LazyPlan.crowded``), once it is
        known to fit, so a refusal there stays as quick as alone and never reverses the
        constraints. A later refusal is raised once the first is made."""
        if self._tables_ready:
            return
        first = self.plan(0)
        rest = list(range(1, len(self.parts)))
        alone = len({id(component) for _, component, *_ in self.parts}) == len(self.parts)  # (no shared views)
        if not rest or not alone or _processors() < 2 or not isinstance(first, LazyPlan):
            for i in range(len(self.parts)):
                self.plan(i).gen_mass
        else:
            if first.crowded():
                first.check()
            side_by_side(lambda i: self.plan(i).gen_mass, [(i,) for i in range(len(self.parts))])
        self._tables_ready = True

    def _fast(self, i: int) -> bool:
        """Whether component i's names are drawn by the plain walk with exact rejection of those
        the constraints leave out (the model restricted to the valid names, exactly, with no
        constraint mass): lengths alone, a constraint automaton of few states (one of many is
        narrow) or a crowded question (``_crowded_first``: walks may find its names where its
        product could be past the budget), no <unk> (the walk leaves <unk> out step by step, which is not conditioning on
        names without it). Temperature / top-k / top-p reshape each step's row as the plans'
        generation rows do (<unk> left out first, a row with nothing left ending the name), so the
        walk draws from those rows and rejecting the invalid names conditions them exactly; with
        <unk> in the vocabulary, where the walk would draw it from the reshaped row and reject,
        the plans draw instead (<unk> is left out before the reshaping)."""
        c, component = self.constraints, self.parts[i][1]
        # (the walker, made for a model that has none yet, asked last: a constraint of many states
        # never walks, and its refusal should not wait for one)
        return (i not in self._slow and not (self.shaped and component.vocabulary.unk_id is not None)
                and (c.is_length_only() or self.dfa.n_states <= WALK_STATES or self._crowded_first())
                and SEQUENTIAL not in component.capabilities  # (no automaton to walk: its plan draws)
                and self._walker(i) is not None)

    def _crowded_first(self) -> bool:
        """Whether the first component's plan is crowded (``LazyPlan.crowded``): its product
        could be past the budget, so counting it could take seconds to refuse, while walks cost
        the same whatever the constraint states (eight one-letter --contains on the English
        default model, whose walks keep 1 in 2,000; asked of the first component alone: a
        right-to-left one would reverse the constraints first). One packed ``UNWALKED`` times past
        the budget (ten one-letter --contains: 1,025 constraint states) is counted at once: a share
        the few walks it would get do not meet, and a count that refuses it in a second."""
        if self._crowded is None:
            first = self.plan(0)
            self._crowded = isinstance(first, LazyPlan) and first.crowded() and not first.crowded(UNWALKED)
        return self._crowded

    def _first_walks(self) -> int:
        """The walks a crowded question gets before, keeping none, its plan is counted:
        ``CROWDED_FIRST_WALKS``, fewer in proportion where its constraint states pack the product
        more than ``PACKED`` times past the budget (the more states, the smaller the share walks
        keep, and the sooner a count refuses it: nine one-letter --contains on the English default
        model get 6,800 walks, fourteen 210), at least ``FEWEST_FIRST_WALKS``."""
        first = self.plan(0)
        if not isinstance(first, LazyPlan):  # (only a lazy plan is ever crowded: walked as such)
            return CROWDED_FIRST_WALKS
        return max(int(CROWDED_FIRST_WALKS * min(1.0, PACKED / first.crowding())), FEWEST_FIRST_WALKS)

    def _walker(self, i: int):
        """Component i's walk, or None where a walk cannot be exact: with <unk> in the vocabulary
        the names are walked with <unk> drawn and those holding it rejected (the model conditioned
        on names without it, exactly), which only the lazy view can do."""
        if i not in self._walkers:
            from ngram.generation.walk import walker

            component = self.parts[i][1]
            if SEQUENTIAL in component.capabilities:
                self._walkers[i] = None
            elif component.vocabulary.unk_id is None:
                self._walkers[i] = walker(component)
            else:
                auto = walker(component, mask_unk=False)
                self._walkers[i] = auto if isinstance(auto, View) else None
        return self._walkers[i]

    @property
    def mass(self) -> float:
        if not self.shaped:
            self._tables_made()  # (unshaped, a plan's mass is its generation mass: made side by side)
        return float(sum(w * self.plan(i).mass for i, (w, *_) in enumerate(self.parts)))

    def crowded(self) -> bool:
        """Whether a component's constraint states could carry its reachable product far past
        the plans' budget (``LazyPlan.crowded``): its exact mass would be costly, if possible."""
        return any(isinstance(self.plan(i), LazyPlan) and self.plan(i).crowded() for i in range(len(self.parts)))

    def walk_estimate(self) -> tuple[float, float] | None:
        """The constraint's mass estimated from this request's walks, and its standard error: each
        walk a draw from the model (a component by its weight), the share that met the
        constraints a binomial proportion; None before any walk, or once the exact plans'
        tables are made (their mass is then at hand)."""
        if not self._walked or self._tables_ready:
            return None
        share = self._valid / self._walked
        return share, math.sqrt(share * (1.0 - share) / self._walked)

    @property
    def mass_error(self) -> float | None:
        """The standard error of ``mass`` where a component's mass is estimated by drawing (a model
        with no finite state, ``ngram.generation.rejection``); None where it is exact."""
        errors = [w * self.plan(i).mass_error for i, (w, component, *_) in enumerate(self.parts)
                  if SEQUENTIAL in component.capabilities]
        return math.sqrt(sum(e * e for e in errors)) if errors else None

    def _component_weights(self) -> np.ndarray:
        if len(self.parts) == 1:
            return np.ones(1)  # (its draw checks the mass when it needs the tables)
        gen = np.array([w * self.plan(i).gen_mass for i, (w, *_) in enumerate(self.parts)])
        if not gen.sum() > MIN_MASS:
            self._refuse()
        return gen / gen.sum()

    def _refuse(self):
        if not self.mass > 0:
            # A mass of 0 is either no valid name or valid names whose probabilities underflow
            # float64 (a forced name of a few hundred characters or more); the max tables hold
            # ln p, so they tell the two apart.
            known = True  # (a plan without max tables cannot tell)
            for i in range(len(self.parts)):  # (one component with such a name is enough to tell)
                best = self.plan(i).best_logp()
                if best is not None and best > -np.inf:
                    raise NgramError(f"the names that meet the constraints are too improbable to draw "
                                     f"({self.description}): their probability is below float64's smallest number "
                                     f"(the most probable has ln p {best:,.1f} under a component); `ngram top` lists them")
                known &= best is not None
            if known:
                raise NgramError(f"no name the model can make meets the constraints ({self.description})")
            raise NgramError(f"no name meets the constraints with a probability float64 can hold ({self.description})")
        if self.shaped:
            raise NgramError(f"after temperature / top-k / top-p no name meets the constraints ({self.description}: "
                             f"{percent_of_mass(self.mass)} of the model's own mass)")
        raise NgramError(f"the constraints leave too little mass to sample from ({self.description}: "
                         f"{percent_of_mass(self.mass)} of the model's mass)")

    def _draw(self, m: int, rng: np.random.Generator) -> list[str]:
        """``m`` names of the restricted model. Where every component walks (``_fast``): a component
        by its weight, a name by its walk, names the length bounds leave out rejected, which is
        exact for the mixture restricted to the valid names and needs no constraint mass; the
        exact plans take over (for the names still missing) once more than a third are rejected."""
        names: list[str] = []
        weights = np.array([w for w, *_ in self.parts])
        weights /= weights.sum()
        while len(names) < m and all(self._fast(i) for i in range(len(self.parts))):
            need = m - len(names)
            ask = self._ask(need)
            drawn: list[str] = []
            for i, k in enumerate(rng.multinomial(ask, weights) if len(self.parts) > 1 else [ask]):
                if k:
                    drawn += self._walk_kept(i, int(k), rng)
            if self._walks_too_many(len(drawn), ask, need - len(drawn)):
                self._slow.update(range(len(self.parts)))
            if len(self.parts) > 1:
                drawn = [drawn[j] for j in rng.permutation(len(drawn))]
            names += drawn[:need]
        if len(names) < m:
            self._tables_made()  # (every plan's tables at once, side by side where they can be)
            counts = rng.multinomial(m - len(names), self._component_weights())
            exact: list[str] = []
            for i, k in enumerate(counts):
                if k:
                    exact += self._draw_exact(i, int(k), rng)
            if len(self.parts) > 1:
                exact = [exact[j] for j in rng.permutation(len(exact))]
            names += exact
        return names

    def _draw_exact(self, i: int, m: int, rng: np.random.Generator) -> list[str]:
        from ngram.generation.walk import decode

        _, component, reverse, _ = self.parts[i]
        plan = self.plan(i)
        if not plan.gen_mass > MIN_MASS:
            self._refuse()
        names = decode(plan.draw(m, rng), component)
        return [x[::-1] for x in names] if reverse else names

    def _walk_kept(self, i: int, k: int, rng: np.random.Generator) -> list[str]:
        """The names among ``k`` walks of component i that meet the constraints (as read left to
        right)."""
        names = self._walk_text(i, k, rng, k)[0].split("\n")[:-1]
        return [x[::-1] for x in names] if self.parts[i][2] else names

    def _walk_text(self, i: int, k: int, rng: np.random.Generator, need: int) -> tuple[str, int, int]:
        """The first ``need`` of the names among ``k`` walks of component i that meet the
        constraints (as walked), each followed by a newline, as one text; how many it holds; and
        how many met them."""
        from ngram.generation.walk import decode_text, walk_text

        c, component = self.constraints, self.parts[i][1]
        # (straight to text where lengths alone are checked; any other constraint reads the ids)
        written = (walk_text(component, k, rng, c.max_len + 1, self._walker(i), expected=self._requested)
                   if c.is_length_only() and not self.shaped else None)
        if written is None:
            ids, length = self._walk_valid(i, k, rng)
            return decode_text(ids[:need], component, length[:need]), min(need, len(ids)), len(ids)
        text, length, held = written
        keep = self._count_valid(length, held)
        if not keep.all():
            text, length = text[np.repeat(keep, length + 1)], length[keep]
        m = min(need, len(length))
        return text[: int(np.sum(length[:m] + 1))].tobytes().decode("ascii"), m, len(length)

    def _walk_valid(self, i: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the names among ``k`` walks of component i that meet the constraints, and
        their lengths."""
        from ngram.generation.walk import walk_lengths

        c, component = self.constraints, self.parts[i][1]
        if not c.is_length_only() and LEVELS not in component.capabilities:
            # An order mixture's rows mixed a context at a time cost about a millisecond a batch
            # for each of its components: tables made whole first (once a model, and what its plans
            # would make anyway) make a walk of a few hundred names a few tens of milliseconds.
            self._walker(i).expect_many_rows()
        # (a name cut at max-len + 1 has no end symbol: too long)
        t, top_k, top_p = self.shaping
        ids, length = walk_lengths(component, k, seed=rng, temperature=t, top_k=top_k, top_p=top_p, min_len=0,
                                   max_len=c.max_len + 1, automaton=self._walker(i))
        unk = component.vocabulary.unk_id
        keep = self._count_valid(length, None if unk is None else (ids == unk).any(axis=1), ids, self.parts[i][2])
        return (ids, length) if keep.all() else (ids[keep], length[keep])

    def _count_valid(self, length: np.ndarray, held: np.ndarray | None, ids: np.ndarray | None = None,
                     reverse: bool = False) -> np.ndarray:
        """Which walks meet the constraints (the length bounds, and, from their ``ids``, read right
        to left where ``reverse``, the constraint automaton) and hold no <unk> (``held``), counted
        for ``_ask``."""
        c = self.constraints
        keep = (length >= c.min_len) & (length <= c.max_len)
        if held is not None:
            keep &= ~held
        if ids is not None and not c.is_length_only():
            keep &= self.dfa.accepts(ids, length, reverse)
        self._walked += len(length)
        self._valid += int(keep.sum())
        return keep

    def text_chunks(self, n: int, seed=None, chunk: int = CHUNK):
        """The names of ``chunks`` (the same, for the same seed) as (text, count) blocks, each name
        followed by a newline: a single left-to-right model walked without --novel-only or
        --unique goes from symbol ids to text without a string per name."""
        c = self.constraints
        if len(self.parts) > 1 or self.parts[0][2] or c.novel_only or c.unique or not self._fast(0):
            for part in self.chunks(n, seed, chunk):
                yield "".join([x + "\n" for x in part]), len(part)
            return
        self._start(n, seed)
        rng = np.random.default_rng(seed)
        left = n
        while left > 0:
            need = m = min(chunk, left)
            texts = []
            while need and self._fast(0):  # as ``_draw`` draws
                ask = self._ask(need)
                text, got, valid = self._walk_text(0, ask, rng, need)
                if self._walks_too_many(valid, ask, need - got):
                    self._slow.add(0)
                texts.append(text)
                need -= got
            if need:
                texts.append("".join([x + "\n" for x in self._draw(need, rng)]))
            left -= m
            yield "".join(texts), m

    def _start(self, n: int, seed) -> None:
        """The checks of a request for ``n`` names (its random generator is made once the request
        is known to be answerable: numpy.random's import is a tenth of a refused request's time)."""
        if n < 0:
            raise NgramError(f"number of samples must be 0 or more, got {n}")
        if n > MAX_NAMES:
            raise NgramError(f"{n} names is too much for one run (at most {MAX_NAMES:,}); sample in several runs "
                             "with different seeds")
        if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
            raise NgramError(f"seed must be a whole number 0 or more, got {seed!r}")
        self.rejected = 0
        self._walked, self._valid = 0, 0  # (each request on its own: a seed draws the same names every time)
        self._requested = n  # (its blocks walk the whole table where the request is large enough for it)

    def chunks(self, n: int, seed=None, chunk: int = CHUNK):
        """``n`` names, a list of at most ``chunk`` at a time (reproducible for a seed)."""
        self._start(n, seed)
        c = self.constraints
        novel = c.novel_only
        if novel and (self.model.train_names is None or len(self.model.train_names) == 0):
            raise NgramError("--novel-only: this model does not record its training names (e.g. imported from ARPA)")
        seen: set[str] | None = set() if c.unique else None
        if seen is not None and n:
            possible = self.names_possible()
            if n > possible:
                raise NgramError(f"--unique: found only {possible:,.0f} distinct names that can meet the constraints "
                                 f"({self.description}), fewer than the {n:,} asked for")
        if n and not all(self._fast(i) for i in range(len(self.parts))):
            self._tables_made()  # every exact plan's tables (or its refusal) before any draw
        rng = np.random.default_rng(seed)
        left, stalled = n, 0
        # (the first blocks small, then twice as many each time up to ``chunk``: the first names
        # are written in a fraction of a second, and a reader that stops after a few, like
        # ``head``, ends the run there, where a first block of CHUNK names took 3.5 s on a
        # whole-name mixture)
        size = min(FIRST_CHUNK, chunk)
        while left > 0:
            names = self._draw(min(size, left), rng)
            size = min(2 * size, chunk)
            kept = names
            if novel:
                _, new = novelty(self.model, names)
                kept = [x for x, ok in zip(names, new) if ok]
            if seen is not None:
                fresh = []
                for x in kept:
                    if x not in seen:
                        seen.add(x)
                        fresh.append(x)
                kept = fresh
            self.rejected += len(names) - len(kept)
            stalled = 0 if kept else stalled + 1
            if stalled >= NO_PROGRESS_ROUNDS:
                what = "new" if novel and seen is None else ("distinct" if not novel else "new distinct")
                raise NgramError(f"found only {n - left} {what} names of the {n} asked for: the constraints leave "
                                 f"too few ({self.description})")
            kept = kept[:left]
            left -= len(kept)
            if kept:
                yield kept

    def generate(self, n: int, seed=None) -> Generation:
        names: list[str] = []
        for part in self.chunks(n, seed):
            names += part
        return Generation(names=names, sampler=self, rejected=self.rejected)

    def top(self, k: int, rank: str = "probability") -> list[tuple[str, float]]:
        """The ``k`` most probable valid names (ln p under the model), most probable first."""
        return list(self.iter_top(k, rank))

    def iter_top(self, k: int, rank: str = "probability"):
        """``top`` as a stream: (name, ln p), best first, each as soon as it is known to be next.
        ``rank``: "probability" (the most probable names, which favours short ones) or
        "per-symbol" (the lowest NLL per symbol, end included: ln p / (length + 1)). The request is
        checked here, before the first name is asked for (a caller may print a header first)."""
        if k < 0:
            raise NgramError(f"number of names must be 0 or more, got {k}")
        if k > MAX_TOP:
            raise NgramError(f"top lists at most {MAX_TOP:,} names (asked for {k:,}): past that the search's frontier "
                             "outgrows memory; draw names with ngram sample instead")
        if rank not in RANKS:
            raise NgramError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")
        novel = self.constraints.novel_only
        if novel and (self.model.train_names is None or len(self.model.train_names) == 0):
            raise NgramError("--novel-only: this model does not record its training names (e.g. imported from ARPA)")
        stream = self._by_probability() if rank == "probability" else self._by_symbol()
        return self._at_least_one((item for _, item in zip(range(k), stream)), k > 0)

    def _at_least_one(self, items, wanted: bool):
        """``items``, or, when names were wanted and none meets the constraints (the model gives
        them no probability), the one-line error ``sample`` gives."""
        found = False
        for item in items:
            found = True
            yield item
        if wanted and not found:
            novel = " and is not a training name" if self.constraints.novel_only else ""
            raise NgramError(f"no name the model can make meets the constraints{novel} ({self.description})")

    def _best(self, i: int):
        """Component i's best-first stream, its plan (and automaton) made only once it is read."""
        yield from self.plan(i).best()

    def _by_symbol(self):
        """Names by NLL per symbol: one probability-ordered stream per length (within a length the
        orders agree), merged by ln p / (length + 1)."""
        import dataclasses
        import heapq

        from ngram.lm.backoff.automaton import AT_LEAST, length_bounds

        c = self.constraints
        # (from the fewest characters the constraints need: a shorter length's constraints
        # would be refused, e.g. a suffix longer than the length)
        first = max(c.min_len, int(self.dfa.remaining()[self.dfa.start]))
        if c.max_len - first + 1 > PER_SYMBOL_LENGTHS:
            raise NgramError(f"--rank per-symbol searches each length on its own, at most {PER_SYMBOL_LENGTHS} of them; "
                             f"asked for lengths {first:,} to {c.max_len:,}: give --min-len and --max-len closer together")
        if c.max_len > AT_LEAST:
            # (each length's search bounds its completions by their exact number of characters,
            # made once here for all of them: stored bounds stop at AT_LEAST characters)
            for _, component, _, _ in self.parts:
                if searches_lazily(component):
                    length_bounds(component, c.max_len, progress=self._counter("bounding each length's completions"))
        streams, heap = {}, []
        for length in range(first, c.max_len + 1):
            one = dataclasses.replace(c, min_len=length, max_len=length)
            # (one budget for every length: their streams are merged, so their plans are held at
            # once; each only searches, with the exact-length bounds made above: the dense tables
            # of lengths alone, one set a length, took 10 GB past 120 s on the word-list model)
            streams[length] = Sampler(self.model, one, progress=self.progress, budget=self._budget,
                                      searched=True)._by_probability()
            item = next(streams[length], None)
            if item is not None:
                heap.append((-item[1] / (length + 1), length, item))
        heapq.heapify(heap)
        while heap:
            _, length, item = heapq.heappop(heap)
            yield item
            after = next(streams[length], None)
            if after is not None:
                heapq.heappush(heap, (-after[1] / (length + 1), length, after))

    def _counter(self, stage: str):
        """``start(total) -> advance(steps)`` on this sampler's bars (``progress``), or None."""
        if self.progress is None:
            return None

        def start(total: int):
            bar = self.progress(total=total, desc=stage)
            done = [0]

            def advance(steps: int) -> None:
                bar.update(steps)
                done[0] += steps
                if done[0] >= total:
                    bar.close()
            return advance
        return start

    def _by_probability(self):
        novel = self.constraints.novel_only
        streams = [_named(self._best(i), component, reverse, self.model if novel else None)
                   for i, (_, component, reverse, _) in enumerate(self.parts)]
        if len(streams) == 1 and self.parts[0][0] == 1.0:
            yield from streams[0]
            return
        # Threshold algorithm over the components' best-first streams: a name none of them has
        # yielded yet has pᵢ <= (the last pᵢ stream i yielded) for every i, so its mixture
        # probability is at most Σᵢ wᵢ lastᵢ; a found name (scored exactly under the mixture) at
        # or above that bound is the next one.
        import heapq

        weights = np.array([w for w, *_ in self.parts])
        last = np.ones(len(streams))
        done = np.zeros(len(streams), bool)
        seen: set[str] = set()
        pending: list = []  # (-ln p, name) of the names found and not yet given
        rounds = 0
        while True:
            new = []
            # Names are scored under the mixture a round at a time, and scoring a few names costs
            # about what scoring a few dozen does: each round takes more of every stream (doubling
            # up to TOP_ROUND), so a long list is scored in a few dozen calls, not one a name.
            take = min(1 << rounds, TOP_ROUND)
            rounds += 1
            for i, stream in enumerate(streams):
                for _ in range(take):
                    if done[i]:
                        break
                    item = next(stream, None)
                    if item is None:
                        done[i], last[i] = True, 0.0
                        break
                    name, logp = item
                    last[i] = math.exp(logp)
                    if name not in seen:
                        seen.add(name)
                        new.append(name)
            if new:
                for name, logp in zip(new, self.model.score(new)[0]):
                    heapq.heappush(pending, (-float(logp), name))
            bound = float(weights @ last)
            while pending and (done.all() or math.exp(-pending[0][0]) >= bound):
                negative, name = heapq.heappop(pending)
                yield name, -negative
            if done.all() and not pending:
                return


TOP_ROUND = 16  # names taken from each component's stream per round of a mixture's top, at most


def _named(stream, component, reverse: bool, novel_model):
    """(name as read left to right, ln p) from a plan's (ids, ln p) stream, training names left out
    when ``novel_model`` is given."""
    chars = component.vocabulary.characters
    for ids, logp in stream:
        name = "".join(chars[i - 1] for i in ids)
        if reverse:
            name = name[::-1]
        if novel_model is not None and not novelty(novel_model, [name])[1][0]:
            continue
        yield name, logp


def _constraints_of(constraints, prefix, suffix, contains, exclude, regex, min_len, max_len, novel_only, unique):
    if constraints is not None:
        return constraints
    return Constraints(min_len=min_len, max_len=max_len, prefix=prefix, suffix=suffix, contains=contains,
                       exclude=exclude, regex=regex, novel_only=novel_only, unique=unique)


def generate(model, n: int = 10, seed=None, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, prefix: str = "", min_len: int = 1, max_len: int = 50, suffix: str = "",
             contains=(), exclude=(), regex: str | None = None, novel_only: bool = False, unique: bool = False,
             constraints=None) -> Generation:
    """``n`` names drawn exactly from the model's distribution restricted to the names meeting every
    constraint (renormalised), with the constraint's mass. Any model kind of the protocol."""
    c = _constraints_of(constraints, prefix, suffix, contains, exclude, regex, min_len, max_len, novel_only, unique)
    return Sampler(model, c, temperature, top_k, top_p).generate(n, seed)


def _reversed(c: Constraints, dfa, vocabulary):
    """The automaton of the names read right to left: the product of the reversed constraints
    (work like the forward one's), or, where that is past the budget, the product itself reversed
    (within its work bound: what the constraints trim together can keep it small)."""
    try:
        return c.reversed_dfa(vocabulary)
    except TooManyStates as error:
        try:
            return dfa.reversed()
        except TooManyStates:
            raise error from None


def sample(model, n: int = 10, seed=None, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, prefix: str = "", min_len: int = 1, max_len: int = 50, **more) -> list[str]:
    """``generate(...).names``: the names only."""
    return generate(model, n, seed, temperature, top_k, top_p, prefix, min_len, max_len, **more).names


def top(model, k: int = 20, prefix: str = "", min_len: int = 1, max_len: int = 50, suffix: str = "",
        contains=(), exclude=(), regex: str | None = None, novel_only: bool = False,
        constraints=None, rank: str = "probability") -> list[tuple[str, float]]:
    """The ``k`` most probable names meeting the constraints, exactly, as (name, ln p) (``rank``
    "per-symbol": the ``k`` with the lowest NLL per symbol)."""
    c = _constraints_of(constraints, prefix, suffix, contains, exclude, regex, min_len, max_len, novel_only, False)
    return Sampler(model, c).top(k, rank)
