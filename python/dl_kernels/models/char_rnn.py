"""Character-level recurrent language model (char-rnn: Sutskever et al. 2011, Graves 2013): Embedding -> LSTM or GRU ->
Linear to the vocabulary, trained on the next character with truncated BPTT; perplexity,
temperature sampling and beam search.

Perplexity. With L the mean cross-entropy per character in nats (natural log, what the loss
computes), the perplexity is e^L: the model is as unsure as a uniform choice among e^L
characters. The notes write Perplexity = 2^L; that is the same number when L is measured in
bits (L_bits = L / ln 2). ``perplexities`` reports e^L, 2^L evaluated on the same L, and bits
per character, so the two conventions are never confused.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dl_kernels import nn
from dl_kernels.autograd.engine import no_grad
from dl_kernels.tensor import Tensor, tensor


def perplexities(loss_nats: float) -> dict[str, float]:
    """{'loss': L, 'bits': L/ln 2, 'ppl': e^L (= 2^bits), 'ppl2': 2^L (the notes' formula
    applied to L in nats)}."""
    loss = float(loss_nats)
    return {
        "loss": loss,
        "bits": loss / math.log(2.0),
        "ppl": math.exp(min(loss, 700.0)),
        "ppl2": 2.0 ** min(loss, 1000.0),
    }


class CharRNN(nn.Module):
    """Embedding(V, E) -> LSTM/GRU(E, H, layers; dropout between layers) -> Dropout ->
    Linear(H, V). ``forward(ids (N, T), state) -> (logits (N, T, V), state)``."""

    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 256,
                 layers: int = 1, cell: str = "lstm", dropout: float = 0.0) -> None:
        super().__init__()
        cell = cell.lower()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        self.vocab_size, self.cell, self.hidden_size = vocab_size, cell, hidden
        self.embedding = nn.Embedding(vocab_size, embed)
        rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn_cls(embed, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: Any, state: Any = None) -> tuple[Any, Any]:
        if not isinstance(ids, Tensor):
            ids = tensor(np.asarray(ids, dtype=np.int64))
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(self.drop(out)), state


def detach_state(state: Any) -> Any:
    """Cut the graph at a truncated-BPTT boundary: the values carry on, the gradient stops."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def _select(state: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of the batch axis (axis 1) of a hidden state (beam reordering)."""
    if isinstance(state, tuple):
        return tuple(_select(s, index) for s in state)
    return tensor(np.ascontiguousarray(state.numpy()[:, index]))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _prime(model: CharRNN, prime_ids: np.ndarray, batch: int = 1) -> tuple[np.ndarray, Any]:
    """Run the prime (all but its last character) and return the last character's ids and
    the state after the rest."""
    ids = np.asarray(prime_ids, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise ValueError("the prime text must hold at least one character")
    state = None
    if ids.size > 1:
        x = np.repeat(ids[None, :-1], batch, axis=0)
        _, state = model(x, None)
    return np.full((batch, 1), ids[-1], dtype=np.int64), state


def sample(model: CharRNN, prime_ids: np.ndarray, length: int, temperature: float = 1.0,
           rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Generate ``length`` ids after ``prime_ids`` by sampling softmax(logits / temperature)
    one character at a time, feeding each sample back in (temperature -> 0: greedy)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    was_training = model.training
    model.eval()
    out = []
    with no_grad():
        x, state = _prime(model, prime_ids)
        for _ in range(int(length)):
            logits, state = model(x, state)
            z = logits.numpy()[0, -1].astype(np.float64)
            if temperature == 0:
                nxt = int(z.argmax())
            else:
                p = np.exp(_log_softmax(z / temperature))
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            x = np.array([[nxt]], dtype=np.int64)
    model.train(was_training)
    return np.array(out, dtype=np.int64)


class _CharDecoder:
    """CharRNN as a dl_kernels.decoding StepDecoder: the state is the RNN's (batch axis 1)."""

    def __init__(self, model: CharRNN) -> None:
        self.model = model

    def step(self, tokens: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        logits, state = self.model(np.asarray(tokens, dtype=np.int64)[:, None], state)
        return _log_softmax(logits.numpy()[:, -1].astype(np.float64)), state

    def reorder(self, state: Any, index: np.ndarray) -> Any:
        return _select(state, index)


def beam_search(model: CharRNN, prime_ids: np.ndarray, length: int,
                beam: int = 5) -> tuple[np.ndarray, float]:
    """The most likely continuation of ``length`` ids that a beam of width ``beam`` finds:
    at each step every kept sequence is extended by every character, and only the ``beam``
    extensions with the largest total log-probability survive (dl_kernels.decoding's beam
    search, with no end token). Returns the best sequence and its total log-probability
    (nats)."""
    from dl_kernels.decoding import beam_search as search

    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if int(length) < 1:
        _prime(model, prime_ids)  # still validates the prime
        return np.zeros(0, dtype=np.int64), 0.0
    was_training = model.training
    model.eval()
    with no_grad():
        x, state = _prime(model, prime_ids, batch=1)
        best = search(_CharDecoder(model), state, x[:, 0], None, int(length), beam=beam)[0][0]
    model.train(was_training)
    return best.tokens, best.logp
