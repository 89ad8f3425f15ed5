"""Every model kind answers the one protocol (ngram.lm.protocol.LanguageModel), checked against
brute force from the definitions; refusals are one line naming the verb."""

import ast
from pathlib import Path

import numpy as np
import pytest

import ngram
from ngram import NgramError, Vocabulary, make_estimator, read_names, train
from ngram.lm.base import NameModel
from ngram.core.corpus import default_corpus_path
from ngram.evaluation.metrics import evaluate, explain
from ngram.lm.mixtures.linear import compile_mixture, em_weights, mix, mixture_logprobs
from ngram.lm.mixtures.models import ContextMixture, NameMixture
from ngram.lm.protocol import BOUNDED_CONTEXT, LEVELS, NEXT_SYMBOL, LanguageModel, require
from ngram.lm.backoff.pruning import prune_by_entropy


@pytest.fixture(scope="module")
def names():
    everything = read_names(default_corpus_path()).names
    order = np.random.default_rng(0).permutation(len(everything))
    return [everything[i] for i in order]


@pytest.fixture(scope="module")
def kinds(names):
    """One model of every kind, all over one vocabulary."""
    fit = names[:1200]
    vocabulary = Vocabulary.from_names(fit)
    kn = make_estimator("kneser-ney")
    low, high = (train(fit, order=n, estimator=kn, vocabulary=vocabulary) for n in (2, 4))
    backward = train([n[::-1] for n in fit], order=3, estimator=kn, vocabulary=vocabulary)
    weights = np.random.default_rng(1).dirichlet(np.ones(2), size=4)  # 4 buckets: longest seen context 0..3
    context = ContextMixture([low, high], weights)
    both_ways = NameMixture([context, backward], [False, True], [0.7, 0.3])
    compiled = compile_mixture([low, context], [0.4, 0.6])
    return {"backoff": high, "context": context, "name": both_ways, "compiled": compiled}


def held_out(names, kinds):
    known = set(kinds["backoff"].vocabulary.characters)
    return [n for n in names[1200:1400] if set(n) <= known]


def chain(model, name: str) -> float:
    """ln p(name) as the product of the next-symbol probabilities along it, end included, asked
    one prefix at a time (the definition, not the batched path)."""
    V = model.vocabulary
    total = 0.0
    for i, target in enumerate(list(name) + [None]):
        p = model.probs(name[:i])
        total += np.log(p[0 if target is None else V.characters.index(target) + 1])
    return total


@pytest.mark.parametrize("kind", ["backoff", "context", "name", "compiled"])
def test_every_kind_declares_the_protocol(kinds, kind):
    model = kinds[kind]
    assert isinstance(model, LanguageModel)
    assert model.V == model.vocabulary.size and isinstance(model.capabilities, frozenset)
    assert model.describe() and isinstance(model.kind, str)
    parts = model.name_components()
    assert sum(w for w, _, _ in parts) == pytest.approx(1.0, abs=1e-12)
    assert not hasattr(type(model), "levels") or LEVELS in model.capabilities  # no property that raises


@pytest.mark.parametrize("kind", ["backoff", "context", "compiled"])
def test_next_symbol_models_agree_with_their_rows_and_the_chain_rule(names, kinds, kind):
    model = kinds[kind]
    probe = held_out(names, kinds)[:40] + ["", "zzzz"]
    encoded = model.vocabulary.encode(probe)
    rows = model.row_logprobs(encoded)
    assert rows.shape == (encoded.n_targets, model.V)
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-12)
    per_symbol = model.logprob_encoded(encoded)
    np.testing.assert_array_equal(rows[np.arange(encoded.n_targets), encoded.ids[1:]], per_symbol)
    totals = model.name_logprobs(encoded)
    np.testing.assert_allclose(np.add.reduceat(per_symbol, encoded.starts), totals, rtol=0, atol=1e-12)
    for name in ("maria", "zzzz", ""):
        assert model.logprob(name) == pytest.approx(chain(model, name), abs=1e-10)
    np.testing.assert_allclose(model.score(["maria", "luca"])[0], [model.logprob("maria"), model.logprob("luca")], atol=1e-12)


def test_whole_name_mixture_scores_by_its_components_formula(names, kinds):
    """p(name) = 0.7 p_ctx(name) + 0.3 p_backward(reversed name), each component by the chain rule."""
    model = kinds["name"]
    (w1, forward, r1), (w2, backward, r2) = model.name_components()
    assert (r1, r2) == (False, True) and (w1, w2) == (0.7, 0.3)
    probe = held_out(names, kinds)[:25] + ["", "a", "zq"]
    expected = [np.log(0.7 * np.exp(chain(forward, n)) + 0.3 * np.exp(chain(backward, n[::-1]))) for n in probe]
    logp, symbols = model.score(probe)
    np.testing.assert_allclose(logp, expected, rtol=1e-12, atol=1e-12)
    assert list(symbols) == [len(n) + 1 for n in probe]
    assert model.logprob(probe[0]) == pytest.approx(expected[0], abs=1e-12)
    # evaluate: the same micro-averaged NLL as the formula
    assert evaluate(model, probe).nll == pytest.approx(-sum(expected) / sum(len(n) + 1 for n in probe), abs=1e-12)


