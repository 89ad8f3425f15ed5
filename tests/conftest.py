"""Shared fixtures. Tests that need the reference corpora in ../shared skip cleanly without them."""

import sys
from pathlib import Path

import pytest

# tests/ mirrors the package's rooms; a few test modules reuse another room's helpers by module name
# (``from test_streaming import generated_names``), so every room's folder is importable.
for _room in sorted(Path(__file__).resolve().parent.iterdir()):
    if _room.is_dir() and not _room.name.startswith((".", "_")) and _room.name != "data":
        sys.path.insert(0, str(_room))

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
