"""Encoder-decoder with attention (Bahdanau, Cho & Bengio 2015; Luong, Pham & Manning 2015)::

    encoder   Embedding(S, E) -> bidirectional stacked LSTM/GRU over the packed source
              (variable lengths: nn.utils.rnn), memory m_j (N, S, 2·He)
    bridge    the decoder's initial state h_0 (and c_0) = tanh(W [→h_L; ←h_1] + b) per layer
    decoder   y_{t-1} embedded, concatenated with the previous attentional vector h̃_{t-1}
              ("input feeding", Luong et al. 2015), through stacked LSTM/GRU cells -> s_t;
              attention over the memory (padding masked) -> context c_t, weights α_t;
              h̃_t = tanh(W_c [c_t; s_t]); logits = W_o dropout(h̃_t)
    training  teacher forcing: the reference prefix is fed, the loss is the cross-entropy of
              every target token, padding ignored (ignore_index)

Decoding goes through ``dl_kernels.decoding`` (greedy and beam search): ``Seq2Seq.decoder_for``
wraps an encoded batch as a ``StepDecoder``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dl_kernels import nn
from dl_kernels.autograd.engine import is_grad_enabled, no_grad
from dl_kernels.decoding import EnsembleDecoder, beam_search, greedy_decode, reorder_state
from dl_kernels.factories import zeros
from dl_kernels.nn import functional as F
from dl_kernels.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from dl_kernels.ops.core import cat, stack
from dl_kernels.tensor import Tensor, tensor

ATTENTIONS = ("general", "dot", "additive")


def _ids(a: Any) -> Any:
    return a if isinstance(a, Tensor) else tensor(np.asarray(a, dtype=np.int64))


def _first_rows(state: Any, n: int) -> Any:
    """The first n rows of every tensor in a decoder state (lists and tuples of them), as
    views: decoding.reorder_state gathers arbitrary rows, a copy each time."""
    if isinstance(state, (list, tuple)):
        return type(state)(_first_rows(s, n) for s in state)
    return state[:n]


def _lengths_np(lengths: Any) -> np.ndarray:
    return np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths,
                      dtype=np.int64).reshape(-1)


def _ids_np(a: Any, name: str) -> np.ndarray:
    ids = np.asarray(a.numpy() if isinstance(a, Tensor) else a)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer token ids, got dtype {ids.dtype}")
    return ids.astype(np.int64, copy=False)


class Seq2Seq(nn.Module):
    """``forward(src (N, S), src_lengths (N,), tgt_in (N, T)) -> logits (N, T, V_tgt)``;
    ``loss(src, src_lengths, tgt_in, tgt_out)`` the mean cross-entropy over non-pad targets.
    Token ids: ``pad`` (0) pads both sides; targets start with ``bos`` and end with ``eos``."""

    def __init__(self, src_vocab: int, tgt_vocab: int, embed: int = 64, hidden: int = 256,
                 enc_layers: int = 2, dec_layers: int = 1, cell: str = "lstm",
                 attention: str = "general", dropout: float = 0.2, pad: int = 0, bos: int = 1,
                 eos: int = 2) -> None:
        super().__init__()
        cell = cell.lower()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if hidden % 2:
            raise ValueError(f"hidden must be even (the encoder's two directions each get "
                             f"hidden/2), got {hidden}")
        self.config = {"src_vocab": src_vocab, "tgt_vocab": tgt_vocab, "embed": embed,
                       "hidden": hidden, "enc_layers": enc_layers, "dec_layers": dec_layers,
                       "cell": cell, "attention": attention, "dropout": dropout, "pad": pad,
                       "bos": bos, "eos": eos}
        self.cell, self.hidden, self.pad, self.bos, self.eos = cell, hidden, pad, bos, eos
        self.dec_layers = dec_layers
        self.src_embed = nn.Embedding(src_vocab, embed, padding_idx=pad)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed, padding_idx=pad)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        kw = {} if cell == "lstm" else {"reset_after": True}
        self.encoder = rnn(embed, hidden // 2, num_layers=enc_layers, bidirectional=True,
                           batch_first=True, dropout=dropout if enc_layers > 1 else 0.0, **kw)
        self.bridge = nn.Linear(hidden, hidden * dec_layers * (2 if cell == "lstm" else 1))
        cell_cls = nn.LSTMCell if cell == "lstm" else nn.GRUCell
        self.cells = nn.ModuleList([cell_cls(embed + hidden if i == 0 else hidden, hidden, **kw)
                                    for i in range(dec_layers)])
        if attention == "additive":
            self.attention = nn.AdditiveAttention(hidden, hidden, hidden)
        else:
            self.attention = nn.LuongAttention(hidden, hidden, score=attention)
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, tgt_vocab)

    # ---- encoder -----------------------------------------------------------------------
    def encode(self, src: Any, src_lengths: Any) -> dict[str, Any]:
        """The source side, computed once per batch: memory (N, S, H), its attention key
        projection, the padding mask (N, S) and the decoder's initial state."""
        src = _ids(src)
        lengths = _lengths_np(src_lengths)
        n, s = src.shape
        if lengths.shape[0] != n:
            raise ValueError(f"src_lengths: expected {n} lengths, got {lengths.shape[0]}")
        emb = self.drop(self.src_embed(src))
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=s)
        h_n = state[0] if self.cell == "lstm" else state
        # The last layer's two directions: forward's state after each word's last character,
        # backward's after its first.
        last = cat([h_n[-2], h_n[-1]], dim=1)  # (N, H)
        init = F.tanh(self.bridge(last)).chunk(self.bridge.out_features // self.hidden, dim=1)
        layers = []
        for i in range(self.dec_layers):
            layers.append((init[2 * i], init[2 * i + 1]) if self.cell == "lstm" else init[i])
        mask = tensor(np.arange(s)[None, :] < lengths[:, None])
        return {"memory": memory, "keys": self.attention.project_keys(memory), "mask": mask,
                "state": layers,
                "feed": zeros(n, self.hidden, dtype=memory.dtype, device=memory.device)}

    # ---- one decoder step ------------------------------------------------------------------
    def step(self, emb: Any, enc: dict[str, Any], state: list[Any], feed: Any,
             groups: list[Any] | None = None) -> tuple[Any, list[Any], Any]:
        """One decoder step from the embedded previous token (N, E): returns the attentional
        vector h̃_t (N, H), the new cell states and the attention weights (N, S). ``groups``:
        one autograd StepGroup per LSTM layer while training (weight gradients of all steps in
        one GEMM)."""
        x = cat([emb, feed], dim=1)
        new_state = []
        for i, c in enumerate(self.cells):
            st = c(x, state[i], step_group=groups[i]) if groups else c(x, state[i])
            new_state.append(st)
            x = st[0] if self.cell == "lstm" else st
            if i + 1 < len(self.cells):
                x = self.drop(x)
        ctx, alpha = self.attention(x, enc["memory"], mask=enc["mask"], projected=enc["keys"])
        h_att = F.tanh(self.combine(cat([ctx, x], dim=1)))
        return h_att, new_state, alpha

    def forward(self, src: Any, src_lengths: Any, tgt_in: Any) -> Any:
        """Teacher forcing: logits (N, T, V) for every position of tgt_in (N, T)."""
        enc = self.encode(src, src_lengths)
        tgt_in = _ids(tgt_in)
        emb = self.drop(self.tgt_embed(tgt_in))  # (N, T, E), all steps at once
        state, feed = enc["state"], enc["feed"]
        groups = self._step_groups()
        outs = []
        for t in range(tgt_in.shape[1]):
            feed, state, _ = self.step(emb[:, t], enc, state, feed, groups)
            outs.append(feed)
        h = stack(outs, dim=1)  # (N, T, H)
        return self.out(self.drop(h))

    def loss(self, src: Any, src_lengths: Any, tgt_in: Any, tgt_out: Any,
             label_smoothing: float = 0.0) -> Any:
        """Mean cross-entropy (nats) over the target tokens that are not padding: the same
        value as the cross-entropy of ``forward``'s logits with ``ignore_index=pad``, without
        computing the padding. The rows are sorted by target length and decoder step t runs on
        the rows whose target is still going (a per-step active batch, as the packed encoder
        and cuDNN's packed sequences do); the logits of all steps' active rows go through the
        output layer and the loss as one packed matrix."""
        tin, tout = _ids_np(tgt_in, "tgt_in"), _ids_np(tgt_out, "tgt_out")
        if tin.shape != tout.shape or tin.ndim != 2:
            raise ValueError(f"tgt_in and tgt_out: expected two (N, T) arrays of one shape, got "
                             f"{tin.shape} and {tout.shape}")
        keep = tout != self.pad
        # A row's target runs to its last non-pad token (pads inside it are ignored below).
        tgt_len = np.where(keep.any(axis=1), tout.shape[1] - np.argmax(keep[:, ::-1], axis=1), 0)
        if not tgt_len.any():  # nothing to score: the padded path's (empty) mean
            logits = self(src, src_lengths, tin)
            v = logits.shape[-1]
            return F.cross_entropy(logits.reshape(-1, v), _ids(tout).reshape(-1),
                                   ignore_index=self.pad, label_smoothing=label_smoothing)
        order = np.argsort(-tgt_len, kind="stable")
        src_np = _ids_np(src, "src")
        lengths = _lengths_np(src_lengths)
        if lengths.shape[0] != src_np.shape[0] or tin.shape[0] != src_np.shape[0]:
            raise ValueError(f"loss: src has {src_np.shape[0]} rows, src_lengths "
                             f"{lengths.shape[0]}, the targets {tin.shape[0]}")
        enc = self.encode(src_np[order], lengths[order])
        emb = self.drop(self.tgt_embed(tensor(tin[order])))  # (N, T, E)
        tout = tout[order]
        active = (tgt_len[order][None, :] > np.arange(tout.shape[1])[:, None]).sum(axis=1)
        groups = self._step_groups()
        state, feed, source, rows = enc["state"], enc["feed"], enc, len(order)
        outs, targets = [], []
        for t, n in enumerate(active.tolist()):
            if n == 0:
                break
            if n < rows:  # finished rows drop off the end of the sorted batch
                state = _first_rows(state, n)
                feed = feed[:n]
                source = {k: enc[k][:n] for k in ("memory", "keys", "mask")}
                rows = n
            feed, state, _ = self.step(emb[:n, t], source, state, feed, groups)
            outs.append(feed)
            targets.append(tout[:n, t])
        logits = self.out(self.drop(cat(outs, dim=0)))  # (sum of active rows, V)
        return F.cross_entropy(logits, tensor(np.concatenate(targets)), ignore_index=self.pad,
                               label_smoothing=label_smoothing)

    def sequence_logp(self, src: Any, src_lengths: Any, tgt_in: Any, tgt_out: Any
                      ) -> np.ndarray:
        """log p(tgt_out | src) of every row (N,), float64: the sum over its non-pad target
        tokens of the log-softmax of ``forward``'s logits, in evaluation mode and without
        gradients. Scores given outputs, e.g. n-best lists from another model (rescoring)."""
        tin, tout = _ids_np(tgt_in, "tgt_in"), _ids_np(tgt_out, "tgt_out")
        if tin.shape != tout.shape or tin.ndim != 2:
            raise ValueError(f"tgt_in and tgt_out: expected two (N, T) arrays of one shape, got "
                             f"{tin.shape} and {tout.shape}")
        if tin.shape[0] == 0:  # nothing to score (the encoder's packing needs a row)
            return np.zeros(0, dtype=np.float64)
        was = self.training
        self.eval()
        try:
            with no_grad():
                logp = F.log_softmax(self(src, src_lengths, tin), dim=-1).numpy()
        finally:
            self.train(was)
        picked = np.take_along_axis(logp, tout[:, :, None], axis=2)[:, :, 0]
        return np.where(tout != self.pad, picked, 0.0).astype(np.float64).sum(axis=1)

    def _step_groups(self) -> list[Any] | None:
        """One StepGroup per LSTM decoder layer while gradients are recorded."""
        if self.cell != "lstm" or not is_grad_enabled():
            return None
        from dl_kernels.autograd.function import StepGroup

        return [StepGroup() for _ in self.cells]

    # ---- decoding ------------------------------------------------------------------------
    def decoder_for(self, src: Any, src_lengths: Any) -> tuple[_Decoder, Any]:
        """(a StepDecoder, its initial state) for an encoded batch (use under no_grad)."""
        enc = self.encode(src, src_lengths)
        rows = np.arange(enc["memory"].shape[0])
        return _Decoder(self, enc), {"rows": rows, "state": enc["state"], "feed": enc["feed"],
                                     "alpha": None}

    def translate(self, src: Any, src_lengths: Any, beam: int = 5, n_best: int = 1,
                  max_len: int | None = None, length_penalty: float = 0.0) -> list[list[Any]]:
        """Decode a batch: per source, the ``n_best`` Hypothesis (tokens without bos/eos,
        logp, score) of a beam search (beam=1: greedy)."""
        return translate([self], src, src_lengths, beam, n_best, max_len, length_penalty)

    def attention_weights(self, src: Any, src_lengths: Any, tokens: np.ndarray) -> np.ndarray:
        """The attention weights (T, S) while forcing ``tokens`` (the output, without bos) for
        one source: row t is where the decoder looked to emit output t (the last: the end)."""
        with no_grad():
            dec, state = self.decoder_for(src, src_lengths)
            rows = []
            for tok in [self.bos, *list(tokens)]:
                _, state = dec.step(np.array([tok], dtype=np.int64), state)
                rows.append(state["alpha"].numpy()[0])
        return np.stack(rows)[:, :int(np.asarray(src_lengths).reshape(-1)[0])]


def translate(models: list[Seq2Seq], src: Any, src_lengths: Any, beam: int = 5, n_best: int = 1,
              max_len: int | None = None, length_penalty: float = 0.0) -> list[list[Any]]:
    """``Seq2Seq.translate`` for one model or an ensemble of several trained on the same
    vocabularies: their next-token probabilities are averaged at every step
    (``decoding.EnsembleDecoder``), and greedy or beam search runs on the mixture."""
    if not models:
        raise ValueError("translate: give at least one model")
    first = models[0]
    for m in models[1:]:
        if (m.config["tgt_vocab"], m.bos, m.eos) != (first.config["tgt_vocab"], first.bos,
                                                     first.eos):
            raise ValueError("translate: an ensemble's models need one target vocabulary and "
                             f"the same bos/eos, got {m.config} and {first.config}")
    was = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        with no_grad():
            parts = [m.decoder_for(src, src_lengths) for m in models]
            if len(parts) == 1:
                dec, state = parts[0]
            else:
                dec = EnsembleDecoder([d for d, _ in parts])
                state = tuple(s for _, s in parts)
            n = len(np.asarray(src_lengths).reshape(-1))
            limit = max_len or int(2 * np.max(src_lengths) + 5)
            if beam == 1:
                return [[h] for h in greedy_decode(dec, state, first.bos, first.eos, limit, n,
                                                   length_penalty)]
            return beam_search(dec, state, first.bos, first.eos, limit, beam, n, n_best,
                               length_penalty)
    finally:
        for m, w in zip(models, was):
            m.train(w)


class _Decoder:
    """Seq2Seq as a StepDecoder. The source side (memory, keys, mask) is not copied when
    beams are reordered: the state holds ``rows``, the source row of each hypothesis, and the
    gathered source is cached while ``rows`` stays the same (beam search only permutes
    hypotheses of the same source, so it is gathered once)."""

    def __init__(self, model: Seq2Seq, enc: dict[str, Any]) -> None:
        self.model, self.enc = model, enc
        self._rows: np.ndarray | None = None
        self._src: dict[str, Any] = enc

    def _source(self, rows: np.ndarray) -> dict[str, Any]:
        if self._rows is None or not np.array_equal(rows, self._rows):
            identity = len(rows) == self.enc["memory"].shape[0] and \
                np.array_equal(rows, np.arange(len(rows)))
            self._src = self.enc if identity else \
                {k: self.enc[k][rows] for k in ("memory", "keys", "mask")}
            self._rows = rows.copy()
        return self._src

    def step(self, tokens: np.ndarray, state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        m = self.model
        emb = m.tgt_embed(tensor(np.asarray(tokens, dtype=np.int64)))
        src = self._source(state["rows"])
        feed, cells, alpha = m.step(emb, src, state["state"], state["feed"])
        logp = F.log_softmax(m.out(feed), dim=-1)
        return logp, {"rows": state["rows"], "state": cells, "feed": feed, "alpha": alpha}

    def reorder(self, state: dict[str, Any], index: np.ndarray) -> dict[str, Any]:
        return {"rows": state["rows"][index],
                "state": reorder_state(state["state"], index),
                "feed": reorder_state(state["feed"], index),
                "alpha": None if state["alpha"] is None else reorder_state(state["alpha"], index)}
