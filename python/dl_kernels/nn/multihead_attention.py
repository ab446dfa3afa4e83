"""nn.MultiheadAttention with PyTorch's parameters, arguments and conventions (Vaswani et al.
2017): project query / key / value, split into heads, scaled dot-product attention per head,
concatenate, project out."""

from __future__ import annotations

import math
from typing import Any

from dl_kernels.dtypes import float32
from dl_kernels.errors import OpError
from dl_kernels.factories import ones, zeros
from dl_kernels.nn import functional as F
from dl_kernels.nn import init
from dl_kernels.nn.layers import Linear
from dl_kernels.nn.module import Module
from dl_kernels.nn.parameter import Parameter
from dl_kernels.ops.core import cat, where


def _empty(*shape: int, dtype: Any, device: Any) -> Parameter:
    return Parameter(zeros(*shape, dtype=dtype or float32, device=device))


class MultiheadAttention(Module):
    """Multi-head attention. Parameters as PyTorch's: ``in_proj_weight`` (3E, E) (or
    ``q_proj_weight`` / ``k_proj_weight`` / ``v_proj_weight`` when kdim or vdim differ from E),
    ``in_proj_bias`` (3E,), ``out_proj`` (Linear E -> E), optional ``bias_k`` / ``bias_v``.

    forward(query, key, value, key_padding_mask, need_weights, attn_mask,
    average_attn_weights, is_causal) -> (output, weights or None). Inputs (L, N, E), or
    (N, L, E) with batch_first, or unbatched (L, E). Masks follow nn.MultiheadAttention:
    boolean True means *masked out*; float masks are added to the scores."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be a positive "
                             f"multiple of num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first, self.add_zero_attn = batch_first, add_zero_attn
        e = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _empty(3 * e, e, dtype=dtype, device=device)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = _empty(e, e, dtype=dtype, device=device)
            self.k_proj_weight = _empty(e, self.kdim, dtype=dtype, device=device)
            self.v_proj_weight = _empty(e, self.vdim, dtype=dtype, device=device)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = _empty(3 * e, dtype=dtype, device=device)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(e, e, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = _empty(1, 1, e, dtype=dtype, device=device)
            self.bias_v = _empty(1, 1, e, dtype=dtype, device=device)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's: Xavier-uniform projections, zero biases, normal bias_k / bias_v."""
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight,
                  self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    def _projections(self) -> tuple:
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            ws = (w[:e], w[e:2 * e], w[2 * e:])
        else:
            ws = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        b = self.in_proj_bias
        bs = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        return ws, bs

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
            raise OpError(f"MultiheadAttention: expected (L, N, E) inputs, got "
                          f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        l, n, e = query.shape
        if e != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise OpError(f"MultiheadAttention: feature sizes {e}, {key.shape[-1]}, "
                          f"{value.shape[-1]}, expected {self.embed_dim}, {self.kdim}, "
                          f"{self.vdim}")
        if key.shape[:2] != value.shape[:2] or key.shape[1] != n:
            raise OpError(f"MultiheadAttention: key {tuple(key.shape)} and value "
                          f"{tuple(value.shape)} must share (S, N) with N = {n}")
        (wq, wk, wv), (bq, bk, bv) = self._projections()
        q, k, v = F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)
        h, hd = self.num_heads, self.head_dim
        mask = self._float_mask(attn_mask, l, key.shape[0], n, q)
        if self.bias_k is not None:
            k = cat([k, self.bias_k.expand(1, n, e)])
            v = cat([v, self.bias_v.expand(1, n, e)])
            mask = None if mask is None else F.pad(mask, (0, 1))
            if key_padding_mask is not None:
                key_padding_mask = F.pad(key_padding_mask, (0, 1))
        if self.add_zero_attn:
            k = cat([k, zeros(1, n, e, dtype=k.dtype)])
            v = cat([v, zeros(1, n, e, dtype=v.dtype)])
            mask = None if mask is None else F.pad(mask, (0, 1))
            if key_padding_mask is not None:
                key_padding_mask = F.pad(key_padding_mask, (0, 1))
        s = k.shape[0]
        # (T, N, E) -> (N, H, T, hd)
        q, k, v = (t.reshape(t.shape[0], n, h, hd).permute(1, 2, 0, 3) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        if mask is not None:
            scores = scores + mask
        if is_causal and attn_mask is None:
            scores = scores + self._float_mask(
                ones(l, s, dtype="bool").triu(1), l, s, n, q)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (n, s):
                raise OpError(f"MultiheadAttention: key_padding_mask shape "
                              f"{tuple(key_padding_mask.shape)}, expected {(n, s)}")
            kpm = key_padding_mask
            kpm = (where(kpm, -math.inf, 0.0) if kpm.dtype.name == "bool" else kpm)
            scores = scores + kpm.to(q.dtype).reshape(n, 1, 1, s)
        weights = scores.softmax(-1)
        attn = F.dropout(weights, self.dropout, self.training) if self.dropout else weights
        out = (attn @ v).permute(2, 0, 1, 3).reshape(l, n, e)
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        w = weights.mean(1) if average_attn_weights else weights
        return out, (w.squeeze(0) if unbatched else w)

    def _float_mask(self, attn_mask: Any, l: int, s: int, n: int, like: Any) -> Any:
        """attn_mask (L, S) or (N·H, L, S), bool (True = masked) or float -> an additive
        mask broadcasting against (N, H, L, S)."""
        if attn_mask is None:
            return None
        m = attn_mask
        if m.dtype.name == "bool":
            m = where(m, -math.inf, 0.0)
        m = m.to(like.dtype)
        if m.ndim == 2:
            if tuple(m.shape) != (l, s):
                raise OpError(f"MultiheadAttention: attn_mask shape {tuple(m.shape)}, expected "
                              f"{(l, s)}")
            return m
        if tuple(m.shape) != (n * self.num_heads, l, s):
            raise OpError(f"MultiheadAttention: attn_mask shape {tuple(m.shape)}, expected "
                          f"{(l, s)} or {(n * self.num_heads, l, s)}")
        return m.reshape(n, self.num_heads, l, s)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
