"""word2vec written with autograd: the teaching version, and the oracle of the kernel.

The model is two embedding tables and a dot product (Mikolov et al. 2013):

    h      = mean of in_embed(inputs)                 (skip-gram: one context word)
    logits = bmm(out_embed(outputs), h)               (true word first, then K noise words)
    loss   = BCE-with-logits(logits, [1, 0, ..., 0])  (negative sampling), summed
          or cross-entropy(logits - log(K Q(w)), 0)   (sampled softmax, Jean et al. 2015)

and plain SGD touching only the rows in the example (sparse row updates: a dense step over the
whole V x D tables would cost V/K times more for the same result).

:func:`replay` takes the steps the kernel's reference rung recorded (``trace=True``: which words,
which negatives, which learning rate) and takes them again here; the test suite checks that
both end at the same weights to float tolerance, so the kernel computes exactly this model.
"""

from __future__ import annotations

import numpy as np

from dl_kernels import nn
from dl_kernels.factories import from_numpy
from dl_kernels.nn import functional as F
from dl_kernels.tensor import Tensor


class Word2VecAutograd(nn.Module):
    """Skip-gram / CBOW scorer: ``loss(inputs, outputs)`` for a batch of examples.

    ``inputs`` (N, C) int64 context ids with ``input_mask`` (N, C) float (1 = present), or C = 1
    for skip-gram; ``outputs`` (N, K+1) int64, the true word first.
    """

    def __init__(self, win: np.ndarray, wout: np.ndarray, loss: str = "negative",
                 log_kq: np.ndarray | None = None) -> None:
        super().__init__()
        if loss not in ("negative", "softmax"):
            raise ValueError(f"loss must be 'negative' or 'softmax', got {loss!r}")
        if loss == "softmax" and log_kq is None:
            raise ValueError("sampled softmax needs log_kq, log(K Q(w)) for every word")
        v, d = win.shape
        self.in_embed = nn.Embedding(v, d)
        self.out_embed = nn.Embedding(v, d)
        self.in_embed.weight.data = from_numpy(np.array(win, copy=True))
        self.out_embed.weight.data = from_numpy(np.array(wout, copy=True))
        self.loss_kind = loss
        self.log_kq = log_kq

    def loss(self, inputs: np.ndarray, outputs: np.ndarray,
             input_mask: np.ndarray | None = None) -> Tensor:
        inputs = np.asarray(inputs, np.int64)
        outputs = np.asarray(outputs, np.int64)
        n, m = outputs.shape
        x = self.in_embed(from_numpy(inputs))                      # (N, C, D)
        if input_mask is None:
            input_mask = np.ones(inputs.shape, np.float32)
        mask = from_numpy(np.asarray(input_mask, np.float32)[:, :, None])
        count = from_numpy(np.asarray(input_mask, np.float32).sum(1).reshape(n, 1, 1))
        h = (x * mask).sum(1, keepdim=True) / count                # (N, 1, D)
        u = self.out_embed(from_numpy(outputs))                    # (N, M, D)
        logits = u.bmm(h.transpose(1, 2)).reshape(n, m)            # (N, M)
        if self.loss_kind == "negative":
            labels = np.zeros((n, m), np.float32)
            labels[:, 0] = 1.0
            return F.binary_cross_entropy_with_logits(logits, from_numpy(labels), reduction="sum")
        shifted = logits - from_numpy(self.log_kq[outputs].astype(np.float32))
        return F.cross_entropy(shifted, from_numpy(np.zeros(n, np.int64)), reduction="sum")

    def sgd_step(self, lr: float, rows_in: np.ndarray, rows_out: np.ndarray,
                 lr_in: float | None = None) -> None:
        """weight[rows] -= lr * grad[rows] on the touched rows only, then clears the gradients.

        ``lr_in`` (default ``lr``) is the rate of the input table: word2vec's CBOW (word2vec.c,
        gensim with cbow_mean) adds the whole error to each of the C context vectors, which is
        this step with ``lr_in = C * lr``."""
        for emb, rows, rate in ((self.in_embed, rows_in, lr if lr_in is None else lr_in),
                                (self.out_embed, rows_out, lr)):
            rows = np.unique(rows)
            w = emb.weight.data.numpy()
            w[rows] -= np.float32(rate) * emb.weight.grad.numpy()[rows]
            emb.weight.grad = None


def log_kq(counts: np.ndarray, negative: int) -> np.ndarray:
    """log(K Q(w)) with Q the unigram distribution to the 3/4 power."""
    q = np.asarray(counts, np.float64) ** 0.75
    return np.log(negative * q / q.sum())


