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

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_FLOATS = (_F32, _F64)
_add_reduce = np.add.reduce
_gemm = _C.gemm  # positional arguments (a, b, c, trans_a, trans_b): no keyword matching


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
        """``a`` as ``dtype``: a new array, or ``a`` itself when it already has that dtype."""
        return a.astype(dtype, copy=False)

    copy = staticmethod(np.copy)
    contiguous = staticmethod(np.ascontiguousarray)

    @staticmethod
    def to_numpy(a: np.ndarray) -> np.ndarray:
        return a

    @staticmethod
    def from_numpy(a: np.ndarray) -> np.ndarray:
        return a

    @staticmethod
    def item(a: np.ndarray) -> Any:
        return a.item()

    @staticmethod
    def from_dlpack(obj: Any) -> np.ndarray:
        return np.from_dlpack(obj)

    @staticmethod
    def dlpack(a: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        return a.__dlpack__(*args, **kwargs)

    @staticmethod
    def dlpack_device(a: np.ndarray) -> Any:
        return a.__dlpack_device__()

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

    def get_rng_state(self) -> dict[str, Any]:
        """The generator's state (a plain dict of ints and strings: picklable, JSON-able)."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

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
        out = _add_reduce(a, axis, None, None, keepdims)  # ndarray.sum without its Python frame
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
        if (type(index) is np.ndarray and index.dtype.kind in "iu" and index.size
                and (values.dtype is _F32 or values.dtype is _F64)
                and values.shape == index.shape + tuple(shape[1:])):
            # Rows of a table (an embedding's backward): np.add.at's sums, bit for bit, in a
            # loop of ours (np.add.at took 2.6 ms of a 100 ms char-LSTM step).
            return _C.index_add_rows(shape[0], index, values.reshape(index.size, -1)
                                     ).reshape(shape)
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
        if a.flags.c_contiguous and b.flags.c_contiguous:
            return _gemm(a, b, None, trans_a, trans_b)
        a2, ta = _gemm_operand(a)
        b2, tb = _gemm_operand(b)
        return _gemm(a2, b2, None, ta != trans_a, tb != trans_b)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """numpy.matmul semantics (1-D, 2-D, broadcast batches) with every product on our GEMM."""
        d = a.dtype
        if (a.ndim == 2 and b.ndim == 2 and (d is _F32 or d is _F64) and b.dtype is d
                and a.size and b.size):  # the common case, in as few steps as possible
            if a.flags.c_contiguous and b.flags.c_contiguous:
                return _gemm(a, b)
            a2, ta = _gemm_operand(a)
            b2, tb = _gemm_operand(b)
            return _gemm(a2, b2, None, ta, tb)
        if a.dtype not in _FLOATS or a.dtype != b.dtype or a.size == 0 or b.size == 0:
            return np.matmul(a, b)  # an empty product is zeros (or empty): nothing to compute
        if a.ndim == 2 and b.ndim == 2:
            a2, ta = _gemm_operand(a)
            b2, tb = _gemm_operand(b)
            return _gemm(a2, b2, None, ta, tb)
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
            _gemm(a2, b2, out[i], ta, tb)
        return out.reshape(batch + out.shape[-2:])

    # ---- the other kernel families: each entry is the binding itself -----------------------
    # The bindings make inputs C-contiguous (and index arrays int64) themselves, so a backend
    # entry is one line over _C (csrc/python/README.md documents every signature); a CUDA
    # backend is the same lines over _cuda.
    # conv2d: stride, dilation, kernel_hw, input_hw are (h, w); padding (top, bottom, left, right)
    # linear_forward(x, w, bias, activation): act(x @ w.T + bias) in one GEMM (the bias and
    # activation applied to each tile of the output as it completes); activation_backward(g, y,
    # activation, bias_grad) -> (g * act'(y), the bias gradient or None)
    linear_forward = staticmethod(_C.linear_forward)
    activation_backward = staticmethod(_C.activation_backward)
    conv2d_forward = staticmethod(_C.conv2d_forward)
    conv2d_backward_input = staticmethod(_C.conv2d_backward_input)
    conv2d_backward_weight = staticmethod(_C.conv2d_backward_weight)
    conv2d_backward_bias = staticmethod(_C.conv2d_backward_bias)
    # pool2d: padding (ph, pw) on both sides; max_pool2d_forward -> (y, argmax) with argmax the
    # flat index ih * W + iw of each window's maximum
    max_pool2d_forward = staticmethod(_C.max_pool2d_forward)
    max_pool2d_backward = staticmethod(_C.max_pool2d_backward)
    avg_pool2d_forward = staticmethod(_C.avg_pool2d_forward)
    avg_pool2d_backward = staticmethod(_C.avg_pool2d_backward)
    # softmax_xent: log-softmax over the last axis; cross-entropy -> (loss, lse per row)
    log_softmax_forward = staticmethod(_C.log_softmax_forward)
    log_softmax_backward = staticmethod(_C.log_softmax_backward)
    softmax_cross_entropy_forward = staticmethod(_C.softmax_cross_entropy_forward)
    softmax_cross_entropy_backward = staticmethod(_C.softmax_cross_entropy_backward)
    # lstm: gate order i, f, g, o (coupled: f, g, o with i = 1 - f), one bias per gate,
    # peephole (3, H) for i, f, o; x (T, N, I) time-major
    lstm_forward = staticmethod(_C.lstm_forward)
    lstm_backward = staticmethod(_C.lstm_backward)
    lstm_cell_forward = staticmethod(_C.lstm_cell_forward)
    lstm_cell_backward = staticmethod(_C.lstm_cell_backward)
    # gru: gate order r, z, n; variant "notes" (h' = (1-z)h + zn) or "reset_after" (torch's,
    # with b_hn (H,))
    gru_forward = staticmethod(_C.gru_forward)
    gru_backward = staticmethod(_C.gru_backward)
    gru_cell_forward = staticmethod(_C.gru_cell_forward)
    gru_cell_backward = staticmethod(_C.gru_cell_backward)
    # optim: one fused step over lists of arrays (params, grads, state), updated in place;
    # the per-parameter rules of dl_kernels.optim, bitwise (csrc/cpu/optim_update.cpp)
    sgd_update = staticmethod(_C.sgd_update)
    adam_update = staticmethod(_C.adam_update)
    # attention: one query per row, scores + masked softmax + context fused (mask None or
    # (N, S) bool)
    attention_forward = staticmethod(_C.attention_forward)
    attention_backward = staticmethod(_C.attention_backward)