def test_whole_name_mixture_answers_next_symbol_questions_exactly(names, kinds):
    """p(c | s) = Σ wᵢ Pᵢ(s·c…) / Σ wᵢ Pᵢ(s…) (ngram.lm.backoff.automaton): rows sum to 1 and chain to p(name)."""
    model = kinds["name"]
    for prefix in ["", "m", "ma", "mar", "anna"]:
        assert model.probs(prefix).sum() == pytest.approx(1.0, abs=1e-9)
    probe = held_out(names, kinds)[:5] + ["a"]
    encoded = model.vocabulary.encode(probe)
    per_symbol = model.logprob_encoded(encoded)
    np.testing.assert_allclose(np.exp(np.add.reduceat(per_symbol, encoded.starts)), np.exp(model.score(probe)[0]),
                               rtol=1e-9)
    rows = model.row_logprobs(encoded)
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, atol=1e-9)
    assert explain(model, encoded) is not None
    with pytest.raises(NgramError, match="whole-name mixture") as info:
        model.logprobs("ma", at_start=False)
    assert "\n" not in str(info.value)


def test_require_refuses_in_one_line_naming_the_verb(kinds):
    require(kinds["backoff"], LEVELS, "export", "never raised")
    require(kinds["context"], BOUNDED_CONTEXT, "mix", "never raised")
    for kind in ("context", "name"):
        with pytest.raises(NgramError, match=r"^export: needs one table$"):
            require(kinds[kind], LEVELS, "export", "needs one table")
        with pytest.raises(NgramError, match=r"^prune: an? .*mixture.* is not one back-off table") as info:
            prune_by_entropy(kinds[kind], 1e-7)
        assert "\n" not in str(info.value)
    with pytest.raises(NgramError, match=r"^mix: model 2 is a whole-name mixture"):
        compile_mixture([kinds["backoff"], kinds["name"]], [0.5, 0.5])
    with pytest.raises(NgramError, match=r"^order mixture: a component is a whole-name mixture"):
        ContextMixture([kinds["backoff"], kinds["name"]], np.full((4, 2), 0.5))


class PrefixOnly(NameModel):
    """A model that only answers through the protocol's generic questions (no bounded context):
    explain must group its positions by whole prefixes."""

    kind = "test"
    capabilities = frozenset({NEXT_SYMBOL})  # next-symbol rows after any prefix, no bounded context

    def __init__(self, inner):
        self.inner, self.vocabulary, self.order = inner, inner.vocabulary, inner.order

    def row_logprobs(self, encoded):
        return self.inner.row_logprobs(encoded)

    def name_logprobs(self, encoded):
        return self.inner.name_logprobs(encoded)


@pytest.mark.parametrize("kind", ["backoff", "context"])
def test_explain_splits_the_nll_for_bounded_and_whole_prefix_contexts(names, kinds, kind):
    model = kinds[kind]
    probe = held_out(names, kinds)
    encoded = model.vocabulary.encode(probe)
    nll = evaluate(model, probe).nll
    for view, contexts in ((model, {("." + n)[max(0, j + 2 - model.order):j + 1] for n in probe for j in range(len(n) + 1)}),
                           (PrefixOnly(model), {n[:j] for n in probe for j in range(len(n) + 1)})):
        grouped = explain(view, encoded)
        assert grouped.contexts == len(contexts)
        assert grouped.cross_entropy == pytest.approx(nll, abs=1e-12)
        assert grouped.entropy + grouped.kl == pytest.approx(nll, abs=1e-12)
        assert grouped.kl > 0
        shown = grouped.top[0]["context"]
        assert shown.startswith(".") or len(shown) == model.order - 1


def test_one_em_with_and_without_buckets(kinds, names):
    model_a, model_b = kinds["backoff"], kinds["compiled"]
    encoded = model_a.vocabulary.encode(held_out(names, kinds))
    logp = np.stack([model_a.logprob_encoded(encoded), model_b.logprob_encoded(encoded)], axis=1)
    plain = em_weights(logp, tolerance=0.0, max_iterations=50)
    one_bucket = em_weights(logp, np.zeros(len(logp), np.int64), n_buckets=1, tolerance=0.0, max_iterations=50)
    assert plain.weights.shape == (2,) and one_bucket.weights.shape == (1, 2)
    np.testing.assert_allclose(one_bucket.weights[0], plain.weights, rtol=1e-12)
    np.testing.assert_allclose(one_bucket.nll, plain.nll, rtol=1e-12)
    assert plain.nll[-1] == pytest.approx(-mixture_logprobs(logp, plain.weights).mean(), abs=1e-12)


def test_mix_fits_compiles_and_verifies(kinds, names):
    parts = [kinds["backoff"], kinds["context"]]
    probe = held_out(names, kinds)
    result = mix(parts, probe, source="val.txt")
    assert result.max_abs_logprob_gap <= 1e-9 and result.names == len(probe)
    assert result.model.corpus["validation"] == "val.txt"
    assert evaluate(result.model, probe).nll == pytest.approx(result.fit.nll[-1], abs=1e-9)
    with pytest.raises(NgramError, match="iterations must be at least 1"):
        mix(parts, probe, max_iterations=0)


@pytest.mark.slow
def test_the_package_docstring_example_runs(capsys):
    example = ngram.__doc__.split("\n\n")[1]
    exec(compile("\n".join(line[4:] for line in example.splitlines()), "ngram.__doc__", "exec"), {})
    assert 3.0 > float(capsys.readouterr().out) > 1.0


# Dispatch on a model's class that another branch removes (none left: sampling chooses its path
# from the protocol's name_components and capabilities).
PENDING_DISPATCH: dict[str, str] = {}


@pytest.mark.slow
def test_no_library_code_dispatches_on_a_model_class():
    classes = {"Model", "ContextMixture", "NameMixture"}
    package = Path(ngram.__file__).parent
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if names & classes:
                    found.add(str(path.relative_to(package)))
    assert found <= set(PENDING_DISPATCH), found - set(PENDING_DISPATCH)
    for pending, why in PENDING_DISPATCH.items():
        assert pending in found, f"{pending} no longer dispatches on a class ({why}): delete it from PENDING_DISPATCH"
