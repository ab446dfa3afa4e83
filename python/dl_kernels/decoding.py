"""Greedy decoding and beam search over any autoregressive decoder.

A decoder is anything with two methods (see ``StepDecoder``):

    step(tokens (B,) int64, state) -> (log_probs (B, V), state)
        one step: the log-probabilities of the next token after ``tokens`` and the new state;
    reorder(state, index (B',) int64) -> state
        the state of rows ``index`` (beam search copies, reorders and drops hypotheses).

Beam search (the search of Graves 2012 / Sutskever et al. 2014's decoders): every kept
hypothesis is extended by every token, and the ``beam`` best continuations by total
log-probability survive; a hypothesis that emits the end token is finished. All the batch's
beams run as one batch of B·k rows. Scores are the model's own: the total log-probability
(nats, end token included) and the ranking score logp / length^α (length normalisation, α =
``length_penalty``; 0 ranks by the total, 1 by the mean per token; Wu et al. 2016 discuss the
choice). The greedy hypothesis is always one of the candidates, so the best beam never scores
below greedy decoding on the ranking score, whatever the beam width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dl_kernels.autograd.engine import no_grad
from dl_kernels.tensor import Tensor


class StepDecoder(Protocol):
    def step(self, tokens: np.ndarray, state: Any) -> tuple[Any, Any]: ...

    def reorder(self, state: Any, index: np.ndarray) -> Any: ...


@dataclass(order=True)
class Hypothesis:
    """One output: ``score`` (the ranking score, logp / length^α), ``logp`` (total
    log-probability, nats), ``tokens`` (without the start and end tokens) and ``finished``
    (it emitted the end token before the length limit)."""

    score: float
    logp: float = field(compare=False)
    tokens: np.ndarray = field(compare=False)
    finished: bool = field(default=True, compare=False)


def reorder_state(state: Any, index: np.ndarray, axis: int = 0) -> Any:
    """Rows ``index`` along ``axis`` of every tensor / array in a nested state (tuples, lists,
    dicts; None stays None): the usual ``reorder`` of a decoder."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(reorder_state(s, index, axis) for s in state)
    if isinstance(state, list):
        return [reorder_state(s, index, axis) for s in state]
    if isinstance(state, dict):
        return {k: reorder_state(v, index, axis) for k, v in state.items()}
    idx = (slice(None),) * axis + (np.asarray(index, dtype=np.int64),)
    return state[idx]


class EnsembleDecoder:
    """Several decoders over one vocabulary as one: the next-token distribution is the
    weighted mean of the members' probabilities, log Σ_k w_k p_k(y | prefix) (the ensemble of
    Sutskever et al. 2014 and Luong et al. 2015), each member keeping its own state. Its state
    is the tuple of the members' states; ``weights`` default to equal."""

    def __init__(self, decoders: list[StepDecoder], weights: list[float] | None = None) -> None:
        if not decoders:
            raise ValueError("EnsembleDecoder needs at least one decoder")
        w = np.full(len(decoders), 1.0 / len(decoders)) if weights is None else \
            np.asarray(weights, dtype=np.float64)
        if w.shape != (len(decoders),) or not (np.all(w > 0) and np.isfinite(w).all()):
            raise ValueError(f"EnsembleDecoder: expected {len(decoders)} positive weights, got "
                             f"{weights!r}")
        self.decoders = list(decoders)
        self.log_weights = np.log(w / w.sum())

    def step(self, tokens: np.ndarray, state: tuple[Any, ...]
             ) -> tuple[np.ndarray, tuple[Any, ...]]:
        outs = [d.step(tokens, s) for d, s in zip(self.decoders, state)]
        lp = np.stack([_log_probs(o) + lw for (o, _), lw in zip(outs, self.log_weights)])
        top = lp.max(axis=0)
        finite = np.where(np.isfinite(top), top, 0.0)  # all -inf (or a NaN) stays as it is
        with np.errstate(divide="ignore"):
            mixed = finite + np.log(np.exp(lp - finite).sum(axis=0))
        return mixed, tuple(s for _, s in outs)

    def reorder(self, state: tuple[Any, ...], index: np.ndarray) -> tuple[Any, ...]:
        return tuple(d.reorder(s, index) for d, s in zip(self.decoders, state))


def _log_probs(out: Any) -> np.ndarray:
    lp = out.detach().numpy() if isinstance(out, Tensor) else np.asarray(out)
    return lp.astype(np.float64, copy=False)


def _norm(logp: float, length: int, alpha: float) -> float:
    return float(logp / max(length, 1) ** alpha if alpha else logp)


def _check(bos: Any, batch: int, max_len: int) -> np.ndarray:
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    start = np.asarray(bos, dtype=np.int64).reshape(-1)
    if start.size == 1:
        start = np.repeat(start, batch)
    if start.shape[0] != batch:
        raise ValueError(f"bos: expected one start token or {batch}, got {start.shape[0]}")
    return start


