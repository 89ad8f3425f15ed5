"""Models read from files must be language models: every next-symbol distribution sums to 1."""

import numpy as np
import pytest

from conftest import TINY
from ngram import NgramError, train
from ngram.estimators import make_estimator
from ngram.formats.validate import check_distributions

VARIANTS = [("mle", {}), ("add-k", {}), ("witten-bell", {}), ("kneser-ney", {"backoff": True}),
            ("modified-kneser-ney", {}), ("modified-kneser-ney", {"backoff": True}), ("jelinek-mercer", {"backoff": True})]


@pytest.mark.parametrize("name, settings", VARIANTS)
def test_every_estimator_passes(name, settings):
    check_distributions(train(TINY, 4, make_estimator(name, **settings), unk=True), "m")


def test_a_back_off_weight_that_breaks_a_row_is_named():
    model = train(TINY, 3, make_estimator("kneser-ney"))
    ids = model.vocabulary.encode_context("an")
    index = int(np.flatnonzero(model.levels[1].keys == ids[0] * model.V + ids[1])[0])
    model.levels[1].bow[index] += 1.0
    with pytest.raises(NgramError, match=r"m: the probabilities after 'an' sum to [0-9.]+, not 1 \(1 such contexts of length 2\)"):
        check_distributions(model, "m")


def test_unigrams_that_do_not_sum_to_one_are_refused():
    model = train(TINY, 2, make_estimator("add-k"))
    model.levels[0].logp[1] += 0.5
    with pytest.raises(NgramError, match="unigram probabilities sum to"):
        check_distributions(model, "m")
