"""ngram: character-level n-gram language models for lists of names.

    from ngram import read_names, train, AddK, evaluate
    model = train(read_names("train.txt").names, order=4, estimator=AddK(k=0.1))
    print(evaluate(model, read_names("test.txt").names).nll)   # nats per symbol
"""

from .classifier import classify
from .corpus import Corpus, read_names
from .errors import NgramError
from .estimators import MLE, AddK, Estimator, make_estimator
from .model import Level, Model
from .training import train
from .vocabulary import Vocabulary

__all__ = [
    "AddK", "MLE", "Corpus", "Estimator", "Level", "Model", "NgramError", "Vocabulary",
    "classify", "make_estimator", "read_names", "train",
]
__version__ = "0.1.0"