def greedy_decode(decoder: StepDecoder, state: Any, bos: Any, eos: int | None, max_len: int,
                  batch: int = 1, length_penalty: float = 0.0) -> list[Hypothesis]:
    """The most likely next token at every step, for a batch of ``batch`` rows, until each row
    emits ``eos`` (None: never) or ``max_len`` tokens. Returns one Hypothesis per row."""
    tokens = _check(bos, batch, max_len)
    rows = np.arange(batch)  # the rows still decoding, in the state's current order
    logp = np.zeros(batch)
    out: list[list[int]] = [[] for _ in range(batch)]
    done: list[Hypothesis | None] = [None] * batch
    with no_grad():
        for _ in range(int(max_len)):
            lp, state = decoder.step(tokens, state)
            lp = _log_probs(lp)
            nxt = lp.argmax(axis=1)
            logp[rows] += lp[np.arange(len(rows)), nxt]
            keep = []
            for j, r in enumerate(rows):
                if eos is not None and nxt[j] == eos:
                    toks = np.array(out[r], dtype=np.int64)
                    done[r] = Hypothesis(_norm(logp[r], len(toks) + 1, length_penalty),
                                         float(logp[r]), toks)
                else:
                    out[r].append(int(nxt[j]))
                    keep.append(j)
            if not keep:
                break
            if len(keep) < len(rows):
                keep_idx = np.array(keep, dtype=np.int64)
                state = decoder.reorder(state, keep_idx)
                rows, nxt = rows[keep_idx], nxt[keep_idx]
            tokens = nxt.astype(np.int64)
    for r in range(batch):
        if done[r] is None:
            toks = np.array(out[r], dtype=np.int64)
            done[r] = Hypothesis(_norm(logp[r], len(toks), length_penalty), float(logp[r]),
                                 toks, finished=False)
    return done  # type: ignore[return-value]


def beam_search(decoder: StepDecoder, state: Any, bos: Any, eos: int | None, max_len: int,
                beam: int = 5, batch: int = 1, n_best: int = 1, length_penalty: float = 0.0
                ) -> list[list[Hypothesis]]:
    """Beam search of width ``beam`` for a batch of ``batch`` rows (``state`` holds ``batch``
    rows; the beams run as batch·beam rows). A row stops when ``beam`` hypotheses have finished
    or after ``max_len`` tokens (its unfinished beams then count as candidates). Returns, per
    row, the ``n_best`` best hypotheses, best first."""
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if n_best < 1 or n_best > beam:
        raise ValueError(f"n_best must be in [1, beam={beam}], got {n_best}")
    start = _check(bos, batch, max_len)
    greedy = greedy_decode(decoder, state, start, eos, max_len, batch, length_penalty)
    k = beam
    B = batch
    # The state holds k rows for each source still searching; ``alive`` names those sources
    # (a finished source's rows are dropped, so no step is spent on them).
    alive = np.arange(B)
    state = decoder.reorder(state, np.repeat(alive, k))
    tokens = np.repeat(start, k)
    scores = np.full((B, k), -np.inf)
    scores[:, 0] = 0.0  # the first step expands one hypothesis per row, not k copies
    seqs = np.zeros((B, k, 0), dtype=np.int64)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    with no_grad():
        for t in range(int(max_len)):
            lp, state = decoder.step(tokens, state)
            lp = _log_probs(lp)
            A, V = len(alive), lp.shape[1]
            cand = (scores[:, :, None] + lp.reshape(A, k, V)).reshape(A, k * V)
            width = min(2 * k, k * V)
            top = np.argpartition(-cand, width - 1, axis=1)[:, :width]
            order = np.argsort(-np.take_along_axis(cand, top, 1), axis=1, kind="stable")
            top = np.take_along_axis(top, order, 1)
            vals = np.take_along_axis(cand, top, 1)
            src, tok = np.divmod(top, V)
            is_eos = (tok == eos) if eos is not None else np.zeros_like(tok, dtype=bool)
            # End tokens ranked within the top k finish a hypothesis (each beam has one end
            # token, so at least k of the 2k candidates continue).
            for a, j in zip(*np.nonzero(is_eos[:, :k] & np.isfinite(vals[:, :k]))):
                finished[alive[a]].append(Hypothesis(_norm(vals[a, j], t + 1, length_penalty),
                                                     float(vals[a, j]), seqs[a, src[a, j]].copy()))
            pick = np.argsort(is_eos, axis=1, kind="stable")[:, :k]  # first k continuations
            src_k = np.take_along_axis(src, pick, 1)
            tok_k = np.take_along_axis(tok, pick, 1)
            scores = np.take_along_axis(vals, pick, 1)
            seqs = np.concatenate([np.take_along_axis(seqs, src_k[:, :, None], 1),
                                   tok_k[:, :, None]], axis=2)
            going = np.array([len(finished[b]) < k for b in alive], dtype=bool)
            if not going.any():
                alive = alive[going]
                break
            flat = (np.arange(A)[:, None] * k + src_k)[going].reshape(-1)
            state = decoder.reorder(state, flat)
            alive, scores, seqs = alive[going], scores[going], seqs[going]
            tokens = tok_k[going].reshape(-1).astype(np.int64)
        # Out of length: the beams of the sources still searching are candidates too.
        for a, b in enumerate(alive):
            for j in range(k):
                if np.isfinite(scores[a, j]):
                    finished[b].append(Hypothesis(
                        _norm(scores[a, j], t + 1, length_penalty), float(scores[a, j]),
                        seqs[a, j].copy(), finished=False))
    results = []
    for b in range(B):
        cands = finished[b] + [greedy[b]]
        cands.sort(key=lambda h: -h.score)
        unique: list[Hypothesis] = []
        for h in cands:  # greedy's hypothesis is often also the beam's: keep one copy
            if not any(np.array_equal(h.tokens, u.tokens) for u in unique):
                unique.append(h)
            if len(unique) == n_best:
                break
        results.append(unique)
    return results


__all__ = ["EnsembleDecoder", "Hypothesis", "StepDecoder", "beam_search", "greedy_decode",
           "reorder_state"]
