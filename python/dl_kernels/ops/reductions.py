"""Scans and reductions with PyTorch's names: cumsum, cumprod, cummax, cummin, logcumsumexp,
prod, std_mean / var_mean, count_nonzero, aminmax, softmax / log_softmax with ``dtype``."""

from __future__ import annotations

from typing import Any

from dl_kernels.autograd import function as Fn
from dl_kernels.autograd import scan_ops as S
from dl_kernels.dtypes import int64
from dl_kernels.shapes import wrap_dim
from dl_kernels.tensor import MaxResult, Tensor, _floating


def _scan_input(input: Tensor, dtype: Any) -> Tensor:
    x = input if dtype is None else input.to(dtype)
    if x.dtype.name == "bool":
        x = x.to(int64)  # PyTorch sums booleans as int64
    return x


def _scan(fn: type, input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    x = _scan_input(input, dtype)
    if x.ndim == 0:
        wrap_dim(dim, 0)
        return x.clone()
    return fn.apply(x, axis=wrap_dim(dim, x.ndim))


def cumsum(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """Running sum along ``dim``."""
    return _scan(S.CumSum, input, dim, dtype)


def cumprod(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """Running product along ``dim`` (exact gradients with zeros in the input)."""
    return _scan(S.CumProd, input, dim, dtype)


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(input))) along ``dim``, computed stably."""
    return _scan(S.LogCumSumExp, _floating(input), dim)


def _cum_extreme(input: Tensor, dim: int, minimum: bool) -> MaxResult:
    if input.ndim == 0:
        wrap_dim(dim, 0)
        return MaxResult(input.clone(), Tensor._wrap(input._be.zeros((), int64.np), input._be))
    values, indices = S.CumExtreme.apply(input, axis=wrap_dim(dim, input.ndim), minimum=minimum)
    indices.requires_grad, indices.grad_fn = False, None
    return MaxResult(values, indices)


def cummax(input: Tensor, dim: int) -> MaxResult:
    """(values, indices) of the running maximum along ``dim``."""
    return _cum_extreme(input, dim, False)


def cummin(input: Tensor, dim: int) -> MaxResult:
    """(values, indices) of the running minimum along ``dim``."""
    return _cum_extreme(input, dim, True)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """Product of all entries, or along one ``dim``."""
    x = _scan_input(input, dtype)
    if dim is None:
        return S.Prod.apply(x, axis=None, keepdim=False)
    if x.ndim == 0:
        wrap_dim(dim, 0)
        return x.clone()
    return S.Prod.apply(x, axis=wrap_dim(dim, x.ndim), keepdim=keepdim)


def var_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """(var, mean) in one call."""
    if isinstance(dim, bool):  # PyTorch's (input, unbiased) overload
        dim, unbiased = None, dim
    return input.var(dim, unbiased, keepdim, correction), input.mean(dim, keepdim)


def std_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """(std, mean) in one call."""
    if isinstance(dim, bool):  # PyTorch's (input, unbiased) overload
        dim, unbiased = None, dim
    return input.std(dim, unbiased, keepdim, correction), input.mean(dim, keepdim)


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    return (input != 0).sum(dim)


def aminmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    from collections import namedtuple

    result = namedtuple("aminmax", ["min", "max"])
    return result(input.amin(dim, keepdim), input.amax(dim, keepdim))


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """Softmax along ``dim``; ``dtype`` casts the input first (as PyTorch)."""
    x = _floating(input if dtype is None else input.to(dtype))
    return Fn.Softmax.apply(x, dim=dim)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    x = _floating(input if dtype is None else input.to(dtype))
    return Fn.LogSoftmax.apply(x, dim=dim)


def softmin(input: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """softmax(-input)."""
    x = _floating(input if dtype is None else input.to(dtype))
    return Fn.Softmax.apply(-x, dim=dim)
