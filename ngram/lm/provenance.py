"""What a model records of the corpus it was trained on, written by one step for every producer.

Every producer of a model (in-memory training, the streaming and Dask engines, tuning, mixing)
ends with ``finish(model, corpus_info)``: it sets ``model.corpus`` (source, names, symbols,
sha256 of the names, total weight for weighted corpora) and ``model.train_names`` (the sorted
unique name fingerprints that sampling uses to tell novel names from training names). Nothing
else writes those two attributes.

    info = CorpusInfo.of_names(names, source="train.txt")          # a producer holding the names
    info = CorpusInfo(source, names, symbols, sha256, fingerprints=hashes)   # one that streamed them
    finish(model, info)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ngram.lm.backoff.model import fingerprints_of_hashes, hash_code_points
from ngram.core.vocabulary import code_points


@dataclass
class CorpusInfo:
    """The training corpus as a model records it.

    ``source``: the file name as given ("<stdin>", "<names>"); ``names``: how many names;
    ``symbols``: characters + one end symbol per name; ``sha256``: of the names, each followed by
    a newline (``corpus_fingerprint``); ``total_weight``: the sum of the weights of a weighted
    corpus (None otherwise); ``fingerprints``: sorted unique name hashes (``model.name_fingerprints``),
    or None to record none.
    """

    source: str
    names: int
    symbols: int
    sha256: str
    total_weight: float | None = None
    fingerprints: np.ndarray | None = None
    longest_name: int | None = None  # characters; sampling's default length cap (None: not measured)

    def as_dict(self) -> dict:
        """``model.corpus``: every field but the fingerprints."""
        return {"source": self.source, "names": int(self.names), "symbols": int(self.symbols), "sha256": self.sha256,
                **({"total_weight": float(self.total_weight)} if self.total_weight is not None else {}),
                **({"longest_name": int(self.longest_name)} if self.longest_name is not None else {})}

    @classmethod
    def of_names(cls, names: Sequence[str], source: str = "<names>", weights: Sequence[float] | None = None,
                 codes: np.ndarray | None = None) -> "CorpusInfo":
        """The record of a list of names (``codes``: their ``vocabulary.code_points``, if made already)."""
        codes = code_points(names) if codes is None else codes
        n_names = len(names)
        hashes = hash_code_points(codes) if n_names else np.zeros(0, np.uint64)
        return cls(source=source, names=n_names, symbols=int(len(codes) - 1) if n_names else 0,
                   sha256=fingerprint_of_code_points(codes, n_names),
                   total_weight=float(np.sum(weights)) if weights is not None else None,
                   fingerprints=fingerprints_of_hashes(hashes),
                   longest_name=longest_of_code_points(codes) if n_names else None)


def longest_of_code_points(codes: np.ndarray) -> int:
    """Characters in the longest name of a block given as ``vocabulary.code_points`` (a leading
    newline, then each name followed by one)."""
    return int(np.diff(np.flatnonzero(codes == 10)).max() - 1) if len(codes) > 1 else 0


def fingerprint_of_code_points(codes: np.ndarray, n_names: int) -> str:
    """sha256 of the ``n_names`` names whose ``vocabulary.code_points`` these are (each name
    followed by a newline)."""
    import hashlib  # here: OpenSSL takes 3 MB a process, and evaluating (which imports this module) never hashes

    digest = hashlib.sha256()
    if n_names:  # (no names and one empty name have the same code points)
        update_digest(digest, codes)
    return digest.hexdigest()


def update_digest(digest, codes: np.ndarray) -> None:
    """Feed ``digest`` the UTF-8 bytes of the names whose ``code_points`` these are, each
    followed by a newline: blocks of a corpus fed in turn give the whole corpus's digest."""
    if codes.dtype == np.uint8:  # ASCII: the code points are the UTF-8 bytes
        digest.update(codes[1:])
        return
    text = codes[1:].tobytes().decode("utf-32-le", "surrogatepass")
    digest.update(text.encode("utf-8", "surrogatepass"))


def finish(model, corpus_info: CorpusInfo):
    """Record ``corpus_info`` on ``model`` (``model.corpus`` and ``model.train_names``) and return it.

    Works on any model kind of the protocol (it sets two attributes). The one place a producer
    records its training corpus.
    """
    model.corpus = corpus_info.as_dict()
    model.train_names = corpus_info.fingerprints
    return model
