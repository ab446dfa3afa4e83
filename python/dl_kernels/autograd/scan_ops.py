"""Differentiable scans (cumsum, cumprod, cummax / cummin, logcumsumexp) and the product
reduction. Gradients that divide by the input in textbook form (cumprod, prod) use products
of the other entries instead, so zeros in the input give exact gradients, as in PyTorch."""

from __future__ import annotations

import math
from typing import Any

from dl_kernels.autograd.engine import Function
from dl_kernels.autograd.function import _expand_reduced


def _at(axis: int, i: Any) -> tuple:
    return (slice(None),) * axis + (i,)


def _rev_cumsum(be: Any, x: Any, axis: int) -> Any:
    return be.flip(be.cumsum(be.flip(x, (axis,)), axis), (axis,))


def _exclusive_cumprod(be: Any, a: Any, axis: int) -> Any:
    """out[i] = prod(a[:i]) along axis (1 at i = 0)."""
    n = a.shape[axis]
    ones = be.ones(a.shape[:axis] + (1,) + a.shape[axis + 1:], a.dtype)
    if n <= 1:
        return be.broadcast_to(ones, a.shape)
    head = be.cumprod(be.getitem(a, _at(axis, slice(0, n - 1))), axis)
    return be.concat([ones, head], axis)


def _prod_of_others(be: Any, a: Any, axis: int) -> Any:
    """out[i] = prod(a[j] for j != i) along axis, without dividing (exact with zeros)."""
    before = _exclusive_cumprod(be, a, axis)
    after = be.flip(_exclusive_cumprod(be, be.flip(a, (axis,)), axis), (axis,))
    return be.mul(before, after)


class CumSum(Function):
    def forward(self, a, axis=0):
        self.axis = axis
        return self.be.cumsum(a, axis)

    def backward(self, g):
        return _rev_cumsum(self.be, g, self.axis)


class CumProd(Function):
    def forward(self, a, axis=0):
        self.a, self.axis = a, axis
        self.out = self.be.cumprod(a, axis)
        return self.out

    def backward(self, g):
        be, a, y, axis = self.be, self.a, self.out, self.axis
        n = a.shape[axis]
        if n == 0:
            return g
        if be.item(be.sum(be.eq(a, 0))) == 0:  # the textbook form: sum_{j>=i} g_j y_j / a_i
            return be.div(_rev_cumsum(be, be.mul(g, y), axis), a)
        # d y_j / d a_i = prod(a[:i]) * prod(a[i+1:j+1]); s_i = sum_{j>=i} g_j prod(a[i+1:j+1])
        # satisfies s_i = g_i + a_{i+1} s_{i+1}
        s = be.copy(g)
        for i in range(n - 2, -1, -1):
            nxt = be.mul(be.getitem(a, _at(axis, i + 1)), be.getitem(s, _at(axis, i + 1)))
            be.setitem(s, _at(axis, i), be.add(be.getitem(g, _at(axis, i)), nxt))
        return be.mul(_exclusive_cumprod(be, a, axis), s)


class CumExtreme(Function):
    """cummax / cummin: outputs (values, indices); the gradient goes to the index each
    running extreme came from."""

    def forward(self, a, axis=0, minimum=False):
        self.shape, self.axis = a.shape, axis
        values, self.idx = (self.be.cummin if minimum else self.be.cummax)(a, axis)
        return values, self.idx

    def backward(self, g, g_idx=None):
        return self.be.scatter_add(self.shape, self.idx, g, self.axis)


class LogCumSumExp(Function):
    def forward(self, a, axis=0):
        self.a, self.axis = a, axis
        self.out = self.be.logcumsumexp(a, axis)
        return self.out

    def backward(self, g):
        # d/da_i = sum_{j>=i} g_j exp(a_i - y_j), summed in log space for each sign of g
        be, a, y, axis = self.be, self.a, self.out, self.axis
        if a.size == 0:
            return g

        def part(gp: Any) -> Any:
            pos = be.gt(gp, 0)  # log(0) = -inf without computing it
            logs = be.where(pos, be.log(be.where(pos, gp, 1.0)), -math.inf)
            terms = be.sub(logs, y)
            rev = be.flip(be.logcumsumexp(be.flip(terms, (axis,)), axis), (axis,))
            return be.exp(be.add(rev, a))

        return be.sub(part(be.maximum(g, 0)), part(be.maximum(be.neg(g), 0)))


class Prod(Function):
    """Product over one axis (or all entries when axis is None)."""

    def forward(self, a, axis=None, keepdim=False):
        self.shape, self.axis, self.keepdim = a.shape, axis, keepdim
        self.a = a
        return self.be.prod(a, axis, keepdim)

    def backward(self, g):
        be, a = self.be, self.a
        if self.axis is None:
            flat = be.reshape(a, (-1,))
            others = be.reshape(_prod_of_others(be, flat, 0), self.shape) if flat.size else a
            return be.mul(be.broadcast_to(g, self.shape), others)
        g = _expand_reduced(be, g, self.shape, self.axis, self.keepdim)
        return be.mul(g, _prod_of_others(be, a, self.axis))
