"""Tensor: an array on a backend, its gradient, and the graph node that made it.

The API follows PyTorch's names and habits. Arithmetic goes through the ``Function``s in
``dl_kernels.autograd.function``; the array work itself is done by the tensor's backend.
numpy is imported here only to name dtypes and recognise array inputs.
"""

from __future__ import annotations

import builtins
import math
import re
from collections import namedtuple
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from dl_kernels import backend as _backend
from dl_kernels.autograd import engine as _engine
from dl_kernels.autograd import function as F
from dl_kernels.autograd.engine import _GradMode
from dl_kernels.errors import OpError
from dl_kernels.shapes import wrap_dim


# ---- dtypes and devices ---------------------------------------------------------------------
class dtype:
    """A tensor element type: ``float32`` (default), ``float64``, ``int64``, ``bool``."""

    __slots__ = ("is_floating_point", "itemsize", "name", "np")

    def __init__(self, name: str) -> None:
        self.name = name
        self.np = np.dtype(name)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"dl_kernels.{self.name}"


float32 = dtype("float32")
float64 = dtype("float64")
int64 = dtype("int64")
bool_ = dtype("bool")
int32 = dtype("int32")
int16 = dtype("int16")
int8 = dtype("int8")
uint8 = dtype("uint8")
_BY_NP = {d.np: d for d in (float32, float64, int64, bool_, int32, int16, int8, uint8)}
_BY_NAME = {
    "float32": float32, "float": float32, "float64": float64, "double": float64,
    "int64": int64, "long": int64, "bool": bool_, "int32": int32, "int": int32,
    "int16": int16, "short": int16, "int8": int8, "uint8": uint8,
}


def _as_dtype(d: Any) -> dtype:
    """dl_kernels dtype, numpy dtype, name, or Python type -> dtype; TypeError otherwise."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return float32
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        return _BY_NP[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(
            f"unsupported dtype {d!r}: expected float32, float64, int64 or bool"
        ) from None


def _supported(a: Any, be: Any) -> Any:
    """An array converted to the nearest supported dtype (ints -> int64, floats -> float32)."""
    if a.dtype in _BY_NP:
        return a
    kind = a.dtype.kind
    if kind in "iu":
        return be.astype(a, int64.np)
    if kind == "f":
        return be.astype(a, float32.np)
    if kind == "b":
        return be.astype(a, bool_.np)
    raise TypeError(f"unsupported dtype {a.dtype}: expected float32, float64, an integer type "
                    "or bool")


class device:
    """Where a tensor lives: ``device("cpu")`` or ``device("cuda")``; equal to its name."""

    __slots__ = ("type",)

    def __init__(self, type: Any = "cpu") -> None:
        self.type = _backend.normalize_device(type)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, device):
            return other.type == self.type
        if isinstance(other, str):
            return other.split(":", 1)[0] == self.type
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type


_DEVICE_OBJ = {"cpu": device("cpu"), "cuda": device("cuda")}

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _result_dtype(a: dtype, b: dtype) -> dtype:
    """torch's promotion between two tensors: float beats int beats bool; float64 beats float32."""
    if a is b:
        return a
    if a.is_floating_point and b.is_floating_point:
        return float64
    if a.is_floating_point:
        return a
    if b.is_floating_point:
        return b
    if a is bool_ or b is bool_:
        return b if a is bool_ else a
    return _BY_NP[np.promote_types(a.np, b.np)]  # PyTorch's integer promotion is numpy's


_new = object.__new__


