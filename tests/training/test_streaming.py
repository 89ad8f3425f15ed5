import bz2
import gzip
import lzma

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import shared_file
from support import assert_same_model, generated_names
from ngram import AddK, NgramError, read_names, train
from ngram.estimators import make_estimator
from ngram.core.budget import Budget, parse_size
from ngram.training.streaming import count_ngrams_streaming, merge_runs, merge_sorted, scan_corpus, train_streaming

# Tiny blocks, runs and merge windows, so a small corpus is read in many blocks, spilled as many
# runs and merged through many windows: every path of the external merge is taken.
TINY_BUDGET = Budget(1 << 30, block=3000, run=20_000, window_elements=97)


@pytest.fixture
def corpus_file(tmp_path):
    names = generated_names()
    path = tmp_path / "names.txt"
    # CRLF endings and blank lines, which the block reader must treat as read_names does.
    path.write_bytes(("\r\n".join(names[:50]) + "\n\n  \n" + "\n".join(names[50:]) + "\n").encode("utf-8"))
    return path


@pytest.mark.parametrize("smoothing", [pytest.param("add-k", marks=pytest.mark.slow), "modified-kneser-ney",
                                       pytest.param("witten-bell", marks=pytest.mark.slow)])
def test_streaming_model_is_identical_to_the_in_memory_model(corpus_file, smoothing):
    corpus = read_names(corpus_file)
    expected = train(corpus.names, order=5, estimator=make_estimator(smoothing), source=str(corpus_file))
    model, scan = train_streaming(corpus_file, order=5, estimator=make_estimator(smoothing), memory_bytes=TINY_BUDGET)
    assert_same_model(model, expected)
    assert scan.blank_lines == corpus.blank_lines >= 2


def test_streaming_counts_on_the_english_names_match_in_memory_counts():
    path = shared_file("english-names.txt")
    names = read_names(path).names
    expected = train(names, order=6, estimator=make_estimator("modified-kneser-ney"), source=str(path))
    model, _ = train_streaming(path, order=6, estimator=make_estimator("modified-kneser-ney"),
                               memory_bytes=Budget(1 << 30, block=40_000, run=200_000, window_elements=5000))
    assert_same_model(model, expected)


def test_a_budget_large_enough_never_spills_and_still_matches(corpus_file):
    corpus = read_names(corpus_file)
    expected = train(corpus.names, order=3, estimator=AddK(0.1), source=str(corpus_file))
    model, _ = train_streaming(corpus_file, order=3, estimator=AddK(0.1), memory_bytes=64 << 20)
    assert_same_model(model, expected)


def test_names_can_be_streamed_from_any_iterable(tmp_path):
    names = generated_names(1000, seed=3)
    from ngram.core.counting import count_ngrams
    from ngram.core.vocabulary import Vocabulary

    vocab = Vocabulary.from_names(names)
    counts, hashes = count_ngrams_streaming(iter(names), 4, vocab, TINY_BUDGET, tmpdir=tmp_path)
    expected = count_ngrams(vocab.encode(names), 4, vocab.size)
    for n in range(4):
        assert np.array_equal(counts.keys[n], expected.keys[n]) and np.array_equal(counts.counts[n], expected.counts[n])
    assert list(tmp_path.iterdir()) == []  # the spilled runs are removed


def test_weighted_corpora_stream_to_the_same_model(tmp_path):
    names = [name for name in generated_names(3000, seed=8) if name.strip()]
    path = tmp_path / "counts.tsv"
    path.write_text("".join(f"{name}\t{i % 5 + 1}\n" for i, name in enumerate(names)), encoding="utf-8")
    corpus = read_names(path, weighted=True)
    expected = train(corpus.names, order=4, estimator=make_estimator("modified-kneser-ney"), weights=corpus.weights, source=str(path))
    model, _ = train_streaming(path, order=4, estimator=make_estimator("modified-kneser-ney"), memory_bytes=TINY_BUDGET, weighted=True)
    assert_same_model(model, expected)  # whole-number weights: integer counts, exact sums


