"""Training the neural next-symbol model (``ngram.lm.neural.model.GRUModel``) with PyTorch.

PyTorch is an optional extra (``pip install ngram-names[neural]``): it is imported here only, when
training starts, and the trained weights are handed to the numpy model, so a saved model loads,
scores and samples without it.

The loss is the one the project reports: the mean over symbols (characters and end symbols) of
-ln p(symbol | the name's prefix), start boundary first, exactly as ``evaluate`` counts it. Names
are batched by similar length (shuffled, then sorted within pools of 50 batches) so little is
padding; padded targets are left out of the loss. After every epoch the held-out names are
scored; the weights of the best held-out epoch are kept, the learning rate is halved when an
epoch does not improve, and training stops after ``patience`` such epochs, at ``max_epochs``, or
at ``time_limit``. Everything random (initial weights, shuffles, dropout) follows ``seed``; a run
is reproducible for a given seed and thread count (PyTorch's CPU kernels split sums by thread).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import Vocabulary
from ngram.lm.provenance import CorpusInfo, finish
from ngram.lm.neural.model import GRUModel, GRUWeights

POOL = 50  # batches per length-sorted pool
IGNORE = -100  # PyTorch's ignore_index: a padded target


@dataclass
class NeuralSettings:
    """The network's shape and how it is trained."""

    layers: int = 1  # 1 x 256 measured: English split in 8.5 min of training, test 1.8751 mixed (README)
    hidden: int = 256
    embedding: int = 64
    dropout: float = 0.2
    batch_size: int = 64
    learning_rate: float = 3e-3
    max_epochs: int = 30
    patience: int = 3
    time_limit: float | None = None  # seconds, for the whole training
    threads: int | None = None
    seed: int = 0

    def check(self) -> None:
        if not (1 <= self.layers <= 8 and 1 <= self.hidden <= 4096 and 1 <= self.embedding <= 4096):
            raise NgramError(f"neural model sizes out of range: layers {self.layers} (1-8), hidden {self.hidden} "
                             f"(1-4096), embedding {self.embedding} (1-4096)")
        if not 0 <= self.dropout < 1:
            raise NgramError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1 or not self.learning_rate > 0:
            raise NgramError("batch size, epochs and patience must be at least 1 and the learning rate positive")
        if self.time_limit is not None and not self.time_limit > 0:
            raise NgramError(f"--time-limit must be a positive number of seconds, got {self.time_limit}")
        if self.threads is not None and self.threads < 1:
            raise NgramError(f"--threads must be at least 1, got {self.threads}")

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TrainingLog:
    """What training did: held-out NLL (nats/symbol) per epoch, the epoch kept, why it stopped."""

    heldout_nll: list = field(default_factory=list)
    train_nll: list = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = ""
    seconds: float = 0.0

    @property
    def best_nll(self) -> float:
        return self.heldout_nll[self.best_epoch - 1] if self.heldout_nll else math.nan


def _torch():
    try:
        import torch
    except ImportError:
        raise NgramError("training a neural model needs PyTorch: pip install 'ngram-names[neural]' "
                         "(loading and scoring a saved one does not)") from None
    return torch


def _sequences(vocabulary: Vocabulary, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded inputs and targets (names x longest) and each name's length in targets."""
    encoded = vocabulary.encode(list(names))
    lengths = encoded.symbols_per_name()
    width = int(lengths.max()) if len(lengths) else 1
    column = np.arange(width)
    index = encoded.starts[:, None] + column[None, :]
    inside = column[None, :] < lengths[:, None]
    ids = encoded.ids
    inputs = np.where(inside, ids[np.minimum(index, len(ids) - 1)], 0)
    targets = np.where(inside, ids[np.minimum(index + 1, len(ids) - 1)], IGNORE)
    return inputs, targets, lengths


def _network(torch, V: int, s: NeuralSettings):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, s.embedding)
            self.gru = nn.GRU(s.embedding, s.hidden, s.layers, batch_first=True, dropout=s.dropout if s.layers > 1 else 0.0)
            self.drop = nn.Dropout(s.dropout)
            self.out = nn.Linear(s.hidden, V)

        def forward(self, x):
            h, _ = self.gru(self.embedding(x))
            return self.out(self.drop(h))

    return Net()


def to_weights(net) -> GRUWeights:
    """The trained parameters as the numpy model's (float64, PyTorch's layout kept)."""
    p = {k: v.detach().cpu().double().numpy().copy() for k, v in net.state_dict().items()}
    layers = net.gru.num_layers
    return GRUWeights(embedding=p["embedding.weight"],
                      w_ih=[p[f"gru.weight_ih_l{l}"] for l in range(layers)],
                      w_hh=[p[f"gru.weight_hh_l{l}"] for l in range(layers)],
                      b_ih=[p[f"gru.bias_ih_l{l}"] for l in range(layers)],
                      b_hh=[p[f"gru.bias_hh_l{l}"] for l in range(layers)],
                      out_w=p["out.weight"], out_b=p["out.bias"])


