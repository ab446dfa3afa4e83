"""The differentiable ops: one ``Function`` per op, forward and backward on backend arrays.

Each ``forward`` receives the inputs' arrays (None for an absent optional input) and keyword
parameters, and keeps on ``self`` only what its backward needs. Each ``backward`` returns one
gradient per input, summed back to the input's shape where the op broadcast it. ``self.be`` is
the inputs' backend: no op here touches numpy directly.
"""

from __future__ import annotations

import math
from typing import Any

from dl_kernels.autograd.engine import Function
from dl_kernels.shapes import wrap_dim, wrap_dims


def _mT(be: Any, x: Any) -> Any:
    """Swap the last two axes (a view)."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return be.permute(x, axes)


def _normalize_axis(axis: Any, ndim: int) -> Any:
    """dim(s) -> non-negative axes; IndexError when out of range. A 0-d tensor's dim 0 / -1
    is the empty tuple of axes (numpy reduces nothing, as PyTorch)."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        if len(axis) == 0:
            return None  # PyTorch: dim=() reduces every dim
        axes = wrap_dims(axis, ndim)
        return () if ndim == 0 else axes
    a = wrap_dim(axis, ndim)
    return () if ndim == 0 else a


def _expand_reduced(be: Any, g: Any, shape: tuple, axis: Any, keepdim: bool) -> Any:
    """Broadcast the gradient of a reduction back over the reduced axes (a read-only view)."""
    if not keepdim and axis is not None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        kshape = [1 if i in axes else n for i, n in enumerate(shape)]
        g = be.reshape(g, kshape)
    return be.broadcast_to(g, shape)


# ---- arithmetic (the second operand is a tensor b, or a Python scalar when b is None) -------
class Add(Function):
    def forward(self, a, b, scalar=None):
        if b is None:
            self.shapes = (a.shape, None)
            return self.be.add(a, scalar)
        self.shapes = (a.shape, b.shape)
        return self.be.add(a, b)

    def backward(self, g):
        ub = self.be.unbroadcast
        sa, sb = self.shapes
        return ub(g, sa), (ub(g, sb) if sb is not None else None)


class Sub(Function):
    def forward(self, a, b, scalar=None, reverse=False):
        self.reverse = reverse
        if b is None:
            self.shapes = (a.shape, None)
            return self.be.sub(scalar, a) if reverse else self.be.sub(a, scalar)
        self.shapes = (a.shape, b.shape)
        return self.be.sub(a, b)

    def backward(self, g):
        be = self.be
        sa, sb = self.shapes
        if sb is None:
            return be.neg(g) if self.reverse else g
        return be.unbroadcast(g, sa), be.unbroadcast(be.neg(g), sb)


class Mul(Function):
    def forward(self, a, b, scalar=None):
        if b is None:
            self.scalar = scalar
            return self.be.mul(a, scalar)
        self.a, self.b = a, b
        return self.be.mul(a, b)

    def backward(self, g):
        be = self.be
        if self.inputs[1] is None:
            return be.mul(g, self.scalar)
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        ga = be.unbroadcast(be.mul(g, b), a.shape) if need_a else None
        gb = be.unbroadcast(be.mul(g, a), b.shape) if need_b else None
        return ga, gb


class Div(Function):
    def forward(self, a, b, scalar=None, reverse=False):
        be = self.be
        self.reverse, self.scalar = reverse, scalar
        if b is None:
            out = be.div(scalar, a) if reverse else be.div(a, scalar)
            self.a, self.out = a, out
            return out
        self.a, self.b = a, b
        return be.div(a, b)

    def backward(self, g):
        be = self.be
        if self.inputs[1] is None:
            if self.reverse:  # d(s/a) = -s/a^2 = -out/a
                return be.neg(be.mul(g, be.div(self.out, self.a)))
            return be.div(g, self.scalar)
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        ga = be.unbroadcast(be.div(g, b), a.shape) if need_a else None
        gb = None
        if need_b:
            gb = be.unbroadcast(be.neg(be.div(be.mul(g, a), be.mul(b, b))), b.shape)
        return ga, gb