def test_fractional_weights_stream_to_the_same_model_up_to_rounding(tmp_path):
    names = [name for name in generated_names(3000, seed=9) if name.strip()]
    path = tmp_path / "counts.tsv"
    path.write_text("".join(f"{name}\t{(i % 9 + 1) / 4}\n" for i, name in enumerate(names)), encoding="utf-8")
    corpus = read_names(path, weighted=True)
    expected = train(corpus.names, order=4, estimator=make_estimator("witten-bell"), weights=corpus.weights, source=str(path))
    model, _ = train_streaming(path, order=4, estimator=make_estimator("witten-bell"), memory_bytes=TINY_BUDGET, weighted=True)
    for x, y in zip(model.levels, expected.levels):
        assert np.array_equal(x.keys, y.keys)
        np.testing.assert_allclose(x.logp, y.logp, rtol=0, atol=1e-12)
        np.testing.assert_allclose(x.bow, y.bow, rtol=0, atol=1e-12)
    assert model.corpus["total_weight"] == pytest.approx(expected.corpus["total_weight"], rel=1e-15)


@pytest.mark.parametrize("suffix, opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)])
def test_compressed_corpora_are_read_directly(tmp_path, suffix, opener, corpus_file):
    packed = tmp_path / f"names.txt{suffix}"
    with opener(packed, "wb") as handle:
        handle.write(corpus_file.read_bytes())
    assert read_names(packed).names == read_names(corpus_file).names
    model, _ = train_streaming(packed, order=3, estimator=AddK(0.1), memory_bytes=TINY_BUDGET)
    expected = train(read_names(corpus_file).names, order=3, estimator=AddK(0.1), source=str(packed))
    assert_same_model(model, expected)


def test_a_damaged_compressed_file_is_a_one_line_error(tmp_path):
    packed = tmp_path / "names.txt.gz"
    packed.write_bytes(gzip.compress(b"anna\nbob\n" * 1000)[:-30])
    with pytest.raises(NgramError, match="cannot decompress"):
        read_names(packed)
    with pytest.raises(NgramError, match="cannot decompress"):
        train_streaming(packed, order=2, memory_bytes=TINY_BUDGET)


def test_errors_name_the_line_in_the_whole_file_not_in_the_block(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"anna\n" * 5000 + b"b\xffb\n")
    with pytest.raises(NgramError, match="line 5001: not valid UTF-8"):
        train_streaming(path, order=2, memory_bytes=TINY_BUDGET)


def test_a_bom_is_dropped_at_the_start_only(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffanna\n".encode() + b"bob\n" * 2000 + "\ufeffcarl\n".encode())
    scan = scan_corpus(path, block_bytes=3000)
    assert scan.characters == set(read_names(path).names[0] + "bocarl\ufeff")


def test_standard_input_is_read_twice_through_a_copy(tmp_path, monkeypatch, corpus_file):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(corpus_file.read_bytes())))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    model, _ = train_streaming("-", order=3, estimator=AddK(0.1), memory_bytes=TINY_BUDGET, tmpdir=scratch)
    expected = train(read_names(corpus_file).names, order=3, estimator=AddK(0.1), source="<stdin>")
    assert_same_model(model, expected)
    assert list(scratch.iterdir()) == []  # the copy of standard input is removed


def test_a_line_without_end_is_stopped_by_max_name_length(tmp_path):
    path = tmp_path / "one-line.txt"
    path.write_bytes(b"x" * 50_000)
    with pytest.raises(NgramError, match="line 1: line longer than --max-name-length"):
        train_streaming(path, order=2, memory_bytes=TINY_BUDGET)


def test_utf16_cannot_be_split_at_newline_bytes(tmp_path, corpus_file):
    with pytest.raises(NgramError, match="ASCII-compatible"):
        train_streaming(corpus_file, order=2, memory_bytes=TINY_BUDGET, encoding="utf-16")


@pytest.mark.parametrize("text, value", [("1G", 1 << 30), ("512M", 512 << 20), ("200MB", 200 << 20), ("1.5GiB", 3 << 29)])
def test_memory_sizes(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["lots", "1X", "-5M", "1K"])
def test_bad_memory_sizes_are_one_line_errors(text):
    with pytest.raises(NgramError):
        parse_size(text)


