"""Sampling names, many at once: the names every caller imports, from the modules that do each job.

``walk`` (the plain vectorised walk), ``sparse_draw`` (draws without whole rows, for huge
vocabularies), ``shaping`` (temperature, top-k, top-p), ``novelty``, ``plans`` (exact constrained
generation), ``search`` (best-first top names) and ``sampler`` (the ``Sampler``/``sample``/``top``
façade).
"""

from __future__ import annotations

from ngram.generation.novelty import Novelty, novelty
from ngram.generation.plans import Plan, SparsePlan, make_plan
from ngram.generation.sampler import Generation, Sampler, generate, sample, top
from ngram.generation.shaping import adjust_rows, check_sampling_settings, check_shaping
from ngram.generation.sparse_draw import SparseAutomaton
from ngram.generation.walk import sample_walk
from ngram.lm.backoff.automaton import build_automaton

__all__ = ["Generation", "Novelty", "Plan", "Sampler", "SparseAutomaton", "SparsePlan", "adjust_rows", "build_automaton",
           "check_sampling_settings", "check_shaping", "generate", "make_plan", "novelty", "sample", "sample_walk",
           "top"]