# ---- the tensor -----------------------------------------------------------------------------
class Tensor:
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

    # ---- properties ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    def size(self, dim: int | None = None) -> Any:
        return self._data.shape if dim is None else self._data.shape[dim]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
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
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
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
        return Tensor._wrap(self._data, self._be)

    def detach_(self) -> Tensor:
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
        if create_graph or inputs is not None:  # gradients as tensors (double backward)
            from dl_kernels.autograd import higher_order

            higher_order.backward(self, gradient, retain_graph, create_graph, inputs)
            return
        _engine.backward(self, gradient, bool(retain_graph))

    def _accumulate_grad(self, g: Any) -> None:
        be = self._be
        if g.dtype != self._data.dtype:
            g = be.astype(g, self._data.dtype)
        if g.shape != self._data.shape:
            g = be.unbroadcast(g, self._data.shape)
        if self.grad is None:
            self.grad = Tensor._wrap(be.copy(g), be)  # own buffer: g may be shared or a view
        else:
            self.grad._data = be.add(self.grad._data, g)

    # ---- conversion ------------------------------------------------------------------------
    def numpy(self) -> Any:
        if self.requires_grad and _GradMode.enabled:
            raise RuntimeError(
                "Can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()"
            )
        return self._be.to_numpy(self._data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        a = self._be.to_numpy(self._data)
        return a if dtype is None else a.astype(dtype)

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(
                f"item(): expected a tensor with one element, got shape {tuple(self.shape)}"
            )
        return self._be.to_numpy(self._data).reshape(()).item()

    def tolist(self) -> Any:
        return self._be.to_numpy(self._data).tolist()

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self._data.__dlpack_device__()

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
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(float32)

    def double(self) -> Tensor:
        return self.to(float64)

    def long(self) -> Tensor:
        return self.to(int64)

    def bool(self) -> Tensor:
        return self.to(bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def clone(self) -> Tensor:
        return F.Clone.apply(self)

    def contiguous(self) -> Tensor:
        return self if self._be.is_contiguous(self._data) else F.Clone.apply(self)

    def __repr__(self) -> str:
        body = repr(self._be.to_numpy(self._data))
        body = body.replace("array(", "tensor(", 1).replace("\n      ", "\n       ")
        if "dtype=float32" in body:
            body = re.sub(r",\s*dtype=float32", "", body)
        elif self._data.dtype == np.float64 and "dtype" not in body:
            body = body[:-1] + ", dtype=float64)"
        if self.grad_fn is not None:
            body = body[:-1] + f", grad_fn=<{type(self.grad_fn).__name__}Backward>)"
        elif self.requires_grad:
            body = body[:-1] + ", requires_grad=True)"
        return body

    # ---- Python protocols ------------------------------------------------------------------
    __hash__ = object.__hash__

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickle the data, device and requires_grad (not the graph, not .grad); subclasses
        (nn.Parameter) come back as themselves, on this process's backend object."""
        args = (type(self), self._be.to_numpy(self._data), self._be.device, self.requires_grad)
        return (_rebuild_tensor, args, getattr(self, "__dict__", None) or None)

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError("only leaf tensors support deepcopy; detach() first")
        import copy

        new = _rebuild_tensor(type(self), self._be.copy(self._data), self._be.device,
                              self.requires_grad)
        memo[id(self)] = new
        if self.grad is not None:
            new.grad = copy.deepcopy(self.grad, memo)
        extra = getattr(self, "__dict__", None)
        if extra:
            new.__dict__.update(copy.deepcopy(extra, memo))
        return new

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self._data.size} elements is ambiguous"
            )
        return builtins.bool(self.item())

    def __float__(self) -> float:
        return builtins.float(self.item())

    def __int__(self) -> int:
        return builtins.int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return builtins.int(self.item())

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

    def __add__(self, other: Any) -> Tensor:
        return self._binary(F.Add, other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        return self._binary(F.Sub, other)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(F.Sub, other, reverse=True)

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(F.Mul, other)

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
        if not isinstance(other, Tensor):
            other = tensor(other, dtype=self.dtype, device=self.device)
        _check_matmul(self, other)
        return F.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):  # keep other's graph
            return other.__matmul__(self)
        return tensor(other, dtype=self.dtype, device=self.device).__matmul__(self)

    def matmul(self, other: Tensor) -> Tensor:
        return self.__matmul__(other)

    mm = bmm = matmul

    def _compare(self, op: str, other: Any) -> Tensor:
        be = self._be
        if isinstance(other, Tensor):
            _check_device(self, other)
            other = other._data
        return Tensor._wrap(getattr(be, op)(self._data, other), be)

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return self._compare("eq", other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return self._compare("ne", other)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare("lt", other)

    def __le__(self, other: Any) -> Tensor:
        return self._compare("le", other)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare("gt", other)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare("ge", other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __floordiv__(self, other: Any) -> Tensor:  # not differentiable (as torch)
        return self._compare("floor_divide", other)

    def __mod__(self, other: Any) -> Tensor:  # not differentiable
        return self._compare("remainder", other)

    def __and__(self, other: Any) -> Tensor:
        return self._compare("logical_and", other)

    def __or__(self, other: Any) -> Tensor:
        return self._compare("logical_or", other)

    def __invert__(self) -> Tensor:
        return Tensor._wrap(self._be.logical_not(self._data), self._be)

    logical_not = __invert__

    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other: Any) -> Tensor:
        return self * other

    def div(self, other: Any) -> Tensor:
        return self / other

    def pow(self, exponent: Any) -> Tensor:
        return self ** exponent

    def neg(self) -> Tensor:
        return F.Neg.apply(self)

    # ---- elementwise functions -------------------------------------------------------------
    def exp(self) -> Tensor:
        return F.Exp.apply(_floating(self))

    def log(self) -> Tensor:
        return F.Log.apply(_floating(self))

    def log1p(self) -> Tensor:
        return (1.0 + self).log()

    def sqrt(self) -> Tensor:
        return F.Sqrt.apply(_floating(self))

    def rsqrt(self) -> Tensor:
        return 1.0 / self.sqrt()

    def square(self) -> Tensor:
        return self * self

    def abs(self) -> Tensor:
        return F.Abs.apply(self)

    def sign(self) -> Tensor:
        return F.Sign.apply(self)

    def tanh(self) -> Tensor:
        return F.Tanh.apply(_floating(self))

    def sigmoid(self) -> Tensor:
        return F.Sigmoid.apply(_floating(self))

    def relu(self) -> Tensor:
        return F.Relu.apply(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
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
        a, b = _coerce(self, other)
        return F.Maximum.apply(a, b)

    def minimum(self, other: Tensor) -> Tensor:
        a, b = _coerce(self, other)
        return F.Maximum.apply(a, b, minimum=True)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        if isinstance(value, Tensor):  # a 0-d tensor value keeps its gradient
            return where(mask, value.to(self.dtype), self)
        return where(mask, tensor(value, dtype=self.dtype, device=self.device), self)

    def softmax(self, dim: int) -> Tensor:
        return F.Softmax.apply(self, dim=dim)

    def log_softmax(self, dim: int) -> Tensor:
        return F.LogSoftmax.apply(self, dim=dim)

    # ---- reductions ------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.to(dtype)
        if x._data.dtype.kind == "b":
            x = x.to(int64)
        return F.Sum.apply(x, axis=_dims(dim), keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
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
        return self._extreme(dim, keepdim, False)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme(dim, keepdim, True)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return F.MaxReduce.apply(self, axis=_dims(dim), keepdim=keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return F.MaxReduce.apply(self, axis=_dims(dim), keepdim=keepdim, minimum=True)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return self._arg_extreme("argmax", dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return self._arg_extreme("argmin", dim, keepdim)

    def _arg_extreme(self, op: str, dim: Any, keepdim: bool) -> Tensor:
        be = self._be
        if self.ndim == 0:  # a 0-d tensor's only index is 0
            if dim is not None:
                wrap_dim(dim, 0)
            return Tensor._wrap(be.zeros((), int64.np), be)
        if dim is not None:
            dim = wrap_dim(dim, self.ndim)
        if self._data.size == 0:
            raise OpError(f"{op}(): expected a non-empty tensor, got shape {tuple(self.shape)}")
        return Tensor._wrap(getattr(be, op)(self._data, dim, keepdim), be)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
            correction: Any = None) -> Tensor:
        if isinstance(dim, builtins.bool):  # PyTorch's var(input, unbiased) overload
            dim, unbiased = None, dim
        if correction is None:
            correction = 0 if unbiased is False else 1
        return F.Var.apply(_floating(self), axis=_dims(dim), correction=correction,
                           keepdim=keepdim)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
            correction: Any = None) -> Tensor:
        if isinstance(dim, builtins.bool):  # PyTorch's std(input, unbiased) overload
            dim, unbiased = None, dim
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return F.LogSumExp.apply(_floating(self), axis=_dims(dim), keepdim=keepdim)

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
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

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """True where every entry along ``dim`` is nonzero (True over an empty axis)."""
        be = self._be
        axis = F._normalize_axis(_dims(dim), self.ndim)
        false = be.sum(be.eq(self._data, 0), axis, keepdim)
        return Tensor._wrap(be.eq(false, 0), be)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """True where some entry along ``dim`` is nonzero (False over an empty axis)."""
        be = self._be
        axis = F._normalize_axis(_dims(dim), self.ndim)
        return Tensor._wrap(be.gt(be.sum(be.ne(self._data, 0), axis, keepdim), 0), be)

    # ---- shape and views -------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        shape = _shape_arg(shape)
        if shape == self._data.shape:
            return self
        return F.Reshape.apply(self, shape=shape)

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        shape = self._data.shape
        if not shape:
            return self.reshape(1)
        s, e = wrap_dim(start_dim, len(shape)), wrap_dim(end_dim, len(shape))
        return self.reshape(shape[:s] + (-1,) + shape[e + 1 :])

    def permute(self, *dims: Any) -> Tensor:
        dims = tuple(d % self.ndim for d in _shape_arg(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of {self.ndim} dimensions")
        return F.Permute.apply(self, axes=dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        if self.ndim == 0:
            wrap_dim(dim0, 0), wrap_dim(dim1, 0)
            return self
        dim0, dim1 = wrap_dim(dim0, self.ndim), wrap_dim(dim1, self.ndim)
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return F.Permute.apply(self, axes=tuple(axes))

    def t(self) -> Tensor:
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
        shape = self._data.shape
        if dim is None:
            new = tuple(n for n in shape if n != 1)
        else:
            dims_in = (dim,) if isinstance(dim, int) else dim
            dims = {wrap_dim(d, len(shape)) for d in dims_in}
            new = tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1))
        return self.reshape(new)

    def unsqueeze(self, dim: int) -> Tensor:
        shape = list(self._data.shape)
        shape.insert(wrap_dim(dim, len(shape) + 1), 1)
        return self.reshape(tuple(shape))

    def expand(self, *sizes: Any) -> Tensor:
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
        return self.expand(other.shape)

    def repeat(self, *sizes: Any) -> Tensor:
        sizes = _shape_arg(sizes)
        x = self.reshape((1,) * (len(sizes) - self.ndim) + self._data.shape)
        inter, final = [], []
        for r, n in zip(sizes, x.shape):
            inter += [r, n]
            final.append(r * n)
        x = x.reshape(tuple(v for n in x.shape for v in (1, n)))
        return x.expand(tuple(inter)).reshape(tuple(final))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple:
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
        n = self._data.shape[wrap_dim(dim, self.ndim)]
        return self.split(builtins.max(-(-n // chunks), 1), dim)

    def unbind(self, dim: int = 0) -> tuple:
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

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        if self.ndim == 0:
            return self.sort(dim)[1]
        return Tensor._wrap(self._be.sort(self._data, wrap_dim(dim, self.ndim), descending)[1],
                            self._be)

    @property
    def is_cuda(self) -> bool:
        return self._be.device == "cuda"

    # ---- indexing --------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Tensor:
        index, advanced = _convert_index(index)
        if not self.requires_grad or not _GradMode.enabled:
            return Tensor._wrap(F.index_get(self._be, self._data, index), self._be)
        return F.GetItem.apply(self, index=index, advanced=advanced)

    def __setitem__(self, index: Any, value: Any) -> None:
        index, _ = _convert_index(index)
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
    def _inplace(self) -> Any:
        if self.requires_grad and _GradMode.enabled:
            raise RuntimeError(
                "in-place operation on a tensor that requires grad; use it under no_grad() "
                "or on .data"
            )
        return self._data

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        d = self._inplace()
        o = _arr(other)
        self._be.add(d, o if alpha == 1 else self._be.mul(o, alpha), out=d)
        return self

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        d = self._inplace()
        o = _arr(other)
        self._be.sub(d, o if alpha == 1 else self._be.mul(o, alpha), out=d)
        return self

    def mul_(self, other: Any) -> Tensor:
        d = self._inplace()
        self._be.mul(d, _arr(other), out=d)
        return self

    def div_(self, other: Any) -> Tensor:
        d = self._inplace()
        self._be.div(d, _arr(other), out=d)
        return self

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, value: Any = 1) -> Tensor:
        d, be = self._inplace(), self._be
        prod = be.mul(_arr(tensor1), _arr(tensor2))
        be.add(d, prod if value == 1 else be.mul(prod, value), out=d)
        return self

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, value: Any = 1) -> Tensor:
        d, be = self._inplace(), self._be
        q = be.div(_arr(tensor1), _arr(tensor2))
        be.add(d, q if value == 1 else be.mul(q, value), out=d)
        return self

    def pow_(self, exponent: Any) -> Tensor:
        d = self._inplace()
        self._be.pow(d, _arr(exponent), out=d)
        return self

    def sqrt_(self) -> Tensor:
        d = self._inplace()
        self._be.sqrt(d, out=d)
        return self

    def neg_(self) -> Tensor:
        d = self._inplace()
        self._be.neg(d, out=d)
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        d = self._inplace()
        self._be.clip(d, _arr(min), _arr(max), out=d)
        return self

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

    def copy_(self, src: Any) -> Tensor:
        d = self._inplace()
        self._be.setitem(d, Ellipsis, _arr(src))
        return self

    def zero_(self) -> Tensor:
        self._be.setitem(self._inplace(), Ellipsis, 0)
        return self

    def fill_(self, value: Any) -> Tensor:
        self._be.setitem(self._inplace(), Ellipsis, _arr(value))
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        d, be = self._inplace(), self._be
        be.setitem(d, Ellipsis, be.add(be.mul(be.rand(d.shape, np.float64), b - a), a))
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        d, be = self._inplace(), self._be
        be.setitem(d, Ellipsis, be.add(be.mul(be.randn(d.shape, np.float64), std), mean))
        return self


_engine._Tensor = Tensor


def _rebuild_tensor(cls: type, data: Any, device: str, requires_grad: bool) -> Tensor:
    be = _backend.get_backend(device)
    t = _new(cls)
    t._data = data if data.__class__ is be.Array else be.asarray(data)
    t._be = be
    t.grad = t.grad_fn = None
    t._out_idx = 0
    t.requires_grad = requires_grad
    return t


# ---- helpers --------------------------------------------------------------------------------
def _arr(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


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


def _check_device(a: Tensor, b: Tensor) -> None:
    if a._be is not b._be:
        raise ValueError(f"tensors on different devices: {a.device} and {b.device}")


def _coerce(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Same device required; dtypes promoted as torch does."""
    if a._be is not b._be:
        _check_device(a, b)
    da, db = a._data.dtype, b._data.dtype
    if da is db or da == db:
        return a, b
    ta, tb = _BY_NP[da], _BY_NP[db]
    if (a.ndim == 0) != (b.ndim == 0) and _category(ta) == _category(tb):
        d = tb if a.ndim == 0 else ta  # a 0-d tensor does not promote within its category
    else:
        d = _result_dtype(ta, tb)
    return a.to(d), b.to(d)


def _category(d: dtype) -> int:
    return 2 if d.is_floating_point else 0 if d is bool_ else 1


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


def _convert_index(index: Any) -> tuple[Any, bool]:
    """Tensor indices -> arrays; say whether the index is advanced (arrays or lists)."""
    items = index if isinstance(index, tuple) else (index,)
    advanced = False
    out = []
    for it in items:
        if isinstance(it, Tensor):
            it = it._data
            if it.ndim > 0 or it.dtype.kind == "b":
                advanced = True
            else:
                it = it.item()
        elif isinstance(it, (list, np.ndarray)):
            advanced = True
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
    if isinstance(data, Tensor) and (dtype is None or _as_dtype(dtype) is data.dtype):
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a: Any) -> Tensor:
    """A tensor sharing memory with numpy array ``a`` (float32/float64/int64/bool)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in _BY_NP:
        raise TypeError(f"from_numpy: unsupported dtype {a.dtype}: expected float32, float64, "
                        "int64 or bool")
    return Tensor._wrap(a, _backend.cpu)


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing memory with any DLPack producer (torch, numpy, jax, ...)."""
    be = _backend.cpu
    if hasattr(obj, "__dlpack_device__"):
        dev_type = obj.__dlpack_device__()[0]
        if dev_type != 1:
            be = _backend.get_backend("cuda")
    return Tensor._wrap(_supported(be.from_dlpack(obj), be), be)


def _factory(fill: str, size: tuple, dtype: Any, device: Any, requires_grad: bool,
             value: Any = None) -> Tensor:
    be = _backend.get_backend(device)
    d = (_as_dtype(dtype) if dtype is not None else float32).np
    shape = _size_arg(size)
    if fill == "full":
        data = be.full(shape, value, d)
    else:
        data = getattr(be, fill)(shape, d)
    return _make(data, be, requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _factory("zeros", size, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _factory("ones", size, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _factory("empty", size, dtype, device, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = (bool_ if isinstance(fill_value, builtins.bool)
                 else int64 if isinstance(fill_value, builtins.int) else float32)
    return _factory("full", (size,), dtype, device, requires_grad, fill_value)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _factory("randn", size, dtype, device, requires_grad)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _factory("rand", size, dtype, device, requires_grad)


def randint(low: int, high: Any = None, size: Any = None, dtype: Any = None,
            device: Any = None) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high)."""
    if size is None:
        if not isinstance(high, (tuple, list)):
            raise TypeError("randint: size (a tuple) is required")
        low, high, size = 0, low, high
    be = _backend.get_backend(device)
    d = (_as_dtype(dtype) if dtype is not None else int64).np
    return Tensor._wrap(be.randint(low, high, _size_arg((size,)), d), be)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, builtins.int) for v in (start, end, step))
        dtype = int64 if is_int else float32
    be = _backend.get_backend(device)
    return _make(be.arange(start, end, step, _as_dtype(dtype).np), be, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None) -> Tensor:
    if isinstance(start, Tensor):
        start = start.item()
    if isinstance(end, Tensor):
        end = end.item()
    if steps == 1:
        return full((1,), start, dtype=dtype or float32, device=device)
    if steps == 0:
        return zeros(0, dtype=dtype or float32, device=device)
    step = (end - start) / (steps - 1)
    if dtype is None or _as_dtype(dtype).is_floating_point:
        # PyTorch's: the first half counted up from start, the second down from end, so both
        # ends are exact
        i = arange(steps, dtype=float64, device=device)
        half = steps // 2
        up = i * step + start
        down = end - (steps - 1 - i) * step
        return where(i < half, up, down).to(dtype or float32)
    return arange(steps, dtype=float64, device=device).mul(step).add(start).to(dtype or float32)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    m = n if m is None else m
    out = zeros(n, m, dtype=dtype, device=device)
    k = builtins.min(n, m)
    idx = arange(k, device=device)
    out[idx, idx] = 1
    return out.requires_grad_(True) if requires_grad else out


def _like(fn: Any, t: Tensor, dtype: Any, requires_grad: bool, *extra: Any,
          device: Any = None) -> Tensor:
    d = dtype if dtype is not None else t.dtype
    return fn(t.shape, *extra, dtype=d, device=device if device is not None else t.device,
              requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None, memory_format: Any = None) -> Tensor:
    return _like(zeros, t, dtype, requires_grad, device=device)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              device: Any = None, memory_format: Any = None) -> Tensor:
    return _like(ones, t, dtype, requires_grad, device=device)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None, memory_format: Any = None) -> Tensor:
    return _like(empty, t, dtype, requires_grad, device=device)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
              device: Any = None, memory_format: Any = None) -> Tensor:
    return _like(full, t, dtype, requires_grad, fill_value, device=device)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               device: Any = None, memory_format: Any = None) -> Tensor:
    return _like(randn, t, dtype, requires_grad, device=device)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              device: Any = None, memory_format: Any = None) -> Tensor:
    return _like(rand, t, dtype, requires_grad, device=device)