class Pow(Function):
    """a ** b, a ** scalar, or scalar ** a (reverse=True)."""

    def forward(self, a, b, scalar=None, reverse=False):
        be = self.be
        self.a, self.b, self.scalar, self.reverse = a, b, scalar, reverse
        if b is None:
            self.out = be.pow(scalar, a) if reverse else be.pow(a, scalar)
        else:
            self.out = be.pow(a, b)
        return self.out

    def backward(self, g):
        # PyTorch's conventions: d(a^b)/da is 0 where b == 0 (also at a == 0, where b a^(b-1)
        # is 0 * inf); d(a^b)/db is 0 where a == 0 and b >= 0, else a^b log(a) (nan for a < 0).
        be = self.be
        a, b, out = self.a, self.b, self.out
        if b is None:
            s = self.scalar
            if self.reverse:
                if s == 0:
                    return be.mul(g, be.where(be.ge(a, 0), 0.0, be.mul(out, -math.inf)))
                log_s = be.log(be.asarray(float(s), dtype=out.dtype))  # nan for s < 0
                return be.mul(g, be.mul(out, log_s))
            if s == 0:
                return be.mul(g, 0)
            if s == 2:
                return be.mul(g, be.mul(a, 2.0))
            return be.mul(g, be.mul(be.pow(a, s - 1), s))
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        if need_a:  # the masked entries get a safe base, so no 0 ** -1 is ever computed
            zero_b = be.eq(b, 0)
            da = be.where(zero_b, 0.0, be.mul(b, be.pow(be.where(zero_b, 1.0, a), be.sub(b, 1))))
            ga = be.unbroadcast(be.mul(g, da), a.shape)
        if need_b:
            masked = be.logical_and(be.eq(a, 0), be.ge(b, 0))
            db = be.where(masked, 0.0, be.mul(out, be.log(be.where(masked, 1.0, a))))
            gb = be.unbroadcast(be.mul(g, db), b.shape)
        return ga, gb


class Sign(Function):
    """sign(a): its derivative is zero wherever it exists (PyTorch's choice at 0 too)."""

    def forward(self, a):
        return self.be.sign(a)

    def backward(self, g):
        return self.be.mul(g, 0)


class Neg(Function):
    def forward(self, a):
        return self.be.neg(a)

    def backward(self, g):
        return self.be.neg(g)


class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return self.be.matmul(a, b)

    def backward(self, g):
        be = self.be
        a, b = self.a, self.b
        need_a, need_b = self.needs_input_grad
        if a.size == 0 or b.size == 0 or g.size == 0:  # every product sums nothing
            return be.zeros(a.shape, a.dtype), be.zeros(b.shape, b.dtype)
        if a.ndim == 2 and b.ndim == 2:
            ga = be.gemm(g, b, trans_b=True) if need_a else None
            gb = be.gemm(a, g, trans_a=True) if need_b else None
            return ga, gb
        a2 = be.reshape(a, (1, -1)) if a.ndim == 1 else a
        b2 = be.reshape(b, (-1, 1)) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = be.reshape(g2, g2.shape[:-1] + (1,) + g2.shape[-1:])
        if b.ndim == 1:
            g2 = be.reshape(g2, g2.shape + (1,))
        ga = gb = None
        if need_a:
            ga = be.unbroadcast(be.matmul(g2, _mT(be, b2)), a2.shape)
            ga = be.reshape(ga, a.shape)
        if need_b:
            if b2.ndim == 2:  # one GEMM over all rows of the batch
                k, m = b2.shape
                gb = be.gemm(be.reshape(a2, (-1, k)), be.reshape(g2, (-1, m)), trans_a=True)
            else:
                gb = be.unbroadcast(be.matmul(_mT(be, a2), g2), b2.shape)
            gb = be.reshape(gb, b.shape)
        return ga, gb


# ---- elementwise unary ----------------------------------------------------------------------
class Exp(Function):
    def forward(self, a):
        self.out = self.be.exp(a)
        return self.out

    def backward(self, g):
        return self.be.mul(g, self.out)


class Log(Function):
    def forward(self, a):
        self.a = a
        return self.be.log(a)

    def backward(self, g):
        return self.be.div(g, self.a)


