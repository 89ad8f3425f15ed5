import sys

import numpy as np
import pytest

from conftest import shared_file
from support import assert_same_model, generated_names
from ngram import AddK, NgramError, read_names, train
from ngram.estimators import make_estimator

pytestmark = pytest.mark.slow  # each test starts a Dask cluster

pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'ngram-names[dask]')")


@pytest.fixture(scope="module")
def client():
    from ngram.training.dask_engine import connect

    client, cluster = connect(workers=2)
    yield client
    client.close()
    cluster.close()


def test_a_local_cluster_of_two_workers_gives_the_single_process_model_on_english_names(client):
    from ngram.training.dask_engine import train_dask

    path = shared_file("english-names.txt")
    expected = train(read_names(path).names, order=6, estimator=make_estimator("modified-kneser-ney"), source=str(path))
    # 16M per task makes blocks of about 50 kB: the 250 kB file becomes several partitions.
    model, _ = train_dask(path, order=6, estimator=make_estimator("modified-kneser-ney"), client=client, memory_bytes=16 << 20)
    assert len(client.scheduler_info()["workers"]) == 2
    assert_same_model(model, expected)


@pytest.mark.parametrize("smoothing", ["add-k", "kneser-ney", "witten-bell"])
def test_a_local_cluster_gives_the_single_process_model_on_a_generated_corpus(client, tmp_path, smoothing):
    from ngram.training.dask_engine import train_dask

    names = generated_names(30_000, seed=5)
    path = tmp_path / "generated.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    names = read_names(path).names  # names of spaces only are blank lines
    expected = train(names, order=5, estimator=make_estimator(smoothing), source=str(path))
    model, scan = train_dask(path, order=5, estimator=make_estimator(smoothing), client=client, memory_bytes=16 << 20)
    assert scan.names == len(names)
    assert_same_model(model, expected)


def test_counts_of_partitions_are_merged_before_estimation(client, tmp_path):
    from ngram.core.counting import count_ngrams
    from ngram.training.dask_engine import count_ngrams_dask
    from ngram.core.vocabulary import Vocabulary

    names = generated_names(5000, seed=9)
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    names = read_names(path).names
    vocab = Vocabulary.from_names(names)
    counts, _ = count_ngrams_dask(path, 4, vocab, client, block_bytes=2000)
    expected = count_ngrams(vocab.encode(names), 4, vocab.size)
    for n in range(4):
        assert np.array_equal(counts.keys[n], expected.keys[n]) and np.array_equal(counts.counts[n], expected.counts[n])


def _assert_counts_of_memory(counts, hashes, names, vocab, order):
    from ngram.core.counting import count_ngrams
    from ngram.lm.backoff.model import fingerprints_of_hashes, hash_code_points
    from ngram.core.vocabulary import code_points

    expected = count_ngrams(vocab.encode(names), order, vocab.size)
    for n in range(order):
        assert np.array_equal(counts.keys[n], expected.keys[n]), f"order {n + 1} keys differ"
        assert np.array_equal(counts.counts[n], expected.counts[n]), f"order {n + 1} counts differ"
    assert np.array_equal(hashes, np.unique(fingerprints_of_hashes(hash_code_points(code_points(names)))))


@pytest.mark.parametrize("workers_read", [True, False], ids=["workers-read", "ship-blocks"])
def test_many_more_blocks_than_tasks_in_flight_are_all_counted(client, tmp_path, workers_read):
    """Issue 16: with more byte ranges than tasks in flight, ranges made after the first merge
    ended at the merged partial's block count (a generator read a variable the loop rebinds), so
    most of the corpus was never counted and empty ranges added names "" to the model."""
    from ngram.training.dask_engine import count_ngrams_dask
    from ngram.core.vocabulary import Vocabulary

    names = [name for name in generated_names(5000, seed=11) if name.strip()]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    vocab = Vocabulary.from_names(names)
    # About 35 blocks of 1000 bytes against 5 tasks in flight.
    counts, hashes = count_ngrams_dask(path, 4, vocab, client, block_bytes=1000, workers_read=workers_read)
    _assert_counts_of_memory(counts, hashes, names, vocab, 4)


