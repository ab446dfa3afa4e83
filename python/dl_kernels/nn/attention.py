"""Additive (Bahdanau) attention.

score(s, h_j) = vᵀ tanh(W_q s + W_k h_j)   (Bahdanau, Cho & Bengio 2015)
α = softmax_j(score) (masked positions get −∞),  context = Σ_j α_j · value_j
"""

from __future__ import annotations

from typing import Any

from dl_kernels.nn import functional as F
from dl_kernels.nn.layers import Linear
from dl_kernels.nn.module import Module


class AdditiveAttention(Module):
    """``forward(query (N, Dq), keys (N, T, Dk), values=None, mask=None)`` returns
    ``(context (N, Dv), weights (N, T))``; values default to the keys; ``mask`` (N, T) is
    True (or 1) where a key may be attended to.

    Parameters: ``query_proj`` Linear(Dq, A, bias=False), ``key_proj`` Linear(Dk, A) and
    ``v`` Linear(A, 1, bias=False), all with Linear's default init.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.query_proj = Linear(query_size, attention_size, False, device, dtype)
        self.key_proj = Linear(key_size, attention_size, True, device, dtype)
        self.v = Linear(attention_size, 1, False, device, dtype)

    def scores(self, query: Any, keys: Any) -> Any:
        """Unnormalised scores (N, T)."""
        q = self.query_proj(query).unsqueeze(1)          # (N, 1, A)
        k = self.key_proj(keys)                          # (N, T, A)
        return self.v(F.tanh(q + k)).squeeze(-1)         # (N, T)

    def forward(self, query: Any, keys: Any, values: Any = None,
                mask: Any = None) -> tuple[Any, Any]:
        if query.ndim != 2 or keys.ndim != 3 or keys.shape[0] != query.shape[0]:
            raise ValueError(f"AdditiveAttention expects query (N, Dq) and keys (N, T, Dk), "
                             f"got {tuple(query.shape)} and {tuple(keys.shape)}")
        values = keys if values is None else values
        e = self.scores(query, keys)
        if mask is not None:
            e = e.masked_fill(mask == 0, float("-inf"))
        alpha = F.softmax(e, dim=-1)
        context = (alpha.unsqueeze(-1) * values).sum(dim=1)
        return context, alpha


BahdanauAttention = AdditiveAttention