class Sqrt(Function):
    def forward(self, a):
        self.out = self.be.sqrt(a)
        return self.out

    def backward(self, g):
        return self.be.div(g, self.be.mul(self.out, 2.0))


class Abs(Function):
    def forward(self, a):
        self.a = a
        return self.be.abs(a)

    def backward(self, g):
        return self.be.mul(g, self.be.sign(self.a))


class Tanh(Function):
    def forward(self, a):
        self.out = self.be.tanh(a)
        return self.out

    def backward(self, g):
        be, y = self.be, self.out
        return be.mul(g, be.sub(1.0, be.mul(y, y)))


class Sigmoid(Function):
    def forward(self, a):
        self.out = self.be.sigmoid(a)
        return self.out

    def backward(self, g):
        be, y = self.be, self.out
        return be.mul(g, be.mul(y, be.sub(1.0, y)))


class Relu(Function):
    def forward(self, a):
        self.out = self.be.maximum(a, 0)
        return self.out

    def backward(self, g):
        return self.be.mul(g, self.be.gt(self.out, 0))


class LeakyRelu(Function):
    def forward(self, a, slope=0.01):
        be = self.be
        self.factor = be.astype(be.where(be.ge(a, 0), 1.0, slope), a.dtype)
        return be.mul(a, self.factor)

    def backward(self, g):
        return self.be.mul(g, self.factor)


class Softplus(Function):
    def forward(self, a, beta=1.0, threshold=20.0):
        self.a, self.beta, self.threshold = a, beta, threshold
        return self.be.softplus(a, beta, threshold)

    def backward(self, g):
        be = self.be
        ba = be.mul(self.a, self.beta)
        s = be.sigmoid(ba)
        return be.mul(g, be.where(be.gt(ba, self.threshold), 1.0, s))


class Clamp(Function):
    def forward(self, a, min=None, max=None):
        be = self.be
        inside = None
        if min is not None:
            inside = be.ge(a, min)
        if max is not None:
            le = be.le(a, max)
            inside = le if inside is None else be.logical_and(inside, le)
        self.inside = inside
        return be.clip(a, min, max)

    def backward(self, g):
        return g if self.inside is None else self.be.mul(g, self.inside)


class Where(Function):
    """where(cond, a, b); cond is a bool array parameter, not an input."""

    def forward(self, a, b, cond=None):
        self.cond, self.shapes = cond, (a.shape, b.shape)
        return self.be.where(cond, a, b)

    def backward(self, g):
        be = self.be
        zero = be.zeros((), g.dtype)
        ga = be.unbroadcast(be.where(self.cond, g, zero), self.shapes[0])
        gb = be.unbroadcast(be.where(self.cond, zero, g), self.shapes[1])
        return ga, gb


class Maximum(Function):
    """maximum / minimum; at ties the gradient is split evenly, as torch does."""

    def forward(self, a, b, minimum=False):
        be = self.be
        self.shapes = (a.shape, b.shape)
        out = be.minimum(a, b) if minimum else be.maximum(a, b)
        win = be.lt(a, b) if minimum else be.gt(a, b)
        self.wa = be.astype(be.add(win, be.mul(be.eq(a, b), 0.5)), out.dtype)
        return out

    def backward(self, g):
        be = self.be
        ga = be.mul(g, self.wa)
        return be.unbroadcast(ga, self.shapes[0]), be.unbroadcast(be.sub(g, ga), self.shapes[1])


class Clone(Function):
    def forward(self, a):
        return self.be.copy(a)

    def backward(self, g):
        return g


class Cast(Function):
    def forward(self, a, dtype=None):
        self.src = a.dtype
        return self.be.astype(a, dtype)

    def backward(self, g):
        return self.be.astype(g, self.src)


# ---- reductions -----------------------------------------------------------------------------
class Sum(Function):
    def forward(self, a, axis=None, keepdim=False):
        self.shape, self.axis, self.keepdim = a.shape, _normalize_axis(axis, a.ndim), keepdim
        return self.be.sum(a, self.axis, keepdim)

    def backward(self, g):
        return _expand_reduced(self.be, g, self.shape, self.axis, self.keepdim)


