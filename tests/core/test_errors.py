"""Messages that name a model by its description read as English."""

from ngram.core.errors import indefinite


def test_a_description_gets_the_article_it_is_said_with():
    assert indefinite("order mixture of 8 models") == "an order mixture of 8 models"
    assert indefinite("add-k model") == "an add-k model"
    assert indefinite("interpolated model") == "an interpolated model"
    assert indefinite("whole-name mixture") == "a whole-name mixture"
    assert indefinite("modified-kneser-ney model") == "a modified-kneser-ney model"
    assert indefinite("unigram model") == "a unigram model"  # (said "a you-", not "an")


def test_export_of_an_order_mixture_says_an(tmp_path, capsys):
    import numpy as np

    from ngram import make_estimator, train
    from ngram.cli import main
    from ngram.formats.native import save
    from ngram.lm.mixtures.models import ContextMixture

    names = ["anna", "bella", "nina", "ella", "bob"] * 3
    mixture = ContextMixture([train(names, 2, make_estimator("witten-bell")), train(names, 3, make_estimator("witten-bell"))],
                             np.full((3, 2), 0.5))
    save(mixture, tmp_path / "m.ngram")
    assert main(["export", str(tmp_path / "m.ngram"), "--arpa", str(tmp_path / "m.arpa")]) == 1
    assert " is an order mixture of 2 " in capsys.readouterr().err