sorted_unique = st.lists(st.integers(0, 200), max_size=60).map(lambda xs: np.unique(np.array(xs, dtype=np.int64)))


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(sorted_unique, sorted_unique, st.integers(1, 5))
def test_merging_sorted_runs_adds_the_counts_of_equal_keys(a, b, scale):
    ca, cb = (a % 7 + 1) * scale, b % 5 + 1
    keys, counts = merge_sorted(a, ca, b, cb)
    expected = {}
    for k, c in list(zip(a, ca)) + list(zip(b, cb)):
        expected[int(k)] = expected.get(int(k), 0) + int(c)
    assert keys.tolist() == sorted(expected) and counts.tolist() == [expected[k] for k in sorted(expected)]


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.lists(sorted_unique, min_size=1, max_size=6), st.integers(1, 9))
def test_windowed_merge_of_runs_on_disk_equals_merging_in_memory(tmp_path_factory, runs, window):
    folder = tmp_path_factory.mktemp("runs")
    key_paths, value_paths = [], []
    expected_k, expected_v = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for i, keys in enumerate(runs):
        values = keys * 3 + 1
        np.save(folder / f"k{i}.npy", keys)
        np.save(folder / f"v{i}.npy", values)
        key_paths.append(folder / f"k{i}.npy")
        value_paths.append(folder / f"v{i}.npy")
        expected_k, expected_v = merge_sorted(expected_k, expected_v, keys, values)
    keys, values = merge_runs(key_paths, value_paths, window, folder)
    assert np.array_equal(keys, expected_k) and np.array_equal(values, expected_v)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ab\u00e9 \u4e2d", min_size=1, max_size=9).filter(str.strip), min_size=1, max_size=120),
       st.integers(1, 5), st.integers(8, 400), st.integers(16, 4000), st.integers(1, 50))
@pytest.mark.slow
def test_any_blocks_runs_and_windows_give_the_in_memory_counts(names, order, block, run, window):
    from ngram.core.counting import count_ngrams
    from ngram.lm.backoff.model import name_fingerprints
    from ngram.core.vocabulary import Vocabulary

    vocab = Vocabulary.from_names(names)
    counts, hashes = count_ngrams_streaming(names, order, vocab, Budget(1 << 30, block=block, run=run, window_elements=window))
    expected = count_ngrams(vocab.encode(names), order, vocab.size)
    for n in range(order):
        assert np.array_equal(counts.keys[n], expected.keys[n]) and np.array_equal(counts.counts[n], expected.counts[n])
    assert np.array_equal(hashes, name_fingerprints(names))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab é\u00a0\u3000\t\x1c\r漢", max_size=6), min_size=1, max_size=8),
       end=st.booleans(), lowercase=st.booleans(), first_line=st.sampled_from([1, 7]))
@pytest.mark.slow
def test_the_byte_level_check_of_a_block_reads_what_the_reader_reads(lines, end, lowercase, first_line):
    from ngram.core.corpus import decode_text, parse_names
    from ngram.training.streaming import _plain_utf8

    data = ("\n".join(lines) + ("\n" if end else "")).encode("utf-8")
    fast = _plain_utf8(data, "f.txt", lowercase, 4, first_line)
    try:
        slow = parse_names(decode_text(data, "f.txt", first_line=first_line), "f.txt", lowercase, 4, first_line=first_line, allow_empty=True)
    except NgramError:
        assert fast is None  # a name too long: the reader says so
        return
    if fast is not None:
        assert fast.names == slow.names and list(fast.line_numbers) == list(slow.line_numbers)
        assert slow.blank_lines == 0 and fast.source == slow.source
    elif "\r" not in "".join(lines) and all(line.strip() for line in lines) and (lines[-1] or not end):
        assert max(map(len, lines)) > 4  # a clean block always takes the fast way


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab é\u3000漢\t\U0001F600ß", max_size=9), min_size=1, max_size=30), end=st.booleans(),
       block=st.integers(4, 40))
@pytest.mark.slow
def test_scanning_clean_blocks_from_their_bytes_finds_what_the_reader_finds(tmp_path_factory, lines, end, block):
    from ngram.training import streaming

    path = tmp_path_factory.mktemp("scan") / "t.txt"
    path.write_bytes(("\n".join(lines) + ("\n" if end else "")).encode("utf-8"))

    def facts(scan):
        return scan.names, scan.symbols, scan.longest_name, sorted(scan.characters), scan.sha256, scan.blank_lines

    try:
        fast = facts(scan_corpus(path, block_bytes=block, max_name_length=1000))
    except NgramError as exc:
        fast = str(exc)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(streaming, "_plain_utf8", lambda *args: None)  # every block through the reader
        try:
            slow = facts(scan_corpus(path, block_bytes=block, max_name_length=1000))
        except NgramError as exc:
            slow = str(exc)
    assert fast == slow
