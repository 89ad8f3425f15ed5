import numpy as np
import pytest

from ngram import NgramError, Vocabulary


def test_boundary_is_id_zero_and_characters_are_sorted():
    vocab = Vocabulary.from_names(["ba", "ca"])
    assert vocab.symbols == [".", "a", "b", "c"]
    assert vocab.size == 4


def test_unk_class_is_the_last_id():
    vocab = Vocabulary.from_names(["ab"], unk=True)
    assert vocab.size == 4 and vocab.unk_id == 3 and vocab.symbols[-1] == "<unk>"


def test_encode_pads_each_name_with_one_boundary():
    vocab = Vocabulary.from_names(["ab", "b"])
    enc = vocab.encode(["ab", "b"])
    assert enc.ids.tolist() == [0, 1, 2, 0, 2, 0]
    assert enc.starts.tolist() == [0, 3]
    assert enc.symbols_per_name().tolist() == [3, 2]  # characters + end symbol
    # history counts the start symbol and never crosses into the previous name
    assert enc.history().tolist() == [1, 2, 3, 1, 2]


def test_unknown_character_error_names_character_line_and_file():
    vocab = Vocabulary.from_names(["ab"])
    with pytest.raises(NgramError, match=r"test.txt, line 7: character 'z'"):
        vocab.encode(["ab", "az"], line_numbers=[3, 7], source="test.txt")


def test_unknown_skip_drops_and_counts():
    vocab = Vocabulary.from_names(["ab"])
    enc = vocab.encode(["azb"], unknown="skip")
    assert enc.oov == 1 and enc.ids.tolist() == [0, 1, 2, 0]


def test_unknown_unk_maps_to_unk_and_needs_an_unk_model():
    with pytest.raises(NgramError, match="--unk"):
        Vocabulary.from_names(["ab"]).encode(["az"], unknown="unk")
    vocab = Vocabulary.from_names(["ab"], unk=True)
    enc = vocab.encode(["az"], unknown="unk")
    assert enc.ids.tolist() == [0, 1, vocab.unk_id, 0] and enc.oov == 1


def test_non_bmp_characters_are_single_symbols():
    vocab = Vocabulary.from_names(["a😀"])
    assert vocab.encode(["😀a"]).ids.tolist() == [0, 2, 1, 0]
    assert vocab.decode([2, 1]) == "😀a"


def test_json_round_trip():
    vocab = Vocabulary.from_names(["xyz "], unk=True)
    assert Vocabulary.from_json(vocab.to_json()) == vocab
