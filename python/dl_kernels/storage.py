"""The Tensor methods that are plain backend clients: reading a tensor's storage out
(numpy, item, repr, pickling, DLPack), comparisons and other results without a gradient, and
the in-place updates optimisers use. They record no graph; the differentiable methods live in
``dl_kernels.tensor``, whose ``Tensor`` inherits these from ``StorageOps``."""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from dl_kernels import backend as _backend
from dl_kernels.autograd.engine import _GradMode
from dl_kernels.autograd.function import _normalize_axis
from dl_kernels.dtypes import int64
from dl_kernels.errors import OpError
from dl_kernels.shapes import wrap_dim

if TYPE_CHECKING:  # for annotations only: Tensor builds on this module
    from dl_kernels.tensor import Tensor

_new = object.__new__


class StorageOps:
    """Mixin for ``Tensor`` (which owns the slots ``_data``, ``_be``, ...)."""

    __slots__ = ()
    __hash__ = object.__hash__

    def numpy(self) -> Any:
        """The data as a numpy array (shares memory on the CPU). Raises on a tensor that
        requires grad: call ``detach().numpy()``.

        Example:
            >>> dlk.arange(3).numpy()
            array([0, 1, 2])
        """
        if self.requires_grad and _GradMode.enabled:
            raise RuntimeError(
                "Can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()"
            )
        return self._be.to_numpy(self._data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        a = self._be.to_numpy(self._data)
        return a if dtype is None else a.astype(dtype)

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number.

        Example:
            >>> dlk.tensor([2.5]).item()
            2.5
        """
        if self._data.size != 1:
            raise ValueError(
                f"item(): expected a tensor with one element, got shape {tuple(self.shape)}"
            )
        return self._be.to_numpy(self._data).reshape(()).item()

    def tolist(self) -> Any:
        """The data as nested Python lists.

        Example:
            >>> dlk.eye(2).tolist()
            [[1.0, 0.0], [0.0, 1.0]]
        """
        return self._be.to_numpy(self._data).tolist()

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._be.dlpack(self._data, *args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self._be.dlpack_device(self._data)

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

    def _compare(self, op: str, other: Any) -> Tensor:
        be = self._be
        if isinstance(other, StorageOps):
            _check_device(self, other)
        return self._wrap(getattr(be, op)(self._data, _arr(other, be)), be)

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
        return self._wrap(self._be.logical_not(self._data), self._be)

    logical_not = __invert__

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """int64 indices of the largest values along ``dim`` (of the flattened tensor when
        None).

        Example:
            >>> dlk.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(1).tolist()
            [1, 0]
        """
        return self._arg_extreme("argmax", dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """int64 indices of the smallest values along ``dim`` (flattened when None)."""
        return self._arg_extreme("argmin", dim, keepdim)

    def _arg_extreme(self, op: str, dim: Any, keepdim: bool) -> Tensor:
        be = self._be
        if self.ndim == 0:  # a 0-d tensor's only index is 0
            if dim is not None:
                wrap_dim(dim, 0)
            return self._wrap(be.zeros((), int64.np), be)
        if dim is not None:
            dim = wrap_dim(dim, self.ndim)
        if self._data.size == 0:
            raise OpError(f"{op}(): expected a non-empty tensor, got shape {tuple(self.shape)}")
        return self._wrap(getattr(be, op)(self._data, dim, keepdim), be)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """True where every entry along ``dim`` is nonzero (True over an empty axis)."""
        be = self._be
        axis = _normalize_axis(_dim_tuple(dim), self.ndim)
        false = be.sum(be.eq(self._data, 0), axis, keepdim)
        return self._wrap(be.eq(false, 0), be)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """True where some entry along ``dim`` is nonzero (False over an empty axis)."""
        be = self._be
        axis = _normalize_axis(_dim_tuple(dim), self.ndim)
        return self._wrap(be.gt(be.sum(be.ne(self._data, 0), axis, keepdim), 0), be)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """int64 indices that sort ``self`` along ``dim``."""
        if self.ndim == 0:
            return self.sort(dim)[1]
        return self._wrap(self._be.sort(self._data, wrap_dim(dim, self.ndim), descending)[1],
                          self._be)

    @property
    def is_cuda(self) -> bool:
        return self._be.device == "cuda"

    def _inplace(self) -> Any:
        if self.requires_grad and _GradMode.enabled:
            raise RuntimeError(
                "in-place operation on a tensor that requires grad; use it under no_grad() "
                "or on .data"
            )
        return self._data

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place; returns ``self``."""
        d = self._inplace()
        o = _arr(other, self._be)
        self._be.add(d, o if alpha == 1 else self._be.mul(o, alpha), out=d)
        return self

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place; returns ``self``."""
        d = self._inplace()
        o = _arr(other, self._be)
        self._be.sub(d, o if alpha == 1 else self._be.mul(o, alpha), out=d)
        return self

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place; returns ``self``."""
        d = self._inplace()
        self._be.mul(d, _arr(other, self._be), out=d)
        return self

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place; returns ``self``."""
        d = self._inplace()
        self._be.div(d, _arr(other, self._be), out=d)
        return self

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, value: Any = 1) -> Tensor:
        """``self += value * t1 * t2`` in place (optimiser updates); returns ``self``."""
        d, be = self._inplace(), self._be
        prod = be.mul(_arr(tensor1, self._be), _arr(tensor2, self._be))
        be.add(d, prod if value == 1 else be.mul(prod, value), out=d)
        return self

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, value: Any = 1) -> Tensor:
        """``self += value * t1 / t2`` in place (optimiser updates); returns ``self``."""
        d, be = self._inplace(), self._be
        q = be.div(_arr(tensor1, self._be), _arr(tensor2, self._be))
        be.add(d, q if value == 1 else be.mul(q, value), out=d)
        return self

    def pow_(self, exponent: Any) -> Tensor:
        """``self **= exponent`` in place; returns ``self``."""
        d = self._inplace()
        self._be.pow(d, _arr(exponent, self._be), out=d)
        return self

    def sqrt_(self) -> Tensor:
        """Square root in place; returns ``self``."""
        d = self._inplace()
        self._be.sqrt(d, out=d)
        return self

    def neg_(self) -> Tensor:
        """Negate in place; returns ``self``."""
        d = self._inplace()
        self._be.neg(d, out=d)
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """Clamp to ``[min, max]`` in place; returns ``self``."""
        d = self._inplace()
        self._be.clip(d, _arr(min, self._be), _arr(max, self._be), out=d)
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to this shape) into this tensor in place; returns ``self``."""
        d = self._inplace()
        self._be.setitem(d, Ellipsis, _arr(src, self._be))
        return self

    def zero_(self) -> Tensor:
        """Fill with zeros in place; returns ``self``."""
        self._be.setitem(self._inplace(), Ellipsis, 0)
        return self

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value`` in place; returns ``self``."""
        self._be.setitem(self._inplace(), Ellipsis, _arr(value, self._be))
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill in place with U[a, b) samples from the library's generator; returns ``self``."""
        d, be = self._inplace(), self._be
        be.setitem(d, Ellipsis, be.add(be.mul(be.rand(d.shape, np.float64), b - a), a))
        return self

    def bernoulli_(self, p: float = 0.5) -> Tensor:
        """Fill with 1 (probability p) or 0, drawn from the backend's generator."""
        d, be = self._inplace(), self._be
        be.setitem(d, Ellipsis, be.bernoulli(d.shape, p, d.dtype))
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill in place with N(mean, std^2) samples from the library's generator; returns ``self``."""
        d, be = self._inplace(), self._be
        be.setitem(d, Ellipsis, be.add(be.mul(be.randn(d.shape, np.float64), std), mean))
        return self


def _rebuild_tensor(cls: type, data: Any, device: str, requires_grad: bool) -> Tensor:
    be = _backend.get_backend(device)
    t = _new(cls)
    t._data = data if data.__class__ is be.Array else be.asarray(data)
    t._be = be
    t.grad = t.grad_fn = None
    t._out_idx = 0
    t.requires_grad = requires_grad
    return t


def _arr(x: Any, be: Any) -> Any:
    """A tensor's array, host data (numpy arrays, lists) as an array of ``be``, or a scalar."""
    if isinstance(x, StorageOps):
        return x._data
    if isinstance(x, (np.ndarray, list, tuple)):
        return be.asarray(x)
    return x


def _dim_tuple(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, list) else dim


def _check_device(a: Tensor, b: Tensor) -> None:
    if a._be is not b._be:
        raise ValueError(f"tensors on different devices: {a.device} and {b.device}")
