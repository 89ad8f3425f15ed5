"""Which corpus did a name come from? Bayes rule over one model per corpus.

    posterior(k | name) ∝ prior(k) · p_k(name),     p_k(name) = Π p_k(symbol | context), end included

A name holding a character outside model k's vocabulary has probability 0 under it (the model
never produces that character), unless the model has an ``<unk>`` class, which then scores it.
A name that every model gives probability 0 has no posterior and no prediction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ngram.core.corpus import DEFAULT_MAX_NAME_LENGTH, read_text
from ngram.core.checks import number_list
from ngram.core.errors import NgramError
from ngram.lm.protocol import LanguageModel

NO_LABEL = -1
LABEL_ROOM = 1000  # characters a label may add to a line beyond the longest name
LABELLED = "a labelled file (name<TAB>label per line)"


@dataclass
class Classification:
    labels: list[str]
    names: list[str]
    log_likelihood: np.ndarray  # names × models, ln p_k(name); -inf where impossible
    log_prior: np.ndarray  # models
    posterior: np.ndarray  # names × models; NaN rows where every model gives probability 0
    predicted: np.ndarray  # index into labels, NO_LABEL where there is no posterior

    def predicted_labels(self) -> list[str | None]:
        return [self.labels[i] if i != NO_LABEL else None for i in self.predicted]


@dataclass
class Assessment:
    labels: list[str]
    accuracy: float  # over all labelled names; a name with no prediction counts as wrong
    correct: int
    total: int
    confusion: np.ndarray  # true label (rows) × predicted label (columns), last column = no prediction
    majority_share: float  # accuracy of always guessing the commonest true label: the chance level

    def summary(self) -> dict:
        return {
            "labels": self.labels, "accuracy": self.accuracy, "correct": self.correct, "total": self.total,
            "majority_class_accuracy": self.majority_share,
            "confusion": {t: {**{p: int(self.confusion[i, j]) for j, p in enumerate(self.labels)},
                              "none": int(self.confusion[i, -1])} for i, t in enumerate(self.labels)},
        }


def parse_priors(priors, k: int) -> np.ndarray:
    """Priors as k positive numbers, normalised to sum to 1."""
    if priors is None:
        return np.full(k, 1.0 / k)
    values = np.array(number_list(priors, "priors", "--priors"), dtype=np.float64)
    if len(values) != k:
        raise NgramError(f"{len(values)} priors for {k} models; give one prior per model")
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise NgramError(f"priors must be positive finite numbers, got {values.tolist()}")
    return values / values.sum()


def name_log_likelihood(model: LanguageModel, names: Sequence[str]) -> np.ndarray:
    """ln p(name) under ``model`` for every name; -inf for names it cannot produce."""
    out = np.full(len(names), -np.inf)
    if model.vocabulary.unk:
        out[:] = model.score(names, unknown="unk")[0]
        return out
    known = set(model.vocabulary.characters)
    # One set test per name (not per character): a name the model cannot spell gets -inf.
    ok = np.array([set(name) <= known for name in names], dtype=bool)
    if ok.any():
        out[ok] = model.score([n for n, good in zip(names, ok) if good])[0]
    return out


def classify(models: Sequence[LanguageModel], names: Sequence[str], priors=None, labels: Sequence[str] | None = None) -> Classification:
    """The most likely source model for every name, with its posterior probability."""
    if len(models) < 2:
        raise NgramError(f"classifying needs at least two models, got {len(models)}")
    if labels is None:
        labels = [Path(str(m.corpus.get("source") or "")).stem for m in models]
        if len(set(labels)) != len(labels) or not all(labels):  # e.g. trained from lists, "<names>"
            labels = [f"model{i}" for i in range(1, len(models) + 1)]
    labels = [str(x) for x in labels]
    if len(labels) != len(models):
        raise NgramError(f"{len(labels)} labels for {len(models)} models; give one label per model")
    if len(set(labels)) != len(labels):
        raise NgramError(f"labels must be different from each other, got {', '.join(labels)}")
    log_prior = np.log(parse_priors(priors, len(models)))
    names = list(names)
    loglik = np.stack([name_log_likelihood(m, names) for m in models], axis=1) if names else np.zeros((0, len(models)))
    joint = loglik + log_prior[None, :]
    top = joint.max(axis=1) if len(names) else np.zeros(0)
    possible = np.isfinite(top)
    posterior = np.full(joint.shape, np.nan)
    shifted = np.exp(joint[possible] - top[possible, None])
    posterior[possible] = shifted / shifted.sum(axis=1, keepdims=True)
    predicted = np.full(len(names), NO_LABEL, dtype=np.int64)
    predicted[possible] = np.argmax(joint[possible], axis=1)
    return Classification(labels=labels, names=names, log_likelihood=loglik, log_prior=log_prior,
                          posterior=posterior, predicted=predicted)


def read_labelled(source: str | os.PathLike, encoding: str = "utf-8",
                  max_name_length: int = DEFAULT_MAX_NAME_LENGTH) -> tuple[list[str], list[str]]:
    """A labelled file: one ``name<TAB>label`` per line (blank lines skipped), read through the
    checked reader of name lists (NUL bytes and the encoding checked block by block, a line past
    ``max_name_length`` plus room for its label refused while it is read)."""
    text, label = read_text(source, encoding, max_line=max_name_length + 1 + LABEL_ROOM, kind=LABELLED)
    names, gold = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        name, sep, tag = line.rpartition("\t")
        if not sep or not tag.strip():
            raise NgramError(f"{label}, line {number}: expected name<TAB>label")
        names.append(name)
        gold.append(tag.strip())
    if not names:
        raise NgramError(f"{label}: no labelled names")
    return names, gold


def assess(result: Classification, gold: Sequence[str], source: str = "labelled data") -> Assessment:
    """Accuracy and confusion matrix of a classification against true labels."""
    index = {name: i for i, name in enumerate(result.labels)}
    unknown = sorted(set(gold) - set(index))
    if unknown:
        raise NgramError(f"{source}: label {unknown[0]!r} is not one of the models' labels ({', '.join(result.labels)}); "
                         "name the models' labels with --labels")
    if len(gold) != len(result.predicted):
        raise NgramError(f"{source}: {len(gold)} labels for {len(result.predicted)} names")
    truth = np.array([index[g] for g in gold], dtype=np.int64)
    K = len(result.labels)
    columns = np.where(result.predicted == NO_LABEL, K, result.predicted)
    confusion = np.zeros((K, K + 1), dtype=np.int64)
    np.add.at(confusion, (truth, columns), 1)
    correct = int(np.trace(confusion[:, :K]))
    total = len(gold)
    return Assessment(labels=list(result.labels), accuracy=correct / total, correct=correct, total=total,
                      confusion=confusion, majority_share=float(np.bincount(truth, minlength=K).max() / total))