def manual_seed(seed: int) -> None:
    """Seed the random numbers of every backend (randn, rand, randint, dropout)."""
    _backend.cpu.manual_seed(seed)


# ---- functions over several tensors ---------------------------------------------------------
def _same_dtype(tensors: Sequence[Tensor], what: str) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{what}: expected a non-empty sequence of tensors")
    be = tensors[0]._be
    d = tensors[0].dtype
    for t in tensors[1:]:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: expected tensors, got {type(t).__name__}")
        if t._be is not be:
            raise ValueError(f"{what}: tensors on different devices: {tensors[0].device} and "
                             f"{t.device}")
        d = _result_dtype(d, t.dtype)
    return [t if t.dtype is d else t.to(d) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    ts = _same_dtype(tensors, "cat")
    for i, t in enumerate(ts):
        if t.ndim == 0:
            raise OpError(f"cat: zero-dimensional tensor (at position {i}) cannot be "
                          "concatenated")
    # PyTorch's legacy rule: 1-D empty tensors (shape (0,)) are skipped whatever their rank
    ts = [t for t in ts if t.shape != (0,)] or ts[:1]
    ref = ts[0].shape
    axis = wrap_dim(dim, len(ref))
    for t in ts[1:]:
        if t.ndim != len(ref) or any(
            a != b for i, (a, b) in enumerate(zip(ref, t.shape)) if i != axis
        ):
            raise OpError(f"cat: shapes {tuple(ref)} and {tuple(t.shape)} differ outside "
                          f"dim {dim}")
    return F.Cat.apply(*ts, axis=axis)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    ts = _same_dtype(tensors, "stack")
    for t in ts[1:]:
        if t.shape != ts[0].shape:
            raise OpError(f"stack: shapes {tuple(ts[0].shape)} and {tuple(t.shape)} differ")
    return F.Stack.apply(*ts, axis=wrap_dim(dim, ts[0].ndim + 1))


def split(t: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple:
    return t.split(split_size_or_sections, dim)


def where(condition: Tensor, input: Any, other: Any) -> Tensor:
    """Elementwise ``input if condition else other`` (scalars allowed for either branch)."""
    ref = input if isinstance(input, Tensor) else other
    if not isinstance(ref, Tensor):
        ref = tensor(input)
    a = input if isinstance(input, Tensor) else tensor(input, dtype=ref.dtype, device=ref.device)
    b = other if isinstance(other, Tensor) else tensor(other, dtype=ref.dtype, device=ref.device)
    a, b = _coerce(a, b)
    cond = condition._data if isinstance(condition, Tensor) else condition
    return F.Where.apply(a, b, cond=cond)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return a.maximum(b)


def minimum(a: Tensor, b: Tensor) -> Tensor:
    return a.minimum(b)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a.matmul(b)


def _method(name: str) -> Any:
    def fn(t: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(t, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``{name}(t, ...)`` is ``t.{name}(...)``."
    return fn


exp, log, sqrt, abs, tanh, sigmoid, relu, clamp, sum, mean, var, std = (
    _method(n) for n in
    ("exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clamp", "sum", "mean", "var", "std")
)
max, min, argmax, argmin, logsumexp, reshape, flatten, transpose, permute = (
    _method(n) for n in
    ("max", "min", "argmax", "argmin", "logsumexp", "reshape", "flatten", "transpose", "permute")
)
squeeze, unsqueeze, softmax, log_softmax, norm, clip, amax, amin, chunk = (
    _method(n) for n in
    ("squeeze", "unsqueeze", "softmax", "log_softmax", "norm", "clip", "amax", "amin", "chunk")
)
gather, sort, topk, argsort, index_select, bmm = (
    _method(n) for n in ("gather", "sort", "topk", "argsort", "index_select", "bmm")
)
