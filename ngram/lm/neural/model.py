"""A recurrent next-symbol model (GRU) under the one model protocol, in numpy.

The network reads a name symbol by symbol, the start boundary first, and after each symbol gives
the next-symbol vector: an embedding of the symbol, ``layers`` GRU layers of ``hidden`` units
(PyTorch's equations and gate order r, z, n, so weights trained there load as they are), and a
linear layer to V logits, turned into ln-probabilities by a log-softmax in float64 (every row
sums to 1 to rounding). It is the same kind of function as a count model, context in,
distribution over the vocabulary out, trained on the same loss (cross-entropy = NLL per symbol);
only its context is the whole prefix, so it has no finite context automaton (``SEQUENTIAL``).

Scoring runs the network over all names at once: names sorted by length, at step t the names
still going are a leading slice, so each step is one matrix product per layer for all of them;
the first layer's input product is a table lookup (embedding x input weights, made once).
Training lives in ``ngram.lm.neural.fit`` (PyTorch, an optional extra); this module and the
file form (``ngram.lm.neural.files``) need numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ngram.core.errors import NgramError
from ngram.core.vocabulary import BOUNDARY, Encoded, Vocabulary
from ngram.lm.base import NameModel
from ngram.lm.protocol import NEXT_SYMBOL, SEQUENTIAL

CELL = "gru"
NAMES_PER_BATCH = 4096  # names scored at once: bounds the (targets x hidden) buffers (~70 MB at 256 units)


@dataclass
class GRUWeights:
    """The network's parameters, float64, PyTorch's layout: ``w_ih[l]`` (3H, in), ``w_hh[l]``
    (3H, H), biases (3H,) in gate order r, z, n; ``out_w`` (V, H), ``out_b`` (V,)."""

    embedding: np.ndarray  # (V, E)
    w_ih: list
    w_hh: list
    b_ih: list
    b_hh: list
    out_w: np.ndarray
    out_b: np.ndarray

    @property
    def hidden(self) -> int:
        return self.w_hh[0].shape[1]

    @property
    def layers(self) -> int:
        return len(self.w_hh)

    def n_parameters(self) -> int:
        arrays = [self.embedding, self.out_w, self.out_b, *self.w_ih, *self.w_hh, *self.b_ih, *self.b_hh]
        return int(sum(a.size for a in arrays))

    @classmethod
    def random(cls, V: int, embedding: int, hidden: int, layers: int, rng: np.random.Generator, scale: float = 0.5):
        """Seeded random weights (tests, and a check that a shape is valid)."""
        def u(*shape):
            return rng.uniform(-scale, scale, shape)
        w_ih = [u(3 * hidden, embedding if l == 0 else hidden) for l in range(layers)]
        return cls(u(V, embedding), w_ih, [u(3 * hidden, hidden) for _ in range(layers)],
                   [u(3 * hidden) for _ in range(layers)], [u(3 * hidden) for _ in range(layers)],
                   u(V, hidden), u(V))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + e^-x), without overflow warnings


def log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    shifted = logits - top
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class GRUModel(NameModel):
    """A GRU over symbols: ``logprobs`` after any prefix, ``score`` for all names in one batch."""

    kind = "neural"
    capabilities = frozenset({SEQUENTIAL, NEXT_SYMBOL})

    def __init__(self, vocabulary: Vocabulary, weights: GRUWeights, estimator: dict | None = None,
                 corpus: dict | None = None, train_names: np.ndarray | None = None):
        self.vocabulary = vocabulary
        self.weights = weights
        V = vocabulary.size
        if weights.embedding.shape[0] != V or weights.out_w.shape[0] != V:
            raise NgramError(f"network has {weights.out_w.shape[0]} outputs but the vocabulary has {V} symbols")
        # The context is the whole prefix; ``order`` (the longest context read + 1) is given as the
        # longest name trained on + 1 where known, for reports that show an order.
        self.order = int((corpus or {}).get("longest_name") or 0) + 1
        self.estimator = estimator or {"name": "gru", "layers": weights.layers, "hidden": weights.hidden,
                                       "embedding": weights.embedding.shape[1]}
        self.corpus = corpus or {}
        self.train_names = train_names
        w = weights
        # The first layer's input product for every symbol, made once: a lookup per step.
        self._input0 = w.embedding @ w.w_ih[0].T + w.b_ih[0]

    # ----- the recurrence ----------------------------------------------------------------------
    def start_state(self, n: int) -> np.ndarray:
        """The state of ``n`` names before their first symbol: (n, layers, hidden) zeros (names
        first, as every model's state, so a generator can keep the names still going)."""
        return np.zeros((n, self.weights.layers, self.weights.hidden))

    def _cell(self, layer: int, gates_in: np.ndarray, h: np.ndarray) -> np.ndarray:
        w = self.weights
        H = w.hidden
        gates_h = h @ w.w_hh[layer].T + w.b_hh[layer]
        r = _sigmoid(gates_in[:, :H] + gates_h[:, :H])
        z = _sigmoid(gates_in[:, H : 2 * H] + gates_h[:, H : 2 * H])
        n = np.tanh(gates_in[:, 2 * H :] + r * gates_h[:, 2 * H :])
        return n + z * (h - n)  # (1 - z) n + z h

    def _advance(self, state: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The states after reading ``symbols`` (one per name); ``state`` is (n, layers, hidden)."""
        w = self.weights
        out = np.empty_like(state)
        x = None
        for layer in range(w.layers):
            gates_in = self._input0[symbols] if layer == 0 else x @ w.w_ih[layer].T + w.b_ih[layer]
            x = out[:, layer] = self._cell(layer, gates_in, state[:, layer])
        return out

    def _rows(self, top: np.ndarray) -> np.ndarray:
        """ln p(next symbol) rows from the top layer's states (n, hidden)."""
        return log_softmax(top @ self.weights.out_w.T + self.weights.out_b)

    def step(self, state: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(new state, ln-rows (n, V)) after reading one symbol per name; the first symbol of a
        name is the start boundary (0)."""
        state = self._advance(state, np.asarray(symbols, np.int64))
        return state, self._rows(state[:, -1])

    # ----- the protocol's questions ------------------------------------------------------------
    def logprobs(self, context: str = "", at_start: bool = True) -> np.ndarray:
        if not at_start:
            raise NgramError("a neural model reads names from their start: next-symbol questions need a context "
                             "that begins the name")
        ids = [BOUNDARY] + [int(i) for i in self.vocabulary.encode_context(context)]
        state = self.start_state(1)
        for symbol in ids:
            state = self._advance(state, np.array([symbol]))
        return self._rows(state[:, -1])[0]

    def row_logprobs(self, encoded: Encoded) -> np.ndarray:
        """The whole next-symbol ln-vector at every target position, (targets, V)."""
        out = np.empty((encoded.n_targets, self.V))
        for rows, positions in self._batches(encoded):
            out[positions] = rows
        return out

    def logprob_encoded(self, encoded: Encoded) -> np.ndarray:
        targets = encoded.ids[1:]
        out = np.empty(encoded.n_targets)
        for rows, positions in self._batches(encoded):
            out[positions] = rows[np.arange(len(positions)), targets[positions]]
        return out

    def name_logprobs(self, encoded: Encoded) -> np.ndarray:
        logp = self.logprob_encoded(encoded)
        return np.add.reduceat(logp, encoded.starts) if len(logp) else np.zeros(encoded.n_names)

    def _batches(self, encoded: Encoded):
        """(ln-rows, their target positions) for batches of names: each batch runs the network
        once over its names, longest first, so the names still going at step t are a slice."""
        ids = encoded.ids
        lengths = encoded.symbols_per_name()  # inputs per name = targets per name
        order = np.argsort(-lengths, kind="stable")
        for lo in range(0, len(order), NAMES_PER_BATCH):
            names = order[lo : lo + NAMES_PER_BATCH]
            length = lengths[names]
            starts = encoded.starts[names]
            steps = int(length.max()) if len(names) else 0
            going = [int(np.count_nonzero(length > t)) for t in range(steps)]
            state = self.start_state(len(names))
            tops, positions = [], []
            for t in range(steps):
                m = going[t]
                state = state[:m]
                state = self._advance(state, ids[starts[:m] + t])
                tops.append(state[:, -1])
                positions.append(starts[:m] + t)  # target position (0-based over targets) = input index
            if tops:
                yield self._rows(np.concatenate(tops)), np.concatenate(positions)

    def n_ngrams(self) -> list[int]:
        return []

    def n_parameters(self) -> int:
        return self.weights.n_parameters()

    def describe(self) -> str:
        w = self.weights
        return (f"{CELL.upper()} {w.layers} layer{'s' if w.layers > 1 else ''} x {w.hidden} units, embedding "
                f"{w.embedding.shape[1]}, {self.n_parameters():,} parameters, V = {self.V} symbols")
