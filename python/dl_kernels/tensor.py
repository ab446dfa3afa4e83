"""Tensor: an array on a backend, its gradient, and the graph node that made it.

This module is the autograd front: every differentiable method records its ``Function`` from
``dl_kernels.autograd.function``, and ``tensor()`` turns data into a Tensor. The rest of the
tensor layer sits beside it, one job per module:

- ``dl_kernels.dtypes``: dtype and device objects, the promotion rule;
- ``dl_kernels.storage``: ``StorageOps``, the methods that only call the backend (conversion
  to numpy, comparisons, in-place updates), which ``Tensor`` inherits;
- ``dl_kernels.factories``: zeros, ones, random tensors, ranges, from_numpy, seeding;
- ``dl_kernels.ops``: functions over tensors (``ops.core``: cat, stack, where, ...).

The API follows PyTorch's names and habits. numpy is imported here only to recognise array
inputs; the array work itself is done by the tensor's backend.
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any

import numpy as np

from dl_kernels import backend as _backend
from dl_kernels.autograd import engine as _engine
from dl_kernels.autograd import function as F
from dl_kernels.autograd.engine import _GradMode
from dl_kernels.dtypes import (
    _BY_NAME,
    _BY_NP,
    _DEVICE_OBJ,
    _as_dtype,
    _supported,
    bool_,
    device,
    dtype,
    float32,
    float64,
    int64,
    promote,
)
from dl_kernels.errors import OpError
from dl_kernels.shapes import wrap_dim
from dl_kernels.storage import (
    StorageOps,
    _check_device,
    _rebuild_tensor,  # noqa: F401 - pickles made before the split name it here
)

MaxResult = namedtuple("MaxResult", ["values", "indices"])

_new = object.__new__

__all__ = ["MaxResult", "Tensor", "as_tensor", "bool_", "device", "dtype", "float32", "float64",
           "int64", "tensor"]


# ---- the tensor -----------------------------------------------------------------------------
class Tensor(StorageOps):
    """An n-dimensional array with autograd (see ``dl_kernels.tensor()`` to make one)."""

    __slots__ = ("__weakref__", "_be", "_data", "_out_idx", "grad", "grad_fn", "requires_grad")
    __array_priority__ = 1000  # numpy defers reflected operators to us

    def __init__(self, data: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> None:
        if dtype is None and not isinstance(data, Tensor):
            dtype = float32  # torch.Tensor(data) is always of the default float dtype
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self._data, self._be, self.requires_grad = t._data, t._be, t.requires_grad
        self.grad = self.grad_fn = None
        self._out_idx = 0

    @staticmethod
    def _wrap(data: Any, be: Any, grad_fn: Any = None, idx: int = 0) -> Tensor:
        if data.__class__ is not be.Array:  # numpy returns scalars from 0-d ops
            data = be.asarray(data)
        t = _new(Tensor)
        t._data = data
        t._be = be
        t.grad_fn = grad_fn
        t._out_idx = idx
        t.requires_grad = grad_fn is not None
        t.grad = None
        return t

    @staticmethod
    def _make_subclass(kind: type, data: Tensor, requires_grad: bool = False) -> Any:
        """A new leaf of class ``kind`` (a Tensor subclass) sharing ``data``'s storage (as
        torch's ``Tensor._make_subclass``, which ``nn.Parameter`` uses)."""
        t = _new(kind)
        t._data = data._data
        t._be = data._be
        t.grad = t.grad_fn = None
        t._out_idx = 0
        t.requires_grad = False
        if requires_grad:
            t.requires_grad_(True)
        return t

    def _new_filled(self, fill: str, size: tuple, dtype: Any, device: Any,
                    requires_grad: bool) -> Tensor:
        be = self._be if device is None else _backend.get_backend(device)
        d = self._data.dtype if dtype is None else _as_dtype(dtype).np
        t = Tensor._wrap(getattr(be, fill)(_size_arg(size), d), be)
        return t.requires_grad_(True) if requires_grad else t

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """Zeros of ``size``, by default of this tensor's dtype and device (torch's)."""
        return self._new_filled("zeros", size, dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """Ones of ``size``, by default of this tensor's dtype and device (torch's)."""
        return self._new_filled("ones", size, dtype, device, requires_grad)

    # ---- properties ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    def size(self, dim: int | None = None) -> Any:
        """The shape as a tuple, or the size of dimension ``dim`` (negative counts from
        the end).

        Example:
            >>> dlk.zeros(2, 3).size(), dlk.zeros(2, 3).size(-1)
            ((2, 3), 3)
        """
        return self._data.shape if dim is None else self._data.shape[dim]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self._data.ndim

    def numel(self) -> int:
        """The number of elements (the product of the shape).

        Example:
            >>> dlk.zeros(2, 3, 4).numel()
            24
        """
        return self._data.size

    @property
    def dtype(self) -> dtype:
        return _BY_NP[self._data.dtype]

    @property
    def device(self) -> device:
        return _DEVICE_OBJ[self._be.device]

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        """True for float32 and float64 tensors."""
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        """True when the data is laid out row-major without gaps."""
        return self._be.is_contiguous(self._data)

    @property
    def data(self) -> Tensor:
        """This tensor's storage as a tensor outside the graph (updates write through)."""
        return Tensor._wrap(self._data, self._be)

    @data.setter
    def data(self, other: Tensor) -> None:
        self._data = other._data if isinstance(other, Tensor) else self._be.asarray(other)

    # ---- autograd --------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Start (or, on a leaf, stop) recording operations for autograd; returns
        ``self``. Only floating-point tensors can require gradients.

        Example:
            >>> w = dlk.zeros(3).requires_grad_()
            >>> (w * 2).sum().backward()
            >>> w.grad.tolist()
            [2.0, 2.0, 2.0]
        """
        if requires_grad and not self.is_floating_point():
            raise RuntimeError(
                f"only floating point tensors can require gradients, got {self.dtype}"
            )
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False) is only allowed on leaf tensors; use detach()"
            )
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """The same data (shared, not copied) outside the graph: no gradient flows through it."""
        return Tensor._wrap(self._data, self._be)

    def detach_(self) -> Tensor:
        """Cut this tensor out of the graph in place; returns ``self``."""
        self.grad_fn, self.requires_grad = None, False
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self.grad_fn is not None:
            retained = getattr(self.grad_fn, "retained", None)
            if retained is None:
                retained = self.grad_fn.retained = {}
            retained[self._out_idx] = self

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Accumulate d(self)/d(leaf) (times ``gradient``) into every leaf's ``.grad``
        (reverse-mode automatic differentiation).

        Args:
            gradient: d(out)/d(self) to start from, of ``self``'s shape; may be omitted for a
                one-element tensor (1).
            retain_graph: keep the graph so backward can run through it again (default:
                ``create_graph``).
            create_graph: record the backward pass too, so the gradients (tensors with a
                graph) can be differentiated again (double backward).
            inputs: a tensor or tensors: accumulate into these ``.grad`` only.

        Example:
            >>> x = dlk.tensor([1.0, 2.0, 3.0], requires_grad=True)
            >>> (x * x).sum().backward()
            >>> x.grad.tolist()
            [2.0, 4.0, 6.0]
        """
        if create_graph or inputs is not None:  # gradients as tensors (double backward)
            from dl_kernels.autograd import higher_order

            higher_order.backward(self, gradient, retain_graph, create_graph, inputs)
            return
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn")
        be, d = self._be, self._data
        if gradient is None:
            if d.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; got shape "
                    f"{tuple(d.shape)}: pass gradient="
                )
            # a 0-d seed (the usual loss) from a number: cheaper than ones(())
            g = be.asarray(1, d.dtype) if d.ndim == 0 else be.ones(d.shape, d.dtype)
        else:
            if isinstance(gradient, Tensor):
                _check_device(self, gradient)
                g = gradient._data
            else:
                g = be.asarray(gradient)
            if tuple(g.shape) != tuple(d.shape):
                raise ValueError(
                    f"backward: gradient has shape {tuple(g.shape)}, expected the output's "
                    f"shape {tuple(d.shape)}"
                )
            if g.dtype != d.dtype:
                g = be.astype(g, d.dtype)
        _engine.backward(self, g, bool(retain_graph))

    def register_post_accumulate_grad_hook(self, hook: Any) -> Any:
        """``hook(self)`` after each backward's last contribution to this leaf's ``.grad``;
        returns a handle whose ``remove()`` unregisters it."""
        return _engine.register_post_accumulate_grad_hook(self, hook)

    def _accumulate_grad(self, g: Any, owned: bool = False) -> None:
        """Add g to .grad; ``owned``: g is a new array nothing else holds (Function.owns_grads),
        so the first gradient is kept as it is instead of copied."""
        be = self._be
        if g.dtype != self._data.dtype:
            g = be.astype(g, self._data.dtype)
        if g.shape != self._data.shape:
            g = be.unbroadcast(g, self._data.shape)
        if self.grad is None:
            # Otherwise an own buffer: g may be shared (Add returns one g twice) or a view.
            self.grad = Tensor._wrap(g if owned else be.copy(g), be)
        else:
            self.grad._data = be.add(self.grad._data, g)

    # ---- conversion ------------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``."""
        target_dtype = kwargs.pop("dtype", None)
        target_device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"to(): unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                target_dtype, target_device = a.dtype, a.device
            elif isinstance(a, (str, device)) and not (isinstance(a, str) and a in _BY_NAME):
                target_device = a
            else:
                target_dtype = a
        out = self
        if target_device is not None:
            be = _backend.get_backend(target_device)
            if be is not self._be:  # pragma: no cover - only one backend exists so far
                raise RuntimeError(f"moving tensors from {self.device} to {target_device}")
        if target_dtype is not None:
            d = _as_dtype(target_dtype)
            if d.np != self._data.dtype:
                if self.requires_grad and d.is_floating_point and self.is_floating_point():
                    return F.Cast.apply(self, dtype=d.np)
                return Tensor._wrap(self._be.astype(self._data, d.np), self._be)
        if copy:
            return out.clone()
        return out

    def cpu(self) -> Tensor:
        """``to('cpu')``."""
        return self.to("cpu")

    def cuda(self) -> Tensor:
        """``to('cuda')``."""
        return self.to("cuda")

    def float(self) -> Tensor:
        """``to(float32)``."""
        return self.to(float32)

    def double(self) -> Tensor:
        """``to(float64)``."""
        return self.to(float64)

    def long(self) -> Tensor:
        """``to(int64)``."""
        return self.to(int64)

    def bool(self) -> Tensor:
        """``to(bool)``."""
        return self.to(bool_)

    def type_as(self, other: Tensor) -> Tensor:
        """``to(other.dtype)``."""
        return self.to(other.dtype)

    def clone(self) -> Tensor:
        """A copy with its own storage (differentiable: gradients flow back to ``self``)."""
        return F.Clone.apply(self)

    def contiguous(self) -> Tensor:
        """``self`` if row-major without gaps, else a contiguous copy."""
        return self if self._be.is_contiguous(self._data) else F.Clone.apply(self)

    # ---- Python protocols ------------------------------------------------------------------
    __hash__ = object.__hash__

    # ---- arithmetic ------------------------------------------------------------------------
    def _binary(self, fn: Any, other: Any, **kw: Any) -> Tensor:
        if (other.__class__ is Tensor and not kw and self._be is other._be
                and self._data.dtype is other._data.dtype):  # the common case, fast
            return fn.apply(self, other)
        if isinstance(other, Tensor):
            a, b = _coerce(self, other)
            if kw.get("reverse"):
                a, b = b, a
                kw.pop("reverse")
            return fn.apply(a, b, **kw)
        if isinstance(other, (builtins.int, builtins.float, builtins.bool)):
            if other.__class__ not in (builtins.int, builtins.float, builtins.bool):
                other = other.item()  # numpy scalars behave as Python numbers, as in torch
            a = self
            if isinstance(other, builtins.float) and a._data.dtype.kind != "f":
                a = a.to(float32)
            elif a._data.dtype.kind == "b" and not isinstance(other, builtins.bool):
                a = a.to(int64)
            return fn.apply(a, None, scalar=other, **kw)
        if isinstance(other, (np.ndarray, np.generic, list, tuple)):
            return self._binary(fn, tensor(other, device=self.device), **kw)
        return NotImplemented

    # The three commonest operators skip the Function node when no graph is recorded: two
    # tensors of one dtype on one backend go straight to the backend (broadcasting and NaN are
    # the backend's, as through Function.apply); everything else, and a shape error, takes
    # _binary.
    def _arith(self, fn: Any, op: str, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            a, b = self._data, other._data
            be = self._be
            if a.dtype is b.dtype and be is other._be:
                if _GradMode.enabled and (self.requires_grad or other.requires_grad):
                    return fn.apply(self, other)
                try:
                    return _plain(getattr(be, op)(a, b), be)
                except ValueError:
                    pass  # shapes that do not broadcast: Function.apply names the op
        return self._binary(fn, other)

    def __add__(self, other: Any) -> Tensor:
        return self._arith(F.Add, "add", other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        return self._arith(F.Sub, "sub", other)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(F.Sub, other, reverse=True)

    def __mul__(self, other: Any) -> Tensor:
        return self._arith(F.Mul, "mul", other)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        a = self
        other_float = isinstance(other, Tensor) and other.is_floating_point()
        if a._data.dtype.kind != "f" and not other_float:
            a = a.to(float32)
        return a._binary(F.Div, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        a = self if self._data.dtype.kind == "f" else self.to(float32)
        return a._binary(F.Div, other, reverse=True)

    def __pow__(self, other: Any) -> Tensor:
        return self._binary(F.Pow, other)

    def __rpow__(self, other: Any) -> Tensor:
        return self._binary(F.Pow, other, reverse=True)

    def __neg__(self) -> Tensor:
        return F.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def __matmul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            a, b = self._data, other._data
            # The common case first: two matrices of one dtype whose inner sizes agree (what
            # _check_matmul checks, in a few attribute reads), straight to the backend's GEMM
            # when no graph is recorded.
            if (a.ndim == 2 and b.ndim == 2 and a.dtype is b.dtype and self._be is other._be
                    and a.shape[1] == b.shape[0]):
                if _GradMode.enabled and (self.requires_grad or other.requires_grad):
                    return F.MatMul.apply(self, other)
                be = self._be
                if a.dtype.kind == "f" and a.size and b.size:  # float32/64: the GEMM itself
                    return _plain(be.gemm(a, b), be)
                return _plain(be.matmul(a, b), be)
        else:
            other = tensor(other, dtype=self.dtype, device=self.device)
        _check_matmul(self, other)
        return F.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):  # keep other's graph
            return other.__matmul__(self)
        return tensor(other, dtype=self.dtype, device=self.device).__matmul__(self)

    def matmul(self, other: Tensor) -> Tensor:
        """Matrix product with numpy / PyTorch broadcasting rules (``self @ other``):
        1-D x 1-D is a dot product, (n, k) @ (k, m) is (n, m), batched over leading dimensions.
        Runs on the library's GEMM kernel.

        Example:
            >>> (dlk.ones(2, 3) @ dlk.ones(3, 4)).shape
            (2, 4)
        """
        return self.__matmul__(other)

    mm = bmm = matmul

    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self + alpha * other`` (broadcast, dtypes promoted); differentiable."""
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self - alpha * other`` (broadcast, dtypes promoted); differentiable."""
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other: Any) -> Tensor:
        """``self * other`` elementwise (broadcast); differentiable."""
        return self * other

    def div(self, other: Any) -> Tensor:
        """``self / other`` elementwise (broadcast; true division, integers give float32)."""
        return self / other

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent`` elementwise (a number or a tensor); differentiable."""
        return self ** exponent

    def neg(self) -> Tensor:
        """``-self``."""
        return F.Neg.apply(self)

    # ---- elementwise functions -------------------------------------------------------------
    def exp(self) -> Tensor:
        """e to the power of each element."""
        return F.Exp.apply(_floating(self))

    def log(self) -> Tensor:
        """The natural logarithm of each element (-inf at 0, NaN below)."""
        return F.Log.apply(_floating(self))

    def log1p(self) -> Tensor:
        """log(1 + x), accurate for small x."""
        return (1.0 + self).log()

    def sqrt(self) -> Tensor:
        """The square root of each element."""
        return F.Sqrt.apply(_floating(self))

    def rsqrt(self) -> Tensor:
        """1 / sqrt(x) elementwise."""
        return 1.0 / self.sqrt()

    def square(self) -> Tensor:
        """x * x elementwise."""
        return self * self

    def abs(self) -> Tensor:
        """The absolute value of each element (gradient sign(x), 0 at 0)."""
        return F.Abs.apply(self)

    def sign(self) -> Tensor:
        """-1, 0 or 1 for each element (gradient zero)."""
        return F.Sign.apply(self)

    def tanh(self) -> Tensor:
        """The hyperbolic tangent of each element."""
        return F.Tanh.apply(_floating(self))

    def sigmoid(self) -> Tensor:
        """1 / (1 + exp(-x)) elementwise."""
        return F.Sigmoid.apply(_floating(self))

    def relu(self) -> Tensor:
        """max(0, x) elementwise."""
        return F.Relu.apply(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        """Limit every element to ``[min, max]`` (either may be None). The gradient is 1
        inside the range and 0 outside.

        Example:
            >>> dlk.tensor([-2.0, 0.5, 3.0]).clamp(0, 1).tolist()
            [0.0, 0.5, 1.0]
        """
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = out.maximum(min if isinstance(min, Tensor) else tensor(min, dtype=self.dtype))
            if max is not None:
                out = out.minimum(max if isinstance(max, Tensor) else tensor(max, dtype=self.dtype))
            return out
        return F.Clamp.apply(self, min=min, max=max)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        """The elementwise maximum of ``self`` and ``other`` (broadcast); NaN wins."""
        a, b = _coerce(self, other)
        return F.Maximum.apply(a, b)

    def minimum(self, other: Tensor) -> Tensor:
        """The elementwise minimum of ``self`` and ``other`` (broadcast); NaN wins."""
        a, b = _coerce(self, other)
        return F.Maximum.apply(a, b, minimum=True)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        """A copy with ``value`` where the boolean ``mask`` (broadcast to self) is True."""
        if isinstance(value, Tensor):  # a 0-d tensor value keeps its gradient
            v = value.to(self.dtype)
        else:
            v = tensor(value, dtype=self.dtype, device=self.device)
        return F.Where.apply(v, self, cond=mask._data if isinstance(mask, Tensor) else mask)

    def where(self, condition: Any, other: Any) -> Tensor:
        """``self`` where ``condition`` holds, else ``other`` (torch's ``Tensor.where``)."""
        if not isinstance(other, Tensor):
            other = tensor(other, dtype=self.dtype, device=self.device)
        a, b = _coerce(self, other)
        cond = condition._data if isinstance(condition, Tensor) else condition
        return F.Where.apply(a, b, cond=cond)

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim`` (computed stably).

        Example:
            >>> dlk.tensor([0.0, 0.0]).softmax(0).tolist()
            [0.5, 0.5]
        """
        return F.Softmax.apply(self, dim=dim)

    def log_softmax(self, dim: int) -> Tensor:
        """``x - logsumexp(x)`` along ``dim``: the log of :meth:`softmax`, without its underflow."""
        return F.LogSoftmax.apply(self, dim=dim)

    # ---- reductions ------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Sum over ``dim`` (an int, a tuple of ints, or None for all elements).

        Args:
            dim: the dimension(s) to reduce; None reduces everything to a 0-d tensor.
            keepdim: keep the reduced dimensions with size 1.
            dtype: cast to this dtype first (bools are summed as int64).

        Example:
            >>> x = dlk.tensor([[1.0, 2.0], [3.0, 4.0]])
            >>> x.sum().item(), x.sum(0).tolist(), x.sum(1, keepdim=True).shape
            (10.0, [4.0, 6.0], (2, 1))
        """
        x = self if dtype is None else self.to(dtype)
        if x._data.dtype.kind == "b":
            x = x.to(int64)
        return F.Sum.apply(x, axis=_dims(dim), keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Mean over ``dim`` (int, tuple or None for all); floating dtypes only.

        Example:
            >>> dlk.tensor([[1.0, 2.0], [3.0, 4.0]]).mean(1).tolist()
            [1.5, 3.5]
        """
        x = self if dtype is None else self.to(dtype)
        if not x.is_floating_point():
            raise RuntimeError(f"mean(): expected a floating point tensor, got {x.dtype}")
        return F.Mean.apply(x, axis=_dims(dim), keepdim=keepdim)

    def _extreme(self, dim: Any, keepdim: bool, minimum: bool) -> Any:
        if isinstance(dim, Tensor):
            return self.minimum(dim) if minimum else self.maximum(dim)
        if self._data.size == 0:
            raise RuntimeError("max()/min() of an empty tensor")
        if dim is None:
            return F.MaxReduce.apply(self, axis=None, keepdim=False, minimum=minimum)
        values = F.MaxReduce.apply(self, axis=dim, keepdim=keepdim, minimum=minimum)
        indices = (self.argmin if minimum else self.argmax)(dim, keepdim)
        return MaxResult(values, indices)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """``max()``: the largest element (0-d). ``max(dim)``: a named tuple
        ``(values, indices)`` along ``dim``. ``max(other_tensor)``: the elementwise maximum.

        Example:
            >>> values, indices = dlk.tensor([[1.0, 5.0], [7.0, 2.0]]).max(1)
            >>> values.tolist(), indices.tolist()
            ([5.0, 7.0], [1, 0])
        """
        return self._extreme(dim, keepdim, False)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """As :meth:`max`, for the smallest elements."""
        return self._extreme(dim, keepdim, True)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The largest values over ``dim`` (int, tuple or None), without indices."""
        return F.MaxReduce.apply(self, axis=_dims(dim), keepdim=keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The smallest values over ``dim`` (int, tuple or None), without indices."""
        return F.MaxReduce.apply(self, axis=_dims(dim), keepdim=keepdim, minimum=True)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
            correction: Any = None) -> Tensor:
        """Variance over ``dim``, with Bessel's correction by default (``correction=1``;
        ``unbiased=False`` or ``correction=0`` for the population variance).
        """
        if isinstance(dim, builtins.bool):  # PyTorch's var(input, unbiased) overload
            dim, unbiased = None, dim
        if correction is None:
            correction = 0 if unbiased is False else 1
        return F.Var.apply(_floating(self), axis=_dims(dim), correction=correction,
                           keepdim=keepdim)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
            correction: Any = None) -> Tensor:
        """Standard deviation: the square root of :meth:`var` (same arguments)."""
        if isinstance(dim, builtins.bool):  # PyTorch's std(input, unbiased) overload
            dim, unbiased = None, dim
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        """``log(sum(exp(x)))`` over ``dim``, computed stably (max subtracted first)."""
        return F.LogSumExp.apply(_floating(self), axis=_dims(dim), keepdim=keepdim)

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The ``p``-norm over ``dim`` (2 or 'fro', 1, inf, or any p > 0)."""
        if p == 0:  # the count of nonzero entries; its gradient is zero
            return (self != 0).to(self.dtype).sum(dim, keepdim)
        if p == 2 or p == "fro":
            return (self * self).sum(dim, keepdim).sqrt()
        if p == 1:
            return self.abs().sum(dim, keepdim)
        if p == math.inf:
            return self.abs().amax(dim, keepdim)
        if p == -math.inf:
            return self.abs().amin(dim, keepdim)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    # ---- shape and views -------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in a new shape (one dimension may be -1: inferred). Also
        ``view``.

        Example:
            >>> dlk.arange(6).reshape(2, -1).shape
            (2, 3)
        """
        shape = _shape_arg(shape)
        if shape == self._data.shape:
            return self
        return F.Reshape.apply(self, shape=shape)

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        """``reshape(other.shape)``."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dimensions ``start_dim`` .. ``end_dim`` into one.

        Example:
            >>> dlk.zeros(2, 3, 4).flatten(1).shape
            (2, 12)
        """
        shape = self._data.shape
        if not shape:
            return self.reshape(1)
        s, e = wrap_dim(start_dim, len(shape)), wrap_dim(end_dim, len(shape))
        return self.reshape(shape[:s] + (-1,) + shape[e + 1 :])

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the dimensions.

        Example:
            >>> dlk.zeros(2, 3, 4).permute(2, 0, 1).shape
            (4, 2, 3)
        """
        dims = tuple(d % self.ndim for d in _shape_arg(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of {self.ndim} dimensions")
        return F.Permute.apply(self, axes=dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap dimensions ``dim0`` and ``dim1``."""
        if self.ndim == 0:
            wrap_dim(dim0, 0), wrap_dim(dim1, 0)
            return self
        dim0, dim1 = wrap_dim(dim0, self.ndim), wrap_dim(dim1, self.ndim)
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return F.Permute.apply(self, axes=tuple(axes))

    def t(self) -> Tensor:
        """The transpose of a matrix (a 0-d or 1-d tensor is returned as is)."""
        if self.ndim < 2:
            return self
        return self.transpose(0, 1)

    @property
    def T(self) -> Tensor:
        return self if self.ndim < 2 else F.Permute.apply(self, axes=tuple(range(self.ndim))[::-1])

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def squeeze(self, dim: Any = None) -> Tensor:
        """Remove dimension ``dim`` if its size is 1 (every size-1 dimension when None)."""
        shape = self._data.shape
        if dim is None:
            new = tuple(n for n in shape if n != 1)
        else:
            dims_in = (dim,) if isinstance(dim, int) else dim
            dims = {wrap_dim(d, len(shape)) for d in dims_in}
            new = tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1))
        return self.reshape(new)

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a dimension of size 1 at position ``dim``.

        Example:
            >>> dlk.zeros(3).unsqueeze(0).shape
            (1, 3)
        """
        shape = list(self._data.shape)
        shape.insert(wrap_dim(dim, len(shape) + 1), 1)
        return self.reshape(tuple(shape))

    def expand(self, *sizes: Any) -> Tensor:
        """A broadcast view to ``sizes`` (-1 keeps a dimension); size-1 dimensions grow."""
        sizes = _shape_arg(sizes)
        shape = self._data.shape
        lead = len(sizes) - len(shape)
        if lead < 0:
            raise ValueError(f"expand: target {sizes} has fewer dimensions than {shape}")
        target = tuple(
            shape[i - lead] if (n == -1 and i >= lead) else n for i, n in enumerate(sizes)
        )
        if target == shape:
            return self
        return F.Expand.apply(self, shape=target)

    def expand_as(self, other: Tensor) -> Tensor:
        """``expand(other.shape)``."""
        return self.expand(other.shape)

    def repeat(self, *sizes: Any) -> Tensor:
        """Tile the tensor ``sizes[i]`` times along each dimension (copies)."""
        sizes = _shape_arg(sizes)
        x = self.reshape((1,) * (len(sizes) - self.ndim) + self._data.shape)
        inter, final = [], []
        for r, n in zip(sizes, x.shape):
            inter += [r, n]
            final.append(r * n)
        x = x.reshape(tuple(v for n in x.shape for v in (1, n)))
        return x.expand(tuple(inter)).reshape(tuple(final))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple:
        """Split along ``dim`` into chunks of ``split_size`` (the last may be smaller), or into
        pieces of the given list of sizes. Returns a tuple.
        """
        dim = wrap_dim(dim, self.ndim)
        n = self._data.shape[dim]
        if isinstance(split_size_or_sections, builtins.int):
            size = split_size_or_sections
            bounds = list(range(size, n, size))
        else:
            sizes = list(split_size_or_sections)
            if builtins.sum(sizes) != n:
                raise ValueError(f"split: sizes {sizes} do not add up to {n} along dim {dim}")
            bounds, total = [], 0
            for s in sizes[:-1]:
                total += s
                bounds.append(total)
        return F.Split.apply(self, sections=bounds, axis=dim % self.ndim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        """Split into ``chunks`` pieces along ``dim`` (the last may be smaller)."""
        n = self._data.shape[wrap_dim(dim, self.ndim)]
        return self.split(builtins.max(-(-n // chunks), 1), dim)

    def unbind(self, dim: int = 0) -> tuple:
        """The slices along ``dim`` as a tuple of tensors (that dimension removed)."""
        return tuple(p.squeeze(dim) for p in self.split(1, dim))

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        """The entries at ``index`` (1-D integer) along ``dim``, differentiable."""
        if self.ndim == 0:  # PyTorch: a 0-d tensor's only entry, for index [0] or 0
            wrap_dim(dim, 0)
            if index.numel() != 1 or index.is_floating_point() or index.reshape(-1)[0].item():
                raise IndexError(f"index_select: index {index.tolist()} out of range for a 0-d "
                                 "tensor")
            return self.clone()
        if index.ndim != 1 or index.is_floating_point():
            raise ValueError(f"index_select: index must be a 1-D integer tensor, got {index.dtype} "
                             f"of shape {tuple(index.shape)}")
        sl = (slice(None),) * wrap_dim(dim, self.ndim) + (index,)
        return self[sl]

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """out[i][j] = self[index[i][j]][j] for dim 0 (torch.gather), differentiable."""
        if index.is_floating_point() or index.ndim != self.ndim:
            raise ValueError(f"gather: index must be an integer tensor with {self.ndim} dims, "
                             f"got {index.dtype} of shape {tuple(index.shape)}")
        return F.Gather.apply(self, index=index._data, axis=wrap_dim(dim, self.ndim))

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> MaxResult:
        """(values, indices) along dim (always stable); values carry the gradient."""
        if self.ndim == 0:
            wrap_dim(dim, 0)
            return MaxResult(self.clone(), Tensor._wrap(self._be.zeros((), int64.np), self._be))
        dim = wrap_dim(dim, self.ndim)
        _, idx = self._be.sort(self._data, dim, descending)
        return MaxResult(F.Gather.apply(self, index=idx, axis=dim), Tensor._wrap(idx, self._be))

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> MaxResult:
        """The k largest (or smallest) entries along dim as (values, indices)."""
        if self.ndim == 0:
            return self.sort(dim)
        values, indices = self.sort(dim, descending=largest)
        sl = [slice(None)] * self.ndim
        sl[wrap_dim(dim, self.ndim)] = slice(0, k)
        return MaxResult(values[tuple(sl)], indices[tuple(sl)])

    # ---- indexing --------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Tensor:
        index, advanced = _convert_index(index, self._be)
        if not self.requires_grad or not _GradMode.enabled:
            return Tensor._wrap(F.index_get(self._be, self._data, index), self._be)
        return F.GetItem.apply(self, index=index, advanced=advanced)

    def __setitem__(self, index: Any, value: Any) -> None:
        index, _ = _convert_index(index, self._be)
        be = self._be
        v_needs = isinstance(value, Tensor) and value.requires_grad
        if not _GradMode.enabled or (not self.requires_grad and not v_needs):
            F.index_set(be, self._data, index, value._data if isinstance(value, Tensor) else value)
            return
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf tensor that requires grad is used in an in-place operation")
        prev = Tensor._wrap(self._data, be, self.grad_fn, self._out_idx)
        prev.requires_grad = self.requires_grad
        if isinstance(value, Tensor):
            if value._data.dtype != self._data.dtype:
                value = value.to(self.dtype)
            out = F.SetItem.apply(prev, value, index=index)
        else:
            out = F.SetItem.apply(prev, None, index=index, scalar=value)
        self.grad_fn, self._out_idx, self.requires_grad = out.grad_fn, 0, True

    # ---- in-place updates (what optimisers use; refused on tensors recording a graph) -------
    def _augmented(self, inplace: str, op: Any, other: Any) -> Tensor:
        """``x += y`` and friends: in place, unless a graph must record it (then out of place,
        as the recorded result); a leaf that requires grad is refused, as in torch."""
        other_grad = isinstance(other, Tensor) and other.requires_grad
        if _GradMode.enabled and (self.requires_grad or other_grad):
            if self.requires_grad and self.grad_fn is None:
                raise RuntimeError(
                    "a leaf tensor that requires grad is used in an in-place operation; "
                    "update it under no_grad()"
                )
            return op(self, other)
        return getattr(self, inplace)(other)

    def __iadd__(self, other: Any) -> Any:  # self, or the recorded result
        return self._augmented("add_", Tensor.__add__, other)

    def __isub__(self, other: Any) -> Any:  # self, or the recorded result
        return self._augmented("sub_", Tensor.__sub__, other)

    def __imul__(self, other: Any) -> Any:  # self, or the recorded result
        return self._augmented("mul_", Tensor.__mul__, other)

    def __itruediv__(self, other: Any) -> Any:  # self, or the recorded result
        return self._augmented("div_", Tensor.__truediv__, other)


# ---- helpers --------------------------------------------------------------------------------
def _plain(data: Any, be: Any) -> Tensor:
    """A new tensor outside the graph: ``Tensor._wrap(data, be)`` for the hot paths."""
    if data.__class__ is not be.Array:  # numpy returns scalars from 0-d ops
        data = be.asarray(data)
    t = _new(Tensor)
    t._data = data
    t._be = be
    t.grad_fn = t.grad = None
    t._out_idx = 0
    t.requires_grad = False
    return t


def _floating(t: Tensor) -> Tensor:
    return t if t._data.dtype.kind == "f" else t.to(float32)


def _dims(dim: Any) -> Any:
    if isinstance(dim, list):
        return tuple(dim)
    return dim


def _shape_arg(shape: tuple) -> tuple:
    """reshape(2, 3) and reshape((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(builtins.int(n) for n in shape)


def _coerce(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Same device required; dtypes promoted as torch does."""
    if a._be is not b._be:
        _check_device(a, b)
    da, db = a._data.dtype, b._data.dtype
    if da is db or da == db:
        return a, b
    d = promote(_BY_NP[da], _BY_NP[db], a.ndim == 0, b.ndim == 0)
    return a.to(d), b.to(d)


def _check_matmul(a: Tensor, b: Tensor) -> None:
    _check_device(a, b)
    if a._data.dtype != b._data.dtype:
        raise TypeError(f"matmul: dtypes differ: {a.dtype} @ {b.dtype}")
    if a.ndim == 0 or b.ndim == 0:
        raise OpError(
            f"matmul: both operands need a dimension, got shapes {a.shape} and {b.shape}"
        )
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise OpError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
            f"(inner dimensions {ka} and {kb} differ)"
        )


def _convert_index(index: Any, be: Any) -> tuple[Any, bool]:
    """Tensor, list and numpy indices -> arrays of backend ``be``; say whether the index is
    advanced (arrays or lists)."""
    items = index if isinstance(index, tuple) else (index,)
    advanced = False
    out = []
    for it in items:
        if isinstance(it, Tensor):
            if it.ndim > 0 or it._data.dtype.kind == "b":
                advanced = True
                it = it._data
            else:
                it = it.item()
        elif isinstance(it, (list, np.ndarray)):
            advanced = True
            it = be.asarray(it)
            if it.size == 0:  # [] indexes nothing, as an integer index
                it = be.astype(it, int64.np)
            if it.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be integer or bool, got "
                                 f"{it.dtype}")
        out.append(it)
    return (tuple(out) if isinstance(index, tuple) else out[0]), advanced


def _size_arg(size: tuple) -> tuple:
    return _shape_arg(size) if size else ()


def _make(data: Any, be: Any, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(data, be)
    if requires_grad:
        t.requires_grad_(True)
    return t


# ---- factories ------------------------------------------------------------------------------
def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python numbers, nested lists, numpy arrays,
    tensors). Python floats become float32 unless ``dtype`` says otherwise."""
    be = _backend.get_backend(device if device is not None else getattr(data, "device", "cpu"))
    if isinstance(data, Tensor):
        arr = be.copy(data._data)
    else:
        arr = be.asarray(data)
        from_python = not isinstance(data, (np.ndarray, np.generic))
        if from_python and arr.dtype == np.float64 and dtype is None:
            arr = be.astype(arr, float32.np)
    arr = be.astype(arr, _as_dtype(dtype).np) if dtype is not None else _supported(arr, be)
    return _make(arr, be, requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, without a copy when it already is one of the requested
    dtype (else as :func:`tensor`).

    Example:
        >>> t = dlk.ones(2)
        >>> dlk.as_tensor(t) is t
        True
    """
    if isinstance(data, Tensor) and (dtype is None or _as_dtype(dtype) is data.dtype):
        return data
    return tensor(data, dtype=dtype, device=device)