class Mean(Function):
    def forward(self, a, axis=None, keepdim=False):
        self.shape, self.axis, self.keepdim = a.shape, _normalize_axis(axis, a.ndim), keepdim
        out = self.be.mean(a, self.axis, keepdim)
        self.count = max(a.size // max(out.size, 1), 1) if a.size else 1
        return out

    def backward(self, g):
        g = self.be.div(g, self.count)
        return _expand_reduced(self.be, g, self.shape, self.axis, self.keepdim)


class MaxReduce(Function):
    """max / min over axes; ties share the gradient evenly (a valid subgradient)."""

    def forward(self, a, axis=None, keepdim=False, minimum=False):
        be = self.be
        self.shape, self.axis, self.keepdim = a.shape, _normalize_axis(axis, a.ndim), keepdim
        out_k = (be.min if minimum else be.max)(a, self.axis, True)
        mask = be.astype(be.eq(a, out_k), a.dtype)
        self.mask = be.div(mask, be.sum(mask, self.axis, True))
        if keepdim:
            return out_k
        return be.reshape(out_k, be.sum(mask, self.axis, False).shape)

    def backward(self, g):
        be = self.be
        g = _expand_reduced(be, g, self.shape, self.axis, self.keepdim)
        return be.mul(g, self.mask)


class Var(Function):
    def forward(self, a, axis=None, correction=1, keepdim=False):
        be = self.be
        self.shape, self.axis, self.keepdim = a.shape, _normalize_axis(axis, a.ndim), keepdim
        mean = be.mean(a, self.axis, True)
        self.centered = be.sub(a, mean)
        n = a.size // max(mean.size, 1)
        # a float denominator: N - correction <= 0 gives inf / nan as in PyTorch, not an error
        self.denom = be.asarray(float(max(n - correction, 0)), dtype=a.dtype)
        sq = be.sum(be.mul(self.centered, self.centered), self.axis, keepdim)
        return be.div(sq, self.denom)

    def backward(self, g):
        be = self.be
        g = _expand_reduced(be, g, self.shape, self.axis, self.keepdim)
        return be.mul(g, be.div(be.mul(self.centered, 2.0), self.denom))


class LogSumExp(Function):
    def forward(self, a, axis=None, keepdim=False):
        be = self.be
        self.a, self.axis, self.keepdim = a, _normalize_axis(axis, a.ndim), keepdim
        self.out_k = be.logsumexp(a, self.axis, True)
        if keepdim:
            return self.out_k
        return be.logsumexp(a, self.axis, False)

    def backward(self, g):
        be = self.be
        g = _expand_reduced(be, g, self.a.shape, self.axis, self.keepdim)
        return be.mul(g, be.exp(be.sub(self.a, self.out_k)))


class Softmax(Function):
    def forward(self, a, dim=-1):
        be = self.be
        self.dim = dim = _normalize_axis(dim, a.ndim)
        if a.size == 0:
            self.out = be.copy(a)
            return self.out
        shifted = be.sub(a, be.max(a, dim, True))
        e = be.exp(shifted)
        self.out = be.div(e, be.sum(e, dim, True))
        return self.out

    def backward(self, g):
        be, y = self.be, self.out
        gy = be.mul(g, y)
        return be.sub(gy, be.mul(y, be.sum(gy, self.dim, True)))


class LogSoftmax(Function):
    def forward(self, a, dim=-1):
        be = self.be
        self.dim = dim = _normalize_axis(dim, a.ndim)
        self.out = be.sub(a, be.logsumexp(a, dim, True))
        return self.out

    def backward(self, g):
        be = self.be
        return be.sub(g, be.mul(be.exp(self.out), be.sum(g, self.dim, True)))


# ---- movement -------------------------------------------------------------------------------
class Reshape(Function):
    def forward(self, a, shape=None):
        self.shape = a.shape
        return self.be.reshape(a, shape)

    def backward(self, g):
        return self.be.reshape(g, self.shape)


class Permute(Function):
    def forward(self, a, axes=None):
        self.inverse = [0] * len(axes)
        for i, ax in enumerate(axes):
            self.inverse[ax] = i
        return self.be.permute(a, axes)

    def backward(self, g):
        return self.be.permute(g, self.inverse)


class Expand(Function):
    def forward(self, a, shape=None):
        self.shape = a.shape
        return self.be.broadcast_to(a, shape)

    def backward(self, g):
        return self.be.unbroadcast(g, self.shape)


def _is_int(it: Any) -> bool:
    return hasattr(it, "__index__") and not hasattr(it, "ndim") and not isinstance(it, bool)


def _is_advanced(it: Any) -> bool:
    return isinstance(it, list) or (hasattr(it, "ndim") and (it.ndim > 0 or it.dtype.kind == "b"))


def split_index(index: Any) -> tuple | None:
    """PyTorch's axis order for advanced indexing, as two numpy-style steps (basic, advanced).

    PyTorch applies integer indices first, as basic indexing (each removes its dim); numpy
    counts them among the advanced indices, so ``x[1, :, idx]`` has the advanced dims first in
    numpy (separated by a slice) but in place in PyTorch. None when the index needs no split
    (no integer next to an advanced index)."""
    if not isinstance(index, tuple):
        return None
    if not (any(_is_int(i) for i in index) and any(_is_advanced(i) for i in index)):
        return None
    basic: list = []
    adv: list = []
    for it in index:
        if _is_int(it):
            basic.append(it)
        elif it is None or isinstance(it, slice):
            basic.append(it)
            adv.append(slice(None))
        elif it is Ellipsis:
            basic.append(it)
            adv.append(it)
        else:  # an index array: a boolean mask covers as many dims as it has
            n = it.ndim if hasattr(it, "ndim") and it.dtype.kind == "b" else 1
            basic.extend([slice(None)] * n)
            adv.append(it)
    return tuple(basic), tuple(adv)


def index_get(be: Any, a: Any, index: Any) -> Any:
    """a[index] with PyTorch's axis order."""
    parts = split_index(index)
    if parts is None:
        return be.getitem(a, index)
    return be.getitem(be.getitem(a, parts[0]), parts[1])


def index_set(be: Any, a: Any, index: Any, value: Any) -> None:
    """a[index] = value with PyTorch's axis order (the basic step is a view of a)."""
    parts = split_index(index)
    if parts is None:
        be.setitem(a, index, value)
    else:
        be.setitem(be.getitem(a, parts[0]), parts[1], value)


class GetItem(Function):
    def forward(self, a, index=None, advanced=False):
        self.shape, self.dtype, self.index, self.advanced = a.shape, a.dtype, index, advanced
        return index_get(self.be, a, index)

    def backward(self, g):
        be = self.be
        out = be.zeros(self.shape, self.dtype)
        if not self.advanced:
            be.setitem(out, self.index, g)
            return out
        parts = split_index(self.index)
        if parts is None:  # repeated indices must accumulate
            return be.index_add(self.shape, self.index, g)
        basic, adv = parts
        view_shape = be.getitem(out, basic).shape
        be.setitem(out, basic, be.index_add(view_shape, adv, g))
        return out


class Gather(Function):
    def forward(self, a, index=None, axis=0):
        self.shape, self.index, self.axis = a.shape, index, axis
        return self.be.gather(a, index, axis)

    def backward(self, g):
        return self.be.scatter_add(self.shape, self.index, g, self.axis)


class SetItem(Function):
    """out = a with out[index] = value (value broadcast); a's grad is zero at index."""

    def forward(self, a, value, index=None, scalar=None):
        self.index = index
        self.vshape = None if value is None else value.shape
        index_set(self.be, a, index, scalar if value is None else value)
        return a

    def backward(self, g):
        be = self.be
        ga = None
        if self.needs_input_grad[0]:
            ga = be.copy(g)
            index_set(be, ga, self.index, 0)
        gv = None
        if self.vshape is not None and self.needs_input_grad[1]:
            gv = be.unbroadcast(index_get(be, g, self.index), self.vshape)
        return ga, gv


class Pad(Function):
    """Constant padding: widths ((before, after) per axis) filled with value."""

    def forward(self, a, widths=None, value=0.0):
        be = self.be
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, widths))
        self.region = tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, widths))
        out = be.full(shape, value, a.dtype)
        be.setitem(out, self.region, a)
        return out

    def backward(self, g):
        return self.be.getitem(g, self.region)


