"""Word-level LSTM language model with a shortlist vocabulary and a sampled softmax output.

The vocabulary is a shortlist: the most frequent words, every other word mapped to one
out-of-shortlist token (``<unk>``), as neural language models have done since Schwenk &
Gauvain (2005). Even so the output layer dominates the cost: scoring V words for every
position costs V·H multiply-adds against the LSTM's 4H·(E+H), and V is in the tens of
thousands.

Training therefore scores only the target and K words drawn from a proposal Q (unigram
frequencies to the power 0.75), with importance weights (Bengio & Senécal 2008; the
"sampled softmax" of Jean et al. 2015):

    Ẑ = e^{s_y} + (1/K) Σ_k [c_k ≠ y] e^{s_{c_k}} / Q(c_k)          c_1..c_K ~ Q, shared by the batch
    L̂ = log Ẑ − s_y = cross-entropy of the logits [s_y, s_{c_k} − log(K·Q(c_k))] at index 0

Since E[Σ_k [c_k ≠ y] e^{s_{c_k}} / (K·Q(c_k))] = Σ_{c≠y} e^{s_c}, E[Ẑ] = Z exactly, so
E[e^{L̂}] = e^{L} for the full softmax loss L (L̂ is biased low by Jensen, and consistent as
K grows). Evaluation always uses the full softmax, through the fused cross-entropy kernel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dl_kernels import nn
from dl_kernels.autograd.engine import no_grad
from dl_kernels.nn import functional as F
from dl_kernels.ops.core import cat
from dl_kernels.tensor import Tensor, tensor

# Logit given to a sampled word that is the target itself (an "accidental hit"): it must not
# count twice. Finite, so no inf − inf appears in the kernel's max-subtraction.
_HIT = -1e30


class UnigramSampler:
    """Draws K word ids with replacement from Q(w) ∝ max(count(w), 1)^power."""

    def __init__(self, counts: np.ndarray, power: float = 0.75) -> None:
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 1 or counts.size == 0:
            raise ValueError(f"counts must be a non-empty 1-D array, got shape {counts.shape}")
        q = np.maximum(counts, 1.0) ** float(power)
        self.q = q / q.sum()
        self._cdf = np.cumsum(self.q)
        self._cdf[-1] = 1.0

    def __len__(self) -> int:
        return self.q.size

    def sample(self, k: int, rng: np.random.Generator) -> np.ndarray:
        if k < 1:
            raise ValueError(f"the number of samples must be >= 1, got {k}")
        return np.minimum(np.searchsorted(self._cdf, rng.random(k), side="right"),
                          self.q.size - 1).astype(np.int64)


def sampled_softmax_loss(hidden: Any, weight: Any, bias: Any, targets: Any,
                         sampled: np.ndarray, q: np.ndarray,
                         reduction: str = "mean") -> Any:
    """Importance-sampled softmax cross-entropy (module docstring).

    hidden (M, H), weight (V, H) and bias (V,) of the output layer, targets (M,) int64 ids,
    ``sampled`` (K,) ids drawn from ``q`` (V,), the proposal's probabilities.
    """
    if hidden.ndim != 2 or weight.ndim != 2 or hidden.shape[1] != weight.shape[1]:
        raise ValueError(f"sampled_softmax_loss: hidden (M, H) and weight (V, H) expected, got "
                         f"{tuple(hidden.shape)} and {tuple(weight.shape)}")
    v = weight.shape[0]
    t = targets.detach().numpy() if isinstance(targets, Tensor) else targets
    t = np.asarray(t, dtype=np.int64).reshape(-1)
    sampled = np.asarray(sampled, dtype=np.int64).reshape(-1)
    q = np.asarray(q, dtype=np.float64)
    if t.shape[0] != hidden.shape[0]:
        raise ValueError(f"sampled_softmax_loss: {hidden.shape[0]} hidden rows but "
                         f"{t.shape[0]} targets")
    if q.shape != (v,):
        raise ValueError(f"sampled_softmax_loss: q must be ({v},), got {q.shape}")
    for name, ids in (("targets", t), ("sampled ids", sampled)):
        if ids.size and (ids.min() < 0 or ids.max() >= v):
            raise ValueError(f"sampled_softmax_loss: {name} must be in [0, {v}), got "
                             f"{ids.min()}..{ids.max()}")
    if sampled.size == 0:
        raise ValueError("sampled_softmax_loss: needs at least one sampled word")
    k = sampled.size
    t_ids, s_ids = tensor(t), tensor(sampled)
    bias_col = bias.reshape(v, 1)
    true_logit = (hidden * F.embedding(t_ids, weight)).sum(1, keepdim=True) + \
        F.embedding(t_ids, bias_col)                                         # (M, 1)
    correction = tensor(np.log(k * q[sampled]), dtype=hidden.dtype)
    sampled_logit = hidden @ F.embedding(s_ids, weight).t() + \
        F.embedding(s_ids, bias_col).reshape(1, k) - correction.reshape(1, k)  # (M, K)
    hits = t[:, None] == sampled[None, :]
    if hits.any():
        sampled_logit = sampled_logit.masked_fill(tensor(hits), _HIT)
    logits = cat([true_logit, sampled_logit], 1)
    zeros = tensor(np.zeros(t.shape[0], dtype=np.int64))
    return F.cross_entropy(logits, zeros, reduction=reduction)


class WordLSTM(nn.Module):
    """Embedding(V, E) -> LSTM(E, H, layers) -> Dropout -> Linear(H, V).

    ``forward(ids (N, T), state) -> (logits (N, T, V), state)`` (the full softmax's inputs, so
    the character model's sampling and beam search drive it unchanged);
    ``features(ids, state) -> (hidden (N, T, H), state)`` feeds the sampled softmax.
    """

    def __init__(self, vocab_size: int, embed: int = 128, hidden: int = 256, layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
        self.vocab_size, self.hidden_size = vocab_size, hidden
        self.embedding = nn.Embedding(vocab_size, embed)
        self.rnn = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden, vocab_size)

    def features(self, ids: Any, state: Any = None) -> tuple[Any, Any]:
        if not isinstance(ids, Tensor):
            ids = tensor(np.asarray(ids, dtype=np.int64))
        out, state = self.rnn(self.embedding(ids), state)
        return self.drop(out), state

    def forward(self, ids: Any, state: Any = None) -> tuple[Any, Any]:
        h, state = self.features(ids, state)
        return self.decoder(h), state

    def loss(self, x: np.ndarray, y: np.ndarray, state: Any = None,
             sampler: UnigramSampler | None = None, num_sampled: int = 0,
             rng: np.random.Generator | None = None) -> tuple[Any, Any]:
        """Mean next-word cross-entropy of a (N, T) window: the full softmax, or the sampled
        one when ``sampler`` and ``num_sampled`` are given. Returns (loss, state)."""
        h, state = self.features(x, state)
        h = h.reshape(-1, self.hidden_size)
        target = tensor(np.asarray(y, dtype=np.int64).reshape(-1))
        if sampler is None or num_sampled <= 0:
            return F.cross_entropy(self.decoder(h), target), state
        if len(sampler) != self.vocab_size:
            raise ValueError(f"the sampler covers {len(sampler)} words, the model "
                             f"{self.vocab_size}")
        ids = sampler.sample(num_sampled, rng if rng is not None else np.random.default_rng())
        return sampled_softmax_loss(h, self.decoder.weight, self.decoder.bias, target, ids,
                                    sampler.q), state


def evaluate(model: WordLSTM, ids: np.ndarray, batch_size: int = 16,
             seq_len: int = 35) -> dict[str, float]:
    """Full-softmax next-word cross-entropy over ``ids`` (state carried across windows):
    {'loss': nats per word, 'ppl': e^loss, 'words': count}."""
    from dl_kernels.data import SequenceLoader
    from dl_kernels.models.char_rnn import detach_state

    ids = np.asarray(ids, dtype=np.int64)
    rows = max(1, min(batch_size, (len(ids) - 1) // max(seq_len, 1)))
    loader = SequenceLoader(ids, rows, seq_len)
    was = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with no_grad():
        for x, y in loader:
            loss, state = model.loss(x, y, state)
            state = detach_state(state)
            total += float(loss.item()) * y.size
            count += y.size
    model.train(was)
    loss = total / max(count, 1)
    return {"loss": loss, "ppl": math.exp(min(loss, 700.0)), "words": float(count)}
