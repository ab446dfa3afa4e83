"""Movement, selection and combination ops with PyTorch's names: flip, roll, tril / triu,
diag / diagonal / diag_embed, meshgrid, unflatten, Tensor.unfold, repeat_interleave, movedim,
narrow, tile, masked_select, nonzero, scatter / scatter_add / scatter_reduce, multinomial,
einsum. Where an op is a selection, it is GetItem with a computed index (its gradient
accumulates repeats), so it needs no Function of its own."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from dl_kernels.autograd import shape_ops as SO
from dl_kernels.dtypes import int64
from dl_kernels.errors import OpError
from dl_kernels.factories import arange, zeros
from dl_kernels.ops.core import _same_dtype, where
from dl_kernels.shapes import broadcast_shapes, wrap_dim, wrap_dims
from dl_kernels.tensor import Tensor, tensor


def _dims(dims: Any) -> tuple:
    return (dims,) if isinstance(dims, int) else tuple(dims)


def flip(input: Tensor, dims: Any) -> Tensor:
    """Reverse the order of entries along each of ``dims``."""
    axes = wrap_dims(_dims(dims), input.ndim)
    if input.ndim == 0 or not axes:
        return input.clone()
    return SO.Flip.apply(input, axes=axes)


def fliplr(input: Tensor) -> Tensor:
    return flip(input, 1)


def flipud(input: Tensor) -> Tensor:
    return flip(input, 0)


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift entries cyclically by ``shifts`` along ``dims`` (the flattened tensor when None)."""
    shifts = _dims(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise OpError(f"roll: without dims, shifts must be one number, got {shifts}")
        return SO.Roll.apply(input, shifts=shifts, axes=None)
    dims = _dims(dims)
    if len(shifts) != len(dims):
        raise OpError(f"roll: shifts {shifts} and dims {dims} differ in length")
    if input.ndim == 0:
        return input.clone()
    return SO.Roll.apply(input, shifts=shifts, axes=tuple(wrap_dim(d, input.ndim) for d in dims))


def _triangle(input: Tensor, diagonal: int, lower: bool) -> Tensor:
    if input.ndim < 2:
        raise OpError(f"tril/triu: expected a tensor with at least 2 dims, got shape "
                      f"{tuple(input.shape)}")
    n, m = input.shape[-2], input.shape[-1]
    rows = arange(n, device=input.device).reshape(n, 1)
    cols = arange(m, device=input.device).reshape(1, m)
    keep = (cols - rows <= diagonal) if lower else (cols - rows >= diagonal)
    return where(keep, input, tensor(0, dtype=input.dtype, device=input.device))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle (entries with col - row <= diagonal), zeros above."""
    return _triangle(input, diagonal, True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle (entries with col - row >= diagonal), zeros below."""
    return _triangle(input, diagonal, False)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes as a new last dim."""
    d1, d2 = wrap_dim(dim1, input.ndim), wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise OpError(f"diagonal: dim1 and dim2 cannot be the same dim ({dim1}, {dim2})")
    rest = [i for i in range(input.ndim) if i not in (d1, d2)]
    x = input.permute(*rest, d1, d2)
    n, m = x.shape[-2], x.shape[-1]
    start_r, start_c = builtins.max(-offset, 0), builtins.max(offset, 0)
    k = builtins.max(builtins.min(n - start_r, m - start_c), 0)
    r = arange(k, device=input.device) + start_r
    c = arange(k, device=input.device) + start_c
    return x[(Ellipsis, r, c)]


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims dim1, dim2 of the result) with ``input``'s last dim on their
    ``offset`` diagonal."""
    n = input.shape[-1] + abs(offset)
    out = zeros(*(tuple(input.shape[:-1]) + (n, n)), dtype=input.dtype, device=input.device)
    k = input.shape[-1]
    r = arange(k, device=input.device) + builtins.max(-offset, 0)
    c = arange(k, device=input.device) + builtins.max(offset, 0)
    out[(Ellipsis, r, c)] = input
    nd = out.ndim
    a1, a2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    rest = [i for i in range(nd) if i not in (a1, a2)]
    perm = [0] * nd
    for src, dst in zip(range(nd - 2), rest):
        perm[dst] = src
    perm[a1], perm[a2] = nd - 2, nd - 1
    return out.permute(*perm)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D input: the square matrix with it on the ``diagonal``-th diagonal; a 2-D input:
    that diagonal as a 1-D tensor."""
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    raise OpError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(input.shape)}")


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-D tensors; indexing 'ij' (matrix) or 'xy' (Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [t.reshape(-1) if t.ndim == 0 else t for t in tensors]
    for t in ts:
        if t.ndim != 1:
            raise OpError(f"meshgrid: expected 0-D or 1-D tensors, got shape {tuple(t.shape)}")
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = shape[i]
        out.append(t.reshape(*view).expand(*shape))
    if swap:  # 'xy': the grid of (y, x) in matrix order, returned as (x-grid, y-grid)
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one may be -1)."""
    d = wrap_dim(dim, input.ndim)
    shape = tuple(input.shape)
    return input.reshape(shape[:d] + tuple(sizes) + shape[d + 1:])


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Tensor.unfold: every window of ``size`` entries along ``dimension``, ``step`` apart,
    as a new last dim (the windows replace ``dimension``)."""
    d = wrap_dim(dimension, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if size > n or size < 0 or step <= 0:
        raise OpError(f"unfold: size {size} (at most {n}) and step {step} (> 0) along dim {d}")
    count = (n - size) // step + 1
    idx = (arange(count).reshape(count, 1) * step + arange(size).reshape(1, size)).reshape(-1)
    x = input if input.ndim else input.reshape(1)
    taken = x.index_select(d, idx)
    shape = tuple(x.shape)
    taken = taken.reshape(shape[:d] + (count, size) + shape[d + 1:])
    return taken.movedim(d + 1, -1) if input.ndim else taken.reshape(size)


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    src, dst = wrap_dims(_dims(source), input.ndim), wrap_dims(_dims(destination), input.ndim)
    if len(src) != len(dst):
        raise OpError(f"movedim: source {source} and destination {destination} differ in length")
    order = [i for i in range(input.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return input.permute(*order) if input.ndim else input


moveaxis = movedim


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    return input.transpose(axis0, axis1)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = wrap_dim(dim, input.ndim)
    n = input.shape[d]
    s = start + n if start < 0 else start
    if not (0 <= s <= n and 0 <= length and s + length <= n):
        raise IndexError(f"narrow: start {start} and length {length} out of range for dim {d} "
                         f"of size {n}")
    sl = [slice(None)] * input.ndim
    sl[d] = slice(s, s + length)
    return input[tuple(sl)]


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:
    dims = _dims(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + tuple(dims)
    return input.repeat(*dims)


def repeat_interleave(input: Tensor, repeats: Any, dim: int | None = None,
                      output_size: int | None = None) -> Tensor:
    """Repeat each entry (of the flattened input when dim is None) ``repeats`` times (an int
    or a 1-D tensor of counts, one per entry)."""
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, x.ndim)
    n = x.shape[d]
    be = x._be
    if isinstance(repeats, Tensor) and repeats.numel() != 1:
        if repeats.ndim != 1 or repeats.shape[0] != n:
            raise OpError(f"repeat_interleave: repeats has shape {tuple(repeats.shape)}, expected "
                          f"({n},) or a single number")
        counts = repeats._data
    else:
        counts = be.full((n,), int(repeats), int64.np)
    if be.item(be.sum(be.lt(counts, 0))):
        raise OpError("repeat_interleave: repeats must be non-negative")
    idx = Tensor._wrap(be.repeat(be.arange(0, n, 1, int64.np), counts, 0), be)
    return x.index_select(d, idx)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The entries where ``mask`` (broadcast with input) is True, as a 1-D tensor."""
    shape = broadcast_shapes(input.shape, mask.shape)
    return input.expand(*shape)[mask.expand(*shape)]


def nonzero(input: Tensor, as_tuple: bool = False) -> Any:
    """Indices of the nonzero entries: (count, ndim) int64, or a tuple of 1-D index tensors."""
    be = input._be
    x = input._data if input.ndim else be.reshape(input._data, (1,))
    idx = Tensor._wrap(be.nonzero(x), be)
    if as_tuple:
        return tuple(idx[:, i] for i in range(idx.shape[1]))
    return idx if input.ndim else idx[:, :0]


def argwhere(input: Tensor) -> Tensor:
    return nonzero(input)


_SCATTER_REDUCE = ("sum", "prod", "mean", "amax", "amin")


def _scatter(input: Tensor, dim: int, index: Tensor, src: Any, reduce: str | None,
             include_self: bool = True) -> Tensor:
    if input.ndim == 0:  # a 0-d input scatters as a 1-element vector
        wrap_dim(dim, 0)
        s = src.reshape(-1)[:1] if isinstance(src, Tensor) else src
        return _scatter(input.reshape(1), 0, index.reshape(-1)[:1], s, reduce,
                        include_self).reshape(())
    d = wrap_dim(dim, input.ndim)
    if index.is_floating_point():
        raise TypeError(f"scatter: index must be an integer tensor, got {index.dtype}")
    if index.ndim != input.ndim and index.numel():
        raise OpError(f"scatter: index has {index.ndim} dims, input {input.ndim}")
    n = input.shape[d] if input.ndim else 1
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
        raise IndexError(f"scatter: index out of range [0, {n}) along dim {d}")
    for i, (a, b) in enumerate(zip(index.shape, input.shape)):
        if i != d and a > b:
            raise OpError(f"scatter: index shape {tuple(index.shape)} exceeds input shape "
                          f"{tuple(input.shape)} outside dim {d}")
    idx = index._data
    if isinstance(src, Tensor):
        s = src if src.dtype is input.dtype else src.to(input.dtype)
        return SO.Scatter.apply(input, s, index=idx, axis=d, reduce=reduce,
                                include_self=include_self)
    return SO.Scatter.apply(input, None, index=idx, axis=d, value=src, reduce=reduce,
                            include_self=include_self)


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """A copy of input with ``src`` (a tensor or a number) written at ``index`` along dim;
    reduce 'add' / 'multiply' as PyTorch's legacy argument."""
    s = value if src is None else src
    if reduce is not None:
        reduce = {"add": "sum", "multiply": "prod"}[reduce]
    return _scatter(input, dim, index, s, reduce)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    return _scatter(input, dim, index, src, "sum")


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str,
                   include_self: bool = True) -> Tensor:
    """Reduce ``src`` into a copy of input at ``index`` along dim: sum, prod, mean, amax or
    amin, with or without input's own entries."""
    if reduce not in _SCATTER_REDUCE:
        raise ValueError(f"scatter_reduce: reduce must be one of {_SCATTER_REDUCE}, got "
                         f"{reduce!r}")
    return _scatter(input, dim, index, src, reduce, include_self)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False,
                generator: Any = None) -> Tensor:
    """``num_samples`` category indices per row, drawn with probability proportional to the
    row's (non-negative) weights."""
    if input.ndim not in (1, 2):
        raise OpError(f"multinomial: expected a 1-D or 2-D tensor, got shape {tuple(input.shape)}")
    if bool((input < 0).any()) or not bool((input.sum(-1) > 0).all()):
        raise OpError("multinomial: weights must be non-negative with a positive sum per row")
    k = input.shape[-1]
    if not replacement and num_samples > k:
        raise OpError(f"multinomial: cannot draw {num_samples} samples without replacement "
                      f"from {k} categories")
    if not replacement and int((input != 0).sum(-1).min()) < num_samples:
        raise OpError("multinomial: fewer nonzero weights than samples without replacement")
    be = input._be
    return Tensor._wrap(be.multinomial(input._data, num_samples, replacement), be)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, as numpy / PyTorch ('...' and implicit output included)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = _same_dtype(operands, "einsum")
    return SO.Einsum.apply(*ts, equation=equation)