@pytest.mark.parametrize("workers_read", [True, False], ids=["workers-read", "ship-blocks"])
def test_a_block_of_blank_lines_adds_no_empty_name(client, tmp_path, workers_read):
    """A block (or byte range) holding no name counts nothing: no names and one name "" have
    the same code points, and counting an empty block as "" put a start-end bigram in the model."""
    from ngram.training.dask_engine import count_ngrams_dask, train_dask
    from ngram.core.vocabulary import Vocabulary

    names = [name for name in generated_names(400, seed=12) if name.strip()]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names[:200]) + "\n" * 200_000 + "\n".join(names[200:]) + "\n", encoding="utf-8")
    vocab = Vocabulary.from_names(names)
    counts, hashes = count_ngrams_dask(path, 3, vocab, client, block_bytes=4000, workers_read=workers_read)
    _assert_counts_of_memory(counts, hashes, names, vocab, 3)
    model, scan = train_dask(path, order=3, estimator=make_estimator("kneser-ney"), client=client, memory_bytes=16 << 20,
                             workers_read=workers_read)  # blocks of 64 kB: the second is blank lines only
    assert scan.names == len(names)
    assert_same_model(model, train(names, order=3, estimator=make_estimator("kneser-ney"), source=str(path)))


def test_counting_an_empty_block_counts_nothing():
    from ngram.training.streaming import count_partial
    from ngram.core.vocabulary import Vocabulary

    part = count_partial([], 3, Vocabulary("ab"))
    assert part.nbytes == 0 and len(part.keys) == len(part.counts) == 3
    assert len(count_partial([""], 3, Vocabulary("ab")).hashes) == 1  # one empty name is a name


def test_a_running_scheduler_is_reached_by_its_address(client, tmp_path):
    from ngram.training.dask_engine import train_dask

    names = [name for name in generated_names(2000, seed=4) if name.strip()]
    path = tmp_path / "names.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    model, _ = train_dask(path, order=3, estimator=AddK(0.1), scheduler=client.scheduler.address, memory_bytes=16 << 20)
    assert_same_model(model, train(names, order=3, estimator=AddK(0.1), source=str(path)))


def test_weighted_corpora_on_a_cluster(client, tmp_path):
    from ngram.training.dask_engine import train_dask

    names = [name for name in generated_names(3000, seed=7) if name.strip()]
    path = tmp_path / "counts.tsv"
    path.write_text("".join(f"{name}\t{i % 4 + 1}\n" for i, name in enumerate(names)), encoding="utf-8")
    corpus = read_names(path, weighted=True)
    expected = train(corpus.names, order=4, estimator=make_estimator("kneser-ney"), weights=corpus.weights, source=str(path))
    model, _ = train_dask(path, order=4, estimator=make_estimator("kneser-ney"), client=client, memory_bytes=16 << 20, weighted=True)
    assert_same_model(model, expected)


def test_missing_dask_is_a_one_line_error(monkeypatch, tmp_path):
    from ngram.training.dask_engine import train_dask

    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(NgramError, match=r"pip install 'ngram-names\[dask\]'"):
        train_dask(tmp_path / "names.txt", order=2)


def test_an_unreachable_scheduler_is_a_one_line_error():
    from ngram.training.dask_engine import connect

    with pytest.raises(NgramError, match="cannot reach the Dask scheduler"):
        connect("tcp://127.0.0.1:1", timeout="1s")


def test_a_cluster_of_separate_processes_whose_workers_read_their_own_byte_ranges(tmp_path):
    """The recipe of the README: scheduler and workers started as their own processes (on
    loopback, standing in for machines), workers reading byte ranges of the shared file."""
    import os
    import socket
    import subprocess
    import time

    from conftest import REPO
    from ngram.formats.native import load
    from ngram.training.trainer import Resources, train_file

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                                 "--dashboard-address", "127.0.0.1:0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        started.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
                                         "--nthreads", "1", "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0",
                                         "--memory-limit", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        path = tmp_path / "names.txt"
        path.write_text("\n".join(generated_names(20_000, seed=7)) + "\n", encoding="utf-8")
        expected = train(read_names(path).names, order=5, estimator=make_estimator("modified-kneser-ney"), source=str(path))
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                client = Client(address, timeout="5s")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            client.wait_for_workers(2, timeout=60)
            workers = set(client.run(os.getpid).values())  # processes of their own
            assert len(workers) == 2 and os.getpid() not in workers
            model, summary = train_file(path, 5, make_estimator("modified-kneser-ney"),
                                        resources=Resources(memory=16 << 20, client=client, workers_read=True), output=tmp_path / "m.ngram")
        finally:
            client.close()
        assert summary.engine == "dask"
        assert_same_model(model, expected)
        assert_same_model(load(tmp_path / "m.ngram"), expected)
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=30)


def test_byte_ranges_cover_every_line_once(tmp_path):
    from ngram.training.streaming import read_line_range

    path = tmp_path / "names.txt"
    data = ("\n".join(generated_names(500, seed=1)) + "\nno newline at the end").encode("utf-8")
    path.write_bytes(data)
    for step in (1, 3, 64, 1000, len(data)):
        assert b"".join(read_line_range(path, a, a + step) for a in range(0, len(data), step)) == data
