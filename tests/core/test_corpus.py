import numpy as np
import pytest

from ngram import NgramError, make_estimator, read_names, train


def write(tmp_path, data: bytes, name="names.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_lines_are_verbatim_apart_from_their_ending(tmp_path):
    corpus = read_names(write(tmp_path, b"ridha \r\nanna maria\nbob"))
    assert corpus.names == ["ridha ", "anna maria", "bob"]


def test_utf8_bom_is_dropped(tmp_path):
    assert read_names(write(tmp_path, "\ufeffanna\n".encode("utf-8"))).names == ["anna"]


def test_blank_lines_are_skipped_and_counted(tmp_path):
    corpus = read_names(write(tmp_path, b"anna\n\n  \nbob\n"))
    assert corpus.names == ["anna", "bob"] and corpus.blank_lines == 2
    assert corpus.line_numbers == [1, 4]


@pytest.mark.parametrize("data", [b"anna\n \t\nbob", b"anna\n\x0b\x1f \nbob\n", "\u00e5nna\n\u2003\nbob".encode("utf-8")])
def test_lines_of_only_whitespace_are_blank_however_the_file_is_spelled(tmp_path, data):
    # ASCII files are checked byte-wise, others line by line; both must agree with str.strip.
    corpus = read_names(write(tmp_path, data))
    assert corpus.names[1:] == ["bob"] and corpus.blank_lines == 1
    assert list(corpus.line_numbers) == [1, 3]


def test_lowercase_option(tmp_path):
    assert read_names(write(tmp_path, b"Anna\n"), lowercase=True).names == ["anna"]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "file is empty"),
        (b"\n\n", "only blank lines"),
        (b"anna\nb\xffb\n", r"line 2: not valid UTF-8.*--encoding"),
        ("anna\n".encode("utf-16"), "UTF-16"),
        (b"an\x00na\n", "NUL byte"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, data, message):
    with pytest.raises(NgramError, match=message) as info:
        read_names(write(tmp_path, data))
    assert "\n" not in str(info.value)


def test_other_encodings_on_request(tmp_path):
    assert read_names(write(tmp_path, "niccolò\n".encode("latin-1")), encoding="latin-1").names == ["niccolò"]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(NgramError, match="no such file"):
        read_names(tmp_path / "absent.txt")
    with pytest.raises(NgramError, match="directory"):
        read_names(tmp_path)


def test_very_long_line_is_rejected_with_a_hint(tmp_path):
    with pytest.raises(NgramError, match="max-name-length"):
        read_names(write(tmp_path, b"a" * 5000 + b"\n"))


def test_weighted_lines(tmp_path):
    corpus = read_names(write(tmp_path, b"anna\t3\nbob\t1.5\n"), weighted=True)
    assert corpus.names == ["anna", "bob"] and corpus.weights == [3.0, 1.5]
    with pytest.raises(NgramError, match="line 1"):
        read_names(write(tmp_path, b"anna\t-1\n", "w2.txt"), weighted=True)


@pytest.mark.parametrize("data", [b"anna\nbob\nanna\n", b"Anna\nZo\xc3\xab\nbob", b"anna\n\nbob\r\n"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_training_on_a_corpus_equals_training_on_its_names(tmp_path, data, lowercase):
    # A clean file keeps its text until someone asks for the names; training reads that text
    # directly, and must give the model (fingerprints included) that the list of names gives.
    path = write(tmp_path, data)
    from_text = train(read_names(path, lowercase=lowercase), order=3, estimator=make_estimator("modified-kneser-ney"))
    names = read_names(path, lowercase=lowercase).names
    from_list = train(names, order=3, estimator=make_estimator("modified-kneser-ney"))
    assert from_text.corpus == from_list.corpus
    assert np.array_equal(from_text.train_names, from_list.train_names)
    for a, b in zip(from_text.levels, from_list.levels):
        assert np.array_equal(a.keys, b.keys) and np.array_equal(a.logp, b.logp) and np.array_equal(a.bow, b.bow)
    assert read_names(path, lowercase=lowercase).names == names and len(names) == from_text.corpus["names"]