def replay(trace: dict, win: np.ndarray, wout: np.ndarray, loss: str = "negative",
           counts: np.ndarray | None = None, negative: int = 5) -> tuple[np.ndarray, np.ndarray,
                                                                         list[float]]:
    """Takes the recorded steps one at a time with autograd from (win, wout); returns the final
    (win, wout) and each step's loss."""
    model = Word2VecAutograd(win, wout, loss,
                             log_kq(counts, negative) if loss == "softmax" else None)
    off, ins, outs, lrs = (trace["input_offsets"], trace["inputs"], trace["outputs"], trace["lr"])
    m = len(outs) // max(len(lrs), 1)
    losses = []
    for e in range(len(lrs)):
        inp = ins[off[e]:off[e + 1]].astype(np.int64)[None, :]
        out = outs[e * m:(e + 1) * m].astype(np.int64)[None, :]
        loss_t = model.loss(inp, out)
        loss_t.backward()
        losses.append(float(loss_t.item()))
        model.sgd_step(float(lrs[e]), inp.ravel(), out.ravel(), float(lrs[e]) * inp.size)
    return (model.in_embed.weight.data.numpy(), model.out_embed.weight.data.numpy(), losses)


def skipgram_batches(corpus: np.ndarray, counts: np.ndarray, window: int = 5, negative: int = 5,
                     sample: float = 1e-3, batch_size: int = 256,
                     rng: np.random.Generator | None = None):
    """Skip-gram examples the way word2vec draws them, in numpy: sub-sampled corpus (ids, -1 =
    sentence boundary), a random window b in [1, window] per centre word, K noise words from
    counts^0.75 per pair. Yields (inputs (N, 1), outputs (N, K+1)) int64 mini-batches."""
    rng = rng or np.random.default_rng()
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    keep = np.ones_like(counts) if sample <= 0 else np.minimum(
        1.0, (np.sqrt(counts / (sample * total)) + 1) * sample * total / np.maximum(counts, 1))
    ids = corpus[(corpus < 0) | (rng.random(len(corpus)) < keep[np.maximum(corpus, 0)])]
    sentence = np.cumsum(ids < 0)
    pos = np.flatnonzero(ids >= 0)
    reach = rng.integers(1, window + 1, len(pos))
    ins, outs = [], []
    for off in range(1, window + 1):
        for sign in (-1, 1):
            ctx = pos + sign * off
            ok = (reach >= off) & (ctx >= 0) & (ctx < len(ids))
            ok[ok] &= (ids[ctx[ok]] >= 0) & (sentence[ctx[ok]] == sentence[pos[ok]])
            ins.append(ids[ctx[ok]])
            outs.append(ids[pos[ok]])
    inputs, centres = np.concatenate(ins), np.concatenate(outs)
    order = rng.permutation(len(inputs))
    q = counts ** 0.75
    q /= q.sum()
    for s in range(0, len(order), batch_size):
        b = order[s:s + batch_size]
        noise = rng.choice(len(counts), size=(len(b), negative), p=q)
        yield (inputs[b, None].astype(np.int64),
               np.concatenate([centres[b, None], noise], 1).astype(np.int64))


def train_skipgram(corpus: np.ndarray, counts: np.ndarray, dim: int = 50, epochs: int = 1,
                   window: int = 5, negative: int = 5, sample: float = 1e-3, lr: float = 0.025,
                   batch_size: int = 256, seed: int = 0) -> Word2VecAutograd:
    """Skip-gram with negative sampling trained by autograd alone: mini-batches of pairs, the
    summed loss, sparse SGD with a learning rate falling linearly to ~0. Slow (Python per
    batch) but every line is the textbook's; use :class:`dl_kernels.models.word2vec.Word2Vec`
    (the kernel) for real corpora."""
    rng = np.random.default_rng(seed)
    v = len(counts)
    model = Word2VecAutograd(((rng.random((v, dim)) - 0.5) / dim).astype(np.float32),
                             np.zeros((v, dim), np.float32))
    batches = [list(skipgram_batches(corpus, counts, window, negative, sample, batch_size, rng))
               for _ in range(epochs)]
    steps, done = sum(len(b) for b in batches), 0
    for epoch in batches:
        for inputs, outputs in epoch:
            rate = lr * max(1.0 - done / steps, 1e-4)
            loss = model.loss(inputs, outputs)
            loss.backward()
            model.sgd_step(rate, inputs.ravel(), outputs.ravel())
            done += 1
    return model