def _batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(len(lengths))
    batches = []
    pool = batch_size * POOL
    for lo in range(0, len(order), pool):
        chunk = order[lo : lo + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _nll_sum(torch, net, inputs, targets, lengths, rows: np.ndarray) -> tuple:
    width = int(lengths[rows].max())
    x = torch.from_numpy(inputs[rows, :width])
    y = torch.from_numpy(targets[rows, :width])
    logits = net(x)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                             ignore_index=IGNORE, reduction="sum")
    return loss, int(lengths[rows].sum())


def _heldout_nll(torch, net, data, batch: int = 1024) -> float:
    inputs, targets, lengths = data
    net.eval()
    total, count = 0.0, 0
    order = np.argsort(lengths, kind="stable")
    with torch.no_grad():
        for lo in range(0, len(order), batch):
            loss, n = _nll_sum(torch, net, inputs, targets, lengths, order[lo : lo + batch])
            total += float(loss)
            count += n
    net.train()
    return total / max(count, 1)


def train_neural(names: Sequence[str], heldout: Sequence[str], vocabulary: Vocabulary | None = None,
                 settings: NeuralSettings | None = None, progress: Callable[[int], object] | None = None,
                 source: str = "<names>") -> tuple[GRUModel, TrainingLog]:
    """Train a GRU on ``names`` with early stopping on ``heldout`` (names it never trains on).

    ``vocabulary``: default, the characters of both lists (a model mixed with count models takes
    theirs). ``progress(total_epochs)`` makes a bar (tqdm-like: ``update``, ``set_postfix_str``,
    ``close``) told each epoch's held-out NLL."""
    s = settings or NeuralSettings()
    s.check()
    names, heldout = list(names), list(heldout)
    if not names or not heldout:
        raise NgramError("training a neural model needs training names and held-out names (for early stopping)")
    torch = _torch()
    started = time.perf_counter()
    vocabulary = vocabulary or Vocabulary.from_names(names + heldout)
    train_data = _sequences(vocabulary, names)
    held_data = _sequences(vocabulary, heldout)
    previous_threads = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    try:
        torch.manual_seed(s.seed)
        rng = np.random.default_rng(s.seed)
        net = _network(torch, vocabulary.size, s)
        optimiser = torch.optim.Adam(net.parameters(), lr=s.learning_rate)
        log = TrainingLog()
        best_state, best = None, math.inf
        bar = progress(s.max_epochs) if progress else None
        stale = 0
        inputs, targets, lengths = train_data
        for epoch in range(1, s.max_epochs + 1):
            net.train()
            total, count, out_of_time = 0.0, 0, False
            for rows in _batches(lengths, s.batch_size, rng):
                loss, n = _nll_sum(torch, net, inputs, targets, lengths, rows)
                optimiser.zero_grad()
                (loss / n).backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimiser.step()
                total, count = total + loss.item(), count + n
                if s.time_limit is not None and time.perf_counter() - started > s.time_limit:
                    out_of_time = True
                    break
            nll = _heldout_nll(torch, net, held_data)
            log.heldout_nll.append(nll)
            log.train_nll.append(total / max(count, 1))
            if nll < best - 1e-5:
                best, stale, log.best_epoch = nll, 0, epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
                for group in optimiser.param_groups:
                    group["lr"] *= 0.5
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"held-out NLL {nll:.4f} (best {best:.4f}, epoch {log.best_epoch})")
            if out_of_time:
                log.stopped = f"time limit ({s.time_limit:g} s) reached in epoch {epoch}"
                break
            if stale >= s.patience:
                log.stopped = f"no held-out improvement for {s.patience} epochs"
                break
        else:
            log.stopped = f"{s.max_epochs} epochs"
        if bar is not None:
            bar.close()
        net.load_state_dict(best_state)
        weights = to_weights(net)
    finally:
        torch.set_num_threads(previous_threads)
    log.seconds = time.perf_counter() - started
    estimator = {"name": "gru", "layers": s.layers, "hidden": s.hidden, "embedding": s.embedding, "dropout": s.dropout,
                 "seed": s.seed, "epochs": len(log.heldout_nll), "best_epoch": log.best_epoch,
                 "heldout_nll": log.best_nll, "stopped": log.stopped, "training_seconds": round(log.seconds, 1)}
    model = GRUModel(vocabulary, weights, estimator)
    finish(model, CorpusInfo.of_names(names, source))
    model.order = int(model.corpus.get("longest_name") or 0) + 1
    return model, log