class Cat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.bounds = []
        total = 0
        for a in arrays:
            total += a.shape[axis]
            self.bounds.append(total)
        return self.be.concat(arrays, axis)

    def backward(self, g):
        return tuple(self.be.split(g, self.bounds[:-1], self.axis))


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return self.be.stack(arrays, axis)

    def backward(self, g):
        be, n = self.be, len(self.inputs)
        parts = be.split(g, n, self.axis)
        return tuple(be.reshape(p, p.shape[: self.axis] + p.shape[self.axis + 1 :]) for p in parts)


class Split(Function):
    def forward(self, a, sections=None, axis=0):
        self.axis = axis
        return tuple(self.be.split(a, sections, axis))

    def backward(self, *grads):
        return self.be.concat(grads, self.axis)


# ---- ops on the compiled kernels (through the backend) --------------------------------------
class Linear(Function):
    """y = act(x @ w.T + b) over the last axis of x, one GEMM for all leading axes; the bias and
    the activation (None, "relu", "tanh", "sigmoid") are the GEMM's epilogue, and the backward
    takes act' from the output y in the same pass that sums the bias gradient."""

    owns_grads = True  # every gradient a kernel's fresh output

    def forward(self, x, w, b, activation=None):
        be = self.be
        self.x_shape = x.shape
        x2 = x if x.ndim == 2 else be.reshape(x, (-1, x.shape[-1]))
        self.x2, self.w, self.act = x2, w, activation
        if b is None and activation is None:
            y = be.gemm(x2, w, trans_b=True)
        else:
            y = be.linear_forward(x2, w, b, activation or "none")
            self.y = y
        return y if x.ndim == 2 else be.reshape(y, x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        be = self.be
        g2 = g if g.ndim == 2 else be.reshape(g, (-1, g.shape[-1]))
        need_x, need_w, need_b = self.needs_input_grad
        if self.act is not None:
            g2, gb = be.activation_backward(g2, self.y, self.act, bool(need_b))
        else:
            gb = be.sum(g2, 0) if need_b else None
        gx = be.reshape(be.gemm(g2, self.w), self.x_shape) if need_x else None
        gw = be.gemm(g2, self.x2, trans_a=True) if need_w else None
        return gx, gw, gb


class Conv2d(Function):
    """y = act(conv2d(x, w) + b); with activation="relu" the ReLU is applied as the kernel
    writes y (conv + bias + ReLU in one pass) and the backward takes its mask from y."""

    owns_grads = True  # every gradient a kernel's fresh output

    def forward(self, x, w, b, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1,
                activation=None):
        self.x, self.w, self.act = x, w, activation
        self.params = (stride, padding, dilation, groups)
        if activation is None:
            return self.be.conv2d_forward(x, w, b, stride, padding, dilation, groups)
        self.y = self.be.conv2d_forward(x, w, b, stride, padding, dilation, groups,
                                        activation=activation)
        return self.y

    def backward(self, g):
        be, x, w, p = self.be, self.x, self.w, self.params
        if self.act is not None:
            g = be.activation_backward(g, self.y, self.act, False)[0]
        need_x, need_w, need_b = self.needs_input_grad
        gx = be.conv2d_backward_input(g, w, x.shape[2:], *p) if need_x else None
        gw = be.conv2d_backward_weight(g, x, w.shape[2:], *p) if need_w else None
        gb = be.conv2d_backward_bias(g) if need_b else None
        return gx, gw, gb


class MaxPool2d(Function):
    """Outputs y, or (y, argmax) with return_indices (argmax is not differentiable)."""

    def forward(self, x, kernel=None, stride=None, padding=(0, 0), return_indices=False):
        y, self.argmax = self.be.max_pool2d_forward(x, kernel, stride, padding)
        self.hw = x.shape[2:]
        return (y, self.argmax) if return_indices else y

    def backward(self, g, g_argmax=None):
        return self.be.max_pool2d_backward(g, self.argmax, self.hw)


class AvgPool2d(Function):
    def forward(self, x, kernel=None, stride=None, padding=(0, 0), count_include_pad=True):
        self.params = (x.shape[2:], kernel, stride, padding, count_include_pad)
        return self.be.avg_pool2d_forward(x, kernel, stride, padding, count_include_pad)

    def backward(self, g):
        return self.be.avg_pool2d_backward(g, *self.params)


class LogSoftmaxLast(Function):
    """log_softmax over the last axis on the fused kernel."""

    def forward(self, x):
        self.out = self.be.log_softmax_forward(x)
        return self.out

    def backward(self, g):
        return self.be.log_softmax_backward(g, self.out)


class SoftmaxCrossEntropy(Function):
    """Fused softmax + cross-entropy over (N, C) logits and (N,) int64 targets."""

    def forward(self, logits, targets, ignore_index=-100, label_smoothing=0.0,
                reduction="mean"):
        be = self.be
        self.logits = be.contiguous(logits)
        self.targets = targets
        self.opts = (ignore_index, label_smoothing, reduction)
        loss, self.lse = be.softmax_cross_entropy_forward(self.logits, targets, *self.opts)
        return loss

    def backward(self, g):
        return self.be.softmax_cross_entropy_backward(self.logits, self.targets, self.lse, g,
                                                      *self.opts), None


class Embedding(Function):
    """Rows of w picked by the integer array ``indices`` (an input without a gradient)."""

    owns_grads = True  # every gradient a kernel's fresh output

    def forward(self, w, indices, padding_idx=None):
        self.shape, self.indices, self.padding_idx = w.shape, indices, padding_idx
        return self.be.getitem(w, indices)

    def backward(self, g):
        be = self.be
        gw = be.index_add(self.shape, self.indices, g)
        if self.padding_idx is not None:
            be.setitem(gw, self.padding_idx, 0)
        return gw, None


class Step(Function):
    """Heaviside step: its derivative is zero wherever it exists."""

    def forward(self, x, low=0.0, high=1.0):
        be = self.be
        return be.astype(be.where(be.ge(x, 0), high, low), x.dtype)

    def backward(self, g):
        return self.be.mul(g, 0)


class LSTM(Function):
    """A whole sequence on the LSTM driver: inputs (x, h0, c0, w_ih, w_hh, b, peephole),
    outputs (y, h_T, c_T)."""

    owns_grads = True  # every gradient a kernel's fresh output

    def forward(self, x, h0, c0, w_ih, w_hh, b, peephole, variant="standard", reverse=False,
                batch_sizes=None):
        self.args = (x, h0, c0, w_ih, w_hh, peephole, variant, reverse)
        # Packed sequences (x [R, I], batch_sizes [T]) only where given: backends without them
        # keep their signature.
        self.packed = {} if batch_sizes is None else {"batch_sizes": batch_sizes}
        y, h_t, c_t, self.saved = self.be.lstm_forward(x, h0, c0, w_ih, w_hh, b, peephole,
                                                       variant, reverse, **self.packed)
        self.y = y
        return y, h_t, c_t

    def backward(self, dy, dh_t, dc_t):
        dx, dh0, dc0, dwi, dwh, db, dp = self.be.lstm_backward(*self.args, self.y, self.saved,
                                                               dy, dh_t, dc_t, **self.packed)
        return dx, dh0, dc0, dwi, dwh, db, dp


class LSTMCell(Function):
    """One LSTM step: inputs (x, h, c, w_ih, w_hh, b, peephole), outputs (h_new, c_new)."""

    def forward(self, x, h, c, w_ih, w_hh, b, peephole, variant="standard"):
        self.args = (x, h, c, w_ih, w_hh, peephole, variant)
        h_new, self.c_new, self.saved = self.be.lstm_cell_forward(x, h, c, w_ih, w_hh, b,
                                                                  peephole, variant)
        return h_new, self.c_new

    def backward(self, dh, dc):
        return tuple(self.be.lstm_cell_backward(*self.args, self.c_new, self.saved, dh, dc))


class Attention(Function):
    """One query per row over its keys, fused (csrc/cpu/attention.h): inputs (query (N, D),
    keys (N, S, D), values (N, S, Dv), mask (N, S) or None), outputs (context (N, Dv),
    weights (N, S))."""

    owns_grads = True

    def forward(self, q, k, v, mask):
        self.args = (q, k, v, mask)
        ctx, self.w = self.be.attention_forward(q, k, v, mask)
        return ctx, self.w

    def backward(self, g_ctx, g_w):
        q, k, v, mask = self.args
        return (*self.be.attention_backward(g_ctx, g_w, q, k, v, mask, self.w), None)


class StepGroup:
    """The steps of one LSTMCell over one sequence (a decoder run step by step). Each step's
    backward returns only dx, dh, dc and keeps its gate gradients da_t with its inputs; the
    first step's backward, which the graph order makes the last of the group, forms
    dW_ih = Σ_t da_tᵀ x_t, dW_hh = Σ_t da_tᵀ h_t and db = Σ_t da_t as one GEMM each over all
    steps' rows (large-K products instead of one thin product and one gradient addition per
    step)."""

    def __init__(self) -> None:
        self.steps = 0
        self.da: list = []
        self.x: list = []
        self.h: list = []


class LSTMCellGrouped(Function):
    """LSTMCell whose weight gradients are formed once per StepGroup (see there); inputs
    (x, h, c, w_ih, w_hh, b), outputs (h_new, c_new)."""

    def forward(self, x, h, c, w_ih, w_hh, b, variant="standard", group=None):
        self.args = (x, h, c, w_ih, w_hh, None, variant)
        self.group, self.first = group, group.steps == 0
        group.steps += 1
        h_new, self.c_new, self.saved = self.be.lstm_cell_forward(x, h, c, w_ih, w_hh, b, None,
                                                                  variant)
        return h_new, self.c_new

    def backward(self, dh, dc):
        be, g = self.be, self.group
        x, h = self.args[0], self.args[1]
        dx, dh0, dc0, da = be.lstm_cell_backward(*self.args, self.c_new, self.saved, dh, dc,
                                                 weight_grads=False)
        g.da.append(da)
        g.x.append(x)
        g.h.append(h)
        if not self.first:
            return dx, dh0, dc0, None, None, None
        da_all = be.concat(g.da, 0)
        x_all, h_all = be.concat(g.x, 0), be.concat(g.h, 0)
        g.da, g.x, g.h, g.steps = [], [], [], 0
        dwi = be.gemm(da_all, x_all, trans_a=True)
        dwh = be.gemm(da_all, h_all, trans_a=True)
        return dx, dh0, dc0, dwi, dwh, be.sum(da_all, 0)


class GRU(Function):
    """A whole sequence on the GRU driver: inputs (x, h0, w_ih, w_hh, b, b_hn), outputs
    (y, h_T)."""

    owns_grads = True  # every gradient a kernel's fresh output

    def forward(self, x, h0, w_ih, w_hh, b, b_hn, variant="notes", reverse=False,
                batch_sizes=None):
        self.args = (x, h0, w_ih, w_hh, variant, reverse)
        self.packed = {} if batch_sizes is None else {"batch_sizes": batch_sizes}
        self.y, h_t, self.saved = self.be.gru_forward(x, h0, w_ih, w_hh, b, b_hn, variant,
                                                      reverse, **self.packed)
        return self.y, h_t

    def backward(self, dy, dh_t):
        return tuple(self.be.gru_backward(*self.args, self.y, self.saved, dy, dh_t,
                                          **self.packed))


class GRUCell(Function):
    """One GRU step: inputs (x, h, w_ih, w_hh, b, b_hn), output h_new."""

    def forward(self, x, h, w_ih, w_hh, b, b_hn, variant="notes"):
        self.args = (x, h, w_ih, w_hh, variant)
        h_new, self.saved = self.be.gru_cell_forward(x, h, w_ih, w_hh, b, b_hn, variant)
        return h_new

    def backward(self, dh):
        return tuple(self.be.gru_cell_backward(*self.args, self.saved, dh))
