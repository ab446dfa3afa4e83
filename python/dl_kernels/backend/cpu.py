"""The CPU backend: numpy arrays for storage and elementwise work, ``_C`` for the heavy kernels.

Methods that numpy already provides with the right meaning are bound directly (no wrapper, so
no per-call overhead); the rest are small functions. See ``dl_kernels.backend`` for the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dl_kernels import _C
from dl_kernels.backend.cpu_ops import CPUMathOps

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _gemm_operand(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """A 2-D array as (array with unit-stride rows, transposed?) for ``_C.gemm``, copying only
    when neither the array nor its transpose has unit-stride rows."""
    item = a.itemsize
    rows_ok = a.strides[1] == item or a.shape[1] <= 1
    if rows_ok and (a.shape[0] <= 1 or a.strides[0] >= a.shape[1] * item):
        return a, False
    if a.strides[0] == item or a.shape[0] <= 1:
        t = a.T
        if t.shape[0] <= 1 or t.strides[0] >= t.shape[1] * item:
            return t, True
    return np.ascontiguousarray(a), False


def _softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    bx = x * beta if beta != 1.0 else x
    out = np.logaddexp(0, bx)
    if beta != 1.0:
        out /= beta
    return np.where(bx > threshold, x, out)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only, so no overflow for either sign
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class CPUBackend(CPUMathOps):
    """numpy + ``dl_kernels._C`` (the extended math in ``cpu_ops.CPUMathOps``)."""

    device = "cpu"
    Array = np.ndarray

    def __init__(self) -> None:
        self.rng = np.random.default_rng()

    # ---- dtypes and conversion -------------------------------------------------------------
    @staticmethod
    def asarray(data: Any, dtype: Any = None) -> np.ndarray:
        return np.array(data, dtype=dtype)

    @staticmethod
    def astype(a: np.ndarray, dtype: Any) -> np.ndarray:
        return a.astype(dtype)

    copy = staticmethod(np.copy)
    contiguous = staticmethod(np.ascontiguousarray)

    @staticmethod
    def to_numpy(a: np.ndarray) -> np.ndarray:
        return a

    @staticmethod
    def from_dlpack(obj: Any) -> np.ndarray:
        return np.from_dlpack(obj)

    @staticmethod
    def is_contiguous(a: np.ndarray) -> bool:
        return a.flags.c_contiguous

    @staticmethod
    def dtype_of(a: np.ndarray) -> np.dtype:
        return a.dtype

    # ---- creation and random numbers --------------------------------------------------------
    empty = staticmethod(np.empty)
    zeros = staticmethod(np.zeros)
    ones = staticmethod(np.ones)

    @staticmethod
    def full(shape: Sequence[int], value: Any, dtype: Any) -> np.ndarray:
        return np.full(shape, value, dtype=dtype)

    @staticmethod
    def arange(start: Any, stop: Any, step: Any, dtype: Any) -> np.ndarray:
        return np.arange(start, stop, step, dtype=dtype)

    def manual_seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def randn(self, shape: Sequence[int], dtype: Any) -> np.ndarray:
        return self.rng.standard_normal(shape, dtype=dtype)

    def rand(self, shape: Sequence[int], dtype: Any) -> np.ndarray:
        return self.rng.random(shape, dtype=dtype)

    def randint(self, low: int, high: int, shape: Sequence[int], dtype: Any) -> np.ndarray:
        return self.rng.integers(low, high, size=shape, dtype=dtype)

    def bernoulli(self, shape: Sequence[int], p: float, dtype: Any) -> np.ndarray:
        """1 with probability p, else 0."""
        return (self.rng.random(shape, dtype=np.float32) < p).astype(dtype)

    # ---- elementwise ------------------------------------------------------------------------
    add = staticmethod(np.add)
    sub = staticmethod(np.subtract)
    mul = staticmethod(np.multiply)
    div = staticmethod(np.true_divide)
    pow = staticmethod(np.power)
    neg = staticmethod(np.negative)
    floor_divide = staticmethod(np.floor_divide)
    remainder = staticmethod(np.remainder)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    expm1 = staticmethod(np.expm1)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    tanh = staticmethod(np.tanh)
    sigmoid = staticmethod(_sigmoid)
    softplus = staticmethod(_softplus)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    clip = staticmethod(np.clip)
    where = staticmethod(np.where)
    eq = staticmethod(np.equal)
    ne = staticmethod(np.not_equal)
    lt = staticmethod(np.less)
    le = staticmethod(np.less_equal)
    gt = staticmethod(np.greater)
    ge = staticmethod(np.greater_equal)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)
    logical_not = staticmethod(np.logical_not)
    isclose = staticmethod(np.isclose)

    # ---- reductions -------------------------------------------------------------------------
    @staticmethod
    def sum(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        out = a.sum(axis, None, None, keepdims)
        return out if out.__class__ is np.ndarray else np.asarray(out)

    @staticmethod
    def mean(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        out = a.mean(axis, None, None, keepdims)
        return out if out.__class__ is np.ndarray else np.asarray(out)

    @staticmethod
    def max(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.max(a, axis=axis, keepdims=keepdims))

    @staticmethod
    def min(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.min(a, axis=axis, keepdims=keepdims))

    @staticmethod
    def argmax(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.argmax(a, axis=axis, keepdims=keepdims))

    @staticmethod
    def argmin(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.argmin(a, axis=axis, keepdims=keepdims))

    @staticmethod
    def logsumexp(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        # initial=-inf: an empty axis gives log(0) = -inf, as PyTorch
        m = np.max(a, axis=axis, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
        if not keepdims:
            out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
        return np.asarray(out)

    # ---- movement ---------------------------------------------------------------------------
    reshape = staticmethod(np.reshape)
    permute = staticmethod(np.transpose)
    broadcast_to = staticmethod(np.broadcast_to)
    concat = staticmethod(np.concatenate)
    stack = staticmethod(np.stack)

    @staticmethod
    def getitem(a: np.ndarray, index: Any) -> np.ndarray:
        return np.asarray(a[index])

    @staticmethod
    def setitem(a: np.ndarray, index: Any, value: Any) -> None:
        a[index] = value

    @staticmethod
    def index_add(shape: Sequence[int], index: Any, values: np.ndarray) -> np.ndarray:
        """zeros(shape) with ``values`` added at ``index`` (repeated indices accumulate)."""
        out = np.zeros(shape, dtype=values.dtype)
        np.add.at(out, index, values)
        return out

    @staticmethod
    def gather(a: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
        """out[..., i, ...] = a[..., index[..., i, ...], ...] along ``axis`` (torch.gather; the
        index may be smaller than ``a`` in the other dims, which are then cut to it)."""
        if index.shape != a.shape:
            a = a[tuple(slice(None) if i == axis else slice(0, n)
                        for i, n in enumerate(index.shape))]
        return np.take_along_axis(a, index, axis)

    @staticmethod
    def scatter_add(shape: Sequence[int], index: np.ndarray, values: np.ndarray,
                    axis: int) -> np.ndarray:
        """zeros(shape) with values added where gather(., index, axis) read them."""
        out = np.zeros(shape, dtype=values.dtype)
        grids = list(np.indices(index.shape, sparse=True))
        grids[axis] = index
        np.add.at(out, tuple(grids), values)
        return out

    @staticmethod
    def sort(a: np.ndarray, axis: int, descending: bool) -> tuple[np.ndarray, np.ndarray]:
        """(values, indices), a stable sort."""
        idx = np.argsort(-a if descending else a, axis=axis, kind="stable")
        return np.take_along_axis(a, idx, axis), idx

    @staticmethod
    def split(a: np.ndarray, sections: Any, axis: int) -> list[np.ndarray]:
        return np.split(a, sections, axis=axis)

    @staticmethod
    def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Sum a broadcast gradient back to ``shape``."""
        if g.shape == shape:
            return g
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
        )
        g = np.sum(g, axis=axes, keepdims=True)
        return g.reshape(shape)

    # ---- GEMM -------------------------------------------------------------------------------
    @staticmethod
    def gemm(a: np.ndarray, b: np.ndarray, trans_a: bool = False, trans_b: bool = False):
        """op(a) @ op(b) for 2-D float arrays on our GEMM."""
        a2, ta = _gemm_operand(a)
        b2, tb = _gemm_operand(b)
        return _C.gemm(a2, b2, trans_a=ta != trans_a, trans_b=tb != trans_b)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """numpy.matmul semantics (1-D, 2-D, broadcast batches) with every product on our GEMM."""
        if a.dtype not in _FLOATS or a.dtype != b.dtype or a.size == 0 or b.size == 0:
            return np.matmul(a, b)  # an empty product is zeros (or empty): nothing to compute
        if a.ndim == 2 and b.ndim == 2:
            a2, ta = _gemm_operand(a)
            b2, tb = _gemm_operand(b)
            return _C.gemm(a2, b2, trans_a=ta, trans_b=tb)
        if a.ndim == 1 or b.ndim == 1:
            a2 = a[None, :] if a.ndim == 1 else a
            b2 = b[:, None] if b.ndim == 1 else b
            out = self.matmul(a2, b2)
            if a.ndim == 1:
                out = out[..., 0, :]
            if b.ndim == 1:
                out = out[..., 0]
            return out.copy()
        k = a.shape[-1]
        if k != b.shape[-2]:
            raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape}")
        if b.ndim == 2:  # (..., n, k) @ (k, m): one GEMM over all rows
            out = self.matmul(a.reshape(-1, k), b)
            return out.reshape(a.shape[:-1] + (b.shape[1],))
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        ab = np.broadcast_to(a, batch + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
        bb = np.broadcast_to(b, batch + b.shape[-2:]).reshape((-1,) + b.shape[-2:])
        out = np.empty((ab.shape[0], a.shape[-2], b.shape[-1]), dtype=a.dtype)
        for i in range(ab.shape[0]):
            a2, ta = _gemm_operand(ab[i])
            b2, tb = _gemm_operand(bb[i])
            _C.gemm(a2, b2, out[i], trans_a=ta, trans_b=tb)
        return out.reshape(batch + out.shape[-2:])

    # ---- convolution and pooling (csrc/cpu/conv2d.cpp, pool2d.cpp) ---------------------------
    # stride, dilation, kernel, input_hw: (h, w) pairs; conv padding: (top, bottom, left, right);
    # pool padding: (ph, pw) on both sides. Inputs are made C-contiguous here.
    @staticmethod
    def conv2d_forward(x, w, bias, stride, padding, dilation, groups):
        c = np.ascontiguousarray
        return _C.conv2d_forward(c(x), c(w), None if bias is None else c(bias), stride=stride,
                                 padding=padding, dilation=dilation, groups=groups)

    @staticmethod
    def conv2d_backward_input(gy, w, input_hw, stride, padding, dilation, groups):
        c = np.ascontiguousarray
        return _C.conv2d_backward_input(c(gy), c(w), input_hw, stride=stride, padding=padding,
                                        dilation=dilation, groups=groups)

    @staticmethod
    def conv2d_backward_weight(gy, x, kernel_hw, stride, padding, dilation, groups):
        c = np.ascontiguousarray
        return _C.conv2d_backward_weight(c(gy), c(x), kernel_hw, stride=stride, padding=padding,
                                         dilation=dilation, groups=groups)

    @staticmethod
    def conv2d_backward_bias(gy):
        return _C.conv2d_backward_bias(np.ascontiguousarray(gy))

    @staticmethod
    def max_pool2d_forward(x, kernel, stride, padding):
        """(y, argmax): argmax is the flat index ih * W + iw of each window's maximum."""
        return _C.max_pool2d_forward(np.ascontiguousarray(x), kernel, stride, padding)

    @staticmethod
    def max_pool2d_backward(gy, argmax, input_hw):
        return _C.max_pool2d_backward(np.ascontiguousarray(gy), argmax, input_hw)

    @staticmethod
    def avg_pool2d_forward(x, kernel, stride, padding, count_include_pad):
        return _C.avg_pool2d_forward(np.ascontiguousarray(x), kernel, stride, padding,
                                     count_include_pad)

    @staticmethod
    def avg_pool2d_backward(gy, input_hw, kernel, stride, padding, count_include_pad):
        return _C.avg_pool2d_backward(np.ascontiguousarray(gy), input_hw, kernel, stride, padding,
                                      count_include_pad)

    # ---- softmax cross-entropy and log-softmax (csrc/cpu/softmax_xent.cpp) -------------------
    @staticmethod
    def log_softmax_forward(x):
        """x - logsumexp(x) over the last axis."""
        return _C.log_softmax_forward(np.ascontiguousarray(x))

    @staticmethod
    def log_softmax_backward(gy, y):
        return _C.log_softmax_backward(np.ascontiguousarray(gy), y)

    @staticmethod
    def softmax_cross_entropy_forward(logits, targets, ignore_index, label_smoothing, reduction):
        """(loss, lse): loss per row (reduction 'none') or reduced; lse per row for backward."""
        return _C.softmax_cross_entropy_forward(
            np.ascontiguousarray(logits), np.ascontiguousarray(targets, dtype=np.int64),
            ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)

    @staticmethod
    def softmax_cross_entropy_backward(logits, targets, lse, grad_loss, ignore_index,
                                       label_smoothing, reduction):
        if reduction == "none":
            grad_loss = np.ascontiguousarray(grad_loss)
        return _C.softmax_cross_entropy_backward(
            logits, np.ascontiguousarray(targets, dtype=np.int64), lse, grad_loss,
            ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)

    # ---- recurrent layers (csrc/cpu/lstm.cpp, gru.cpp) ---------------------------------------
    # LSTM gate order i, f, g, o (coupled variant: f, g, o with i = 1 - f); one bias per gate;
    # peephole (3, H) for i, f, o. x is (T, N, I) time-major.
    @staticmethod
    def lstm_forward(x, h0, c0, w_ih, w_hh, b, peephole, variant, reverse):
        """-> (y, h_T, c_T, saved)"""
        c = np.ascontiguousarray
        return _C.lstm_forward(c(x), c(h0), c(c0), c(w_ih), c(w_hh), c(b),
                               None if peephole is None else c(peephole), variant, reverse)

    @staticmethod
    def lstm_backward(x, h0, c0, w_ih, w_hh, peephole, variant, reverse, y, saved, dy, dh_T,
                      dc_T):
        """-> (dx, dh0, dc0, dw_ih, dw_hh, db, dpeephole or None)"""
        c = np.ascontiguousarray
        return _C.lstm_backward(c(x), c(h0), c(c0), c(w_ih), c(w_hh),
                                None if peephole is None else c(peephole), variant, reverse, y,
                                saved, c(dy), None if dh_T is None else c(dh_T),
                                None if dc_T is None else c(dc_T))

    @staticmethod
    def lstm_cell_forward(x, h, c0, w_ih, w_hh, b, peephole, variant):
        """-> (h_new, c_new, saved)"""
        c = np.ascontiguousarray
        return _C.lstm_cell_forward(c(x), c(h), c(c0), c(w_ih), c(w_hh), c(b),
                                    None if peephole is None else c(peephole), variant)

    @staticmethod
    def lstm_cell_backward(x, h, c0, w_ih, w_hh, peephole, variant, c_new, saved, dh_new, dc_new):
        """-> (dx, dh, dc, dw_ih, dw_hh, db, dpeephole or None)"""
        c = np.ascontiguousarray
        return _C.lstm_cell_backward(c(x), c(h), c(c0), c(w_ih), c(w_hh),
                                     None if peephole is None else c(peephole), variant, c_new,
                                     saved, c(dh_new), None if dc_new is None else c(dc_new))

    # GRU gate order r, z, n; variant "notes" (h' = (1-z)h + zn) or "reset_after" (torch's;
    # needs b_hn (H,)).
    @staticmethod
    def gru_forward(x, h0, w_ih, w_hh, b, b_hn, variant, reverse):
        """-> (y, h_T, saved)"""
        c = np.ascontiguousarray
        return _C.gru_forward(c(x), c(h0), c(w_ih), c(w_hh), c(b),
                              None if b_hn is None else c(b_hn), variant, reverse)

    @staticmethod
    def gru_backward(x, h0, w_ih, w_hh, variant, reverse, y, saved, dy, dh_T):
        """-> (dx, dh0, dw_ih, dw_hh, db, db_hn or None)"""
        c = np.ascontiguousarray
        return _C.gru_backward(c(x), c(h0), c(w_ih), c(w_hh), variant, reverse, y, saved, c(dy),
                               None if dh_T is None else c(dh_T))

    @staticmethod
    def gru_cell_forward(x, h, w_ih, w_hh, b, b_hn, variant):
        """-> (h_new, saved)"""
        c = np.ascontiguousarray
        return _C.gru_cell_forward(c(x), c(h), c(w_ih), c(w_hh), c(b),
                                   None if b_hn is None else c(b_hn), variant)

    @staticmethod
    def gru_cell_backward(x, h, w_ih, w_hh, variant, saved, dh_new):
        """-> (dx, dh, dw_ih, dw_hh, db, db_hn or None)"""
        c = np.ascontiguousarray
        return _C.gru_cell_backward(c(x), c(h), c(w_ih), c(w_hh), variant, saved, c(dh_new))
