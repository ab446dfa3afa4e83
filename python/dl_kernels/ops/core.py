"""Functions over tensors: joining (cat, stack, split), selection (where, maximum, minimum),
matmul, and the ``dl_kernels.exp(t)``-style aliases of Tensor methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dl_kernels.autograd import function as F
from dl_kernels.dtypes import _result_dtype
from dl_kernels.errors import OpError
from dl_kernels.shapes import wrap_dim
from dl_kernels.tensor import Tensor, _coerce, tensor


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
    """Concatenate tensors along an existing dimension ``dim`` (also ``concat``); their
    shapes must agree everywhere else, dtypes are promoted. Differentiable.

    Args:
        tensors: a non-empty sequence of tensors on one device.
        dim: the dimension to join along (negative counts from the end).

    Example:
        >>> dlk.cat([dlk.zeros(2, 3), dlk.ones(1, 3)]).shape
        (3, 3)
        >>> dlk.cat([dlk.zeros(2, 3), dlk.ones(2, 1)], dim=1).shape
        (2, 4)
    """
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
    """Join same-shaped tensors along a new dimension ``dim``. Differentiable.

    Example:
        >>> dlk.stack([dlk.zeros(3), dlk.ones(3)]).shape
        (2, 3)
        >>> dlk.stack([dlk.zeros(3), dlk.ones(3)], dim=1).shape
        (3, 2)
    """
    ts = _same_dtype(tensors, "stack")
    for t in ts[1:]:
        if t.shape != ts[0].shape:
            raise OpError(f"stack: shapes {tuple(ts[0].shape)} and {tuple(t.shape)} differ")
    return F.Stack.apply(*ts, axis=wrap_dim(dim, ts[0].ndim + 1))


def split(t: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Split ``t`` along ``dim`` into chunks of ``split_size_or_sections`` elements (the last
    may be smaller) or into pieces of the listed sizes; returns a tuple of views.

    Example:
        >>> [p.tolist() for p in dlk.split(dlk.arange(5), 2)]
        [[0, 1], [2, 3], [4]]
    """
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
    """The elementwise maximum of ``a`` and ``b`` (broadcast); NaN wins.

    Example:
        >>> dlk.maximum(dlk.tensor([1.0, 4.0]), dlk.tensor([3.0, 2.0])).tolist()
        [3.0, 4.0]
    """
    return a.maximum(b)


def minimum(a: Tensor, b: Tensor) -> Tensor:
    """The elementwise minimum of ``a`` and ``b`` (broadcast); NaN wins."""
    return a.minimum(b)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b``: the matrix product with broadcasting over leading dimensions (see
    :meth:`Tensor.matmul`).

    Example:
        >>> dlk.matmul(dlk.ones(4, 2, 3), dlk.ones(3, 5)).shape
        (4, 2, 5)
    """
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
