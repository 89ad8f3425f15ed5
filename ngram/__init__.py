"""ngram: character-level n-gram language models for lists of names.

    from ngram import read_names, train, AddK, evaluate
    from ngram.core.corpus import default_corpus_path   # the shipped Italian first names
    names = read_names(default_corpus_path()).names
    model = train(names[::2], order=4, estimator=AddK(k=0.1))   # the blog's model
    print(evaluate(model, names[1::2], unknown="skip").nll)   # nats per symbol on the held-out half
    best = train(names[::2])   # `ngram train`'s default: the model `ngram tune` would choose
"""

from ngram.core import __version__
from ngram.core.corpus import Corpus, read_names
from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from ngram.estimators import MLE, AddK, Estimator, make_estimator
from ngram.evaluation.classifier import classify
from ngram.evaluation.metrics import evaluate
from ngram.lm.backoff.model import Level, Model
from ngram.lm.protocol import LanguageModel
from ngram.training.trainer import train

__all__ = [
    "AddK", "MLE", "Corpus", "Estimator", "LanguageModel", "Level", "Model", "NgramError", "Vocabulary",
    "classify", "evaluate", "make_estimator", "read_names", "train",
]
