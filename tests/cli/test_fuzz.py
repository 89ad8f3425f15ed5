"""Property tests over random names, alphabets and hostile bytes (hypothesis).

- Any names over any alphabet (combining marks, emoji, spaces, right-to-left text, control
  characters) train with every estimator; every next-symbol distribution sums to 1; scores are
  finite and agree with the probability vectors; samples use only the vocabulary; model files and
  ARPA files give back the same model.
- Random and mutated bytes fed to the corpus reader, the ARPA reader and the model loader raise
  ``NgramError`` (one line) or succeed; nothing else escapes, and a model that loads answers
  questions without crashing.
- Random command lines (every verb but plot, good and bad files, awkward option values) either
  succeed or end with exactly one ``error:`` line, exit 1 or 2, with no traceback, no internal
  error and no numpy warning.

``scripts/fuzz.py --minutes N`` runs these same properties for longer.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import strategies as fz  # noqa: E402

from ngram import NgramError, train  # noqa: E402
from ngram.formats.arpa import arpa_text, read_arpa, write_arpa  # noqa: E402
from ngram.core.corpus import decode_text, parse_names, read_names  # noqa: E402
from ngram.estimators import ESTIMATORS, make_estimator  # noqa: E402
from ngram.formats.native import load, save  # noqa: E402
from ngram.generation.sampling import sample  # noqa: E402

pytestmark = pytest.mark.slow  # hundreds of generated inputs through the loader and the command line

# Small budgets keep the suite fast; scripts/fuzz.py raises them (through this variable) and
# calls the same tests again and again for as many minutes as it is given.
EXAMPLES = int(os.environ.get("NGRAM_FUZZ_EXAMPLES", "12"))
QUICK = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
UNSMOOTHED = {"mle"}  # gives 0 to what it never saw, so held-out scores may be -inf


def estimator_variants() -> list[tuple[str, bool]]:
    """Every registered estimator, and its back-off form where it has one."""
    out = []
    for name, cls in ESTIMATORS.items():
        out.append((name, False))
        if "backoff" in inspect.signature(cls).parameters:
            out.append((name, True))
    return out


VARIANTS = estimator_variants()


def one_line(error: NgramError) -> None:
    assert "\n" not in str(error) and str(error).strip()


def scratch(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    with handle:
        handle.write(data)
    return Path(handle.name)


# ----- names over random alphabets ---------------------------------------------------------------
@QUICK
@given(data=st.data())
@pytest.mark.parametrize("estimator, backoff", VARIANTS, ids=[f"{n}{'-backoff' if b else ''}" for n, b in VARIANTS])
def test_any_names_train_score_sample_and_round_trip(estimator, backoff, data):
    names = data.draw(fz.name_lists(surrogates=True), label="names")
    order = data.draw(st.integers(1, 5), label="order")
    unk = data.draw(st.booleans(), label="unk")
    settings_ = {"backoff": True} if backoff else {}
    model = train(names, order=order, estimator=make_estimator(estimator, **settings_), unk=unk)
    V, chars = model.V, model.vocabulary.characters

    # Every context a name passes through (and unseen ones) has a distribution summing to 1.
    contexts = {name[:i] for name in names[:8] for i in range(len(name) + 1)}
    contexts.add(data.draw(fz.strings_over("".join(chars), max_size=6), label="context"))
    for context in contexts:
        p = model.probs(context)
        assert p.shape == (V,) and np.all(p >= 0) and math.isclose(p.sum(), 1.0, abs_tol=1e-9), (context, p)

    # Training names score finite for every estimator, and the vectorised scoring path agrees
    # with chaining the probability vectors.
    totals, symbols = model.score(names)
    assert np.all(np.isfinite(totals)) and np.array_equal(symbols, [len(n) + 1 for n in names])
    for name, total in list(zip(names, totals))[:3]:
        ids = model.vocabulary.encode([name]).ids[1:]
        chained = sum(math.log(model.probs(name[:i])[ids[i]]) for i in range(len(ids)))
        assert math.isclose(total, chained, rel_tol=1e-9, abs_tol=1e-9)
    if estimator not in UNSMOOTHED and chars:
        held_out = data.draw(st.lists(fz.strings_over("".join(chars), max_size=10), min_size=1, max_size=5), label="held_out")
        assert np.all(np.isfinite(model.score(held_out)[0]))

    # Samples use only the vocabulary (never <unk>), start with the prefix, respect max-len.
    prefix = data.draw(fz.strings_over("".join(chars), max_size=3), label="prefix")
    max_len = data.draw(st.integers(max(len(prefix), 1), 20), label="max_len")
    # Sampling is exact conditioning: when no name the (reshaped) model makes meets the request
    # (e.g. a model of empty names only, or top-p cutting every end of a 1-character name), it is
    # one line naming the constraints, never a name that breaks them.
    try:
        drawn = sample(model, n=15, seed=data.draw(st.integers(0, 2**32), label="seed"), prefix=prefix,
                       max_len=max_len, temperature=data.draw(st.sampled_from([1.0, 0.5, 3.0]), label="temperature"),
                       top_p=data.draw(st.sampled_from([None, 0.9]), label="top_p"))
    except NgramError as error:
        one_line(error)
        assert "constraints" in str(error)
        drawn = []
    assert len(drawn) in (0, 15)
    for name in drawn:
        assert set(name) <= set(chars) and name.startswith(prefix) and len(name) <= max_len

    # Model files give back exactly the same scores.
    path = scratch(b"", ".ngram")
    try:
        save(model, path)
        assert np.array_equal(load(path).score(names)[0], totals)
    finally:
        path.unlink()

    # ARPA files too (to rounding), unless a character cannot be an ARPA word.
    try:
        text = arpa_text(model)
    except NgramError as error:
        one_line(error)
        return
    path = scratch(text.encode("utf-8"), ".arpa")
    try:
        assert np.allclose(read_arpa(path).score(names)[0], totals, rtol=1e-9, atol=1e-9)
    finally:
        path.unlink()


@QUICK
@given(data=st.data())
def test_names_written_to_a_file_read_back_unchanged(data):
    names = data.draw(fz.name_lists(), label="names")
    kept: list[str] = []
    for name in names:
        if fz.readable_from_a_file(name, first=not kept):
            kept.append(name)
    assume(kept)
    names = kept
    path = scratch(fz.corpus_files(names, data.draw), ".txt")
    try:
        assert read_names(path).names == names
    finally:
        path.unlink()


# ----- hostile bytes ---------------------------------------------------------------------------
ENCODINGS = st.sampled_from(["utf-8", "UTF_8", "latin-1", "utf-16", "cp1252", "ascii", "utf-32", "no-such-codec"])


@QUICK
@given(raw=st.one_of(st.binary(max_size=300), fz.mutated("anna\nluca\r\nnicolò\n\xe9\n".encode("utf-8"))),
       encoding=ENCODINGS, lowercase=st.booleans(), weighted=st.booleans(), longest=st.integers(0, 20))
def test_random_bytes_into_the_corpus_reader(raw, encoding, lowercase, weighted, longest):
    try:
        corpus = parse_names(decode_text(raw, "fuzz.txt", encoding), "fuzz.txt", lowercase, longest, weighted)
        assert corpus.names and all(n.strip() and "\n" not in n for n in corpus.names)
    except NgramError as error:
        one_line(error)
    path = scratch(raw, ".txt")
    try:
        read_names(path, encoding=encoding, max_name_length=longest or 1000)
    except NgramError as error:
        one_line(error)
    finally:
        path.unlink()


GOOD_ARPA = arpa_text(train(["anna", "luca", "a b", "nicolò"], order=3, estimator=make_estimator("kneser-ney")))


@QUICK
@given(raw=st.one_of(st.binary(max_size=300), fz.arpa_texts(GOOD_ARPA), fz.mutated(GOOD_ARPA.encode("utf-8"))))
def test_random_bytes_into_the_arpa_reader(raw):
    read_or_refuse(raw, ".arpa", read_arpa)


def _good_model_bytes() -> bytes:
    path = scratch(b"", ".ngram")
    try:
        save(train(["anna", "luca", "a b", "nicolò", "bob"], order=3, estimator=make_estimator("witten-bell")), path)
        return path.read_bytes()
    finally:
        path.unlink()


def _good_mixture_bytes() -> bytes:
    """An order mixture inside a whole-name mixture: the nested mixture format."""
    from ngram.lm.mixtures.models import ContextMixture, NameMixture

    names = ["anna", "luca", "a b", "nicolò", "bob"]
    low, high = (train(names, order=n, estimator=make_estimator("kneser-ney")) for n in (2, 3))
    inner = ContextMixture([low, high], np.full((3, 2), 0.5))
    outer = NameMixture([inner, low], [False, True], [0.7, 0.3])
    path = scratch(b"", ".ngram")
    try:
        save(outer, path)
        return path.read_bytes()
    finally:
        path.unlink()


GOOD_MODEL = _good_model_bytes()
GOOD_MIXTURE = _good_mixture_bytes()


@QUICK
@given(raw=st.one_of(st.binary(max_size=300), fz.model_files(GOOD_MODEL), fz.model_files(GOOD_MIXTURE)))
def test_random_bytes_into_the_model_loader(raw):
    read_or_refuse(raw, ".ngram", load)


def read_or_refuse(raw: bytes, suffix: str, reader) -> None:
    """The reader refuses the bytes with one line, or gives a model that answers questions."""
    path = scratch(raw, suffix)
    try:
        model = reader(path)
    except NgramError as error:
        one_line(error)
        return
    finally:
        path.unlink()
    answers_without_crashing(model)


def answers_without_crashing(model) -> None:
    """A model that loads may still be nonsense, but asking it things gives answers or NgramError."""
    chars = "".join(model.vocabulary.characters)
    for ask in (
        lambda: model.probs(""),
        lambda: model.probs(chars[:3]),
        lambda: model.score([chars, chars[::-1], ""], unknown="skip"),
        lambda: sample(model, n=5, seed=0, max_len=10),
        lambda: model.describe(),
    ):
        try:
            ask()
        except NgramError as error:
            one_line(error)


# ----- the command line ------------------------------------------------------------------------
def _cli_files() -> tuple[dict[str, list[str]], list[str]]:
    """Good and bad inputs for every kind of positional argument, made once per session."""
    folder = Path(tempfile.mkdtemp(prefix="ngram-cli-fuzz-"))
    names = ["anna", "luca", "a b", "nicolò", "bob", "maria", "marco"]
    corpora = {"names.txt": "\n".join(names) + "\n", "blank.txt": "\n \n", "other.txt": "zoë\nxavi\n",
               "weighted.txt": "anna\t2\nluca\t0.5\n"}
    for name, content in corpora.items():
        (folder / name).write_text(content, encoding="utf-8")
    (folder / "latin1.txt").write_bytes("nicolò\n".encode("latin-1"))
    (folder / "empty.txt").write_bytes(b"")
    save(train(names, 3, make_estimator("kneser-ney")), folder / "m.ngram")
    save(train(names, 2, make_estimator("add-k"), unk=True), folder / "unk.ngram")
    save(train(["zoë", "xavi"], 2, make_estimator("witten-bell")), folder / "other.ngram")
    write_arpa(train(names, 3, make_estimator("modified-kneser-ney")), folder / "m.arpa")
    (folder / "bad.arpa").write_text(GOOD_ARPA.replace("\\2-grams:", "\\two-grams:"), encoding="utf-8")
    (folder / "mixture.ngram").write_bytes(GOOD_MIXTURE)
    (folder / "damaged.ngram").write_bytes(GOOD_MODEL[: len(GOOD_MODEL) // 2])
    files = {
        "corpus": [str(folder / n) for n in ("names.txt", "blank.txt", "other.txt", "weighted.txt", "latin1.txt", "empty.txt",
                                             "m.ngram", "missing.txt")],
        "model": [str(folder / n) for n in ("m.ngram", "unk.ngram", "other.ngram", "mixture.ngram", "damaged.ngram",
                                            "names.txt", "missing.ngram")],
        "arpa": [str(folder / n) for n in ("m.arpa", "bad.arpa", "names.txt", "m.ngram", "missing.arpa")],
    }
    outputs = [str(folder / n) for n in ("out.ngram", "out.arpa", "names.txt", "m.ngram", "nowhere/out.ngram")]
    outputs.append(str(folder))
    return files, outputs


CLI_FILES, CLI_OUTPUTS = _cli_files()


@QUICK
@given(argv=fz.command_lines(CLI_FILES, CLI_OUTPUTS))
def test_random_command_lines_answer_or_give_one_error_line(argv):
    from ngram.cli import main

    if "dask" in argv:
        return
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(argv)
    stderr = err.getvalue()
    assert "Traceback" not in stderr and "internal error" not in stderr, (argv, stderr)
    noisy = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not noisy, (argv, noisy)  # a user would see these as extra lines on stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    if code == 0:
        assert not errors, (argv, stderr)
    else:
        assert code in (1, 2) and len(errors) == 1 and stderr.splitlines()[-1] == errors[0], (argv, code, stderr)
