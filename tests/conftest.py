"""Shared fixtures. Tests that need the reference corpora in ../shared skip cleanly without them."""

from pathlib import Path

import pytest

# Helpers shared across rooms live in tests/support.py (``from support import generated_names``);
# pytest puts tests/ on the path for this conftest, and each test's own folder for its room.

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"reference corpus {path} not present (../shared is beside the repo in CI)")
    return path


@pytest.fixture
def italian_split():
    from ngram import read_names

    return (read_names(shared_file("italian-names-train.txt")).names,
            read_names(shared_file("italian-names-test.txt")).names)


@pytest.fixture
def english_split():
    from ngram import read_names

    return (read_names(shared_file("english-names-train.txt")).names,
            read_names(shared_file("english-names-test.txt")).names)


TINY = ["anna", "anne", "bob", "ann", "nan", "a b"]


# A small training list and held-out names for the tuning tests (spaces and an unseen 'l' included).
TUNING_TRAIN = ["anna", "anne", "ann", "bob", "abba", "ben", "nab", "ebba", "banana", "nan", "a", "be", "an na",
                "bonbon", "nanna", "bebe", "obo", "nabob", "anabel", "bella"]
TUNING_HELD = ["anna", "nabe", "bob", "eba", "banan", "l", "na na"]


@pytest.fixture(scope="module")
def shipped():
    """The shipped corpus's names."""
    import ngram
    from ngram.core.corpus import default_corpus_path

    return ngram.read_names(default_corpus_path()).names
