"""Sentence sentiment classifiers over word ids: a stacked LSTM and a 1-D convolutional net.

``SentimentLSTM`` is the Keras model of the course, layer for layer::

    Embedding(5000, 64) -> LSTM(64, return_sequences=True) -> LSTM(64) -> Dense(classes)

with one bias per gate as Keras has, so it counts 5000·64 + 2·4·(64·(64+64) + 64) + 65·classes
= 386,438 parameters for 6 classes. Sentences of a batch are padded at the end with id 0 and
their lengths passed along; the embedded batch is packed (``nn.utils.rnn.pack_padded_sequence``)
so the recurrent kernels run each step on the sentences still going, never on padding, and the
classifier reads the top layer's final state, the one after each sentence's own last word.

``KimCNN`` is Kim (2014), "Convolutional neural networks for sentence classification":
filters of widths 3, 4 and 5 slide over the embedded sentence, each feature map is max-pooled
over time, and dropout + a linear layer classify the concatenated maxima. Windows that start
past a sentence's end are excluded from the max (short sentences are zero-padded to the
widest filter, as Kim pads them).

Either model's embedding can start from pretrained word vectors (``load_word_vectors``) given
as a plain (words, matrix) pair, whatever produced them (our word2vec, a text file, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dl_kernels import nn
from dl_kernels.autograd.engine import no_grad
from dl_kernels.nn.utils.rnn import pack_padded_sequence
from dl_kernels.ops.core import cat
from dl_kernels.tensor import Tensor, tensor

PAD = 0  # id 0 is the padding token in every vocabulary built for these models


def pad_batch(sequences: Sequence[np.ndarray], min_len: int = 1,
              max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Post-pad id sequences with ``PAD`` into (N, T) int64 and return their lengths (N,).

    T is the longest length (at least ``min_len``); sequences longer than ``max_len`` keep
    their first ``max_len`` ids. An empty sequence becomes a single ``PAD`` (length 1), so
    every row has a last step to read.
    """
    lengths = np.array([max(1, min(len(s), max_len or len(s))) for s in sequences], np.int64)
    t = max(int(lengths.max(initial=1)), min_len)
    out = np.full((len(sequences), t), PAD, dtype=np.int64)
    for i, s in enumerate(sequences):
        s = np.asarray(s, dtype=np.int64)[:lengths[i]]
        out[i, :len(s)] = s
    return out, lengths


def _check_batch(ids: Any, lengths: Any) -> tuple[Any, np.ndarray]:
    if not isinstance(ids, Tensor):
        ids = tensor(np.asarray(ids, dtype=np.int64))
    if ids.ndim != 2:
        raise ValueError(f"ids must be (N, T) word ids, got shape {tuple(ids.shape)}")
    n, t = ids.shape
    lengths = (np.full(n, t, np.int64) if lengths is None
               else np.asarray(lengths, dtype=np.int64).reshape(-1))
    if lengths.shape != (n,):
        raise ValueError(f"lengths must be ({n},), got {lengths.shape}")
    if n and (lengths.min() < 1 or lengths.max() > t):
        raise ValueError(f"lengths must be in [1, {t}], got {lengths.min()}..{lengths.max()}")
    return ids, lengths


