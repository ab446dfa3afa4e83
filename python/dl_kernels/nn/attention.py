"""Attention over a source sequence for encoder-decoder models.

- additive (Bahdanau, Cho & Bengio 2015): score(s, h_j) = vᵀ tanh(W_q s + W_k h_j);
- multiplicative (Luong, Pham & Manning 2015), dot: score(s, h_j) = sᵀ h_j, and
  general: score(s, h_j) = sᵀ W_a h_j.

α = softmax_j(score), with masked positions (padding of shorter sources) set to −∞ before the
softmax so they get weight exactly 0; context = Σ_j α_j · value_j.

Both modules take one decoder step's query (N, Dq) against the whole source (N, T, Dk) and
return ``(context (N, Dv), weights (N, T))``; Luong's scores, softmax and context run as one
fused kernel (``dot_attention``). The key-side projection is the same at every
decoder step, so ``project_keys(keys)`` computes it once per source and ``forward(...,
projected=...)`` reuses it (what makes a decoding step cheap). The scaled dot-product /
multi-head form lives in its own module.
"""

from __future__ import annotations

from typing import Any

from dl_kernels.nn import functional as F
from dl_kernels.nn.layers import Linear
from dl_kernels.nn.module import Module


def _check(name: str, query: Any, keys: Any, values: Any, mask: Any, dq: int, dk: int) -> None:
    if query.ndim != 2 or keys.ndim != 3 or keys.shape[0] != query.shape[0]:
        raise ValueError(f"{name} expects query (N, Dq) and keys (N, T, Dk), got "
                         f"{tuple(query.shape)} and {tuple(keys.shape)}")
    if query.shape[1] != dq or keys.shape[2] != dk:
        raise ValueError(f"{name}: expected query (N, {dq}) and keys (N, T, {dk}), got "
                         f"{tuple(query.shape)} and {tuple(keys.shape)}")
    if values is not None and (values.ndim != 3 or tuple(values.shape[:2]) != tuple(keys.shape[:2])):
        raise ValueError(f"{name}: values must be (N, T, Dv) = ({keys.shape[0]}, "
                         f"{keys.shape[1]}, Dv), got {tuple(values.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(keys.shape[:2]):
        raise ValueError(f"{name}: mask must be (N, T) = {tuple(keys.shape[:2])}, got "
                         f"{tuple(mask.shape)}")


def masked_attention(scores: Any, values: Any, mask: Any = None) -> tuple[Any, Any]:
    """softmax over the source axis of scores (N, T), masked (mask True/1 = may attend), then
    the weighted sum of values (N, T, Dv): returns (context (N, Dv), weights (N, T))."""
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    alpha = F.softmax(scores, dim=-1)
    context = (alpha.unsqueeze(-1) * values).sum(dim=1)
    return context, alpha


def dot_attention(query: Any, keys: Any, values: Any = None, mask: Any = None
                  ) -> tuple[Any, Any]:
    """Dot-product attention of one query per row, in one fused kernel (forward and backward):
    scores qᵀ k_j, softmax over j with masked positions (mask False/0) at -inf, context
    Σ_j α_j v_j. query (N, D), keys (N, T, D), values (N, T, Dv) (default: the keys), mask
    (N, T). Returns (context (N, Dv), weights (N, T)), the same values as the composed ops of
    ``masked_attention``."""
    from dl_kernels.autograd.function import Attention

    values = keys if values is None else values
    if mask is not None and mask.dtype.name != "bool":
        mask = mask != 0
    return Attention.apply(query, keys, values, mask)


class AdditiveAttention(Module):
    """``forward(query (N, Dq), keys (N, T, Dk), values=None, mask=None, projected=None)``
    returns ``(context (N, Dv), weights (N, T))``; values default to the keys; ``mask`` (N, T)
    is True (or 1) where a key may be attended to; ``projected`` = ``project_keys(keys)``.

    Parameters: ``query_proj`` Linear(Dq, A, bias=False), ``key_proj`` Linear(Dk, A) and
    ``v`` Linear(A, 1, bias=False), all with Linear's default init.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.query_proj = Linear(query_size, attention_size, False, device, dtype)
        self.key_proj = Linear(key_size, attention_size, True, device, dtype)
        self.v = Linear(attention_size, 1, False, device, dtype)

    def project_keys(self, keys: Any) -> Any:
        """W_k h_j + b for every source position (N, T, A): the same at every decoder step."""
        return self.key_proj(keys)

    def scores(self, query: Any, keys: Any, projected: Any = None) -> Any:
        """Unnormalised scores (N, T)."""
        q = self.query_proj(query).unsqueeze(1)          # (N, 1, A)
        k = self.project_keys(keys) if projected is None else projected
        return self.v(F.tanh(q + k)).squeeze(-1)         # (N, T)

    def forward(self, query: Any, keys: Any, values: Any = None, mask: Any = None,
                projected: Any = None) -> tuple[Any, Any]:
        _check("AdditiveAttention", query, keys, values, mask, self.query_size, self.key_size)
        values = keys if values is None else values
        return masked_attention(self.scores(query, keys, projected), values, mask)


BahdanauAttention = AdditiveAttention


class LuongAttention(Module):
    """Multiplicative attention, ``score`` = "dot" (sᵀ h_j, needs Dq = Dk) or "general"
    (sᵀ W_a h_j with ``W_a`` Linear(Dk, Dq, bias=False)). ``forward(query (N, Dq), keys
    (N, T, Dk), values=None, mask=None, projected=None)`` returns ``(context (N, Dv), weights
    (N, T))``; ``projected`` = ``project_keys(keys)`` (W_a h_j, computed once per source)."""

    def __init__(self, query_size: int, key_size: int | None = None, score: str = "general",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        key_size = query_size if key_size is None else key_size
        if score not in ("dot", "general"):
            raise ValueError(f"LuongAttention: score must be 'dot' or 'general', got {score!r}")
        if score == "dot" and key_size != query_size:
            raise ValueError(f"LuongAttention: 'dot' scores need query_size == key_size, got "
                             f"{query_size} and {key_size}")
        self.query_size, self.key_size, self.score = query_size, key_size, score
        if score == "general":
            self.key_proj = Linear(key_size, query_size, False, device, dtype)

    def project_keys(self, keys: Any) -> Any:
        return self.key_proj(keys) if self.score == "general" else keys

    def scores(self, query: Any, keys: Any, projected: Any = None) -> Any:
        """Unnormalised scores (N, T): a broadcast product and a sum (one pass over the keys,
        no per-example GEMM)."""
        k = self.project_keys(keys) if projected is None else projected
        return (k * query.unsqueeze(1)).sum(dim=-1)

    def forward(self, query: Any, keys: Any, values: Any = None, mask: Any = None,
                projected: Any = None) -> tuple[Any, Any]:
        _check("LuongAttention", query, keys, values, mask, self.query_size, self.key_size)
        k = self.project_keys(keys) if projected is None else projected
        return dot_attention(query, k, keys if values is None else values, mask)

    def extra_repr(self) -> str:
        return f"{self.query_size}, {self.key_size}, score={self.score!r}"
