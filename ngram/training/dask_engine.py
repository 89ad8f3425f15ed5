"""Counting on a Dask cluster: blocks of the corpus counted in parallel, partial counts merged by key.

The driver reads the corpus once for the character set (the vocabulary must be fixed before any
worker encodes a name). Then either each worker reads its own byte ranges of the file (whole
lines beginning in the range: ``streaming.read_line_range``) from storage every worker sees at
the same path, and the driver ships nothing (the default on a local cluster), or the driver
sends blocks of whole lines, a bounded number at a time, so the cluster needs no shared file
system (the default for a given scheduler; always for standard input and compressed files). Each worker counts its block with the ordinary in-memory
``count_ngrams``; partial counts are merged pairwise on the workers as they arrive (a sorted-array
merge that adds the counts of equal keys), so one merged ``Counts`` comes back. The estimator
then runs once, on the driver, on the merged counts: counts-of-counts, adjusted counts and
discounts are computed after the merge, never per partition, and the model is identical to the
single-process one.

Workers need the same ``ngram`` installed (``pip install 'ngram-names[dask]'`` on every machine).
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Sequence

import numpy as np

from ngram.core.corpus import COMPRESSED_SUFFIXES, DEFAULT_MAX_NAME_LENGTH, decode_text, parse_names, source_label
from ngram.core.counting import Counts, check_order
from ngram.core.errors import NgramError
from ngram.core.budget import DEFAULT_STREAMING_BYTES, Budget
from ngram.core.defaults import DEFAULT_ORDER
from ngram.training.streaming import (PROGRESS, Partial, check_streamable, count_partial,
                        finish_model, iter_blocks, read_line_range, scan_corpus)
from ngram.core.vocabulary import Vocabulary

LOCAL_WORKERS = 2


def _distributed():
    try:
        import distributed
    except ImportError:
        raise NgramError("the dask engine needs dask.distributed, which is not installed: pip install 'ngram-names[dask]' (or pip install 'dask[distributed]')") from None
    return distributed


def connect(scheduler: str | None = None, workers: int = LOCAL_WORKERS, timeout: str = "15s"):
    """A Dask client: to the scheduler at ``scheduler`` (``tcp://host:port``), or to a new
    ``LocalCluster`` of ``workers`` processes listening on the loopback interface only.
    Returns (client, cluster or None); close both when done."""
    distributed = _distributed()
    if scheduler:
        try:
            return distributed.Client(scheduler, timeout=timeout), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise NgramError(f"cannot reach the Dask scheduler at {scheduler} ({' '.join(str(exc).split()) or type(exc).__name__})") from None
    # Every listener on the loopback interface, on free ports (no fixed dashboard port to collide on).
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR)
    return distributed.Client(cluster), cluster


def _readable_by_range(source) -> bool:
    if not isinstance(source, (str, os.PathLike)) or str(source) == "-":
        return False
    return os.path.isfile(source) and os.path.splitext(str(source))[1].lower() not in COMPRESSED_SUFFIXES


def _count_block(data: bytes, first_line: int, label: str, order: int, vocabulary: Vocabulary, lowercase: bool,
                 encoding: str, max_name_length: int, weighted: bool, weight_scale: float = 1.0) -> Partial:
    text = decode_text(data, label, encoding, first_line=first_line)
    corpus = parse_names(text, label, lowercase, max_name_length, weighted, first_line=first_line, allow_empty=True)
    return count_partial(corpus, order, vocabulary, corpus.weights, weight_scale)


def _count_range(path: str, start: int, stop: int, label: str, order: int, vocabulary: Vocabulary, lowercase: bool,
                 encoding: str, max_name_length: int, weighted: bool, weight_scale: float = 1.0) -> Partial:
    """A worker reads its own byte range of the corpus (shared storage) and counts it."""
    data = read_line_range(path, start, stop)
    # Line numbers are unknown inside a range (the driver's first pass has checked every line);
    # ``first_line`` > 1 only says "not the start of the file" (no byte-order mark here).
    return _count_block(data, 1 if start == 0 else 2, label, order, vocabulary, lowercase, encoding, max_name_length, weighted,
                        weight_scale)


def _byte_ranges(path: str, size: int, block_bytes: int):
    """The tasks of a file read by byte ranges: ((path, start, stop), start) for consecutive ranges.
    A function of its own, not a generator expression in the caller: the ranges must not see
    the caller's later variables (a generator expression reads ``size`` when it runs, not when
    it is made)."""
    for start in range(0, size, block_bytes):
        yield (path, start, min(start + block_bytes, size)), start


def _merge(a: Partial, b: Partial) -> Partial:
    return a.merge(b)


def count_ngrams_dask(source, order: int, vocabulary: Vocabulary, client, block_bytes: int = 1 << 22,
                      lowercase: bool = False, encoding: str = "utf-8", max_name_length: int = DEFAULT_MAX_NAME_LENGTH,
                      progress: PROGRESS | None = None, in_flight: int | None = None,
                      weighted: bool = False, workers_read: bool = False, weight_scale: float = 1.0) -> tuple[Counts, np.ndarray]:
    """Counts of orders 1..order of a corpus file, computed by the workers of ``client``.

    At most ``in_flight`` blocks (default: two per worker, plus one) are sent and not yet
    counted at any time, which bounds the driver's memory. Returns the merged ``Counts`` and the
    sorted unique name fingerprints, as ``count_ngrams_streaming`` does.

    ``workers_read``: each task is a byte range of the file, which the worker reads itself from
    storage every worker sees at the same path (the driver ships no data); only for an
    uncompressed regular file.
    """
    distributed = _distributed()
    check_order(order, vocabulary.size)
    check_streamable(encoding)
    label = source_label(source)
    if in_flight is None:
        in_flight = 2 * max(1, len(client.scheduler_info().get("workers", {}))) + 1
    settings = dict(label=label, order=order, vocabulary=vocabulary, lowercase=lowercase, encoding=encoding,
                    max_name_length=max_name_length, weighted=weighted, weight_scale=weight_scale)
    if workers_read:
        if not _readable_by_range(source):
            raise NgramError(f"{label}: workers can read only an uncompressed regular file by byte ranges (not standard input or a compressed file)")
        blocks = _byte_ranges(os.path.abspath(source), os.path.getsize(source), block_bytes)
    else:
        blocks = iter_blocks(source, block_bytes, max_name_length, progress=progress)
    pending = distributed.as_completed()
    run = uuid.uuid4().hex[:8]
    blocks_in = {}  # future key -> how many blocks its partial counts cover
    waiting = {}  # blocks covered -> a finished partial result waiting for a partner of its size
    counting = 0

    def send_next() -> bool:
        nonlocal counting
        block = next(blocks, None)
        if block is None:
            return False
        if workers_read:
            future = client.submit(_count_range, *block[0], pure=False, key=f"ngram-count-{run}-{block[1]}", **settings)
        else:
            # Scattered first: a block inside the task itself would be a "large graph" (a warning, and slower).
            data = client.scatter(block[0], hash=False)
            future = client.submit(_count_block, data, block[1], pure=False, key=f"ngram-count-{run}-{block[1]}", **settings)
        blocks_in[future.key] = 1
        pending.add(future)
        counting += 1
        return True

    def merge(a, b):
        future = client.submit(_merge, a, b, pure=False, key=f"ngram-merge-{run}-{a.key}-{b.key}"[:200])
        blocks_in[future.key] = blocks_in.pop(a.key) + blocks_in.pop(b.key)
        pending.add(future)

    while counting < in_flight and send_next():
        pass
    for future in pending:
        if future.key.startswith(f"ngram-count-{run}"):
            counting -= 1
            while counting < in_flight and send_next():
                pass
        # Merge partials of equal size only (a binary counter), so every key is merged about
        # log2(blocks) times instead of once per block into an ever larger total.
        covered = blocks_in[future.key]
        if covered in waiting:
            merge(waiting.pop(covered), future)
        else:
            waiting[covered] = future
        if counting == 0 and pending.is_empty() and len(waiting) > 1:
            smallest = sorted(waiting)[:2]
            merge(waiting.pop(smallest[0]), waiting.pop(smallest[1]))
    if not waiting:
        raise NgramError(f"{label}: no names to count")
    (waiting,) = waiting.values()
    part = waiting.result()
    if len(part.hashes) == 0:
        raise NgramError(f"{label}: no names to count")
    return Counts(order=order, vocab_size=vocabulary.size, keys=part.keys, counts=part.counts), part.hashes


def train_dask(source, order: int = DEFAULT_ORDER, estimator=None, unk: bool = False, scheduler: str | None = None, client=None,
               memory_bytes: "int | Budget" = DEFAULT_STREAMING_BYTES, lowercase: bool = False, encoding: str = "utf-8",
               max_name_length: int = DEFAULT_MAX_NAME_LENGTH, progress: PROGRESS | None = None,
               prune: Sequence[int] | None = None, prune_entropy: float | None = None, tmpdir: str | os.PathLike | None = None,
               weighted: bool = False, workers_read: bool | None = None):
    """``train(read_names(source).names, ...)`` with the counting done by a Dask cluster.

    ``client`` (a ``distributed.Client``) is used as given; otherwise one is made for
    ``scheduler`` or for a new local cluster, and closed at the end. ``memory_bytes`` is the
    memory each counting task may use, which sets the block size. ``workers_read``: workers read
    their own byte ranges of the file (it must be at the same path on every worker: shared
    storage); by default they do on a local cluster, and the driver ships blocks to a given
    scheduler or client. Standard input and compressed files are always shipped.
    """
    _distributed()  # (a missing dask is said before the corpus is read)
    budget = Budget.of(memory_bytes)
    block_bytes = budget.block_bytes
    check_streamable(encoding)
    own = client is None
    if workers_read is None:
        workers_read = own and not scheduler
    workers_read = workers_read and _readable_by_range(source)
    cluster = None
    if own and scheduler:  # (an unreachable scheduler is said before the corpus is read)
        client, cluster = connect(scheduler)
    try:
        # A worker counts a line in one piece, as the streaming engine does: a line longer than the
        # budget can count is refused as soon as that much of it is read, before any cluster starts.
        scan = scan_corpus(source, block_bytes, lowercase, encoding, max_name_length, tmpdir, progress, weighted,
                           budget.line_budget(order, encoding))
        try:
            vocabulary = Vocabulary(scan.characters, unk=unk)
            check_order(order, vocabulary.size)
            if client is None:
                client, cluster = connect(None)
            counts, hashes = count_ngrams_dask(scan.copy or source, order, vocabulary, client, block_bytes, lowercase,
                                               encoding, max_name_length, progress, weighted=weighted,
                                               workers_read=workers_read and scan.copy is None,
                                               weight_scale=scan.weight_scale)
        finally:
            if scan.copy is not None:
                scan.copy.unlink(missing_ok=True)
    finally:
        if own and client is not None:
            client.close()
            if cluster is not None:
                cluster.close()
    return finish_model(counts, hashes, vocabulary, scan, estimator, prune, prune_entropy), scan
