"""Scaled dot-product attention (Vaswani et al. 2017, "Attention is all you need"), as
torch.nn.functional.scaled_dot_product_attention computes it: softmax(q kᵀ · scale + mask) v,
composed of differentiable Tensor ops (matmul on our GEMM)."""

from __future__ import annotations

import math

from dl_kernels.errors import OpError
from dl_kernels.nn.functional import dropout
from dl_kernels.ops.core import where
from dl_kernels.tensor import Tensor


def attention_bias(attn_mask: Tensor | None, is_causal: bool, l: int, s: int,
                   like: Tensor) -> Tensor | None:
    """An additive mask: 0 where attention is allowed, -inf where not. A boolean attn_mask
    marks the allowed positions (PyTorch's sdpa convention); a float one is added as is."""
    bias = None
    if is_causal:
        if attn_mask is not None:
            raise OpError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
        bias = where(_causal(l, s, like), 0.0, -math.inf).to(like.dtype)
    elif attn_mask is not None:
        if attn_mask.dtype.name == "bool":
            bias = where(attn_mask, 0.0, -math.inf).to(like.dtype)
        else:
            bias = attn_mask.to(like.dtype)
    return bias


def _causal(l: int, s: int, like: Tensor) -> Tensor:
    from dl_kernels.factories import arange

    return arange(s, device=like.device).reshape(1, s) <= arange(l, device=like.device).reshape(
        l, 1)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev). attn_mask broadcasts to
    (..., L, S): bool (True = may attend) or float (added to the scores). is_causal masks
    positions j > i. enable_gqa repeats key/value heads (dim -3) to the query's count.
    dropout_p drops attention weights (always: pass 0.0 in evaluation, as in PyTorch)."""
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise OpError(f"scaled_dot_product_attention: expected (..., L, E) inputs, got "
                      f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise OpError(f"scaled_dot_product_attention: query {tuple(query.shape)}, key "
                      f"{tuple(key.shape)} and value {tuple(value.shape)} do not fit: query and "
                      "key need one embedding size, key and value one length")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise OpError(f"scaled_dot_product_attention: {hq} query heads are not a multiple "
                          f"of {hk} key/value heads")
        key = key.repeat_interleave(hq // hk, dim=-3)
        value = value.repeat_interleave(hq // hk, dim=-3)
    l, s = query.shape[-2], key.shape[-2]
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * factor
    bias = attention_bias(attn_mask, is_causal, l, s, scores)
    if bias is not None:
        scores = scores + bias
    weights = scores.softmax(-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value
