"""ngram: character-level n-gram language models for lists of names.

    from ngram import read_names, train, AddK, evaluate
    from ngram.core.corpus import default_corpus_path   # the shipped Italian first names
    names = read_names(default_corpus_path()).names
    model = train(names[::2], order=4, estimator=AddK(k=0.1))   # the blog's model
    print(evaluate(model, names[1::2], unknown="skip").nll)   # nats per symbol on the held-out half
    best = train(names[::2])   # `ngram train`'s default: the model `ngram tune` would choose
"""

from ngram.core import __version__

# The names below load on first use (PEP 562): the command line imports this package for every
# verb, and `ngram sample` or `evaluate` should not pay for training, estimators or Dask.
_WHERE = {
    "Corpus": "ngram.core.corpus", "read_names": "ngram.core.corpus", "NgramError": "ngram.core.errors",
    "Vocabulary": "ngram.core.vocabulary", "MLE": "ngram.estimators", "AddK": "ngram.estimators",
    "Estimator": "ngram.estimators", "make_estimator": "ngram.estimators", "classify": "ngram.evaluation.classifier",
    "evaluate": "ngram.evaluation.metrics", "Level": "ngram.lm.backoff.model", "Model": "ngram.lm.backoff.model",
    "LanguageModel": "ngram.lm.protocol", "train": "ngram.training.trainer",
}

__all__ = [
    "AddK", "MLE", "Corpus", "Estimator", "LanguageModel", "Level", "Model", "NgramError", "Vocabulary",
    "classify", "evaluate", "make_estimator", "read_names", "train",
]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'ngram' has no attribute {name!r}")
    import importlib

    value = vars(importlib.import_module(_WHERE[name]))[name]
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