class SentimentLSTM(nn.Module):
    """Embedding(vocab, embed) -> LSTM(hidden) x layers -> Linear(hidden, classes), over
    packed sentences, reading each one's final state. ``forward(ids (N, T), lengths (N,)) -> logits (N, C)``."""

    def __init__(self, vocab_size: int = 5000, embed: int = 64, hidden: int = 64,
                 layers: int = 2, classes: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if min(vocab_size, embed, hidden, layers, classes) < 1:
            raise ValueError("vocab_size, embed, hidden, layers and classes must be >= 1")
        self.embedding = nn.Embedding(vocab_size, embed, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids: Any, lengths: Any = None) -> Any:
        ids, lengths = _check_batch(ids, lengths)
        packed = pack_padded_sequence(self.drop(self.embedding(ids)), lengths,
                                      batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.rnn(packed)             # h_n (layers, N, H), in the batch's order
        return self.head(self.drop(h_n[-1]))


class KimCNN(nn.Module):
    """Embedding -> Conv(width w, ``filters`` maps) + ReLU for w in ``widths`` -> max over
    time -> Dropout -> Linear. ``forward(ids (N, T), lengths (N,)) -> logits (N, C)``."""

    def __init__(self, vocab_size: int, embed: int = 64, filters: int = 100,
                 widths: Sequence[int] = (3, 4, 5), classes: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty list of sizes >= 1, got {widths}")
        self.widths = tuple(int(w) for w in widths)
        self.embedding = nn.Embedding(vocab_size, embed, padding_idx=PAD)
        # A width-w filter over (T, E) is a Conv2d with a (w, E) kernel on a 1-channel image.
        self.convs = nn.ModuleList([nn.Conv2d(1, filters, (w, embed)) for w in self.widths])
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(filters * len(self.widths), classes)

    @property
    def min_len(self) -> int:
        return max(self.widths)

    def forward(self, ids: Any, lengths: Any = None) -> Any:
        ids, lengths = _check_batch(ids, lengths)
        t = ids.shape[1]
        if t < self.min_len:
            raise ValueError(f"KimCNN needs sentences padded to at least {self.min_len} "
                             f"steps (pad_batch(..., min_len={self.min_len})), got {t}")
        x = self.embedding(ids).unsqueeze(1)                              # (N, 1, T, E)
        pooled = []
        for w, conv in zip(self.widths, self.convs):
            maps = conv(x).squeeze(3).relu()                              # (N, F, T-w+1)
            # Windows starting past the last real word see only padding: not features.
            starts = np.arange(t - w + 1)[None, :]
            past = starts > np.maximum(lengths[:, None] - w, 0)
            if past.any():
                maps = maps.masked_fill(tensor(past[:, None, :]), 0.0)
            pooled.append(maps.amax(2))
        return self.head(self.drop(cat(pooled, 1)))


def load_word_vectors(embedding: nn.Embedding, itos: Sequence[str], words: Sequence[str],
                      vectors: np.ndarray) -> int:
    """Copy the rows of ``vectors`` (len(words), E) into ``embedding`` for every vocabulary
    entry ``itos[i]`` found in ``words``; the others keep their initialisation. Returns how
    many rows were copied."""
    vectors = np.asarray(vectors)
    dim = embedding.weight.shape[1]
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"word vectors must be (len(words), dim) = ({len(words)}, dim), got "
                         f"{vectors.shape}")
    if vectors.shape[1] != dim:
        raise ValueError(f"word vectors have dimension {vectors.shape[1]}, the embedding "
                         f"{dim}: build the model with embed={vectors.shape[1]}")
    if len(itos) != embedding.weight.shape[0]:
        raise ValueError(f"the vocabulary has {len(itos)} entries, the embedding "
                         f"{embedding.weight.shape[0]} rows")
    row = {w: i for i, w in enumerate(words)}
    weight = embedding.weight.detach().numpy().copy()
    copied = 0
    for i, w in enumerate(itos):
        j = row.get(w)
        if j is not None and i != PAD:
            weight[i] = vectors[j]
            copied += 1
    with no_grad():
        embedding.weight.copy_(tensor(weight.astype(weight.dtype)))
    return copied


def fold_indices(n: int, k: int = 10, groups: Sequence[Any] | None = None,
                 seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint test folds covering range(n): shuffled rows, or (``groups`` given)
    whole groups (every snippet of a movie in one fold), folds balanced by size greedily."""
    if k < 2 or k > n:
        raise ValueError(f"the number of folds must be in [2, {n}], got {k}")
    rng = np.random.default_rng(seed)
    if groups is None:
        return [np.sort(f) for f in np.array_split(rng.permutation(n), k)]
    groups = list(groups)
    if len(groups) != n:
        raise ValueError(f"groups must have one entry per row ({n}), got {len(groups)}")
    names, inverse = np.unique(np.asarray(groups, dtype=object).astype(str),
                               return_inverse=True)
    if len(names) < k:
        raise ValueError(f"{len(names)} groups cannot fill {k} folds")
    sizes = np.bincount(inverse)
    order = rng.permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]   # largest first, ties shuffled
    load = np.zeros(k, np.int64)
    fold_of = np.empty(len(names), np.int64)
    for g in order:
        f = int(load.argmin())
        fold_of[g] = f
        load[f] += sizes[g]
    return [np.flatnonzero(fold_of[inverse] == f) for f in range(k)]
